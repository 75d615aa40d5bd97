import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { computePodStatus, statusEqual, type ContainerView, type RuntimeContainerInfo } from './status.js';

const T = Date.parse('2025-01-01T00:00:00Z');
const running = (id: string, attempt = 0): RuntimeContainerInfo => ({ id, state: 'CONTAINER_RUNNING', attempt, startedAt: T, finishedAt: 0, exitCode: 0, reason: '', message: '', imageID: 'sha256:abc' });
const exited = (id: string, code: number, attempt = 0): RuntimeContainerInfo => ({ ...running(id, attempt), state: 'CONTAINER_EXITED', finishedAt: T + 1000, exitCode: code, reason: code ? 'Error' : 'Completed' });

function pod(restartPolicy = 'Always', init = false): Pod {
  return {
    metadata: { name: 'p', namespace: 'd', uid: 'u' },
    spec: { restartPolicy, containers: [{ name: 'a', image: 'busybox' }, { name: 'b', image: 'busybox' }], ...(init ? { initContainers: [{ name: 'i', image: 'busybox' }] } : {}) },
    status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: '2024-01-01T00:00:00Z' }] },
  };
}

function input(p: Pod, c: Record<string, ContainerView>, i: Record<string, ContainerView> = {}) {
  return { pod: p, sandboxReady: true, podIPs: ['10.42.0.9'], hostIPs: ['192.168.0.1'], containers: new Map(Object.entries(c)), initContainers: new Map(Object.entries(i)), now: T };
}

test('running and ready: phase Running, all conditions True, PodScheduled kept', () => {
  const s = computePodStatus(input(pod(), { a: { current: running('x'), ready: true, started: true }, b: { current: running('y'), ready: true, started: true } }));
  assert.equal(s.phase, 'Running');
  assert.deepEqual(s.conditions!.map((c) => [c.type, c.status]), [['PodScheduled', 'True'], ['PodReadyToStartContainers', 'True'], ['Initialized', 'True'], ['ContainersReady', 'True'], ['Ready', 'True']]);
  assert.equal(s.conditions![0]!.lastTransitionTime, '2024-01-01T00:00:00Z');
  assert.equal(s.podIP, '10.42.0.9');
  assert.equal(s.containerStatuses![0]!.containerID, 'runc://x');
  assert.equal(s.containerStatuses![0]!.state!.running!.startedAt, '2025-01-01T00:00:00Z');
});

test('one unready container: ContainersNotReady with upstream message', () => {
  const s = computePodStatus(input(pod(), { a: { current: running('x'), ready: true, started: true }, b: { current: running('y'), ready: false, started: true } }));
  const r = s.conditions!.find((c) => c.type === 'Ready')!;
  assert.equal(r.status, 'False');
  assert.equal(r.reason, 'ContainersNotReady');
  assert.equal(r.message, 'containers with unready status: [b]');
});

test('crash loop: waiting CrashLoopBackOff with lastState terminated, phase Running', () => {
  const s = computePodStatus(input(pod(), {
    a: { current: exited('x', 2, 3), previous: exited('w', 2, 2), waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s' }, ready: false, started: false },
    b: { current: running('y'), ready: true, started: true },
  }));
  const a = s.containerStatuses![0]!;
  assert.equal(a.state!.waiting!.reason, 'CrashLoopBackOff');
  assert.equal(a.lastState!.terminated!.exitCode, 2);
  assert.equal(a.lastState!.terminated!.containerID, 'runc://x');
  assert.equal(a.restartCount, 3);
  assert.equal(s.phase, 'Running');
});

test('phases: Succeeded, Failed (Never), Pending while waiting or initializing', () => {
  const done = { current: exited('x', 0), ready: false, started: false };
  const fail = { current: exited('y', 1), ready: false, started: false };
  assert.equal(computePodStatus(input(pod('Never'), { a: done, b: done })).phase, 'Succeeded');
  assert.equal(computePodStatus(input(pod('Never'), { a: done, b: fail })).phase, 'Failed');
  assert.equal(computePodStatus(input(pod('OnFailure'), { a: done, b: fail })).phase, 'Running');
  assert.equal(computePodStatus(input(pod(), { a: { waiting: { reason: 'ErrImagePull' }, ready: false, started: false }, b: done })).phase, 'Pending');
  const init = computePodStatus(input(pod('Always', true), {}, { i: { current: running('z'), ready: false, started: true } }));
  assert.equal(init.phase, 'Pending');
  assert.equal(init.containerStatuses![0]!.state!.waiting!.reason, 'PodInitializing');
  const ic = init.conditions!.find((c) => c.type === 'Initialized')!;
  assert.equal(ic.reason, 'ContainersNotInitialized');
  assert.equal(ic.message, 'containers with incomplete status: [i]');
  const s = computePodStatus(input(pod('Never'), { a: done, b: done }));
  assert.equal(s.conditions!.find((c) => c.type === 'Ready')!.reason, 'PodCompleted');
});

test('rejected pods are Failed with reason; statusEqual ignores key order', () => {
  const s = computePodStatus({ ...input(pod(), {}), rejected: { reason: 'NodePorts', message: 'Pod was rejected: x' } });
  assert.equal(s.phase, 'Failed');
  assert.equal(s.reason, 'NodePorts');
  assert.ok(statusEqual({ phase: 'Running', hostIP: 'a' }, { hostIP: 'a', phase: 'Running' }));
  assert.ok(!statusEqual({ phase: 'Running' }, { phase: 'Pending' }));
});
