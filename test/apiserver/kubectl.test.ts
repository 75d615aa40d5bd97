// Acceptance: the real kubectl drives the server as it would a kube-apiserver.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { startCluster, type Cluster } from '../lib/cluster.js';

const SEED = new URL('../../../shared/seed/webapp.yaml', import.meta.url).pathname;
let c: Cluster;
let tmp: string;
before(async () => { c = await startCluster(); tmp = mkdtempSync(join(tmpdir(), 'jotasu-kubectl-')); });
after(async () => { await c?.stop(); rmSync(tmp, { recursive: true, force: true }); });

const ok = (args: string[], input?: string, env?: Record<string, string>): Promise<string> => c.kubectlOk(args, { input, env });
const fails = (args: string[], input?: string): Promise<string> => c.kubectlFails(args, { input });

test('apply of the seed manifests: created, unchanged, configured, server-side', async () => {
  assert.match(await ok(['apply', '-f', SEED]), /pod\/webapp-with-db created[\s\S]*service\/webapp-service created[\s\S]*configmap\/webapp-config created[\s\S]*ingress.networking.k8s.io\/webapp-ingress created/);
  assert.match(await ok(['apply', '-f', SEED]), /configmap\/webapp-config unchanged/);
  const changed = readFileSync(SEED, 'utf8').replace('"production"', '"staging"');
  assert.match(await ok(['apply', '-f', '-'], changed), /configmap\/webapp-config configured/);
  assert.equal(await ok(['get', 'cm', 'webapp-config', '-o', 'jsonpath={.data.WEBAPP_ENV}']), 'staging');
  assert.match(await ok(['apply', '--server-side', '--force-conflicts', '-f', SEED]), /configmap\/webapp-config serverside-applied/);
  assert.equal(await ok(['get', 'cm', 'webapp-config', '-o', 'jsonpath={.data.WEBAPP_ENV}']), 'production');
});

test('get: tables with upstream columns, wide, yaml, json, jsonpath, selectors, -A', async () => {
  assert.match(await ok(['get', 'pods']), /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\nwebapp-with-db\s+0\/2\s+Pending\s+0\s+/);
  assert.match(await ok(['get', 'svc']), /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\n/);
  assert.match(await ok(['get', 'svc', 'webapp-service']), /webapp-service\s+ClusterIP\s+10\.43\.\d+\.\d+\s+<none>\s+80\/TCP/);
  assert.match(await ok(['get', 'pods', '-o', 'wide']), /NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES/);
  const y = await ok(['get', 'pod', 'webapp-with-db', '-o', 'yaml']);
  assert.match(y, /restartPolicy: Always/);
  assert.match(y, /terminationMessagePath: \/dev\/termination-log/);
  const pod = JSON.parse(await ok(['get', 'pod', 'webapp-with-db', '-o', 'json'])) as { spec: { dnsPolicy: string; containers: { imagePullPolicy: string }[] } };
  assert.equal(pod.spec.dnsPolicy, 'ClusterFirst');
  assert.equal(pod.spec.containers[0]!.imagePullPolicy, 'Always');
  assert.equal(await ok(['get', 'pods', '-l', 'app=my-webapp', '-o', 'jsonpath={.items[*].metadata.name}']), 'webapp-with-db');
  assert.equal(await ok(['get', 'pods', '-l', 'app notin (my-webapp)', '-o', 'name']), '');
  assert.equal(await ok(['get', 'pods', '--field-selector', 'status.phase=Pending', '-o', 'name']), 'pod/webapp-with-db\n');
  assert.match(await fails(['get', 'pods', '--field-selector', 'spec.foo=bar']), /field label not supported: spec.foo/);
  assert.match(await ok(['get', 'ns', '-A']), /kube-system\s+Active/);
  assert.match(await ok(['get', 'svc', '-A']), /default\s+kubernetes\s+ClusterIP\s+10\.43\.0\.1\s/);
  assert.match(await ok(['describe', 'pod', 'webapp-with-db']), /Name:\s+webapp-with-db[\s\S]*Containers:[\s\S]*webapp:/);
});

test('label, annotate, patch (json, merge, strategic), edit', async () => {
  await ok(['label', 'pod', 'webapp-with-db', 'tier=web']);
  await ok(['annotate', 'pod', 'webapp-with-db', 'note=hi']);
  assert.equal(await ok(['get', 'pod', 'webapp-with-db', '-o', 'jsonpath={.metadata.labels.tier}/{.metadata.annotations.note}']), 'web/hi');
  await ok(['patch', 'cm', 'webapp-config', '--type=json', '-p', '[{"op":"add","path":"/data/J","value":"1"}]']);
  await ok(['patch', 'cm', 'webapp-config', '--type=merge', '-p', '{"data":{"M":"2"}}']);
  await ok(['patch', 'pod', 'webapp-with-db', '-p', '{"spec":{"containers":[{"name":"webapp","image":"nginx:1.27"}]}}']);
  assert.equal(await ok(['get', 'cm', 'webapp-config', '-o', 'jsonpath={.data.J}{.data.M}']), '12');
  assert.equal(await ok(['get', 'pod', 'webapp-with-db', '-o', 'jsonpath={.spec.containers[*].image}']), 'nginx:1.27 mongo:latest');
  const editor = join(tmp, 'editor.sh');
  writeFileSync(editor, '#!/bin/sh\nsed -i "s/WEBAPP_ENV: production/WEBAPP_ENV: edited/" "$1"\n');
  chmodSync(editor, 0o755);
  assert.match(await ok(['edit', 'cm', 'webapp-config'], undefined, { KUBE_EDITOR: editor }), /edited/);
  assert.equal(await ok(['get', 'cm', 'webapp-config', '-o', 'jsonpath={.data.WEBAPP_ENV}']), 'edited');
});

test('discovery, explain, create, scale', async () => {
  assert.match(await ok(['api-resources']), /deployments\s+deploy\s+apps\/v1\s+true\s+Deployment/);
  assert.match(await ok(['api-versions']), /^apps\/v1$[\s\S]*^v1$/m);
  assert.match(await ok(['explain', 'pod.spec.containers']), /FIELD: containers <\[\]Container>/);
  await ok(['create', 'configmap', 'lit', '--from-literal=k=v']);
  assert.equal(await ok(['get', 'cm', 'lit', '-o', 'jsonpath={.data.k}']), 'v');
  await ok(['create', 'namespace', 'team-a']);
  assert.match(await ok(['get', 'ns', 'team-a']), /team-a\s+Active/);
  await ok(['create', 'deployment', 'web', '--image=nginx', '--replicas=1']);
  assert.match(await ok(['scale', 'deployment', 'web', '--replicas=4']), /scaled/);
  assert.equal(await ok(['get', 'deploy', 'web', '-o', 'jsonpath={.spec.replicas}']), '4');
});

test('get -w shows ADDED, MODIFIED, DELETED', async () => {
  const w = spawn('kubectl', ['get', 'cm', '-w', '--output-watch-events', '-l', 'watched=yes'], { env: { ...process.env, KUBECONFIG: c.kubeconfig } });
  let out = '';
  w.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  try {
    await new Promise((r) => setTimeout(r, 700));
    await ok(['create', 'cm', 'wcm', '--from-literal=a=1']);
    await ok(['label', 'cm', 'wcm', 'watched=yes']);
    await ok(['patch', 'cm', 'wcm', '-p', '{"data":{"a":"2"}}']);
    await ok(['delete', 'cm', 'wcm']);
    const deadline = Date.now() + 5000;
    while (!/DELETED/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  } finally {
    w.kill();
  }
  assert.match(out, /ADDED\s+wcm[\s\S]*MODIFIED\s+wcm[\s\S]*DELETED\s+wcm/);
});

test('delete by name, -f, -l, --all, and wait --for=delete', async () => {
  await ok(['create', 'cm', 'd1', '--from-literal=a=1']);
  const waiter = c.kubectl(['wait', '--for=delete', 'cm/d1', '--timeout=10s']);
  await new Promise((r) => setTimeout(r, 300));
  assert.match(await ok(['delete', 'cm', 'd1']), /configmap "d1" deleted/);
  assert.equal((await waiter).code, 0);
  await ok(['create', 'cm', 'l1', '--from-literal=a=1']);
  await ok(['label', 'cm', 'l1', 'group=x']);
  assert.match(await ok(['delete', 'cm', '-l', 'group=x']), /configmap "l1" deleted/);
  assert.match(await ok(['delete', '-f', SEED]), /pod "webapp-with-db" deleted/);
  await ok(['create', 'cm', 'a1', '--from-literal=a=1']);
  await ok(['delete', 'cm', '--all']);
  // Only the root CA publisher's ConfigMap comes back (recreated once deleted), as upstream.
  let left = '';
  for (let i = 0; i < 100 && left !== 'configmap/kube-root-ca.crt\n'; i++) {
    left = await ok(['get', 'cm', '-o', 'name']);
    if (left !== 'configmap/kube-root-ca.crt\n') await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(left, 'configmap/kube-root-ca.crt\n');
});

test('bad manifests get upstream errors and nothing is written', async () => {
  assert.match(await fails(['apply', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad1}\nfoo: bar\n'),
    /ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "foo"/);
  assert.match(await fails(['apply', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n'),
    /ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
  assert.match(await fails(['apply', '-f', '-'], 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad3}\nspec: {replicas: "x", selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}}\n'),
    /cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32/);
  await ok(['create', 'cm', 'rv', '--from-literal=a=1']);
  const cur = JSON.parse(await ok(['get', 'cm', 'rv', '-o', 'json'])) as { metadata: { resourceVersion: string }; data: Record<string, string> };
  cur.metadata.resourceVersion = '1';
  cur.data.a = 'stale';
  assert.match(await fails(['replace', '-f', '-'], JSON.stringify(cur)),
    /Operation cannot be fulfilled on configmaps "rv": the object has been modified; please apply your changes to the latest version and try again/);
  assert.equal(await ok(['get', 'cm', 'rv', '-o', 'jsonpath={.data.a}']), '1');
  assert.equal(await ok(['get', 'cm', 'bad1', '--ignore-not-found', '-o', 'name']), '');
  assert.match(await fails(['create', 'cm', 'x', '-n', 'nowhere']), /namespaces "nowhere" not found/);
});

async function until(what: string, f: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('every namespace gets kube-root-ca.crt with the cluster CA, put back when changed or deleted', async () => {
  await ok(['create', 'namespace', 'rootca']);
  await until('kube-root-ca.crt', async () => (await ok(['get', 'cm', '-n', 'rootca', '-o', 'name'])) === 'configmap/kube-root-ca.crt\n');
  const table = await ok(['get', 'cm', '-n', 'rootca']);
  assert.match(table, /^NAME\s+DATA\s+AGE\nkube-root-ca\.crt\s+1\s+\S+\n$/);
  const cm = JSON.parse(await ok(['get', 'cm', 'kube-root-ca.crt', '-n', 'rootca', '-o', 'json'])) as { data: Record<string, string>; metadata: { annotations: Record<string, string> } };
  assert.equal(cm.data['ca.crt'], c.tlsOptions().ca);
  assert.equal(cm.metadata.annotations['kubernetes.io/description'], 'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.');
  const caOf = async () => ok(['get', 'cm', 'kube-root-ca.crt', '-n', 'rootca', '-o', 'jsonpath={.data.ca\\.crt}', '--ignore-not-found']);
  await ok(['patch', 'cm', 'kube-root-ca.crt', '-n', 'rootca', '--type', 'merge', '-p', '{"data":{"ca.crt":"tampered"}}']);
  await until('the CA put back', async () => (await caOf()) === c.tlsOptions().ca);
  await ok(['delete', 'cm', 'kube-root-ca.crt', '-n', 'rootca']);
  await until('kube-root-ca.crt recreated', async () => (await caOf()) === c.tlsOptions().ca);
});

test('pods get the kube-api-access volume of their service account, as upstream shows it', async () => {
  await ok(['create', 'namespace', 'sa-pods']);
  // Right after its namespace: the plugin waits for the controller's "default" account.
  await ok(['run', 'app', '--image=busybox', '-n', 'sa-pods']);
  const pod = JSON.parse(await ok(['get', 'pod', 'app', '-n', 'sa-pods', '-o', 'json'])) as import('kubernetes-types/core/v1.js').Pod;
  assert.equal(pod.spec!.serviceAccountName, 'default');
  assert.equal(pod.spec!.serviceAccount, 'default');
  const vol = pod.spec!.volumes!;
  assert.equal(vol.length, 1);
  assert.match(vol[0]!.name, /^kube-api-access-[a-z0-9]{5}$/);
  assert.deepEqual(vol[0]!.projected, {
    defaultMode: 420,
    sources: [
      { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' }, path: 'namespace' }] } },
    ],
  });
  assert.deepEqual(pod.spec!.containers[0]!.volumeMounts, [{ mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', name: vol[0]!.name, readOnly: true }]);
  // The YAML kubectl shows, in upstream's field order.
  const yaml = await ok(['get', 'pod', 'app', '-n', 'sa-pods', '-o', 'yaml']);
  assert.match(yaml, new RegExp(`    volumeMounts:\\n    - mountPath: /var/run/secrets/kubernetes.io/serviceaccount\\n      name: ${vol[0]!.name}\\n      readOnly: true\\n`));
  assert.match(yaml, /      - serviceAccountToken:\n          expirationSeconds: 3607\n          path: token\n      - configMap:\n          items:\n          - key: ca.crt\n            path: ca.crt\n          name: kube-root-ca.crt\n/);

  assert.match(await fails(['run', 'nosa', '--image=busybox', '-n', 'sa-pods', '--overrides', '{"spec":{"serviceAccountName":"builder"}}']),
    /Error from server \(Forbidden\): pods "nosa" is forbidden: error looking up service account sa-pods\/builder: serviceaccount "builder" not found/);
  await ok(['run', 'nomount', '--image=busybox', '-n', 'sa-pods', '--overrides', '{"spec":{"automountServiceAccountToken":false}}']);
  assert.equal(await ok(['get', 'pod', 'nomount', '-n', 'sa-pods', '-o', 'jsonpath={.spec.volumes}{.spec.containers[0].volumeMounts}']), '');
  await ok(['create', 'serviceaccount', 'quiet', '-n', 'sa-pods']);
  await ok(['patch', 'serviceaccount', 'quiet', '-n', 'sa-pods', '-p', '{"automountServiceAccountToken":false}']);
  await ok(['run', 'quiet', '--image=busybox', '-n', 'sa-pods', '--overrides', '{"spec":{"serviceAccountName":"quiet"}}']);
  assert.equal(await ok(['get', 'pod', 'quiet', '-n', 'sa-pods', '-o', 'jsonpath={.spec.serviceAccountName}|{.spec.volumes}']), 'quiet|');
});
