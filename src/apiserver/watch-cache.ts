// One datastore watch per resource prefix, kept as an in-memory copy of the current
// objects plus a ring of recent events. Every HTTP watcher of that resource is fed
// from here, so 100 watchers cost one datastore watch, and a watch resuming from a
// recent resourceVersion is replayed from the ring.
import type { Datastore, WatchEvent, Watch } from '../datastore/types.js';
import { CompactedError } from '../datastore/types.js';
import { injectRV, type Obj } from './objects.js';
import { logger } from '../util/log.js';

const log = logger('apiserver.watchcache');

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** Labels and selectable fields of one object, computed once per stored version. */
export interface Attrs { labels: Record<string, string>; fields: Record<string, string> }

/**
 * One stored object in the cache: its serialized JSON (what lists and watches send) and,
 * once a selector asked, its labels and selectable fields. The parsed object is not kept:
 * a parsed pod takes several times the bytes of its JSON, and kept for every object a
 * caller once looked at (token lookups, namespace checks) it would double the cache.
 */
export class CacheEntry {
  private attrsMemo?: Attrs;
  constructor(readonly key: string, readonly raw: string, readonly rv: number, private readonly attrsOf: (o: Obj) => Attrs) {}
  /** A fresh parse of the stored JSON on every call (the caller's own copy). */
  get obj(): Obj {
    return JSON.parse(this.raw) as Obj;
  }
  get attrs(): Attrs {
    return (this.attrsMemo ??= this.attrsOf(this.obj));
  }
}

export interface CacheEvent {
  type: EventType;
  rv: number;
  cur: CacheEntry;
  prev?: CacheEntry;
  /** Serialized watch lines per effective type, shared by all watchers. */
  lines?: Partial<Record<EventType, string>>;
}

export function eventLine(type: string, raw: string): string {
  return `{"type":"${type}","object":${raw}}\n`;
}

export function lineFor(ev: CacheEvent, type: EventType): string {
  ev.lines ??= {};
  return (ev.lines[type] ??= eventLine(type, ev.cur.raw));
}

export interface CacheWatcher {
  /** Selector on attrs; undefined: everything. */
  filter?: (a: Attrs) => boolean;
  /** Key prefix restriction (a namespace), '' for all. */
  keyPrefix: string;
  onEvent(type: EventType, ev: CacheEvent): void;
  onBookmark(rv: number): void;
  /** The cache lost its source (compaction, datastore failure); the watcher must end. */
  terminate(reason: string): void;
}

export class WatchCacheError extends Error {}

export class WatchCache {
  readonly items = new Map<string, CacheEntry>();
  private ring: CacheEvent[] = [];
  private ringStart = 0; // index of oldest event in ring (circular)
  private ringLen = 0;
  /** The cache reflects the store up to this revision. */
  revision = 0;
  /** The revision the cache was (re)built from; events before it are not in the ring. */
  private baseRevision = 0;
  private watchers = new Set<CacheWatcher>();
  private dsWatch?: Watch;
  private readyPromise?: Promise<void>;
  private waiters: { rev: number; resolve: () => void }[] = [];
  private sorted: string[] | null = null;
  private closed = false;
  /** The datastore's compacted revision (from the compactor): older watches get 410 on every server alike. */
  private compactedRevision = 0;

  constructor(
    private readonly ds: Datastore,
    readonly prefix: string,
    private readonly attrsOf: (o: Obj) => Attrs,
    private readonly capacity = 4096,
  ) {}

  /** Starts the cache on first use: list + watch. */
  ready(): Promise<void> {
    return (this.readyPromise ??= this.start());
  }

  private async start(): Promise<void> {
    const res = await this.ds.range(this.prefix, { prefix: true });
    this.items.clear();
    this.sorted = null;
    for (const kv of res.kvs) this.items.set(kv.key, new CacheEntry(kv.key, injectRV(kv.value, kv.modRevision), kv.modRevision, this.attrsOf));
    this.revision = res.revision;
    this.baseRevision = res.revision;
    this.ring = new Array(this.capacity);
    this.ringStart = 0;
    this.ringLen = 0;
    this.dsWatch = this.ds.watch(this.prefix, {
      prefix: true,
      startRevision: res.revision + 1,
      onEvents: (evs) => this.apply(evs),
      onError: (err) => this.fail(err),
      onProgress: (rev) => this.progress(rev),
    });
  }

  private fail(err: Error): void {
    if (this.closed) return;
    log.warn({ prefix: this.prefix, err: err.message }, 'watch cache lost its datastore watch; rebuilding');
    for (const w of this.watchers) w.terminate(err instanceof CompactedError ? 'compacted' : err.message);
    this.watchers.clear();
    this.dsWatch = undefined;
    this.readyPromise = new Promise((r) => setTimeout(r, 200)).then(() => this.start());
    this.readyPromise.catch((e: Error) => log.error({ prefix: this.prefix, err: e.message }, 'watch cache restart failed'));
  }

  private progress(rev: number): void {
    if (rev > this.revision) {
      this.revision = rev;
      for (const w of this.watchers) w.onBookmark(rev);
      this.wake();
    }
  }

  private wake(): void {
    if (!this.waiters.length) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) (w.rev <= this.revision ? w.resolve() : still.push(w));
    this.waiters = still;
  }

  private push(ev: CacheEvent): void {
    const idx = (this.ringStart + this.ringLen) % this.capacity;
    this.ring[idx] = ev;
    if (this.ringLen < this.capacity) this.ringLen++;
    else this.ringStart = (this.ringStart + 1) % this.capacity;
  }

  private apply(evs: WatchEvent[]): void {
    for (const e of evs) {
      const rv = e.kv.modRevision;
      if (rv <= this.revision) continue; // already reflected (restart overlap)
      const key = e.kv.key;
      const prev = this.items.get(key);
      let ev: CacheEvent;
      if (e.type === 'PUT') {
        const cur = new CacheEntry(key, injectRV(e.kv.value, rv), rv, this.attrsOf);
        if (!prev) this.sorted = null;
        this.items.set(key, cur);
        ev = { type: prev ? 'MODIFIED' : 'ADDED', rv, cur, prev };
      } else {
        if (!prev && !e.prevKv) { this.revision = rv; continue; }
        const last = prev?.raw ?? injectRV(e.prevKv!.value, rv);
        // The deleted object is reported at the deletion's revision, as upstream.
        const raw = prev ? replaceRV(last, prev.rv, rv) : last;
        const cur = new CacheEntry(key, raw, rv, this.attrsOf);
        this.items.delete(key);
        this.sorted = null;
        ev = { type: 'DELETED', rv, cur, prev };
      }
      this.revision = rv;
      this.push(ev);
      for (const w of this.watchers) this.deliver(w, ev);
      // The shared lines served this fan-out; the ring keeps only the entry (replays rebuild them).
      ev.lines = undefined;
    }
    this.wake();
  }

  private deliver(w: CacheWatcher, ev: CacheEvent): void {
    if (w.keyPrefix && !ev.cur.key.startsWith(w.keyPrefix)) return;
    if (!w.filter) { w.onEvent(ev.type, ev); return; }
    const now = ev.type !== 'DELETED' && w.filter(ev.cur.attrs);
    const before = ev.prev !== undefined && w.filter(ev.prev.attrs);
    if (ev.type === 'DELETED') { if (before) w.onEvent('DELETED', ev); return; }
    if (now && before) w.onEvent('MODIFIED', ev);
    else if (now) w.onEvent('ADDED', ev);
    else if (before) w.onEvent('DELETED', ev);
  }

  /** The store compacted up to `rev`: events at or before it may no longer be resumed from. */
  setCompactedRevision(rev: number): void {
    if (rev > this.compactedRevision) this.compactedRevision = rev;
  }

  /** Waits until the cache has seen revision `rev`; false on timeout. */
  async waitFor(rev: number, timeoutMs: number): Promise<boolean> {
    await this.ready();
    if (this.revision >= rev) return true;
    // The store may be ahead because other resources were written: ask the datastore
    // whether this prefix has caught up (upstream: a progress request to etcd).
    this.dsWatch?.requestProgress();
    return new Promise<boolean>((resolve) => {
      const t = setTimeout(() => { this.waiters = this.waiters.filter((w) => w !== waiter); resolve(false); }, timeoutMs);
      const waiter = { rev, resolve: () => { clearTimeout(t); resolve(true); } };
      this.waiters.push(waiter);
    });
  }

  /** Current objects under a key prefix, in key order. */
  list(keyPrefix: string): CacheEntry[] {
    if (!this.sorted) this.sorted = [...this.items.keys()].sort();
    const out: CacheEntry[] = [];
    let i = 0;
    if (keyPrefix) {
      // binary search for the first key >= keyPrefix
      let lo = 0, hi = this.sorted.length;
      while (lo < hi) { const m = (lo + hi) >> 1; if (this.sorted[m]! < keyPrefix) lo = m + 1; else hi = m; }
      i = lo;
    }
    for (; i < this.sorted.length; i++) {
      const k = this.sorted[i]!;
      if (keyPrefix && !k.startsWith(keyPrefix)) break;
      out.push(this.items.get(k)!);
    }
    return out;
  }

  /**
   * Registers a watcher that receives every event after `fromRV` (exclusive).
   * With `initial`, the current objects are delivered first as ADDED (at the cache's revision).
   * Throws WatchCacheError when fromRV is older than the ring holds (410). Live events at or
   * below fromRV (when fromRV is ahead of the cache) are the watcher's to skip.
   */
  addWatcher(w: CacheWatcher, fromRV: number | undefined, initial: boolean): { initialEntries: CacheEntry[]; replay: CacheEvent[]; revision: number } {
    let replay: CacheEvent[] = [];
    let initialEntries: CacheEntry[] = [];
    if (initial) {
      initialEntries = this.list(w.keyPrefix).filter((e) => !w.filter || w.filter(e.attrs));
    } else if (fromRV !== undefined && fromRV < this.compactedRevision) {
      // As etcd refuses a watch starting at or below its compaction (start = fromRV + 1).
      throw new WatchCacheError(`too old resource version: ${fromRV} (${this.compactedRevision})`);
    } else if (fromRV !== undefined && fromRV < this.revision) {
      const evs = this.eventsAfter(fromRV);
      if (!evs) throw new WatchCacheError(`too old resource version: ${fromRV} (${this.oldestResumable()})`);
      replay = evs;
    }
    this.watchers.add(w);
    // Replay synchronously through the same filter as live events.
    return { initialEntries, replay, revision: this.revision };
  }

  /** The oldest revision a watch can resume from (every later event is in the ring). */
  private oldestResumable(): number {
    const full = this.ringLen === this.capacity;
    return Math.max(this.baseRevision, full ? this.ring[this.ringStart]!.rv - 1 : 0);
  }

  /**
   * The ring's events after revision `rv`, oldest first; undefined when some of them are no
   * longer held (the ring overflowed past `rv`, or `rv` is before the cache's base).
   * A watcher that fell behind catches up from here instead of buffering bytes.
   */
  eventsAfter(rv: number): CacheEvent[] | undefined {
    if (rv >= this.revision) return [];
    if (rv < this.oldestResumable()) return undefined;
    // Binary search: the ring is ordered by revision.
    let lo = 0, hi = this.ringLen;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (this.ring[(this.ringStart + m) % this.capacity]!.rv <= rv) lo = m + 1; else hi = m;
    }
    const out: CacheEvent[] = [];
    for (let i = lo; i < this.ringLen; i++) out.push(this.ring[(this.ringStart + i) % this.capacity]!);
    return out;
  }

  /** Delivers replayed events through the watcher's filter. */
  replayTo(w: CacheWatcher, evs: CacheEvent[]): void {
    for (const ev of evs) this.deliver(w, ev);
  }

  removeWatcher(w: CacheWatcher): void {
    this.watchers.delete(w);
  }

  get watcherCount(): number { return this.watchers.size; }

  close(): void {
    this.closed = true;
    this.dsWatch?.close();
    for (const w of this.watchers) w.terminate('server shutting down');
    this.watchers.clear();
  }
}

function replaceRV(raw: string, from: number, to: number): string {
  const needle = `"resourceVersion":"${from}"`;
  const i = raw.indexOf(needle);
  return i < 0 ? raw : `${raw.slice(0, i)}"resourceVersion":"${to}"${raw.slice(i + needle.length)}`;
}
