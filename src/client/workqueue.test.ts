import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWorkQueue } from './workqueue.js';

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('FIFO order and de-duplication of queued items', async () => {
  const q = createWorkQueue<string>();
  q.add('a'); q.add('b'); q.add('a'); q.add('c'); q.add('b');
  assert.equal(q.len(), 3);
  assert.equal(await q.get(), 'a');
  assert.equal(await q.get(), 'b');
  assert.equal(await q.get(), 'c');
  assert.equal(q.len(), 0);
  q.shutDown();
});

test('an item added while processing is queued again after done, and never handed out twice at once', async () => {
  const q = createWorkQueue<string>();
  q.add('x');
  const x = await q.get();
  assert.equal(x, 'x');
  q.add('x');
  q.add('x');
  assert.equal(q.len(), 0, 'not queued while processing');
  let second: string | undefined;
  void q.get().then((v) => { second = v; });
  await tick(5);
  assert.equal(second, undefined, 'a waiting worker does not get the item being processed');
  q.done('x');
  await tick();
  assert.equal(second, 'x');
  q.done('x');
  assert.equal(q.len(), 0);
  q.shutDown();
});

test('get waits for add; shutDown releases waiters and drains first', async () => {
  const q = createWorkQueue<number>();
  const p = q.get();
  q.add(1);
  assert.equal(await p, 1);
  const w1 = q.get();
  const w2 = q.get();
  q.shutDown();
  assert.equal(await w1, undefined);
  assert.equal(await w2, undefined);
  const q2 = createWorkQueue<number>();
  q2.add(7);
  q2.shutDown();
  q2.add(8); // ignored after shutdown
  assert.equal(await q2.get(), 7, 'what was queued before shutDown is still handed out');
  assert.equal(await q2.get(), undefined);
});

test('addAfter delays, and keeps the earliest deadline', async () => {
  const q = createWorkQueue<string>();
  q.addAfter('late', 60);
  q.addAfter('soon', 10);
  q.addAfter('late', 200); // later deadline: ignored
  assert.equal(q.len(), 0);
  const t0 = Date.now();
  assert.equal(await q.get(), 'soon');
  q.done('soon');
  assert.equal(await q.get(), 'late');
  const dt = Date.now() - t0;
  assert.ok(dt >= 50 && dt < 180, `late came after ${dt} ms`);
  q.shutDown();
});

test('addRateLimited backs off exponentially per item; forget resets', async () => {
  const q = createWorkQueue<string>({ baseDelayMs: 10, maxDelayMs: 40 });
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) {
    const t0 = Date.now();
    q.addRateLimited('k');
    const k = await q.get();
    delays.push(Date.now() - t0);
    q.done(k!);
  }
  assert.equal(q.numRequeues('k'), 4);
  // 10, 20, 40, 40 (capped)
  assert.ok(delays[0]! >= 8 && delays[0]! < 30, `first ${delays[0]}`);
  assert.ok(delays[1]! >= 18, `second ${delays[1]}`);
  assert.ok(delays[2]! >= 38 && delays[3]! >= 38 && delays[3]! < 80, `capped ${delays}`);
  q.forget('k');
  assert.equal(q.numRequeues('k'), 0);
  q.shutDown();
});

test('shutDown cancels pending delayed adds; drained resolves when idle', async () => {
  const q = createWorkQueue<string>();
  q.addAfter('a', 20);
  q.shutDown();
  await tick(40);
  assert.equal(q.len(), 0);
  const q2 = createWorkQueue<string>();
  q2.add('a');
  const it = await q2.get();
  let drained = false;
  void q2.drained().then(() => { drained = true; });
  await tick();
  assert.equal(drained, false);
  q2.done(it!);
  await tick();
  assert.equal(drained, true);
  q2.shutDown();
});

test('several workers share items fairly', async () => {
  const q = createWorkQueue<number>();
  for (let i = 0; i < 100; i++) q.add(i);
  const seen: number[] = [];
  const worker = async (): Promise<void> => {
    for (;;) {
      const v = await q.get();
      if (v === undefined) return;
      seen.push(v);
      await tick();
      q.done(v);
    }
  };
  const ws = [worker(), worker(), worker()];
  await q.drained();
  q.shutDown();
  await Promise.all(ws);
  assert.deepEqual([...seen].sort((a, b) => a - b), [...Array(100).keys()]);
  assert.deepEqual(seen.slice(0, 3), [0, 1, 2]);
});
