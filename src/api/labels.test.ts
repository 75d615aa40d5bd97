import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLabelSelector, labelSelectorFromObject, everything, nothing } from './labels.js';
import { isStatusError, type StatusError } from './errors.js';

function parseErr(s: string): StatusError {
  try { parseLabelSelector(s); } catch (e) {
    assert.ok(isStatusError(e, 'BadRequest'), String(e));
    assert.equal(e.code, 400);
    return e;
  }
  assert.fail(`expected ${JSON.stringify(s)} to fail`);
}

test('parses every operator and matches like upstream', () => {
  const l = { app: 'web', tier: 'front', n: '5' };
  const cases: [string, boolean][] = [
    ['app=web', true], ['app==web', true], ['app!=web', false], ['app!=db', true], ['missing!=x', true],
    ['app in (web,db)', true], ['app in (db)', false], ['app notin (db)', true], ['missing notin (x)', true],
    ['app', true], ['!app', false], ['!missing', true], ['missing', false],
    ['app=web,tier=front', true], ['app=web,tier=back', false],
    ['n>4', true], ['n<4', false], ['app>1', false],
    ['', true], ['  app = web  ', true], ['app=', false], ['x=', false],
    ['app in (web, db)', true],
  ];
  for (const [s, want] of cases) assert.equal(parseLabelSelector(s).matches(l), want, s);
  assert.equal(parseLabelSelector('app=').matches({ app: '' }), true);
  assert.equal(parseLabelSelector('x in (,a)').matches({ x: '' }), true);
  assert.equal(parseLabelSelector('x in ()').matches({ x: '' }), true);
});

test('keywords are plain identifiers in value position', () => {
  assert.equal(parseLabelSelector('a=in').matches({ a: 'in' }), true);
  assert.equal(parseLabelSelector('a in (in,notin)').matches({ a: 'notin' }), true);
});

test('toString sorts by key and prints canonical operators', () => {
  assert.equal(parseLabelSelector('z=1,a in (y,x),!b,c,d!=2,e notin (q)').toString(), 'a in (x,y),!b,c,d!=2,e notin (q),z=1');
  assert.equal(parseLabelSelector('a==b').toString(), 'a==b');
  assert.equal(parseLabelSelector('').toString(), '');
  assert.equal(parseLabelSelector('').empty(), true);
  assert.equal(parseLabelSelector('a').empty(), false);
  assert.equal(parseLabelSelector('app=web,x in (1)').exactValue?.('x'), '1');
});

test('parse errors carry upstream messages', () => {
  assert.equal(parseErr('a b').message, "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
  assert.equal(parseErr('a=b c').message, "found 'c', expected: ',' or 'end of string'");
  assert.equal(parseErr('a=b,').message, "found '', expected: identifier after ','");
  assert.equal(parseErr(',a').message, "found ',', expected: !, identifier, or 'end of string'");
  assert.equal(parseErr('a in b').message, "unable to parse requirement: found 'b' expected: '('");
  assert.equal(parseErr('a in (b').message, "unable to parse requirement: found '', expected: ',' or ')'");
  assert.equal(parseErr('a in (b c)').message, "unable to parse requirement: found 'c', expected: ',' or ')'");
  assert.equal(parseErr('a foo b').message, "unable to parse requirement: found 'foo', expected: in, notin, =, ==, !=, gt, lt");
  assert.equal(parseErr('a=(').message, "unable to parse requirement: found '(', expected: identifier");
  assert.equal(parseErr('!').message, "unable to parse requirement: found '', expected: identifier");
  assert.match(parseErr('-a=b').message, /^unable to parse requirement: <nil>: Invalid value: "-a": name part must consist of alphanumeric characters, '-', '_' or '\.', and must start and end with an alphanumeric character \(e\.g\. 'MyName',  or 'my\.name',  or '123-abc', regex used for validation is '\(\[A-Za-z0-9\]\[-A-Za-z0-9_\.\]\*\)\?\[A-Za-z0-9\]'\)$/);
  assert.match(parseErr('a=b c').message, /found 'c', expected: ',' or 'end of string'/);
  assert.match(parseErr('a=-b').message, /^unable to parse requirement: values\[0\]\[a\]: Invalid value: "-b": a valid label must be an empty string/);
  assert.match(parseErr('a>x').message, /values\[0\]: Invalid value: "x": for 'Gt', 'Lt' operators, the value must be an integer/);
  assert.match(parseErr(`a=${'x'.repeat(64)}`).message, /must be no more than 63 characters/);
  assert.match(parseErr('example.com/a/b').message, /a qualified name must consist of/);
  assert.match(parseErr('Example.com/a').message, /prefix part a lowercase RFC 1123 subdomain/);
});

test('meta/v1 LabelSelector: nil matches nothing, empty matches everything', () => {
  assert.equal(labelSelectorFromObject(undefined).matches({ a: 'b' }), false);
  assert.equal(labelSelectorFromObject(undefined).empty(), false);
  assert.equal(labelSelectorFromObject({}).matches({ a: 'b' }), true);
  assert.equal(labelSelectorFromObject({}).empty(), true);
  assert.equal(labelSelectorFromObject({ matchLabels: {} }).matches({}), true);
  const s = labelSelectorFromObject({
    matchLabels: { app: 'web' },
    matchExpressions: [
      { key: 'tier', operator: 'In', values: ['front', 'edge'] },
      { key: 'env', operator: 'NotIn', values: ['prod'] },
      { key: 'team', operator: 'Exists' },
      { key: 'legacy', operator: 'DoesNotExist' },
    ],
  });
  assert.equal(s.matches({ app: 'web', tier: 'edge', team: 'x' }), true);
  assert.equal(s.matches({ app: 'web', tier: 'edge', team: 'x', env: 'prod' }), false);
  assert.equal(s.matches({ app: 'web', tier: 'edge', team: 'x', legacy: '1' }), false);
  assert.equal(s.matches({ app: 'web', tier: 'edge' }), false);
  assert.equal(s.toString(), 'app=web,env notin (prod),!legacy,team,tier in (edge,front)');
  assert.equal(everything().matches(undefined), true);
  assert.equal(nothing().matches({}), false);
});

test('meta/v1 LabelSelector errors', () => {
  assert.throws(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Foo' }] }), /"Foo" is not a valid label selector operator/);
  assert.throws(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }), /values: Invalid value: \[\]string\{\}: for 'in', 'notin' operators, values set can't be empty/);
  assert.throws(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }), /values set must be empty for exists and does not exist/);
  assert.throws(() => labelSelectorFromObject({ matchLabels: { 'bad key': 'v' } }), /key: Invalid value: "bad key"/);
});
