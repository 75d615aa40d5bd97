import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFieldSelector, escapeFieldValue, unescapeFieldValue, fieldSelectorFromSet } from './fields.js';
import { isStatusError } from './errors.js';

test('parses =, ==, != and matches', () => {
  const s = parseFieldSelector('spec.nodeName=n1,status.phase!=Failed,metadata.name==p');
  assert.deepEqual(s.requirements, [
    { field: 'metadata.name', op: '=', value: 'p' },
    { field: 'spec.nodeName', op: '=', value: 'n1' },
    { field: 'status.phase', op: '!=', value: 'Failed' },
  ]);
  assert.equal(s.matches({ 'metadata.name': 'p', 'spec.nodeName': 'n1', 'status.phase': 'Running' }), true);
  assert.equal(s.matches({ 'metadata.name': 'p', 'spec.nodeName': 'n1', 'status.phase': 'Failed' }), false);
  assert.equal(s.exactValue('spec.nodeName'), 'n1');
  assert.equal(s.exactValue('status.phase'), undefined);
  assert.equal(s.toString(), 'metadata.name=p,spec.nodeName=n1,status.phase!=Failed');
});

test('missing fields compare as empty string; empty selector matches all', () => {
  assert.equal(parseFieldSelector('spec.nodeName=').matches({}), true);
  assert.equal(parseFieldSelector('spec.nodeName!=').matches({}), false);
  assert.equal(parseFieldSelector('').matches({ a: 'b' }), true);
  assert.equal(parseFieldSelector('').empty(), true);
  assert.equal(parseFieldSelector(',,').empty(), true);
});

test('escaping of \\ , and =', () => {
  assert.equal(escapeFieldValue('a,b=c\\d'), 'a\\,b\\=c\\\\d');
  assert.equal(unescapeFieldValue('a\\,b\\=c\\\\d'), 'a,b=c\\d');
  const s = parseFieldSelector('metadata.name=a\\,b\\=c,x=y');
  assert.equal(s.exactValue('metadata.name'), 'a,b=c');
  assert.equal(s.exactValue('x'), 'y');
  assert.equal(s.toString(), 'metadata.name=a\\,b\\=c,x=y');
  assert.equal(fieldSelectorFromSet({ b: '1', a: 'x=y' }).toString(), 'a=x\\=y,b=1');
});

test('errors as upstream', () => {
  const cases: [string, string][] = [
    ['foo', "invalid selector: 'foo'; can't understand 'foo'"],
    ['a=b,c', "invalid selector: 'a=b,c'; can't understand 'c'"],
    ['a=b=c', 'invalid field selector: unescaped character in value: 61'],
    ['a=b\\x', 'invalid field selector: invalid escape sequence: \\x'],
    ['a=b\\', 'invalid field selector: invalid escape sequence: \\'],
  ];
  for (const [sel, msg] of cases) {
    assert.throws(() => parseFieldSelector(sel), (e) => isStatusError(e, 'BadRequest') && e.message === msg, sel);
  }
});
