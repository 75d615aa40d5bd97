// The generic store of one resource over the Datastore (upstream:
// k8s.io/apiserver/pkg/registry/generic/registry.Store): key layout, metadata on
// create, optimistic concurrency, status subresource rules, graceful deletion and
// finalizers. Per-resource behaviour comes from its Strategy.
import { randomUUID, randomInt } from 'node:crypto';
import type { Datastore, KeyValue } from '../datastore/types.js';
import { CompactedError, FutureRevisionError } from '../datastore/types.js';
import { errors, statusError, type FieldError } from '../api/errors.js';
import { apiVersionOf, type ResourceInfo } from '../api/resources.js';
import { serialize, injectRV, parseStored, deepEqual, nowRFC3339, type Obj } from './objects.js';
import { WatchCache, type Attrs, type CacheEntry } from './watch-cache.js';
import { attrsFunc } from './selectors.js';
import type { Strategy, StrategyContext } from './strategies/types.js';
import * as machinery from './machinery.js';

export const REGISTRY_ROOT = '/registry/';

/** How long a consistent list waits for the watch cache before reading the store instead (upstream: 3 s, then an error). */
const CONSISTENT_CACHE_WAIT_MS = 1000;

export interface DeleteOpts {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
}

/** A hook run before every write (admission): throws to refuse. */
export type WriteHook = (op: 'CREATE' | 'UPDATE' | 'DELETE', store: ResourceStore, obj: Obj, old: Obj | undefined, ctx: StrategyContext) => Promise<void> | void;

/**
 * Conversion between the version an endpoint serves and the stored one, for resources
 * that share storage (events.k8s.io/v1 Events are stored as core/v1 Events, as upstream).
 */
export interface Codec {
  /** The endpoint's object -> the stored form. */
  toStored(o: Obj): Obj;
  /** A stored object (any version written so far) -> the endpoint's form. */
  fromStored(o: Obj): Obj;
}

export interface ListResult {
  /** Serialized items (JSON with resourceVersion). */
  raws: string[];
  /** Parsed items when the caller needs objects (tables); built lazily from raws. */
  revision: number;
  continueToken?: string;
  remainingItemCount?: number;
}

const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';
/** upstream's SimpleNameGenerator: 5 characters that spell no words. */
export function randomNameSuffix(n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += NAME_CHARS[randomInt(NAME_CHARS.length)];
  return s;
}

export function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64url');
}

export function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const o = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v?: string; rv?: number; start?: string };
    if (o.v !== 'meta.k8s.io/v1' || typeof o.rv !== 'number' || typeof o.start !== 'string') throw new Error('bad');
    return { rv: o.rv, start: o.start };
  } catch {
    throw errors.badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
}

export function expiredContinue(): Error {
  return statusError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.');
}

export class ResourceStore {
  readonly prefix: string;
  readonly attrsOf: (o: Obj) => Attrs;
  readonly hasStatus: boolean;

  constructor(
    readonly ds: Datastore,
    readonly info: ResourceInfo,
    readonly strategy: Strategy,
    readonly cache: WatchCache,
    private readonly hooks: WriteHook[],
    readonly codec?: Codec,
  ) {
    this.prefix = `${REGISTRY_ROOT}${info.storagePrefix}/`;
    this.attrsOf = attrsFunc(info);
    this.hasStatus = info.subresources.includes('status');
  }

  key(namespace: string, name: string): string {
    return this.info.namespaced ? `${this.prefix}${namespace}/${name}` : `${this.prefix}${name}`;
  }

  /** Key prefix of a namespace ('' namespace: the whole resource). */
  listPrefix(namespace: string): string {
    return this.info.namespaced && namespace ? `${this.prefix}${namespace}/` : this.prefix;
  }

  ref(name?: string): { group: string; resource: string; name?: string } {
    return { group: this.info.group, resource: this.info.resource, name };
  }

  /** Stored JSON -> this endpoint's JSON (unchanged when already in its version). */
  outRaw(raw: string): string {
    if (!this.codec || raw.startsWith(this.rawHead)) return raw;
    return JSON.stringify(this.codec.fromStored(JSON.parse(raw) as Obj));
  }

  private get rawHead(): string { return `{"apiVersion":${JSON.stringify(apiVersionOf(this.info))},`; }

  private out(o: Obj): Obj { return this.codec ? this.codec.fromStored(o) : o; }

  private stored(o: Obj): Obj { return this.codec ? this.codec.toStored(o) : o; }

  async getKV(namespace: string, name: string): Promise<KeyValue | undefined> {
    return this.ds.get(this.key(namespace, name));
  }

  /** The raw stored object with its resourceVersion, or 404. */
  async getRaw(namespace: string, name: string): Promise<{ raw: string; kv: KeyValue }> {
    const kv = await this.getKV(namespace, name);
    if (!kv) throw errors.notFound(this.ref(name));
    return { raw: this.outRaw(injectRV(kv.value, kv.modRevision)), kv };
  }

  async get(namespace: string, name: string): Promise<Obj> {
    const kv = await this.getKV(namespace, name);
    if (!kv) throw errors.notFound(this.ref(name));
    return this.out(parseStored(kv.value, kv.modRevision));
  }

  // ---------------------------------------------------------------- list

  /**
   * List with upstream's resourceVersion semantics: '' (consistent, from the store),
   * '0' (any: from the cache), N + NotOlderThan (from the cache once it has N), N + Exact
   * and continue tokens (from the store at that revision).
   */
  async list(namespace: string, opts: {
    filter?: (a: Attrs) => boolean; limit?: number; continueToken?: string;
    resourceVersion?: string; resourceVersionMatch?: string;
  }): Promise<ListResult> {
    const r = await this.listStored(namespace, opts);
    if (this.codec) r.raws = r.raws.map((raw) => this.outRaw(raw));
    return r;
  }

  private async listStored(namespace: string, opts: {
    filter?: (a: Attrs) => boolean; limit?: number; continueToken?: string;
    resourceVersion?: string; resourceVersionMatch?: string;
  }): Promise<ListResult> {
    const prefix = this.listPrefix(namespace);
    const rvStr = opts.resourceVersion ?? '';
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    if (opts.continueToken) {
      if (rvStr !== '' && rvStr !== '0') throw errors.badRequest('specifying resource version is not allowed when using continue');
      const c = decodeContinue(opts.continueToken);
      return this.listFromStore(prefix, opts.filter, limit, c.rv, prefix + c.start);
    }
    const match = opts.resourceVersionMatch ?? '';
    if (match && match !== 'Exact' && match !== 'NotOlderThan') {
      throw errors.badRequest(`resourceVersionMatch: Unsupported value: "${match}": supported values: "Exact", "NotOlderThan"`);
    }
    if (match && rvStr === '') throw errors.badRequest('resourceVersionMatch is forbidden unless resourceVersion is provided');
    if (rvStr === '') {
      // A consistent list without a limit comes from the watch cache once it has caught up
      // with the store's current revision (upstream ConsistentListFromCache, on by default
      // since 1.31); paged ones from the store. If the cache does not catch up soon, the store;
      // also, as upstream, when the datastore's progress notifications may overtake events.
      if (!limit && (await this.ds.progressNotifyIsOrdered()) && (await this.cache.waitFor(await this.ds.currentRevision(), CONSISTENT_CACHE_WAIT_MS))) return this.listFromCache(prefix, opts.filter, 0);
      return this.listFromStore(prefix, opts.filter, limit, 0, prefix);
    }
    const rv = Number(rvStr);
    if (!Number.isInteger(rv) || rv < 0) throw errors.badRequest(`resourceVersion: Invalid value: "${rvStr}": must be a non-negative integer`);
    if (match === 'Exact') {
      if (rv === 0) throw errors.badRequest('resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
      return this.listFromStore(prefix, opts.filter, limit, rv, prefix);
    }
    // Any / NotOlderThan: the watch cache, once fresh enough.
    if (!(await this.cache.waitFor(rv, 3000))) {
      throw statusError(504, 'Timeout', `Too large resource version: ${rv}, current: ${this.cache.revision}`, {
        causes: [{ reason: 'ResourceVersionTooLarge' as never, message: 'Too large resource version' }], retryAfterSeconds: 1,
      });
    }
    return this.listFromCache(prefix, opts.filter, limit);
  }

  private listFromCache(prefix: string, filter: ((a: Attrs) => boolean) | undefined, limit: number): ListResult {
    const revision = this.cache.revision;
    let entries: CacheEntry[] = this.cache.list(prefix);
    if (filter) entries = entries.filter((e) => filter(e.attrs));
    if (limit && entries.length > limit) {
      const last = entries[limit - 1]!;
      return {
        raws: entries.slice(0, limit).map((e) => e.raw), revision,
        continueToken: encodeContinue(revision, last.key.slice(prefix.length) + '\u0000'),
        remainingItemCount: filter ? undefined : entries.length - limit,
      };
    }
    return { raws: entries.map((e) => e.raw), revision };
  }

  private async listFromStore(prefix: string, filter: ((a: Attrs) => boolean) | undefined, limit: number, revision: number, fromKey: string): Promise<ListResult> {
    const raws: string[] = [];
    let rev = revision;
    let from = fromKey;
    let lastKey = '';
    for (;;) {
      let res;
      try {
        // Without a filter one read of `limit` keys is enough; with one, read in chunks until enough match.
        const chunk = limit ? (filter ? Math.max(limit * 2, 100) : limit + 1) : 0;
        res = await this.ds.range(prefix, { prefix: true, revision: rev || undefined, limit: chunk || undefined, fromKey: from });
      } catch (e) {
        if (e instanceof CompactedError) throw revision && fromKey !== prefix ? expiredContinue() : errors.gone(`The resourceVersion for the provided list is too old.`);
        if (e instanceof FutureRevisionError) {
          throw statusError(504, 'Timeout', `Too large resource version: ${revision}, current: ${e.currentRevision}`, { retryAfterSeconds: 1 });
        }
        throw e;
      }
      rev = res.revision;
      for (const kv of res.kvs) {
        if (filter && !filter(this.attrsOf(JSON.parse(kv.value) as Obj))) continue;
        if (limit && raws.length === limit) {
          // One more match exists: the page is full; the next one starts after the last key returned.
          return { raws, revision: rev, continueToken: encodeContinue(rev, lastKey.slice(prefix.length) + '\u0000') };
        }
        raws.push(injectRV(kv.value, kv.modRevision));
        lastKey = kv.key;
      }
      if (!res.more || !limit) return { raws, revision: rev };
      from = res.kvs[res.kvs.length - 1]!.key + '\u0000';
    }
  }

  // ---------------------------------------------------------------- create

  private ctxOf(ctx: StrategyContext): StrategyContext { return ctx; }

  /** Fills in server-owned metadata and runs the strategy, defaults, admission and validation. */
  private async prepareCreate(obj: Obj, namespace: string, ctx: StrategyContext): Promise<void> {
    obj.apiVersion = apiVersionOf(this.info);
    obj.kind = this.info.kind;
    const m = (obj.metadata ??= {});
    if (this.info.namespaced) m.namespace = namespace;
    else delete m.namespace;
    if (!m.name && m.generateName) m.name = `${m.generateName}${randomNameSuffix()}`;
    m.uid = randomUUID();
    m.creationTimestamp = nowRFC3339();
    delete m.resourceVersion;
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    delete m.selfLink;
    if (this.strategy.generation) m.generation = 1;
    else delete m.generation;
    // Upstream order: defaults (at decoding), admission, the strategy's PrepareForCreate, Validate.
    machinery.defaults(this.info, obj);
    this.strategy.prepareForCreate?.(obj, this.ctxOf(ctx));
    for (const h of this.hooks) await h('CREATE', this, obj, undefined, ctx);
    this.validateOrThrow(obj, undefined, ctx);
  }

  validateOrThrow(obj: Obj, old: Obj | undefined, ctx: StrategyContext): void {
    const errs: FieldError[] = [...machinery.validate(this.info, obj, old, ctx.subresource), ...(this.strategy.validate?.(obj, old, ctx) ?? [])];
    if (errs.length) throw errors.invalid(this.info.kind, this.info.group, obj.metadata?.name ?? '', errs);
  }

  async create(namespace: string, obj: Obj, ctx: StrategyContext): Promise<{ obj: Obj; raw: string }> {
    await this.prepareCreate(obj, namespace, ctx);
    const name = obj.metadata!.name as string;
    const key = this.key(namespace, name);
    if (ctx.dryRun) {
      if (await this.ds.get(key)) throw errors.alreadyExists(this.ref(name));
      const release = await this.strategy.allocate?.(obj, undefined, ctx);
      await release?.();
      return { obj, raw: JSON.stringify(obj) };
    }
    const release = await this.strategy.allocate?.(obj, undefined, ctx);
    const data = serialize(this.stored(obj));
    let res;
    try {
      res = await this.ds.create(key, data, { ttlSeconds: this.info.ttlSeconds });
    } catch (e) {
      await release?.();
      throw e;
    }
    if (!res.succeeded) {
      await release?.();
      throw errors.alreadyExists(this.ref(name));
    }
    obj.metadata!.resourceVersion = String(res.revision);
    return { obj, raw: this.outRaw(injectRV(data, res.revision)) };
  }

  // ---------------------------------------------------------------- update

  /**
   * Read-modify-write with optimistic concurrency (upstream GuaranteedUpdate).
   * `mutate` gets the current object (undefined if missing) and returns the proposed one.
   * A proposed metadata.resourceVersion is a precondition (409 when stale); without one
   * the update is retried on races.
   */
  async update(namespace: string, name: string, ctx: StrategyContext,
    mutate: (cur: Obj | undefined) => Obj | Promise<Obj>,
    opts: { allowCreate?: boolean } = {},
  ): Promise<{ obj: Obj; raw: string; created: boolean }> {
    const key = this.key(namespace, name);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.ds.get(key);
      if (!kv) {
        const allowCreate = opts.allowCreate ?? this.strategy.allowCreateOnUpdate;
        if (!allowCreate || ctx.subresource) throw errors.notFound(this.ref(name));
        const proposed = await mutate(undefined);
        proposed.metadata ??= {};
        if (proposed.metadata.resourceVersion) throw errors.notFound(this.ref(name));
        proposed.metadata.name ??= name;
        const r = await this.create(namespace, proposed, ctx).catch((e: unknown) => {
          if (e instanceof Error && (e as { reason?: string }).reason === 'AlreadyExists' && attempt < 5) return undefined;
          throw e;
        });
        if (!r) continue;
        return { ...r, created: true };
      }
      const cur = this.out(parseStored(kv.value, kv.modRevision));
      // The handler's own copy: parsing the stored JSON again costs a fraction of structuredClone.
      const proposed = await mutate(this.out(parseStored(kv.value, kv.modRevision)));
      const pm = (proposed.metadata ??= {});
      const precondition = pm.resourceVersion !== undefined && pm.resourceVersion !== '' ? String(pm.resourceVersion) : undefined;
      if (precondition === undefined && this.strategy.allowUnconditionalUpdate === false) {
        throw errors.invalid(this.info.kind, this.info.group, name, [{ type: 'Invalid', field: 'metadata.resourceVersion', value: '0x0', detail: 'must be specified for an update' }]);
      }
      if (precondition !== undefined && precondition !== String(kv.modRevision)) {
        throw errors.conflict(this.ref(name), 'the object has been modified; please apply your changes to the latest version and try again');
      }
      const next = await this.prepareUpdate(proposed, cur, ctx);
      const data = serialize(this.stored(next));
      // A no-op write keeps the resourceVersion, as upstream. Stored bytes are serialize()'s
      // own output, which a parse and serialize gives back unchanged: compare with them.
      if (data === (this.codec ? serialize(this.stored(cur)) : kv.value)) return { obj: cur, raw: this.outRaw(injectRV(kv.value, kv.modRevision)), created: false };
      // The last finalizer gone from an object being deleted: it is deleted now.
      if (next.metadata?.deletionTimestamp && !(next.metadata.finalizers?.length) && !(next.metadata.deletionGracePeriodSeconds > 0) && !this.pendingNamespaceFinalizers(next)) {
        if (ctx.dryRun) return { obj: next, raw: JSON.stringify(next), created: false };
        const d = await this.ds.delete(key, kv.modRevision);
        if (!d.succeeded) { if (precondition) throw errors.conflict(this.ref(name), 'the object has been modified; please apply your changes to the latest version and try again'); continue; }
        await this.strategy.afterDelete?.(next);
        next.metadata!.resourceVersion = String(d.revision);
        return { obj: next, raw: JSON.stringify(next), created: false };
      }
      if (ctx.dryRun) {
        next.metadata!.resourceVersion = String(kv.modRevision);
        return { obj: next, raw: JSON.stringify(next), created: false };
      }
      const release = await this.strategy.allocate?.(next, cur, ctx);
      const res = await this.ds.update(key, data, kv.modRevision, { ttlSeconds: this.info.ttlSeconds });
      if (!res.succeeded) {
        await release?.();
        if (precondition !== undefined || attempt >= 20) {
          throw errors.conflict(this.ref(name), 'the object has been modified; please apply your changes to the latest version and try again');
        }
        continue;
      }
      next.metadata!.resourceVersion = String(res.revision);
      await this.strategy.afterUpdate?.(next, cur);
      return { obj: next, raw: this.outRaw(injectRV(data, res.revision)), created: false };
    }
  }

  private pendingNamespaceFinalizers(o: Obj): boolean {
    return this.info.kind === 'Namespace' && (o.spec?.finalizers?.length ?? 0) > 0;
  }

  private async prepareUpdate(proposed: Obj, cur: Obj, ctx: StrategyContext): Promise<Obj> {
    const name = cur.metadata!.name as string;
    const pm = proposed.metadata!;
    if (pm.name !== undefined && pm.name !== name) {
      throw errors.badRequest(`the name of the object (${pm.name}) does not match the name on the URL (${name})`);
    }
    if (this.info.namespaced && pm.namespace !== undefined && pm.namespace !== '' && pm.namespace !== cur.metadata!.namespace) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    let next: Obj;
    if (ctx.subresource === 'status') {
      // Only status changes through /status (upstream ResetObjectMetaForStatus + spec = old spec).
      // The rest is the current object's, shared rather than copied (cur is this write's own parse).
      next = { ...cur, metadata: { ...cur.metadata }, status: proposed.status };
      if (pm.managedFields !== undefined) next.metadata!.managedFields = pm.managedFields;
      this.strategy.prepareForStatusUpdate?.(next, proposed, cur, ctx);
    } else if (this.strategy.directSubresources?.includes(ctx.subresource)) {
      // The handler built the whole object from the current one (pods/binding: nodeName and
      // PodScheduled together); the main endpoint's status reset would drop its status change.
      next = proposed;
    } else {
      next = proposed;
      // Defaults apply to the decoded body, before the strategy copies what the client omitted.
      machinery.defaults(this.info, next);
      if (this.hasStatus) {
        if (cur.status === undefined) delete next.status;
        else next.status = cur.status;
      }
      this.strategy.prepareForUpdate?.(next, cur, ctx);
    }
    next.apiVersion = apiVersionOf(this.info);
    next.kind = this.info.kind;
    const nm = next.metadata!;
    const om = cur.metadata!;
    // Server-owned metadata cannot be changed by clients.
    nm.name = om.name;
    if (this.info.namespaced) nm.namespace = om.namespace;
    nm.uid = om.uid;
    nm.creationTimestamp = om.creationTimestamp;
    nm.deletionTimestamp = om.deletionTimestamp;
    nm.deletionGracePeriodSeconds = om.deletionGracePeriodSeconds;
    if (nm.deletionTimestamp === undefined) { delete nm.deletionTimestamp; delete nm.deletionGracePeriodSeconds; }
    if (om.deletionTimestamp && nm.finalizers?.length) {
      // While terminating, finalizers can only be removed, not added (upstream: forbidden to add).
      const added = (nm.finalizers as string[]).filter((f) => !(om.finalizers ?? []).includes(f));
      if (added.length) {
        throw errors.invalid(this.info.kind, this.info.group, name, [{ type: 'Forbidden', field: 'metadata.finalizers', detail: `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}` }]);
      }
    }
    delete nm.selfLink;
    if (this.strategy.generation) {
      nm.generation = om.generation ?? 1;
      if (!deepEqual(next.spec, cur.spec)) nm.generation = (om.generation ?? 0) + 1;
    } else {
      delete nm.generation;
    }
    if (ctx.subresource === 'status') machinery.defaults(this.info, next);
    for (const h of this.hooks) await h('UPDATE', this, next, cur, ctx);
    this.validateOrThrow(next, cur, ctx);
    return next;
  }

  // ---------------------------------------------------------------- delete

  /**
   * Delete with upstream semantics. Returns the object and whether it is gone now
   * (false: graceful deletion or finalizers pending; the object carries deletionTimestamp).
   */
  async delete(namespace: string, name: string, opts: DeleteOpts, ctx: StrategyContext): Promise<{ obj: Obj; deleted: boolean }> {
    const r = await this.deleteStored(namespace, name, opts, ctx);
    return this.codec ? { obj: this.out(r.obj), deleted: r.deleted } : r;
  }

  private async deleteStored(namespace: string, name: string, opts: DeleteOpts, ctx: StrategyContext): Promise<{ obj: Obj; deleted: boolean }> {
    const key = this.key(namespace, name);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.ds.get(key);
      if (!kv) throw errors.notFound(this.ref(name));
      const cur = parseStored(kv.value, kv.modRevision);
      const m = cur.metadata!;
      const pre = opts.preconditions;
      if (pre?.uid && pre.uid !== m.uid) {
        throw errors.conflict(this.ref(name), `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${m.uid}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== m.resourceVersion) {
        throw errors.conflict(this.ref(name), `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${m.resourceVersion}`);
      }
      for (const h of this.hooks) await h('DELETE', this, cur, cur, ctx);
      const next = structuredClone(cur);
      const nm = next.metadata!;
      // propagationPolicy → GC finalizers, as upstream's deletion finalizer handling.
      const policy = opts.propagationPolicy ?? (opts.orphanDependents === true ? 'Orphan' : opts.orphanDependents === false ? 'Background' : this.strategy.defaultPropagationPolicy);
      if (policy) {
        let fins: string[] = (nm.finalizers ?? []).filter((f: string) => f !== 'orphan' && f !== 'foregroundDeletion');
        if (policy === 'Orphan') fins.push('orphan');
        if (policy === 'Foreground') fins.push('foregroundDeletion');
        fins = [...new Set(fins)];
        if (fins.length) nm.finalizers = fins; else delete nm.finalizers;
      }
      let grace = this.strategy.gracePeriod ? this.strategy.gracePeriod(cur, opts.gracePeriodSeconds) : 0;
      const pendingFinalizers = (nm.finalizers?.length ?? 0) > 0 || this.pendingNamespaceFinalizers(next);
      if (m.deletionTimestamp) {
        // Already terminating: only a shorter grace period or finalizer changes matter.
        const curGrace = m.deletionGracePeriodSeconds ?? 0;
        if (!pendingFinalizers && (grace === 0 || curGrace === 0)) {
          if (grace === 0 || curGrace === 0) return this.finalDelete(key, kv, cur, ctx, attempt);
        }
        if (grace < curGrace) {
          nm.deletionGracePeriodSeconds = grace;
          nm.deletionTimestamp = nowRFC3339(new Date(Date.now() + grace * 1000));
        }
        if (deepEqual(next, cur)) return { obj: cur, deleted: false };
        const r = await this.writeDeleting(key, kv, next, ctx);
        if (!r) continue;
        return { obj: r, deleted: false };
      }
      if (!pendingFinalizers && grace === 0) return this.finalDelete(key, kv, cur, ctx, attempt);
      if (pendingFinalizers && grace === 0) grace = 0;
      nm.deletionTimestamp = nowRFC3339(new Date(Date.now() + grace * 1000));
      nm.deletionGracePeriodSeconds = grace;
      if (nm.generation !== undefined) nm.generation = nm.generation + 1;
      if (this.info.kind === 'Namespace') next.status = { ...(next.status ?? {}), phase: 'Terminating' };
      const r = await this.writeDeleting(key, kv, next, ctx);
      if (!r) continue;
      return { obj: r, deleted: false };
    }
  }

  private async writeDeleting(key: string, kv: KeyValue, next: Obj, ctx: StrategyContext): Promise<Obj | undefined> {
    if (ctx.dryRun) return next;
    const data = serialize(next);
    const res = await this.ds.update(key, data, kv.modRevision, { ttlSeconds: this.info.ttlSeconds });
    if (!res.succeeded) return undefined;
    next.metadata!.resourceVersion = String(res.revision);
    return next;
  }

  private async finalDelete(key: string, kv: KeyValue, cur: Obj, ctx: StrategyContext, attempt: number): Promise<{ obj: Obj; deleted: boolean }> {
    if (ctx.dryRun) return { obj: cur, deleted: true };
    const res = await this.ds.delete(key, kv.modRevision);
    if (!res.succeeded) {
      if (attempt > 20) throw errors.conflict(this.ref(cur.metadata?.name), 'the object has been modified; please apply your changes to the latest version and try again');
      return this.deleteStored(cur.metadata!.namespace ?? '', cur.metadata!.name, {}, ctx);
    }
    await this.strategy.afterDelete?.(cur);
    cur.metadata!.resourceVersion = String(res.revision);
    return { obj: cur, deleted: true };
  }
}
