// Namespace deletion end to end with the controller manager inside `jotasu server`:
// kubectl delete ns returns once the namespace and its content are gone, and a
// terminating namespace refuses new objects with upstream's message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../lib/cluster.js';

let c: Cluster;
before(async () => { c = await startCluster({ args: ['--disable', 'scheduler'] }); });
after(async () => { await c?.stop(); });

const ok = (args: string[], input?: string): Promise<string> => c.kubectlOk(args, { input });

test('kubectl delete ns removes the namespace and everything in it', async () => {
  await ok(['create', 'ns', 'x']);
  await ok(['-n', 'x', 'create', 'configmap', 'cm', '--from-literal=a=b']);
  await ok(['-n', 'x', 'create', 'deployment', 'd', '--image=nginx', '--replicas=2']);
  await ok(['-n', 'x', 'create', 'service', 'clusterip', 's', '--tcp=80:80']);
  await ok(['-n', 'x', 'run', 'p', '--image=nginx']);
  const t0 = Date.now();
  assert.match(await ok(['delete', 'ns', 'x', '--timeout=60s']), /namespace "x" deleted/);
  assert.ok(Date.now() - t0 < 60_000);
  assert.equal(await ok(['get', 'ns', 'x', '--ignore-not-found', '-o', 'name']), '');
  for (const kind of ['configmaps', 'deployments', 'replicasets', 'services', 'pods', 'serviceaccounts', 'endpoints']) {
    assert.equal(await ok(['get', kind, '-n', 'x', '-o', 'name']), '', `${kind} left in namespace x`);
  }
  // The name can be used again at once.
  await ok(['create', 'ns', 'x']);
});

test('a terminating namespace refuses new objects', async () => {
  await ok(['create', 'ns', 'stuck']);
  // A finalizer nobody removes keeps the namespace terminating.
  await ok(['-n', 'stuck', 'create', 'configmap', 'held']);
  await ok(['-n', 'stuck', 'patch', 'configmap', 'held', '--type=merge', '-p', '{"metadata":{"finalizers":["example.com/hold"]}}']);
  await ok(['delete', 'ns', 'stuck', '--wait=false']);
  assert.equal(await ok(['get', 'ns', 'stuck', '-o', 'jsonpath={.status.phase}']), 'Terminating');
  const r = await c.kubectl(['-n', 'stuck', 'create', 'configmap', 'late']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /configmaps "late" is forbidden: unable to create new content in namespace stuck because it is being terminated/);
  // Once the finalizer is gone, the controller finishes the deletion.
  await ok(['-n', 'stuck', 'patch', 'configmap', 'held', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  await ok(['wait', '--for=delete', 'ns/stuck', '--timeout=60s']);
});
