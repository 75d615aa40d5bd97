// Watch streams under flow control: a client that stops reading does not hold up others,
// and once it reads again it gets every event once, in order (caught up from the watch cache).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { startCluster, type Cluster } from '../lib/cluster.js';

let c: Cluster;
before(async () => { c = await startCluster(); });
after(async () => { await c?.stop(); });

interface Line { type: string; object: { metadata: { name?: string; resourceVersion: string } } }

/** Opens a watch and parses its lines; the response can be paused and resumed. */
function openWatch(agent: Agent, path: string): Promise<{ res: IncomingMessage; lines: Line[]; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${c.url}${path}`, { agent }, (res) => {
      const lines: Line[] = [];
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) { lines.push(JSON.parse(buf.slice(0, nl)) as Line); buf = buf.slice(nl + 1); }
      });
      const ended = new Promise<void>((r) => { res.on('end', r); res.on('close', r); });
      resolve({ res, lines, ended });
    });
    req.on('error', reject);
    req.end();
  });
}

async function until(pred: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a watcher that stops reading catches up with every event once and in order; another watcher is not held up', async () => {
  const tls = c.tlsOptions();
  const agent = new Agent({ ...tls, keepAlive: true, maxSockets: 20 });
  try {
    const post = (body: unknown): Promise<number> => new Promise((resolve, reject) => {
      const req = request(`${c.url}/api/v1/namespaces/default/configmaps`, { method: 'POST', agent, headers: { 'Content-Type': 'application/json' } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
    const list = await new Promise<string>((resolve, reject) => {
      const req = request(`${c.url}/api/v1/namespaces/default/configmaps`, { agent }, (res) => { let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => resolve(b)); });
      req.on('error', reject);
      req.end();
    });
    const rv = (JSON.parse(list) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    const q = `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${rv}&labelSelector=flow%3Dyes`;
    const slow = await openWatch(agent, q);
    const fast = await openWatch(agent, q);
    slow.res.pause();
    // ~24 MB of events: more than the loopback socket buffers and the server's per-watcher budget.
    const names = Array.from({ length: 400 }, (_, i) => `flow-${String(i).padStart(3, '0')}`);
    const pad = 'x'.repeat(60_000);
    for (let i = 0; i < names.length; i += 10) {
      const codes = await Promise.all(names.slice(i, i + 10).map((name) => post({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { flow: 'yes' } }, data: { pad } })));
      assert.deepEqual(codes.filter((x) => x !== 201), []);
    }
    // The fast watcher got everything while the slow one was not reading.
    await until(() => fast.lines.length >= names.length, 'the fast watcher');
    assert.ok(slow.lines.length < names.length, `the paused watcher already had all ${slow.lines.length} events`);
    slow.res.resume();
    await until(() => slow.lines.length >= names.length, 'the slow watcher to catch up');
    await new Promise((r) => setTimeout(r, 300));
    for (const w of [fast, slow]) {
      assert.deepEqual(w.lines.map((l) => l.type), names.map(() => 'ADDED'));
      // Concurrent creates commit in any order: every name exactly once, in revision order.
      assert.deepEqual(w.lines.map((l) => l.object.metadata.name).sort(), names);
      const rvs = w.lines.map((l) => Number(l.object.metadata.resourceVersion));
      assert.ok(rvs.every((r, i) => i === 0 || r > rvs[i - 1]!), 'resourceVersions increase');
    }
    assert.deepEqual(slow.lines.map((l) => l.object.metadata.name), fast.lines.map((l) => l.object.metadata.name));
    slow.res.destroy();
    fast.res.destroy();
  } finally {
    agent.destroy();
  }
});
