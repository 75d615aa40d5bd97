import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { R } from '../api/resources.js';
import { isStatusError, StatusError } from '../api/errors.js';
import { startFakeApiServer } from '../../test/client/fake-apiserver.js';
import { createClient, createClientFromKubeconfig, resourcePath } from './rest.js';
import { loadKubeconfig, writeKubeconfig } from './kubeconfig.js';
import { NdjsonParser } from './ndjson.js';
import { createTokenBucket } from './ratelimit.js';
import type { WatchEvent } from './types.js';

const fake = await startFakeApiServer();
after(() => fake.stop());
const client = createClient({ server: fake.url, qps: 0 });
after(() => client.close());
const cms = client.resource<ConfigMap>(R.configmaps);

test('resource paths for core, grouped, namespaced and cluster-scoped resources', () => {
  assert.equal(resourcePath(R.pods, 'default', 'p1', 'status'), '/api/v1/namespaces/default/pods/p1/status');
  assert.equal(resourcePath(R.pods, undefined), '/api/v1/pods');
  assert.equal(resourcePath(R.nodes, 'ignored', 'n1'), '/api/v1/nodes/n1');
  assert.equal(resourcePath(R.deployments, 'ns'), '/apis/apps/v1/namespaces/ns/deployments');
  assert.equal(resourcePath(R.leases, 'kube-system', 'x'), '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x');
});

test('create, get, update with optimistic concurrency, patch, delete; Status errors', async () => {
  const c = await cms.create({ metadata: { name: 'a', namespace: 'default' }, data: { k: 'v' } });
  assert.equal(c.metadata?.name, 'a');
  assert.ok(c.metadata?.resourceVersion);
  await assert.rejects(cms.create({ metadata: { name: 'a', namespace: 'default' } }), (e: unknown) => isStatusError(e, 'AlreadyExists') && e.code === 409);
  const got = await cms.get('a', { namespace: 'default' });
  assert.deepEqual(got.data, { k: 'v' });
  const upd = await cms.update({ ...got, data: { k: 'v2' } });
  assert.equal(upd.data?.k, 'v2');
  await assert.rejects(cms.update({ ...got, data: { k: 'stale' } }), (e: unknown) => isStatusError(e, 'Conflict'));
  const p = await cms.patch('a', 'merge', { data: { j: 'w' } }, { namespace: 'default', fieldManager: 'me' });
  assert.equal((p as unknown as { lastPatchType: string }).lastPatchType, 'application/merge-patch+json');
  assert.ok(fake.requests.at(-1)!.includes('fieldManager=me'));
  await cms.patch('a', 'strategic', { data: {} }, { namespace: 'default' });
  assert.equal((await cms.get('a', { namespace: 'default' }) as unknown as { lastPatchType: string }).lastPatchType, 'application/strategic-merge-patch+json');
  await assert.rejects(cms.patch('a', 'apply', {}, { namespace: 'default' }), /fieldManager is required/);
  await cms.patch('a', 'apply', { data: {} }, { namespace: 'default', fieldManager: 'm', force: true, dryRun: true });
  assert.match(fake.requests.at(-1)!, /dryRun=All.*fieldManager=m.*force=true|force=true/);
  await cms.delete('a', { namespace: 'default', gracePeriodSeconds: 0, propagationPolicy: 'Foreground' });
  assert.match(fake.requests.at(-1)!, /DELETE .*gracePeriodSeconds=0&propagationPolicy=Foreground/);
  await assert.rejects(cms.get('a', { namespace: 'default' }), (e: unknown) => isStatusError(e, 'NotFound') && /not found/.test((e as Error).message));
  await assert.rejects(cms.get('a'), /namespace required/);
});

test('non-Status error replies become synthesized StatusErrors; Retry-After is honoured', async () => {
  fake.failNext(1, 503, 'upstream sad');
  await assert.rejects(cms.list({ namespace: 'default' }), (e: unknown) => e instanceof StatusError && e.code === 503 && e.reason === 'ServiceUnavailable' && /upstream sad/.test(e.message));
  fake.failNext(2, 429, { kind: 'Status', code: 429, reason: 'TooManyRequests', message: 'slow down' }, { 'Retry-After': '1' });
  const t0 = Date.now();
  const l = await cms.list({ namespace: 'default' });
  assert.ok(Date.now() - t0 >= 1900, 'waited twice for Retry-After');
  assert.ok(Array.isArray(l.items));
  fake.failNext(1, 403, { kind: 'Status', code: 403, reason: 'Forbidden', message: 'nope' });
  await assert.rejects(cms.list(), (e: unknown) => isStatusError(e, 'Forbidden') && (e as Error).message === 'nope');
});

test('list fills kind/apiVersion of items and passes query parameters', async () => {
  fake.put({ metadata: { name: 'l1', namespace: 'ns1' } });
  const l = await cms.list({ namespace: 'ns1', labelSelector: 'a=b', fieldSelector: 'metadata.name=l1', limit: 5, resourceVersion: '0', resourceVersionMatch: 'NotOlderThan' });
  assert.equal(l.items[0]!.kind, 'ConfigMap');
  assert.equal(l.items[0]!.apiVersion, 'v1');
  assert.match(fake.requests.at(-1)!, /labelSelector=a%3Db&fieldSelector=metadata.name%3Dl1&limit=5&resourceVersion=0&resourceVersionMatch=NotOlderThan/);
});

test('watch parses events split at every byte and large objects', async () => {
  fake.chunkSize = 1;
  const events: WatchEvent<ConfigMap>[] = [];
  const start = String(fake.rev());
  const h = cms.watch({ namespace: 'wns', resourceVersion: start, allowWatchBookmarks: true, timeoutSeconds: 30 }, (e) => events.push(e));
  await waitFor(() => fake.openWatches() === 1);
  assert.match(fake.requests.at(-1)!, /watch=true.*resourceVersion=\d+.*allowWatchBookmarks=true&timeoutSeconds=30/);
  fake.put({ metadata: { name: 'w1', namespace: 'wns' }, data: { s: 'ü€😀' } });
  fake.chunkSize = 7919;
  const big = 'x'.repeat(3 * 1024 * 1024);
  fake.put({ metadata: { name: 'w2', namespace: 'wns' }, data: { big } });
  fake.remove('wns', 'w1');
  fake.sendBookmarks();
  await waitFor(() => events.length === 4);
  fake.chunkSize = 0;
  assert.deepEqual(events.map((e) => e.type), ['ADDED', 'ADDED', 'DELETED', 'BOOKMARK']);
  assert.equal((events[0]!.object as ConfigMap).data!.s, 'ü€😀');
  assert.equal((events[1]!.object as ConfigMap).data!.big!.length, big.length);
  h.close();
  await h.done;
});

test('watch reports HTTP errors, in-stream ERROR events and dropped connections as ERROR events', async () => {
  fake.compact();
  fake.goneMode = 'http';
  const seen: WatchEvent<ConfigMap>[] = [];
  let h = cms.watch({ resourceVersion: '1' }, (e) => seen.push(e));
  await h.done;
  assert.equal(seen[0]?.type, 'ERROR');
  assert.equal((seen[0]!.object as { code: number }).code, 410);
  fake.goneMode = 'event';
  seen.length = 0;
  h = cms.watch({ resourceVersion: '1' }, (e) => seen.push(e));
  await h.done;
  assert.equal(seen.length, 1);
  assert.equal((seen[0]!.object as { code: number }).code, 410);
  seen.length = 0;
  h = cms.watch({ resourceVersion: String(fake.rev()) }, (e) => seen.push(e));
  await waitFor(() => fake.openWatches() === 1);
  fake.dropWatches();
  await h.done;
  assert.equal(seen[0]?.type, 'ERROR');
  assert.equal((seen[0]!.object as { code: number }).code, 503);
  // A clean end (server timeout) is no error.
  seen.length = 0;
  h = cms.watch({ resourceVersion: String(fake.rev()) }, (e) => seen.push(e));
  await waitFor(() => fake.openWatches() === 1);
  fake.endWatches();
  await h.done;
  assert.equal(seen.length, 0);
  // Closing by us is silent too.
  h = cms.watch({ resourceVersion: String(fake.rev()) }, (e) => seen.push(e));
  h.close();
  await h.done;
  assert.equal(seen.length, 0);
  // Connection refused.
  const dead = createClient({ server: 'http://127.0.0.1:1' });
  h = dead.resource<ConfigMap>(R.configmaps).watch({}, (e) => seen.push(e));
  await h.done;
  assert.equal(seen[0]?.type, 'ERROR');
  assert.match((seen[0]!.object as { message: string }).message, /ECONNREFUSED/);
  await assert.rejects(dead.resource(R.configmaps).list(), /GET \/api\/v1\/configmaps: .*ECONNREFUSED/);
  dead.close();
});

test('ndjson parser: split lines, blank lines, a final line without newline', () => {
  const out: unknown[] = [];
  const p = new NdjsonParser((v) => out.push(v));
  const text = '{"a":1}\n\n{"b":"é"}\r\n{"c":3}';
  const buf = Buffer.from(text);
  for (let i = 0; i < buf.length; i += 2) p.push(buf.subarray(i, i + 2));
  p.end();
  assert.deepEqual(out, [{ a: 1 }, { b: 'é' }, { c: 3 }]);
  assert.throws(() => p.push(Buffer.from('{bad\n')));
});

test('token bucket: burst then qps', async () => {
  const b = createTokenBucket(20, 5);
  const t0 = Date.now();
  for (let i = 0; i < 5; i++) await b.acquire();
  assert.ok(Date.now() - t0 < 20, 'burst is immediate');
  for (let i = 0; i < 4; i++) await b.acquire();
  const dt = Date.now() - t0;
  assert.ok(dt >= 180 && dt < 400, `4 more at 20 qps took ${dt} ms`);
});

test('kubeconfig: write (0600), load with inline data, files relative to the file, tokens, contexts', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jotasu-kc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const p = join(dir, 'sub', 'kc.yaml');
  writeKubeconfig(p, { server: 'https://127.0.0.1:6443', caPem: 'CA', certPem: 'CERT', keyPem: 'KEY' });
  assert.equal(statSync(p).mode & 0o777, 0o600);
  const c = loadKubeconfig(p);
  assert.equal(c.server, 'https://127.0.0.1:6443');
  assert.equal(c.caData?.toString(), 'CA');
  assert.equal(c.certData?.toString(), 'CERT');
  assert.equal(c.keyData?.toString(), 'KEY');
  assert.equal(c.namespace, 'default');

  writeFileSync(join(dir, 'ca.crt'), 'FILECA');
  writeFileSync(join(dir, 'tok'), 'secret-token\n');
  const p2 = join(dir, 'kc2.yaml');
  writeFileSync(p2, `
apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster: { server: "https://a:1/", certificate-authority: ca.crt }
- name: c2
  cluster: { server: "http://b:2", insecure-skip-tls-verify: true }
users:
- name: u1
  user: { tokenFile: tok }
- name: u2
  user: { token: inline }
contexts:
- name: one
  context: { cluster: c1, user: u1, namespace: team }
- name: two
  context: { cluster: c2, user: u2 }
current-context: one
`);
  const one = loadKubeconfig(p2);
  assert.equal(one.server, 'https://a:1');
  assert.equal(one.caData?.toString(), 'FILECA');
  assert.equal(one.token, 'secret-token');
  assert.equal(one.namespace, 'team');
  const two = loadKubeconfig(p2, 'two');
  assert.equal(two.insecureSkipTLSVerify, true);
  assert.equal(two.token, 'inline');
  assert.throws(() => loadKubeconfig(p2, 'three'), /context "three" not found/);
  const old = process.env.KUBECONFIG;
  process.env.KUBECONFIG = p2;
  try {
    assert.equal(loadKubeconfig().contextName, 'one');
    const cl = createClientFromKubeconfig(undefined, { context: 'two', qps: 1000 });
    assert.equal(cl.config.server, 'http://b:2');
    assert.equal(cl.config.qps, 1000);
    cl.close();
  } finally {
    if (old === undefined) delete process.env.KUBECONFIG; else process.env.KUBECONFIG = old;
  }
  writeKubeconfig(p, { server: 'https://x', caPem: 'CA', token: 'abc' });
  assert.equal(loadKubeconfig(p).token, 'abc');
  assert.match(readFileSync(p, 'utf8'), /current-context: default/);
});

test('requests share a bounded pool of kept-alive connections; watches do not take from it', async () => {
  const c = createClient({ server: fake.url, qps: 0, maxConnections: 3 });
  try {
    fake.put({ metadata: { name: 'pool', namespace: 'pool' } });
    const before = fake.connectionsAccepted();
    // A burst far beyond the pool waits for free connections instead of opening new ones.
    await Promise.all(Array.from({ length: 40 }, () => c.resource<ConfigMap>(R.configmaps).get('pool', { namespace: 'pool' })));
    assert.ok(fake.connectionsAccepted() - before <= 3, `opened ${fake.connectionsAccepted() - before} connections for 40 requests`);
    await Promise.all(Array.from({ length: 10 }, () => c.resource<ConfigMap>(R.configmaps).get('pool', { namespace: 'pool' })));
    assert.ok(fake.connectionsAccepted() - before <= 3, 'the kept-alive connections were reused');
    // More watches than the pool holds, and requests still go through beside them.
    const watches = Array.from({ length: 5 }, () => c.resource<ConfigMap>(R.configmaps).watch({ namespace: 'pool', resourceVersion: String(fake.rev()), timeoutSeconds: 30 }, () => undefined));
    await waitFor(() => fake.openWatches() >= 5);
    assert.equal((await c.resource<ConfigMap>(R.configmaps).get('pool', { namespace: 'pool' })).metadata?.name, 'pool');
    for (const w of watches) w.close();
  } finally {
    c.close();
  }
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}
