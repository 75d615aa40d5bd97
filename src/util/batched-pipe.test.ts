import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { batchedPipe } from './batched-pipe.js';

test('batchedPipe: chunks that arrive in one tick leave in one write (one TLS write, one syscall)', async () => {
  const from = new Readable({ read() { /* pushed below */ } });
  const calls: number[] = [];
  const got: Buffer[] = [];
  const to = new Writable({
    write(c: Buffer, _e, cb) { calls.push(1); got.push(c); cb(); },
    writev(cs, cb) { calls.push(cs.length); for (const c of cs) got.push(c.chunk as Buffer); cb(); },
  });
  batchedPipe(from, to);
  // A TLS socket emits one 'data' per 16 KiB record, several in one read.
  for (let i = 0; i < 4; i++) from.push(Buffer.alloc(16384, i));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls, [4]);
  from.push(Buffer.from('x'));
  from.push(null);
  await new Promise((r) => to.on('finish', r));
  assert.equal(Buffer.concat(got).length, 4 * 16384 + 1);
});

