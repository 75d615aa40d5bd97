import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from './buffer-pool.js';

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
