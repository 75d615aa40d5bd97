// Escalation prevention on writes of roles and bindings (upstream
// pkg/registry/rbac/{role,clusterrole,rolebinding,clusterrolebinding}/policybased): a
// user may only create or update a role with rules they hold themselves, and only bind
// a role whose rules they hold, unless they may `escalate` (roles) or `bind` (the
// referenced role), or are in system:masters.
import type { ClusterRole, PolicyRule, RoleBinding, RoleRef } from 'kubernetes-types/rbac/v1.js';
import { errors } from '../../api/errors.js';
import { authorize, PRIVILEGED_GROUP, type Authorizer, type UserInfo } from '../auth.js';
import type { WriteHook } from '../store.js';
import type { Obj } from '../objects.js';
import { compactRules, compactString, covers, goQuoteList } from './rules.js';
import { RBAC_GROUP, type PolicyCache } from './policy-cache.js';

/** Granting an aggregationRule can gather anything: it needs everything. */
const FULL_AUTHORITY: PolicyRule[] = [
  { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
  { verbs: ['*'], nonResourceURLs: ['*'] },
];

/** upstream ConfirmNoEscalation's message, or undefined when the user holds every rule. */
export function escalationMessage(policy: PolicyCache, user: UserInfo, namespace: string, rules: PolicyRule[]): string | undefined {
  const owner = policy.rulesFor(user, namespace);
  const c = covers(owner.rules, rules);
  if (c.covered) return undefined;
  const missing = [...new Set(compactRules(c.missing).map(compactString))].sort();
  let msg = `user ${JSON.stringify(user.name)} (groups=${goQuoteList(user.groups)}) is attempting to grant RBAC permissions not currently held:\n${missing.join('\n')}`;
  if (owner.errors.length) msg += `; resolution errors: [${owner.errors.join(' ')}]`;
  return msg;
}

/** Only what the garbage collector changes (owner references, finalizers): upstream IsOnlyMutatingGCFields. */
function onlyGCFields(obj: Obj, old: Obj): boolean {
  const strip = (o: Obj): string => {
    const c = { ...o, metadata: { ...(o.metadata ?? {}) } };
    for (const k of ['ownerReferences', 'finalizers', 'resourceVersion', 'managedFields', 'generation']) delete c.metadata[k];
    return JSON.stringify(c);
  };
  return strip(obj) === strip(old);
}

export function escalationCheck(policy: PolicyCache, authorizers: () => Authorizer[]): WriteHook {
  const allowedTo = async (user: UserInfo, verb: string, resource: string, namespace: string, name: string): Promise<boolean> =>
    (await authorize(authorizers(), user, { isResourceRequest: true, verb, group: RBAC_GROUP, resource, subresource: '', namespace, name })).allowed;

  return async (op, store, obj, old, ctx) => {
    if (store.info.group !== RBAC_GROUP || (op !== 'CREATE' && op !== 'UPDATE')) return;
    const user = ctx.user;
    if (user.groups.includes(PRIVILEGED_GROUP)) return;
    if (op === 'UPDATE' && old && onlyGCFields(obj, old)) return;
    const resource = store.info.resource;
    const name = String(obj.metadata?.name ?? '');
    const namespace = store.info.namespaced ? String(obj.metadata?.namespace ?? '') : '';
    const forbidden = (msg: string): Error => errors.forbidden(`${resource}.${RBAC_GROUP} ${JSON.stringify(name)} is forbidden: ${msg}`, { group: RBAC_GROUP, resource, name });

    if (resource === 'roles' || resource === 'clusterroles') {
      // The request's own name: none on a create (as upstream's RequestInfo).
      if (await allowedTo(user, 'escalate', resource, namespace, op === 'CREATE' ? '' : name)) return;
      const msg = escalationMessage(policy, user, namespace, (obj.rules ?? []) as PolicyRule[]);
      if (msg) throw forbidden(msg);
      const agg = (o: Obj | undefined): boolean => !!(o as ClusterRole | undefined)?.aggregationRule;
      if (resource === 'clusterroles' && (agg(obj) || agg(old)) && escalationMessage(policy, user, '', FULL_AUTHORITY)) {
        throw forbidden('must have cluster-admin privileges to use the aggregationRule');
      }
      return;
    }
    // rolebindings, clusterrolebindings
    const ref = (obj as RoleBinding).roleRef as RoleRef | undefined;
    if (!ref) return; // validation reports it
    const refResource = ref.kind === 'Role' ? 'roles' : ref.kind === 'ClusterRole' ? 'clusterroles' : undefined;
    if (!refResource) return;
    if (await allowedTo(user, 'bind', refResource, namespace, ref.name)) return;
    const rules = policy.roleRefRules(ref, namespace);
    if ('error' in rules) throw errors.notFound({ group: RBAC_GROUP, resource: refResource, name: ref.name });
    const msg = escalationMessage(policy, user, namespace, rules);
    if (msg) throw forbidden(msg);
  };
}
