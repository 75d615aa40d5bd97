import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Job } from 'kubernetes-types/batch/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import {
  deadlineRemaining, failureBackoffMs, matchPodFailurePolicy, formatIndexes, isPodFailedForJob, jobFinishTime, parseIndexes, pastBackoffLimit, pendingIndexes, podIndex,
  setCondition, successCriteriaMet, wantActive,
} from './logic.js';
import { indexedPod } from './controller.js';
import { ttlRemaining } from './ttl.js';

const job = (spec: Partial<NonNullable<Job['spec']>>, status: Job['status'] = {}): Job => ({ metadata: { name: 'j', namespace: 'n', uid: 'u' }, spec: { template: {}, ...spec }, status });
const pod = (phase: string, extra: Partial<Pod['metadata']> = {}, restarts = 0): Pod => ({
  metadata: { name: 'p', ...extra }, spec: { containers: [] },
  status: { phase, containerStatuses: [{ name: 'c', image: 'i', imageID: '', ready: false, restartCount: restarts }] },
});

test('wantActive: parallelism capped by the completions left; a work queue stops after one success', () => {
  assert.equal(wantActive(job({ parallelism: 3, completions: 5 }), 0), 3);
  assert.equal(wantActive(job({ parallelism: 3, completions: 5 }), 4), 1);
  assert.equal(wantActive(job({ parallelism: 3, completions: 5 }), 5), 0);
  assert.equal(wantActive(job({ parallelism: 2 }), 0), 2);
  assert.equal(wantActive(job({ parallelism: 2 }), 1), 0);
});

test('successCriteriaMet: completions reached; work queue: a success and nothing running', () => {
  assert.equal(successCriteriaMet(job({ completions: 2 }), 1, 1), false);
  assert.equal(successCriteriaMet(job({ completions: 2 }), 2, 0), true);
  assert.equal(successCriteriaMet(job({ parallelism: 2 }), 1, 1), false);
  assert.equal(successCriteriaMet(job({ parallelism: 2 }), 1, 0), true);
});

test('pastBackoffLimit: failures beyond the limit; OnFailure counts container restarts of running pods', () => {
  const never = { backoffLimit: 1, template: { spec: { restartPolicy: 'Never', containers: [] } } };
  assert.equal(pastBackoffLimit(job(never), 1, []), false);
  assert.equal(pastBackoffLimit(job(never), 2, []), true);
  const onFailure = { backoffLimit: 2, template: { spec: { restartPolicy: 'OnFailure', containers: [] } } };
  assert.equal(pastBackoffLimit(job(onFailure), 0, [pod('Running', {}, 2)]), false);
  assert.equal(pastBackoffLimit(job(onFailure), 0, [pod('Running', {}, 3)]), true);
});

test('a pod counts as failed when Failed, or deleted before it succeeded unless only failed pods are replaced', () => {
  assert.equal(isPodFailedForJob(pod('Failed'), false), true);
  assert.equal(isPodFailedForJob(pod('Running', { deletionTimestamp: '2024-01-01T00:00:00Z' }), false), true);
  assert.equal(isPodFailedForJob(pod('Running', { deletionTimestamp: '2024-01-01T00:00:00Z' }), true), false);
  assert.equal(isPodFailedForJob(pod('Succeeded', { deletionTimestamp: '2024-01-01T00:00:00Z' }), false), false);
});

test('deadline and backoff timing', () => {
  const t0 = Date.parse('2024-01-01T00:00:00Z');
  assert.equal(deadlineRemaining(job({ activeDeadlineSeconds: 10 }, { startTime: '2024-01-01T00:00:00Z' }), t0 + 4000), 6000);
  assert.equal(deadlineRemaining(job({}, { startTime: '2024-01-01T00:00:00Z' }), t0), undefined);
  assert.deepEqual([1, 2, 3, 10].map(failureBackoffMs), [10_000, 20_000, 40_000, 360_000]);
});

test('completed indexes are written as intervals and read back; pending indexes skip done and running ones', () => {
  assert.equal(formatIndexes([5, 0, 1, 2, 7, 8, 1]), '0-2,5,7,8');
  assert.deepEqual([...parseIndexes('0-2,5,7,8', 8)].sort(), [0, 1, 2, 5, 7]);
  assert.deepEqual(pendingIndexes(new Set([0, 2]), new Set([1]), 2, 6), [3, 4]);
  const p = indexedPod({ metadata: { generateName: 'j-' }, spec: { containers: [{ name: 'c' }] } }, 'j', 4);
  assert.equal(p.metadata?.generateName, 'j-4-');
  assert.equal(p.spec?.hostname, 'j-4');
  assert.equal(podIndex(p, 5), 4);
  assert.equal(podIndex(p, 4), undefined, 'an index beyond completions is not one');
  assert.equal(p.spec?.containers[0]?.env?.[0]?.name, 'JOB_COMPLETION_INDEX');
});

test('conditions keep their transition time while their status holds; TTL counts from the finish', () => {
  const st: NonNullable<Job['status']> = {};
  setCondition(st, 'FailureTarget', 'True', 'BackoffLimitExceeded', 'm', '2024-01-01T00:00:00Z');
  setCondition(st, 'FailureTarget', 'True', 'BackoffLimitExceeded', 'm', '2024-01-01T00:00:09Z');
  assert.equal(st.conditions?.[0]?.lastTransitionTime, '2024-01-01T00:00:00Z');
  setCondition(st, 'Failed', 'True', 'BackoffLimitExceeded', 'm', '2024-01-01T00:00:10Z');
  const failed = job({ ttlSecondsAfterFinished: 5 }, st);
  assert.equal(jobFinishTime(failed), Date.parse('2024-01-01T00:00:10Z'));
  assert.equal(ttlRemaining(failed, Date.parse('2024-01-01T00:00:12Z')), 3000);
  assert.equal(ttlRemaining(job({ ttlSecondsAfterFinished: 5 }, { conditions: st.conditions!.slice(0, 1) }), 0), undefined, 'FailureTarget alone is not finished');
});

test('matchPodFailurePolicy: first matching rule by exit code (0 never matches, containerName, NotIn) or condition', () => {
  const j = job({ podFailurePolicy: { rules: [
    { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
    { action: 'FailJob', onExitCodes: { containerName: 'main', operator: 'NotIn', values: [1, 2] } },
    { action: 'Count', onExitCodes: { operator: 'In', values: [1] } },
  ] } });
  const failed = (codes: [string, number][], conditions: { type: string; status: string }[] = []): Pod => ({
    metadata: { name: 'p', namespace: 'n' }, spec: { containers: [] },
    status: { phase: 'Failed', conditions, containerStatuses: codes.map(([name, exitCode]) => ({ name, image: '', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode } } })) },
  });
  assert.equal(matchPodFailurePolicy(j, failed([['main', 3]], [{ type: 'DisruptionTarget', status: 'True' }]))?.action, 'Ignore');
  assert.deepEqual(matchPodFailurePolicy(j, failed([['side', 0], ['main', 3]])), { action: 'FailJob', message: 'Container main for pod n/p failed with exit code 3 matching FailJob rule at index 1' });
  assert.equal(matchPodFailurePolicy(j, failed([['side', 3]]))?.action, undefined, 'containerName restricts the rule');
  assert.equal(matchPodFailurePolicy(j, failed([['main', 1]]))?.action, 'Count');
  assert.equal(matchPodFailurePolicy(j, failed([['main', 0]])), undefined);
});
