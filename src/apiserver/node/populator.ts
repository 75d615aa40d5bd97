// Keeps the Node authorizer's graph current from the API server's own pods watch cache
// (upstream graph_populator.go over a pod informer): no datastore read per request, and
// the graph changes in the same turn as the cache, before any watcher (the kubelet
// learning of a newly bound pod) hears of it.
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { CacheEntry, CacheEvent, CacheWatcher, EventType, WatchCache } from '../watch-cache.js';
import { logger } from '../../util/log.js';
import type { NodeGraph } from './graph.js';

const log = logger('apiserver.node-authorizer');

/**
 * Whether a pod update can change the graph. References in a pod's spec are immutable
 * once it is bound, except that ephemeral containers may be added; so only a change of
 * node (binding) or an object with ephemeral containers needs the pod read again
 * (upstream's updatePod short-cut). The node is among the cache's selectable fields,
 * which the kubelets' spec.nodeName watches have computed already.
 */
function graphMayChange(ev: CacheEvent): boolean {
  const prev = ev.prev;
  if (!prev) return true;
  const node = ev.cur.attrs.fields['spec.nodeName'];
  if (!node || node !== prev.attrs.fields['spec.nodeName']) return true;
  return ev.cur.raw.includes('"ephemeralContainers"');
}

/**
 * Surely without spec.nodeName: the stored JSON (compact, as JSON.stringify writes it)
 * has no "nodeName" key anywhere. Spares every pod create a JSON.parse of the whole pod
 * (or the computing of its selectable fields, which are kept). Other pods are parsed.
 */
const unbound = (e: CacheEntry): boolean => !e.raw.includes('"nodeName":');

/** Parsed on its own rather than through CacheEntry.obj, which would keep every pod parsed in memory. */
const parse = (e: CacheEntry): Pod => JSON.parse(e.raw) as Pod;

export class NodeGraphPopulator {
  private readonly watcher: CacheWatcher;
  private closed = false;
  private populated: Promise<void>;

  constructor(private readonly graph: NodeGraph, private readonly pods: WatchCache) {
    const key = (k: string): string => k.slice(pods.prefix.length);
    this.watcher = {
      keyPrefix: '',
      onBookmark: () => undefined,
      onEvent: (type: EventType, ev: CacheEvent) => {
        // An unbound pod has no edges (setPod would only drop it): it is not parsed.
        if (type === 'DELETED' || unbound(ev.cur)) { graph.deletePod(key(ev.cur.key)); return; }
        if (graphMayChange(ev)) graph.setPod(parse(ev.cur));
      },
      // The cache lost its datastore watch and rebuilds (its items re-listed without events):
      // keep deciding from the graph as it is, and replace it once the cache is back.
      terminate: () => {
        if (this.closed) return;
        queueMicrotask(() => { this.populated = this.populate(); });
      },
    };
    this.populated = this.populate();
  }

  private async populate(): Promise<void> {
    try {
      await this.pods.ready();
    } catch (e) {
      log.error({ err: (e as Error).message }, 'pods cache did not come up; node authorizer graph not populated');
      throw e;
    }
    if (this.closed) return;
    const t0 = performance.now();
    // Listing and subscribing in one turn: no event can fall between the two.
    this.graph.reset([...this.pods.items.values()].filter((e) => !unbound(e)).map(parse));
    this.pods.addWatcher(this.watcher, undefined, false);
    log.debug({ ...this.graph.size, ms: Math.round(performance.now() - t0) }, 'node authorizer graph populated');
  }

  /** Resolves once the graph reflects the pods cache. */
  ready(): Promise<void> {
    return this.populated;
  }

  close(): void {
    this.closed = true;
    this.pods.removeWatcher(this.watcher);
  }
}
