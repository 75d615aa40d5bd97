// upstream admission.NewForbidden, shared by the admission plugins.
import { errors } from '../../api/errors.js';
import type { Obj } from '../objects.js';
import type { ResourceStore } from '../store.js';

export type AdmissionOp = 'CREATE' | 'UPDATE' | 'DELETE';

/**
 * "<resource> \"<name>\" is forbidden: <why>", the name being the submitted object's (its
 * generateName, or "Unknown" when there is none, as on a delete).
 */
export function admissionForbidden(store: ResourceStore, op: AdmissionOp, obj: Obj | undefined, why: string): Error {
  const { group, resource } = store.info;
  const name = (op !== 'DELETE' && (obj?.metadata?.name || obj?.metadata?.generateName)) || 'Unknown';
  return errors.forbidden(`${group ? `${resource}.${group}` : resource} "${name}" is forbidden: ${why}`, { group, resource, name });
}
