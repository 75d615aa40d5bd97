// Periodic compaction (--etcd-compaction-interval) on both backends: after it, a
// watch from an older resourceVersion gets 410 Gone as an ERROR event (Status,
// reason Expired), and so does an exact list at that revision. On etcd with two
// servers, one of them compacts per round (compact_rev_key as the shared clock).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { R } from '../../src/api/resources.js';
import { isStatusError } from '../../src/api/errors.js';
import { createClientFromKubeconfig, type JotasuApiClient } from '../../src/client/rest.js';
import { startCluster, type Cluster } from '../lib/cluster.js';
import { startHA, waitFor, sleep, recordWatch, ensureNamespace, type HA } from './lib.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c().catch(() => undefined); });

/** Writes rv1 < rv2 < rv3 and waits until a watch from rv1 is refused with 410 Expired, through every client. */
async function expectCompactedWatch(writer: JotasuApiClient, readers: JotasuApiClient[], ns: string): Promise<{ rv1: number; waitedMs: number }> {
  // Once kube-root-ca.crt is there, the watches below see this test's writes alone.
  await ensureNamespace(writer, ns);
  const cms = writer.resource<ConfigMap>(R.configmaps);
  const o = await cms.create({ metadata: { name: 'c', namespace: ns }, data: { v: '1' } });
  const rv1 = Number(o.metadata!.resourceVersion);
  await cms.patch('c', 'merge', { data: { v: '2' } }, { namespace: ns });
  await cms.patch('c', 'merge', { data: { v: '3' } }, { namespace: ns });
  const t0 = Date.now();
  for (const r of readers) {
    await waitFor(async () => {
      const w = recordWatch(r.resource<ConfigMap>(R.configmaps), { namespace: ns, resourceVersion: String(rv1) });
      await waitFor(() => w.events.length > 0, 'a first event', 5000);
      w.handle.close();
      const e = w.events[0]!;
      if (e.type !== 'ERROR') {
        assert.equal(e.type, 'MODIFIED', 'before compaction the watch replays from rv1');
        return false;
      }
      assert.equal(e.code, 410);
      assert.equal(e.reason, 'Expired');
      return true;
    }, `watch from ${rv1} expired`, 15_000);
    // An exact list at the compacted revision is gone, too; the current state still lists.
    await assert.rejects(r.resource<ConfigMap>(R.configmaps).list({ namespace: ns, resourceVersion: String(rv1), resourceVersionMatch: 'Exact' }),
      (e: unknown) => isStatusError(e, 'Expired') || isStatusError(e, 'Gone'));
    const l = await r.resource<ConfigMap>(R.configmaps).list({ namespace: ns });
    assert.notEqual(l.items[0]!.data!.v, '1', 'the current state lists');
    // A watch from the current revision works.
    const w = recordWatch(r.resource<ConfigMap>(R.configmaps), { namespace: ns, resourceVersion: l.metadata.resourceVersion! });
    await cms.patch('c', 'merge', { data: { v: String(Date.now()) } }, { namespace: ns });
    await waitFor(() => w.events.length > 0, 'an event from the current revision');
    assert.equal(w.events[0]!.type, 'MODIFIED');
    w.handle.close();
  }
  return { rv1, waitedMs: Date.now() - t0 };
}

test('SQLite: the server compacts every interval; older watches get 410 Expired', { timeout: 60_000 }, async (t) => {
  const c: Cluster = await startCluster({ args: ['--etcd-compaction-interval', '1s'] });
  cleanups.push(() => c.stop());
  const client = createClientFromKubeconfig(c.kubeconfig, { qps: 0 });
  cleanups.push(async () => client.close());
  const r = await expectCompactedWatch(client, [client], 'compact-sqlite');
  t.diagnostic(`watch from rv ${r.rv1} expired ${r.waitedMs} ms after the writes`);
});

test('etcd, two servers: one compacts per round (compact_rev_key), older watches get 410 Expired on both', { timeout: 60_000 }, async (t) => {
  const ha: HA = await startHA(2, { args: ['--etcd-compaction-interval', '1s'] });
  cleanups.push(() => ha.stop());
  const [a, b] = ha.servers as [Cluster, Cluster];
  const ca = ha.client(a), cb = ha.client(b);
  const r = await expectCompactedWatch(ca, [ca, cb], 'compact-etcd');
  t.diagnostic(`watch from rv ${r.rv1} expired on both servers ${r.waitedMs} ms after the writes`);
  const key = await ha.etcdClient.get('compact_rev_key').exec();
  assert.ok(Number(key.kvs[0]!.value.toString()) > r.rv1, 'compact_rev_key records a compaction past rv1');
  await assert.rejects(ha.etcdClient.get('/registry/configmaps/compact-etcd/c').revision(r.rv1).string(), /compacted/);

  // Over ~6 intervals with steady writes, compactions happen about once per interval, not once per server per interval.
  const versionOf = async (): Promise<number> => Number((await ha.etcdClient.get('compact_rev_key').exec()).kvs[0]?.version ?? 0);
  const v0 = await versionOf();
  const t0 = Date.now();
  let stop = false;
  const writer = (async () => {
    for (let i = 0; !stop; i++) {
      await ca.resource<ConfigMap>(R.configmaps).patch('c', 'merge', { data: { v: `w${i}` } }, { namespace: 'compact-etcd' });
      await sleep(100);
    }
  })();
  await sleep(6000);
  stop = true;
  await writer;
  const rounds = (Date.now() - t0) / 1000;
  const compactions = (await versionOf()) - v0;
  t.diagnostic(`${compactions} compactions in ${rounds.toFixed(1)} s with two servers at a 1 s interval`);
  assert.ok(compactions >= 3, `compactions keep happening (${compactions})`);
  assert.ok(compactions <= Math.ceil(rounds) + 2, `about one compaction per interval, not one per server (${compactions} in ${rounds.toFixed(1)} s)`);
});
