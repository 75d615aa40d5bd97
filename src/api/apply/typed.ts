// Schema-aware walks over JSON objects for server-side apply, following
// sigs.k8s.io/structured-merge-diff/typed: the field set of a value, the
// comparison of two values, the merge of an applied config into a live object,
// and removal of a set of fields.
//
// How a schema node maps to SMD's types:
// - properties → struct (fields are "named"); additionalProperties → granular map;
//   x-kubernetes-map-type: atomic → atomic (one leaf);
// - arrays: x-kubernetes-list-type map (keys = x-kubernetes-list-map-keys), set, or
//   atomic; without list-type, patch strategy merge + merge key → map keyed by it,
//   merge on scalars → set, otherwise atomic (as kube-openapi's schemaconv);
// - no schema (unknown or preserve-unknown-fields): objects are granular maps,
//   arrays atomic, as SMD's deduced type.
import type { SchemaNode } from '../openapi/types.js';
import { statusError } from '../errors.js';
import { deepEqual, deref, fieldSchema, isObject, itemSchema, patchStrategies, type ResolveRef } from '../patch/schema-nav.js';
import { FieldSet, fieldPE, keyPE, pathString, valuePE } from './fieldpath.js';

type Kind =
  | { t: 'scalar' }
  | { t: 'struct' | 'map'; atomic: boolean }
  | { t: 'list'; rel: 'atomic' | 'set' | 'map'; keys: string[] };

/** Defaults upstream's OpenAPI gives list-map key fields, when a schema lacks them. */
const KNOWN_KEY_DEFAULTS: Record<string, unknown> = { protocol: 'TCP' };

export class TypedError extends Error {}

/** Kinds by resolved schema node (callers never change the Kind they get). */
const kindCache = new WeakMap<SchemaNode, Kind | null>();

export class Typed {
  constructor(readonly resolve: ResolveRef) {}

  node(n: SchemaNode | undefined): SchemaNode | undefined { return deref(n, this.resolve); }

  kind(n: SchemaNode | undefined, v: unknown): Kind {
    const s = this.node(n);
    if (s && !s['x-kubernetes-int-or-string']) {
      let k = kindCache.get(s);
      if (k === undefined) kindCache.set(s, (k = this.schemaKind(s)));
      if (k) return k;
    }
    if (isObject(v)) return { t: 'map', atomic: false };
    if (Array.isArray(v)) return { t: 'list', rel: 'atomic', keys: [] };
    return { t: 'scalar' };
  }

  /** The kind a (resolved) schema node says, or null when it says none (then the value decides). */
  private schemaKind(s: SchemaNode): Kind | null {
    if (s.properties && Object.keys(s.properties).length) return { t: 'struct', atomic: s['x-kubernetes-map-type'] === 'atomic' };
    if (s.type === 'object' || s.additionalProperties) return { t: 'map', atomic: s['x-kubernetes-map-type'] === 'atomic' };
    if (s.type === 'array') {
      const lt = s['x-kubernetes-list-type'];
      if (lt === 'map') return { t: 'list', rel: 'map', keys: s['x-kubernetes-list-map-keys'] ?? [] };
      if (lt === 'set') return { t: 'list', rel: 'set', keys: [] };
      if (lt === 'atomic') return { t: 'list', rel: 'atomic', keys: [] };
      if (patchStrategies(s).includes('merge')) {
        const mk = s['x-kubernetes-patch-merge-key'];
        if (mk) return { t: 'list', rel: 'map', keys: [mk] };
        const it = this.node(s.items);
        if (!it || (it.type !== 'object' && it.type !== 'array' && !it.properties)) return { t: 'list', rel: 'set', keys: [] };
      }
      return { t: 'list', rel: 'atomic', keys: [] };
    }
    if (s.type) return { t: 'scalar' };
    return null;
  }

  field(n: SchemaNode | undefined, key: string): SchemaNode | undefined { return fieldSchema(n, key, this.resolve); }
  item(n: SchemaNode | undefined): SchemaNode | undefined { return itemSchema(n, this.resolve); }
  declared(n: SchemaNode | undefined, key: string): boolean { return !!this.node(n)?.properties?.[key]; }

  /** The path element of a list item, or an error for items missing a key. */
  itemPE(n: SchemaNode | undefined, k: Kind & { t: 'list' }, item: unknown, path: readonly string[]): string {
    if (k.rel === 'set') return valuePE(item);
    if (!isObject(item)) throw new TypedError(`${pathString(path)}: expected map item in associative list, got ${JSON.stringify(item)}`);
    const it = this.item(n);
    const fields: Record<string, unknown> = {};
    for (const key of k.keys) {
      let v: unknown = item[key];
      if (v === undefined || v === null) {
        v = this.node(it?.properties?.[key])?.default ?? KNOWN_KEY_DEFAULTS[key];
        if (v === undefined) throw new TypedError(`${pathString(path)}: associative list with keys has an element that omits key field "${key}" (and doesn't have default value)`);
      }
      fields[key] = v;
    }
    return keyPE(fields);
  }

  // ------------------------------------------------------------------ field set

  /** The fields a value sets (typed.ToFieldSet). */
  toFieldSet(v: unknown, n: SchemaNode | undefined, strict = false): FieldSet {
    const out = new FieldSet();
    this.fs(v, n, out, [], strict);
    return out;
  }

  private fs(v: unknown, n: SchemaNode | undefined, out: FieldSet, path: string[], strict: boolean): void {
    if (v === null || v === undefined) { out.member = true; return; }
    const k = this.kind(n, v);
    if (k.t === 'scalar') { out.member = true; return; }
    if (k.t === 'list') {
      if (k.rel === 'atomic' || !Array.isArray(v)) { out.member = true; return; }
      const seen = new Set<string>();
      const dup = new Set<string>();
      const pes = v.map((item) => this.itemPE(n, k, item, path));
      for (const pe of pes) {
        // Applied configs may not repeat a key; stored objects may (SMD tolerates them there).
        if (seen.has(pe) && strict) throw new TypedError(`${pathString(path)}: duplicate entries for key ${pathString([pe])}`);
        if (seen.has(pe)) dup.add(pe);
        seen.add(pe);
      }
      v.forEach((item, i) => {
        const pe = pes[i]!;
        const c = out.child(pe);
        c.member = true;
        if (!dup.has(pe) && k.rel === 'map') this.fs(item, this.item(n), c, [...path, pe], strict);
      });
      return;
    }
    if (k.atomic || !isObject(v)) { out.member = true; return; }
    for (const [key, val] of Object.entries(v)) {
      const pe = fieldPE(key);
      const c = out.child(pe);
      this.fs(val, this.field(n, key), c, [...path, pe], strict);
      if (val === null || (isObject(val) && Object.keys(val).length === 0) || (k.t === 'map' && !this.declared(n, key))) c.member = true;
    }
  }

  // ------------------------------------------------------------------ compare

  /** What changed from lhs to rhs (typed.Compare). */
  compare(lhs: unknown, rhs: unknown, n: SchemaNode | undefined): { added: FieldSet; modified: FieldSet; removed: FieldSet } {
    const c = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
    this.cmp(lhs, rhs, n, [], c);
    return c;
  }

  /** compare() into the caller's sets (one set for added and modified gives their union without copying). */
  compareInto(lhs: unknown, rhs: unknown, n: SchemaNode | undefined, into: { added: FieldSet; modified: FieldSet; removed: FieldSet }): void {
    this.cmp(lhs, rhs, n, [], into);
  }

  private cmp(l: unknown, r: unknown, n: SchemaNode | undefined, path: string[], c: { added: FieldSet; modified: FieldSet; removed: FieldSet }): void {
    // A null is present (Go's zero value of a non-omitempty field) but empty.
    const lPresent = l !== undefined, rPresent = r !== undefined;
    if (!lPresent && !rPresent) return;
    // One value on both sides (the parts an update did not touch): nothing changed under it.
    if (l === r && l !== null && typeof l === 'object') return;
    // Both null: a leaf present on both sides, unchanged.
    if (l === null && r === null) return;
    if (l === null) l = undefined;
    if (r === null) r = undefined;
    const k = this.kind(n, r ?? l);
    const sameShape = l === undefined || r === undefined || (Array.isArray(l) === Array.isArray(r) && isObject(l) === isObject(r));
    if (k.t === 'scalar' || !sameShape) return this.leaf(l, r, lPresent, rPresent, path, c);
    if (k.t === 'list') {
      const la = Array.isArray(l) ? l : [], ra = Array.isArray(r) ? r : [];
      if (k.rel === 'atomic' || (la.length === 0 && ra.length === 0)) return this.leaf(l, r, lPresent, rPresent, path, c);
      const lm = new Map<string, unknown>(), rm = new Map<string, unknown>();
      const order: string[] = [];
      la.forEach((it) => { const pe = this.itemPE(n, k, it, path); if (!lm.has(pe)) { lm.set(pe, it); order.push(pe); } });
      ra.forEach((it) => { const pe = this.itemPE(n, k, it, path); if (!rm.has(pe)) { rm.set(pe, it); if (!lm.has(pe)) order.push(pe); } });
      const itemNode = k.rel === 'map' ? this.item(n) : undefined;
      // `path` is extended in place for the children (the sets copy what they insert).
      for (const pe of order) {
        const li = lm.get(pe), ri = rm.get(pe);
        path.push(pe);
        if (k.rel === 'set') {
          if (li === undefined) c.added.insert(path);
          else if (ri === undefined) c.removed.insert(path);
        } else {
          this.cmp(li, ri, itemNode, path, c);
        }
        path.pop();
      }
    } else {
      const lo = isObject(l) ? l : {}, ro = isObject(r) ? r : {};
      const lk = Object.keys(lo), rk = Object.keys(ro);
      if (k.atomic || (lk.length === 0 && rk.length === 0)) return this.leaf(l, r, lPresent, rPresent, path, c);
      // The keys of both sides, the left's first (as a Set of both would give them).
      for (const key of lk) this.cmpField(lo[key], ro[key], n, key, path, c);
      for (const key of rk) if (!Object.prototype.hasOwnProperty.call(lo, key)) this.cmpField(undefined, ro[key], n, key, path, c);
    }
    if (path.length) {
      if (!lPresent) c.added.insert(path);
      else if (!rPresent) c.removed.insert(path);
    }
  }

  /** A value compared as a whole (scalars, atomic lists and maps, a change of shape). */
  private leaf(l: unknown, r: unknown, lPresent: boolean, rPresent: boolean, path: string[], c: { added: FieldSet; modified: FieldSet; removed: FieldSet }): void {
    if (!path.length) return;
    if (!lPresent) c.added.insert(path);
    else if (!rPresent) c.removed.insert(path);
    else if (!deepEqual(l, r)) c.modified.insert(path);
  }

  private cmpField(l: unknown, r: unknown, n: SchemaNode | undefined, key: string, path: string[], c: { added: FieldSet; modified: FieldSet; removed: FieldSet }): void {
    path.push(fieldPE(key));
    this.cmp(l, r, this.field(n, key), path, c);
    path.pop();
  }

  // ------------------------------------------------------------------ merge

  /** The applied config `rhs` merged into `lhs` (typed.Merge); nulls drop fields. */
  merge(lhs: unknown, rhs: unknown, n: SchemaNode | undefined, path: string[] = []): unknown {
    if (rhs === undefined) return lhs;
    if (rhs === null) return undefined;
    const k = this.kind(n, rhs);
    if (lhs === undefined || lhs === null) return stripNulls(structuredClone(rhs));
    if (k.t === 'scalar') return rhs;
    if (k.t === 'list') {
      if (k.rel === 'atomic' || !Array.isArray(lhs) || !Array.isArray(rhs)) return stripNulls(structuredClone(rhs));
      return this.mergeList(lhs, rhs, n, k, path);
    }
    if (k.atomic || !isObject(lhs) || !isObject(rhs)) return stripNulls(structuredClone(rhs));
    const out: Record<string, unknown> = { ...lhs };
    for (const [key, rv] of Object.entries(rhs)) {
      const mv = this.merge(lhs[key], rv, this.field(n, key), [...path, fieldPE(key)]);
      if (mv === undefined) delete out[key]; else out[key] = mv;
    }
    return out;
  }

  /**
   * Merges associative lists keeping SMD's order: items of the applied list in
   * their order, live-only items kept where they were relative to shared items.
   */
  private mergeList(lhs: unknown[], rhs: unknown[], n: SchemaNode | undefined, k: Kind & { t: 'list' }, path: string[]): unknown[] {
    const lPEs = lhs.map((it) => this.itemPE(n, k, it, path));
    const rPEs = rhs.map((it) => this.itemPE(n, k, it, path));
    const lMap = new Map<string, unknown>(), rMap = new Map<string, unknown>();
    lPEs.forEach((pe, i) => { if (!lMap.has(pe)) lMap.set(pe, lhs[i]); });
    rPEs.forEach((pe, i) => {
      if (rMap.has(pe)) throw new TypedError(`${pathString(path)}: duplicate entries for key ${pathString([pe])}`);
      rMap.set(pe, rhs[i]);
    });
    const itemNode = k.rel === 'map' ? this.item(n) : undefined;
    const mergeItem = (pe: string): unknown => (k.rel === 'set' ? rMap.get(pe) ?? lMap.get(pe) : this.merge(lMap.get(pe), rMap.get(pe), itemNode, [...path, pe]));
    const shared = rPEs.filter((pe) => lMap.has(pe));
    let nextShared = shared.shift();
    const emitted = new Set<string>();
    const out: unknown[] = [];
    let li = 0, ri = 0;
    while (li < lPEs.length || ri < rPEs.length) {
      if (li < lPEs.length && ri < rPEs.length) {
        const pe = lPEs[li]!;
        if (pe === rPEs[ri]) {
          emitted.add(pe);
          const m = mergeItem(pe);
          if (m !== undefined) out.push(m);
          li++; ri++;
          nextShared = shared.shift();
          continue;
        }
        // A shared item that the applied list wants later: wait for it there.
        if (rMap.has(pe) && nextShared !== undefined && nextShared !== pe) { li++; continue; }
      }
      if (li < lPEs.length) {
        const pe = lPEs[li]!;
        if (!rMap.has(pe)) { out.push(lhs[li]); li++; continue; }
        if (emitted.has(pe)) li++;
      }
      if (ri < rPEs.length) {
        const pe = rPEs[ri]!;
        emitted.add(pe);
        const m = mergeItem(pe);
        if (m !== undefined) out.push(m);
        ri++;
        if (nextShared !== undefined && nextShared === pe) nextShared = shared.shift();
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ removal

  /** The value without the member paths of `set` (typed.RemoveItems). */
  removeItems(v: unknown, set: FieldSet, n: SchemaNode | undefined, path: string[] = []): unknown {
    if (set.children.size === 0) return v;
    const k = this.kind(n, v);
    if (k.t === 'list' && Array.isArray(v) && k.rel !== 'atomic') {
      const out: unknown[] = [];
      for (const it of v) {
        const pe = this.itemPE(n, k, it, path);
        const s = set.get(pe);
        if (s?.member) continue;
        out.push(s && k.rel === 'map' ? this.removeItems(it, s, this.item(n), [...path, pe]) : it);
      }
      return out;
    }
    if ((k.t === 'struct' || k.t === 'map') && !k.atomic && isObject(v)) {
      const out: Record<string, unknown> = {};
      for (const [key, val] of Object.entries(v)) {
        const s = set.get(fieldPE(key));
        if (s?.member) continue;
        out[key] = s ? this.removeItems(val, s, this.field(n, key), [...path, fieldPE(key)]) : val;
      }
      return out;
    }
    return v;
  }

  /** Marks struct fields that have member children as members themselves (EnsureNamedFieldsAreMembers). */
  ensureNamedFieldsAreMembers(set: FieldSet, n: SchemaNode | undefined): FieldSet {
    const out = set.clone();
    this.ensure(out, n);
    return out;
  }
  private ensure(set: FieldSet, n: SchemaNode | undefined): void {
    const s = this.node(n);
    for (const [pe, c] of set.children) {
      if (pe.startsWith('f:')) {
        const key = pe.slice(2);
        this.ensure(c, this.field(s, key));
        if (s?.properties?.[key] && c.children.size > 0 && !c.empty()) c.member = true;
      } else if (pe.startsWith('k:')) {
        this.ensure(c, this.item(s));
      }
    }
  }
}

function stripNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripNulls);
  if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) { if (x === null) delete v[k]; else v[k] = stripNulls(x) as never; }
  }
  return v;
}

/** A TypedError as the API server answers it (apply configs that do not fit the schema). */
export function typedErrorStatus(e: TypedError): ReturnType<typeof statusError> {
  return statusError(400, 'BadRequest', `failed to create typed patch object: ${e.message}`);
}
