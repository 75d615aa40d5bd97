// CronJob controller (upstream pkg/controller/cronjob, controllerv2): starts a Job at
// each scheduled time of a CronJob's schedule, as concurrencyPolicy allows (Allow,
// Forbid: skip while one runs, Replace: delete the running ones first), not when
// suspended or later than startingDeadlineSeconds; tracks status.active,
// lastScheduleTime and lastSuccessfulTime, and keeps only the newest
// successful/failedJobsHistoryLimit finished jobs.
import type { CronJob, CronJobStatus, Job } from 'kubernetes-types/batch/v1.js';
import type { ObjectReference } from 'kubernetes-types/core/v1.js';
import { R } from '../../api/resources.js';
import { Indexes, objectKey, type Informer, type WorkQueue } from '../../client/types.js';
import { isStatusError } from '../../api/errors.js';
import { getControllerOf, newControllerRef } from '../../api/owners.js';
import { errMessage, nowTime, queueController, withKind, type Controller, type ControllerContext, type Recorder, type SyncResult } from '../base.js';
import { hasCondition, isJobFinished } from '../job/logic.js';
import { jobNameFor, scheduleTimes } from './schedule.js';

export const SCHEDULED_TIMESTAMP_ANNOTATION = 'batch.kubernetes.io/cronjob-scheduled-timestamp';

/** The Job a CronJob starts for `scheduled` (upstream getJobFromTemplate2). */
export function jobFromTemplate(cj: CronJob, scheduled: number): Job {
  const t = cj.spec?.jobTemplate;
  return {
    apiVersion: 'batch/v1', kind: 'Job',
    metadata: {
      name: jobNameFor(cj, scheduled),
      namespace: cj.metadata?.namespace,
      labels: { ...(t?.metadata?.labels ?? {}) },
      annotations: { ...(t?.metadata?.annotations ?? {}), [SCHEDULED_TIMESTAMP_ANNOTATION]: new Date(scheduled).toISOString().replace(/\.\d{3}Z$/, 'Z') },
      ownerReferences: [newControllerRef(cj, 'batch/v1', 'CronJob')],
    },
    spec: structuredClone(t?.spec ?? { template: {} }),
  };
}

const finishedAt = (j: Job): number => Date.parse(j.status?.completionTime ?? j.status?.conditions?.find((c) => c.status === 'True' && (c.type === 'Complete' || c.type === 'Failed'))?.lastTransitionTime ?? j.metadata?.creationTimestamp ?? '') || 0;

export function startCronJobController(ctx: ControllerContext): Controller {
  const name = 'cronjob';
  const log = ctx.log.child({ controller: name });
  const cjInf: Informer<CronJob> = ctx.informers.informer<CronJob>(R.cronjobs);
  const jobInf: Informer<Job> = ctx.informers.informer<Job>(R.jobs);
  const queue: WorkQueue<string> = ctx.newQueue(name);
  const recorder: Recorder = ctx.recorder('cronjob-controller');
  const cjClient = ctx.client.resource<CronJob>(R.cronjobs);
  const jobClient = ctx.client.resource<Job>(R.jobs);
  const event = (cj: CronJob, type: 'Normal' | 'Warning', reason: string, message: string): void => recorder.event(withKind(cj, R.cronjobs), type, reason, message);

  cjInf.addEventHandler({ onAdd: (c) => queue.add(objectKey(c)), onUpdate: (_o, n) => queue.add(objectKey(n)) });
  const onJob = (j: Job): void => {
    const ref = getControllerOf(j);
    if (ref?.kind === 'CronJob') queue.add(`${j.metadata?.namespace}/${ref.name}`);
  };
  jobInf.addEventHandler({ onAdd: onJob, onUpdate: (_o, n) => onJob(n), onDelete: onJob });

  async function deleteJob(cj: CronJob, j: Job): Promise<void> {
    try {
      await jobClient.delete(j.metadata!.name!, { namespace: j.metadata!.namespace, propagationPolicy: 'Background' });
      event(cj, 'Normal', 'SuccessfulDelete', `Deleted job ${j.metadata?.name}`);
    } catch (e) {
      if (!isStatusError(e, 'NotFound')) { event(cj, 'Warning', 'FailedDelete', `Deleted job: ${errMessage(e)}`); throw e; }
    }
  }

  async function sync(key: string): Promise<SyncResult> {
    const cached = cjInf.store.get(key);
    if (!cached) return;
    const cj = structuredClone(cached);
    const ns = cj.metadata!.namespace!;
    const now = Date.now();
    const owned = jobInf.store.byIndex(Indexes.namespace, ns).filter((j) => getControllerOf(j)?.uid === cj.metadata?.uid);
    const status: CronJobStatus = structuredClone(cj.status ?? {});
    let active: ObjectReference[] = [...(status.active ?? [])];
    const byUid = new Map(owned.map((j) => [j.metadata?.uid, j]));

    // 1. status.active from the jobs: finished ones leave it, running ones we own are in it.
    for (const j of owned) {
      const listed = active.some((r) => r.uid === j.metadata?.uid);
      if (!isJobFinished(j) && !listed) active.push({ kind: 'Job', namespace: ns, name: j.metadata?.name, uid: j.metadata?.uid, apiVersion: 'batch/v1', resourceVersion: j.metadata?.resourceVersion });
      if (isJobFinished(j) && listed) {
        active = active.filter((r) => r.uid !== j.metadata?.uid);
        event(cj, 'Normal', 'SawCompletedJob', `Saw completed job: ${j.metadata?.name}, condition: ${hasCondition(j, 'Complete') ? 'Complete' : 'Failed'}`);
      }
      // Any finished job counts, listed or not (it may have finished before a status write listed it).
      const completed = j.status?.completionTime;
      if (completed && (!status.lastSuccessfulTime || Date.parse(completed) > Date.parse(status.lastSuccessfulTime))) status.lastSuccessfulTime = completed;
    }
    // A listed job missing from the cache may be new (not seen yet) or gone: ask.
    const kept: ObjectReference[] = [];
    for (const r of active) {
      if (byUid.has(r.uid)) { kept.push(r); continue; }
      try {
        const j = await jobClient.get(r.name!, { namespace: ns });
        if (j.metadata?.uid === r.uid && !isJobFinished(j)) kept.push(r);
      } catch (e) {
        if (!isStatusError(e, 'NotFound')) throw e;
      }
    }
    active = kept;

    let requeue: number | undefined;
    if (!cj.metadata?.deletionTimestamp && !cj.spec?.suspend) {
      const times = scheduleTimes(cj, now);
      requeue = Math.max(0, times.next - now) + 100;
      const scheduled = times.mostRecent;
      const sds = cj.spec?.startingDeadlineSeconds;
      const jobName = scheduled !== undefined ? jobNameFor(cj, scheduled) : '';
      if (scheduled === undefined) {
        // Nothing due.
      } else if (sds !== undefined && sds !== null && scheduled + sds * 1000 < now) {
        event(cj, 'Warning', 'MissSchedule', `Missed scheduled time to start a job: ${new Date(scheduled).toISOString()}`);
      } else if (owned.some((j) => j.metadata?.name === jobName)) {
        // This run already exists (our status write may not be in the cache yet).
      } else if (cj.spec?.concurrencyPolicy === 'Forbid' && active.length) {
        event(cj, 'Normal', 'JobAlreadyActive', 'Not starting job because prior execution is running and concurrency policy is Forbid');
      } else {
        if (cj.spec?.concurrencyPolicy === 'Replace') {
          for (const r of active) {
            const j = byUid.get(r.uid);
            if (j) await deleteJob(cj, j);
          }
          active = [];
        }
        let created: Job | undefined;
        try {
          created = await jobClient.create(jobFromTemplate(cj, scheduled), { namespace: ns });
          event(cj, 'Normal', 'SuccessfulCreate', `Created job ${created.metadata?.name}`);
        } catch (e) {
          if (!isStatusError(e, 'AlreadyExists')) { event(cj, 'Warning', 'FailedCreate', `Error creating job: ${errMessage(e)}`); throw e; }
        }
        if (created) active.push({ kind: 'Job', namespace: ns, name: created.metadata?.name, uid: created.metadata?.uid, apiVersion: 'batch/v1', resourceVersion: created.metadata?.resourceVersion });
        status.lastScheduleTime = nowTime(scheduled);
      }
    }
    status.active = active.length ? active : undefined;
    if (!status.active) delete status.active;
    if (JSON.stringify(status) !== JSON.stringify(cj.status ?? {})) {
      try {
        await cjClient.updateStatus({ ...cj, status }, { namespace: ns });
      } catch (e) {
        if (isStatusError(e, 'NotFound')) return;
        throw e;
      }
    }

    // 2. History: only the newest finished jobs within the limits stay.
    const finished = owned.filter(isJobFinished).sort((a, b) => finishedAt(a) - finishedAt(b));
    for (const [ok, limit] of [[true, cj.spec?.successfulJobsHistoryLimit], [false, cj.spec?.failedJobsHistoryLimit]] as const) {
      if (limit === undefined || limit === null) continue;
      const these = finished.filter((j) => hasCondition(j, 'Complete') === ok);
      for (const j of these.slice(0, Math.max(0, these.length - limit))) await deleteJob(cj, j);
    }
    log.debug({ cronjob: key, active: active.length }, 'synced');
    return requeue;
  }

  return queueController(name, ctx, queue, log, sync);
}
