// Server-side apply and field ownership, as the API server's field manager
// (k8s.io/apimachinery/pkg/util/managedfields) on top of structured-merge-diff:
// - every write records an `Update` entry for its manager, owning the fields it
//   changed (and taking them away from other managers);
// - an apply (`Apply` entry) merges the applied config into the live object, owns
//   exactly the fields the config sets, removes fields it applied before but no
//   longer applies (unless someone else owns them), and conflicts when it would
//   change a field another manager owns, unless forced;
// - kubectl's upgrade path from client-side apply: for manager "kubectl",
//   conflicts on fields whose live value still equals the last-applied annotation
//   are allowed, and that annotation is kept in sync.
import type { ManagedFieldsEntry } from 'kubernetes-types/meta/v1.js';
import type { SchemaNode } from '../openapi/types.js';
import { errors, statusError, type StatusError } from '../errors.js';
import { deepEqual, deepFreeze, isObject, type ResolveRef } from '../patch/schema-nav.js';
import { FieldSet, pathString } from './fieldpath.js';
import { Typed, TypedError, typedErrorStatus } from './typed.js';

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

export interface ApplyOptions {
  force: boolean;
  schema: SchemaNode | undefined;
  resolve: ResolveRef;
  /** RFC 3339 time for the manager's entry, e.g. new Date().toISOString() without millis. */
  now: string;
  /** Subresource the apply is for ('status', 'scale'), if any. */
  subresource?: string;
  /**
   * Top-level fields this endpoint resets (the strategy's GetResetFields): the
   * main resource of a kind with a status subresource resets 'status'; the status
   * subresource resets 'spec' (and 'metadata'). Applied values there are ignored.
   */
  resetFields?: string[];
}

export interface ApplyConflict {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion?: string;
  subresource?: string;
  /** `.spec.replicas`, `.spec.containers[name="web"].image` */
  field: string;
}

export interface ApplyResult {
  /** The new object with metadata.managedFields; the live object (with its managedFields updated) on a no-op. */
  object: Record<string, unknown>;
  /** False when neither the object nor its managedFields changed: nothing to write. */
  changed: boolean;
  conflicts?: ApplyConflict[];
}

interface Manager {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion?: string;
  time?: string;
  subresource?: string;
  set: FieldSet;
  /** The stored entry's fieldsV1 while `set` is unchanged: written back as it was, not encoded again. */
  raw?: unknown;
}

/** upstream BuildManagerIdentifier: appliers are one manager whatever their apiVersion. */
function managerId(m: Pick<Manager, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  return JSON.stringify({
    manager: m.manager, operation: m.operation,
    ...(m.operation === 'Update' && m.apiVersion ? { apiVersion: m.apiVersion } : {}),
    ...(m.subresource ? { subresource: m.subresource } : {}),
  });
}

/** `stored`: the entries are the server's own encoding (kept as they are while unchanged). */
function decodeManaged(obj: unknown, stored: boolean): Map<string, Manager> {
  const out = new Map<string, Manager>();
  const list = isObject(obj) && isObject(obj.metadata) ? obj.metadata.managedFields : undefined;
  if (!Array.isArray(list)) return out;
  for (const e of list as ManagedFieldsEntry[]) {
    if (!e || typeof e.manager !== 'string' && e.manager !== undefined) continue;
    const m: Manager = {
      manager: e.manager ?? '', operation: e.operation === 'Apply' ? 'Apply' : 'Update',
      ...(e.apiVersion ? { apiVersion: e.apiVersion } : {}), ...(e.time ? { time: e.time } : {}),
      ...(e.subresource ? { subresource: e.subresource } : {}),
      set: FieldSet.fromJSON(e.fieldsV1),
      ...(stored ? { raw: e.fieldsV1 } : {}),
    };
    const id = managerId(m);
    const prev = out.get(id);
    // Duplicate entries for one manager are merged, as upstream's decoder does.
    if (prev) { prev.set = prev.set.union(m.set); prev.raw = undefined; } else out.set(id, m);
  }
  return out;
}

function validateManagedFields(obj: unknown): void {
  const list = isObject(obj) && isObject(obj.metadata) ? obj.metadata.managedFields : undefined;
  if (list === undefined || list === null) return;
  if (!Array.isArray(list)) throw errors.badRequest('metadata.managedFields must be a list');
  for (const e of list) {
    if (!isObject(e)) throw errors.badRequest('metadata.managedFields must be a list of objects');
    if (e.fieldsType !== undefined && e.fieldsType !== 'FieldsV1') throw errors.badRequest(`error decoding managed fields: unsupported fieldsType ${JSON.stringify(e.fieldsType)}`);
  }
}

/** Upstream's sort: Apply before Update, then by time, manager, apiVersion, subresource. */
function encodeManaged(managers: Map<string, Manager>): ManagedFieldsEntry[] {
  const list = [...managers.values()].filter((m) => !m.set.empty());
  const secs = (t?: string): number => (t ? Math.floor(Date.parse(t) / 1000) || 0 : 0);
  list.sort((p, q) => {
    if (p.operation !== q.operation) return p.operation < q.operation ? -1 : 1;
    if (secs(p.time) !== secs(q.time)) return secs(p.time) - secs(q.time);
    if (p.manager !== q.manager) return p.manager < q.manager ? -1 : 1;
    if ((p.apiVersion ?? '') !== (q.apiVersion ?? '')) return (p.apiVersion ?? '') < (q.apiVersion ?? '') ? -1 : 1;
    return (p.subresource ?? '') < (q.subresource ?? '') ? -1 : (p.subresource ?? '') > (q.subresource ?? '') ? 1 : 0;
  });
  return list.map((m) => ({
    manager: m.manager, operation: m.operation,
    ...(m.apiVersion ? { apiVersion: m.apiVersion } : {}),
    ...(m.time ? { time: m.time } : {}),
    fieldsType: 'FieldsV1', fieldsV1: (m.raw ?? m.set.toJSON()) as ManagedFieldsEntry['fieldsV1'],
    ...(m.subresource ? { subresource: m.subresource } : {}),
  }));
}

// Fields nobody owns: identity and bookkeeping the server sets (stripMetaManager).
const STRIPPED: string[][] = [
  ['f:apiVersion'], ['f:kind'], ['f:metadata'], ['f:metadata', 'f:name'], ['f:metadata', 'f:namespace'],
  ['f:metadata', 'f:creationTimestamp'], ['f:metadata', 'f:selfLink'], ['f:metadata', 'f:uid'],
  ['f:metadata', 'f:clusterName'], ['f:metadata', 'f:generation'], ['f:metadata', 'f:managedFields'],
  ['f:metadata', 'f:resourceVersion'],
];

/** `set` without the fields nobody owns and the reset fields. Changes `set` (callers pass fresh ones). */
function strip(set: FieldSet, resetFields: string[] = []): FieldSet {
  const out = set;
  for (const path of STRIPPED) {
    let n: FieldSet | undefined = out;
    for (const pe of path) n = n?.get(pe);
    if (n) n.member = false;
  }
  // Reset fields are dropped with everything under them.
  for (const f of resetFields) out.children.delete(`f:${f}`);
  return out.prune();
}

function withoutManagedFields(obj: unknown): Record<string, unknown> {
  if (!isObject(obj)) return {};
  const o = structuredClone(obj) as Record<string, unknown>;
  if (isObject(o.metadata)) delete (o.metadata as Record<string, unknown>).managedFields;
  return o;
}

/**
 * `obj` without metadata.managedFields for read-only use (comparisons): copies only
 * the top level and metadata, not the whole object (a deep clone of every written
 * object was ~20 % of recording managedFields).
 */
function comparableWithoutManagedFields(obj: unknown): Record<string, unknown> {
  if (!isObject(obj)) return {};
  const o = { ...obj } as Record<string, unknown>;
  if (isObject(o.metadata)) {
    const { managedFields: _mf, ...md } = o.metadata as Record<string, unknown>;
    o.metadata = md;
  }
  return o;
}

function setManagedFields(obj: Record<string, unknown>, entries: ManagedFieldsEntry[]): Record<string, unknown> {
  const md = isObject(obj.metadata) ? obj.metadata as Record<string, unknown> : (obj.metadata = {} as Record<string, unknown>);
  if (entries.length) md.managedFields = entries as unknown; else delete md.managedFields;
  return obj;
}

/**
 * The Go zero value of the kind, which upstream compares against on create, so
 * that fields present in every decoded object are not "added" (no "." for them):
 * non-pointer structs (metadata, spec, template, ...) exist as objects, and
 * required (non-omitempty) fields exist as null. The schema does not say which
 * fields are pointers; these rules cover the built-in kinds.
 */
const VALUE_STRUCTS = new Set(['metadata', 'spec', 'status', 'template']);
// Per resolver and schema: the zero value is the same for every write of a kind. Frozen,
// since callers share it (it is only compared against).
const zeroCache = new WeakMap<ResolveRef, WeakMap<SchemaNode, Record<string, unknown>>>();
function zeroObject(t: Typed, schema: SchemaNode | undefined): Record<string, unknown> {
  if (!schema) return buildZero(t, schema);
  let bySchema = zeroCache.get(t.resolve);
  if (!bySchema) zeroCache.set(t.resolve, (bySchema = new WeakMap()));
  let z = bySchema.get(schema);
  if (!z) bySchema.set(schema, (z = deepFreeze(buildZero(t, schema))));
  return z;
}
function buildZero(t: Typed, schema: SchemaNode | undefined, depth = 0): Record<string, unknown> {
  const s = t.node(schema);
  const out: Record<string, unknown> = {};
  const required = new Set(s?.required ?? []);
  for (const [k, p] of Object.entries(s?.properties ?? {})) {
    const isStruct = !!t.node(p)?.properties;
    if (isStruct && depth < 8 && (VALUE_STRUCTS.has(k) || required.has(k))) out[k] = buildZero(t, p, depth + 1);
    else if (required.has(k)) out[k] = null;
  }
  return out;
}

/**
 * `obj` with the zero value's fields filled in where it lacks them. `memo` gives one
 * copy per input object, so that parts the two compared sides share (a status write
 * shares the spec with the stored object) stay identical and the comparison skips them.
 */
function underlay(zero: unknown, obj: unknown, memo: Map<object, { zero: unknown; out: unknown }>): unknown {
  // The zero value under itself is itself (a create compares against it): no copy.
  if (obj === undefined || obj === zero) return zero;
  if (!isObject(zero) || !isObject(obj)) return obj;
  const seen = memo.get(obj);
  if (seen?.zero === zero) return seen.out;
  const out: Record<string, unknown> = { ...obj };
  for (const [k, z] of Object.entries(zero)) out[k] = underlay(z, obj[k], memo);
  memo.set(obj, { zero, out });
  return out;
}

/** Both sides are seen as upstream sees decoded objects: with their zero-value fields. */
function compareSets(t: Typed, a: unknown, b: unknown, schema: SchemaNode | undefined): { changed: FieldSet; removed: FieldSet } {
  const zero = zeroObject(t, schema);
  const memo = new Map<object, { zero: unknown; out: unknown }>();
  const changed = new FieldSet(), removed = new FieldSet();
  t.compareInto(underlay(zero, a, memo), underlay(zero, b, memo), schema, { added: changed, modified: changed, removed });
  return { changed, removed };
}

/** Removes each other manager's fields that `changed` or `removed` touches; returns conflicts. */
function takeOwnership(managers: Map<string, Manager>, selfId: string, changed: FieldSet, removed: FieldSet, collect: boolean): ApplyConflict[] {
  const conflicts: ApplyConflict[] = [];
  for (const [id, m] of managers) {
    if (id === selfId) continue;
    const c = m.set.intersection(changed);
    if (collect) {
      for (const p of c.paths()) {
        conflicts.push({
          manager: m.manager, operation: m.operation, field: pathString(p),
          ...(m.operation === 'Update' && m.apiVersion ? { apiVersion: m.apiVersion } : {}),
          ...(m.subresource ? { subresource: m.subresource } : {}),
        });
      }
    }
    // Most writes touch nothing another manager owns: its set (and stored encoding) stays.
    if (c.empty() && m.set.intersection(removed).empty()) continue;
    m.set = m.set.difference(c).difference(removed);
    m.raw = undefined;
    if (m.set.empty()) managers.delete(id);
  }
  return conflicts;
}

/**
 * Record an ordinary write (create, update, patch) in metadata.managedFields:
 * `manager` owns what it changed; others lose what it changed or removed.
 * `old` is the stored object (undefined on create), `updated` the object to store.
 * An explicit `managedFields: []` in `updated` resets the tracking, as upstream.
 */
export function updateManagedFields(
  old: object | undefined, updated: object, manager: string, operation: 'Update',
  subresource: string | undefined, now: string,
  opts: { schema?: SchemaNode; resolve?: ResolveRef; resetFields?: string[] } = {},
): Record<string, unknown> {
  const t = new Typed(opts.resolve ?? (() => undefined));
  const upd = updated as Record<string, unknown>;
  const updMF = isObject(upd.metadata) ? upd.metadata.managedFields : undefined;
  if (Array.isArray(updMF) && updMF.length === 0) return setManagedFields(withoutManagedFields(upd), []);
  validateManagedFields(upd);
  // A client may set managedFields itself (not from a subresource); otherwise keep the stored ones.
  const fromClient = Array.isArray(updMF) && updMF.length > 0 && !subresource;
  const managers = decodeManaged(fromClient ? upd : old, !fromClient);

  const before = old ? comparableWithoutManagedFields(old) : zeroObject(t, opts.schema);
  const after = comparableWithoutManagedFields(upd);
  let { changed, removed } = compareSets(t, before, after, opts.schema);
  changed = strip(changed, opts.resetFields);
  removed = strip(removed, opts.resetFields);
  const apiVersion = typeof upd.apiVersion === 'string' ? upd.apiVersion : undefined;
  const self: Manager = { manager, operation, ...(apiVersion ? { apiVersion } : {}), ...(subresource ? { subresource } : {}), set: changed };
  const id = managerId(self);
  takeOwnership(managers, '', changed, removed, false);
  if (!changed.empty()) {
    const prev = managers.get(id);
    managers.set(id, { ...self, time: now, set: prev ? prev.set.union(changed) : changed });
  }
  return setManagedFields(after, encodeManaged(managers));
}

/**
 * Server-side apply of `applied` (the request body, already parsed) onto `live`
 * (undefined when the object does not exist yet). Without `force`, conflicts are
 * returned and `object` is the unchanged live object; the server answers them
 * with applyConflictError().
 */
export function applyPatch(live: object | undefined, applied: object, manager: string, opts: ApplyOptions): ApplyResult {
  const t = new Typed(opts.resolve);
  const cfg = structuredClone(applied) as Record<string, unknown>;
  if (isObject(cfg.metadata) && cfg.metadata.managedFields !== undefined && cfg.metadata.managedFields !== null) {
    throw errors.badRequest('metadata.managedFields must be nil');
  }
  for (const f of opts.resetFields ?? []) delete cfg[f];
  const liveObj = live ? withoutManagedFields(live) : undefined;
  const managers = decodeManaged(live, true);
  const apiVersion = typeof cfg.apiVersion === 'string' ? cfg.apiVersion : (isObject(live) && typeof (live as Record<string, unknown>).apiVersion === 'string' ? (live as Record<string, string>).apiVersion : undefined);
  const self: Manager = { manager, operation: 'Apply', ...(apiVersion ? { apiVersion } : {}), ...(opts.subresource ? { subresource: opts.subresource } : {}), set: new FieldSet() };
  const id = managerId(self);

  const attempt = (force: boolean): ApplyResult => {
    const ms = new Map([...managers].map(([k, m]) => [k, { ...m, set: m.set.clone() }]));
    // Compare against the kind's zero value on create, as upstream does.
    const base = liveObj ?? zeroObject(t, opts.schema);
    let merged: Record<string, unknown>;
    let set: FieldSet;
    try {
      set = strip(t.toFieldSet(cfg, opts.schema, true), opts.resetFields);
      merged = t.merge(liveObj ?? {}, cfg, opts.schema) as Record<string, unknown>;
    } catch (e) {
      if (e instanceof TypedError) throw typedErrorStatus(e);
      throw e;
    }
    const last = ms.get(id)?.set;
    ms.set(id, { ...self, time: ms.get(id)?.time ?? opts.now, set });
    if (last && !last.empty()) merged = prune(t, merged, ms, last, opts.schema);

    const { changed, removed } = compareSets(t, base, merged, opts.schema);
    const conflicts = takeOwnership(ms, id, strip(changed, opts.resetFields), strip(removed, opts.resetFields), true);
    if (!force && conflicts.length) return { object: live ? structuredClone(live) as Record<string, unknown> : {}, changed: false, conflicts };

    const result = merged;
    const changedObj = !liveObj || !deepEqual(liveObj, result);
    const me = ms.get(id)!;
    if (changedObj || !live) me.time = opts.now;
    if (manager === 'kubectl' && liveObj && hasLastApplied(liveObj)) setLastApplied(result, cfg);
    const object = setManagedFields(result, encodeManaged(ms));
    return { object, changed: !live || !deepEqual(live, object) };
  };

  const r = attempt(opts.force);
  if (!r.conflicts || manager !== 'kubectl' || !liveObj || !hasLastApplied(liveObj)) return r;
  // kubectl upgrading from client-side apply: conflicts on fields it applied
  // client-side (and that still hold that value) are not conflicts.
  const allowed = allowedFromLastApplied(t, liveObj, opts.schema);
  if (!allowed) return r;
  const rest = r.conflicts.filter((c) => !allowed.has(c.field));
  if (rest.length) return { ...r, conflicts: rest };
  return attempt(true);
}

/** Remove what `manager` applied last time, no longer applies, and nobody else owns (Updater.prune). */
function prune(t: Typed, merged: Record<string, unknown>, managers: Map<string, Manager>, last: FieldSet, schema: SchemaNode | undefined): Record<string, unknown> {
  let owned = new FieldSet();
  for (const m of managers.values()) owned = owned.union(m.set);
  const lastE = t.ensureNamedFieldsAreMembers(last, schema);
  const ownedE = t.ensureNamedFieldsAreMembers(owned, schema);
  const present = t.ensureNamedFieldsAreMembers(t.toFieldSet(merged, schema), schema);
  const toRemove = lastE.difference(ownedE).intersection(present);
  if (toRemove.empty()) return merged;
  return t.removeItems(merged, toRemove, schema) as Record<string, unknown>;
}

function hasLastApplied(obj: Record<string, unknown>): boolean {
  const a = isObject(obj.metadata) && isObject(obj.metadata.annotations) ? obj.metadata.annotations : undefined;
  return !!a && typeof a[LAST_APPLIED_ANNOTATION] === 'string' && a[LAST_APPLIED_ANNOTATION] !== '';
}

/** JSON with sorted keys and a trailing newline, as Go encodes unstructured objects. */
function goJSON(v: unknown): string {
  const sort = (x: unknown): unknown => Array.isArray(x) ? x.map(sort) : isObject(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, sort(x[k])])) : x;
  return JSON.stringify(sort(v)) + '\n';
}

function setLastApplied(obj: Record<string, unknown>, cfg: Record<string, unknown>): void {
  const c = structuredClone(cfg);
  if (isObject(c.metadata) && isObject(c.metadata.annotations)) delete (c.metadata.annotations as Record<string, unknown>)[LAST_APPLIED_ANNOTATION];
  const md = (obj.metadata ??= {}) as Record<string, unknown>;
  const ann = (md.annotations ??= {}) as Record<string, string>;
  ann[LAST_APPLIED_ANNOTATION] = goJSON(c);
}

/** Fields of the last-applied annotation whose live value is still what was applied. */
function allowedFromLastApplied(t: Typed, live: Record<string, unknown>, schema: SchemaNode | undefined): Set<string> | undefined {
  const ann = (live.metadata as Record<string, Record<string, string>>).annotations![LAST_APPLIED_ANNOTATION]!;
  let la: unknown;
  try { la = JSON.parse(ann); } catch { return undefined; }
  if (!isObject(la) || la.apiVersion !== live.apiVersion) return undefined;
  try {
    const c = t.compare(la, live, schema);
    const set = t.toFieldSet(la, schema).difference(c.modified).difference(c.added).difference(c.removed);
    return new Set(set.paths().map(pathString));
  } catch { return undefined; }
}

function printManager(c: ApplyConflict): string {
  let s = JSON.stringify(c.manager);
  if (c.subresource) s += ` with subresource ${JSON.stringify(c.subresource)}`;
  if (c.operation === 'Update') s += ` using ${c.apiVersion ?? ''}`;
  return s;
}

/** The 409 the API server answers for apply conflicts (errors.NewApplyConflict). */
export function applyConflictError(conflicts: ApplyConflict[]): StatusError {
  const causes = conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${printManager(c)}`, field: c.field }));
  let message: string;
  if (conflicts.length === 1) {
    const c = conflicts[0]!;
    message = `Apply failed with 1 conflict: conflict with ${printManager(c)}: ${c.field}`;
  } else {
    const by = new Map<string, string[]>();
    for (const c of conflicts) { const k = printManager(c); by.set(k, [...(by.get(k) ?? []), c.field]); }
    const lines: string[] = [];
    for (const k of [...by.keys()].sort()) { lines.push(`conflicts with ${k}:`); for (const f of by.get(k)!) lines.push(`- ${f}`); }
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  return statusError(409, 'Conflict', message, { causes });
}
