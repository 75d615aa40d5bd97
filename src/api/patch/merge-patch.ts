// JSON merge patch (RFC 7386, application/merge-patch+json): objects merge key by
// key, `null` deletes, everything else (lists included) replaces.
import { errors } from '../errors.js';
import { clone, deepEqual, isObject, type Json, type JsonObject } from './schema-nav.js';

/**
 * Apply `patch` to `obj` (neither is modified). Objects on the patched paths are
 * copied; everything else is shared with `obj` (a status patch does not copy the
 * spec, and comparisons of the two skip what they share): callers that mutate the
 * result must not mind `obj` changing with it, or copy first.
 * A non-object patch is a 400, as upstream.
 */
export function applyMergePatch(obj: unknown, patch: unknown): JsonObject {
  // Upstream (evanphx/json-patch MergePatch) rejects patches that are not JSON objects.
  if (!isObject(patch)) throw errors.badRequest('Invalid JSON Patch');
  return mergeInto(isObject(obj) ? obj : {}, patch);
}

function mergeInto(base: JsonObject, patch: JsonObject): JsonObject {
  const target: JsonObject = { ...base };
  for (const [k, pv] of Object.entries(patch)) {
    if (pv === null) { delete target[k]; continue; }
    const tv = target[k];
    if (isObject(pv)) target[k] = mergeInto(isObject(tv) ? tv : {}, pv);
    else target[k] = clone(pv);
  }
  return target;
}

/**
 * The merge patch that turns `from` into `to` (jsonpatch.CreateMergePatch):
 * removed keys become null, changed values are given whole except objects,
 * which are diffed recursively. Lists are never diffed.
 */
export function createMergePatch(from: unknown, to: unknown): JsonObject {
  if (!isObject(from) || !isObject(to)) throw errors.badRequest('Invalid JSON Document');
  return diff(from, to);
}

function diff(from: JsonObject, to: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const k of Object.keys(from)) if (!Object.prototype.hasOwnProperty.call(to, k)) out[k] = null;
  for (const [k, tv] of Object.entries(to)) {
    const fv: Json | undefined = from[k];
    if (fv === undefined) { out[k] = clone(tv); continue; }
    if (isObject(fv) && isObject(tv)) {
      const d = diff(fv, tv);
      if (Object.keys(d).length) out[k] = d;
    } else if (!deepEqual(fv, tv)) {
      out[k] = clone(tv);
    }
  }
  return out;
}
