// Puts the bootstrap policy in place at server start, as upstream's RBAC post-start
// hook (reconciliation with removeExtraPermissions=false): missing roles and bindings
// are created; existing ones get the labels, annotations, rules and subjects they lack,
// and keep what users added. An object annotated
// rbac.authorization.kubernetes.io/autoupdate: "false" is left alone.
import type { ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject } from 'kubernetes-types/rbac/v1.js';
import type { Registry } from '../registry.js';
import type { Obj } from '../objects.js';
import { deepEqual } from '../objects.js';
import { ensure, serverContext } from '../bootstrap.js';
import { covers } from './rules.js';
import { RBAC_GROUP } from './policy-cache.js';
import {
  AUTOUPDATE_ANNOTATION, bootstrapClusterRoleBindings, bootstrapClusterRoles, bootstrapRoleBindings, bootstrapRoles,
  type BootstrapPolicyOptions,
} from './bootstrap-policy.js';
import { logger } from '../../util/log.js';

const log = logger('apiserver.rbac');

type Role_ = Role | ClusterRole;
type Binding = RoleBinding | ClusterRoleBinding;

function mergeMeta(next: Obj, want: Obj): boolean {
  let changed = false;
  for (const field of ['labels', 'annotations'] as const) {
    for (const [k, v] of Object.entries((want.metadata?.[field] ?? {}) as Record<string, string>)) {
      const m = (next.metadata![field] ??= {}) as Record<string, string>;
      if (m[k] === undefined) { m[k] = v; changed = true; }
    }
  }
  return changed;
}

const autoupdateOff = (cur: Obj): boolean => cur.metadata?.annotations?.[AUTOUPDATE_ANNOTATION] === 'false';

/** The role with what the bootstrap version has and it lacks; undefined when nothing is missing. */
export function reconcileRole(cur: Role_, want: Role_): Role_ | undefined {
  if (autoupdateOff(cur as Obj)) return undefined;
  const next = structuredClone(cur) as Role_;
  let changed = mergeMeta(next as Obj, want as Obj);
  const wantAgg = (want as ClusterRole).aggregationRule;
  if (wantAgg) {
    // Aggregated roles: the selectors are reconciled; the rules are the aggregation controller's.
    const agg = ((next as ClusterRole).aggregationRule ??= {});
    const sels = (agg.clusterRoleSelectors ??= []);
    for (const s of wantAgg.clusterRoleSelectors ?? []) {
      if (!sels.some((x) => deepEqual(x, s))) { sels.push(s); changed = true; }
    }
  } else {
    const have: PolicyRule[] = next.rules ?? [];
    const missing = (want.rules ?? []).filter((r) => !covers(have, [r]).covered);
    if (missing.length) { next.rules = [...have, ...missing]; changed = true; }
  }
  if (!changed) return undefined;
  delete (next.metadata as Obj).resourceVersion;
  return next;
}

const sameSubject = (a: Subject, b: Subject): boolean => a.kind === b.kind && a.name === b.name && (a.namespace ?? '') === (b.namespace ?? '') && (a.apiGroup ?? '') === (b.apiGroup ?? '');

/**
 * The binding with the bootstrap subjects it lacks, and without the retired ones;
 * 'recreate' when its role reference differs (immutable).
 */
export function reconcileBinding(cur: Binding, want: Binding, retired: Subject[] = []): Binding | 'recreate' | undefined {
  if (autoupdateOff(cur as Obj)) return undefined;
  if (!deepEqual(cur.roleRef, want.roleRef)) return 'recreate';
  const next = structuredClone(cur) as Binding;
  let changed = mergeMeta(next as Obj, want as Obj);
  let subjects = (next.subjects ??= []);
  const keep = subjects.filter((x) => !retired.some((r) => sameSubject(x, r)) || (want.subjects ?? []).some((w) => sameSubject(x, w)));
  if (keep.length !== subjects.length) { subjects = next.subjects = keep; changed = true; }
  for (const s of want.subjects ?? []) {
    if (!subjects.some((x) => sameSubject(x, s))) { subjects.push(s); changed = true; }
  }
  if (!changed) return undefined;
  delete (next.metadata as Obj).resourceVersion;
  return next;
}

/**
 * Subjects earlier versions of this server bound and this one does not: the group
 * system:nodes, bound to system:node and system:node-proxier before nodes had the Node
 * authorizer and the proxies an identity of their own. Removed from bindings that still
 * auto-update (upstream leaves a pre-Node-authorizer binding as it is; here it would
 * undo the Node authorizer, which is why this differs). Kept for system:node while the
 * Node authorizer is off, since that binding is then wanted.
 */
const RETIRED_SUBJECTS: Record<string, Subject[]> = {
  'system:node': [{ apiGroup: RBAC_GROUP, kind: 'Group', name: 'system:nodes' }],
  'system:node-proxier': [{ apiGroup: RBAC_GROUP, kind: 'Group', name: 'system:nodes' }],
};

async function ensureBinding(registry: Registry, resource: string, want: Binding): Promise<void> {
  const ns = want.metadata?.namespace ?? '';
  const retired = resource === 'clusterrolebindings' ? RETIRED_SUBJECTS[want.metadata!.name!] : undefined;
  let recreate = false;
  await ensure(registry, RBAC_GROUP, resource, ns, want as Obj, (cur) => {
    const r = reconcileBinding(cur as Binding, want, retired);
    if (r === 'recreate') { recreate = true; return undefined; }
    return r as Obj | undefined;
  });
  if (recreate) {
    const store = registry.store(RBAC_GROUP, resource)!;
    log.info({ resource, name: want.metadata?.name }, 'recreating a bootstrap binding whose roleRef changed');
    await store.delete(ns, want.metadata!.name!, {}, serverContext);
    await ensure(registry, RBAC_GROUP, resource, ns, want as Obj);
  }
}

export async function reconcileBootstrapPolicy(registry: Registry, opts: BootstrapPolicyOptions = { nodeAuthorizer: true }): Promise<void> {
  const t0 = Date.now();
  for (const r of bootstrapClusterRoles()) await ensure(registry, RBAC_GROUP, 'clusterroles', '', r as Obj, (cur) => reconcileRole(cur as ClusterRole, r) as Obj | undefined);
  for (const b of bootstrapClusterRoleBindings(opts)) await ensureBinding(registry, 'clusterrolebindings', b);
  for (const r of bootstrapRoles()) await ensure(registry, RBAC_GROUP, 'roles', r.metadata!.namespace!, r as Obj, (cur) => reconcileRole(cur as Role, r) as Obj | undefined);
  for (const b of bootstrapRoleBindings()) await ensureBinding(registry, 'rolebindings', b);
  log.debug({ ms: Date.now() - t0 }, 'bootstrap RBAC policy reconciled');
}
