// The scheduler proper: informer events feed the cache and the queue; one loop pops
// a pod, decides synchronously (Algorithm), assumes the pod on the chosen node and
// binds it in the background, so the next decision starts at once. Failures go back
// to the queue with the reasons, a FailedScheduling event and a PodScheduled=False
// condition, as kube-scheduler reports them.
import type { Namespace, Node, Pod, PodCondition, Service } from 'kubernetes-types/core/v1.js';
import type { ReplicaSet } from 'kubernetes-types/apps/v1.js';
import { R } from '../api/resources.js';
import { isStatusError } from '../api/errors.js';
import type { ApiClient, Informer, InformerFactory, ResourceClient } from '../client/types.js';
import type { EventRecorder } from '../client/events.js';
import { logger, type Logger } from '../util/log.js';
import { Algorithm, NoNodesError } from './algorithm.js';
import { SchedulerCache } from './cache.js';
import { FitError, type Handle } from './framework.js';
import { compileLabelSelector, compileMapSelector, type LabelMatcher } from './labels.js';
import { podKey, type PodInfo } from './nodeinfo.js';
import { defaultProfile, type Profile } from './profile.js';
import { SchedulingQueue, type QueueOptions, type QueuedPod } from './queue.js';

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';

export interface SchedulerOptions {
  client: ApiClient;
  informers: InformerFactory;
  recorder?: EventRecorder;
  profile?: Profile;
  /** 0: upstream's adaptive percentage. */
  percentageOfNodesToScore?: number;
  /** Bindings in flight before the loop waits (default 64: about the client's pool of kept-alive connections, so binds reuse TLS sessions). */
  maxInFlightBindings?: number;
  queue?: QueueOptions;
}

export interface SchedulerStats {
  attempts: number;
  scheduled: number;
  unschedulable: number;
  bindErrors: number;
}

// Plugins whose verdict may change when a bound pod appears or disappears; other
// rejections (taints, selectors...) only change with nodes.
const POD_ADD_PLUGINS = ['InterPodAffinity', 'PodTopologySpread'];
const POD_DELETE_PLUGINS = ['NodeResourcesFit', 'NodePorts', 'InterPodAffinity', 'PodTopologySpread'];

function isTerminal(p: Pod): boolean {
  return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
}

function nodeSchedulingFacts(n: Node): string {
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  return JSON.stringify([n.metadata?.labels, n.spec?.taints, n.spec?.unschedulable, n.status?.allocatable, ready]);
}

export class Scheduler {
  readonly cache = new SchedulerCache();
  readonly queue: SchedulingQueue;
  readonly stats: SchedulerStats = { attempts: 0, scheduled: 0, unschedulable: 0, bindErrors: 0 };
  private readonly log: Logger = logger('scheduler');
  private readonly profile: Profile;
  private readonly algorithm: Algorithm;
  private readonly pods: ResourceClient<Pod>;
  private readonly podInformer: Informer<Pod>;
  private readonly nodeInformer: Informer<Node>;
  private readonly serviceInformer: Informer<Service>;
  private readonly rsInformer: Informer<ReplicaSet>;
  private readonly nsInformer: Informer<Namespace>;
  private readonly maxInFlight: number;
  private inFlightBindings = 0;
  private bindingSlotWaiters: (() => void)[] = [];
  private bindingIdleWaiters: (() => void)[] = [];
  private running = false;
  private closed = false;
  private loopDone: Promise<void> = Promise.resolve();

  constructor(private readonly opts: SchedulerOptions) {
    this.profile = opts.profile ?? defaultProfile();
    this.queue = new SchedulingQueue(opts.queue);
    this.maxInFlight = opts.maxInFlightBindings ?? 64;
    this.pods = opts.client.resource<Pod>(R.pods);
    const inf = opts.informers;
    this.podInformer = inf.informer<Pod>(R.pods);
    this.nodeInformer = inf.informer<Node>(R.nodes);
    this.serviceInformer = inf.informer<Service>(R.services);
    this.rsInformer = inf.informer<ReplicaSet>(R.replicasets);
    this.nsInformer = inf.informer<Namespace>(R.namespaces);
    const handle: Handle = {
      cache: this.cache,
      nsLabels: (ns) => this.nsInformer.store.get(ns)?.metadata?.labels,
      defaultSpreadSelector: (pod) => this.defaultSpreadSelector(pod),
    };
    this.algorithm = new Algorithm(this.profile, handle, opts.percentageOfNodesToScore ?? 0);
    this.registerHandlers();
  }

  private responsible(p: Pod): boolean {
    return (p.spec?.schedulerName ?? DEFAULT_SCHEDULER_NAME) === this.profile.schedulerName;
  }

  private registerHandlers(): void {
    this.nodeInformer.addEventHandler({
      onAdd: (n) => { if (this.closed) return; this.cache.addNode(n); this.queue.moveAll(); },
      onUpdate: (o, n) => {
        if (this.closed) return;
        this.cache.updateNode(n);
        if (nodeSchedulingFacts(o) !== nodeSchedulingFacts(n)) this.queue.moveAll();
      },
      onDelete: (n) => { if (!this.closed) this.cache.removeNode(n.metadata?.name ?? ''); },
    });
    this.podInformer.addEventHandler({
      onAdd: (p) => { if (!this.closed) this.podAdded(p); },
      onUpdate: (o, p) => { if (!this.closed) this.podUpdated(o, p); },
      onDelete: (p) => { if (!this.closed) this.podDeleted(p); },
    });
  }

  private podAdded(p: Pod): void {
    if (p.spec?.nodeName) {
      if (isTerminal(p)) return;
      this.cache.addOrUpdatePod(p);
      this.queue.moveAll((q) => POD_ADD_PLUGINS.some((x) => q.unschedulablePlugins.has(x)));
      return;
    }
    if (!this.responsible(p) || isTerminal(p) || p.metadata?.deletionTimestamp) return;
    if (this.cache.isAssumed(podKey(p))) return;
    this.queue.add(p);
  }

  private podUpdated(o: Pod, p: Pod): void {
    if (p.spec?.nodeName) {
      if (!o.spec?.nodeName) this.queue.delete(p); // bound (by us or someone else)
      if (isTerminal(p)) {
        if (this.cache.hasPod(podKey(p))) {
          this.cache.removePod(p);
          this.queue.moveAll((q) => POD_DELETE_PLUGINS.some((x) => q.unschedulablePlugins.has(x)));
        }
        return;
      }
      const wasCounted = this.cache.hasPod(podKey(p)) && !this.cache.isAssumed(podKey(p));
      this.cache.addOrUpdatePod(p);
      if (!wasCounted) this.queue.moveAll((q) => POD_ADD_PLUGINS.some((x) => q.unschedulablePlugins.has(x)));
      return;
    }
    // Still unassigned: our own status writes and binding in flight must not requeue it.
    if (this.cache.isAssumed(podKey(p))) return;
    if (!this.responsible(p) || isTerminal(p) || p.metadata?.deletionTimestamp) { this.queue.delete(p); return; }
    this.queue.update(o, p);
  }

  private podDeleted(p: Pod): void {
    const key = podKey(p);
    this.queue.delete(p);
    if (this.cache.hasPod(key)) {
      this.cache.removePod(p);
      this.queue.moveAll((q) => POD_DELETE_PLUGINS.some((x) => q.unschedulablePlugins.has(x)));
    }
  }

  /**
   * Upstream's DefaultSelector: the pod's siblings are the pods selected by every
   * Service selecting it and by its controlling ReplicaSet.
   */
  private defaultSpreadSelector(pod: Pod): ((pi: PodInfo) => boolean) | undefined {
    const ns = pod.metadata?.namespace ?? 'default';
    const labels = pod.metadata?.labels;
    const sels: LabelMatcher[] = [];
    for (const svc of this.serviceInformer.store.byIndex('namespace', ns)) {
      const s = svc.spec?.selector;
      if (!s || Object.keys(s).length === 0) continue;
      const m = compileMapSelector(s);
      if (m(labels)) sels.push(m);
    }
    const owner = pod.metadata?.ownerReferences?.find((r) => r.controller);
    if (owner?.kind === 'ReplicaSet') {
      const rs = this.rsInformer.store.get(`${ns}/${owner.name}`);
      if (rs?.spec?.selector) sels.push(compileLabelSelector(rs.spec.selector));
    }
    if (sels.length === 0) return undefined;
    return (pi) => sels.every((m) => m(pi.labels));
  }

  /** Start the scheduling loop (informers must be started by the caller). */
  start(): void {
    if (this.running || this.closed) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Stop scheduling (leadership lost); the cache keeps following the cluster. */
  async pause(): Promise<void> {
    this.running = false;
    await this.loopDone;
  }

  async close(): Promise<void> {
    this.running = false;
    this.closed = true;
    this.queue.close();
    await this.loopDone;
    await this.bindingsIdle();
  }

  private async loop(): Promise<void> {
    await Promise.all([this.podInformer, this.nodeInformer, this.serviceInformer, this.rsInformer, this.nsInformer]
      .map((i) => waitSynced(i, () => !this.running)));
    this.log.info({ nodes: this.cache.nodeCount() }, 'scheduler caches synced; scheduling');
    while (this.running) {
      const q = await this.queue.pop();
      if (!q) break;
      if (!this.running) { this.queue.addUnschedulable(q, [], true); break; }
      this.scheduleOne(q);
      if (this.inFlightBindings >= this.maxInFlight) await new Promise<void>((r) => this.bindingSlotWaiters.push(r));
      // Let informer events and binding replies in between decisions.
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  private scheduleOne(q: QueuedPod): void {
    const pod = q.pod;
    const key = q.key;
    if (pod.spec?.nodeName || pod.metadata?.deletionTimestamp || this.cache.isAssumed(key)) {
      this.queue.done(key);
      return;
    }
    if (pod.spec?.schedulingGates?.length) {
      // Gated pods wait, without events, until their gates are removed (a spec update).
      this.queue.addUnschedulable(q, ['SchedulingGates']);
      this.setPodScheduledFalse(pod, 'SchedulingGated', 'Scheduling is blocked due to non-empty scheduling gates');
      return;
    }
    this.stats.attempts++;
    let node: string;
    let info: PodInfo;
    try {
      ({ node, podInfo: info } = this.algorithm.schedule(pod));
    } catch (e) {
      this.handleFailure(q, e);
      return;
    }
    this.cache.assumePod(pod, node, info);
    this.queue.done(key);
    void this.bind(q, node);
  }

  private handleFailure(q: QueuedPod, e: unknown): void {
    let plugins: Iterable<string> = [];
    let isError = false;
    let message: string;
    if (e instanceof FitError) {
      plugins = e.plugins();
      message = e.message;
    } else if (e instanceof NoNodesError) {
      message = e.message;
    } else {
      isError = true;
      message = `running scheduling: ${(e as Error).message}`;
      this.log.error({ pod: q.key, err: (e as Error).stack }, 'scheduling error');
    }
    this.stats.unschedulable++;
    this.queue.addUnschedulable(q, plugins, isError);
    this.reportUnschedulable(q.pod, message);
  }

  private reportUnschedulable(pod: Pod, message: string): void {
    this.opts.recorder?.event(withKind(pod), 'Warning', 'FailedScheduling', message);
    this.setPodScheduledFalse(pod, 'Unschedulable', message);
  }

  /** PodScheduled=False with reason and message, written only when it changes (as upstream). */
  private setPodScheduledFalse(pod: Pod, reason: string, message: string): void {
    const cur = this.podInformer.store.get(podKey(pod)) ?? pod;
    const conds = cur.status?.conditions ?? [];
    const old = conds.find((c) => c.type === 'PodScheduled');
    if (old && old.status === 'False' && old.reason === reason && old.message === message) return;
    const cond: PodCondition = {
      type: 'PodScheduled', status: 'False', reason, message,
      lastProbeTime: null as unknown as string,
      lastTransitionTime: old?.status === 'False' && old.lastTransitionTime ? old.lastTransitionTime : new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
    const next = [...conds.filter((c) => c.type !== 'PodScheduled'), cond];
    const { name, namespace } = pod.metadata ?? {};
    this.pods.patch(name!, 'merge', { status: { conditions: next } }, { namespace, subresource: 'status' })
      .catch((err: unknown) => {
        if (!isStatusError(err, 'NotFound')) this.log.warn({ pod: podKey(pod), err: (err as Error).message }, 'could not update pod condition');
      });
  }

  private async bind(q: QueuedPod, node: string): Promise<void> {
    const pod = q.pod;
    const { name, namespace, uid } = pod.metadata ?? {};
    this.inFlightBindings++;
    try {
      await this.pods.createSubresource(name!, 'binding', {
        apiVersion: 'v1', kind: 'Binding',
        metadata: { name, namespace, ...(uid ? { uid } : {}) },
        target: { apiVersion: 'v1', kind: 'Node', name: node },
      }, { namespace });
      this.stats.scheduled++;
      this.opts.recorder?.event(withKind(pod), 'Normal', 'Scheduled', `Successfully assigned ${namespace}/${name} to ${node}`);
    } catch (e) {
      this.stats.bindErrors++;
      this.cache.forgetPod(q.key);
      const cur = this.podInformer.store.get(q.key);
      // Gone, or bound meanwhile (by another scheduler instance): nothing to retry.
      if (!cur || cur.spec?.nodeName || cur.metadata?.uid !== uid || isStatusError(e, 'NotFound')) return;
      this.log.warn({ pod: q.key, node, err: (e as Error).message }, 'binding failed; retrying');
      q.pod = cur;
      this.queue.addUnschedulable(q, [], true);
      this.opts.recorder?.event(withKind(pod), 'Warning', 'FailedScheduling', `Binding rejected: ${(e as Error).message}`);
    } finally {
      this.inFlightBindings--;
      this.bindingSlotWaiters.shift()?.();
      if (this.inFlightBindings === 0) for (const w of this.bindingIdleWaiters.splice(0)) w();
    }
  }

  bindingsIdle(): Promise<void> {
    if (this.inFlightBindings === 0) return Promise.resolve();
    return new Promise((r) => this.bindingIdleWaiters.push(r));
  }
}

function withKind(pod: Pod): Pod {
  return pod.kind ? pod : { ...pod, apiVersion: 'v1', kind: 'Pod' };
}

async function waitSynced(i: { hasSynced(): boolean }, abort: () => boolean): Promise<void> {
  while (!i.hasSynced()) {
    if (abort()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
