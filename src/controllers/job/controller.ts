// Job controller (upstream pkg/controller/job): runs a job's pods to completion.
// Pods are created with the job-tracking finalizer; a finished pod is first recorded
// in status.uncountedTerminatedPods, then its finalizer is removed, then it moves into
// status.succeeded/failed, so that no finished pod is lost or counted twice even if
// the controller stops half-way. Failure (backoff limit, deadline) and success are
// first announced by the FailureTarget / SuccessCriteriaMet conditions; Failed /
// Complete follow once no pod of the job is still running or terminating, as 1.32 does.
import type { Job, JobStatus } from 'kubernetes-types/batch/v1.js';
import type { Pod, EnvVar } from 'kubernetes-types/core/v1.js';
import { R } from '../../api/resources.js';
import { Indexes, objectKey, type Informer, type WorkQueue } from '../../client/types.js';
import { isStatusError } from '../../api/errors.js';
import { getControllerOf, newControllerRef } from '../../api/owners.js';
import { isPodReady } from '../../api/pods.js';
import { Expectations } from '../util/expectations.js';
import { selectorMatches } from '../util/selector.js';
import { podFromTemplate, podsToDelete, slowStartBatch } from '../util/pods.js';
import { claimObjects } from '../util/claim.js';
import { errMessage, nowTime, queueController, withKind, type Controller, type ControllerContext, type Recorder, type SyncResult } from '../base.js';
import {
  COMPLETION_INDEX, JOB_TRACKING_FINALIZER, Messages, conditionOf, deadlineRemaining, failureBackoffMs, formatIndexes, hasCondition, hasTrackingFinalizer,
  isJobFinished, isJobPodActive, matchPodFailurePolicy, isPodFailedForJob, isPodTerminating, parseIndexes, pastBackoffLimit, pendingIndexes, podFinishTime, podIndex, setCondition,
  statusKey, successCriteriaMet, wantActive,
} from './logic.js';

/** Upstream MaxPodCreateDeletePerSync. */
const MAX_POD_CREATE_DELETE_PER_SYNC = 500;
/** Orphaned pods (their job is gone) queue under this prefix: only their finalizer is removed. */
const ORPHAN_PREFIX = 'pod:';

/** The pod for index `index` of an Indexed job (upstream addCompletionIndexEnvVariables / annotation / hostname). */
export function indexedPod(pod: Pod, jobName: string, index: number): Pod {
  const i = String(index);
  pod.metadata!.generateName = `${jobName}-${i}-`;
  (pod.metadata!.annotations ??= {})[COMPLETION_INDEX] = i;
  (pod.metadata!.labels ??= {})[COMPLETION_INDEX] = i;
  const spec = pod.spec!;
  if (!spec.hostname) spec.hostname = `${jobName}-${i}`;
  const env: EnvVar = { name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${COMPLETION_INDEX}']` } } };
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    if (!(c.env ?? []).some((e) => e.name === env.name)) (c.env ??= []).push(structuredClone(env));
  }
  return pod;
}

export function startJobController(ctx: ControllerContext): Controller & { /** One sync of a key, for tests. */ sync(key: string): Promise<SyncResult> } {
  const name = 'job';
  const log = ctx.log.child({ controller: name });
  const jobInf: Informer<Job> = ctx.informers.informer<Job>(R.jobs);
  const podInf: Informer<Pod> = ctx.informers.informer<Pod>(R.pods);
  const queue: WorkQueue<string> = ctx.newQueue(name);
  const expectations = new Expectations();
  const recorder: Recorder = ctx.recorder('job-controller');
  const jobClient = ctx.client.resource<Job>(R.jobs);
  const podClient = ctx.client.resource<Pod>(R.pods);
  /** Pods whose finalizer we removed and counted, until the informer shows them without it (upstream finalizer expectations). */
  const finalizerRemoved = new Set<string>();

  /**
   * The resourceVersion of each job's last status write, until the informer shows it: counts
   * derive from the cached status, and a sync on a cache older than our own write would miss
   * pods already counted and released (no finalizer) and create their replacements again.
   */
  const written = new Map<string, { rv: string; at: number }>();
  const WRITE_OBSERVE_TIMEOUT_MS = 10_000;
  /** The last few resourceVersions the informer showed per job: a write whose event came before its response is not waited for. */
  const seen = new Map<string, string[]>();
  const observe = (job: Job): void => {
    const key = objectKey(job);
    const rv = job.metadata?.resourceVersion ?? '';
    if (written.get(key)?.rv === rv) written.delete(key);
    const list = seen.get(key) ?? [];
    list.push(rv);
    if (list.length > 4) list.shift();
    seen.set(key, list);
  };
  const enqueue = (job: Job): void => { observe(job); queue.add(objectKey(job)); };
  const event = (job: Job, type: 'Normal' | 'Warning', reason: string, message: string): void => recorder.event(withKind(job, R.jobs), type, reason, message);

  const resolveRef = (pod: Pod): Job | undefined => {
    const ref = getControllerOf(pod);
    if (!ref || ref.kind !== 'Job' || ref.apiVersion?.split('/')[0] !== 'batch') return undefined;
    const job = jobInf.store.get(`${pod.metadata?.namespace}/${ref.name}`);
    return job && job.metadata?.uid === ref.uid ? job : undefined;
  };

  jobInf.addEventHandler({
    onAdd: enqueue,
    onUpdate: (_o, n) => enqueue(n),
    onDelete: (job) => {
      expectations.delete(objectKey(job));
      written.delete(objectKey(job));
      seen.delete(objectKey(job));
      // Its pods keep the finalizer until someone removes it: look at each.
      for (const p of podInf.store.byIndex(Indexes.namespace, job.metadata?.namespace ?? '')) {
        if (hasTrackingFinalizer(p) && getControllerOf(p)?.uid === job.metadata?.uid) queue.add(ORPHAN_PREFIX + objectKey(p));
      }
    },
  });

  const onPod = (pod: Pod, deleted: boolean): void => {
    const key = objectKey(pod);
    if (deleted || !hasTrackingFinalizer(pod)) finalizerRemoved.delete(pod.metadata?.uid ?? '');
    const job = resolveRef(pod);
    if (job) {
      if (deleted || pod.metadata?.deletionTimestamp) expectations.deletionObserved(objectKey(job), key);
      enqueue(job);
      return;
    }
    if (!deleted && hasTrackingFinalizer(pod) && getControllerOf(pod)?.kind === 'Job') queue.add(ORPHAN_PREFIX + key);
  };
  podInf.addEventHandler({
    onAdd: (pod) => {
      const job = resolveRef(pod);
      if (job && !pod.metadata?.deletionTimestamp) expectations.creationObserved(objectKey(job));
      onPod(pod, false);
    },
    onUpdate: (_old, pod) => onPod(pod, false),
    onDelete: (pod) => onPod(pod, true),
  });

  async function removeFinalizer(pod: Pod): Promise<boolean> {
    try {
      await podClient.patch(pod.metadata!.name!, 'strategic', { metadata: { '$deleteFromPrimitiveList/finalizers': [JOB_TRACKING_FINALIZER] } }, { namespace: pod.metadata!.namespace });
      return true;
    } catch (e) {
      if (isStatusError(e, 'NotFound')) return true;
      throw e;
    }
  }

  /** A pod whose job is gone: drop its finalizer if the job really is gone (the cache may lag). */
  async function syncOrphan(podKey: string): Promise<void> {
    const pod = podInf.store.get(podKey);
    if (!pod || !hasTrackingFinalizer(pod)) return;
    const ref = getControllerOf(pod);
    if (ref?.kind === 'Job') {
      try {
        const job = await jobClient.get(ref.name, { namespace: pod.metadata?.namespace });
        if (job.metadata?.uid === ref.uid && !isJobFinished(job)) return;
      } catch (e) {
        if (!isStatusError(e, 'NotFound')) throw e;
      }
    }
    await removeFinalizer(pod);
  }

  async function createPods(job: Job, count: number, indexes: number[] | undefined): Promise<unknown> {
    const key = objectKey(job);
    const ns = job.metadata!.namespace!;
    const jobName = job.metadata!.name!;
    const n = indexes ? indexes.length : count;
    expectations.expectCreations(key, n);
    const ref = newControllerRef(job, 'batch/v1', 'Job');
    const todo = [...(indexes ?? [])];
    const { successes, error } = await slowStartBatch(n, 1, async () => {
      let pod = podFromTemplate(job.spec?.template, ns, jobName, ref);
      pod.metadata!.finalizers = [...new Set([...(pod.metadata!.finalizers ?? []), JOB_TRACKING_FINALIZER])];
      if (indexes) pod = indexedPod(pod, jobName, todo.shift()!);
      try {
        const created = await podClient.create(pod, { namespace: ns });
        event(job, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata?.name}`);
      } catch (e) {
        if (isStatusError(e, 'Forbidden') && /being terminated/.test(errMessage(e))) { expectations.lowerCreations(key, 1); return; }
        event(job, 'Warning', 'FailedCreate', `Error creating: ${errMessage(e)}`);
        throw e;
      }
    });
    if (n - successes > 0) expectations.lowerCreations(key, n - successes);
    return error;
  }

  async function deletePods(job: Job, pods: Pod[]): Promise<unknown> {
    if (!pods.length) return undefined;
    const key = objectKey(job);
    expectations.expectDeletions(key, pods.map(objectKey));
    let firstErr: unknown;
    await Promise.all(pods.map(async (p) => {
      try {
        await podClient.delete(p.metadata!.name!, { namespace: p.metadata!.namespace });
        event(job, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata?.name}`);
      } catch (e) {
        expectations.deletionObserved(key, objectKey(p));
        if (isStatusError(e, 'NotFound')) return;
        event(job, 'Warning', 'FailedDelete', `Error deleting: ${errMessage(e)}`);
        firstErr ??= e;
      }
    }));
    return firstErr;
  }

  async function writeStatus(job: Job, status: JobStatus): Promise<Job> {
    // No re-read on conflict: counts derive from the status we read, a stale one must not be written back.
    const out = await jobClient.updateStatus({ ...job, status }, { namespace: job.metadata!.namespace });
    const rv = out.metadata?.resourceVersion;
    if (rv && !seen.get(objectKey(job))?.includes(rv)) written.set(objectKey(job), { rv, at: Date.now() });
    return out;
  }

  async function sync(key: string): Promise<SyncResult> {
    if (key.startsWith(ORPHAN_PREFIX)) { await syncOrphan(key.slice(ORPHAN_PREFIX.length)); return; }
    const cached = jobInf.store.get(key);
    if (!cached) { expectations.delete(key); return; }
    const w = written.get(key);
    if (w && w.rv !== cached.metadata?.resourceVersion) {
      // Our last write is not in the cache yet: its watch event will bring the key back.
      if (Date.now() - w.at < WRITE_OBSERVE_TIMEOUT_MS) return WRITE_OBSERVE_TIMEOUT_MS;
      written.delete(key);
    }
    let job = structuredClone(cached);
    const ns = job.metadata!.namespace!;
    const now = Date.now();
    const nowStr = nowTime(now);
    const mayManage = expectations.satisfied(key);
    const onlyReplaceFailed = job.spec?.podReplacementPolicy === 'Failed';
    const completions = job.spec?.completions ?? 0;
    const indexed = job.spec?.completionMode === 'Indexed';

    const pods = await claimObjects<Pod>(podInf.store.byIndex(Indexes.namespace, ns), {
      owner: job,
      controllerRef: newControllerRef(job, 'batch/v1', 'Job'),
      matches: (p) => selectorMatches(job.spec?.selector, p.metadata?.labels),
      client: podClient,
      canAdopt: async () => {
        const fresh = await jobClient.get(job.metadata!.name!, { namespace: ns });
        return fresh.metadata?.uid === job.metadata?.uid && !fresh.metadata?.deletionTimestamp;
      },
    });

    if (isJobFinished(job)) {
      // Nothing more to run; pods left with the finalizer (e.g. counted before a restart) are released.
      await Promise.all(pods.filter(hasTrackingFinalizer).map(removeFinalizer));
      return;
    }

    const status: JobStatus = structuredClone(job.status ?? {});
    const uncounted = { succeeded: [...(status.uncountedTerminatedPods?.succeeded ?? [])], failed: [...(status.uncountedTerminatedPods?.failed ?? [])] };
    const completedIndexes = indexed ? parseIndexes(status.completedIndexes, completions) : new Set<number>();
    // 1. Finished pods that still carry the finalizer and are not yet recorded.
    let newlyFinished = false;
    const ignored: Pod[] = [];
    let policyFailure: { reason: string; message: string } | undefined;
    for (const p of pods) {
      const uid = p.metadata?.uid ?? '';
      if (!hasTrackingFinalizer(p) || finalizerRemoved.has(uid) || uncounted.succeeded.includes(uid) || uncounted.failed.includes(uid)) continue;
      if (p.status?.phase === 'Succeeded') {
        if (indexed) {
          const i = podIndex(p, completions);
          if (i === undefined || completedIndexes.has(i)) { uncounted.failed.push(uid); newlyFinished = true; continue; }
          completedIndexes.add(i);
        }
        uncounted.succeeded.push(uid); newlyFinished = true;
      } else if (isPodFailedForJob(p, onlyReplaceFailed)) {
        const rule = job.spec?.podFailurePolicy && p.status?.phase === 'Failed' ? matchPodFailurePolicy(job, p) : undefined;
        // Ignore: not a failure; the pod is released uncounted and replaced.
        if (rule?.action === 'Ignore') { ignored.push(p); continue; }
        if (rule?.action === 'FailJob') policyFailure ??= { reason: 'PodFailurePolicy', message: rule.message ?? '' };
        uncounted.failed.push(uid); newlyFinished = true;
      }
    }
    if (indexed) status.completedIndexes = formatIndexes(completedIndexes);
    const active = pods.filter(isJobPodActive);
    const terminating = pods.filter(isPodTerminating);
    const succeeded = (status.succeeded ?? 0) + uncounted.succeeded.length;
    const failed = (status.failed ?? 0) + uncounted.failed.length;
    if (!status.startTime && !job.spec?.suspend) status.startTime = nowStr;
    status.uncountedTerminatedPods = uncounted;

    // 2. Success or failure.
    let requeueAfter: number | undefined;
    const failureTarget = conditionOf(job, 'FailureTarget');
    let failing = failureTarget?.status === 'True' ? { reason: failureTarget.reason ?? '', message: failureTarget.message ?? '' } : undefined;
    let succeeding = hasCondition(job, 'SuccessCriteriaMet');
    if (!failing && !succeeding) {
      const left = deadlineRemaining({ ...job, status }, now);
      if (policyFailure) failing = policyFailure;
      else if (pastBackoffLimit(job, failed, active)) failing = { reason: 'BackoffLimitExceeded', message: Messages.backoffLimit };
      else if (left !== undefined && left <= 0 && !job.spec?.suspend) failing = { reason: 'DeadlineExceeded', message: Messages.deadline };
      else if (successCriteriaMet(job, indexed ? completedIndexes.size : succeeded, active.length)) succeeding = true;
      else if (left !== undefined && !job.spec?.suspend) requeueAfter = left;
      if (failing) {
        setCondition(status, 'FailureTarget', 'True', failing.reason, failing.message, nowStr);
        event(job, 'Warning', failing.reason, failing.message);
      } else if (succeeding) {
        setCondition(status, 'SuccessCriteriaMet', 'True', 'CompletionsReached', Messages.completions, nowStr);
      }
    }

    // 3. Pods: remove what must not run, create what is missing.
    let manageErr: unknown;
    let stillRunning = active.length;
    if (failing || succeeding || job.spec?.suspend) {
      if (active.length) {
        manageErr = await deletePods(job, active);
        stillRunning = 0;
      }
      if (job.spec?.suspend && !failing && !succeeding) {
        setCondition(status, 'Suspended', 'True', 'JobSuspended', 'Job suspended', nowStr);
      }
    } else if (mayManage) {
      if (hasCondition(job, 'Suspended')) {
        setCondition(status, 'Suspended', 'False', 'JobResumed', 'Job resumed', nowStr);
        // A resumed job's deadline counts from now (upstream resets startTime).
        status.startTime = nowStr;
      }
      const want = wantActive(job, indexed ? completedIndexes.size : succeeded);
      const occupied = active.length + (onlyReplaceFailed ? terminating.length : 0);
      let diff = Math.min(want - occupied, MAX_POD_CREATE_DELETE_PER_SYNC);
      if (diff > 0 && failed > 0) {
        // Replacements of failed pods wait for the backoff since the latest failure.
        const lastFail = Math.max(0, ...pods.filter((p) => isPodFailedForJob(p, onlyReplaceFailed)).map((p) => podFinishTime(p) ?? now));
        const wait = lastFail + failureBackoffMs(failed) - now;
        if (wait > 0) { requeueAfter = Math.min(requeueAfter ?? wait, wait); diff = 0; }
      }
      if (diff > 0) {
        let indexes: number[] | undefined;
        if (indexed) {
          const running = new Set(active.concat(onlyReplaceFailed ? terminating : []).map((p) => podIndex(p, completions)).filter((i): i is number => i !== undefined));
          indexes = pendingIndexes(completedIndexes, running, diff, completions);
        }
        manageErr = await createPods(job, diff, indexes);
        stillRunning += indexes ? indexes.length : diff;
      } else if (diff < 0) {
        manageErr = await deletePods(job, podsToDelete(active, pods, -diff));
        stillRunning += diff;
      }
    }
    status.active = Math.max(0, stillRunning);
    status.ready = active.filter(isPodReady).length;
    status.terminating = terminating.length;
    if (!status.active) delete status.active;
    if (!status.succeeded) delete status.succeeded;
    if (!status.failed) delete status.failed;

    // 4. Count: record finished pods, release their finalizers, then move them into the counters.
    if (newlyFinished) job = await writeStatus(job, status);
    const toRelease = pods.filter((p) => hasTrackingFinalizer(p) && !finalizerRemoved.has(p.metadata?.uid ?? '')
      && (uncounted.succeeded.includes(p.metadata?.uid ?? '') || uncounted.failed.includes(p.metadata?.uid ?? '')));
    const released = new Set<string>();
    await Promise.all(ignored.map(async (p) => { if (await removeFinalizer(p)) finalizerRemoved.add(p.metadata!.uid!); }));
    await Promise.all(toRelease.map(async (p) => {
      if (await removeFinalizer(p)) { finalizerRemoved.add(p.metadata!.uid!); released.add(p.metadata!.uid!); }
    }));
    // Recorded uids whose pod is gone or already without the finalizer are released too.
    const withFinalizer = new Set(pods.filter((p) => hasTrackingFinalizer(p) && !released.has(p.metadata?.uid ?? '')).map((p) => p.metadata?.uid));
    const keepS = uncounted.succeeded.filter((u) => withFinalizer.has(u));
    const keepF = uncounted.failed.filter((u) => withFinalizer.has(u));
    status.succeeded = (status.succeeded ?? 0) + uncounted.succeeded.length - keepS.length;
    status.failed = (status.failed ?? 0) + uncounted.failed.length - keepF.length;
    status.uncountedTerminatedPods = keepS.length || keepF.length ? { ...(keepS.length ? { succeeded: keepS } : {}), ...(keepF.length ? { failed: keepF } : {}) } : {};
    if (!status.succeeded) delete status.succeeded;
    if (!status.failed) delete status.failed;

    // 5. Terminal conditions once nothing of the job runs any more and every finished pod is counted.
    const settled = stillRunning === 0 && terminating.length === 0 && !keepS.length && !keepF.length;
    if (settled && failing) {
      setCondition(status, 'Failed', 'True', failing.reason, failing.message, nowStr);
    } else if (settled && succeeding) {
      status.completionTime = nowStr;
      setCondition(status, 'Complete', 'True', 'CompletionsReached', Messages.completions, nowStr);
      event(job, 'Normal', 'Completed', 'Job completed');
    }
    if (statusKey(status) !== statusKey(job.status)) await writeStatus(job, status);
    if (manageErr !== undefined) throw manageErr instanceof Error ? manageErr : new Error(errMessage(manageErr));
    return requeueAfter;
  }

  log.debug('job controller ready');
  return { ...queueController(name, ctx, queue, log, sync), sync };
}
