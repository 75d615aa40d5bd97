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

/** The binding with the bootstrap subjects it lacks; 'recreate' when its role reference differs (immutable). */
export function reconcileBinding(cur: Binding, want: Binding): Binding | 'recreate' | undefined {
  if (autoupdateOff(cur as Obj)) return undefined;
  if (!deepEqual(cur.roleRef, want.roleRef)) return 'recreate';
  const next = structuredClone(cur) as Binding;
  let changed = mergeMeta(next as Obj, want as Obj);
  const subjects = (next.subjects ??= []);
  for (const s of want.subjects ?? []) {
    if (!subjects.some((x) => sameSubject(x, s))) { subjects.push(s); changed = true; }
  }
  if (!changed) return undefined;
  delete (next.metadata as Obj).resourceVersion;
  return next;
}

async function ensureBinding(registry: Registry, resource: string, want: Binding): Promise<void> {
  const ns = want.metadata?.namespace ?? '';
  let recreate = false;
  await ensure(registry, RBAC_GROUP, resource, ns, want as Obj, (cur) => {
    const r = reconcileBinding(cur as Binding, want);
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

export async function reconcileBootstrapPolicy(registry: Registry): Promise<void> {
  const t0 = Date.now();
  for (const r of bootstrapClusterRoles()) await ensure(registry, RBAC_GROUP, 'clusterroles', '', r as Obj, (cur) => reconcileRole(cur as ClusterRole, r) as Obj | undefined);
  for (const b of bootstrapClusterRoleBindings()) await ensureBinding(registry, 'clusterrolebindings', b);
  for (const r of bootstrapRoles()) await ensure(registry, RBAC_GROUP, 'roles', r.metadata!.namespace!, r as Obj, (cur) => reconcileRole(cur as Role, r) as Obj | undefined);
  for (const b of bootstrapRoleBindings()) await ensureBinding(registry, 'rolebindings', b);
  log.debug({ ms: Date.now() - t0 }, 'bootstrap RBAC policy reconciled');
}
