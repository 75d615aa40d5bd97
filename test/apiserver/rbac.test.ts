// RBAC through real kubectl: users from a client certificate (alice) and from the token
// file (bob, group devs) are refused with upstream's 403 wording until a Role or
// ClusterRole is bound to them; `kubectl auth can-i` (SelfSubjectAccessReview),
// `can-i --list` (SelfSubjectRulesReview) and `auth whoami` answer as upstream; the
// bootstrap policy and the aggregated admin/edit/view roles exist; roles and bindings
// that grant more than their author holds are refused; a service account's token gets
// nothing beyond discovery until bound.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import { startCluster, type Cluster, type KubectlResult } from '../lib/cluster.js';
import { issueClientCert } from '../../src/apiserver/tls.js';
import { kubeconfigYaml } from '../../src/client/kubeconfig.js';

let c: Cluster;
let alice: string; // kubeconfig paths
let bob: string;

before(async () => {
  c = await startCluster();
  const tlsDir = join(c.dataDir, 'server', 'tls');
  const ca = { certPem: readFileSync(join(tlsDir, 'server-ca.crt'), 'utf8'), keyPem: readFileSync(join(tlsDir, 'server-ca.key'), 'utf8') };
  const kp = await issueClientCert(ca, 'alice', []);
  alice = join(c.dataDir, 'alice.kubeconfig');
  writeFileSync(alice, kubeconfigYaml({ server: c.url, caPem: ca.certPem, certPem: kp.certPem, keyPem: kp.keyPem }));
  // The server re-reads its token file when it changes.
  writeFileSync(join(c.dataDir, 'server', 'tokens'), 'bobs-secret-token,bob,1001,"devs"\n');
  bob = join(c.dataDir, 'bob.kubeconfig');
  writeFileSync(bob, kubeconfigYaml({ server: c.url, caPem: ca.certPem, token: 'bobs-secret-token' }));
});
after(async () => { await c?.stop(); });

const as = (kubeconfig: string, args: string[]): Promise<KubectlResult> => c.kubectl(args, { env: { KUBECONFIG: kubeconfig } });

async function admin(args: string[]): Promise<string> {
  const r = await c.kubectl(args);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** RBAC reads informer-like caches: a new binding takes effect a moment after it is written (as upstream). */
async function eventually(what: string, run: () => Promise<KubectlResult>, ok: (r: KubectlResult) => boolean): Promise<KubectlResult> {
  let r: KubectlResult | undefined;
  for (let i = 0; i < 50; i++) {
    r = await run();
    if (ok(r)) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.fail(`${what}: ${r!.code} ${r!.stdout} ${r!.stderr}`);
}

test('bootstrap policy: cluster roles and bindings as upstream, printed as kubectl prints them', async () => {
  const roles = await admin(['get', 'clusterroles']);
  assert.match(roles.split('\n')[0]!, /^NAME\s+CREATED AT$/);
  for (const r of ['cluster-admin', 'admin', 'edit', 'view', 'system:basic-user', 'system:discovery', 'system:public-info-viewer', 'system:node', 'system:node-proxier', 'system:kube-scheduler', 'system:kube-controller-manager']) {
    assert.match(roles, new RegExp(`^${r}\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`, 'm'), r);
  }
  const bindings = await admin(['get', 'clusterrolebindings', '-o', 'wide']);
  assert.match(bindings.split('\n')[0]!, /^NAME\s+ROLE\s+AGE\s+USERS\s+GROUPS\s+SERVICEACCOUNTS$/);
  assert.match(bindings, /^cluster-admin\s+ClusterRole\/cluster-admin\s+\S+\s+system:masters\s*$/m);
  // Nodes get their access from the Node authorizer: system:node is bound to nobody, as upstream.
  assert.match(bindings, /^system:node\s+ClusterRole\/system:node\s+\S+\s*$/m);
  assert.match(bindings, /^system:node-proxier\s+ClusterRole\/system:node-proxier\s+\S+\s+system:kube-proxy\s*$/m);
  const ca = JSON.parse(await admin(['get', 'clusterrole', 'cluster-admin', '-o', 'json']));
  assert.equal(ca.metadata.labels['kubernetes.io/bootstrapping'], 'rbac-defaults');
  assert.equal(ca.metadata.annotations['rbac.authorization.kubernetes.io/autoupdate'], 'true');
  // The aggregation controller fills admin, edit and view from system:aggregate-to-*; admin ⊇ edit ⊇ view.
  const rules = async (name: string) => JSON.parse((await c.kubectl(['get', 'clusterrole', name, '-o', 'json'])).stdout).rules ?? [];
  const view = await eventually('view aggregated', () => c.kubectl(['get', 'clusterrole', 'view', '-o', 'json']), (r) => (JSON.parse(r.stdout).rules ?? []).length > 0);
  assert.ok(JSON.parse(view.stdout).rules.some((r: { resources: string[]; verbs: string[] }) => r.resources.includes('pods') && r.verbs.includes('list')));
  await eventually('admin aggregated', () => c.kubectl(['get', 'clusterrole', 'admin', '-o', 'json']), (r) => (JSON.parse(r.stdout).rules ?? []).some((x: { resources: string[] }) => x.resources.includes('rolebindings')));
  const edit = await rules('edit');
  assert.ok(edit.some((r: { resources: string[] }) => r.resources.includes('pods/exec')), 'edit has pods/exec');
  assert.ok(edit.some((r: { resources: string[] }) => r.resources.includes('endpointslices')), 'edit includes view');
});

test('a client-certificate user is forbidden with upstream\'s message until a Role is bound; can-i follows', async () => {
  const denied = await as(alice, ['get', 'pods']);
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, /Error from server \(Forbidden\): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"/);
  const no = await as(alice, ['auth', 'can-i', 'list', 'pods']);
  assert.equal(no.stdout.trim(), 'no');
  assert.equal(no.code, 1);
  const who = await as(alice, ['auth', 'whoami']);
  assert.equal(who.code, 0, who.stderr);
  assert.match(who.stdout, /Username\s+alice/);
  assert.match(who.stdout, /Groups\s+\[system:authenticated\]/);

  await admin(['create', 'role', 'pod-reader', '--verb=get,list,watch', '--resource=pods']);
  await admin(['create', 'rolebinding', 'alice-reads-pods', '--role=pod-reader', '--user=alice']);
  const rb = await admin(['get', 'rolebinding', 'alice-reads-pods', '-o', 'wide']);
  assert.match(rb.split('\n')[0]!, /^NAME\s+ROLE\s+AGE\s+USERS\s+GROUPS\s+SERVICEACCOUNTS$/);
  assert.match(rb, /^alice-reads-pods\s+Role\/pod-reader\s+\S+\s+alice\s*$/m);
  await eventually('alice lists pods', () => as(alice, ['get', 'pods']), (r) => r.code === 0);
  assert.equal((await as(alice, ['auth', 'can-i', 'list', 'pods'])).stdout.trim(), 'yes');
  assert.equal((await as(alice, ['auth', 'can-i', 'delete', 'pods'])).stdout.trim(), 'no');
  assert.equal((await as(alice, ['auth', 'can-i', 'list', 'pods', '-n', 'kube-system'])).stdout.trim(), 'no');
  assert.equal((await as(alice, ['auth', 'can-i', 'create', 'pods/exec'])).stdout.trim(), 'no');
  const other = await as(alice, ['get', 'pods', '-n', 'kube-system']);
  assert.match(other.stderr, /pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "kube-system"/);
  const list = await as(alice, ['auth', 'can-i', '--list']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^Resources\s+Non-Resource URLs\s+Resource Names\s+Verbs$/m);
  assert.match(list.stdout, /^pods\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
  assert.match(list.stdout, /^selfsubjectaccessreviews\.authorization\.k8s\.io\s+\[\]\s+\[\]\s+\[create\]$/m);
  assert.match(list.stdout, /^\s+\[\/api\/\*\]\s+\[\]\s+\[get\]$/m);

  // Subresources and resource names.
  await admin(['create', 'role', 'exec-one', '--verb=create', '--resource=pods/exec', '--resource-name=web']);
  await admin(['create', 'rolebinding', 'alice-exec', '--role=exec-one', '--user=alice']);
  await eventually('can-i create pods/exec web', () => as(alice, ['auth', 'can-i', 'create', 'pod/web', '--subresource=exec']), (r) => r.stdout.trim() === 'yes');
  assert.equal((await as(alice, ['auth', 'can-i', 'create', 'pods', '--subresource=exec'])).stdout.trim(), 'no', 'no name: the named rule does not apply');
  assert.equal((await as(alice, ['auth', 'can-i', 'create', 'pod/other', '--subresource=exec'])).stdout.trim(), 'no');
});

test('the exec/log proxy asks the same authorizer', async () => {
  await admin(['run', 'quiet', '--image=busybox', '--overrides={"spec":{"schedulerName":"nobody"}}', '--', 'sleep', '3600']);
  // alice may read pods (above) but not their logs or exec into them.
  const logs = await as(alice, ['logs', 'quiet']);
  assert.match(logs.stderr, /pods "quiet" is forbidden: User "alice" cannot get resource "pods\/log" in API group "" in the namespace "default"/);
  const exec = await as(alice, ['exec', 'quiet', '--', 'true']);
  assert.notEqual(exec.code, 0);
  assert.match(exec.stderr, /forbidden: User "alice" cannot (get|create) resource "pods\/exec" in API group "" in the namespace "default"/);
  // Admin gets past authorization to the next check: the pod is not on a node.
  const adminLogs = await c.kubectl(['logs', 'quiet']);
  assert.doesNotMatch(adminLogs.stderr, /forbidden/);
  await admin(['delete', 'pod', 'quiet', '--grace-period=0']);
});

test('a token-file user in a group: a ClusterRoleBinding to the group, non-resource URLs', async () => {
  const denied = await as(bob, ['get', 'deployments', '-A']);
  assert.match(denied.stderr, /deployments\.apps is forbidden: User "bob" cannot list resource "deployments" in API group "apps" at the cluster scope/);
  const raw = await as(bob, ['get', '--raw', '/logs']);
  assert.match(raw.stderr, /forbidden: User "bob" cannot get path "\/logs"/);
  assert.equal((await as(bob, ['get', '--raw', '/version'])).code, 0, 'system:public-info-viewer');
  await admin(['create', 'clusterrolebinding', 'devs-view', '--clusterrole=view', '--group=devs']);
  await eventually('bob lists deployments everywhere', () => as(bob, ['get', 'deployments', '-A']), (r) => r.code === 0);
  assert.equal((await as(bob, ['auth', 'can-i', 'list', 'secrets'])).stdout.trim(), 'no', 'view does not include secrets');
  const whoami = await as(bob, ['auth', 'whoami', '-o', 'json']);
  const ui = JSON.parse(whoami.stdout).status.userInfo;
  assert.equal(ui.username, 'bob');
  assert.equal(ui.uid, '1001');
  assert.deepEqual(ui.groups, ['devs', 'system:authenticated']);
  // A binding to a role that does not exist: the denial names it (upstream's RBAC reason).
  await admin(['create', 'clusterrolebinding', 'devs-missing', '--clusterrole=no-such-role', '--group=devs']);
  const why = await eventually('reason names the missing role', () => as(bob, ['get', 'secrets']), (r) => /no-such-role/.test(r.stderr));
  assert.match(why.stderr, /secrets is forbidden: User "bob" cannot list resource "secrets" in API group "" in the namespace "default": RBAC: clusterrole\.rbac\.authorization\.k8s\.io "no-such-role" not found/);
});

test('escalation: roles and bindings grant only what their author holds, unless escalate/bind', async () => {
  await admin(['create', 'namespace', 'team']);
  // Not '*': that would include escalate and bind.
  await admin(['create', 'role', 'rbac-manager', '-n', 'team', '--verb=create,get,list,update,patch,delete', '--resource=roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io']);
  await admin(['create', 'role', 'cm-reader', '-n', 'team', '--verb=get,list', '--resource=configmaps']);
  await admin(['create', 'rolebinding', 'alice-rbac', '-n', 'team', '--role=rbac-manager', '--user=alice']);
  await admin(['create', 'rolebinding', 'alice-cm', '-n', 'team', '--role=cm-reader', '--user=alice']);
  await eventually('alice manages roles in team', () => as(alice, ['auth', 'can-i', 'create', 'roles', '-n', 'team']), (r) => r.stdout.trim() === 'yes');

  const esc = await as(alice, ['create', 'role', 'secret-reader', '-n', 'team', '--verb=get', '--resource=secrets']);
  assert.notEqual(esc.code, 0);
  assert.match(esc.stderr, /roles\.rbac\.authorization\.k8s\.io "secret-reader" is forbidden: user "alice" \(groups=\["system:authenticated"\]\) is attempting to grant RBAC permissions not currently held:\n\{APIGroups:\[""\], Resources:\["secrets"\], Verbs:\["get"\]\}/);
  const fine = await as(alice, ['create', 'role', 'cm-lister', '-n', 'team', '--verb=list', '--resource=configmaps']);
  assert.equal(fine.code, 0, fine.stderr);
  const bindOwn = await as(alice, ['create', 'rolebinding', 'bob-cm', '-n', 'team', '--role=cm-lister', '--user=bob']);
  assert.equal(bindOwn.code, 0, bindOwn.stderr);
  const bindEdit = await as(alice, ['create', 'rolebinding', 'bob-edit', '-n', 'team', '--clusterrole=edit', '--user=bob']);
  assert.notEqual(bindEdit.code, 0);
  assert.match(bindEdit.stderr, /rolebindings\.rbac\.authorization\.k8s\.io "bob-edit" is forbidden: user "alice" \(groups=\["system:authenticated"\]\) is attempting to grant RBAC permissions not currently held:/);
  // `bind` on that one ClusterRole lets her bind it in her namespace.
  await admin(['create', 'role', 'may-bind-edit', '-n', 'team', '--verb=bind', '--resource=clusterroles.rbac.authorization.k8s.io', '--resource-name=edit']);
  await admin(['create', 'rolebinding', 'alice-bind', '-n', 'team', '--role=may-bind-edit', '--user=alice']);
  await eventually('alice binds edit', () => as(alice, ['create', 'rolebinding', 'bob-edit', '-n', 'team', '--clusterrole=edit', '--user=bob']), (r) => r.code === 0);
  // The roleRef of a binding is immutable.
  const patch = await c.kubectl(['patch', 'rolebinding', 'bob-edit', '-n', 'team', '--type=merge', '-p', '{"roleRef":{"name":"view"}}']);
  assert.match(patch.stderr, /roleRef: Invalid value: .*cannot change roleRef/);
});

test('validation of roles and bindings as upstream', async () => {
  const bad = await c.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'bad', namespace: 'default' },
      rules: [{ verbs: [], apiGroups: [''], resources: ['pods'] }, { verbs: ['get'], nonResourceURLs: ['/x'] }],
    }),
  });
  assert.match(bad.stderr, /rules\[0\]\.verbs: Required value: verbs must contain at least one value/);
  assert.match(bad.stderr, /rules\[1\]\.nonResourceURLs: Invalid value: \[\]string\{"\/x"\}: namespaced rules cannot apply to non-resource URLs/);
  const badBinding = await c.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'bad' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'x' },
      subjects: [{ kind: 'ServiceAccount', name: 'default' }, { kind: 'Robot', name: 'r2' }],
    }),
  });
  assert.match(badBinding.stderr, /roleRef\.kind: Unsupported value: "Role": supported values: "ClusterRole"/);
  assert.match(badBinding.stderr, /subjects\[0\]\.namespace: Required value/);
  assert.match(badBinding.stderr, /subjects\[1\]\.kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"/);
});

/** A raw request with the admin certificate. */
function post(path: string, body: unknown): Promise<{ code: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const t = c.tlsOptions();
  return new Promise((resolve, reject) => {
    const req = request(`${c.url}${path}`, { method: 'POST', ca: t.ca, cert: t.cert, key: t.key, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let s = '';
      res.on('data', (d: Buffer) => { s += d.toString(); });
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body: JSON.parse(s) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

test('SubjectAccessReview and LocalSubjectAccessReview answer for another user', async () => {
  const sar = await post('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
    spec: { user: 'alice', groups: ['system:authenticated'], resourceAttributes: { namespace: 'default', verb: 'list', resource: 'pods' } },
  });
  assert.equal(sar.code, 201);
  assert.equal(sar.body.status.allowed, true);
  assert.equal(sar.body.status.reason, 'RBAC: allowed by RoleBinding "alice-reads-pods/default" of Role "pod-reader" to User "alice"');
  const lsar = await post('/apis/authorization.k8s.io/v1/namespaces/kube-system/localsubjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1', kind: 'LocalSubjectAccessReview',
    spec: { user: 'alice', resourceAttributes: { verb: 'list', resource: 'pods' } },
  });
  assert.equal(lsar.code, 201);
  assert.equal(lsar.body.status.allowed, false);
  assert.equal(lsar.body.spec.resourceAttributes.namespace, 'kube-system');
  const mismatch = await post('/apis/authorization.k8s.io/v1/namespaces/kube-system/localsubjectaccessreviews', {
    spec: { user: 'alice', resourceAttributes: { namespace: 'default', verb: 'list', resource: 'pods' } },
  });
  assert.equal(mismatch.code, 400);
  assert.equal(mismatch.body.message, 'spec.resourceAttributes.namespace must match namespace: kube-system');
  const empty = await post('/apis/authorization.k8s.io/v1/subjectaccessreviews', { spec: { resourceAttributes: { verb: 'get', resource: 'pods' } } });
  assert.equal(empty.code, 422);
  assert.match(empty.body.message, /spec\.user: Invalid value: "": at least one of user or group must be specified/);
  // Create-only: no list, and discovery says so.
  const api = JSON.parse(await admin(['get', '--raw', '/apis/authorization.k8s.io/v1']));
  assert.deepEqual(api.resources.find((r: { name: string }) => r.name === 'selfsubjectaccessreviews').verbs, ['create']);
  const rbacRes = JSON.parse(await admin(['get', '--raw', '/apis/rbac.authorization.k8s.io/v1'])).resources.map((r: { name: string }) => r.name);
  assert.deepEqual(rbacRes, ['clusterrolebindings', 'clusterroles', 'rolebindings', 'roles']);
});

test('a service account\'s token gets nothing beyond discovery until bound (403, then 200 after a RoleBinding)', async () => {
  const token = (await admin(['create', 'token', 'default'])).trim();
  const get = (path: string): Promise<{ code: number; body: string }> => new Promise((resolve, reject) => {
    const req = request(`${c.url}${path}`, { ca: c.tlsOptions().ca, headers: { Authorization: `Bearer ${token}` } }, (res) => {
      let s = '';
      res.on('data', (d: Buffer) => { s += d.toString(); });
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body: s }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal((await get('/apis')).code, 200, 'system:discovery');
  const denied = await get('/api/v1/namespaces/default/secrets');
  assert.equal(denied.code, 403);
  const st = JSON.parse(denied.body);
  assert.equal(st.reason, 'Forbidden');
  assert.equal(st.message, 'secrets is forbidden: User "system:serviceaccount:default:default" cannot list resource "secrets" in API group "" in the namespace "default"');
  assert.deepEqual(st.details, { kind: 'secrets' });
  await admin(['create', 'role', 'secret-lister', '--verb=list', '--resource=secrets']);
  await admin(['create', 'rolebinding', 'sa-lists-secrets', '--role=secret-lister', '--serviceaccount=default:default']);
  let code = 0;
  for (let i = 0; i < 50 && code !== 200; i++) {
    code = (await get('/api/v1/namespaces/default/secrets')).code;
    if (code !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(code, 200);
  assert.equal((await get('/api/v1/namespaces/kube-system/secrets')).code, 403);
});

test('kubectl auth reconcile creates and extends roles and bindings', async () => {
  const manifest = (verbs: string[]) => [
    'apiVersion: rbac.authorization.k8s.io/v1', 'kind: Role', 'metadata: {name: reconciled, namespace: default}',
    `rules: [{apiGroups: [""], resources: [configmaps], verbs: [${verbs.join(', ')}]}]`, '---',
    'apiVersion: rbac.authorization.k8s.io/v1', 'kind: RoleBinding', 'metadata: {name: reconciled, namespace: default}',
    'roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reconciled}', 'subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: dave}]', '',
  ].join('\n');
  const first = await c.kubectl(['auth', 'reconcile', '-f', '-'], { input: manifest(['get']) });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /role\.rbac\.authorization\.k8s\.io\/reconciled reconciled/);
  const second = await c.kubectl(['auth', 'reconcile', '-f', '-'], { input: manifest(['list']) });
  assert.equal(second.code, 0, second.stderr);
  const role = JSON.parse(await admin(['get', 'role', 'reconciled', '-o', 'json']));
  const verbs = role.rules.flatMap((r: { verbs: string[] }) => r.verbs).sort();
  assert.deepEqual(verbs, ['get', 'list'], 'reconcile adds, does not remove');
  const sar = await post('/apis/authorization.k8s.io/v1/subjectaccessreviews', { spec: { user: 'dave', resourceAttributes: { namespace: 'default', verb: 'list', resource: 'configmaps' } } });
  assert.equal(sar.code, 201);
});

test('impersonation: kubectl --as needs the impersonate verb; the request then runs as that user', async () => {
  assert.equal((await admin(['auth', 'can-i', 'list', 'pods', '--as', 'alice'])).trim(), 'yes');
  assert.equal((await c.kubectl(['auth', 'can-i', 'delete', 'pods', '--as', 'alice'])).stdout.trim(), 'no');
  const who = JSON.parse(await admin(['auth', 'whoami', '--as', 'system:serviceaccount:team:robot', '-o', 'json'])).status.userInfo;
  assert.deepEqual(who, { username: 'system:serviceaccount:team:robot', groups: ['system:serviceaccounts', 'system:serviceaccounts:team', 'system:authenticated'] });
  const denied = await as(alice, ['get', 'pods', '--as', 'bob']);
  assert.match(denied.stderr, /users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope/);
  await admin(['create', 'clusterrole', 'impersonate-bob', '--verb=impersonate', '--resource=users', '--resource-name=bob']);
  await admin(['create', 'clusterrolebinding', 'alice-as-bob', '--clusterrole=impersonate-bob', '--user=alice']);
  // bob (as impersonated, without his token's group) holds nothing in default: a 403 naming bob.
  const asBob = await eventually('alice acts as bob', () => as(alice, ['get', 'pods', '--as', 'bob']), (r) => /User "bob"/.test(r.stderr));
  assert.match(asBob.stderr, /pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default"/);
  const groups = await as(alice, ['get', 'pods', '--as', 'bob', '--as-group', 'devs']);
  assert.match(groups.stderr, /groups "devs" is forbidden: User "alice" cannot impersonate resource "groups"/);
});
