// When a CronJob should have started its latest job (upstream cronjob utils
// mostRecentScheduleTime / nextScheduleTime), with cron-parser reading the schedule in
// the CronJob's time zone (the controller's own when spec.timeZone is unset, as upstream).
import type { CronJob } from 'kubernetes-types/batch/v1.js';
import { CronExpressionParser } from 'cron-parser';

export interface ScheduleTimes {
  /** The latest scheduled time in (earliest, now], if any: the one to run. */
  mostRecent?: number;
  /** The next scheduled time after now. */
  next: number;
}

export function scheduleTimes(cj: CronJob, now: number): ScheduleTimes {
  const schedule = cj.spec?.schedule ?? '';
  const tz = cj.spec?.timeZone || undefined;
  let earliest = Date.parse(cj.status?.lastScheduleTime ?? cj.metadata?.creationTimestamp ?? new Date(now).toISOString());
  const sds = cj.spec?.startingDeadlineSeconds;
  if (sds !== undefined && sds !== null) earliest = Math.max(earliest, now - sds * 1000);
  const next = CronExpressionParser.parse(schedule, { currentDate: new Date(now), tz }).next().getTime();
  // prev() is strictly before its current date: from now + 1 ms it is the latest time <= now.
  const prev = CronExpressionParser.parse(schedule, { currentDate: new Date(now + 1), tz }).prev().getTime();
  return prev > earliest ? { mostRecent: prev, next } : { next };
}

/** A scheduled run's job name: <cronjob>-<minutes since the epoch> (upstream getJobName). */
export function jobNameFor(cj: CronJob, scheduled: number): string {
  return `${cj.metadata?.name}-${Math.floor(scheduled / 60_000)}`;
}
