// The RBAC authorizer (upstream plugin/pkg/auth/authorizer/rbac): allows a request
// when a rule bound to the user, one of their groups or their service account matches
// it; otherwise no opinion, with the resolution errors (bindings to missing roles) as
// the reason, which upstream appends to the 403 message.
import type { Attributes, Authorizer, Decision, UserInfo } from '../auth.js';
import { ruleAllows, type CompiledRule } from './rules.js';
import type { PolicyCache } from './policy-cache.js';

/** utilerrors.NewAggregate(...).Error(): one message as is, several de-duplicated in brackets. */
function aggregate(errs: string[]): string {
  const uniq = [...new Set(errs)];
  return uniq.length === 1 ? uniq[0]! : `[${uniq.join(', ')}]`;
}

function firstAllowing(rules: CompiledRule[], attrs: Attributes): CompiledRule | undefined {
  for (const r of rules) if (ruleAllows(r, attrs)) return r;
  return undefined;
}

export function rbacAuthorizer(policy: PolicyCache): Authorizer {
  return (user: UserInfo, attrs: Attributes): Decision => {
    const cluster = policy.clusterRules(user);
    let hit = firstAllowing(cluster.rules, attrs);
    const ns = attrs.isResourceRequest ? policy.namespaceRules(user, attrs.namespace) : undefined;
    if (!hit && ns) hit = firstAllowing(ns.rules, attrs);
    if (hit) return { allowed: true, reason: `RBAC: allowed by ${hit.source}` };
    const errs = ns?.errors.length ? [...cluster.errors, ...ns.errors] : cluster.errors;
    return errs.length ? { allowed: false, reason: `RBAC: ${aggregate(errs)}` } : { allowed: false };
  };
}
