// Validation of rbac.authorization.k8s.io/v1 (upstream pkg/apis/rbac/validation):
// rules, role references and subjects, with upstream's field paths and messages.
// Object metadata (names are path segments) is checked by validateObject.
import type { ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject } from 'kubernetes-types/rbac/v1.js';
import type { FieldError } from '../errors.js';
import { isDNS1123Subdomain, isValidPathSegmentName } from './names.js';
import { validateSelector } from './selectors.js';

export const RBAC_GROUP = 'rbac.authorization.k8s.io';

type Errs = FieldError[];
const req = (field: string, detail?: string): FieldError => (detail ? { type: 'Required', field, detail } : { type: 'Required', field });
const inv = (field: string, value: unknown, detail: string): FieldError => ({ type: 'Invalid', field, value, detail });
const notSupported = (field: string, value: unknown, allowed: string[]): FieldError => ({ type: 'NotSupported', field, value, allowed });

function validatePolicyRule(rule: PolicyRule, namespaced: boolean, p: string): Errs {
  const errs: Errs = [];
  if (!rule.verbs?.length) errs.push(req(`${p}.verbs`, 'verbs must contain at least one value'));
  if (rule.nonResourceURLs?.length) {
    if (namespaced) errs.push(inv(`${p}.nonResourceURLs`, rule.nonResourceURLs, 'namespaced rules cannot apply to non-resource URLs'));
    if (rule.apiGroups?.length || rule.resources?.length || rule.resourceNames?.length) {
      errs.push(inv(`${p}.nonResourceURLs`, rule.nonResourceURLs, 'rules cannot apply to both regular resources and non-resource URLs'));
    }
    return errs;
  }
  if (!rule.apiGroups?.length) errs.push(req(`${p}.apiGroups`, 'resource rules must supply at least one api group'));
  if (!rule.resources?.length) errs.push(req(`${p}.resources`, 'resource rules must supply at least one resource'));
  return errs;
}

function validateRules(rules: PolicyRule[] | undefined, namespaced: boolean): Errs {
  return (rules ?? []).flatMap((r, i) => validatePolicyRule(r ?? {}, namespaced, `rules[${i}]`));
}

export function validateRole(role: Role): Errs {
  return validateRules(role.rules, true);
}

export function validateClusterRole(role: ClusterRole): Errs {
  const errs = validateRules(role.rules, false);
  const agg = role.aggregationRule;
  if (agg) {
    if (!agg.clusterRoleSelectors?.length) {
      errs.push(req('aggregationRule.clusterRoleSelectors', 'at least one clusterRoleSelector required if aggregationRule is non-nil'));
    }
    (agg.clusterRoleSelectors ?? []).forEach((s, i) => errs.push(...validateSelector(s, `aggregationRule.clusterRoleSelectors[${i}]`)));
  }
  return errs;
}

function validateRoleRef(ref: RoleRef | undefined, kinds: string[]): Errs {
  const errs: Errs = [];
  const r = ref ?? ({} as RoleRef);
  if (r.apiGroup !== RBAC_GROUP) errs.push(notSupported('roleRef.apiGroup', r.apiGroup ?? '', [RBAC_GROUP]));
  if (!kinds.includes(r.kind)) errs.push(notSupported('roleRef.kind', r.kind ?? '', kinds));
  if (!r.name) errs.push(req('roleRef.name'));
  else for (const msg of isValidPathSegmentName(r.name)) errs.push(inv('roleRef.name', r.name, msg));
  return errs;
}

function validateSubject(s: Subject, namespaced: boolean, p: string): Errs {
  const errs: Errs = [];
  if (!s.name) errs.push(req(`${p}.name`));
  switch (s.kind) {
    case 'ServiceAccount':
      if (s.name) for (const msg of isDNS1123Subdomain(s.name)) errs.push(inv(`${p}.name`, s.name, msg));
      if (s.apiGroup) errs.push(notSupported(`${p}.apiGroup`, s.apiGroup, ['']));
      if (!namespaced && !s.namespace) errs.push(req(`${p}.namespace`));
      break;
    case 'User':
    case 'Group':
      if (!s.name) errs.push(inv(`${p}.name`, s.name ?? '', `${s.kind.toLowerCase()} name cannot be empty`));
      if (s.apiGroup !== RBAC_GROUP) errs.push(notSupported(`${p}.apiGroup`, s.apiGroup ?? '', [RBAC_GROUP]));
      break;
    default:
      errs.push(notSupported(`${p}.kind`, s.kind ?? '', ['ServiceAccount', 'User', 'Group']));
  }
  return errs;
}

function sameRoleRef(a: RoleRef | undefined, b: RoleRef | undefined): boolean {
  return a?.apiGroup === b?.apiGroup && a?.kind === b?.kind && a?.name === b?.name;
}

function validateBinding(b: RoleBinding | ClusterRoleBinding, old: RoleBinding | ClusterRoleBinding | undefined, namespaced: boolean): Errs {
  const errs = validateRoleRef(b.roleRef, namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole']);
  (b.subjects ?? []).forEach((s, i) => errs.push(...validateSubject(s ?? ({} as Subject), namespaced, `subjects[${i}]`)));
  if (old && !sameRoleRef(b.roleRef, old.roleRef)) errs.push(inv('roleRef', b.roleRef, 'cannot change roleRef'));
  return errs;
}

export function validateRoleBinding(b: RoleBinding, old?: RoleBinding): Errs {
  return validateBinding(b, old, true);
}

export function validateClusterRoleBinding(b: ClusterRoleBinding, old?: ClusterRoleBinding): Errs {
  return validateBinding(b, old, false);
}
