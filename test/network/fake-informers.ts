// A hand-driven InformerFactory for component tests without an API server: the test
// puts and deletes objects, handlers run as they would on watch events.
import type { ResourceInfo } from '../../src/api/resources.js';
import { objectKey, type EventHandlerRegistration, type EventHandlers, type IndexFunc, type Informer, type InformerFactory, type KubeObject, type Store } from '../../src/client/types.js';

class FakeInformer<T extends KubeObject> implements Informer<T> {
  readonly map = new Map<string, T>();
  readonly handlers: EventHandlers<T>[] = [];
  readonly indexers = new Map<string, IndexFunc<T>>();
  readonly store: Store<T> = {
    get: (k) => this.map.get(k),
    list: () => [...this.map.values()],
    keys: () => [...this.map.keys()],
    byIndex: (name, value) => {
      const fn = name === 'namespace' ? (o: T) => [o.metadata?.namespace ?? ''] : this.indexers.get(name);
      return fn ? [...this.map.values()].filter((o) => fn(o).includes(value)) : [];
    },
  };
  addEventHandler(h: EventHandlers<T>): EventHandlerRegistration {
    this.handlers.push(h);
    for (const o of this.map.values()) h.onAdd?.(o);
    return { remove: () => { const i = this.handlers.indexOf(h); if (i >= 0) this.handlers.splice(i, 1); } };
  }
  addIndexer(name: string, fn: IndexFunc<T>): void { this.indexers.set(name, fn); }
  hasSynced(): boolean { return true; }
  lastSyncResourceVersion(): string { return '1'; }
}

export interface FakeInformers extends InformerFactory {
  put<T extends KubeObject>(info: ResourceInfo, obj: T): void;
  del(info: ResourceInfo, obj: KubeObject): void;
}

export function createFakeInformers(): FakeInformers {
  const infs = new Map<string, FakeInformer<KubeObject>>();
  const get = <T extends KubeObject>(info: ResourceInfo): FakeInformer<T> => {
    let i = infs.get(info.resource);
    if (!i) infs.set(info.resource, (i = new FakeInformer()));
    return i as unknown as FakeInformer<T>;
  };
  return {
    informer: <T extends KubeObject>(info: ResourceInfo) => get<T>(info),
    start() {},
    async waitForSync() {},
    stop() {},
    put(info, obj) {
      const i = get(info);
      const k = objectKey(obj);
      const old = i.map.get(k);
      i.map.set(k, obj);
      for (const h of i.handlers) (old ? h.onUpdate?.(old, obj) : h.onAdd?.(obj));
    },
    del(info, obj) {
      const i = get(info);
      const k = objectKey(obj);
      const old = i.map.get(k);
      if (!old) return;
      i.map.delete(k);
      for (const h of i.handlers) h.onDelete?.(old);
    },
  };
}
