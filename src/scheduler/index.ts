// jotasu's scheduler (kube-scheduler semantics). startScheduler wires it to the API:
// informers (shared with other in-process components when given), an event
// recorder, and Lease leader election on kube-system/kube-scheduler so that only one
// instance binds pods at a time.
import type { ApiClient, InformerFactory } from '../client/types.js';
import { createInformerFactory } from '../client/informer.js';
import { createEventRecorder } from '../client/events.js';
import { runLeaderElection, type LeaderElector } from '../client/leader.js';
import { logger } from '../util/log.js';
import { Scheduler, DEFAULT_SCHEDULER_NAME, type SchedulerOptions } from './scheduler.js';

export { Scheduler, DEFAULT_SCHEDULER_NAME };

export interface StartSchedulerOptions {
  client: ApiClient;
  /** Shared informers; started by their owner. Without it the scheduler makes and starts its own. */
  informers?: InformerFactory;
  leaderElect: boolean;
  identity: string;
  percentageOfNodesToScore?: number;
  queue?: SchedulerOptions['queue'];
  maxInFlightBindings?: number;
  /** Event writes per second and burst (default 50 and 100, as kube-scheduler's event client). */
  eventQps?: number;
  eventBurst?: number;
}

export interface RunningScheduler {
  readonly scheduler: Scheduler;
  stop(): Promise<void>;
}

export function startScheduler(opts: StartSchedulerOptions): RunningScheduler {
  const log = logger('scheduler', { identity: opts.identity });
  const ownInformers = !opts.informers;
  const informers = opts.informers ?? createInformerFactory(opts.client, { trimManagedFields: true });
  // Events through their own limiter, as kube-scheduler's separate event client (ClientConnection
  // defaults: 50 QPS, burst 100): a burst of Scheduled events must not compete with bindings.
  const recorder = createEventRecorder(opts.client, { component: DEFAULT_SCHEDULER_NAME, host: opts.identity, qps: opts.eventQps ?? 50, burst: opts.eventBurst ?? 100 });
  const scheduler = new Scheduler({
    client: opts.client, informers, recorder,
    percentageOfNodesToScore: opts.percentageOfNodesToScore,
    queue: opts.queue,
    maxInFlightBindings: opts.maxInFlightBindings,
  });
  if (ownInformers) informers.start();

  let elector: LeaderElector | undefined;
  if (opts.leaderElect) {
    elector = runLeaderElection({
      client: opts.client,
      namespace: 'kube-system',
      name: 'kube-scheduler',
      identity: opts.identity,
      onStartedLeading: () => {
        log.info('became leader; scheduling');
        scheduler.start();
      },
      onStoppedLeading: () => {
        log.warn('leadership lost; pausing');
        void scheduler.pause();
      },
    });
  } else {
    scheduler.start();
  }

  return {
    scheduler,
    async stop() {
      await scheduler.close();
      await elector?.stop();
      await recorder.shutdown();
      if (ownInformers) informers.stop();
    },
  };
}

/** The scheduler inside `jotasu server`: its own client from the admin kubeconfig, the server's shared informers, leader-elected. */
export async function startSchedulerComponent(c: { kubeconfig: string; identity?: string; informers?: InformerFactory }): Promise<{ stop(): Promise<void> }> {
  const { createClientFromKubeconfig } = await import('../client/rest.js');
  const { VERSION } = await import('../util/version.js');
  const client = createClientFromKubeconfig(c.kubeconfig, { userAgent: `jotasu-scheduler/${VERSION}`, qps: 1000, burst: 2000 });
  const s = startScheduler({ client, informers: c.informers, leaderElect: true, identity: c.identity ?? `jotasu-server-${process.pid}` });
  return { stop: async () => { await s.stop(); client.close(); } };
}
