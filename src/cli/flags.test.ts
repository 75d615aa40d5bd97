import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collect, leaderIdentity, parseDuration, parsePortRange } from './flags.js';

test('parseDuration: Go-style durations as upstream flags take them, bare numbers as seconds', () => {
  assert.equal(parseDuration('40s'), 40_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('5m0s'), 300_000);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('2'), 2000);
  assert.throws(() => parseDuration('x'));
  assert.throws(() => parseDuration('5 minutes'));
  assert.throws(() => parseDuration(''));
});

test('collect: repeatable, comma-separated flag values', () => {
  assert.deepEqual(collect('a, b,,c', collect('x', [])), ['x', 'a', 'b', 'c']);
});

test('leaderIdentity: unique per call, starts with the host name', () => {
  const a = leaderIdentity();
  assert.notEqual(a, leaderIdentity());
  assert.match(a, /^[^_]+_[0-9a-f-]{36}$/);
});

test('parsePortRange: kube-apiserver --service-node-port-range syntax', () => {
  assert.deepEqual(parsePortRange('30000-32767'), [30000, 32767]);
  assert.deepEqual(parsePortRange(' 31000 - 31099 '), [31000, 31099]);
  assert.throws(() => parsePortRange('32767-30000'), /invalid port range/);
  assert.throws(() => parsePortRange('0-10'), /invalid port range/);
  assert.throws(() => parsePortRange('30000'), /invalid port range/);
  assert.throws(() => parsePortRange('30000-70000'), /invalid port range/);
});
