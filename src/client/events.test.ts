import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Event, Pod } from 'kubernetes-types/core/v1.js';
import { createMemoryCluster } from '../../test/client/memory-client.js';
import { createEventRecorder } from './events.js';

const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop', uid: 'pod-uid', resourceVersion: '7' } };
const events = (c: ReturnType<typeof createMemoryCluster>): Event[] =>
  [...c.objects.entries()].filter(([k]) => k.startsWith('events/')).map(([, v]) => v as Event);

test('creates core/v1 Events like client-go, and aggregates identical ones by count', async () => {
  const cluster = createMemoryCluster();
  const rec = createEventRecorder(cluster.connect(), { component: 'default-scheduler', host: 'node-a' });
  rec.event(pod, 'Normal', 'Scheduled', 'Successfully assigned shop/web-1 to node-a');
  await rec.flush();
  let evs = events(cluster);
  assert.equal(evs.length, 1);
  const e = evs[0]!;
  assert.match(e.metadata!.name!, /^web-1\.[0-9a-f]+$/);
  assert.equal(e.metadata!.namespace, 'shop');
  assert.deepEqual(e.involvedObject, { apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name: 'web-1', uid: 'pod-uid', resourceVersion: '7' });
  assert.equal(e.type, 'Normal');
  assert.equal(e.reason, 'Scheduled');
  assert.deepEqual(e.source, { component: 'default-scheduler', host: 'node-a' });
  assert.equal(e.reportingComponent, 'default-scheduler');
  assert.equal(e.reportingInstance, 'node-a');
  assert.equal(e.count, 1);
  assert.match(e.firstTimestamp!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  rec.event(pod, 'Normal', 'Scheduled', 'Successfully assigned shop/web-1 to node-a');
  rec.event(pod, 'Normal', 'Scheduled', 'Successfully assigned shop/web-1 to node-a');
  rec.event(pod, 'Warning', 'FailedScheduling', '0/3 nodes are available');
  await rec.flush();
  evs = events(cluster);
  assert.equal(evs.length, 2);
  assert.equal(evs.find((x) => x.reason === 'Scheduled')!.count, 3);
  assert.equal(evs.find((x) => x.reason === 'FailedScheduling')!.count, 1);

  // Cluster-scoped objects: events go to "default".
  rec.event({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', uid: 'n' } }, 'Normal', 'RegisteredNode', 'Node node-a event: Registered');
  await rec.flush();
  assert.equal(events(cluster).find((x) => x.reason === 'RegisteredNode')!.metadata!.namespace, 'default');
  await rec.shutdown();
  rec.event(pod, 'Normal', 'Late', 'ignored after shutdown');
  await rec.flush();
  assert.equal(events(cluster).length, 3);
});

test('an aggregated event that vanished is created again; failures never reach the caller', async () => {
  const cluster = createMemoryCluster();
  const client = cluster.connect();
  const rec = createEventRecorder(client, { component: 'c' });
  rec.event(pod, 'Normal', 'R', 'm');
  await rec.flush();
  cluster.objects.clear();
  rec.event(pod, 'Normal', 'R', 'm');
  await rec.flush();
  assert.equal(events(cluster).length, 1);
  assert.equal(events(cluster)[0]!.count, 1);
  client.partitioned = true;
  rec.event(pod, 'Normal', 'Other', 'x');
  await rec.flush();
  rec.event({ metadata: { name: 'no-kind' } }, 'Normal', 'R', 'dropped');
  await rec.flush();
  assert.equal(events(cluster).length, 1);
});

test('bounded queue and spam filter', async () => {
  const cluster = createMemoryCluster();
  const rec = createEventRecorder(cluster.connect(), { component: 'c', maxQueue: 10, concurrency: 1, spamBurst: 0 });
  for (let i = 0; i < 50; i++) rec.event({ ...pod, metadata: { ...pod.metadata, name: `p${i}`, uid: `u${i}` } }, 'Normal', 'R', `m${i}`);
  await rec.flush();
  const n = events(cluster).length;
  assert.ok(n >= 10 && n <= 12, `queue bounded: ${n} written`);

  const c2 = createMemoryCluster();
  const r2 = createEventRecorder(c2.connect(), { component: 'c', spamBurst: 3 });
  for (let i = 0; i < 10; i++) r2.event(pod, 'Warning', 'Loop', `distinct ${i}`);
  await r2.flush();
  assert.equal(events(c2).length, 3, 'three per object, then silence');
});

test('qps/burst pace event writes; what the bounded queue cannot hold meanwhile is dropped', async () => {
  const cluster = createMemoryCluster();
  const rec = createEventRecorder(cluster.connect(), { component: 'c', qps: 20, burst: 5, maxQueue: 10, spamBurst: 0 });
  const t0 = Date.now();
  for (let i = 0; i < 100; i++) rec.event({ ...pod, metadata: { ...pod.metadata, name: `p${i}`, uid: `u${i}` } }, 'Normal', 'Scheduled', `m${i}`);
  await rec.flush();
  const n = events(cluster).length;
  // 4 writers take 4 events at once and the queue holds 10: 14 written, the rest dropped.
  assert.equal(n, 14);
  // 5 at once (burst), then 20/s: the other 9 take about 450 ms.
  const ms = Date.now() - t0;
  assert.ok(ms >= 400, `paced: ${ms} ms`);
  await rec.shutdown();
});

test('shutdown writes a paced queue without pacing (a full queue would take maxQueue/qps seconds)', async () => {
  const cluster = createMemoryCluster();
  const rec = createEventRecorder(cluster.connect(), { component: 'c', qps: 10, burst: 1, maxQueue: 100, spamBurst: 0 });
  for (let i = 0; i < 60; i++) rec.event({ ...pod, metadata: { ...pod.metadata, name: `p${i}`, uid: `u${i}` } }, 'Normal', 'Scheduled', `m${i}`);
  const t0 = Date.now();
  await rec.shutdown();
  const ms = Date.now() - t0;
  assert.equal(events(cluster).length, 60);
  assert.ok(ms < 2000, `shutdown took ${ms} ms`);
});
