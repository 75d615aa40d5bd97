// PolicyRule matching and coverage as upstream's RBAC: verbs, groups, resources with
// subresources and '*', resource names, non-resource URLs with trailing '*'; escalation
// coverage and the compact text of missing rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PolicyRule } from 'kubernetes-types/rbac/v1.js';
import { compileRule, ruleAllows, covers, compactRules, compactString, breakdownRule } from './rules.js';
import type { Attributes } from '../auth.js';

const res = (verb: string, resource: string, o: Partial<{ group: string; subresource: string; name: string; namespace: string }> = {}): Attributes =>
  ({ isResourceRequest: true, verb, resource, group: o.group ?? '', subresource: o.subresource ?? '', name: o.name ?? '', namespace: o.namespace ?? 'default' });
const url = (verb: string, path: string): Attributes => ({ isResourceRequest: false, verb, path });
const allows = (r: PolicyRule, a: Attributes): boolean => ruleAllows(compileRule(r, 'test'), a);

test('verbs, groups and resources match exactly or through *', () => {
  const r: PolicyRule = { verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] };
  assert.ok(allows(r, res('get', 'pods')));
  assert.ok(!allows(r, res('delete', 'pods')));
  assert.ok(!allows(r, res('get', 'pods', { group: 'apps' })));
  assert.ok(!allows(r, res('get', 'secrets')));
  assert.ok(allows({ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, res('escalate', 'roles', { group: 'rbac.authorization.k8s.io' })));
  assert.ok(allows({ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, res('create', 'pods', { subresource: 'exec' })), '* covers subresources');
});

test('subresources need their own rule (pods/exec) or */sub; the main resource alone does not grant them', () => {
  const exec = res('create', 'pods', { subresource: 'exec', name: 'web' });
  assert.ok(!allows({ verbs: ['create'], apiGroups: [''], resources: ['pods'] }, exec));
  assert.ok(allows({ verbs: ['create'], apiGroups: [''], resources: ['pods/exec'] }, exec));
  assert.ok(allows({ verbs: ['create'], apiGroups: [''], resources: ['*/exec'] }, exec));
  assert.ok(!allows({ verbs: ['create'], apiGroups: [''], resources: ['*/log'] }, exec));
  assert.ok(!allows({ verbs: ['get'], apiGroups: [''], resources: ['pods/log'] }, res('get', 'pods')), 'a subresource rule does not grant the resource');
});

test('resourceNames restrict to those names (a request without a name, like a create or list, does not match)', () => {
  const r: PolicyRule = { verbs: ['get', 'create'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['cm1'] };
  assert.ok(allows(r, res('get', 'configmaps', { name: 'cm1' })));
  assert.ok(!allows(r, res('get', 'configmaps', { name: 'cm2' })));
  assert.ok(!allows(r, res('create', 'configmaps')));
});

test('non-resource URLs: exact, trailing * as a prefix, * for all; resource rules never match them', () => {
  const r: PolicyRule = { verbs: ['get'], nonResourceURLs: ['/healthz', '/apis/*'] };
  assert.ok(allows(r, url('get', '/healthz')));
  assert.ok(!allows(r, url('get', '/healthz/etcd')));
  assert.ok(allows(r, url('get', '/apis/apps/v1')));
  assert.ok(!allows(r, url('get', '/apis')), '/apis/* does not cover /apis');
  assert.ok(!allows(r, url('post', '/healthz')));
  assert.ok(allows({ verbs: ['*'], nonResourceURLs: ['*'] }, url('delete', '/anything')));
  assert.ok(!allows({ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, url('get', '/version')));
  assert.ok(!allows(r, res('get', 'healthz')));
});

test('covers: owner rules must grant every verb × group × resource × name of the servant', () => {
  const owner: PolicyRule[] = [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods', 'configmaps'] }, { verbs: ['get'], apiGroups: [''], resources: ['secrets'], resourceNames: ['s1'] }];
  assert.ok(covers(owner, [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }]).covered);
  assert.ok(covers(owner, [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'], resourceNames: ['s1'] }]).covered);
  assert.ok(!covers(owner, [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }]).covered, 'a named rule does not cover all names');
  const c = covers(owner, [{ verbs: ['get', 'delete'], apiGroups: [''], resources: ['pods', 'secrets'] }]);
  assert.deepEqual(c.missing.map(compactString), [
    '{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}',
    '{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}',
    '{APIGroups:[""], Resources:["secrets"], Verbs:["delete"]}',
  ]);
  assert.deepEqual(compactRules(c.missing).map(compactString), [
    '{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}',
    '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "delete"]}',
  ]);
  assert.ok(covers([{ verbs: ['get'], apiGroups: [''], resources: ['*/log'] }], [{ verbs: ['get'], apiGroups: [''], resources: ['pods/log'] }]).covered);
  assert.ok(covers([{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, { verbs: ['*'], nonResourceURLs: ['*'] }],
    [{ verbs: ['get'], nonResourceURLs: ['/metrics'] }, { verbs: ['bind'], apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'] }]).covered);
  assert.ok(covers([{ verbs: ['get'], nonResourceURLs: ['/logs/*'] }], [{ verbs: ['get'], nonResourceURLs: ['/logs/kube.log'] }]).covered);
  assert.ok(!covers([{ verbs: ['get'], nonResourceURLs: ['/logs/*'] }], [{ verbs: ['get'], nonResourceURLs: ['/metrics'] }]).covered);
});

test('breakdown and compact text follow upstream', () => {
  assert.equal(breakdownRule({ verbs: ['get', 'list'], apiGroups: ['', 'apps'], resources: ['a', 'b'], resourceNames: ['x', 'y'] }).length, 16);
  assert.equal(compactString({ verbs: ['get'], nonResourceURLs: ['/x'] }), '{NonResourceURLs:["/x"], Verbs:["get"]}');
  assert.equal(compactString({ verbs: ['get'], apiGroups: [''], resources: ['secrets'], resourceNames: ['a'] }), '{APIGroups:[""], Resources:["secrets"], ResourceNames:["a"], Verbs:["get"]}');
});
