// What every controller of the controller manager is built from: shared informers,
// a rate-limited work queue per controller, workers that sync one key at a time
// (requeue with backoff on error, or after a delay the sync asks for), and events.
import type { ApiClient, InformerFactory, KubeObject, WorkQueue } from '../client/types.js';
import type { Logger } from '../util/log.js';
import { isStatusError } from '../api/errors.js';
import { apiVersionOf, type ResourceInfo } from '../api/resources.js';

export type EventType = 'Normal' | 'Warning';

/** Records events about objects (client-go record.EventRecorder). */
export interface Recorder {
  event(obj: KubeObject, type: EventType, reason: string, message: string): void;
}

export interface ControllerOptions {
  /** --node-monitor-grace-period, ms (upstream 40 s). */
  nodeMonitorGracePeriodMs: number;
  /** How often the node lifecycle controller looks at nodes, ms (upstream --node-monitor-period 5 s). */
  nodeMonitorPeriodMs: number;
  /** Toleration seconds for pods without one for the unreachable/not-ready taint (the API server normally adds 300 s). */
  podEvictionTimeoutSeconds: number;
  /** --cluster-cidr for node IPAM (upstream's node-cidr-mask-size 24). */
  clusterCidr: string;
  nodeCidrMaskSize: number;
  /** Workers per controller (upstream --concurrent-*-syncs, 5 by default). */
  workers: number;
  /** Controllers to run; '*' for all (upstream --controllers). */
  controllers: string[];
  /** The CA (PEM) the API server serves with, published as kube-root-ca.crt (upstream --root-ca-file). */
  rootCA?: string;
}

export const defaultOptions: ControllerOptions = {
  nodeMonitorGracePeriodMs: 40_000,
  nodeMonitorPeriodMs: 5_000,
  podEvictionTimeoutSeconds: 300,
  clusterCidr: '10.42.0.0/16',
  nodeCidrMaskSize: 24,
  workers: 5,
  controllers: ['*'],
};

export interface ControllerContext {
  client: ApiClient;
  informers: InformerFactory;
  recorder(component: string): Recorder;
  newQueue(name: string): WorkQueue<string>;
  options: ControllerOptions;
  log: Logger;
  /** Aborted when the controller manager stops (or loses its lease). */
  signal: AbortSignal;
}

export interface Controller {
  readonly name: string;
  /** Start the workers; called once informers have synced. Resolves when they stop. */
  run(workers: number): Promise<void>;
}

/** Sync result: nothing, or a delay (ms) after which the key should be looked at again. */
export type SyncResult = void | number | undefined;

/** Run `workers` loops pulling keys from `queue` until it shuts down. */
export async function runWorkers(name: string, queue: WorkQueue<string>, workers: number, log: Logger, sync: (key: string) => Promise<SyncResult>): Promise<void> {
  const loop = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        const after = await sync(key);
        queue.forget(key);
        if (typeof after === 'number' && after >= 0) queue.addAfter(key, after);
      } catch (e) {
        const conflict = isStatusError(e, 'Conflict');
        if (!conflict) log.warn({ controller: name, key, err: e instanceof Error ? e.message : String(e), requeues: queue.numRequeues(key) }, 'sync failed');
        queue.addRateLimited(key);
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, workers) }, loop));
}

/** A controller that runs `sync` over the keys of `queue` (at most `maxWorkers` loops); the queue shuts down with the manager. */
export function queueController(name: string, ctx: ControllerContext, queue: WorkQueue<string>, log: Logger, sync: (key: string) => Promise<SyncResult>, maxWorkers = Infinity): Controller {
  return {
    name,
    run: async (workers) => {
      ctx.signal.addEventListener('abort', () => queue.shutDown(), { once: true });
      await runWorkers(name, queue, Math.min(workers, maxWorkers), log, sync);
    },
  };
}

/** Now as an RFC 3339 timestamp with second precision (metav1.Time). */
export function nowTime(now = Date.now()): string {
  return new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Objects from list responses carry no kind; events need it. */
export function withKind<T extends KubeObject>(obj: T, info: ResourceInfo): T {
  return obj.kind ? obj : { ...obj, kind: info.kind, apiVersion: apiVersionOf(info) };
}
