import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CronJob } from 'kubernetes-types/batch/v1.js';
import { jobNameFor, scheduleTimes } from './schedule.js';
import { jobFromTemplate, SCHEDULED_TIMESTAMP_ANNOTATION } from './controller.js';

const T = (s: string): number => Date.parse(s);
const cj = (spec: Partial<NonNullable<CronJob['spec']>>, status: CronJob['status'] = {}, created = '2024-01-01T00:00:30Z'): CronJob => ({
  metadata: { name: 'c', namespace: 'n', uid: 'u', creationTimestamp: created },
  spec: { schedule: '*/5 * * * *', timeZone: 'UTC', jobTemplate: { metadata: { labels: { a: 'b' } }, spec: { template: { spec: { containers: [] } } } }, ...spec },
  status,
});

test('scheduleTimes: the latest due time after the last schedule (or creation), and the next one', () => {
  assert.deepEqual(scheduleTimes(cj({}), T('2024-01-01T00:04:00Z')), { next: T('2024-01-01T00:05:00Z') });
  assert.deepEqual(scheduleTimes(cj({}), T('2024-01-01T00:12:00Z')), { mostRecent: T('2024-01-01T00:10:00Z'), next: T('2024-01-01T00:15:00Z') });
  assert.deepEqual(scheduleTimes(cj({}, { lastScheduleTime: '2024-01-01T00:10:00Z' }), T('2024-01-01T00:12:00Z')), { next: T('2024-01-01T00:15:00Z') });
  assert.equal(scheduleTimes(cj({}), T('2024-01-01T00:10:00Z')).mostRecent, T('2024-01-01T00:10:00Z'), 'a time equal to now is due');
  // startingDeadlineSeconds: older times are out of reach.
  assert.deepEqual(scheduleTimes(cj({ startingDeadlineSeconds: 60 }), T('2024-01-01T00:12:00Z')), { next: T('2024-01-01T00:15:00Z') });
  // The schedule is read in spec.timeZone.
  assert.equal(scheduleTimes(cj({ schedule: '0 9 * * *', timeZone: 'Asia/Seoul' }), T('2024-01-02T00:30:00Z')).mostRecent, T('2024-01-02T00:00:00Z'));
});

test('the job of a run: <name>-<minutes>, template labels, scheduled-timestamp annotation, controller reference', () => {
  const j = jobFromTemplate(cj({}), T('2024-01-01T00:10:00Z'));
  assert.equal(j.metadata?.name, jobNameFor(cj({}), T('2024-01-01T00:10:00Z')));
  assert.equal(j.metadata?.name, 'c-28401130');
  assert.deepEqual(j.metadata?.labels, { a: 'b' });
  assert.equal(j.metadata?.annotations?.[SCHEDULED_TIMESTAMP_ANNOTATION], '2024-01-01T00:10:00Z');
  assert.deepEqual(j.metadata?.ownerReferences, [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'c', uid: 'u', controller: true, blockOwnerDeletion: true }]);
});
