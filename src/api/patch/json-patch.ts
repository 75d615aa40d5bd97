// JSON patch (RFC 6902, application/json-patch+json) via fast-json-patch, with the
// API server's answers: a body that is not a list of operation objects is a 400,
// more than 10000 operations a 413, and any failing operation a 422 whose message,
// as upstream, does not say which one failed.
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { errors } from '../errors.js';
import { clone, isObject, patchRejected, type JsonObject } from './schema-nav.js';

export const MAX_JSON_PATCH_OPERATIONS = 10000;

/** Why the last applyJsonPatch call failed, for logs (upstream does not send it). */
export class JsonPatchFailure extends Error {}

/** Apply RFC 6902 `ops` to `obj` (which is not modified); returns the new document. */
export function applyJsonPatch(obj: unknown, ops: unknown): JsonObject {
  if (!Array.isArray(ops)) {
    throw errors.badRequest(`json: cannot unmarshal ${isObject(ops) ? 'object' : ops === null ? 'null' : typeof ops} into Go value of type jsonpatch.Patch`);
  }
  for (const op of ops) {
    if (!isObject(op)) throw errors.badRequest(`json: cannot unmarshal ${Array.isArray(op) ? 'array' : typeof op} into Go value of type jsonpatch.Operation`);
  }
  if (ops.length > MAX_JSON_PATCH_OPERATIONS) {
    throw errors.tooLarge(`The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${ops.length}`);
  }
  try {
    const doc = clone(isObject(obj) ? obj : {});
    const res = jsonpatch.applyPatch(doc, ops as Operation[], true, true, false);
    const out = res.newDocument as unknown;
    // A patch may replace the root; anything but an object cannot be an API object.
    if (!isObject(out)) throw new JsonPatchFailure('result is not an object');
    return out;
  } catch (e) {
    if (e instanceof Error && (e.name === 'JsonPatchError' || e instanceof JsonPatchFailure || e.name.startsWith('OPERATION_') || e.name.startsWith('TEST_') || e.name === 'SEQUENCE_NOT_AN_ARRAY')) {
      throw Object.assign(patchRejected(), { cause: e });
    }
    throw e;
  }
}
