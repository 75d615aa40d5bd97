// The `kubernetes` Service's Endpoints and EndpointSlices list every live API server
// (upstream's lease endpoint reconciler): three servers on one etcd, all on 127.0.0.1
// and so told apart by port; a cleanly stopped server leaves at once, a killed one when
// its 15 s master lease expires (plus at most one 10 s reconcile interval). On SQLite
// the single server lists itself the same way.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoints } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { R } from '../../src/api/resources.js';
import type { JotasuApiClient } from '../../src/client/rest.js';
import { startCluster, type Cluster } from '../lib/cluster.js';
import { startHA, waitFor, type HA } from './lib.js';

let ha: HA | undefined;
let single: Cluster | undefined;
after(async () => {
  await ha?.stop();
  await single?.stop();
});

/** What the kubernetes Service points at, as "ip:port" sorted, from the Endpoints and from the EndpointSlices. */
async function listed(c: JotasuApiClient): Promise<{ endpoints: string[]; slices: string[]; sliceNames: string[] }> {
  const ep = await c.resource<Endpoints>(R.endpoints).get('kubernetes', { namespace: 'default' });
  const endpoints = (ep.subsets ?? []).flatMap((s) => (s.addresses ?? []).flatMap((a) => (s.ports ?? []).map((p) => `${a.ip}:${p.port}`)));
  const sl = (await c.resource<EndpointSlice>(R.endpointslices).list({ namespace: 'default', labelSelector: 'kubernetes.io/service-name=kubernetes' })).items;
  const slices = sl.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses.flatMap((a) => (s.ports ?? []).map((p) => `${a}:${p.port}`))));
  return { endpoints: endpoints.sort(), slices: slices.sort(), sliceNames: sl.map((s) => s.metadata!.name!).sort() };
}

const addr = (c: Cluster): string => `127.0.0.1:${c.port}`;

test('three servers on one etcd: the kubernetes endpoints list all; stopped and killed servers drop out', { timeout: 240_000 }, async (t) => {
  ha = await startHA(3, { args: ['--disable', 'scheduler', '--disable', 'controller-manager'] });
  const [A, B, C] = ha.servers as [Cluster, Cluster, Cluster];
  const ca = ha.client(A);
  const all = [A, B, C].map(addr).sort();

  // Each server renews its lease and reconciles at start, so the last one up already sees all three.
  await waitFor(async () => (await listed(ca)).endpoints.join() === all.join(), 'all three servers in the Endpoints', 15_000);
  let l = await listed(ca);
  assert.deepEqual(l.slices, all, 'the EndpointSlices list all three too');
  // One port per server here: one slice per port, the first under upstream's name.
  const ports = [A, B, C].map((c) => c.port).sort((a, b) => a - b);
  assert.deepEqual(l.sliceNames, ['kubernetes', `kubernetes-${ports[1]}`, `kubernetes-${ports[2]}`].sort());
  const ep = await ca.resource<Endpoints>(R.endpoints).get('kubernetes', { namespace: 'default' });
  assert.equal(ep.metadata?.labels?.['endpointslice.kubernetes.io/skip-mirror'], 'true');

  // The leases: one key per server under /registry/masterleases/, each on an etcd lease.
  const keys = (await ha.etcdClient.getAll().prefix('/registry/masterleases/').keys()).sort();
  assert.deepEqual(keys, all.map((a) => `/registry/masterleases/${a}`).sort());
  const leaseOf = async (key: string): Promise<string> => (await ha!.etcdClient.get(key).exec()).kvs[0]?.lease ?? '0';
  for (const k of keys) assert.notEqual(await leaseOf(k), '0', `${k} is attached to a lease`);

  // A clean stop removes the server's own lease and endpoint right away (no TTL wait). A
  // peer's reconcile running at that moment may have listed C's lease before it went and
  // write it back; the peer then re-lists and corrects it at once, well inside the 15 s
  // TTL and the 10 s interval.
  const t0 = Date.now();
  await C.stop();
  const twoLeft = [A, B].map(addr).sort().join();
  let lastSeen = '';
  await waitFor(async () => {
    const x = await listed(ca);
    lastSeen = JSON.stringify(x);
    return x.endpoints.join() === twoLeft && x.slices.join() === twoLeft && x.sliceNames.length === 2;
  }, 'C to leave the Endpoints and EndpointSlices', 3_000).catch(async (e: Error) => {
    const leases = (await ha!.etcdClient.getAll().prefix('/registry/masterleases/').keys()).sort();
    throw new Error(`${e.message}; last listed ${lastSeen}; master leases ${JSON.stringify(leases)}; C stopped in ${Date.now() - t0} ms and printed:\n${C.logs().split('\n').slice(-40).join('\n')}`);
  });
  l = await listed(ca);
  const stopMs = Date.now() - t0;
  assert.deepEqual(l.endpoints, [A, B].map(addr).sort(), 'C left the Endpoints on its way down');
  assert.deepEqual(l.slices, [A, B].map(addr).sort());
  assert.equal(l.sliceNames.length, 2, 'C\'s slice is deleted');
  t.diagnostic(`clean stop: gone from the endpoints ${stopMs} ms after the stop began`);

  // kill -9: B stays listed until its lease expires, then A's next reconcile drops it.
  await B.kill9();
  const killedAt = Date.now();
  assert.ok((await listed(ca)).endpoints.includes(addr(B)), 'B is still listed right after the kill (its lease runs for up to 15 s)');
  // The reconciler writes the Endpoints, then the slices: wait for both.
  await waitFor(async () => {
    const x = await listed(ca);
    return x.endpoints.join() === addr(A) && x.slices.join() === addr(A) && x.sliceNames.length === 1;
  }, 'the killed server to drop out', 40_000);
  t.diagnostic(`kill -9: dropped from the endpoints after ${((Date.now() - killedAt) / 1000).toFixed(1)} s (lease TTL 15 s + reconcile interval 10 s at most)`);
  l = await listed(ca);
  assert.deepEqual(l.slices, [addr(A)]);
  assert.deepEqual(l.sliceNames, ['kubernetes']);
  assert.deepEqual(await ha.etcdClient.getAll().prefix('/registry/masterleases/').keys(), [`/registry/masterleases/${addr(A)}`]);

  // kubectl sees the same.
  const r = await A.kubectl(['get', 'endpoints', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.subsets[*].addresses[*].ip}:{.subsets[*].ports[*].port}']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, addr(A));
});

test('SQLite: the single server lists itself', { timeout: 120_000 }, async () => {
  single = await startCluster({ args: ['--disable', 'scheduler', '--disable', 'controller-manager'] });
  const r = await single.kubectl(['get', 'endpointslice', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.endpoints[*].addresses[*]}:{.ports[*].port}']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, addr(single));
  const e = await single.kubectl(['get', 'endpoints', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.subsets[*].addresses[*].ip}:{.subsets[*].ports[*].port}']);
  assert.equal(e.stdout, addr(single));
});
