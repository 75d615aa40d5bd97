// Strategic merge patch (application/strategic-merge-patch+json), with the
// semantics of k8s.io/apimachinery/pkg/util/strategicpatch as the API server
// applies it (MergeParallelList and IgnoreUnmatchedNulls on):
// - maps merge key by key, `null` deletes;
// - lists whose schema says x-kubernetes-patch-strategy=merge merge by
//   x-kubernetes-patch-merge-key (maps) or as a set (scalars); other lists are replaced;
// - directives: `$patch: replace|delete` (maps and list items), `$retainKeys`,
//   `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>`.
// Order of merged lists: $setElementOrder > order in the patch > order in the live list.
import type { SchemaNode } from '../openapi/types.js';
import { errors } from '../errors.js';
import {
  clone, deref, fieldSchema, goFormat, isObject, itemSchema, patchRejected, patchStrategies, unknownError,
  type Json, type JsonObject, type ResolveRef,
} from './schema-nav.js';

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList';
const SET_ELEMENT_ORDER = '$setElementOrder';

/** An error upstream turns into a particular status (see interpretStrategicMergePatchError). */
class SmpError extends Error {
  constructor(message: string, readonly kind: 'badRequest' | 'invalid' | 'unknown') { super(message); }
}
const badPrimitiveList = (): SmpError => new SmpError('invalid patch format of primitive list', 'badRequest');
const badRetainKeys = (): SmpError => new SmpError('invalid patch format of retainKeys', 'badRequest');
const badSetElementOrder = (): SmpError => new SmpError('invalid patch format of setElementOrder list', 'badRequest');
const noListOfLists = (): SmpError => new SmpError('lists of lists are not supported', 'invalid');
const noMergeKey = (m: unknown, k: string): SmpError => new SmpError(`map: ${goFormat(m)} does not contain declared merge key: ${k}`, 'unknown');
const badPatchType = (t: unknown, m: unknown): SmpError => new SmpError(`unknown patch type: ${goFormat(t)} in map: ${goFormat(m)}`, 'unknown');
const goType = (v: unknown): string => v === null || v === undefined ? '<nil>' : Array.isArray(v) ? '[]interface {}' : isObject(v) ? 'map[string]interface {}' : typeof v === 'string' ? 'string' : typeof v === 'boolean' ? 'bool' : 'float64';
const badArgType = (expected: string, actual: unknown): SmpError => new SmpError(`expected a ${expected}, but received a ${goType(actual)}`, 'unknown');

/** What the patch may say about one field: its schema and patch metadata. */
interface Meta { schema: SchemaNode | undefined; strategy: string; mergeKey: string }

class Lookup {
  constructor(readonly node: SchemaNode | undefined, readonly resolve: ResolveRef) {}
  private meta(key: string, slice: boolean): Meta & { sub: Lookup } {
    const f = fieldSchema(this.node, key, this.resolve);
    const strategies = patchStrategies(f);
    // retainKeys combines with one other strategy; only the other one matters for merging.
    const others = strategies.filter((s) => s !== 'retainKeys');
    if (others.length > 1) throw new SmpError(`unexpected patch strategy: [${strategies.join(' ')}]`, 'unknown');
    const sub = slice ? itemSchema(f, this.resolve) : f;
    return { schema: f, strategy: others[0] ?? '', mergeKey: f?.['x-kubernetes-patch-merge-key'] ?? '', sub: new Lookup(sub, this.resolve) };
  }
  forStruct(key: string): Meta & { sub: Lookup } { return this.meta(key, false); }
  forSlice(key: string): Meta & { sub: Lookup } { return this.meta(key, true); }
}

/**
 * Apply a strategic merge patch to `obj` (neither is modified) and return the result.
 * `schema` is the kind's schema; `resolve` resolves its $refs.
 * Throws StatusErrors as the API server answers: 400 for malformed directives,
 * 422 for retainKeys/list-of-lists violations, 500 (reason "") for merge-key errors.
 */
export function applyStrategicMergePatch(obj: unknown, patch: unknown, schema: SchemaNode | undefined, resolve: ResolveRef): JsonObject {
  if (!isObject(patch)) {
    throw errors.badRequest(`json: cannot unmarshal ${Array.isArray(patch) ? 'array' : patch === null ? 'null' : typeof patch === 'string' ? 'string' : 'number'} into Go value of type map[string]interface {}`);
  }
  const original = isObject(obj) ? clone(obj) : {};
  try {
    return mergeMap(original, clone(patch), new Lookup(deref(schema, resolve), resolve));
  } catch (e) {
    if (!(e instanceof SmpError)) throw e;
    if (e.kind === 'badRequest') throw errors.badRequest(e.message);
    if (e.kind === 'invalid') throw patchRejected();
    throw unknownError(e.message);
  }
}

function handleDirectiveInMap(directive: Json, patch: JsonObject): JsonObject {
  if (directive === 'replace') {
    delete patch[DIRECTIVE];
    discardNulls(patch);
    return removeDirectives(patch) as JsonObject;
  }
  if (directive === 'delete') return {};
  throw badPatchType(directive, patch);
}

function mergeMap(original: JsonObject | undefined, patch: JsonObject, schema: Lookup): JsonObject {
  if (Object.prototype.hasOwnProperty.call(patch, DIRECTIVE)) return handleDirectiveInMap(patch[DIRECTIVE]!, patch);
  const orig: JsonObject = original ?? {};
  applyRetainKeys(orig, patch);
  mergeSetElementOrderLists(orig, patch, schema);

  for (let [k, patchV] of Object.entries(patch)) {
    let isDeleteList = false;
    if (k.startsWith(DELETE_FROM_PRIMITIVE_LIST)) {
      k = extractKey(k, DELETE_FROM_PRIMITIVE_LIST);
      isDeleteList = true;
    }
    if (patchV === null) { delete orig[k]; continue; }

    if (!Object.prototype.hasOwnProperty.call(orig, k) || kindOf(orig[k]) !== kindOf(patchV)) {
      if (!isDeleteList) setCleaned(orig, k, patchV);
      continue;
    }
    const origV = orig[k]!;
    if (isObject(origV) && isObject(patchV)) {
      const m = schema.forStruct(k);
      orig[k] = m.strategy === 'replace' ? patchV : mergeMap(origV, patchV, m.sub);
    } else if (Array.isArray(origV) && Array.isArray(patchV)) {
      const m = schema.forSlice(k);
      orig[k] = mergeSliceHandler(origV, patchV, m.sub, m.strategy, m.mergeKey, isDeleteList);
    } else {
      setCleaned(orig, k, patchV);
    }
  }
  return orig;
}

/** A value taken from the patch as is: its nulls dropped, directive-carrying maps removed. */
function setCleaned(target: JsonObject, k: string, v: Json): void {
  discardNulls(v);
  const [nv, keep] = removeDirectivesKeep(v);
  if (keep) target[k] = nv; else delete target[k];
}

function kindOf(v: unknown): string {
  return Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v === 'number' ? 'number' : typeof v;
}

function extractKey(s: string, prefix: string): string {
  const i = s.indexOf('/');
  if (i < 0 || s.slice(0, i) !== prefix) {
    if (prefix === DELETE_FROM_PRIMITIVE_LIST) throw badPrimitiveList();
    if (prefix === SET_ELEMENT_ORDER) throw badSetElementOrder();
    throw new SmpError(`fail to find unknown prefix "${prefix}" in ${s}\n`, 'unknown');
  }
  return s.slice(i + 1);
}

function applyRetainKeys(original: JsonObject, patch: JsonObject): void {
  if (!Object.prototype.hasOwnProperty.call(patch, RETAIN_KEYS)) return;
  const list = patch[RETAIN_KEYS];
  delete patch[RETAIN_KEYS];
  if (!Array.isArray(list)) throw badRetainKeys();
  const keep = new Set(list.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))));
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || k.startsWith(DELETE_FROM_PRIMITIVE_LIST) || k.startsWith(SET_ELEMENT_ORDER)) continue;
    if (!keep.has(k)) throw badRetainKeys();
  }
  for (const k of Object.keys(original)) if (!keep.has(k)) delete original[k];
}

/** Handles each `$setElementOrder/<field>` together with the patch's `<field>` list. */
function mergeSetElementOrderLists(original: JsonObject, patch: JsonObject, schema: Lookup): void {
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(SET_ELEMENT_ORDER)) continue;
    const order = patch[key];
    delete patch[key];
    if (!Array.isArray(order)) throw badArgType('[]interface {}', order);
    const field = extractKey(key, SET_ELEMENT_ORDER);
    const foundOriginal = Object.prototype.hasOwnProperty.call(original, field);
    const foundPatch = Object.prototype.hasOwnProperty.call(patch, field);
    let origList: Json[] = [];
    let patchList: Json[] = [];
    if (foundOriginal) {
      const v = original[field];
      if (!Array.isArray(v)) throw badArgType('[]interface {}', v);
      origList = v;
    }
    if (foundPatch) {
      const v = patch[field];
      if (!Array.isArray(v)) throw badArgType('[]interface {}', v);
      patchList = v;
    }
    const m = schema.forSlice(field);
    validatePatchWithSetOrderList(patchList, order, m.mergeKey);

    let merged: Json[];
    if (foundOriginal && !foundPatch) merged = origList;
    else if (!foundOriginal && foundPatch) merged = removeDirectives(patchList) as Json[];
    else if (foundOriginal && foundPatch) merged = mergeSliceHandler(origList, patchList, m.sub, m.strategy, m.mergeKey, false);
    else continue;

    const [inOrder, serverOnly] = m.mergeKey
      ? partitionMaps(merged, order, m.mergeKey)
      : partitionPrimitives(merged, order);
    const kind = elementKind(origList, patchList);
    original[field] = normalizeElementOrder(inOrder, serverOnly, order, origList, m.mergeKey, kind);
    delete patch[field];
  }
}

function validatePatchWithSetOrderList(patchList: Json[], order: Json[], mergeKey: string): void {
  if (order.length === 0 || patchList.length === 0) return;
  const nonDelete = mergeKey ? patchList.filter((v) => !(isObject(v) && v[DIRECTIVE] === 'delete')) : patchList;
  let pi = 0, oi = 0;
  while (pi < nonDelete.length && oi < order.length) {
    const p = nonDelete[pi];
    if (isObject(p) && Object.prototype.hasOwnProperty.call(p, DIRECTIVE)) { pi++; continue; }
    if (mergeKeyValueEqual(p!, order[oi]!, mergeKey)) pi++;
    oi++;
  }
  if (pi < nonDelete.length && oi >= order.length) {
    throw new SmpError(`The order in patch list:\n${goFormat(patchList)}\n doesn't match ${SET_ELEMENT_ORDER} list:\n${goFormat(order)}\n`, 'unknown');
  }
}

function mergeKeyValueEqual(left: Json, right: Json, mergeKey: string): boolean {
  if (!mergeKey) return left === right;
  if (!isObject(left)) throw badArgType('map[string]interface {}', left);
  if (!isObject(right)) throw badArgType('map[string]interface {}', right);
  if (!(mergeKey in left)) throw noMergeKey(left, mergeKey);
  if (!(mergeKey in right)) throw noMergeKey(right, mergeKey);
  return left[mergeKey] === right[mergeKey];
}

function mergeSliceHandler(original: Json[], patch: Json[], schema: Lookup, strategy: string, mergeKey: string, isDeleteList: boolean): Json[] {
  if (strategy === 'merge' || isDeleteList) return mergeSlice(original, patch, schema, mergeKey, isDeleteList);
  discardNulls(patch);
  return removeDirectives(patch) as Json[];
}

type ElemKind = 'map' | 'scalar';

/** All elements must share one JSON type, and not be lists. */
function elementKind(...lists: Json[][]): ElemKind {
  let prev: string | undefined;
  for (const l of lists) {
    for (const v of l) {
      const k = kindOf(v);
      if (prev === undefined) {
        prev = k;
        if (k === 'array') throw noListOfLists();
      } else if (prev !== k) {
        throw new SmpError(`list element types are not identical: ${goFormat(lists)}`, 'unknown');
      }
    }
  }
  if (prev === undefined) throw new SmpError('no elements in any of the given slices', 'unknown');
  return prev === 'object' ? 'map' : 'scalar';
}

function mergeSlice(original: Json[], patch: Json[], schema: Lookup, mergeKey: string, isDeleteList: boolean): Json[] {
  if (original.length === 0 && patch.length === 0) return original;
  const kind = elementKind(original, patch);
  let merged: Json[];
  let orig = original;
  let pat = patch;
  if (kind === 'scalar') {
    if (isDeleteList) return original.filter((v) => !patch.includes(v));
    merged = dedupe([...original, ...patch]);
  } else {
    if (!mergeKey) throw new SmpError('cannot merge lists without merge key', 'unknown');
    [orig, pat] = mergeSliceWithSpecialElements(original, patch, mergeKey);
    merged = mergeSliceWithoutSpecialElements(orig, pat, mergeKey, schema);
  }
  const [inPatch, serverOnly] = mergeKey && kind === 'map' ? partitionMaps(merged, pat, mergeKey) : partitionPrimitives(merged, pat);
  return normalizeElementOrder(inPatch, serverOnly, pat, orig, mergeKey, kind);
}

function dedupe(list: Json[]): Json[] {
  const out: Json[] = [];
  for (const v of list) if (!out.includes(v)) out.push(v);
  return out;
}

/** Applies `$patch: delete` and `$patch: replace` items; returns [original, remaining patch]. */
function mergeSliceWithSpecialElements(original: Json[], patch: Json[], mergeKey: string): [Json[], Json[]] {
  const rest: Json[] = [];
  let replace = false;
  let orig = original;
  for (const v of patch) {
    const m = v as JsonObject;
    if (!Object.prototype.hasOwnProperty.call(m, DIRECTIVE)) { rest.push(v); continue; }
    const t = m[DIRECTIVE];
    if (t === 'delete') {
      if (!Object.prototype.hasOwnProperty.call(m, mergeKey)) throw noMergeKey(m, mergeKey);
      const key = m[mergeKey];
      orig = orig.filter((o) => {
        if (!isObject(o)) throw new SmpError('value for key is not a map', 'unknown');
        return o[mergeKey] !== key;
      });
    } else if (t === 'replace') {
      replace = true;
    } else if (t === 'merge') {
      throw new SmpError('merging lists cannot yet be specified in the patch', 'unknown');
    } else {
      throw badPatchType(t, m);
    }
  }
  if (replace) return [rest.map((r) => { discardNulls(r); return removeDirectives(r); }), []];
  return [orig, rest];
}

function mergeSliceWithoutSpecialElements(original: Json[], patch: Json[], mergeKey: string, schema: Lookup): Json[] {
  const out = [...original];
  for (const v of patch) {
    const m = v as JsonObject;
    if (!Object.prototype.hasOwnProperty.call(m, mergeKey)) throw noMergeKey(m, mergeKey);
    const idx = out.findIndex((o) => {
      if (!isObject(o)) throw new SmpError('value for key is not a map', 'unknown');
      return o[mergeKey] === m[mergeKey];
    });
    if (idx >= 0) out[idx] = mergeMap(out[idx] as JsonObject, m, schema);
    else { discardNulls(m); const [nv, keep] = removeDirectivesKeep(m); if (keep) out.push(nv); }
  }
  return out;
}

function partitionPrimitives(list: Json[], by: Json[]): [Json[], Json[]] {
  const inBy: Json[] = [], rest: Json[] = [];
  for (const v of list) (by.includes(v) ? inBy : rest).push(v);
  return [inBy, rest];
}

function partitionMaps(list: Json[], by: Json[], mergeKey: string): [Json[], Json[]] {
  const inBy: Json[] = [], rest: Json[] = [];
  for (const v of list) {
    if (!isObject(v)) throw badArgType('map[string]interface {}', v);
    if (!Object.prototype.hasOwnProperty.call(v, mergeKey)) throw noMergeKey(v, mergeKey);
    const found = by.some((b) => isObject(b) && b[mergeKey] === v[mergeKey]);
    (found ? inBy : rest).push(v);
  }
  return [inBy, rest];
}

function indexIn(list: Json[], v: Json, mergeKey: string, kind: ElemKind): number {
  const val = (x: Json): Json | undefined => (kind === 'map' ? (isObject(x) ? x[mergeKey] : undefined) : x);
  const want = val(v);
  return list.findIndex((x) => val(x) === want);
}

/** Sort each part by its reference order, then interleave them by the live order. */
function normalizeElementOrder(inPatch: Json[], serverOnly: Json[], patchOrder: Json[], serverOrder: Json[], mergeKey: string, kind: ElemKind): Json[] {
  const p = sortByOrder(inPatch, patchOrder, mergeKey, kind);
  const s = sortByOrder(serverOnly, serverOrder, mergeKey, kind);
  return mergeSorted(s, p, serverOrder, mergeKey, kind);
}

function sortByOrder(items: Json[], order: Json[], mergeKey: string, kind: ElemKind): Json[] {
  let toSort = items;
  let toDelete: Json[] = [];
  if (kind === 'map') {
    for (const l of [items, order]) for (const v of l) if (isObject(v) && !Object.prototype.hasOwnProperty.call(v, mergeKey)) throw noMergeKey(v, mergeKey);
    toSort = items.filter((v) => !(isObject(v) && v[DIRECTIVE] === 'delete'));
    toDelete = items.filter((v) => isObject(v) && v[DIRECTIVE] === 'delete');
  }
  const keyed = toSort.map((v, i) => ({ v, i, o: indexIn(order, v, mergeKey, kind) }));
  keyed.sort((a, b) => (a.o >= 0 && b.o >= 0 ? a.o - b.o : a.i - b.i));
  return [...keyed.map((x) => x.v), ...toDelete];
}

/**
 * Inserts server-only items (left) into the patch items (right): a left item goes
 * before the next right item only when the live list had it in front of that item.
 */
function mergeSorted(left: Json[], right: Json[], serverOrder: Json[], mergeKey: string, kind: ElemKind): Json[] {
  const out: Json[] = [];
  let i = 0, j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) { out.push(right[j++]!); continue; }
    if (j >= right.length) { out.push(left[i++]!); continue; }
    const li = indexIn(serverOrder, left[i]!, mergeKey, kind);
    const ri = indexIn(serverOrder, right[j]!, mergeKey, kind);
    if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]!);
    else out.push(right[j++]!);
  }
  return out;
}

function discardNulls(v: unknown): void {
  if (Array.isArray(v)) { for (const x of v) discardNulls(x); return; }
  if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (x === null) delete v[k]; else discardNulls(x);
    }
  }
}

/** Drops maps that carry `$patch` and every `$`-directive key from a value taken from the patch. */
function removeDirectivesKeep(v: Json): [Json, boolean] {
  if (isObject(v)) {
    if (Object.prototype.hasOwnProperty.call(v, DIRECTIVE)) return [null, false];
    for (const k of Object.keys(v)) {
      if (k === RETAIN_KEYS || k.startsWith(SET_ELEMENT_ORDER + '/') || k.startsWith(DELETE_FROM_PRIMITIVE_LIST + '/')) { delete v[k]; continue; }
      const [nv, keep] = removeDirectivesKeep(v[k]!);
      if (keep) v[k] = nv; else delete v[k];
    }
    return [v, true];
  }
  if (Array.isArray(v)) {
    const out: Json[] = [];
    for (const x of v) { const [nx, keep] = removeDirectivesKeep(x); if (keep) out.push(nx); }
    return [out, true];
  }
  return [v, true];
}

function removeDirectives(v: Json): Json { return removeDirectivesKeep(v)[0]; }
