// Validation of batch/v1 Jobs (upstream pkg/apis/batch/validation): the spec's
// counts, completion mode, pod template and restart policy, the generated selector,
// and what may not change on update. Field paths and messages as upstream's.
import type { CronJob, Job, JobSpec } from 'kubernetes-types/batch/v1.js';
import { CronExpressionParser } from 'cron-parser';
import type { FieldError } from '../errors.js';
import { validateSelector } from './selectors.js';
import { validatePodTemplate, selectorMatches } from './index.js';
import { isDNS1123Label } from './names.js';

type Errs = FieldError[];
const req = (field: string, detail?: string): FieldError => (detail ? { type: 'Required', field, detail } : { type: 'Required', field });
const inv = (field: string, value: unknown, detail: string): FieldError => ({ type: 'Invalid', field, value, detail });
const notSupported = (field: string, value: unknown, allowed: string[]): FieldError => ({ type: 'NotSupported', field, value, allowed });
const forbidden = (field: string, detail: string): FieldError => ({ type: 'Forbidden', field, detail });
const GE0 = 'must be greater than or equal to 0';
const IMMUTABLE = 'field is immutable';
const MAX_INDEXED_PARALLELISM = 100_000;

/** The labels the API server puts on a Job's pod template and selects its pods by (upstream batch.*Label). */
export const JobLabels = {
  controllerUid: 'batch.kubernetes.io/controller-uid',
  jobName: 'batch.kubernetes.io/job-name',
  legacyControllerUid: 'controller-uid',
  legacyJobName: 'job-name',
} as const;

function nonNegative(errs: Errs, v: number | undefined | null, field: string): void {
  if (typeof v === 'number' && v < 0) errs.push(inv(field, v, GE0));
}

function validateJobSpec(spec: JobSpec, p: string, withSelector = true): Errs {
  const errs: Errs = [];
  nonNegative(errs, spec.parallelism, `${p}.parallelism`);
  nonNegative(errs, spec.completions, `${p}.completions`);
  nonNegative(errs, spec.activeDeadlineSeconds, `${p}.activeDeadlineSeconds`);
  nonNegative(errs, spec.backoffLimit, `${p}.backoffLimit`);
  nonNegative(errs, spec.ttlSecondsAfterFinished, `${p}.ttlSecondsAfterFinished`);
  const mode = spec.completionMode;
  if (mode !== undefined && mode !== null) {
    if (mode !== 'NonIndexed' && mode !== 'Indexed') errs.push(notSupported(`${p}.completionMode`, mode, ['NonIndexed', 'Indexed']));
    if (mode === 'Indexed') {
      if (spec.completions === undefined || spec.completions === null) errs.push(req(`${p}.completions`, 'when completion mode is Indexed'));
      if ((spec.parallelism ?? 0) > MAX_INDEXED_PARALLELISM) {
        errs.push(inv(`${p}.parallelism`, spec.parallelism, `must be less than or equal to ${MAX_INDEXED_PARALLELISM} when completion mode is Indexed`));
      }
    }
  }
  if (spec.backoffLimitPerIndex !== undefined && spec.backoffLimitPerIndex !== null) {
    nonNegative(errs, spec.backoffLimitPerIndex, `${p}.backoffLimitPerIndex`);
    if (mode !== 'Indexed') errs.push(forbidden(`${p}.backoffLimitPerIndex`, 'requires indexed completion mode'));
  }
  if (spec.podReplacementPolicy) {
    const allowed = spec.podFailurePolicy ? ['Failed'] : ['Failed', 'TerminatedOrFailed'];
    if (!allowed.includes(spec.podReplacementPolicy)) errs.push(notSupported(`${p}.podReplacementPolicy`, spec.podReplacementPolicy, allowed));
  }
  if (spec.podFailurePolicy) errs.push(...validatePodFailurePolicy(spec, `${p}.podFailurePolicy`));
  errs.push(...validatePodTemplate(spec.template, `${p}.template`));
  const rp = spec.template?.spec?.restartPolicy;
  if (spec.podFailurePolicy) {
    if (rp !== 'Never') errs.push(notSupported(`${p}.template.spec.restartPolicy`, rp ?? '', ['Never']));
  } else if (rp !== 'OnFailure' && rp !== 'Never') {
    errs.push(notSupported(`${p}.template.spec.restartPolicy`, rp ?? '', ['OnFailure', 'Never']));
  }
  if (!withSelector) return errs;
  if (!spec.selector) errs.push(req(`${p}.selector`));
  else {
    errs.push(...validateSelector(spec.selector, `${p}.selector`));
    // Whether manual or generated, the selector must select the pods the job makes.
    if (!selectorMatches(spec.selector, spec.template?.metadata?.labels ?? {})) {
      errs.push(inv(`${p}.template.metadata.labels`, spec.template?.metadata?.labels ?? {}, '`selector` does not match template `labels`'));
    }
  }
  return errs;
}

const MAX_POD_FAILURE_POLICY_RULES = 20;
const MAX_EXIT_CODE_VALUES = 255;

/** Upstream validatePodFailurePolicy: one requirement per rule, known actions and operators, ordered unique exit codes. */
function validatePodFailurePolicy(spec: JobSpec, p: string): Errs {
  const errs: Errs = [];
  const rules = spec.podFailurePolicy?.rules ?? [];
  if (rules.length > MAX_POD_FAILURE_POLICY_RULES) errs.push({ type: 'TooMany', field: `${p}.rules`, value: rules.length, detail: `must have at most ${MAX_POD_FAILURE_POLICY_RULES} items` });
  const names = new Set([...(spec.template?.spec?.containers ?? []), ...(spec.template?.spec?.initContainers ?? [])].map((c) => c.name));
  rules.forEach((rule, i) => {
    const rp = `${p}.rules[${i}]`;
    if (!['Count', 'FailIndex', 'FailJob', 'Ignore'].includes(rule.action)) errs.push(notSupported(`${rp}.action`, rule.action, ['Count', 'FailIndex', 'FailJob', 'Ignore']));
    if (rule.action === 'FailIndex' && (spec.backoffLimitPerIndex === undefined || spec.backoffLimitPerIndex === null)) errs.push(inv(`${rp}.action`, rule.action, 'requires the backoffLimitPerIndex to be set'));
    const onCodes = rule.onExitCodes, onConds = rule.onPodConditions;
    if (onCodes && onConds) errs.push({ type: 'Invalid', field: rp, detail: 'specifying both OnExitCodes and OnPodConditions is not supported' });
    else if (!onCodes && !onConds) errs.push({ type: 'Invalid', field: rp, detail: 'specifying one of OnExitCodes and OnPodConditions is required' });
    if (onCodes) {
      const cp = `${rp}.onExitCodes`;
      if (onCodes.containerName && !names.has(onCodes.containerName)) errs.push(inv(`${cp}.containerName`, onCodes.containerName, 'must be one of the container or initContainer names in the pod template'));
      if (onCodes.operator !== 'In' && onCodes.operator !== 'NotIn') errs.push(notSupported(`${cp}.operator`, onCodes.operator, ['In', 'NotIn']));
      const values = onCodes.values ?? [];
      if (!values.length) errs.push(req(`${cp}.values`, 'at least one value is required'));
      if (values.length > MAX_EXIT_CODE_VALUES) errs.push({ type: 'TooMany', field: `${cp}.values`, value: values.length, detail: `must have at most ${MAX_EXIT_CODE_VALUES} items` });
      values.forEach((v, j) => {
        if (onCodes.operator === 'In' && v === 0) errs.push(inv(`${cp}.values[${j}]`, v, 'must not be 0 for the In operator'));
        if (j > 0 && v === values[j - 1]) errs.push({ type: 'Duplicate', field: `${cp}.values[${j}]`, value: v });
        else if (j > 0 && v < values[j - 1]!) errs.push(inv(`${cp}.values[${j}]`, v, 'must be ordered'));
      });
    }
    (onConds ?? []).forEach((c, j) => {
      const cp = `${rp}.onPodConditions[${j}]`;
      if (!c.type) errs.push(req(`${cp}.type`));
      if (c.status && !['True', 'False', 'Unknown'].includes(c.status)) errs.push(notSupported(`${cp}.status`, c.status, ['False', 'True', 'Unknown']));
    });
  });
  return errs;
}

function hasLabel(errs: Errs, labels: Record<string, string> | undefined, key: string, want: string): void {
  const path = `spec.template.metadata.labels[${key}]`;
  const got = labels?.[key];
  if (got === undefined) errs.push(req(path, want));
  else if (got !== want) errs.push(inv(path, labels, `must be '${want}'`));
}

/** Upstream validateGeneratedSelector: unless manualSelector, the labels and selector are the ones the server generated. */
function validateGeneratedSelector(job: Job): Errs {
  const errs: Errs = [];
  if (job.spec?.manualSelector === true) return errs;
  const uid = job.metadata?.uid ?? '';
  const name = job.metadata?.name ?? '';
  if (!uid) errs.push(req('metadata.uid'));
  const labels = job.spec?.template?.metadata?.labels;
  hasLabel(errs, labels, JobLabels.legacyControllerUid, uid);
  hasLabel(errs, labels, JobLabels.legacyJobName, name);
  hasLabel(errs, labels, JobLabels.controllerUid, uid);
  hasLabel(errs, labels, JobLabels.jobName, name);
  const sel = job.spec?.selector;
  const ml = sel?.matchLabels ?? {};
  if (!sel || Object.keys(ml).length !== 1 || ml[JobLabels.controllerUid] !== uid || (sel.matchExpressions ?? []).length) {
    errs.push(inv('spec.selector', sel ?? null, '`selector` not auto-generated'));
  }
  return errs;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

function validateJobSpecUpdate(spec: JobSpec, old: JobSpec, oldStarted: boolean): Errs {
  const errs: Errs = [];
  const immutable = (field: keyof JobSpec): void => {
    if (!same(spec[field], old[field])) errs.push(inv(`spec.${field}`, spec[field] ?? null, IMMUTABLE));
  };
  immutable('selector');
  immutable('completionMode');
  immutable('podFailurePolicy');
  immutable('backoffLimitPerIndex');
  immutable('successPolicy');
  // Elastic Indexed Jobs: completions may follow parallelism; otherwise fixed.
  const elastic = spec.completionMode === 'Indexed' && spec.completions === spec.parallelism && old.completions === old.parallelism;
  if (!elastic) immutable('completions');
  // The template may change only while the job is suspended and has not started (mutable scheduling directives).
  if (!(old.suspend === true && !oldStarted)) immutable('template');
  return errs;
}

export function validateJob(job: Job, old?: Job): Errs {
  const errs: Errs = [];
  const spec = job.spec;
  if (!spec) return [req('spec')];
  if (!old) errs.push(...validateGeneratedSelector(job));
  errs.push(...validateJobSpec(spec, 'spec'));
  if (spec.completionMode === 'Indexed' && (spec.completions ?? 0) > 0) {
    // Indexed pods get the hostname <job>-<index>: it must stay a DNS label.
    const host = `${job.metadata?.name ?? ''}-${spec.completions! - 1}`;
    if (isDNS1123Label(host).length) errs.push(inv('metadata.name', job.metadata?.name, `will not able to create pod with invalid DNS label: ${host}`));
  }
  if (old?.spec) errs.push(...validateJobSpecUpdate(spec, old.spec, !!old.status?.startTime));
  return errs;
}

/** Upstream ValidateJobUpdateStatus: the counts are not negative. */
export function validateJobStatus(job: Job): Errs {
  const errs: Errs = [];
  const st = job.status ?? {};
  for (const f of ['active', 'succeeded', 'failed', 'ready', 'terminating'] as const) nonNegative(errs, st[f], `status.${f}`);
  return errs;
}

/** Job names are <cronjob>-<minutes since the epoch>: 11 characters more than the CronJob's. */
const MAX_CRONJOB_NAME = 52;

/** Parse a CronJob schedule (standard five fields or a descriptor such as @hourly); the error's text, or undefined. */
export function scheduleError(schedule: string): string | undefined {
  try {
    CronExpressionParser.parse(schedule, { tz: 'UTC' });
    return schedule.trim().split(/\s+/).length === 5 || schedule.trim().startsWith('@') ? undefined : `expected exactly 5 fields, found ${schedule.trim().split(/\s+/).length}: [${schedule.trim()}]`;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

function isValidTimeZone(tz: string): boolean {
  try { new Intl.DateTimeFormat('en-US', { timeZone: tz }); return !!tz && tz.trim() === tz; } catch { return false; }
}

/** Upstream ValidateCronJobCreate/Update: name length, schedule, time zone, policies, limits, the job template. */
export function validateCronJob(cj: CronJob, old?: CronJob): Errs {
  const errs: Errs = [];
  const name = cj.metadata?.name ?? '';
  if (!old && name.length > MAX_CRONJOB_NAME) errs.push(inv('metadata.name', name, `must be no more than ${MAX_CRONJOB_NAME} characters`));
  const spec = cj.spec;
  if (!spec) return [...errs, req('spec')];
  if (!spec.schedule) errs.push(req('spec.schedule'));
  else if (/^\s*(CRON_)?TZ=/.test(spec.schedule)) errs.push(inv('spec.schedule', spec.schedule, 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead'));
  else {
    const err = scheduleError(spec.schedule);
    if (err) errs.push(inv('spec.schedule', spec.schedule, err));
  }
  if (spec.timeZone !== undefined && spec.timeZone !== null && !isValidTimeZone(spec.timeZone)) errs.push(inv('spec.timeZone', spec.timeZone, 'unknown time zone ' + spec.timeZone));
  nonNegative(errs, spec.startingDeadlineSeconds, 'spec.startingDeadlineSeconds');
  nonNegative(errs, spec.successfulJobsHistoryLimit, 'spec.successfulJobsHistoryLimit');
  nonNegative(errs, spec.failedJobsHistoryLimit, 'spec.failedJobsHistoryLimit');
  if (spec.concurrencyPolicy && !['Allow', 'Forbid', 'Replace'].includes(spec.concurrencyPolicy)) errs.push(notSupported('spec.concurrencyPolicy', spec.concurrencyPolicy, ['Allow', 'Forbid', 'Replace']));
  if (!spec.jobTemplate?.spec) errs.push(req('spec.jobTemplate.spec'));
  else errs.push(...validateJobSpec(spec.jobTemplate.spec, 'spec.jobTemplate.spec', false));
  return errs;
}
