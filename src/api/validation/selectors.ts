// Label selector validation (upstream metav1validation.ValidateLabelSelector), shared by
// the workload kinds and ClusterRole aggregation rules.
import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import type { FieldError } from '../errors.js';
import { isQualifiedName, validateLabels } from './names.js';

type Errs = FieldError[];
const req = (field: string, detail: string): FieldError => ({ type: 'Required', field, detail });
const inv = (field: string, value: unknown, detail: string): FieldError => ({ type: 'Invalid', field, value, detail });
const forbidden = (field: string, detail: string): FieldError => ({ type: 'Forbidden', field, detail });

export function validateSelector(sel: LabelSelector | undefined, path: string): Errs {
  const errs: Errs = [];
  if (!sel) return errs;
  errs.push(...validateLabels(sel.matchLabels, `${path}.matchLabels`));
  (sel.matchExpressions ?? []).forEach((e, i) => {
    const p = `${path}.matchExpressions[${i}]`;
    if (['In', 'NotIn'].includes(e.operator)) { if (!e.values?.length) errs.push(req(`${p}.values`, 'must be specified when `operator` is \'In\' or \'NotIn\'')); }
    else if (['Exists', 'DoesNotExist'].includes(e.operator)) { if (e.values?.length) errs.push(forbidden(`${p}.values`, 'may not be specified when `operator` is \'Exists\' or \'DoesNotExist\'')); }
    else errs.push(inv(`${p}.operator`, e.operator, 'not a valid selector operator'));
    for (const msg of isQualifiedName(e.key ?? '')) errs.push(inv(`${p}.key`, e.key, msg));
  });
  return errs;
}
