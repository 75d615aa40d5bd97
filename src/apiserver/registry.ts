// All served resources: one ResourceStore per (group, resource), one WatchCache per
// storage prefix (core and events.k8s.io Events share one), and the admission chain
// every write passes through.
import type { Datastore } from '../datastore/types.js';
import { storedResources, type ResourceInfo } from '../api/resources.js';
import { errors } from '../api/errors.js';
import { ResourceStore, REGISTRY_ROOT, type WriteHook } from './store.js';
import { WatchCache } from './watch-cache.js';
import { attrsFunc } from './selectors.js';
import { strategyFor } from './strategies/index.js';
import { Allocators } from './allocators.js';
import type { Obj } from './objects.js';
import type { Codec } from './store.js';
import { toCoreEvent, toEventsV1 } from '../api/conversion/events.js';

/** Both Event endpoints share core/v1 storage; each converts to its own version. */
function codecFor(info: ResourceInfo): Codec | undefined {
  if (info.kind !== 'Event') return undefined;
  return { toStored: toCoreEvent, fromStored: info.group === 'events.k8s.io' ? toEventsV1 : toCoreEvent };
}

export const IMMORTAL_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);

export class Registry {
  readonly stores = new Map<string, ResourceStore>();
  readonly caches = new Map<string, WatchCache>();
  readonly alloc: Allocators;
  /** Admission: runs before validation on every create/update/delete. Later links (RBAC-aware, webhooks) are pushed here. */
  readonly admission: WriteHook[] = [];

  constructor(readonly ds: Datastore, opts: { serviceCIDR: string; nodePortRange?: [number, number] }) {
    this.alloc = new Allocators(ds, opts.serviceCIDR, opts.nodePortRange);
    for (const info of storedResources) this.add(info);
    this.admission.push(this.namespaceLifecycle);
  }

  add(info: ResourceInfo): ResourceStore {
    const prefix = `${REGISTRY_ROOT}${info.storagePrefix}/`;
    let cache = this.caches.get(prefix);
    if (!cache) {
      const attrs = attrsFunc(info);
      // Events are selected by their core/v1 fields whichever version they were written in.
      cache = new WatchCache(this.ds, prefix, info.kind === 'Event' ? (o) => attrs(toCoreEvent(o)) : attrs);
      this.caches.set(prefix, cache);
    }
    const store = new ResourceStore(this.ds, info, strategyFor(info, this.alloc), cache, this.admission, codecFor(info));
    this.stores.set(`${info.group}/${info.resource}`, store);
    return store;
  }

  store(group: string, resource: string): ResourceStore | undefined {
    return this.stores.get(`${group}/${resource}`);
  }

  get namespaces(): ResourceStore { return this.store('', 'namespaces')!; }

  /** Start every watch cache (list + watch); before serving so list→watch never sees a gap. */
  async start(): Promise<void> {
    await Promise.all([...this.caches.values()].map((c) => c.ready()));
  }

  close(): void {
    for (const c of this.caches.values()) c.close();
  }

  /**
   * Whether a namespace exists and is terminating: from the watch cache (one parse per
   * stored version of the namespace, not one per object created in it), falling back to
   * the store for one created a moment ago.
   */
  async namespaceState(name: string): Promise<{ terminating: boolean } | undefined> {
    const key = this.namespaces.key('', name);
    const e = this.namespaces.cache.items.get(key);
    if (e) {
      let st = this.namespaceStates.get(e);
      if (!st) this.namespaceStates.set(e, (st = { terminating: isTerminating(e.obj) }));
      return st;
    }
    const kv = await this.ds.get(key);
    return kv ? { terminating: isTerminating(JSON.parse(kv.value) as Obj) } : undefined;
  }

  /** Per cache entry (a new one for every stored version): what namespaceState found in it. */
  private readonly namespaceStates = new WeakMap<object, { terminating: boolean }>();

  // Upstream NamespaceLifecycle admission.
  private namespaceLifecycle: WriteHook = async (op, store, obj) => {
    if (store.info.kind === 'Namespace') {
      if (op === 'DELETE' && IMMORTAL_NAMESPACES.has(obj.metadata?.name)) {
        throw errors.forbidden(`namespaces "${obj.metadata?.name}" is forbidden: this namespace may not be deleted`, { group: '', resource: 'namespaces', name: obj.metadata?.name });
      }
      return;
    }
    if (!store.info.namespaced || op !== 'CREATE') return;
    const nsName = obj.metadata?.namespace as string;
    const ns = await this.namespaceState(nsName);
    if (!ns) throw errors.notFound({ group: '', resource: 'namespaces', name: nsName });
    if (ns.terminating) {
      // Events about the namespace's own teardown are still allowed upstream.
      if (store.info.kind === 'Event') return;
      const name = obj.metadata?.name ?? '';
      const res = store.info.group ? `${store.info.resource}.${store.info.group}` : store.info.resource;
      throw errors.forbidden(`${res} "${name}" is forbidden: unable to create new content in namespace ${nsName} because it is being terminated`, { group: store.info.group, resource: store.info.resource, name });
    }
  };
}

function isTerminating(ns: Obj): boolean {
  return !!ns.metadata?.deletionTimestamp || ns.status?.phase === 'Terminating';
}
