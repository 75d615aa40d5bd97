// The Node authorizer's decisions for requests as they arrive (method + URL through
// RequestInfo and the authorization attributes): secrets, configmaps and tokens through
// the graph, the node's own Node and Lease by name, pods by spec.nodeName selector or
// binding, the static node rules for the rest, no opinion for other users; and
// upstream's 403 wording once the union of authorizers has said no.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { NodeGraph } from './graph.js';
import { nodeAuthorizer, nodeIdentity } from './authorizer.js';
import { authorizationInfo, parseRequestInfo } from '../request-info.js';
import { authorize, forbiddenMessage, privilegedGroups, type Decision, type UserInfo } from '../auth.js';

const n1: UserInfo = { name: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] };
const graph = new NodeGraph();
graph.setPod({
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    nodeName: 'n1', serviceAccountName: 'web-sa', containers: [{ name: 'c', image: 'x', envFrom: [{ configMapRef: { name: 'web-config' } }] }],
    volumes: [{ name: 's', secret: { secretName: 'web-tls' } }],
  },
} as Pod);
graph.setPod({ metadata: { name: 'db', namespace: 'default' }, spec: { nodeName: 'n2', containers: [{ name: 'c', image: 'x' }], volumes: [{ name: 's', secret: { secretName: 'db-password' } }] } } as Pod);
const authz = nodeAuthorizer(graph);

function decide(method: string, url: string, user: UserInfo = n1): Decision {
  const u = new URL(url, 'https://x');
  return authz(user, authorizationInfo(parseRequestInfo(method, u.pathname, u.searchParams), u.searchParams)) as Decision;
}
const allowed = (method: string, url: string, user?: UserInfo) => assert.equal(decide(method, url, user).allowed, true, `${method} ${url}`);
function noOpinion(method: string, url: string, reason?: string): void {
  const d = decide(method, url);
  assert.equal(d.allowed, false, `${method} ${url}`);
  assert.equal(d.denied, undefined, 'the Node authorizer never denies outright');
  assert.equal(d.reason, reason, `${method} ${url}`);
}
const unrelated = "no relationship found between node 'n1' and this object";

test('node identity: system:node:NAME in group system:nodes, nobody else', () => {
  assert.equal(nodeIdentity(n1), 'n1');
  assert.equal(nodeIdentity({ name: 'system:node:n1', groups: ['system:authenticated'] }), undefined);
  assert.equal(nodeIdentity({ name: 'alice', groups: ['system:nodes'] }), undefined);
  assert.equal(nodeIdentity({ name: 'system:node:', groups: ['system:nodes'] }), '');
  const other = { name: 'alice', groups: ['system:authenticated'] };
  assert.deepEqual(decide('GET', '/api/v1/namespaces/default/secrets/web-tls', other), { allowed: false });
  assert.equal(decide('GET', '/api/v1/services', { name: 'system:node:', groups: ['system:nodes'] }).reason, 'unknown node for user "system:node:"');
});

test('secrets and configmaps: get, list and watch of one object a pod on the node references', () => {
  allowed('GET', '/api/v1/namespaces/default/secrets/web-tls');
  allowed('GET', '/api/v1/namespaces/default/configmaps/web-config');
  // The kubelet's per-object watch: the name comes from the metadata.name field selector.
  allowed('GET', '/api/v1/namespaces/default/secrets?fieldSelector=metadata.name%3Dweb-tls');
  allowed('GET', '/api/v1/namespaces/default/secrets?fieldSelector=metadata.name%3Dweb-tls&watch=true&resourceVersion=5');
  noOpinion('GET', '/api/v1/namespaces/default/secrets/db-password', unrelated);
  noOpinion('GET', '/api/v1/namespaces/kube-system/secrets/web-tls', unrelated);
  noOpinion('GET', '/api/v1/namespaces/default/secrets/nothing-references-me', unrelated);
  noOpinion('GET', '/api/v1/namespaces/default/secrets', 'No Object name found');
  noOpinion('GET', '/api/v1/secrets', 'can only read namespaced object of this type');
  noOpinion('GET', '/api/v1/namespaces/default/secrets?fieldSelector=metadata.name%3Ddb-password', unrelated);
  noOpinion('PUT', '/api/v1/namespaces/default/secrets/web-tls', 'can only read resources of this type');
  noOpinion('DELETE', '/api/v1/namespaces/default/configmaps/web-config', 'can only read resources of this type');
});

test('service-account tokens: only for the service accounts of pods on the node', () => {
  allowed('POST', '/api/v1/namespaces/default/serviceaccounts/web-sa/token');
  noOpinion('POST', '/api/v1/namespaces/default/serviceaccounts/default/token', unrelated);
  noOpinion('GET', '/api/v1/namespaces/default/serviceaccounts/web-sa', 'can only create tokens for individual service accounts');
});

test('nodes: its own by name; create, update and patch are NodeRestriction\'s to check', () => {
  allowed('GET', '/api/v1/nodes/n1');
  allowed('GET', '/api/v1/nodes?fieldSelector=metadata.name%3Dn1&watch=1');
  noOpinion('GET', '/api/v1/nodes/n2', "node 'n1' cannot read 'n2', only its own Node object");
  noOpinion('GET', '/api/v1/nodes', "node 'n1' cannot read all nodes, only its own Node object");
  allowed('POST', '/api/v1/nodes');
  allowed('PATCH', '/api/v1/nodes/n2');
  allowed('PATCH', '/api/v1/nodes/n1/status');
  noOpinion('DELETE', '/api/v1/nodes/n1');
  noOpinion('GET', '/api/v1/nodes/n1/proxy/metrics');
});

test('pods: listed by spec.nodeName, read when bound to the node; status, eviction, create and delete pass to NodeRestriction', () => {
  allowed('GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dn1');
  allowed('GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dn1&watch=true');
  noOpinion('GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dn2', 'can only list/watch pods with spec.nodeName field selector');
  noOpinion('GET', '/api/v1/pods', 'can only list/watch pods with spec.nodeName field selector');
  allowed('GET', '/api/v1/namespaces/default/pods/web');
  noOpinion('GET', '/api/v1/namespaces/default/pods/db', unrelated);
  allowed('PATCH', '/api/v1/namespaces/default/pods/web/status');
  allowed('POST', '/api/v1/namespaces/default/pods/web/eviction');
  allowed('DELETE', '/api/v1/namespaces/default/pods/web');
  allowed('POST', '/api/v1/namespaces/default/pods');
  noOpinion('PUT', '/api/v1/namespaces/default/pods/web');
  noOpinion('POST', '/api/v1/namespaces/default/pods/web/binding');
});

test('leases: its own in kube-node-lease', () => {
  allowed('GET', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1');
  allowed('PUT', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1');
  allowed('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases');
  noOpinion('PUT', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n2', 'can only access node lease with the same name as the requesting node');
  noOpinion('GET', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/n1', 'can only access leases in the "kube-node-lease" system namespace');
  noOpinion('GET', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', 'can only get, create, update, patch, or delete a node lease');
});

test('everything else against the static node rules', () => {
  allowed('GET', '/api/v1/services?watch=true');
  allowed('POST', '/api/v1/namespaces/default/events');
  allowed('PATCH', '/api/v1/namespaces/default/events/x');
  allowed('GET', '/api/v1/namespaces/default/endpoints/kubernetes');
  allowed('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews');
  noOpinion('GET', '/apis/apps/v1/deployments');
  noOpinion('GET', '/api/v1/namespaces/default/persistentvolumeclaims/data', unrelated);
  noOpinion('GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles');
});

test('a refused node request reads as upstream\'s 403', async () => {
  const u = new URL('/api/v1/namespaces/default/secrets/x', 'https://x');
  const attrs = authorizationInfo(parseRequestInfo('GET', u.pathname, u.searchParams), u.searchParams);
  const d = await authorize([privilegedGroups, authz], n1, attrs);
  assert.equal(d.allowed, false);
  assert.equal(forbiddenMessage(n1, attrs, d.reason),
    'secrets "x" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between node \'n1\' and this object');
});
