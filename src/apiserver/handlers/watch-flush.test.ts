import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { joinedLines } from './watch.js';

describe('watch flush rounds', () => {
  it('watchers with the same pending lines share one joined string; others get their own', () => {
    const round = new Map();
    const a = '{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n';
    const b = '{"type":"ADDED","object":{"metadata":{"name":"b"}}}\n';
    const bModified = '{"type":"MODIFIED","object":{"metadata":{"name":"b"}}}\n';
    const first = joinedLines(round, [a, b]);
    assert.equal(first, a + b);
    // Another watcher given the same lines: the very same string.
    assert.equal(joinedLines(round, [a, b]), first);
    // Same first line, different rest or length: its own, correct, join.
    assert.equal(joinedLines(round, [a, bModified]), a + bModified);
    assert.equal(joinedLines(round, [a]), a);
    assert.equal(joinedLines(round, [a, b, a]), a + b + a);
    // And each of those is shared in turn.
    assert.equal(joinedLines(round, [a, bModified]), a + bModified);
    assert.equal(round.get(a).length, 4);
    // A new round shares nothing with the last one.
    const next = new Map();
    assert.equal(joinedLines(next, [b]), b);
    assert.equal(next.size, 1);
  });
});
