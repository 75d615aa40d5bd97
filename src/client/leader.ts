// Leader election over a coordination.k8s.io/v1 Lease, as client-go's
// tools/leaderelection with the LeaseLock:
// - candidates try to acquire every retryPeriod (jittered); the lease is free when it
//   has no holder or when its record has not changed for leaseDuration, measured on
//   OUR clock (so clock skew between machines does not matter). Unlike upstream, a
//   change is dated at our previous read (the earliest it can have happened) rather
//   than at the read that saw it, and a candidate retries right when the lease
//   expires: a dead leader is replaced within leaseDuration of its last renewal
//   (upstream: up to leaseDuration + 2 retry periods). The leader still steps down
//   after renewDeadline, which is earlier by more than a retry period, so two leaders
//   never overlap;
// - every write carries the Lease's resourceVersion, so two candidates never both win;
// - the leader renews every retryPeriod and steps down (abort signal, then
//   onStoppedLeading) if it could not renew for renewDeadline;
// - stop() releases the lease (empty holderIdentity) so a successor takes over at once.
// After losing the lease the elector becomes a candidate again (components in one
// process must not exit); onStartedLeading is then called with a fresh signal.
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import { R } from '../api/resources.js';
import { isStatusError } from '../api/errors.js';
import { logger } from '../util/log.js';
import type { LeaderElectionConfig } from './types.js';

/** MicroTime as the API server formats it: RFC 3339 with microseconds. */
export function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

const JITTER = 1.2; // client-go's JitterFactor

export interface LeaderElector {
  stop(): Promise<void>;
  isLeader(): boolean;
  /** The holder we last observed (ours or another's), '' if none. */
  leader(): string;
}

export function runLeaderElection(cfg: LeaderElectionConfig): LeaderElector {
  const leaseDuration = (cfg.leaseDurationSeconds ?? 15) * 1000;
  const renewDeadline = (cfg.renewDeadlineSeconds ?? 10) * 1000;
  const retryPeriod = (cfg.retryPeriodSeconds ?? 2) * 1000;
  if (!(leaseDuration > renewDeadline)) throw new Error('leader election: leaseDuration must be greater than renewDeadline');
  if (!(renewDeadline > JITTER * retryPeriod)) throw new Error('leader election: renewDeadline must be greater than retryPeriod*1.2');
  if (!cfg.identity) throw new Error('leader election: identity is required');
  const log = logger('leader-election', { lease: `${cfg.namespace}/${cfg.name}`, identity: cfg.identity });
  const leases = cfg.client.resource<Lease>(R.leases);

  let stopped = false;
  let leading = false;
  let controller: AbortController | undefined;
  let observed: Lease | undefined;
  let observedAt = 0;
  /** When the read before the current one was sent: a change seen now happened after it. */
  let prevReadAt = 0;
  let readAt = 0;
  let sleeper: { timer: NodeJS.Timeout; wake: () => void } | undefined;

  const sleep = (ms: number): Promise<void> => new Promise((resolve) => {
    const wake = (): void => { sleeper = undefined; resolve(); };
    sleeper = { timer: setTimeout(wake, ms), wake };
  });

  function observe(l: Lease): void {
    const a = observed?.spec;
    const b = l.spec;
    if (!observed || observed.metadata?.resourceVersion !== l.metadata?.resourceVersion
      || a?.holderIdentity !== b?.holderIdentity || a?.renewTime !== b?.renewTime) {
      observedAt = observed && prevReadAt ? prevReadAt : Date.now();
    }
    observed = l;
  }

  /** One attempt to acquire or renew; true when we hold the lease afterwards. */
  async function tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const spec = {
      holderIdentity: cfg.identity,
      leaseDurationSeconds: Math.round(leaseDuration / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    let cur: Lease;
    prevReadAt = readAt;
    readAt = Date.now();
    try {
      cur = await leases.get(cfg.name, { namespace: cfg.namespace });
    } catch (e) {
      if (!isStatusError(e, 'NotFound')) throw e;
      try {
        const created = await leases.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: cfg.name, namespace: cfg.namespace }, spec });
        observe(created);
        return true;
      } catch (e2) {
        if (isStatusError(e2, 'AlreadyExists')) return false; // another candidate was first
        throw e2;
      }
    }
    observe(cur);
    const holder = cur.spec?.holderIdentity ?? '';
    const theirDuration = (cur.spec?.leaseDurationSeconds ?? 0) * 1000 || leaseDuration;
    if (holder && holder !== cfg.identity && observedAt + theirDuration > Date.now()) return false; // held and not expired
    if (holder === cfg.identity) {
      spec.acquireTime = cur.spec?.acquireTime ?? spec.acquireTime;
      spec.leaseTransitions = cur.spec?.leaseTransitions ?? 0;
    } else {
      spec.leaseTransitions = (cur.spec?.leaseTransitions ?? 0) + 1;
    }
    try {
      const updated = await leases.update({ ...cur, spec });
      observe(updated);
      return true;
    } catch (e) {
      if (isStatusError(e, 'Conflict')) return false; // someone wrote it first: re-read next round
      throw e;
    }
  }

  /** An attempt that fails (rather than hangs) after `ms`. */
  async function attempt(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        tryAcquireOrRenew(),
        new Promise<boolean>((_, rej) => { timer = setTimeout(() => rej(new Error(`no answer within ${ms} ms`)), ms); }),
      ]);
    } catch (e) {
      log.debug({ err: (e as Error).message }, 'lease attempt failed');
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  const jittered = (ms: number): number => ms + Math.random() * (JITTER - 1) * ms;

  /** A jittered retry period, or less when another's lease expires sooner. */
  function untilNextTry(): number {
    const wait = jittered(retryPeriod);
    const holder = observed?.spec?.holderIdentity;
    if (!holder || holder === cfg.identity) return wait;
    const expiry = observedAt + ((observed?.spec?.leaseDurationSeconds ?? 0) * 1000 || leaseDuration);
    return Math.max(10, Math.min(wait, expiry - Date.now() + 10));
  }

  async function run(): Promise<void> {
    while (!stopped) {
      // Candidate: try until we hold the lease.
      while (!stopped && !(await attempt(renewDeadline))) await sleep(untilNextTry());
      if (stopped) return;
      leading = true;
      controller = new AbortController();
      log.info('became leader');
      try { cfg.onStartedLeading(controller.signal); } catch (e) { log.error({ err: String(e) }, 'onStartedLeading threw'); }
      // Leader: renew every retryPeriod; give up after renewDeadline without success.
      let lastRenew = Date.now();
      while (!stopped) {
        await sleep(retryPeriod);
        if (stopped) break;
        const left = renewDeadline - (Date.now() - lastRenew);
        if (left > 0 && (await attempt(left))) {
          lastRenew = Date.now();
          continue;
        }
        if (stopped) break;
        if (Date.now() - lastRenew >= renewDeadline) {
          log.warn({ sinceRenewMs: Date.now() - lastRenew }, 'failed to renew the lease in time; stepping down');
          break;
        }
      }
      if (stopped) return; // stop() steps down itself, after releasing
      stepDown();
    }
  }

  function stepDown(): void {
    if (!leading) return;
    leading = false;
    controller?.abort();
    try { cfg.onStoppedLeading(); } catch (e) { log.error({ err: String(e) }, 'onStoppedLeading threw'); }
  }

  async function release(): Promise<void> {
    if (!leading || !observed || observed.spec?.holderIdentity !== cfg.identity) return;
    const now = microTime();
    try {
      await leases.update({
        ...observed,
        spec: { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: observed.spec?.leaseTransitions ?? 0 },
      });
      log.info('released the lease');
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'could not release the lease; it will expire');
    }
  }

  const running = run().catch((e: unknown) => log.error({ err: String(e) }, 'leader election loop failed'));

  return {
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      if (sleeper) { clearTimeout(sleeper.timer); sleeper.wake(); }
      await running;
      controller?.abort();
      await release();
      stepDown();
    },
    isLeader: () => leading,
    leader: () => observed?.spec?.holderIdentity ?? '',
  };
}
