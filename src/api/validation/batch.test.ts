import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Job } from 'kubernetes-types/batch/v1.js';
import { validateObject } from './index.js';
import { applyDefaults } from '../defaults/index.js';

const uid = '0d4c9f0e-1111-4222-8333-444455556666';
const labels = { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': 'j', 'controller-uid': uid, 'job-name': 'j' };
function job(spec: Partial<NonNullable<Job['spec']>> = {}): Job {
  const j: Job = {
    metadata: { name: 'j', namespace: 'n', uid },
    spec: {
      selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } },
      template: { metadata: { labels: { ...labels } }, spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } },
      ...spec,
    },
  };
  applyDefaults('batch', 'v1', 'Job', j);
  return j;
}
const errs = (j: Job, old?: Job): string[] => validateObject('batch', 'v1', 'Job', j, old).map((e) => `${e.type} ${e.field}${'detail' in e && e.detail ? `: ${e.detail}` : ''}`);

test('Job defaults as SetDefaults_Job', () => {
  const j = job();
  assert.deepEqual([j.spec?.completions, j.spec?.parallelism, j.spec?.backoffLimit, j.spec?.completionMode, j.spec?.suspend, j.spec?.manualSelector, j.spec?.podReplacementPolicy],
    [1, 1, 6, 'NonIndexed', false, false, 'TerminatedOrFailed']);
  const wq = job({ parallelism: 3 });
  assert.equal(wq.spec?.completions, undefined, 'a work queue (parallelism only) keeps completions unset');
  assert.equal(job({ podFailurePolicy: { rules: [] } }).spec?.podReplacementPolicy, 'Failed');
  assert.equal(job({ backoffLimitPerIndex: 1, completionMode: 'Indexed', completions: 2 }).spec?.backoffLimit, 2147483647);
});

test('Job validation: a valid job passes; counts, restartPolicy, Indexed completions, generated selector', () => {
  assert.deepEqual(errs(job()), []);
  assert.deepEqual(errs(job({ parallelism: -1, backoffLimit: -2 })), ['Invalid spec.parallelism: must be greater than or equal to 0', 'Invalid spec.backoffLimit: must be greater than or equal to 0']);
  const always = job();
  always.spec!.template.spec!.restartPolicy = 'Always';
  assert.deepEqual(errs(always), ['NotSupported spec.template.spec.restartPolicy']);
  assert.deepEqual(errs(job({ completionMode: 'Indexed', completions: undefined, parallelism: 2 })), ['Required spec.completions: when completion mode is Indexed']);
  const foreign = job({ selector: { matchLabels: { app: 'x' } } });
  foreign.spec!.template.metadata!.labels!.app = 'x';
  assert.deepEqual(errs(foreign), ['Invalid spec.selector: `selector` not auto-generated']);
  const manual = job({ manualSelector: true, selector: { matchLabels: { app: 'x' } } });
  manual.spec!.template.metadata!.labels = { app: 'y' };
  assert.deepEqual(errs(manual), ['Invalid spec.template.metadata.labels: `selector` does not match template `labels`']);
});

test('Job update: selector, completions and the template of a started job are immutable; a suspended unstarted job\'s template may change', () => {
  const old = job();
  const next = structuredClone(old);
  next.spec!.completions = 3;
  next.spec!.template.spec!.containers[0]!.image = 'other';
  assert.deepEqual(errs(next, old), ['Invalid spec.completions: field is immutable', 'Invalid spec.template: field is immutable']);
  const suspended = job({ suspend: true });
  const edited = structuredClone(suspended);
  edited.spec!.template.spec!.containers[0]!.image = 'other';
  assert.deepEqual(errs(edited, suspended), []);
});

test('podFailurePolicy rules: one requirement each, known actions, ordered exit codes without 0 for In, known containers', () => {
  const pfp = (rules: unknown[]): Job => job({ podFailurePolicy: { rules: rules as never } });
  assert.deepEqual(errs(pfp([{ action: 'FailJob', onExitCodes: { operator: 'In', values: [1, 42] } }, { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] }])), []);
  assert.deepEqual(errs(pfp([{ action: 'Retry', onExitCodes: { containerName: 'x', operator: 'In', values: [0, 3, 2] } }])), [
    'NotSupported spec.podFailurePolicy.rules[0].action',
    'Invalid spec.podFailurePolicy.rules[0].onExitCodes.containerName: must be one of the container or initContainer names in the pod template',
    'Invalid spec.podFailurePolicy.rules[0].onExitCodes.values[0]: must not be 0 for the In operator',
    'Invalid spec.podFailurePolicy.rules[0].onExitCodes.values[2]: must be ordered',
  ]);
  assert.deepEqual(errs(pfp([{ action: 'Count' }])), ['Invalid spec.podFailurePolicy.rules[0]: specifying one of OnExitCodes and OnPodConditions is required']);
  assert.deepEqual(errs(pfp([{ action: 'FailIndex', onPodConditions: [{ type: 'X' }] }])), ['Invalid spec.podFailurePolicy.rules[0].action: requires the backoffLimitPerIndex to be set']);
});
