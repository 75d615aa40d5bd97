// Shared informers (client-go's reflector + shared index informer): list, then watch
// from the list's resourceVersion, keep a local indexed cache and tell handlers about
// every change, in order.
//
// Recovery, as upstream's reflector:
// - the watch ends normally (server timeout): watch again from the last seen
//   resourceVersion, without a relist;
// - 410 Gone (ERROR event or HTTP 410): the resourceVersion was compacted: relist and
//   hand the differences to the handlers (deletions missed while away included);
// - the server is down or restarting: retry with capped, jittered exponential backoff.
import type { Status } from 'kubernetes-types/meta/v1.js';
import type { ResourceInfo } from '../api/resources.js';
import { isStatusError } from '../api/errors.js';
import { logger, type Logger } from '../util/log.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { IndexedStore, type Delta } from './store.js';
import {
  Indexes, objectKey,
  type ApiClient, type EventHandlerRegistration, type EventHandlers, type IndexFunc, type Informer, type InformerFactory, type KubeObject,
  type ObjectList, type WatchEvent, type WatchHandle,
} from './types.js';

export interface InformerFactoryOptions {
  /** Every resyncMs, handlers get onUpdate(obj, obj) for every cached object (0/undefined: never). */
  resyncMs?: number;
  /** Reconnect backoff (default 250 ms doubling to 30 s, jittered). */
  backoff?: BackoffOptions;
  /** Page size of lists (default 500). */
  pageSize?: number;
  /**
   * Drop metadata.managedFields from cached objects, as kube-controller-manager's and
   * kube-scheduler's informer transform does: control loops never read them, they are a
   * large part of every object, and an update without them keeps the stored ones.
   */
  trimManagedFields?: boolean;
}

export interface InformerScope { namespace?: string; labelSelector?: string; fieldSelector?: string }

/** Standard index functions. */
export const namespaceIndex: IndexFunc<KubeObject> = (o) => (o.metadata?.namespace ? [o.metadata.namespace] : []);
/** Pods by spec.nodeName; unscheduled pods are indexed under "". */
export const nodeNameIndex: IndexFunc<KubeObject> = (o) => [((o as { spec?: { nodeName?: string } }).spec?.nodeName) ?? ''];
/** "namespace/uid" of the controller ownerReference (the owner of a namespaced object lives in its namespace). */
export const ownerIndex: IndexFunc<KubeObject> = (o) => {
  const ns = o.metadata?.namespace ?? '';
  return (o.metadata?.ownerReferences ?? []).filter((r) => r.controller).map((r) => `${ns}/${r.uid}`);
};

/** Compare numeric resourceVersions; false when either is not a number (they are opaque in general). */
function rvOlder(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  // Without leading zeros a shorter number is smaller, and equal lengths compare as strings
  // (runs for every watch event: no BigInts).
  if (a[0] !== '0' && b[0] !== '0') return a.length !== b.length ? a.length < b.length : a < b;
  return BigInt(a) < BigInt(b);
}

function isGone(s: Status): boolean {
  return s.code === 410 || s.reason === 'Expired' || s.reason === 'Gone';
}

/** Watches end on the server's side after 5-10 minutes, spreading reconnects as client-go does. */
function watchTimeoutSeconds(): number {
  return 300 + Math.floor(Math.random() * 300);
}

type WatchResult = { kind: 'ended'; events: number; ms: number } | { kind: 'gone' } | { kind: 'error'; status: Status };

export class SharedInformer<T extends KubeObject> implements Informer<T> {
  readonly store = new IndexedStore<T>();
  /** Replaced, never mutated, so that a handler removed while events are dispatched does not disturb the loop. */
  private handlers: EventHandlers<T>[] = [];
  private synced = false;
  private rv = '';
  private running = false;
  private gen = 0;
  private watch?: WatchHandle;
  private sleeper?: { timer: NodeJS.Timeout; wake: () => void };
  private resyncTimer?: NodeJS.Timeout;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private syncWaiters: Array<() => void> = [];

  constructor(
    private readonly client: ApiClient,
    readonly info: ResourceInfo,
    readonly scope: InformerScope,
    private readonly opts: InformerFactoryOptions = {},
  ) {
    this.backoff = new Backoff(opts.backoff);
    this.log = logger('informer', { resource: info.group ? `${info.resource}.${info.group}` : info.resource, ...(scope.namespace ? { namespace: scope.namespace } : {}) });
    this.store.addIndexer(Indexes.namespace, namespaceIndex as IndexFunc<T>);
    this.store.addIndexer(Indexes.owner, ownerIndex as IndexFunc<T>);
    if (info.group === '' && info.resource === 'pods') this.store.addIndexer(Indexes.nodeName, nodeNameIndex as IndexFunc<T>);
  }

  addEventHandler(h: EventHandlers<T>): EventHandlerRegistration {
    this.handlers = [...this.handlers, h];
    // A late handler first hears about everything already cached, as in client-go.
    if (this.synced && h.onAdd) for (const o of this.store.list()) this.call(() => h.onAdd!(o));
    return { remove: () => { this.handlers = this.handlers.filter((x) => x !== h); } };
  }

  addIndexer(name: string, fn: IndexFunc<T>): void {
    this.store.addIndexer(name, fn);
  }

  hasIndexer(name: string): boolean { return this.store.hasIndexer(name); }

  hasSynced(): boolean { return this.synced; }
  lastSyncResourceVersion(): string { return this.rv; }

  /** Resolves once the first list has been delivered to the handlers. */
  whenSynced(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((r) => this.syncWaiters.push(r));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const gen = ++this.gen;
    void this.loop(gen);
    if (this.opts.resyncMs && this.opts.resyncMs > 0) {
      this.resyncTimer = setInterval(() => this.resync(), this.opts.resyncMs);
    }
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.gen++;
    this.watch?.close();
    this.watch = undefined;
    if (this.sleeper) { clearTimeout(this.sleeper.timer); this.sleeper.wake(); }
    if (this.resyncTimer) clearInterval(this.resyncTimer);
  }

  private live(gen: number): boolean { return this.running && gen === this.gen; }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => { this.sleeper = undefined; resolve(); };
      this.sleeper = { timer: setTimeout(wake, ms), wake };
    });
  }

  private async loop(gen: number): Promise<void> {
    let needList = true;
    while (this.live(gen)) {
      if (needList) {
        try {
          await this.listAndReplace(gen);
          needList = false;
          this.backoff.reset();
        } catch (e) {
          if (!this.live(gen)) return;
          const ms = this.backoff.next();
          this.log.warn({ err: (e as Error).message, retryMs: ms }, 'list failed');
          await this.sleep(ms);
          continue;
        }
      }
      if (!this.live(gen)) return;
      const r = await this.watchOnce(gen);
      if (!this.live(gen)) return;
      if (r.kind === 'gone') {
        this.log.info({ resourceVersion: this.rv }, 'watch resourceVersion expired; relisting');
        needList = true;
      } else if (r.kind === 'error') {
        const ms = this.backoff.next();
        this.log.warn({ err: r.status.message, code: r.status.code, retryMs: ms }, 'watch failed');
        await this.sleep(ms);
      } else if (r.events === 0 && r.ms < 1000) {
        // A server that closes watches at once would make us spin; slow down.
        await this.sleep(this.backoff.next());
      } else {
        this.backoff.reset();
      }
    }
  }

  /** List all pages, then swap the cache for the result and deliver the differences. */
  private async listAndReplace(gen: number): Promise<void> {
    const rc = this.client.resource<T>(this.info);
    const base = { namespace: this.scope.namespace, labelSelector: this.scope.labelSelector, fieldSelector: this.scope.fieldSelector };
    const items: T[] = [];
    let rv = '';
    let cont: string | undefined;
    try {
      do {
        const page: ObjectList<T> = await rc.list({ ...base, limit: this.opts.pageSize ?? 500, continue: cont });
        if (!this.live(gen)) return;
        for (const it of page.items) items.push(it);
        cont = page.metadata.continue || undefined;
        rv = page.metadata.resourceVersion ?? rv;
      } while (cont);
    } catch (e) {
      // The continue token expired mid-way (410): fall back to one unpaged list, as client-go's pager does.
      if (!(cont && isStatusError(e) && e.code === 410)) throw e;
      const all = await rc.list(base);
      if (!this.live(gen)) return;
      items.length = 0;
      items.push(...all.items);
      rv = all.metadata.resourceVersion ?? '';
    }
    if (this.opts.trimManagedFields) for (const it of items) trimManagedFields(it);
    const deltas = this.store.replace(items);
    this.rv = rv;
    this.dispatch(deltas);
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private watchOnce(gen: number): Promise<WatchResult> {
    const started = Date.now();
    let events = 0;
    let result: WatchResult | undefined;
    const rc = this.client.resource<T>(this.info);
    const h = rc.watch({
      namespace: this.scope.namespace, labelSelector: this.scope.labelSelector, fieldSelector: this.scope.fieldSelector,
      resourceVersion: this.rv, allowWatchBookmarks: true, timeoutSeconds: watchTimeoutSeconds(),
    }, (e: WatchEvent<T>) => {
      if (!this.live(gen) || result) return;
      if (e.type === 'ERROR') {
        const s = e.object as Status;
        result = isGone(s) ? { kind: 'gone' } : { kind: 'error', status: s };
        h.close();
        return;
      }
      events++;
      this.handleEvent(e);
    });
    this.watch = h;
    return h.done.then(() => {
      if (this.watch === h) this.watch = undefined;
      return result ?? { kind: 'ended', events, ms: Date.now() - started };
    });
  }

  /** Apply one watch event to the cache and tell the handlers. */
  handleEvent(e: WatchEvent<T>): void {
    const obj = e.object as T;
    const rv = obj.metadata?.resourceVersion;
    if (e.type === 'BOOKMARK') {
      if (rv) this.rv = rv;
      return;
    }
    if (this.opts.trimManagedFields) trimManagedFields(obj);
    const key = objectKey(obj);
    const old = this.store.get(key);
    if (rv) this.rv = rv;
    switch (e.type) {
      case 'ADDED':
      case 'MODIFIED':
        // Never go back in time: an event older than what is cached would reverse stale and new.
        if (old && rvOlder(rv, old.metadata?.resourceVersion)) return;
        this.store.set(obj);
        this.dispatch([old ? { type: 'update', old, obj } : { type: 'add', obj }]);
        return;
      case 'DELETED':
        if (!old) return; // never seen: nothing to tell
        this.store.delete(key);
        this.dispatch([{ type: 'delete', obj }]);
        return;
      default:
        this.log.warn({ type: e.type }, 'unknown watch event type');
    }
  }

  private dispatch(deltas: Delta<T>[]): void {
    for (const d of deltas) {
      for (const h of this.handlers) {
        // No closure per handler and event: with a dozen handlers on pods, events come in thousands per second.
        try {
          if (d.type === 'add') h.onAdd?.(d.obj);
          else if (d.type === 'update') h.onUpdate?.(d.old, d.obj);
          else h.onDelete?.(d.obj);
        } catch (e) {
          this.handlerThrew(e);
        }
      }
    }
  }

  private resync(): void {
    if (!this.synced) return;
    for (const o of this.store.list()) this.dispatch([{ type: 'update', old: o, obj: o }]);
  }

  private call(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.handlerThrew(e);
    }
  }

  private handlerThrew(e: unknown): void {
    this.log.error({ err: (e as Error).stack ?? String(e) }, 'event handler threw');
  }
}

/** Unset rather than deleted: the object keeps its shape (a delete can turn it into a slow dictionary). */
function trimManagedFields(o: KubeObject): void {
  if (o.metadata?.managedFields !== undefined) o.metadata.managedFields = undefined;
}

export interface JotasuInformerFactory extends InformerFactory {
  informer<T extends KubeObject>(info: ResourceInfo, opts?: InformerScope): SharedInformer<T>;
}

export function createInformerFactory(client: ApiClient, opts: InformerFactoryOptions = {}): JotasuInformerFactory {
  const informers = new Map<string, SharedInformer<KubeObject>>();
  let started = false;
  return {
    informer<T extends KubeObject>(info: ResourceInfo, scope: InformerScope = {}): SharedInformer<T> {
      const key = `${info.group}/${info.version}/${info.resource}|${scope.namespace ?? ''}|${scope.labelSelector ?? ''}|${scope.fieldSelector ?? ''}`;
      let inf = informers.get(key);
      if (!inf) {
        inf = new SharedInformer<KubeObject>(client, info, scope, opts);
        informers.set(key, inf);
        // Informers asked for after start() run at once (client-go needs a second Start call).
        if (started) inf.start();
      }
      return inf as unknown as SharedInformer<T>;
    },
    start(): void {
      started = true;
      for (const i of informers.values()) i.start();
    },
    async waitForSync(signal?: AbortSignal): Promise<void> {
      const all = Promise.all([...informers.values()].map((i) => i.whenSynced())).then(() => undefined);
      return signal ? untilAborted(all, signal) : all;
    },
    stop(): void {
      started = false;
      for (const i of informers.values()) i.stop();
    },
  };
}

/**
 * One user's view of a shared factory, for users that come and go while the
 * informers keep running for the others (the controller manager's leadership terms
 * inside `jotasu server`, beside the scheduler): stop() removes the handlers added
 * through the view and leaves the informers running; indexers are added once by
 * name (a later term adds the same ones again).
 */
export function scopedInformerFactory(shared: JotasuInformerFactory): InformerFactory {
  const used = new Set<SharedInformer<KubeObject>>();
  const registrations: EventHandlerRegistration[] = [];
  let stopped = false;
  const view = <T extends KubeObject>(inf: SharedInformer<T>): Informer<T> => ({
    store: inf.store,
    addEventHandler(h: EventHandlers<T>): EventHandlerRegistration {
      if (stopped) return { remove: () => undefined };
      const r = inf.addEventHandler(h);
      registrations.push(r);
      return r;
    },
    addIndexer(name: string, fn: IndexFunc<T>): void { if (!inf.hasIndexer(name)) inf.addIndexer(name, fn); },
    hasSynced: () => inf.hasSynced(),
    lastSyncResourceVersion: () => inf.lastSyncResourceVersion(),
  });
  return {
    informer<T extends KubeObject>(info: ResourceInfo, scope?: InformerScope): Informer<T> {
      const inf = shared.informer<T>(info, scope);
      used.add(inf as unknown as SharedInformer<KubeObject>);
      return view(inf);
    },
    start(): void { for (const i of used) i.start(); },
    async waitForSync(signal?: AbortSignal): Promise<void> {
      const all = Promise.all([...used].map((i) => i.whenSynced())).then(() => undefined);
      return signal ? untilAborted(all, signal) : all;
    },
    stop(): void {
      stopped = true;
      for (const r of registrations.splice(0)) r.remove();
    },
  };
}

function untilAborted(p: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new Error('waitForSync: aborted'));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(new Error('waitForSync: aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(() => { signal.removeEventListener('abort', onAbort); resolve(); }, reject);
  });
}
