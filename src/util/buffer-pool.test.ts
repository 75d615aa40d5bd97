import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool, giveBack } from './buffer-pool.js';

test('BufferPool: a returned buffer (or a view of it) is reused; foreign sizes and overflow are dropped', () => {
  const pool = new BufferPool(1024, 2);
  const a = pool.take();
  assert.equal(a.length, 1024);
  pool.give(a.subarray(10, 20));
  assert.equal(pool.available, 1);
  const b = pool.take();
  assert.equal(b.buffer, a.buffer, 'same memory again');
  pool.give(Buffer.alloc(512));
  assert.equal(pool.available, 0, 'a buffer of another size is not kept');
  pool.give(pool.take()); pool.give(Buffer.allocUnsafeSlow(1024)); pool.give(Buffer.allocUnsafeSlow(1024));
  assert.equal(pool.available, 2, 'no more than `keep`');
});

test('BufferPool.lend: the lent view itself goes back once (giveBack), anything else is left to the garbage collector', () => {
  const pool = new BufferPool(1024, 4);
  const view = pool.lend(pool.take().subarray(0, 100));
  giveBack(view.subarray(0, 10));
  assert.equal(pool.available, 0, 'a slice of the lent view is not the lent view');
  giveBack(view);
  giveBack(view);
  assert.equal(pool.available, 1, 'given back once, not twice');
  giveBack(Buffer.allocUnsafeSlow(1024));
  assert.equal(pool.available, 1, 'a buffer never lent is left alone');
});
