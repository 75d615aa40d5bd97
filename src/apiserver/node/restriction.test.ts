// NodeRestriction over a real registry (SQLite datastore, watch caches): writes made as
// node n1 through the stores, as the handlers make them; what a node may change of its
// Node (labels, taints), of pods (mirror pods only, status and deletion of its own),
// of Leases and which tokens it may request. Also the graph populator following the
// pods cache (binding, deletion), and the bootstrap bindings' migration.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterRoleBinding } from 'kubernetes-types/rbac/v1.js';
import type { Datastore } from '../../datastore/types.js';
import { openSqliteDatastore } from '../../datastore/sqlite.js';
import { isStatusError } from '../../api/errors.js';
import { Registry } from '../registry.js';
import { serverContext } from '../bootstrap.js';
import type { StrategyContext } from '../strategies/types.js';
import type { Obj } from '../objects.js';
import type { UserInfo } from '../auth.js';
import { RBAC_GROUP } from '../rbac/policy-cache.js';
import { reconcileBootstrapPolicy } from '../rbac/reconcile.js';
import { forbiddenNodeLabels, nodeRestriction } from './restriction.js';
import { NodeGraph } from './graph.js';
import { NodeGraphPopulator } from './populator.js';

let dir: string;
let ds: Datastore;
let registry: Registry;
let graph: NodeGraph;
let populator: NodeGraphPopulator;

const n1: UserInfo = { name: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] };
const as = (user: UserInfo, subresource = ''): StrategyContext => ({ user, dryRun: false, subresource });
const store = (resource: string, group = '') => registry.store(group, resource)!;
const pod = (name: string, node: string | undefined, extra: Obj = {}): Obj => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', ...(extra.metadata ?? {}) },
  spec: { containers: [{ name: 'c', image: 'busybox' }], ...(node ? { nodeName: node } : {}), ...(extra.spec ?? {}) },
});

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jotasu-noderestriction-'));
  ds = await openSqliteDatastore(dir);
  registry = new Registry(ds, { serviceCIDR: '10.43.0.0/16' });
  await registry.start();
  registry.admission.push(nodeRestriction(async (resource, ns, name) => store(resource).get(ns, name)));
  graph = new NodeGraph();
  for (const ns of ['default', 'kube-system', 'kube-node-lease']) await registry.namespaces.create('', { metadata: { name: ns } }, serverContext);
  for (const n of ['n1', 'n2']) await store('nodes').create('', { metadata: { name: n, labels: { 'kubernetes.io/hostname': n } } }, serverContext);
  await store('pods').create('default', pod('mine', 'n1'), serverContext);
  await store('pods').create('default', pod('theirs', 'n2'), serverContext);
  populator = new NodeGraphPopulator(graph, store('pods').cache);
  await populator.ready();
});
after(async () => { populator.close(); registry.close(); await ds.close(); rmSync(dir, { recursive: true, force: true }); });

async function forbidden(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isStatusError(e), String(e));
    assert.equal(e.code, 403);
    assert.equal(e.status.message, message);
    return true;
  });
}
const patchNode = (name: string, change: (n: Obj) => void, subresource = '') =>
  store('nodes').update('', name, as(n1, subresource), (cur) => { const next = structuredClone(cur!); change(next); return next; });

test('label policy: node-restriction.kubernetes.io and unknown kubernetes.io/k8s.io labels are refused, the kubelet\'s own allowed', () => {
  assert.deepEqual(forbiddenNodeLabels({
    'node-restriction.kubernetes.io/pool': 'a', 'x.node-restriction.kubernetes.io/y': 'b', 'node-role.kubernetes.io/control-plane': 'true',
    'foo.k8s.io/bar': '1', 'kubernetes.io/hostname': 'n1', 'topology.kubernetes.io/zone': 'z', 'node.kubernetes.io/instance-type': 't',
    'kubelet.kubernetes.io/x': '1', 'sub.node.kubernetes.io/x': '1', 'example.com/team': 'a', plain: 'x',
  }, undefined), ['foo.k8s.io/bar', 'node-restriction.kubernetes.io/pool', 'node-role.kubernetes.io/control-plane', 'x.node-restriction.kubernetes.io/y']);
  // Removal and change count as modifications; unchanged labels do not.
  assert.deepEqual(forbiddenNodeLabels({ 'node-role.kubernetes.io/worker': '' }, { 'node-role.kubernetes.io/worker': '' }), []);
  assert.deepEqual(forbiddenNodeLabels({}, { 'node-role.kubernetes.io/worker': '' }), ['node-role.kubernetes.io/worker']);
});

test('a node may change its own Node only, not its taints nor restricted labels', async () => {
  await patchNode('n1', (n) => { n.metadata!.labels['example.com/team'] = 'a'; n.metadata!.labels['kubelet.kubernetes.io/x'] = 'y'; });
  await patchNode('n1', (n) => { n.status = { conditions: [{ type: 'Ready', status: 'True' }] }; }, 'status');
  await forbidden(patchNode('n2', (n) => { n.metadata!.labels.x = 'y'; }), 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"');
  await forbidden(patchNode('n2', (n) => { n.status = {}; }, 'status'), 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"');
  await forbidden(patchNode('n1', (n) => { n.metadata!.labels['node-restriction.kubernetes.io/pool'] = 'secure'; }),
    'nodes "n1" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/pool');
  await forbidden(patchNode('n1', (n) => { n.spec = { ...n.spec, taints: [{ key: 'k', effect: 'NoSchedule' }] }; }), 'nodes "n1" is forbidden: node "n1" is not allowed to modify taints');
  await forbidden(store('nodes').delete('', 'n2', {}, as(n1)), 'nodes "Unknown" is forbidden: node "n1" is not allowed to modify node "n2"');
});

test('a node registers itself with the kubelet\'s labels only', async () => {
  await forbidden(store('nodes').create('', { metadata: { name: 'n3' } }, as(n1)), 'nodes "n3" is forbidden: node "n1" is not allowed to modify node "n3"');
  await store('nodes').delete('', 'n1', {}, serverContext);
  await forbidden(store('nodes').create('', { metadata: { name: 'n1', labels: { 'node-role.kubernetes.io/master': 'true', 'kubernetes.io/os': 'linux' } } }, as(n1)),
    'nodes "n1" is forbidden: node "n1" is not allowed to set the following labels: node-role.kubernetes.io/master');
  await store('nodes').create('', { metadata: { name: 'n1', labels: { 'kubernetes.io/os': 'linux', 'node.kubernetes.io/instance-type': 'jotasu' } } }, as(n1));
});

test('pods: only mirror pods of its own that reference nothing; status and deletion of pods bound to it', async () => {
  const pods = store('pods');
  await forbidden(pods.create('default', pod('p', 'n1'), as(n1)), 'pods "p" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "n1" can only create mirror pods');
  const self = await store('nodes').get('', 'n1');
  const mirror = (name: string, spec: Obj = {}, owner: Obj = {}): Obj => pod(name, 'n1', {
    metadata: { annotations: { 'kubernetes.io/config.mirror': 'hash' }, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'n1', uid: self.metadata!.uid, controller: true, ...owner }] },
    spec,
  });
  await forbidden(pods.create('default', mirror('m1', { volumes: [{ name: 's', secret: { secretName: 'x' } }] }), as(n1)), 'pods "m1" is forbidden: node "n1" can not create pods that reference secrets');
  await forbidden(pods.create('default', mirror('m2', { serviceAccountName: 'default' }), as(n1)), 'pods "m2" is forbidden: node "n1" can not create pods that reference a service account');
  await forbidden(pods.create('default', mirror('m3', {}, { uid: 'not-the-node' }), as(n1)), 'pods "m3" is forbidden: node n1 UID mismatch: expected not-the-node got ' + self.metadata!.uid);
  await forbidden(pods.create('default', { ...mirror('m4'), spec: { ...mirror('m4').spec, nodeName: 'n2' } }, as(n1)), 'pods "m4" is forbidden: node "n1" can only create pods with spec.nodeName set to itself');

  const status = (name: string, change: (p: Obj) => void = (p) => { p.status = { phase: 'Running' }; }) =>
    pods.update('default', name, as(n1, 'status'), (cur) => { const next = structuredClone(cur!); change(next); return next; });
  await status('mine');
  await forbidden(status('theirs'), 'pods "theirs" is forbidden: node "n1" can only update pod status for pods with spec.nodeName set to itself');
  await forbidden(pods.delete('default', 'theirs', { gracePeriodSeconds: 0 }, as(n1)), 'pods "Unknown" is forbidden: node "n1" can only delete pods with spec.nodeName set to itself');
  await forbidden(pods.delete('default', 'theirs', {}, as(n1, 'eviction')), 'pods "Unknown" is forbidden: node n1 can only evict pods with spec.nodeName set to itself');
  await forbidden(pods.update('default', 'mine', as(n1), (cur) => ({ ...cur!, metadata: { ...cur!.metadata, labels: { a: 'b' } } })),
    'pods "mine" is forbidden: unexpected operation "UPDATE", node "n1" can only create and delete mirror pods');
});

test('leases: its own, in kube-node-lease', async () => {
  const leases = store('leases', 'coordination.k8s.io');
  const lease = (name: string, namespace = 'kube-node-lease'): Obj => ({ metadata: { name, namespace }, spec: { holderIdentity: name } });
  await leases.create('kube-node-lease', lease('n1'), as(n1));
  await forbidden(leases.create('kube-node-lease', lease('n2'), as(n1)), 'leases.coordination.k8s.io "n2" is forbidden: can only access node lease with the same name as the requesting node');
  await forbidden(leases.create('default', lease('n1', 'default'), as(n1)), 'leases.coordination.k8s.io "n1" is forbidden: can only access leases in the "kube-node-lease" system namespace');
});

test('tokens: bound to a pod the node runs, with its uid', async () => {
  const sa = store('serviceaccounts');
  const hook = registry.admission.at(-1)!;
  const mine = await store('pods').get('default', 'mine');
  const theirs = await store('pods').get('default', 'theirs');
  const tr = (ref?: Obj): Obj => ({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', metadata: { namespace: 'default' }, spec: { audiences: [], ...(ref ? { boundObjectRef: ref } : {}) } });
  const admit = (o: Obj) => Promise.resolve(hook('CREATE', sa, o, undefined, as(n1, 'token')));
  await admit(tr({ apiVersion: 'v1', kind: 'Pod', name: 'mine', uid: mine.metadata!.uid }));
  await forbidden(admit(tr()), 'serviceaccounts "Unknown" is forbidden: node requested token not bound to a pod');
  await forbidden(admit(tr({ apiVersion: 'v1', kind: 'Pod', name: 'mine' })), 'serviceaccounts "Unknown" is forbidden: node requested token with a pod binding without a uid');
  await forbidden(admit(tr({ apiVersion: 'v1', kind: 'Pod', name: 'mine', uid: 'old' })),
    `serviceaccounts "Unknown" is forbidden: the UID in the bound object reference (old) does not match the UID in record. The object might have been deleted and then recreated`);
  await forbidden(admit(tr({ apiVersion: 'v1', kind: 'Pod', name: 'theirs', uid: theirs.metadata!.uid })), 'serviceaccounts "Unknown" is forbidden: node requested token bound to a pod scheduled on a different node');
  await assert.rejects(admit(tr({ apiVersion: 'v1', kind: 'Pod', name: 'nope', uid: 'x' })), (e: unknown) => isStatusError(e, 'NotFound'));
});

test('others are not restricted', async () => {
  await store('pods').create('default', pod('by-admin', undefined), { user: { name: 'alice', groups: ['system:authenticated'] }, dryRun: false, subresource: '' });
  await store('pods').delete('default', 'by-admin', { gracePeriodSeconds: 0 }, serverContext);
});

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
}

test('the graph follows the pods cache: binding, status writes, deletion', async () => {
  assert.equal(graph.podNode('default', 'mine'), 'n1');
  const spec = { serviceAccountName: 'app', volumes: [{ name: 's', secret: { secretName: 'app-secret' } }] };
  await store('pods').create('default', pod('app', undefined, { spec }), serverContext);
  await store('pods').update('default', 'app', { ...serverContext, subresource: 'binding' }, (cur) => ({ ...cur!, spec: { ...cur!.spec, nodeName: 'n2' } }));
  await until('bound pod in the graph', () => graph.reaches('n2', 'secret', 'default', 'app-secret'));
  assert.equal(graph.reaches('n2', 'serviceaccount', 'default', 'app'), true);
  assert.equal(graph.reaches('n1', 'secret', 'default', 'app-secret'), false);
  await store('pods').delete('default', 'app', { gracePeriodSeconds: 0 }, serverContext);
  await until('deleted pod out of the graph', () => !graph.reaches('n2', 'secret', 'default', 'app-secret'));
  assert.equal(graph.podNode('default', 'app'), undefined);
});

test('the graph: pods created bound are in it, unbound ones are not (whatever keys they hold)', async () => {
  const spec = { serviceAccountName: 'app', volumes: [{ name: 's', secret: { secretName: 'bound-secret' } }] };
  // "nodeName" as a label key and an annotation value: the pod is still unbound.
  const meta = { labels: { nodeName: 'n1' }, annotations: { note: '"nodeName":"n1"' } };
  await store('pods').create('default', pod('loose', undefined, { metadata: meta, spec: { ...spec, volumes: [{ name: 's', secret: { secretName: 'loose-secret' } }] } }), serverContext);
  await store('pods').create('default', pod('placed', 'n1', { spec }), serverContext);
  await until('pod created bound in the graph', () => graph.reaches('n1', 'secret', 'default', 'bound-secret'));
  assert.equal(graph.podNode('default', 'placed'), 'n1');
  assert.equal(graph.podNode('default', 'loose'), undefined);
  assert.equal(graph.reaches('n1', 'secret', 'default', 'loose-secret'), false);
  await store('pods').delete('default', 'loose', { gracePeriodSeconds: 0 }, serverContext);
  await store('pods').delete('default', 'placed', { gracePeriodSeconds: 0 }, serverContext);
  await until('deleted pod out of the graph', () => !graph.reaches('n1', 'secret', 'default', 'bound-secret'));
});

test('bootstrap bindings: system:node bound to nobody, node-proxier to system:kube-proxy; system:nodes removed from earlier bindings', async () => {
  const crbs = store('clusterrolebindings', RBAC_GROUP);
  const subjects = async (name: string) => ((await crbs.get('', name)) as ClusterRoleBinding).subjects ?? [];
  // A binding written by an earlier version (system:nodes), plus a subject an administrator added.
  const earlier = (name: string): Obj => ({
    metadata: { name, annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' } },
    roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name },
    subjects: [{ apiGroup: RBAC_GROUP, kind: 'Group', name: 'system:nodes' }, { apiGroup: RBAC_GROUP, kind: 'User', name: 'ops' }],
  });
  await crbs.create('', earlier('system:node'), serverContext);
  await crbs.create('', earlier('system:node-proxier'), serverContext);
  await reconcileBootstrapPolicy(registry);
  assert.deepEqual((await subjects('system:node')).map((s) => s.name), ['ops']);
  assert.deepEqual((await subjects('system:node-proxier')).map((s) => s.name).sort(), ['ops', 'system:kube-proxy']);
  // RBAC alone: nodes get system:node through their group again.
  await reconcileBootstrapPolicy(registry, { nodeAuthorizer: false });
  assert.deepEqual((await subjects('system:node')).map((s) => s.name).sort(), ['ops', 'system:nodes']);
  await reconcileBootstrapPolicy(registry);
  assert.deepEqual((await subjects('system:node')).map((s) => s.name), ['ops']);
});
