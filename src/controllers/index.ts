// The controller manager: runs the built-in controllers on shared informers,
// optionally behind Lease-based leader election (kube-system/kube-controller-manager).
import { setMaxListeners } from 'node:events';
import type { ApiClient, WorkQueue } from '../client/types.js';
import { createInformerFactory, scopedInformerFactory, type JotasuInformerFactory } from '../client/informer.js';
import { createWorkQueue } from '../client/workqueue.js';
import { runLeaderElection, type LeaderElector } from '../client/leader.js';
import { createEventRecorder, type EventRecorder } from '../client/events.js';
import { logger } from '../util/log.js';
import { defaultOptions, errMessage, type Controller, type ControllerContext, type ControllerOptions, type Recorder } from './base.js';
import { startReplicaSetController } from './replicaset.js';
import { startDeploymentController } from './deployment/controller.js';
import { startEndpointsController, startEndpointSliceController } from './endpoints.js';
import { startNodeLifecycleController } from './nodelifecycle.js';
import { startNodeIpamController } from './nodeipam.js';
import { startNamespaceController } from './namespace.js';
import { startGarbageCollector } from './garbagecollector.js';
import { startServiceAccountController } from './serviceaccount.js';
import { startPodGCController } from './podgc.js';
import { startClusterRoleAggregationController } from './clusterrole-aggregation.js';
import { startRootCACertPublisher } from './rootcacertpublisher.js';
import { startJobController } from './job/controller.js';
import { startTTLAfterFinishedController } from './job/ttl.js';
import { startCronJobController } from './cronjob/controller.js';

export type { ControllerOptions } from './base.js';
export { defaultOptions } from './base.js';

/** The controllers by their upstream --controllers names. */
export const controllerStarters: Record<string, (ctx: ControllerContext) => Controller> = {
  replicaset: startReplicaSetController,
  deployment: startDeploymentController,
  job: startJobController,
  'ttl-after-finished': startTTLAfterFinishedController,
  cronjob: startCronJobController,
  endpoint: startEndpointsController,
  endpointslice: startEndpointSliceController,
  nodelifecycle: startNodeLifecycleController,
  nodeipam: startNodeIpamController,
  namespace: startNamespaceController,
  garbagecollector: startGarbageCollector,
  serviceaccount: startServiceAccountController,
  podgc: startPodGCController,
  'clusterrole-aggregation': startClusterRoleAggregationController,
  'root-ca-cert-publisher': startRootCACertPublisher,
};

/** upstream --controllers: '*' all, 'name' enables, '-name' disables. */
export function enabledControllers(list: string[]): string[] {
  const all = Object.keys(controllerStarters);
  const star = list.includes('*');
  return all.filter((n) => !list.includes(`-${n}`) && (star || list.includes(n)));
}

export interface ControllerManagerConfig {
  client: ApiClient;
  leaderElect?: boolean;
  identity?: string;
  options?: Partial<ControllerOptions>;
  /**
   * Informers shared with other components of the process (the scheduler inside `jotasu
   * server`), started by their owner; each leadership term adds its handlers and removes
   * them when it ends. Without them every term lists and watches on its own.
   */
  informers?: JotasuInformerFactory;
  /** Leader election timings (seconds); upstream 15/10/2. */
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
}

export interface ControllerManager {
  stop(): Promise<void>;
}

/** One leadership term: informers, queues, recorders and controllers, torn down on abort. */
async function runControllers(client: ApiClient, options: ControllerOptions, identity: string, signal: AbortSignal, shared?: JotasuInformerFactory): Promise<void> {
  const log = logger('controller-manager', { identity });
  const informers = shared ? scopedInformerFactory(shared) : createInformerFactory(client, { trimManagedFields: true });
  const recorders = new Map<string, EventRecorder>();
  const queues: WorkQueue<string>[] = [];
  const ctx: ControllerContext = {
    client, informers, options, log, signal,
    recorder(component: string): Recorder {
      let r = recorders.get(component);
      // No host: kube-controller-manager's events name the controller only (source.component).
      if (!r) recorders.set(component, (r = createEventRecorder(client, { component })));
      return r;
    },
    newQueue(name: string) {
      const q = createWorkQueue<string>({ name });
      queues.push(q);
      return q;
    },
  };
  const names = enabledControllers(options.controllers);
  const controllers = names.map((n) => controllerStarters[n]!(ctx));
  informers.start();
  const stopAll = (): void => { for (const q of queues) q.shutDown(); informers.stop(); };
  signal.addEventListener('abort', stopAll, { once: true });
  try {
    await informers.waitForSync(signal);
  } catch {
    stopAll();
    return;
  }
  log.info({ controllers: names }, 'caches synced; starting controllers');
  await Promise.all(controllers.map((c) => c.run(options.workers).catch((e) => log.error({ controller: c.name, err: errMessage(e) }, 'controller stopped with an error'))));
  await Promise.all([...recorders.values()].map((r) => r.shutdown().catch(() => undefined)));
}

export function startControllerManager(cfg: ControllerManagerConfig): ControllerManager {
  const options: ControllerOptions = { ...defaultOptions, ...(cfg.options ?? {}) };
  const identity = cfg.identity ?? `jotasu-controller-manager-${process.pid}`;
  const log = logger('controller-manager', { identity });
  let term: { abort: AbortController; done: Promise<void> } | undefined;
  const begin = (signal?: AbortSignal): void => {
    const abort = new AbortController();
    // Every controller (15 now) listens on the term's signal: not a leak, so no warning.
    setMaxListeners(0, abort.signal);
    signal?.addEventListener('abort', () => abort.abort(), { once: true });
    const done = runControllers(cfg.client, options, identity, abort.signal, cfg.informers).catch((e) => log.error({ err: errMessage(e) }, 'controllers failed'));
    term = { abort, done };
  };
  const end = async (): Promise<void> => {
    const t = term;
    term = undefined;
    if (!t) return;
    t.abort.abort();
    await t.done;
  };

  let elector: LeaderElector | undefined;
  if (cfg.leaderElect) {
    elector = runLeaderElection({
      client: cfg.client,
      namespace: 'kube-system',
      name: 'kube-controller-manager',
      identity,
      leaseDurationSeconds: cfg.leaseDurationSeconds,
      renewDeadlineSeconds: cfg.renewDeadlineSeconds,
      retryPeriodSeconds: cfg.retryPeriodSeconds,
      onStartedLeading: (signal) => { log.info('became leader'); begin(signal); },
      onStoppedLeading: () => { log.info('stopped leading'); void end(); },
    });
  } else {
    begin();
  }
  return {
    async stop(): Promise<void> {
      await end();
      if (elector) await elector.stop();
      await end();
    },
  };
}

/** `jotasu server`'s in-process controller manager: its own client from the admin kubeconfig, the server's shared informers. */
export async function startControllerManagerComponent(c: { kubeconfig: string; caPem?: string; identity?: string; flags?: { clusterCidr?: string }; informers?: JotasuInformerFactory }): Promise<ControllerManager> {
  const { createClientFromKubeconfig } = await import('../client/rest.js');
  const { VERSION } = await import('../util/version.js');
  const client = createClientFromKubeconfig(c.kubeconfig, { userAgent: `jotasu-controller-manager/${VERSION}`, qps: 200, burst: 400 });
  const cm = startControllerManager({
    client, leaderElect: true, identity: c.identity ?? `jotasu-server-${process.pid}`, informers: c.informers,
    // The cluster CA signs the server's serving certificate: pods verify the server with it.
    options: { ...(c.flags?.clusterCidr ? { clusterCidr: c.flags.clusterCidr } : {}), ...(c.caPem ? { rootCA: c.caPem } : {}) },
  });
  return { stop: async () => { await cm.stop(); client.close(); } };
}
