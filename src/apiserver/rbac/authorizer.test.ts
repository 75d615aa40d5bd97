// The RBAC authorizer and escalation checks over a real registry (SQLite datastore,
// watch caches), without an HTTP server: bindings to users, groups and service
// accounts, ClusterRoles bound in a namespace, missing roles as the denial reason,
// invalidation when RBAC objects change, and escalation prevention on writes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Datastore } from '../../datastore/types.js';
import { openSqliteDatastore } from '../../datastore/sqlite.js';
import { Registry } from '../registry.js';
import { PolicyCache, RBAC_GROUP } from './policy-cache.js';
import { rbacAuthorizer } from './authorizer.js';
import { escalationCheck } from './escalation.js';
import { reconcileBootstrapPolicy, reconcileRole } from './reconcile.js';
import { authorize, privilegedGroups, type Attributes, type Authorizer, type UserInfo } from '../auth.js';
import { serverContext } from '../bootstrap.js';
import type { StrategyContext } from '../strategies/types.js';
import type { Obj } from '../objects.js';

let dir: string;
let ds: Datastore;
let registry: Registry;
let policy: PolicyCache;
let authorizers: Authorizer[];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jotasu-rbac-'));
  ds = await openSqliteDatastore(dir);
  registry = new Registry(ds, { serviceCIDR: '10.43.0.0/16' });
  await registry.start();
  const cache = (r: string) => registry.store(RBAC_GROUP, r)!.cache;
  policy = new PolicyCache({ roles: cache('roles'), clusterRoles: cache('clusterroles'), roleBindings: cache('rolebindings'), clusterRoleBindings: cache('clusterrolebindings') });
  authorizers = [privilegedGroups, rbacAuthorizer(policy)];
  registry.admission.push(escalationCheck(policy, () => authorizers));
  for (const ns of ['default', 'kube-system', 'team']) await registry.namespaces.create('', { metadata: { name: ns } }, serverContext);
  await reconcileBootstrapPolicy(registry);
});
after(async () => { policy.close(); registry.close(); await ds.close(); rmSync(dir, { recursive: true, force: true }); });

const alice: UserInfo = { name: 'alice', groups: ['system:authenticated'] };
const sa: UserInfo = { name: 'system:serviceaccount:team:builder', groups: ['system:serviceaccounts', 'system:serviceaccounts:team', 'system:authenticated'] };
const pods = (verb: string, namespace = 'team', subresource = ''): Attributes => ({ isResourceRequest: true, verb, group: '', resource: 'pods', subresource, namespace, name: '' });
const as = (user: UserInfo): StrategyContext => ({ user, dryRun: false, subresource: '' });

async function put(resource: string, obj: Obj, ctx: StrategyContext = serverContext): Promise<void> {
  const store = registry.store(RBAC_GROUP, resource)!;
  await store.create(obj.metadata!.namespace ?? '', obj, ctx);
}

/** Writes reach the authorizer through the watch caches: wait for the decision to change. */
async function until(fn: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) { if (await fn()) return; await new Promise((r) => setTimeout(r, 10)); }
  assert.fail('condition not reached');
}

test('system:masters is allowed by the privileged-group link; others need a binding', async () => {
  assert.ok((await authorize(authorizers, { name: 'root', groups: ['system:masters'] }, pods('delete'))).allowed);
  assert.ok(!(await authorize(authorizers, alice, pods('list'))).allowed);
  // Bootstrap: everyone authenticated may discover and review themselves.
  assert.ok((await authorize(authorizers, alice, { isResourceRequest: false, verb: 'get', path: '/apis/apps/v1' })).allowed);
  const d = await authorize(authorizers, alice, { isResourceRequest: true, verb: 'create', group: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews', subresource: '', namespace: '', name: '' });
  assert.equal(d.reason, 'RBAC: allowed by ClusterRoleBinding "system:basic-user" of ClusterRole "system:basic-user" to Group "system:authenticated"');
});

test('a ClusterRole bound by a RoleBinding applies in that namespace only; service accounts by namespace', async () => {
  await put('clusterroles', { metadata: { name: 'pod-runner' }, rules: [{ verbs: ['get', 'list', 'create'], apiGroups: [''], resources: ['pods', 'pods/log'] }] });
  await put('rolebindings', {
    metadata: { name: 'run', namespace: 'team' }, roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'pod-runner' },
    subjects: [{ kind: 'User', apiGroup: RBAC_GROUP, name: 'alice' }, { kind: 'ServiceAccount', name: 'builder' }],
  });
  await until(async () => (await authorize(authorizers, alice, pods('list'))).allowed);
  assert.ok(!(await authorize(authorizers, alice, pods('list', 'default'))).allowed);
  assert.ok(!(await authorize(authorizers, alice, pods('delete'))).allowed);
  assert.ok((await authorize(authorizers, alice, pods('get', 'team', 'log'))).allowed);
  assert.ok(!(await authorize(authorizers, alice, pods('get', 'team', 'exec'))).allowed);
  // The service account subject without a namespace means the binding's namespace.
  const d = await authorize(authorizers, sa, pods('create'));
  assert.equal(d.reason, 'RBAC: allowed by RoleBinding "run/team" of ClusterRole "pod-runner" to ServiceAccount "builder/team"');
  assert.ok(!(await authorize(authorizers, { ...sa, name: 'system:serviceaccount:default:builder' }, pods('create'))).allowed);
});

test('a binding to a missing role is the denial reason; creating the role takes effect (cache invalidation)', async () => {
  await put('clusterrolebindings', { metadata: { name: 'readers' }, roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'secret-reader' }, subjects: [{ kind: 'Group', apiGroup: RBAC_GROUP, name: 'readers' }] });
  const reader: UserInfo = { name: 'carol', groups: ['readers', 'system:authenticated'] };
  const secrets: Attributes = { isResourceRequest: true, verb: 'get', group: '', resource: 'secrets', subresource: '', namespace: 'default', name: 's' };
  await until(async () => (await authorize(authorizers, reader, secrets)).reason === 'RBAC: clusterrole.rbac.authorization.k8s.io "secret-reader" not found');
  await put('clusterroles', { metadata: { name: 'secret-reader' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }] });
  await until(async () => (await authorize(authorizers, reader, secrets)).allowed);
  await registry.store(RBAC_GROUP, 'clusterrolebindings')!.delete('', 'readers', {}, serverContext);
  await until(async () => !(await authorize(authorizers, reader, secrets)).allowed);
});

test('escalation: a role may only hold rules its author holds; escalate and bind lift the check', async () => {
  // alice: pods get/list/create/log in team (above) plus managing roles and bindings there.
  await put('roles', { metadata: { name: 'rbac-editor', namespace: 'team' }, rules: [{ verbs: ['create', 'update', 'get'], apiGroups: [RBAC_GROUP], resources: ['roles', 'rolebindings'] }] });
  await put('rolebindings', { metadata: { name: 'alice-rbac', namespace: 'team' }, roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name: 'rbac-editor' }, subjects: [{ kind: 'User', apiGroup: RBAC_GROUP, name: 'alice' }] });
  await until(async () => (await authorize(authorizers, alice, { isResourceRequest: true, verb: 'create', group: RBAC_GROUP, resource: 'roles', subresource: '', namespace: 'team', name: '' })).allowed);

  await put('roles', { metadata: { name: 'subset', namespace: 'team' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }] }, as(alice));
  await assert.rejects(
    put('roles', { metadata: { name: 'more', namespace: 'team' }, rules: [{ verbs: ['get', 'delete'], apiGroups: [''], resources: ['pods', 'secrets'] }] }, as(alice)),
    (e: Error & { status?: { code: number; message: string } }) => {
      assert.equal(e.status?.code, 403);
      assert.equal(e.status?.message, 'roles.rbac.authorization.k8s.io "more" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
        + '{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}\n{APIGroups:[""], Resources:["secrets"], Verbs:["get" "delete"]}');
      return true;
    });
  // Binding: the referenced role's rules must be held, or `bind` on it.
  const bindView = { metadata: { name: 'alice-view', namespace: 'team' }, roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', apiGroup: RBAC_GROUP, name: 'bob' }] };
  await assert.rejects(put('rolebindings', structuredClone(bindView), as(alice)), /is attempting to grant RBAC permissions not currently held/);
  await assert.rejects(put('rolebindings', { ...structuredClone(bindView), roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name: 'nope' } }, as(alice)), /roles.rbac.authorization.k8s.io "nope" not found/);
  await put('rolebindings', { metadata: { name: 'bob-subset', namespace: 'team' }, roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name: 'subset' }, subjects: [{ kind: 'User', apiGroup: RBAC_GROUP, name: 'bob' }] }, as(alice));
  await put('roles', { metadata: { name: 'binder', namespace: 'team' }, rules: [{ verbs: ['bind'], apiGroups: [RBAC_GROUP], resources: ['clusterroles'], resourceNames: ['cluster-admin'] }] });
  await put('rolebindings', { metadata: { name: 'alice-binder', namespace: 'team' }, roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name: 'binder' }, subjects: [{ kind: 'User', apiGroup: RBAC_GROUP, name: 'alice' }] });
  await until(async () => (await authorize(authorizers, alice, { isResourceRequest: true, verb: 'bind', group: RBAC_GROUP, resource: 'clusterroles', subresource: '', namespace: 'team', name: 'cluster-admin' })).allowed);
  await put('rolebindings', structuredClone(bindView), as(alice));
  // system:masters is never checked.
  await put('clusterroles', { metadata: { name: 'anything' }, rules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }] }, as({ name: 'root', groups: ['system:masters'] }));
});

test('reconciliation adds what a bootstrap role lacks and keeps what users added; autoupdate=false is left alone', () => {
  const want = { metadata: { name: 'r', labels: { a: '1' } }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }, { verbs: ['list'], apiGroups: [''], resources: ['pods'] }] };
  const cur = { metadata: { name: 'r', resourceVersion: '5' }, rules: [{ verbs: ['get', 'watch'], apiGroups: [''], resources: ['pods'] }] };
  const next = reconcileRole(cur, want)!;
  assert.deepEqual(next.rules, [{ verbs: ['get', 'watch'], apiGroups: [''], resources: ['pods'] }, { verbs: ['list'], apiGroups: [''], resources: ['pods'] }]);
  assert.deepEqual(next.metadata?.labels, { a: '1' });
  assert.equal(next.metadata?.resourceVersion, undefined);
  assert.equal(reconcileRole(next, want), undefined, 'nothing missing: no write');
  assert.equal(reconcileRole({ ...cur, metadata: { name: 'r', annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'false' } } }, want), undefined);
});
