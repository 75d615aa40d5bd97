// Walking a SchemaNode tree the way strategic merge patch and server-side apply
// need: follow $ref/allOf, find a field's or list item's schema, and read the
// Kubernetes list/map extensions. Shared by src/api/patch and src/api/apply.
import type { SchemaNode } from '../openapi/types.js';
import { errors, statusError, type StatusError } from '../errors.js';

export type ResolveRef = (ref: string) => SchemaNode | undefined;

/**
 * The node with its $ref (direct, or a lone allOf as OpenAPI v3 writes properties
 * that have a description or default) resolved. Extensions written on the
 * referencing node (patch strategy, list type) win over the target's.
 */
export function deref(node: SchemaNode | undefined, resolve: ResolveRef): SchemaNode | undefined {
  if (!node) return undefined;
  // Every write walks the kind's schema (managedFields, patches): resolve each node once.
  // Schemas are read-only and a resolver gives one node per name, so the result holds.
  let byNode = derefCache.get(resolve);
  if (!byNode) derefCache.set(resolve, (byNode = new WeakMap()));
  const hit = byNode.get(node);
  if (hit) return hit;
  const r = derefOnce(node, resolve);
  if (r) byNode.set(node, r);
  return r;
}
const derefCache = new WeakMap<ResolveRef, WeakMap<SchemaNode, SchemaNode>>();

function derefOnce(node: SchemaNode, resolve: ResolveRef): SchemaNode | undefined {
  let n: SchemaNode | undefined = node;
  let outer: SchemaNode | undefined;
  for (let i = 0; n && i < 16; i++) {
    const ref = n.$ref ?? (n.allOf?.length === 1 ? n.allOf[0]!.$ref : undefined);
    if (!ref) break;
    outer = outer ? { ...n, ...outer } : n;
    n = resolve(ref);
  }
  if (!n || !outer) return n;
  const merged: SchemaNode = { ...n };
  for (const [k, v] of Object.entries(outer)) if (k.startsWith('x-kubernetes-') && k !== 'x-kubernetes-group-version-kind') (merged as Record<string, unknown>)[k] = v;
  return merged;
}

/** Schema of field `key` of an object node: a declared property, else additionalProperties. */
export function fieldSchema(node: SchemaNode | undefined, key: string, resolve: ResolveRef): SchemaNode | undefined {
  const n = deref(node, resolve);
  if (!n) return undefined;
  const p = n.properties?.[key];
  if (p) return deref(p, resolve);
  if (n.additionalProperties && typeof n.additionalProperties === 'object') return deref(n.additionalProperties, resolve);
  return undefined;
}

/** True if `key` is a declared property (a struct field rather than a map entry). */
export function isDeclaredField(node: SchemaNode | undefined, key: string, resolve: ResolveRef): boolean {
  return !!deref(node, resolve)?.properties?.[key];
}

export function itemSchema(node: SchemaNode | undefined, resolve: ResolveRef): SchemaNode | undefined {
  return deref(deref(node, resolve)?.items, resolve);
}

export function patchStrategies(node: SchemaNode | undefined): string[] {
  const s = node?.['x-kubernetes-patch-strategy'];
  return s ? s.split(',').map((x) => x.trim()).filter(Boolean) : [];
}

// ------------------------------------------------------------------- JSON helpers

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A deep copy of a JSON value (a plain walk: structuredClone's fixed cost dominates for the small values patches copy). */
export function clone<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(clone) as T;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = clone((v as Record<string, unknown>)[k]);
  return out as T;
}

/** Freezes a JSON value and everything in it (for values shared read-only between callers). */
export function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') { for (const x of Object.values(v)) deepFreeze(x); Object.freeze(v); }
  return v;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** Go's %v of a decoded JSON value (map[k:v], [a b], <nil>), for upstream-identical messages. */
export function goFormat(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goFormat).join(' ')}]`;
  if (isObject(v)) return `map[${Object.keys(v).sort().map((k) => `${k}:${goFormat(v[k])}`).join(' ')}]`;
  return String(v);
}

/**
 * NewGenericServerResponse(422, ...) without causes: what the API server answers
 * when a JSON patch or a retainKeys/list-of-lists SMP fails. As upstream, the
 * detailed reason is not sent.
 */
export function patchRejected(): StatusError {
  return statusError(422, 'Invalid', 'the server rejected our request due to an error in our request', {});
}

/**
 * A plain Go error reaching the API server's responder becomes a 500 with an
 * empty reason and the error text as message (kubectl: "Error from server: ...").
 * Upstream answers SMP merge-key mistakes this way.
 */
export function unknownError(message: string): StatusError {
  return statusError(500, '', message);
}

export { errors };
