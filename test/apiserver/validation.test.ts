// Object validation through the real kubectl: upstream's 422 Status and messages,
// and nothing written when an object is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { startCluster, type Cluster } from '../lib/cluster.js';

let c: Cluster;
// No controller manager, so no "default" ServiceAccount: its admission plugin is off, as in upstream's API server integration tests.
before(async () => { c = await startCluster({ args: ['--disable', 'scheduler', '--disable', 'controller-manager', '--disable-admission-plugins', 'ServiceAccount', '--service-node-port-range', '31200-31209'] }); });
after(async () => { await c?.stop(); });

const ok = (args: string[], input?: string): Promise<string> => c.kubectlOk(args, { input });
const fails = (args: string[], input?: string): Promise<string> => c.kubectlFails(args, { input });
async function absent(kind: string, name: string): Promise<void> {
  assert.equal(await ok(['get', kind, name, '--ignore-not-found', '-o', 'name']), '', `${kind}/${name} was written`);
}

test('a pod without containers: spec.containers Required', async () => {
  const err = await fails(['create', '-f', '-'], 'apiVersion: v1\nkind: Pod\nmetadata: {name: empty}\nspec: {containers: []}\n');
  assert.match(err, /The Pod "empty" is invalid: spec.containers: Required value/);
  await absent('pod', 'empty');
});

test('duplicate container names: Duplicate value', async () => {
  const err = await fails(['apply', '-f', '-'], 'apiVersion: v1\nkind: Pod\nmetadata: {name: dup}\nspec:\n  containers:\n  - {name: a, image: busybox}\n  - {name: a, image: busybox}\n');
  assert.match(err, /The Pod "dup" is invalid: spec.containers\[1\].name: Duplicate value: "a"/);
  await absent('pod', 'dup');
});

test('a deployment whose selector does not match its template labels', async () => {
  const err = await fails(['apply', '-f', '-'], [
    'apiVersion: apps/v1', 'kind: Deployment', 'metadata: {name: mismatch}',
    'spec: {selector: {matchLabels: {app: a}}, template: {metadata: {labels: {app: b}}, spec: {containers: [{name: c, image: i}]}}}', '',
  ].join('\n'));
  assert.match(err, /The Deployment "mismatch" is invalid: spec.template.metadata.labels: Invalid value: map\[string\]string\{"app":"b"\}: `selector` does not match template `labels`/);
  await absent('deployment', 'mismatch');
});

test('the Status is a 422 Invalid with field causes', async () => {
  const body = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'raw' }, spec: { containers: [{ name: 'c' }] } });
  const r = await new Promise<{ code: number; body: string }>((resolve, reject) => {
    const req = request(`${c.url}/api/v1/namespaces/default/pods`, { method: 'POST', ...c.tlsOptions(), headers: { 'Content-Type': 'application/json' } }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => { b += d.toString(); });
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
  assert.equal(r.code, 422);
  const st = JSON.parse(r.body) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(st.reason, 'Invalid');
  assert.equal(st.message, 'Pod "raw" is invalid: spec.containers[0].image: Required value');
  assert.deepEqual(st.details, { name: 'raw', kind: 'Pod', causes: [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers[0].image' }] });
  await absent('pod', 'raw');
});

test('updates are validated too: pod spec immutable, deployment selector immutable', async () => {
  await ok(['run', 'web', '--image=nginx']);
  const err = await fails(['patch', 'pod', 'web', '-p', '{"spec":{"restartPolicy":"Never"}}']);
  assert.match(err, /The Pod "web" is invalid: spec: Forbidden: pod updates may not change fields other than/);
  assert.equal(await ok(['get', 'pod', 'web', '-o', 'jsonpath={.spec.restartPolicy}']), 'Always');
  await ok(['create', 'deployment', 'd', '--image=nginx']);
  const e2 = await fails(['patch', 'deployment', 'd', '-p', '{"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}}}}}']);
  assert.match(e2, /The Deployment "d" is invalid: spec.selector: Invalid value: .*field is immutable/);
  // A scale through the scale subresource writes the deployment, which is validated as an update.
  await ok(['scale', 'deployment', 'd', '--replicas=3']);
  assert.equal(await ok(['get', 'deployment', 'd', '-o', 'jsonpath={.spec.replicas}']), '3');
});

test('status updates validate the status', async () => {
  await ok(['create', 'deployment', 's', '--image=nginx']);
  const err = await fails(['patch', 'deployment', 's', '--subresource=status', '--type=merge', '-p', '{"status":{"replicas":-1}}']);
  assert.match(err, /The Deployment "s" is invalid: status.replicas: Invalid value: -1: must be greater than or equal to 0/);
  await ok(['patch', 'deployment', 's', '--subresource=status', '--type=merge', '-p', '{"status":{"replicas":1}}']);
  assert.equal(await ok(['get', 'deployment', 's', '-o', 'jsonpath={.status.replicas}']), '1');
});

test('services: an update without clusterIP keeps the allocated one; changing it is refused', async () => {
  await ok(['create', 'service', 'clusterip', 'svc', '--tcp=80:8080']);
  const svc = JSON.parse(await ok(['get', 'svc', 'svc', '-o', 'json'])) as { spec: Record<string, unknown>; metadata: Record<string, unknown> };
  const ip = svc.spec.clusterIP as string;
  delete svc.spec.clusterIP;
  delete svc.spec.clusterIPs;
  svc.spec.ports = [{ port: 81, targetPort: 8080, protocol: 'TCP' }];
  await ok(['replace', '-f', '-'], JSON.stringify(svc));
  assert.equal(await ok(['get', 'svc', 'svc', '-o', 'jsonpath={.spec.clusterIP} {.spec.ports[0].port}']), `${ip} 81`);
  const err = await fails(['patch', 'svc', 'svc', '--type=merge', '-p', '{"spec":{"clusterIP":"10.43.99.99","clusterIPs":["10.43.99.99"]}}']);
  assert.match(err, /The Service "svc" is invalid: spec.clusterIPs\[0\]: Invalid value: \[\]string\{"10.43.99.99"\}: may not change once set/);
});

test('nodePorts come from --service-node-port-range; one outside it is refused naming the range', async () => {
  await ok(['create', 'service', 'nodeport', 'np', '--tcp=80:8080']);
  const port = Number(await ok(['get', 'svc', 'np', '-o', 'jsonpath={.spec.ports[0].nodePort}']));
  assert.ok(port >= 31200 && port <= 31209, `nodePort ${port} outside 31200-31209`);
  const err = await fails(['create', 'service', 'nodeport', 'np2', '--tcp=80:8080', '--node-port=30080']);
  assert.match(err, /spec.ports\[0\].nodePort: Invalid value: 30080: provided port is not in the valid range. The range of valid ports is 31200-31209/);
  await absent('svc', 'np2');
});

test('defaults come before validation: a pod with only limits is Guaranteed', async () => {
  await ok(['apply', '-f', '-'], 'apiVersion: v1\nkind: Pod\nmetadata: {name: lim}\nspec: {containers: [{name: c, image: i, resources: {limits: {cpu: 100m, memory: 64Mi}}}]}\n');
  const pod = JSON.parse(await ok(['get', 'pod', 'lim', '-o', 'json'])) as { spec: { serviceAccountName: string; tolerations: unknown[]; containers: { resources: { requests: Record<string, string> } }[] }; status: { qosClass: string } };
  assert.equal(pod.status.qosClass, 'Guaranteed');
  assert.deepEqual(pod.spec.containers[0]!.resources.requests, { cpu: '100m', memory: '64Mi' });
  // The ServiceAccount plugin, which names "default", is off in this suite (kubectl.test.ts has it).
  assert.equal(pod.spec.serviceAccountName, undefined);
  assert.equal(pod.spec.tolerations.length, 2);
});
