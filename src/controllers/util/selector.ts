// Label-selector matching for controllers, on top of src/api/labels.ts
// (metav1.LabelSelectorAsSelector: an absent selector matches nothing, an empty one
// everything; an invalid one matches nothing here).
import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import { labelSelectorFromObject } from '../../api/labels.js';

export type Labels = Record<string, string> | undefined;

export function selectorMatches(sel: LabelSelector | undefined | null, labels: Labels): boolean {
  try {
    return labelSelectorFromObject(sel).matches(labels ?? {});
  } catch {
    return false;
  }
}

/** Service.spec.selector: equality on every pair; an empty or absent map matches nothing (such services are skipped). */
export function mapSelectorMatches(sel: Record<string, string> | undefined, labels: Labels): boolean {
  if (!sel || Object.keys(sel).length === 0) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel)) if (l[k] !== v) return false;
  return true;
}

export function isEmptySelector(sel: LabelSelector | undefined): boolean {
  return !sel || (Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0);
}
