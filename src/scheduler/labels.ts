// Label selector and node selector matching, compiled once per object so that the
// per-node loops of a scheduling cycle only call small closures.
import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import type { NodeSelectorRequirement, NodeSelectorTerm } from 'kubernetes-types/core/v1.js';

export type Labels = Record<string, string> | undefined;
export type LabelMatcher = (labels: Labels) => boolean;

export const matchNothing: LabelMatcher = () => false;
export const matchEverything: LabelMatcher = () => true;

/**
 * metav1.LabelSelectorAsSelector: null selects nothing, {} selects everything.
 * `extra` adds `key In [value]` requirements (matchLabelKeys).
 */
export function compileLabelSelector(sel: LabelSelector | null | undefined, extra?: Record<string, string>): LabelMatcher {
  if (!sel) return matchNothing;
  const checks: LabelMatcher[] = [];
  for (const [k, v] of Object.entries({ ...(sel.matchLabels ?? {}), ...(extra ?? {}) })) {
    checks.push((l) => l?.[k] === v);
  }
  for (const e of sel.matchExpressions ?? []) {
    const k = e.key;
    const values = new Set(e.values ?? []);
    switch (e.operator) {
      case 'In': checks.push((l) => l?.[k] !== undefined && values.has(l[k]!)); break;
      case 'NotIn': checks.push((l) => l?.[k] === undefined || !values.has(l[k]!)); break;
      case 'Exists': checks.push((l) => l?.[k] !== undefined); break;
      case 'DoesNotExist': checks.push((l) => l?.[k] === undefined); break;
      default: return matchNothing; // invalid operator: upstream errors, which selects nothing
    }
  }
  if (checks.length === 0) return matchEverything;
  if (checks.length === 1) return checks[0]!;
  return (l) => {
    for (const c of checks) if (!c(l)) return false;
    return true;
  };
}

/** Set-based selector from a plain map (Service.spec.selector, nodeSelector). */
export function compileMapSelector(m: Record<string, string> | undefined): LabelMatcher {
  const entries = Object.entries(m ?? {});
  if (entries.length === 0) return matchEverything;
  return (l) => {
    for (const [k, v] of entries) if (l?.[k] !== v) return false;
    return true;
  };
}

function parseInt64(s: string | undefined): number | undefined {
  if (s === undefined || !/^[+-]?\d+$/.test(s)) return undefined;
  return Number(s);
}

function compileNodeRequirement(r: NodeSelectorRequirement): LabelMatcher {
  const k = r.key;
  const values = r.values ?? [];
  const set = new Set(values);
  switch (r.operator) {
    case 'In': return (l) => l?.[k] !== undefined && set.has(l[k]!);
    case 'NotIn': return (l) => l?.[k] === undefined || !set.has(l[k]!);
    case 'Exists': return (l) => l?.[k] !== undefined;
    case 'DoesNotExist': return (l) => l?.[k] === undefined;
    case 'Gt':
    case 'Lt': {
      // Exactly one integer value; the label must parse as an integer too.
      const bound = values.length === 1 ? parseInt64(values[0]) : undefined;
      if (bound === undefined) return matchNothing;
      const gt = r.operator === 'Gt';
      return (l) => {
        const n = parseInt64(l?.[k]);
        return n !== undefined && (gt ? n > bound : n < bound);
      };
    }
    default: return matchNothing;
  }
}

export interface NodeFields { name: string; labels: Labels }
export type NodeMatcher = (node: NodeFields) => boolean;

/** One NodeSelectorTerm: its expressions and fields are ANDed; an empty term matches nothing. */
export function compileNodeSelectorTerm(t: NodeSelectorTerm): NodeMatcher {
  const exprs = (t.matchExpressions ?? []).map(compileNodeRequirement);
  // matchFields supports only metadata.name (In/NotIn with one value upstream; we accept any).
  const fields = (t.matchFields ?? []).map((f) => {
    if (f.key !== 'metadata.name') return matchNothing;
    const m = compileNodeRequirement({ ...f, key: 'name' });
    return (l: Labels) => m(l);
  });
  if (exprs.length === 0 && fields.length === 0) return () => false;
  return (n) => {
    for (const e of exprs) if (!e(n.labels)) return false;
    if (fields.length) {
      const nameLabels = { name: n.name };
      for (const f of fields) if (!f(nameLabels)) return false;
    }
    return true;
  };
}

/** NodeSelector: terms are ORed; no terms matches nothing. */
export function compileNodeSelector(terms: NodeSelectorTerm[] | undefined): NodeMatcher {
  const ms = (terms ?? []).map(compileNodeSelectorTerm);
  return (n) => ms.some((m) => m(n));
}
