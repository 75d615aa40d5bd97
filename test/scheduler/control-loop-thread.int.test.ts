// Where `jotasu server` runs its control loops: on a thread of their own (default) or
// on the API server's (--no-control-loop-thread). Either way a ReplicaSet's pods are
// created, scheduled and run, and the server stops cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { ReplicaSet } from 'kubernetes-types/apps/v1.js';
import { startCluster } from '../lib/cluster.js';
import { createClientFromKubeconfig } from '../../src/client/rest.js';
import { R } from '../../src/api/resources.js';
import { startSimNodes } from '../../src/sim/nodes.js';

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

for (const mode of ['own thread', 'API server thread'] as const) {
  test(`control loops on the ${mode}: a ReplicaSet's pods are created, bound and run; clean stop`, async () => {
    const cluster = await startCluster({ args: mode === 'own thread' ? [] : ['--no-control-loop-thread'], env: { LOG_LEVEL: 'info' } });
    const client = createClientFromKubeconfig(cluster.kubeconfig, { qps: 500, burst: 1000 });
    const sim = await startSimNodes({ client, count: 2, namePrefix: 'cl-node-' });
    try {
      await client.resource<ReplicaSet>(R.replicasets).create({
        apiVersion: 'apps/v1', kind: 'ReplicaSet',
        metadata: { name: 'web', namespace: 'default' },
        spec: {
          replicas: 3, selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
        },
      }, { namespace: 'default' });
      const running = await waitFor('3 running pods', async () => {
        const l = await client.resource<Pod>(R.pods).list({ namespace: 'default', labelSelector: 'app=web' });
        return l.items.length === 3 && l.items.every((p) => p.spec?.nodeName && p.status?.phase === 'Running') && l.items;
      });
      assert.equal(running.length, 3);
      const onThread = cluster.logs().includes('control loops running on their own thread');
      assert.equal(onThread, mode === 'own thread', cluster.logs().slice(-2000));
    } finally {
      await sim.stop();
      client.close();
    }
    const t0 = Date.now();
    await cluster.stop();
    // The server stops its components first; a control-loop thread that hung would hold it to the 10 s hard stop.
    assert.ok(Date.now() - t0 < 9000, `stop took ${Date.now() - t0} ms`);
  });
}
