import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyJsonPatch } from './json-patch.js';
import { applyMergePatch, createMergePatch } from './merge-patch.js';
import { isStatusError } from '../errors.js';

const obj = () => ({ metadata: { name: 'a', labels: { x: '1' } }, spec: { list: [1, 2, 3] } });

test('json patch: add, remove, replace, move, copy, test', () => {
  const o = obj();
  const r = applyJsonPatch(o, [
    { op: 'add', path: '/metadata/labels/y', value: '2' },
    { op: 'remove', path: '/spec/list/0' },
    { op: 'replace', path: '/metadata/name', value: 'b' },
    { op: 'copy', from: '/metadata/name', path: '/spec/copied' },
    { op: 'move', from: '/spec/copied', path: '/spec/moved' },
    { op: 'test', path: '/spec/list', value: [2, 3] },
    { op: 'add', path: '/spec/list/-', value: 4 },
    { op: 'add', path: '/metadata/labels/a~1b', value: 'slash' },
  ]) as any;
  assert.deepEqual(r, { metadata: { name: 'b', labels: { x: '1', y: '2', 'a/b': 'slash' } }, spec: { list: [2, 3, 4], moved: 'b' } });
  assert.deepEqual(o, obj());
});

test('json patch errors: 422 for failing ops, 400 for malformed bodies, 413 for too many', () => {
  const invalid = (e: unknown) => isStatusError(e, 'Invalid') && e.code === 422 && e.message === 'the server rejected our request due to an error in our request';
  assert.throws(() => applyJsonPatch(obj(), [{ op: 'remove', path: '/spec/missing' }]), invalid);
  assert.throws(() => applyJsonPatch(obj(), [{ op: 'replace', path: '/nope', value: 1 }]), invalid);
  assert.throws(() => applyJsonPatch(obj(), [{ op: 'test', path: '/metadata/name', value: 'z' }]), invalid);
  assert.throws(() => applyJsonPatch(obj(), [{ op: 'bogus', path: '/x' }]), invalid);
  assert.throws(() => applyJsonPatch(obj(), [{ op: 'add', path: '/a/b/c', value: 1 }]), invalid);
  assert.throws(() => applyJsonPatch(obj(), { op: 'add' }), (e) => isStatusError(e, 'BadRequest') && /cannot unmarshal object into Go value of type jsonpatch.Patch/.test(e.message));
  assert.throws(() => applyJsonPatch(obj(), ['x']), (e) => isStatusError(e, 'BadRequest'));
  const many = Array.from({ length: 10001 }, () => ({ op: 'test', path: '/metadata/name', value: 'a' }));
  assert.throws(() => applyJsonPatch(obj(), many), (e) => isStatusError(e, 'RequestEntityTooLarge') && e.code === 413 && /maximum operations in a JSON patch is 10000, got 10001/.test(e.message));
});

test('merge patch: RFC 7386', () => {
  const r = applyMergePatch(obj(), { metadata: { labels: { x: null, z: '3' } }, spec: { list: [9] }, extra: { a: { b: null, c: 1 } } }) as any;
  assert.deepEqual(r, { metadata: { name: 'a', labels: { z: '3' } }, spec: { list: [9] }, extra: { a: { c: 1 } } });
  assert.throws(() => applyMergePatch(obj(), [1]), (e) => isStatusError(e, 'BadRequest'));
  assert.deepEqual(applyMergePatch({ a: { b: 1 } }, { a: 'x' }), { a: 'x' });
});

test('createMergePatch round-trips', () => {
  const from = obj();
  const to = { metadata: { name: 'a', labels: { y: '2' } }, spec: { list: [1, 2] }, status: { ok: true } };
  const p = createMergePatch(from, to);
  assert.deepEqual(p, { metadata: { labels: { x: null, y: '2' } }, spec: { list: [1, 2] }, status: { ok: true } });
  assert.deepEqual(applyMergePatch(from, p), to);
  assert.deepEqual(createMergePatch(to, to), {});
});
