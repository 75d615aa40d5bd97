// pods/binding through the API: it sets spec.nodeName and the PodScheduled=True
// condition together, as upstream's BindingREST (setPodNodeAndMetadata).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { startCluster, type Cluster } from '../lib/cluster.js';

let c: Cluster;
before(async () => { c = await startCluster(); });
after(async () => { await c?.stop(); });

function call(method: string, path: string, body?: unknown): Promise<{ code: number; json: any }> {
  const t = c.tlsOptions();
  return new Promise((resolve, reject) => {
    const req = request(`${c.url}${path}`, { method, ca: t.ca, cert: t.cert, key: t.key, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let s = '';
      res.on('data', (d: Buffer) => { s += d.toString(); });
      res.on('end', () => resolve({ code: res.statusCode ?? 0, json: s ? JSON.parse(s) : undefined }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

test('POST pods/binding sets nodeName and PodScheduled=True', async () => {
  // Another scheduler's pod: the built-in scheduler leaves it alone (no PodScheduled=False races).
  const pod = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bind-me' },
    spec: { schedulerName: 'test-scheduler', containers: [{ name: 'c', image: 'busybox' }] },
  };
  const created = await call('POST', '/api/v1/namespaces/default/pods', pod);
  assert.equal(created.code, 201, JSON.stringify(created.json));
  const b = await call('POST', '/api/v1/namespaces/default/pods/bind-me/binding', {
    apiVersion: 'v1', kind: 'Binding', metadata: { name: 'bind-me', annotations: { 'test/bound-by': 'binding-test' } },
    target: { apiVersion: 'v1', kind: 'Node', name: 'node-a' },
  });
  assert.equal(b.code, 201, JSON.stringify(b.json));
  const got = await call('GET', '/api/v1/namespaces/default/pods/bind-me');
  assert.equal(got.json.spec.nodeName, 'node-a');
  assert.equal(got.json.metadata.annotations['test/bound-by'], 'binding-test');
  const cond = (got.json.status.conditions ?? []).find((x: { type: string }) => x.type === 'PodScheduled');
  assert.ok(cond, `no PodScheduled condition: ${JSON.stringify(got.json.status)}`);
  assert.equal(cond.status, 'True');
  assert.ok(cond.lastTransitionTime);
  // The status the pod had is kept (qosClass, phase).
  assert.equal(got.json.status.phase, 'Pending');
  assert.equal(got.json.status.qosClass, 'BestEffort');
  // A second binding is a conflict.
  const again = await call('POST', '/api/v1/namespaces/default/pods/bind-me/binding', { target: { name: 'node-b' } });
  assert.equal(again.code, 409);
});
