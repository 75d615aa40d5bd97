// metadata.managedFields on every write, and server-side apply: the seam between the
// handlers and src/api/apply/ (field sets, ownership, conflicts).
import type { ResourceInfo } from '../api/resources.js';
import { applyPatch, applyConflictError, updateManagedFields } from '../api/apply/apply.js';
import { schemaForKind, resolveRef } from '../api/openapi/schema.js';
import { nowRFC3339, type Obj } from './objects.js';

/** Fields an endpoint resets (upstream GetResetFields): main endpoint ignores status, /status ignores spec and metadata. */
function resetFields(info: ResourceInfo, subresource: string): string[] | undefined {
  if (subresource === 'status') return ['spec', 'metadata'];
  if (!subresource && info.subresources.includes('status')) return ['status'];
  return undefined;
}

/** Record `manager`'s write of `obj` (over `cur`) in obj.metadata.managedFields. */
export function recordManagedFields(info: ResourceInfo, obj: Obj, cur: Obj | undefined, manager: string, operation: 'Update', subresource = ''): void {
  const schema = schemaForKind(info.group, info.version, info.kind);
  const out = updateManagedFields(cur, obj, manager, operation, subresource || undefined, nowRFC3339(), {
    schema, resolve: resolveRef, resetFields: resetFields(info, subresource),
  }) as Obj;
  const mf = out.metadata?.managedFields;
  obj.metadata ??= {};
  if (mf === undefined || (Array.isArray(mf) && !mf.length)) delete obj.metadata.managedFields;
  else obj.metadata.managedFields = mf;
}

/** Server-side apply of `applied` onto `cur` (undefined: create). Conflicts are a 409 unless forced. */
export function serverSideApply(info: ResourceInfo, cur: Obj | undefined, applied: Obj, manager: string, force: boolean, subresource = ''): Obj {
  const r = applyPatch(cur, applied, manager, {
    force, schema: schemaForKind(info.group, info.version, info.kind), resolve: resolveRef,
    now: nowRFC3339(), subresource: subresource || undefined, resetFields: resetFields(info, subresource),
  });
  if (r.conflicts?.length) throw applyConflictError(r.conflicts);
  const next = r.object as Obj;
  // The applied resourceVersion, if any, is a precondition; otherwise none.
  next.metadata ??= {};
  if (applied.metadata?.resourceVersion) next.metadata.resourceVersion = applied.metadata.resourceVersion;
  else delete next.metadata.resourceVersion;
  return next;
}
