// PolicyRule semantics, as upstream's RBAC (plugin/pkg/auth/authorizer/rbac and
// k8s.io/component-helpers/auth/rbac/validation): does a rule allow a request, does a
// set of rules cover another (escalation checks), and the compact text upstream prints
// for missing rules.
import type { PolicyRule } from 'kubernetes-types/rbac/v1.js';
import type { Attributes } from '../auth.js';

const ALL = '*';

/**
 * A rule prepared for matching on every request: sets instead of arrays, '*' resolved
 * once. `source` says where it came from (upstream's "allowed by" reason).
 */
export interface CompiledRule {
  verbs: Set<string> | null; // null: '*'
  groups: Set<string> | null;
  resources: Set<string>;
  anyResource: boolean;
  /** Subresources allowed on any resource ('*\/log'). */
  anyResourceSubs: Set<string>;
  names: Set<string> | null; // null: every name
  urls: string[];
  anyURL: boolean;
  source: string;
}

const setOrAll = (xs: string[] | undefined): Set<string> | null => (xs?.includes(ALL) ? null : new Set(xs ?? []));

export function compileRule(r: PolicyRule, source: string): CompiledRule {
  const resources = r.resources ?? [];
  const urls = r.nonResourceURLs ?? [];
  return {
    verbs: setOrAll(r.verbs),
    groups: setOrAll(r.apiGroups),
    resources: new Set(resources),
    anyResource: resources.includes(ALL),
    anyResourceSubs: new Set(resources.filter((x) => x.startsWith('*/')).map((x) => x.slice(2))),
    names: r.resourceNames?.length ? new Set(r.resourceNames) : null,
    urls,
    anyURL: urls.includes(ALL),
    source,
  };
}

/** upstream RuleAllows: verb, group, resource[/subresource] (or '*' and '*\/sub'), name; or verb and URL. */
export function ruleAllows(r: CompiledRule, a: Attributes): boolean {
  if (r.verbs && !r.verbs.has(a.verb)) return false;
  if (!a.isResourceRequest) {
    if (r.anyURL) return true;
    for (const u of r.urls) {
      if (u === a.path) return true;
      if (u.endsWith('*') && a.path.startsWith(u.replace(/\*+$/, ''))) return true;
    }
    return false;
  }
  if (r.groups && !r.groups.has(a.group)) return false;
  if (!r.anyResource) {
    const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    if (!r.resources.has(combined) && !(a.subresource && r.anyResourceSubs.has(a.subresource))) return false;
  }
  return !r.names || r.names.has(a.name);
}

// ---------------------------------------------------------------------------
// Covers (escalation checks)

const has = (set: string[] | undefined, x: string): boolean => !!set?.includes(x);
const hasAll = (set: string[] | undefined, xs: string[] | undefined): boolean => (xs ?? []).every((x) => has(set, x));

function resourceCoversAll(set: string[] | undefined, covers: string[] | undefined): boolean {
  if (has(set, ALL) || hasAll(set, covers)) return true;
  for (const path of covers ?? []) {
    if (has(set, path)) continue;
    const slash = path.indexOf('/');
    if (slash < 0) return false;
    if (!has(set, `*/${path.slice(slash + 1)}`)) return false;
  }
  return true;
}

function nonResourceURLCovers(owner: string, sub: string): boolean {
  return owner === sub || (owner.endsWith('*') && sub.startsWith(owner.replace(/\*+$/, '')));
}

function ruleCovers(owner: PolicyRule, sub: PolicyRule): boolean {
  const verbs = has(owner.verbs, ALL) || hasAll(owner.verbs, sub.verbs);
  const groups = has(owner.apiGroups, ALL) || hasAll(owner.apiGroups, sub.apiGroups);
  const resources = resourceCoversAll(owner.resources, sub.resources);
  const urls = (sub.nonResourceURLs ?? []).every((p) => (owner.nonResourceURLs ?? []).some((o) => nonResourceURLCovers(o, p)));
  const names = sub.resourceNames?.length
    ? !owner.resourceNames?.length || hasAll(owner.resourceNames, sub.resourceNames)
    : !owner.resourceNames?.length;
  return verbs && groups && resources && names && urls;
}

/** One rule per verb × group × resource × name (and verb × URL), as upstream BreakdownRule. */
export function breakdownRule(r: PolicyRule): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const g of r.apiGroups ?? []) {
    for (const res of r.resources ?? []) {
      for (const v of r.verbs ?? []) {
        if (r.resourceNames?.length) for (const n of r.resourceNames) out.push({ apiGroups: [g], resources: [res], verbs: [v], resourceNames: [n] });
        else out.push({ apiGroups: [g], resources: [res], verbs: [v] });
      }
    }
  }
  for (const u of r.nonResourceURLs ?? []) for (const v of r.verbs ?? []) out.push({ nonResourceURLs: [u], verbs: [v] });
  return out;
}

/** Whether `owner` grants everything `servant` does; the parts it does not, broken down. */
export function covers(owner: PolicyRule[], servant: PolicyRule[]): { covered: boolean; missing: PolicyRule[] } {
  const missing: PolicyRule[] = [];
  for (const r of servant) {
    for (const sub of breakdownRule(r)) if (!owner.some((o) => ruleCovers(o, sub))) missing.push(sub);
  }
  return { covered: missing.length === 0, missing };
}

/** Merges single-group, single-resource rules without names into one rule per (group, resource), as upstream CompactRules. */
export function compactRules(rules: PolicyRule[]): PolicyRule[] {
  const simple = new Map<string, PolicyRule>();
  const out: PolicyRule[] = [];
  for (const r of rules) {
    const isSimple = r.apiGroups?.length === 1 && r.resources?.length === 1 && !r.resourceNames?.length && !r.nonResourceURLs?.length;
    if (!isSimple) { out.push(r); continue; }
    const key = `${r.apiGroups![0]}\u0000${r.resources![0]}`;
    const cur = simple.get(key);
    if (cur) cur.verbs = [...cur.verbs, ...r.verbs];
    else { const c = { apiGroups: [...r.apiGroups!], resources: [...r.resources!], verbs: [...r.verbs] }; simple.set(key, c); out.push(c); }
  }
  return out;
}

/** Go's %q of a []string: ["a" "b"]. */
export function goQuoteList(xs: string[]): string {
  return `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`;
}

/** upstream rbacv1helpers.CompactString: {APIGroups:[""], Resources:["pods"], Verbs:["get"]}. */
export function compactString(r: PolicyRule): string {
  const parts: string[] = [];
  if (r.apiGroups?.length) parts.push(`APIGroups:${goQuoteList(r.apiGroups)}`);
  if (r.resources?.length) parts.push(`Resources:${goQuoteList(r.resources)}`);
  if (r.nonResourceURLs?.length) parts.push(`NonResourceURLs:${goQuoteList(r.nonResourceURLs)}`);
  if (r.resourceNames?.length) parts.push(`ResourceNames:${goQuoteList(r.resourceNames)}`);
  if (r.verbs?.length) parts.push(`Verbs:${goQuoteList(r.verbs)}`);
  return `{${parts.join(', ')}}`;
}
