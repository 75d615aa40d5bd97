// The Node authorizer and NodeRestriction through real kubectl, as node n1 (a client
// certificate CN=system:node:n1, O=system:nodes signed by the cluster CA, as the join
// endpoint issues): a node reads the secrets, configmaps and service-account tokens of
// pods bound to it and nothing else, with upstream's 403 wording; it reads and changes
// its own Node only, and may not give itself restricted labels; access ends with the
// pod. The service proxy's identity (system:kube-proxy) reads what a proxy needs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, type Cluster, type KubectlResult } from '../lib/cluster.js';
import { issueClientCert } from '../../src/apiserver/tls.js';
import { kubeconfigYaml } from '../../src/client/kubeconfig.js';

let c: Cluster;
let n1: string; // kubeconfig paths
let proxy: string;

before(async () => {
  c = await startCluster();
  const tlsDir = join(c.dataDir, 'server', 'tls');
  const ca = { certPem: readFileSync(join(tlsDir, 'server-ca.crt'), 'utf8'), keyPem: readFileSync(join(tlsDir, 'server-ca.key'), 'utf8') };
  const kubeconfig = async (cn: string, groups: string[], file: string): Promise<string> => {
    const kp = await issueClientCert(ca, cn, groups);
    const path = join(c.dataDir, file);
    writeFileSync(path, kubeconfigYaml({ server: c.url, caPem: ca.certPem, certPem: kp.certPem, keyPem: kp.keyPem }));
    return path;
  };
  n1 = await kubeconfig('system:node:n1', ['system:nodes'], 'n1.kubeconfig');
  proxy = await kubeconfig('system:kube-proxy', [], 'proxy.kubeconfig');
  await admin(['create', 'secret', 'generic', 'web-tls', '--from-literal=k=v']);
  await admin(['create', 'secret', 'generic', 'x', '--from-literal=k=v']);
  await admin(['create', 'configmap', 'web-config', '--from-literal=k=v']);
  await admin(['create', 'serviceaccount', 'web-sa']);
  await admin(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' },
    spec: {
      nodeName: 'n1', serviceAccountName: 'web-sa',
      containers: [{ name: 'c', image: 'busybox', envFrom: [{ configMapRef: { name: 'web-config' } }] }],
      volumes: [{ name: 'tls', secret: { secretName: 'web-tls' } }],
    },
  }));
  for (const n of ['n1', 'n2']) await admin(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: n } }));
});
after(async () => { await c?.stop(); });

const as = (kubeconfig: string, args: string[], input?: string): Promise<KubectlResult> => c.kubectl(args, { env: { KUBECONFIG: kubeconfig }, input });

async function admin(args: string[], input?: string): Promise<string> {
  const r = await c.kubectl(args, { input });
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function ok(kubeconfig: string, args: string[]): Promise<string> {
  const r = await as(kubeconfig, args);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function refused(kubeconfig: string, args: string[], message: string, input?: string, prefix = 'Error from server (Forbidden): '): Promise<void> {
  const r = await as(kubeconfig, args, input);
  assert.notEqual(r.code, 0, `kubectl ${args.join(' ')} should fail: ${r.stdout}`);
  assert.equal(r.stderr.trim(), `${prefix}${message}`);
}

test('a node gets the secrets and configmaps of pods bound to it, and no others', async () => {
  assert.match(await ok(n1, ['get', 'secret', 'web-tls', '-o', 'name']), /^secret\/web-tls$/m);
  assert.match(await ok(n1, ['get', 'configmap', 'web-config', '-o', 'jsonpath={.data.k}']), /^v$/);
  await refused(n1, ['get', 'secret', 'x'],
    'secrets "x" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between node \'n1\' and this object');
  await refused(n1, ['get', 'secrets'],
    'secrets is forbidden: User "system:node:n1" cannot list resource "secrets" in API group "" in the namespace "default": No Object name found');
  await refused(n1, ['get', 'secret', 'web-tls', '-n', 'kube-system'],
    'secrets "web-tls" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "kube-system": no relationship found between node \'n1\' and this object');
  // A list selecting one related object by name is allowed (the kubelet's per-object watch).
  assert.match(await ok(n1, ['get', 'secrets', '--field-selector', 'metadata.name=web-tls', '-o', 'name']), /^secret\/web-tls$/m);
  await refused(n1, ['delete', 'secret', 'web-tls'],
    'secrets "web-tls" is forbidden: User "system:node:n1" cannot delete resource "secrets" in API group "" in the namespace "default": can only read resources of this type');
  assert.equal((await as(n1, ['auth', 'can-i', 'get', 'secret/web-tls'])).stdout.trim(), 'yes');
  assert.equal((await as(n1, ['auth', 'can-i', 'get', 'secret/x'])).stdout.trim(), "no - no relationship found between node 'n1' and this object");
});

test('a node gets tokens for the service accounts of its pods, bound to the pod', async () => {
  const uid = (await admin(['get', 'pod', 'web', '-o', 'jsonpath={.metadata.uid}'])).trim();
  const token = await ok(n1, ['create', 'token', 'web-sa', '--bound-object-kind', 'Pod', '--bound-object-name', 'web', '--bound-object-uid', uid]);
  assert.match(token.trim(), /^ey[\w-]+\.[\w-]+\.[\w-]+$/);
  await refused(n1, ['create', 'token', 'web-sa'], 'serviceaccounts "Unknown" is forbidden: node requested token not bound to a pod', undefined, 'error: failed to create token: ');
  await refused(n1, ['create', 'token', 'default'],
    'serviceaccounts "default" is forbidden: User "system:node:n1" cannot create resource "serviceaccounts/token" in API group "" in the namespace "default": no relationship found between node \'n1\' and this object', undefined, 'error: failed to create token: ');
});

test('a node reads and changes its own Node only, and may not label itself with restricted labels', async () => {
  assert.match(await ok(n1, ['get', 'node', 'n1', '-o', 'name']), /^node\/n1$/m);
  await refused(n1, ['get', 'node', 'n2'],
    'nodes "n2" is forbidden: User "system:node:n1" cannot get resource "nodes" in API group "" at the cluster scope: node \'n1\' cannot read \'n2\', only its own Node object');
  await refused(n1, ['get', 'nodes'],
    'nodes is forbidden: User "system:node:n1" cannot list resource "nodes" in API group "" at the cluster scope: node \'n1\' cannot read all nodes, only its own Node object');
  // kubectl patch and label read the object first, which the Node authorizer refuses; a
  // replace writes at once, and NodeRestriction refuses it.
  await refused(n1, ['patch', 'node', 'n2', '--type', 'merge', '-p', '{"metadata":{"labels":{"owned":"by-n1"}}}'],
    'nodes "n2" is forbidden: User "system:node:n1" cannot get resource "nodes" in API group "" at the cluster scope: node \'n1\' cannot read \'n2\', only its own Node object');
  await refused(n1, ['replace', '-f', '-'], 'error when replacing "STDIN": nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"',
    JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n2', labels: { owned: 'by-n1' } } }), 'Error from server (Forbidden): ');
  await refused(n1, ['label', 'node', 'n1', 'node-restriction.kubernetes.io/pool=secure'],
    'nodes "n1" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/pool');
  await refused(n1, ['label', 'node', 'n1', 'node-role.kubernetes.io/control-plane='],
    'nodes "n1" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/control-plane');
  await refused(n1, ['taint', 'node', 'n1', 'dedicated=n1:NoSchedule'], 'nodes "n1" is forbidden: node "n1" is not allowed to modify taints');
  await ok(n1, ['label', 'node', 'n1', 'example.com/team=web', 'node.kubernetes.io/exclude-from-external-load-balancers=']);
  // Administrators still may.
  await admin(['label', 'node', 'n1', 'node-restriction.kubernetes.io/pool=secure']);
  assert.equal((await admin(['get', 'node', 'n1', '-o', 'jsonpath={.metadata.labels.example\\.com/team}'])).trim(), 'web');
});

test('the pods of a node: listed by spec.nodeName, status written for its own only', async () => {
  assert.match(await ok(n1, ['get', 'pods', '-A', '--field-selector', 'spec.nodeName=n1', '-o', 'name']), /^pod\/web$/m);
  await refused(n1, ['get', 'pods', '-A'],
    'pods is forbidden: User "system:node:n1" cannot list resource "pods" in API group "" at the cluster scope: can only list/watch pods with spec.nodeName field selector');
  await admin(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'db', namespace: 'default' }, spec: { nodeName: 'n2', containers: [{ name: 'c', image: 'busybox' }] } }));
  // Status as the kubelet writes it: a PUT of pods/status (a node may not read pods/status, so no kubectl patch).
  const web = JSON.parse(await ok(n1, ['get', 'pod', 'web', '-o', 'json']));
  web.status = { ...web.status, message: 'n1 was here' };
  const put = await as(n1, ['replace', '--subresource', 'status', '-f', '-'], JSON.stringify(web));
  assert.equal(put.code, 0, put.stderr);
  assert.equal((await admin(['get', 'pod', 'web', '-o', 'jsonpath={.status.message}'])).trim(), 'n1 was here');
  const db = JSON.parse(await admin(['get', 'pod', 'db', '-o', 'json']));
  db.status = { ...db.status, message: 'n1 was here' };
  await refused(n1, ['replace', '--subresource', 'status', '-f', '-'],
    'error when replacing "STDIN": pods "db" is forbidden: node "n1" can only update pod status for pods with spec.nodeName set to itself', JSON.stringify(db));
  await refused(n1, ['delete', 'pod', 'db'], 'pods "Unknown" is forbidden: node "n1" can only delete pods with spec.nodeName set to itself');
});

test('the service proxy\'s identity reads services, endpoint slices and nodes, and no secrets', async () => {
  await ok(proxy, ['get', 'services', '-A']);
  await ok(proxy, ['get', 'endpointslices', '-A']);
  await ok(proxy, ['get', 'nodes']);
  const r = await as(proxy, ['get', 'secret', 'web-tls']);
  assert.match(r.stderr, /secrets "web-tls" is forbidden: User "system:kube-proxy" cannot get resource "secrets"/);
});

test('the access ends with the pod', async () => {
  await admin(['delete', 'pod', 'web', '--grace-period=0', '--force']);
  // The graph follows the pods cache: a moment after the deletion.
  let r: KubectlResult | undefined;
  for (let i = 0; i < 50; i++) {
    r = await as(n1, ['get', 'secret', 'web-tls']);
    if (r.code !== 0) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.match(r!.stderr, /no relationship found between node 'n1' and this object/);
});
