// metadata.managedFields on every write and server-side apply. This is the seam to
// src/api/apply/ (the patch engineer's module); until that lands, managedFields
// record each manager's fields as a FieldsV1 set of the object it sent, and apply
// merges the applied configuration like a JSON merge patch (no conflict detection).
import type { ResourceInfo } from '../api/resources.js';
import { apiVersionOf } from '../api/resources.js';
import { applyMergePatch } from '../api/patch/merge-patch.js';
import { errors } from '../api/errors.js';
import { nowRFC3339, type Obj } from './objects.js';

const serverMeta = new Set(['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'managedFields', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink', 'namespace', 'name']);

function fieldSet(v: unknown, top = false): Obj {
  if (v === null || typeof v !== 'object') return {};
  if (Array.isArray(v)) {
    const out: Obj = {};
    v.forEach((item, i) => {
      const k = item && typeof item === 'object' && !Array.isArray(item) && typeof (item as Obj).name === 'string'
        ? `k:{"name":${JSON.stringify((item as Obj).name)}}` : `i:${i}`;
      out[k] = { '.': {}, ...fieldSet(item) };
    });
    return out;
  }
  const out: Obj = {};
  for (const [k, val] of Object.entries(v as Obj)) {
    if (top && (k === 'apiVersion' || k === 'kind' || k === 'status')) continue;
    if (top && k === 'metadata') {
      const m: Obj = {};
      for (const [mk, mv] of Object.entries((val ?? {}) as Obj)) if (!serverMeta.has(mk)) m[`f:${mk}`] = fieldSet(mv);
      if (Object.keys(m).length) out['f:metadata'] = m;
      continue;
    }
    out[`f:${k}`] = fieldSet(val);
  }
  return out;
}

/** Record `manager`'s write in obj.metadata.managedFields (one entry per manager+operation+subresource). */
export function recordManagedFields(info: ResourceInfo, obj: Obj, cur: Obj | undefined, manager: string, operation: 'Update' | 'Apply', subresource = ''): void {
  const m = (obj.metadata ??= {});
  // Clients may not rewrite the history of others unless they send managedFields explicitly.
  let entries: Obj[] = Array.isArray(m.managedFields) ? m.managedFields : (cur?.metadata?.managedFields ?? []);
  const fields = subresource === 'status' ? (obj.status !== undefined ? { 'f:status': fieldSet(obj.status) } : {}) : fieldSet(obj, true);
  entries = entries.filter((e) => !(e.manager === manager && e.operation === operation && (e.subresource ?? '') === subresource));
  const entry: Obj = { manager, operation, apiVersion: apiVersionOf(info), time: nowRFC3339(), fieldsType: 'FieldsV1', fieldsV1: fields };
  if (subresource) entry.subresource = subresource;
  entries.push(entry);
  m.managedFields = entries;
}

/** Server-side apply of `applied` onto `cur` (undefined: create). */
export function serverSideApply(info: ResourceInfo, cur: Obj | undefined, applied: Obj, manager: string, force: boolean, subresource = ''): Obj {
  void force;
  if (!applied.metadata?.name && !cur) throw errors.badRequest('metadata.name: Required value: name is required');
  const patch = structuredClone(applied);
  if (patch.metadata) delete patch.metadata.managedFields;
  const base = cur ? structuredClone(cur) : { apiVersion: apiVersionOf(info), kind: info.kind, metadata: {} };
  const next = applyMergePatch(base, patch) as Obj;
  if (cur) delete next.metadata!.resourceVersion;
  if (applied.metadata?.resourceVersion) next.metadata!.resourceVersion = applied.metadata.resourceVersion;
  recordManagedFields(info, next, cur, manager, 'Apply', subresource);
  return next;
}
