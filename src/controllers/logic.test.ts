import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, DeploymentStatus, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { computeHash, fnv32a, safeEncodeString } from './util/hash.js';
import { resolveFenceposts, maxSurge, maxUnavailable, newRSNewReplicas, equalIgnoreHash, findNewReplicaSet, setNewReplicaSetAnnotations } from './deployment/util.js';
import { planNewReplicaSet, planOldReplicaSets, planScale, isScalingEvent } from './deployment/plan.js';
import { rolloutStatus } from './deployment/controller.js';
import { podsToDelete, slowStartBatch, podFromTemplate } from './util/pods.js';
import { Expectations } from './util/expectations.js';
import { claimDecision } from './util/claim.js';
import { selectorMatches } from './util/selector.js';
import { computeReplicaSetStatus } from './replicaset.js';

test('fnv32a and safe encoding match the reference values', () => {
  assert.equal(fnv32a(Buffer.from('')), 0x811c9dc5);
  assert.equal(fnv32a(Buffer.from('a')), 0xe40c292c);
  assert.equal(fnv32a(Buffer.from('foobar')), 0xbf9cf968);
  assert.equal(safeEncodeString('123'), '567');
  assert.equal(safeEncodeString('0123456789'), '456789bcdf');
});

test('computeHash is stable, key-order independent and changes with collisionCount', () => {
  const t1 = { metadata: { labels: { app: 'web', tier: 'x' } }, spec: { containers: [{ name: 'nginx', image: 'nginx' }] } };
  const t2 = { spec: { containers: [{ image: 'nginx', name: 'nginx' }] }, metadata: { labels: { tier: 'x', app: 'web' } } };
  assert.equal(computeHash(t1), computeHash(t2));
  assert.match(computeHash(t1), /^[bcdfghjklmnpqrstvwxz2456789]+$/);
  assert.notEqual(computeHash(t1), computeHash(t1, 1));
  assert.notEqual(computeHash(t1, 1), computeHash(t1, 2));
  assert.notEqual(computeHash(t1), computeHash({ ...t1, spec: { containers: [{ name: 'nginx', image: 'nginx:2' }] } }));
});

function dep(replicas: number, surge?: number | string, unavail?: number | string, extra: Partial<Deployment['spec']> = {}): Deployment {
  return {
    metadata: { name: 'web', namespace: 'default', generation: 1, uid: 'd1' },
    spec: {
      replicas, selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: surge, maxUnavailable: unavail } },
      ...extra,
    },
  };
}
function rs(name: string, spec: number, available = spec, created = '2024-01-01T00:00:00Z', image = 'nginx'): ReplicaSet {
  return {
    metadata: { name, namespace: 'default', uid: name, creationTimestamp: created, annotations: {} },
    spec: { replicas: spec, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web', 'pod-template-hash': name } }, spec: { containers: [{ name: 'c', image }] } } },
    status: { replicas: spec, availableReplicas: available, readyReplicas: available },
  };
}

test('fenceposts round surge up and unavailable down, as upstream', () => {
  assert.deepEqual(resolveFenceposts('25%', '25%', 10), { surge: 3, unavailable: 2 });
  assert.deepEqual(resolveFenceposts('25%', '25%', 1), { surge: 1, unavailable: 0 });
  assert.deepEqual(resolveFenceposts(0, 0, 5), { surge: 0, unavailable: 1 });
  assert.deepEqual(resolveFenceposts('0%', '0%', 5), { surge: 0, unavailable: 1 });
  assert.deepEqual(resolveFenceposts(2, '50%', 5), { surge: 2, unavailable: 2 });
  assert.equal(maxUnavailable(dep(3, 0, 10)), 3);
  assert.equal(maxUnavailable(dep(0, 1, 1)), 0);
  assert.equal(maxSurge(dep(10, '30%', 0)), 3);
  assert.equal(maxUnavailable({ ...dep(5), spec: { ...dep(5).spec!, strategy: { type: 'Recreate' } } }), 0);
});

test('rolling update: new RS grows up to replicas+surge, old shrinks down to minAvailable', () => {
  const d = dep(5, 1, 1);
  const old = rs('old', 5, 5);
  const neu = rs('new', 0, 0, '2024-01-02T00:00:00Z', 'nginx:2');
  assert.equal(newRSNewReplicas(d, [old, neu], neu), 1);
  assert.equal(planNewReplicaSet(d, [old, neu], neu), 1);
  // new at 1 (unavailable), old at 5: total 6 = max; scale old down to 4 (minAvailable 4).
  const neu1 = rs('new', 1, 0, '2024-01-02T00:00:00Z', 'nginx:2');
  assert.equal(planNewReplicaSet(d, [old, neu1], neu1), undefined);
  const downs = planOldReplicaSets(d, [old, neu1], [old], neu1);
  assert.deepEqual(downs.map((r) => [r.rs.metadata!.name, r.replicas]), [['old', 4]]);
  // once the new pod is available, old may shrink further
  const neu1a = rs('new', 1, 1, '2024-01-02T00:00:00Z', 'nginx:2');
  const old4 = rs('old', 4, 4);
  assert.equal(planNewReplicaSet(d, [old4, neu1a], neu1a), 2);
  const neu2 = rs('new', 2, 1, '2024-01-02T00:00:00Z', 'nginx:2');
  assert.deepEqual(planOldReplicaSets(d, [old4, neu2], [old4], neu2).map((r) => r.replicas), [3]);
  // unhealthy old replicas are cleaned up first
  const sick = rs('sick', 3, 1);
  const d3 = dep(3, 0, 1);
  const n0 = rs('new', 0, 0, '2024-01-02T00:00:00Z');
  assert.deepEqual(planOldReplicaSets(d3, [sick, n0], [sick], n0).map((r) => r.replicas), [2]); // maxScaledDown 3-2-0 = 1
});

test('maxUnavailable 0 never takes availability below replicas', () => {
  const d = dep(3, 1, 0);
  const old = rs('old', 3, 3);
  const neu = rs('new', 1, 0, '2024-01-02T00:00:00Z');
  assert.deepEqual(planOldReplicaSets(d, [old, neu], [old], neu), []);
});

test('proportional scaling during a rollout', () => {
  const d = dep(20, 3, 1); // scaled from 10 to 20 mid rollout
  const old = rs('old', 8, 8); old.metadata!.annotations = { 'deployment.kubernetes.io/max-replicas': '13', 'deployment.kubernetes.io/desired-replicas': '10' };
  const neu = rs('new', 5, 2, '2024-01-02T00:00:00Z'); neu.metadata!.annotations = { 'deployment.kubernetes.io/max-replicas': '13', 'deployment.kubernetes.io/desired-replicas': '10' };
  assert.ok(isScalingEvent(d, [old, neu]));
  const plan = planScale(d, neu, [old]);
  const sizes = Object.fromEntries(plan.map((r) => [r.rs.metadata!.name, r.replicas]));
  // allowed 23, have 13, add 10: old gets round(8*23/13)-8=6, new round(5*23/13)-5=4
  assert.deepEqual(sizes, { old: 14, new: 9 });
  // a single active RS simply takes the full count
  assert.deepEqual(planScale(dep(7), rs('only', 3), []).map((r) => r.replicas), [7]);
});

test('template equality ignores the pod-template-hash label; new RS is found by template', () => {
  const d = dep(3);
  const a = rs('a', 1); a.spec!.template = { metadata: { labels: { app: 'web', 'pod-template-hash': 'x' } }, spec: d.spec!.template.spec };
  assert.ok(equalIgnoreHash(a.spec!.template, d.spec!.template));
  // kubectl rollout undo sends "creationTimestamp": null in the template metadata
  const undone = structuredClone(d.spec!.template) as unknown as { metadata: Record<string, unknown> };
  undone.metadata.creationTimestamp = null;
  (undone as unknown as { spec: { containers: Record<string, unknown>[] } }).spec.containers[0]!.resources = {};
  assert.ok(equalIgnoreHash(a.spec!.template, undone as never));
  const b = rs('b', 1, 1, '2024-01-02T00:00:00Z', 'other');
  assert.equal(findNewReplicaSet(d, [b, a])?.metadata?.name, 'a');
});

test('revision annotations: copied annotations, revision history, change-cause', () => {
  const d = dep(3); d.metadata!.annotations = { 'kubernetes.io/change-cause': 'set image', 'deployment.kubernetes.io/revision': '9' };
  const r = rs('a', 1); r.metadata!.annotations = { 'deployment.kubernetes.io/revision': '1' };
  assert.ok(setNewReplicaSetAnnotations(d, r, '3', true));
  assert.equal(r.metadata!.annotations!['deployment.kubernetes.io/revision'], '3');
  assert.equal(r.metadata!.annotations!['deployment.kubernetes.io/revision-history'], '1');
  assert.equal(r.metadata!.annotations!['kubernetes.io/change-cause'], 'set image');
});

test('rollout status conditions', () => {
  const d = dep(2, 1, 0, { progressDeadlineSeconds: 600 });
  d.status = { observedGeneration: 1, replicas: 2, updatedReplicas: 1, availableReplicas: 1 };
  const neu = rs('new', 2, 2);
  const s = rolloutStatus(d, [neu], neu);
  assert.equal(s.conditions?.find((c) => c.type === 'Progressing')?.reason, 'NewReplicaSetAvailable');
  assert.equal(s.conditions?.find((c) => c.type === 'Available')?.status, 'True');
  assert.equal(s.updatedReplicas, 2);
  const s2 = rolloutStatus(d, [rs('new', 2, 0)], rs('new', 2, 0));
  assert.equal(s2.conditions?.find((c) => c.type === 'Available')?.reason, 'MinimumReplicasUnavailable');
  assert.equal(s2.unavailableReplicas, 2);
  // timed out
  const d3 = dep(2, 1, 0, { progressDeadlineSeconds: 10 });
  d3.status = { replicas: 2, updatedReplicas: 2, conditions: [{ type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', lastUpdateTime: '2020-01-01T00:00:00Z', lastTransitionTime: '2020-01-01T00:00:00Z' }] };
  const s3 = rolloutStatus(d3, [rs('new', 2, 0)], rs('new', 2, 0));
  assert.equal(s3.conditions?.find((c) => c.type === 'Progressing')?.reason, 'ProgressDeadlineExceeded');
});

function pod(name: string, o: { node?: string; phase?: string; ready?: boolean; created?: string; readySince?: string; restarts?: number } = {}): Pod {
  return {
    metadata: { name, namespace: 'default', uid: name, creationTimestamp: o.created ?? '2024-01-01T00:00:00Z', labels: { app: 'web' } },
    spec: { nodeName: o.node, containers: [] },
    status: {
      phase: o.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True', lastTransitionTime: o.readySince ?? '2024-01-01T00:00:00Z' }],
      containerStatuses: [{ name: 'c', image: '', imageID: '', ready: true, restartCount: o.restarts ?? 0 }],
    },
  };
}

test('deletion ranking prefers unscheduled, pending, not ready, doubled-up, newer', () => {
  const pods = [
    pod('running-old', { node: 'n1' }),
    pod('pending', { node: 'n2', phase: 'Pending' }),
    pod('unscheduled', { phase: 'Pending' }),
    pod('notready', { node: 'n3', ready: false }),
    pod('running-new', { node: 'n4', created: '2024-02-01T00:00:00Z', readySince: '2024-02-01T00:00:00Z' }),
  ];
  assert.deepEqual(podsToDelete(pods, pods, 4).map((p) => p.metadata!.name), ['unscheduled', 'pending', 'notready', 'running-new']);
  const doubled = [pod('a', { node: 'n1' }), pod('b', { node: 'n2' }), pod('c', { node: 'n2' })];
  assert.deepEqual(podsToDelete(doubled, doubled, 1).map((p) => p.metadata!.name)[0] !== 'a', true);
  const restarts = [pod('a', { node: 'n1' }), pod('b', { node: 'n2', restarts: 3 })];
  assert.equal(podsToDelete(restarts, restarts, 1)[0]!.metadata!.name, 'b');
});

test('slowStartBatch: 1,2,4,... and stops at the first failing batch', async () => {
  let calls = 0;
  const r = await slowStartBatch(10, 1, async () => { calls++; });
  assert.equal(r.successes, 10); assert.equal(calls, 10);
  calls = 0;
  const r2 = await slowStartBatch(10, 1, async () => { calls++; if (calls > 2) throw new Error('quota'); });
  // batches 1 (ok), 2 (ok on call 2, fail on call 3) → stop
  assert.equal(calls, 3); assert.equal(r2.successes, 2); assert.ok(r2.error);
});

test('expectations gate syncs until observed', () => {
  let now = 0;
  const e = new Expectations(1000, () => now);
  assert.ok(e.satisfied('k'));
  e.expectCreations('k', 2);
  assert.ok(!e.satisfied('k'));
  e.creationObserved('k');
  assert.ok(!e.satisfied('k'));
  e.creationObserved('k');
  assert.ok(e.satisfied('k'));
  e.expectDeletions('k', ['ns/a']);
  assert.ok(!e.satisfied('k'));
  now = 2000; // expired
  assert.ok(e.satisfied('k'));
});

test('claim decisions: keep, adopt, release, ignore', () => {
  const mine = { metadata: { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'x', uid: 'u1', controller: true }] } };
  const theirs = { metadata: { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'y', uid: 'u2', controller: true }] } };
  const orphan = { metadata: {} };
  assert.deepEqual(claimDecision(mine, 'u1', false, true), { adopt: false, release: false, claimed: true });
  assert.deepEqual(claimDecision(mine, 'u1', false, false), { adopt: false, release: true, claimed: false });
  assert.deepEqual(claimDecision(theirs, 'u1', false, true), { adopt: false, release: false, claimed: false });
  assert.deepEqual(claimDecision(orphan, 'u1', false, true), { adopt: true, release: false, claimed: true });
  assert.deepEqual(claimDecision(orphan, 'u1', true, true), { adopt: false, release: false, claimed: false });
});

test('selectors and pods from templates', () => {
  assert.ok(selectorMatches({ matchLabels: { a: '1' }, matchExpressions: [{ key: 'b', operator: 'In', values: ['x', 'y'] }] }, { a: '1', b: 'y' }));
  assert.ok(!selectorMatches({ matchExpressions: [{ key: 'b', operator: 'DoesNotExist' }] }, { b: '' }));
  assert.ok(selectorMatches({}, { x: 'y' }));
  assert.ok(!selectorMatches(undefined, { x: 'y' }));
  const p = podFromTemplate({ metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c' }] } }, 'ns', 'web-abc', { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'u', controller: true, blockOwnerDeletion: true });
  assert.equal(p.metadata?.generateName, 'web-abc-');
  assert.equal(p.metadata?.ownerReferences?.[0]?.controller, true);
});

test('replica set status counts ready, available (minReadySeconds) and fully labeled', () => {
  const r = rs('web', 3); r.spec!.minReadySeconds = 10; r.metadata = { ...r.metadata, generation: 4 };
  r.spec!.template!.metadata!.labels = { app: 'web', extra: 'y' };
  const now = Date.parse('2024-01-01T00:00:05Z');
  const pods = [pod('a', { readySince: '2023-12-31T00:00:00Z' }), pod('b', { readySince: '2024-01-01T00:00:00Z' }), pod('c', { ready: false })];
  pods[0]!.metadata!.labels = { app: 'web', extra: 'y' };
  const s = computeReplicaSetStatus(r, pods, undefined, now);
  assert.deepEqual([s.replicas, s.readyReplicas, s.availableReplicas, s.fullyLabeledReplicas, s.observedGeneration], [3, 2, 1, 1, 4]);
  const f = computeReplicaSetStatus(r, [], { reason: 'FailedCreate', message: 'quota' }, now);
  assert.equal(f.conditions?.[0]?.type, 'ReplicaFailure');
});

test('deployment and replica set statuses leave out zero counters, as upstream\'s omitempty JSON', () => {
  const counters = (s: object) => Object.fromEntries(Object.entries(s).filter(([k]) => k !== 'conditions'));
  const cond = (s: DeploymentStatus, type: string) => {
    const c = s.conditions?.find((x) => x.type === type);
    return c && [c.status, c.reason, c.message];
  };
  // A fresh deployment of 0 replicas: only observedGeneration, and complete.
  const d0 = dep(0, '25%', '25%', { progressDeadlineSeconds: 600 });
  const rs0: ReplicaSet = { ...rs('web-abc', 0, 0), status: { replicas: 0 } };
  const s0 = rolloutStatus(d0, [rs0], rs0);
  assert.deepEqual(counters(s0), { observedGeneration: 1 });
  assert.deepEqual(cond(s0, 'Available'), ['True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.']);
  assert.deepEqual(cond(s0, 'Progressing'), ['True', 'NewReplicaSetAvailable', 'ReplicaSet "web-abc" has successfully progressed.']);
  // Scaled to 2, pods not ready: no readyReplicas/availableReplicas fields. A scale is no
  // new rollout: Progressing stays as it was (upstream's isCompleteDeployment).
  const d2: Deployment = { ...dep(2, '25%', '25%', { progressDeadlineSeconds: 600 }), status: s0 };
  d2.metadata = { ...d2.metadata, generation: 2 };
  const rs2: ReplicaSet = { ...rs('web-abc', 2, 0), status: { replicas: 2 } };
  const s2 = rolloutStatus(d2, [rs2], rs2);
  assert.deepEqual(counters(s2), { observedGeneration: 2, replicas: 2, updatedReplicas: 2, unavailableReplicas: 2 });
  assert.deepEqual(cond(s2, 'Available'), ['False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.']);
  assert.deepEqual(cond(s2, 'Progressing'), cond(s0, 'Progressing'));
  // Ready: unavailableReplicas gone instead.
  const rs2r = rs('web-abc', 2, 2);
  const s2r = rolloutStatus({ ...d2, status: s2 }, [rs2r], rs2r);
  assert.deepEqual(counters(s2r), { observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 });
  assert.deepEqual(cond(s2r, 'Available'), ['True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.']);

  // ReplicaSet: replicas stays even at 0 (not omitempty upstream), the others go.
  const r = rs('web-abc', 0);
  r.metadata = { ...r.metadata, generation: 1 };
  assert.deepEqual(computeReplicaSetStatus(r, [], undefined), { replicas: 0, observedGeneration: 1 });
  const r2: ReplicaSet = { ...r, spec: { ...r.spec!, replicas: 2, template: { ...r.spec!.template, metadata: { labels: { app: 'web' } } } } };
  assert.deepEqual(computeReplicaSetStatus(r2, [pod('a', { ready: false }), pod('b', { ready: false })], undefined),
    { replicas: 2, fullyLabeledReplicas: 2, observedGeneration: 1 });
});
