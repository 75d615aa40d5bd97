import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff, formatGoDuration } from './backoff.js';

test('crash back-off: first retry at once, then 10s doubling to 5m, forgotten after 10m idle', () => {
  let now = 0;
  const b = new Backoff({ now: () => now });
  assert.equal(b.isInBackOffSince('k', now), false);
  b.next('k');
  assert.equal(b.get('k'), 10_000);
  now = 1000;
  assert.equal(b.isInBackOffSince('k', 500), true);
  assert.equal(b.remaining('k', 500), 9500);
  now = 11_000;
  assert.equal(b.isInBackOffSince('k', 500), false);
  const seen = [];
  for (let i = 0; i < 7; i++) { b.next('k'); seen.push(b.get('k')); }
  assert.deepEqual(seen, [20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
  now += 600_001;
  assert.equal(b.get('k'), 0);
  b.next('k');
  assert.equal(b.get('k'), 10_000);
});

test('Go durations as upstream prints them', () => {
  assert.equal(formatGoDuration(10_000), '10s');
  assert.equal(formatGoDuration(80_000), '1m20s');
  assert.equal(formatGoDuration(300_000), '5m0s');
});
