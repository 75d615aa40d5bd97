import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Gate } from './gate.js';

const tick = () => new Promise((r) => setImmediate(r));

/** An operation the test ends by hand. */
function op(log: string[], name: string): { fn: () => Promise<void>; end: () => void } {
  let end!: () => void;
  const done = new Promise<void>((r) => { end = r; });
  return { fn: async () => { log.push(`start ${name}`); await done; log.push(`end ${name}`); }, end };
}

test('gate: at most `limit` at once; finishing work goes before new work; slots come back on errors', async () => {
  const g = new Gate(2);
  const log: string[] = [];
  const a = op(log, 'a'), b = op(log, 'b'), c = op(log, 'c'), d = op(log, 'd');
  const runs = [g.run(a.fn), g.run(b.fn), g.run(c.fn), g.run(d.fn, true)];
  await tick();
  assert.deepEqual(log, ['start a', 'start b']);
  assert.deepEqual(g.stats, { active: 2, waiting: 2 });
  a.end();
  await tick();
  // d (finishing work) was queued after c (new work) but goes first.
  assert.deepEqual(log.slice(2), ['end a', 'start d']);
  b.end();
  await tick();
  assert.deepEqual(log.slice(4), ['end b', 'start c']);
  c.end(); d.end();
  await Promise.all(runs);
  assert.deepEqual(g.stats, { active: 0, waiting: 0 });
  await assert.rejects(g.run(async () => { throw new Error('boom'); }), /boom/);
  await assert.rejects(g.run(async () => { throw new Error('boom'); }), /boom/);
  assert.deepEqual(g.stats, { active: 0, waiting: 0 });
  let ran = false;
  await g.run(async () => { ran = true; });
  assert.ok(ran);
});

test('gate without a limit runs everything at once', async () => {
  const g = new Gate(0);
  const log: string[] = [];
  const ops = Array.from({ length: 5 }, (_, i) => op(log, String(i)));
  const runs = ops.map((o) => g.run(o.fn));
  await tick();
  assert.equal(log.length, 5);
  for (const o of ops) o.end();
  await Promise.all(runs);
});
