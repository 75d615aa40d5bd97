// The minimal end-to-end path: the server starts and kubectl talks to it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { startCluster, type Cluster } from '../lib/cluster.js';

let c: Cluster;
before(async () => { c = await startCluster(); });
after(async () => { await c?.stop(); });

test('kubectl get namespaces lists the bootstrap namespaces', async () => {
  const r = await c.kubectl(['get', 'ns']);
  assert.equal(r.code, 0, r.stderr);
  for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) assert.match(r.stdout, new RegExp(`^${ns}\\s+Active`, 'm'));
});

test('the kubernetes service has the first service IP', async () => {
  const r = await c.kubectl(['get', 'svc', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '10.43.0.1');
});

test('requests without credentials get 401 Status; bad bearer tokens too', async () => {
  for (const headers of [{}, { Authorization: 'Bearer nope' }] as Record<string, string>[]) {
    const { code, body } = await get(c, '/api/v1/namespaces', headers, false);
    assert.equal(code, 401);
    assert.deepEqual(JSON.parse(body), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
  }
  const ok = await get(c, '/api/v1/namespaces', {}, true);
  assert.equal(ok.code, 200);
});

test('health and version endpoints answer as upstream', async () => {
  for (const p of ['/livez', '/readyz', '/healthz']) {
    const r = await get(c, p, {}, false);
    assert.equal(r.code, 200);
    assert.equal(r.body, 'ok');
  }
  const v = await get(c, '/readyz?verbose', {}, false);
  assert.match(v.body, /\[\+\]ping ok[\s\S]*readyz check passed/);
  const ver = JSON.parse((await get(c, '/version', {}, false)).body) as { major: string; minor: string; gitVersion: string };
  assert.equal(ver.major, '1');
  assert.equal(ver.minor, '32');
  const r = await c.kubectl(['version', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /"serverVersion"/);
});

function get(cl: Cluster, path: string, headers: Record<string, string>, withCert: boolean): Promise<{ code: number; body: string }> {
  const t = cl.tlsOptions();
  return new Promise((resolve, reject) => {
    const req = request(`${cl.url}${path}`, { ca: t.ca, headers, ...(withCert ? { cert: t.cert, key: t.key } : {}) }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a list larger than one write arrives whole: consistent, from the cache (rv=0) and paged', async () => {
  const t = c.tlsOptions();
  const post = (body: unknown): Promise<number> => new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = request(`${c.url}/api/v1/namespaces/default/configmaps`, { method: 'POST', ...t, headers: { 'Content-Type': 'application/json' } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('error', reject);
    req.end(data);
  });
  // ~300 KB of items: several of the server's 64 KiB writes.
  const names = Array.from({ length: 300 }, (_, i) => `big-${i}`);
  for (let i = 0; i < names.length; i += 20) {
    const codes = await Promise.all(names.slice(i, i + 20).map((name) => post({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { big: 'yes' } }, data: { v: 'x'.repeat(1000) } })));
    assert.deepEqual(codes.filter((x) => x !== 201), []);
  }
  for (const q of ['', '&resourceVersion=0']) {
    const r = await get(c, `/api/v1/namespaces/default/configmaps?labelSelector=big%3Dyes${q}`, {}, true);
    assert.equal(r.code, 200, r.body.slice(0, 200));
    const list = JSON.parse(r.body) as { kind: string; items: { metadata: { name: string } }[]; metadata: { resourceVersion: string } };
    assert.equal(list.kind, 'ConfigMapList');
    assert.deepEqual(list.items.map((o) => o.metadata.name).sort(), [...names].sort(), `query ${q}`);
    assert.match(list.metadata.resourceVersion, /^\d+$/);
  }
  const seen: string[] = [];
  let cont = '';
  do {
    const r = await get(c, `/api/v1/namespaces/default/configmaps?labelSelector=big%3Dyes&limit=120${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`, {}, true);
    assert.equal(r.code, 200, r.body.slice(0, 200));
    const page = JSON.parse(r.body) as { items: { metadata: { name: string } }[]; metadata: { continue?: string } };
    seen.push(...page.items.map((o) => o.metadata.name));
    cont = page.metadata.continue ?? '';
  } while (cont);
  assert.deepEqual(seen.sort(), [...names].sort());
});

test('request bodies: one sent in many pieces arrives whole; one over 3 MiB without Content-Length is a 413 and the server goes on', async () => {
  const t = c.tlsOptions();
  // Chunked transfer encoding (no Content-Length), the body written in pieces with pauses between.
  const post = (pieces: string[]): Promise<{ code: number; body: string }> => new Promise((resolve, reject) => {
    const req = request(`${c.url}/api/v1/namespaces/default/configmaps`, { method: 'POST', ...t, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    void (async () => {
      for (const p of pieces) {
        if (req.destroyed) return;
        req.write(p);
        await new Promise((r) => setTimeout(r, 5));
      }
      req.end();
    })();
  });
  const value = 'v'.repeat(50_000);
  const json = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'pieces' }, data: { v: value } });
  const pieces = Array.from({ length: 10 }, (_, i) => json.slice((i * json.length) / 10, ((i + 1) * json.length) / 10));
  const ok = await post(pieces);
  assert.equal(ok.code, 201, ok.body.slice(0, 300));
  assert.equal((JSON.parse(ok.body) as { data: { v: string } }).data.v, value);

  // The server answers 413 once the limit is passed and drains the rest of the upload.
  const big = await post(Array.from({ length: 40 }, () => 'x'.repeat(100_000)));
  assert.equal(big.code, 413, big.body.slice(0, 300));
  assert.equal((JSON.parse(big.body) as { reason: string }).reason, 'RequestEntityTooLarge');
  const after = await get(c, '/api/v1/namespaces/default/configmaps/pieces', {}, true);
  assert.equal(after.code, 200);
});
