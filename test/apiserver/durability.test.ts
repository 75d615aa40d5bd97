// Restart keeps everything; kill -9 during a stream of creates loses none that were acknowledged.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:https';
import { startCluster, type Cluster } from '../lib/cluster.js';

let c: Cluster | undefined;
after(async () => { await c?.stop(); });

function post(cl: Cluster, agent: Agent, path: string, body: unknown): Promise<number> {
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = request(`${cl.url}${path}`, { method: 'POST', agent, headers: { 'Content-Type': 'application/json' } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('error', () => resolve(0));
    req.end(data);
  });
}

test('restart with the same data dir keeps objects; kill -9 loses no acknowledged create', async () => {
  c = await startCluster();
  assert.equal((await c.kubectl(['create', 'cm', 'keep', '--from-literal=a=1'])).code, 0);
  await c.stop({ keepData: true });
  await c.restart();
  assert.equal((await c.kubectl(['get', 'cm', 'keep', '-o', 'jsonpath={.data.a}'])).stdout, '1');

  const agent = new Agent({ ...c.tlsOptions(), keepAlive: true, maxSockets: 16 });
  const acked: string[] = [];
  let stop = false;
  const writers = Array.from({ length: 8 }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      const name = `k-${w}-${i}`;
      const code = await post(c!, agent, '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { i: String(i) } });
      if (code === 201) acked.push(name); else if (code === 0) break;
    }
  });
  await new Promise((r) => setTimeout(r, 1500));
  await c.kill9();
  stop = true;
  await Promise.all(writers);
  agent.destroy();
  assert.ok(acked.length > 50, `only ${acked.length} creates acknowledged`);
  await c.restart();
  const r = await c.kubectl(['get', 'cm', '-o', 'jsonpath={.items[*].metadata.name}']);
  const have = new Set(r.stdout.split(' '));
  const lost = acked.filter((n) => !have.has(n));
  assert.deepEqual(lost, [], `${lost.length} acknowledged creates lost`);
});
