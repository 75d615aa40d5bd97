import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SchedulingQueue } from './queue.js';
import { KeyedHeap } from './heap.js';
import { makePod } from './testutil.js';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

test('heap: order, replace and delete by key', () => {
  const h = new KeyedHeap<{ k: string; v: number }>((x) => x.k, (a, b) => a.v < b.v);
  for (const [k, v] of [['a', 5], ['b', 1], ['c', 3], ['d', 4]] as const) h.push({ k, v });
  h.push({ k: 'a', v: 0 });
  h.delete('c');
  const out: string[] = [];
  for (let x = h.pop(); x; x = h.pop()) out.push(x.k);
  assert.deepEqual(out, ['a', 'b', 'd']);
});

test('active queue pops by priority, then arrival', async () => {
  const c = clock();
  const q = new SchedulingQueue({ now: c.now });
  q.add(makePod('low'));
  c.advance(1);
  q.add(makePod('high', { spec: { priority: 1000 } }));
  c.advance(1);
  q.add(makePod('low2'));
  const order = [];
  for (let i = 0; i < 3; i++) { const p = (await q.pop())!; order.push(p.pod.metadata!.name); q.done(p.key); }
  assert.deepEqual(order, ['high', 'low', 'low2']);
  q.close();
  assert.equal(await q.pop(), undefined);
});

test('backoff doubles from 1 s to at most 10 s', () => {
  const q = new SchedulingQueue();
  const qp = { pod: makePod('p'), key: 'default/p', timestamp: 0, attempts: 1, unschedulablePlugins: new Set<string>(), cycle: 0 };
  const ds = [1, 2, 3, 4, 5, 6].map((a) => q.backoffDuration({ ...qp, attempts: a }));
  assert.deepEqual(ds, [1000, 2000, 4000, 8000, 10000, 10000]);
  q.close();
});

test('unschedulable pods are parked until an event that may help them, then wait out their backoff', async () => {
  const c = clock();
  const q = new SchedulingQueue({ now: c.now });
  q.add(makePod('p'));
  const qp = (await q.pop())!;
  q.addUnschedulable(qp, ['TaintToleration']);
  assert.deepEqual(q.lengths(), { active: 0, backoff: 0, unschedulable: 1, inFlight: 0 });
  q.moveAll((x) => x.unschedulablePlugins.has('NodeResourcesFit'));
  assert.equal(q.lengths().unschedulable, 1, 'a pod delete does not help a taint');
  q.moveAll();
  assert.equal(q.lengths().backoff, 1, 'moved, but still backing off');
  c.advance(1000);
  q.flushBackoffCompleted();
  assert.equal(q.lengths().active, 1);
  const again = (await q.pop())!;
  assert.equal(again.attempts, 2);
  q.close();
});

test('a move request during the attempt sends a rejected pod to backoff, not to the parking lot', async () => {
  const c = clock();
  const q = new SchedulingQueue({ now: c.now });
  q.add(makePod('p'));
  const qp = (await q.pop())!;
  q.moveAll(); // e.g. a node was added while we were deciding
  q.addUnschedulable(qp, ['NodeResourcesFit']);
  assert.equal(q.lengths().backoff, 1);
  q.close();
});

test('updates: spec changes un-park, status-only changes do not; deletes drop in-flight pods', async () => {
  const c = clock();
  const q = new SchedulingQueue({ now: c.now });
  const p = makePod('p');
  q.add(p);
  const qp = (await q.pop())!;
  q.addUnschedulable(qp, ['NodeAffinity']);
  const withStatus = { ...p, status: { conditions: [{ type: 'PodScheduled', status: 'False' }] } };
  q.update(p, withStatus);
  assert.equal(q.lengths().unschedulable, 1);
  const relabeled = { ...p, metadata: { ...p.metadata, labels: { a: 'b' } } };
  q.update(withStatus, relabeled);
  assert.equal(q.lengths().unschedulable, 0);
  c.advance(10_000);
  q.flushBackoffCompleted();
  const again = (await q.pop())!;
  q.delete(again.pod);
  q.addUnschedulable(again, ['x']);
  assert.equal(q.has(again.key), false);
  q.close();
});

test('pods parked for 5 minutes are retried anyway', async () => {
  const c = clock();
  const q = new SchedulingQueue({ now: c.now });
  q.add(makePod('p'));
  q.addUnschedulable((await q.pop())!, ['NodeAffinity']);
  c.advance(5 * 60_000);
  q.flushUnschedulableLeftover();
  assert.equal(q.lengths().active, 1);
  q.close();
});
