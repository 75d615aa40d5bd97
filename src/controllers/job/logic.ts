// The decisions of the Job controller (upstream pkg/controller/job), without I/O:
// which pods count as finished, how many pods should run, whether the job has met
// its success criteria or must fail (backoff limit, deadline), the conditions that
// say so, and the indexes of Indexed jobs.
import type { Job, JobCondition, JobStatus } from 'kubernetes-types/batch/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { isPodTerminal } from '../../api/pods.js';

/** Pods carry it until the controller has counted them (upstream batch.JobTrackingFinalizer). */
export const JOB_TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';
/** Annotation and label with an Indexed job pod's index; JOB_COMPLETION_INDEX reads the annotation. */
export const COMPLETION_INDEX = 'batch.kubernetes.io/job-completion-index';

export const Messages = {
  backoffLimit: 'Job has reached the specified backoff limit',
  deadline: 'Job was active longer than specified deadline',
  completions: 'Reached expected number of succeeded pods',
} as const;

/** Upstream DefaultJobPodFailureBackOff / MaxJobPodFailureBackOff. */
export const POD_FAILURE_BACKOFF_MS = 10_000;
export const MAX_POD_FAILURE_BACKOFF_MS = 360_000;

export function hasCondition(job: Job, type: string): boolean {
  return (job.status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');
}

export function conditionOf(job: Job, type: string): JobCondition | undefined {
  return (job.status?.conditions ?? []).find((c) => c.type === type);
}

/** Complete or Failed: the job will not run pods again. */
export function isJobFinished(job: Job): boolean {
  return hasCondition(job, 'Complete') || hasCondition(job, 'Failed');
}

/** When the job finished: completionTime, or the Failed condition's transition. */
export function jobFinishTime(job: Job): number | undefined {
  if (job.status?.completionTime) return Date.parse(job.status.completionTime);
  const failed = (job.status?.conditions ?? []).find((c) => c.type === 'Failed' && c.status === 'True');
  return failed?.lastTransitionTime ? Date.parse(failed.lastTransitionTime) : undefined;
}

export function hasTrackingFinalizer(pod: Pod): boolean {
  return (pod.metadata?.finalizers ?? []).includes(JOB_TRACKING_FINALIZER);
}

/**
 * A pod that counts as failed: phase Failed, or being deleted before it succeeded (upstream
 * isPodFailed; with podReplacementPolicy Failed a terminating pod counts only once Failed).
 */
export function isPodFailedForJob(pod: Pod, onlyReplaceFailed: boolean): boolean {
  if (pod.status?.phase === 'Failed') return true;
  if (onlyReplaceFailed) return false;
  return !!pod.metadata?.deletionTimestamp && pod.status?.phase !== 'Succeeded';
}

/** Neither finished nor being deleted. */
export function isJobPodActive(pod: Pod): boolean {
  return !isPodTerminal(pod) && !pod.metadata?.deletionTimestamp;
}

export function isPodTerminating(pod: Pod): boolean {
  return !isPodTerminal(pod) && !!pod.metadata?.deletionTimestamp;
}

/** The completion index of an Indexed job's pod, or undefined when absent or malformed. */
export function podIndex(pod: Pod, completions: number): number | undefined {
  const v = pod.metadata?.annotations?.[COMPLETION_INDEX] ?? pod.metadata?.labels?.[COMPLETION_INDEX];
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return n < completions ? n : undefined;
}

/** status.completedIndexes: sorted indexes as intervals, "1,3-5,7,8". */
export function formatIndexes(indexes: Iterable<number>): string {
  const sorted = [...new Set(indexes)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    // Two neighbours are listed, longer runs become ranges (upstream orderedIntervals.String).
    parts.push(j === i ? String(sorted[i]) : j === i + 1 ? `${sorted[i]},${sorted[j]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

export function parseIndexes(s: string | undefined, completions: number): Set<number> {
  const out = new Set<number>();
  for (const part of (s ?? '').split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const from = Number(m[1]), to = Number(m[2] ?? m[1]);
    for (let i = from; i <= to && i < completions; i++) out.add(i);
  }
  return out;
}

/** The lowest `count` indexes below `completions` that are neither done nor running (upstream firstPendingIndexes). */
export function pendingIndexes(done: Set<number>, running: Set<number>, count: number, completions: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < completions && out.length < count; i++) if (!done.has(i) && !running.has(i)) out.push(i);
  return out;
}

/**
 * How many pods should be running (upstream manageJob's wantActive): parallelism, but no
 * more than the completions still missing; a work-queue job (no completions) stops
 * creating pods once one has succeeded.
 */
export function wantActive(job: Job, succeeded: number): number {
  const parallelism = job.spec?.parallelism ?? 1;
  const completions = job.spec?.completions;
  if (completions === undefined || completions === null) return succeeded > 0 ? 0 : parallelism;
  return Math.max(0, Math.min(parallelism, completions - succeeded));
}

/** Has the job done what it was asked (upstream: succeeded >= completions; work queue: one succeeded and none still running)? */
export function successCriteriaMet(job: Job, succeeded: number, active: number): boolean {
  const completions = job.spec?.completions;
  if (completions === undefined || completions === null) return succeeded > 0 && active === 0;
  return succeeded >= completions;
}

/**
 * Failures beyond spec.backoffLimit (upstream pastBackoffLimitOnFailure for restartPolicy
 * OnFailure also counts the container restarts of the pods still running).
 */
export function pastBackoffLimit(job: Job, failed: number, activePods: Pod[]): boolean {
  const limit = job.spec?.backoffLimit ?? 6;
  if (job.spec?.template?.spec?.restartPolicy !== 'OnFailure') return failed > limit;
  let restarts = 0;
  for (const p of activePods) {
    for (const s of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) restarts += s.restartCount ?? 0;
  }
  return failed + restarts > limit;
}

/** Milliseconds left before activeDeadlineSeconds runs out (negative or 0: exceeded); undefined without a deadline. */
export function deadlineRemaining(job: Job, now: number): number | undefined {
  const ads = job.spec?.activeDeadlineSeconds;
  if (ads === undefined || ads === null || !job.status?.startTime) return undefined;
  return Date.parse(job.status.startTime) + ads * 1000 - now;
}

/** Delay before replacing failed pods: 10 s doubled per further failure, at most 6 min (upstream getRemainingTime of the pod backoff). */
export function failureBackoffMs(failed: number): number {
  if (failed <= 0) return 0;
  return Math.min(MAX_POD_FAILURE_BACKOFF_MS, POD_FAILURE_BACKOFF_MS * 2 ** Math.min(failed - 1, 16));
}

/** When a pod finished: its containers' latest finishedAt, else its Ready condition's last transition. */
export function podFinishTime(pod: Pod): number | undefined {
  let t: number | undefined;
  for (const s of pod.status?.containerStatuses ?? []) {
    const f = s.state?.terminated?.finishedAt;
    if (f) t = Math.max(t ?? 0, Date.parse(f));
  }
  if (t !== undefined) return t;
  const ready = (pod.status?.conditions ?? []).find((c) => c.type === 'Ready');
  return ready?.lastTransitionTime ? Date.parse(ready.lastTransitionTime) : undefined;
}

/** Set (or replace) a condition; the transition time changes only when its status does. */
export function setCondition(status: JobStatus, type: string, cstatus: 'True' | 'False', reason: string, message: string, now: string): void {
  const list = (status.conditions ??= []);
  const i = list.findIndex((c) => c.type === type);
  const prev = i >= 0 ? list[i] : undefined;
  if (prev && prev.status === cstatus && prev.reason === reason && prev.message === message) return;
  const c: JobCondition = {
    type, status: cstatus, reason, message,
    lastProbeTime: now,
    lastTransitionTime: prev && prev.status === cstatus ? prev.lastTransitionTime ?? now : now,
  };
  if (i >= 0) list[i] = c; else list.push(c);
}

/** JSON of the status fields the controller owns, to skip writes that change nothing. */
export function statusKey(s: JobStatus | undefined): string {
  const x = s ?? {};
  return JSON.stringify([x.active ?? 0, x.ready ?? 0, x.terminating ?? 0, x.succeeded ?? 0, x.failed ?? 0, x.startTime ?? null, x.completionTime ?? null,
    x.completedIndexes ?? '', x.uncountedTerminatedPods?.succeeded ?? [], x.uncountedTerminatedPods?.failed ?? [],
    (x.conditions ?? []).map((c) => [c.type, c.status, c.reason, c.message])]);
}

/**
 * The first spec.podFailurePolicy rule a failed pod matches (upstream matchPodFailurePolicy):
 * an exit code of one of its containers (0 never matches) or one of its conditions.
 * FailJob comes with the message of the Failed condition.
 */
export function matchPodFailurePolicy(job: Job, pod: Pod): { action: string; message?: string } | undefined {
  const rules = job.spec?.podFailurePolicy?.rules ?? [];
  const ref = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  for (const [i, rule] of rules.entries()) {
    const req = rule.onExitCodes;
    if (req) {
      const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
      for (const s of statuses) {
        const code = s.state?.terminated?.exitCode;
        if (code === undefined || code === 0 || (req.containerName && req.containerName !== s.name)) continue;
        const listed = req.values.includes(code);
        if (req.operator === 'In' ? listed : req.operator === 'NotIn' ? !listed : false) {
          return { action: rule.action, message: `Container ${s.name} for pod ${ref} failed with exit code ${code} matching ${rule.action} rule at index ${i}` };
        }
      }
    }
    for (const p of rule.onPodConditions ?? []) {
      const c = (pod.status?.conditions ?? []).find((x) => x.type === p.type && x.status === (p.status || 'True'));
      if (c) return { action: rule.action, message: `Pod ${ref} has condition ${p.type} matching ${rule.action} rule at index ${i}` };
    }
  }
  return undefined;
}
