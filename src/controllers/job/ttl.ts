// TTL-after-finished controller (upstream pkg/controller/ttlafterfinished): deletes a
// finished Job (Complete or Failed) ttlSecondsAfterFinished seconds after it finished,
// with its pods (foreground propagation), re-reading it first so that a job whose TTL
// was changed or that was recreated under the same name is not deleted by mistake.
import type { Job } from 'kubernetes-types/batch/v1.js';
import { R } from '../../api/resources.js';
import { objectKey, type Informer, type WorkQueue } from '../../client/types.js';
import { isStatusError } from '../../api/errors.js';
import { queueController, type Controller, type ControllerContext, type SyncResult } from '../base.js';
import { isJobFinished, jobFinishTime } from './logic.js';

/** Milliseconds until the job may be deleted (<= 0: now); undefined when it has no TTL or has not finished. */
export function ttlRemaining(job: Job, now: number): number | undefined {
  const ttl = job.spec?.ttlSecondsAfterFinished;
  if (ttl === undefined || ttl === null || job.metadata?.deletionTimestamp || !isJobFinished(job)) return undefined;
  const finished = jobFinishTime(job);
  if (finished === undefined || Number.isNaN(finished)) return undefined;
  return finished + ttl * 1000 - now;
}

export function startTTLAfterFinishedController(ctx: ControllerContext): Controller {
  const name = 'ttl-after-finished';
  const log = ctx.log.child({ controller: name });
  const jobInf: Informer<Job> = ctx.informers.informer<Job>(R.jobs);
  const queue: WorkQueue<string> = ctx.newQueue(name);
  const jobClient = ctx.client.resource<Job>(R.jobs);
  const enqueue = (job: Job): void => { if (ttlRemaining(job, Date.now()) !== undefined) queue.add(objectKey(job)); };
  jobInf.addEventHandler({ onAdd: enqueue, onUpdate: (_o, n) => enqueue(n) });

  async function sync(key: string): Promise<SyncResult> {
    const cached = jobInf.store.get(key);
    if (!cached) return;
    if ((ttlRemaining(cached, Date.now()) ?? 1) > 0) return ttlRemaining(cached, Date.now());
    // The cache may be stale: decide on the stored job.
    const ns = cached.metadata!.namespace!;
    let fresh: Job;
    try {
      fresh = await jobClient.get(cached.metadata!.name!, { namespace: ns });
    } catch (e) {
      if (isStatusError(e, 'NotFound')) return;
      throw e;
    }
    const left = ttlRemaining(fresh, Date.now());
    if (left === undefined) return;
    if (left > 0) return left;
    try {
      await jobClient.delete(fresh.metadata!.name!, { namespace: ns, propagationPolicy: 'Foreground', preconditions: { uid: fresh.metadata!.uid!, resourceVersion: fresh.metadata!.resourceVersion! } });
      log.info({ job: key }, 'deleted finished job after its TTL');
    } catch (e) {
      if (!isStatusError(e, 'NotFound')) throw e;
    }
    return;
  }

  return queueController(name, ctx, queue, log, sync);
}
