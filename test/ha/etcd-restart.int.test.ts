// Restarting etcd under two running API servers: they reconnect by themselves and
// their watches resume from the last delivered revision, so clients (raw watches,
// kubectl get -w, informers) see every event once, in order. Where etcd compacted
// while a server was cut off, its watchers get 410 Gone (ERROR, reason Expired) and
// informers relist.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { R } from '../../src/api/resources.js';
import { isStatusError } from '../../src/api/errors.js';
import { createInformerFactory } from '../../src/client/informer.js';
import type { JotasuApiClient } from '../../src/client/rest.js';
import type { Cluster } from '../lib/cluster.js';
import { startHA, waitFor, sleep, recordWatch, orderProblem, kubectlWatch, ensureNamespace, WATCH_FORMAT, type HA } from './lib.js';

let ha: HA;
let A: Cluster, B: Cluster;

before(async () => {
  ha = await startHA(2);
  [A, B] = ha.servers as [Cluster, Cluster];
});
after(async () => { await ha?.stop(); });

/** Create, retrying while the server cannot reach etcd; an AlreadyExists after a retry means the first try landed. */
async function createRetrying(c: JotasuApiClient, ns: string, name: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (let attempt = 0; ; attempt++) {
    try {
      await c.resource<ConfigMap>(R.configmaps).create({ metadata: { name, namespace: ns }, data: { v: name } });
      return;
    } catch (e) {
      if (attempt > 0 && isStatusError(e, 'AlreadyExists')) return;
      if (Date.now() > deadline) throw e;
      await sleep(100);
    }
  }
}

function informer(c: JotasuApiClient, ns: string) {
  const factory = createInformerFactory(c);
  const inf = factory.informer<ConfigMap>(R.configmaps, { namespace: ns });
  const log: string[] = [];
  inf.addEventHandler({
    onAdd: (o) => log.push(`add ${o.metadata!.name}`),
    onUpdate: (a, b) => { if (a.metadata!.resourceVersion !== b.metadata!.resourceVersion) log.push(`update ${b.metadata!.name}`); },
    onDelete: (o) => log.push(`delete ${o.metadata!.name}`),
  });
  factory.start();
  return { factory, inf, log };
}

test('etcd restarts (same data dir): servers reconnect, watches resume with no event lost, repeated or reordered', { timeout: 90_000 }, async (t) => {
  const ns = 'ha-etcd-restart';
  const ca = ha.client(A), cb = ha.client(B);
  await ensureNamespace(ca, ns);
  await ca.resource<ConfigMap>(R.configmaps).create({ metadata: { name: 'marker', namespace: ns } });
  const rv = (await cb.resource<ConfigMap>(R.configmaps).list({ namespace: ns })).metadata.resourceVersion!;
  const watches = [recordWatch(ca.resource<ConfigMap>(R.configmaps), { namespace: ns, resourceVersion: rv }),
    recordWatch(cb.resource<ConfigMap>(R.configmaps), { namespace: ns, resourceVersion: rv })];
  const kw = kubectlWatch(B, ['configmaps', '-n', ns, ...WATCH_FORMAT]);
  const inf = informer(ca, ns);
  await inf.factory.waitForSync(AbortSignal.timeout(10_000));
  await waitFor(() => kw.lines.length > 0, 'kubectl listed', 10_000);

  for (let i = 0; i < 20; i++) await createRetrying(i % 2 ? cb : ca, ns, `before-${i}`);
  await waitFor(() => watches.every((w) => w.events.length >= 20), 'events before the restart');

  // A write sent while etcd is down completes once it is back; so do the ones after.
  await ha.etcd.kill();
  const t0 = Date.now();
  const during = createRetrying(cb, ns, 'after-0');
  await sleep(500);
  await ha.etcd.restart();
  const etcdBack = Date.now() - t0;
  await during;
  const firstWrite = Date.now() - t0;
  for (let i = 1; i < 20; i++) await createRetrying(i % 2 ? ca : cb, ns, `after-${i}`);
  t.diagnostic(`etcd down for ${etcdBack} ms; the write sent meanwhile completed after ${firstWrite} ms`);

  // Listed besides the 40: the marker and kube-root-ca.crt.
  await waitFor(() => watches.every((w) => w.events.length >= 40) && kw.lines.length >= 42 && inf.inf.store.keys().length === 42, 'every event after the restart', 20_000);
  await sleep(300);
  for (const w of watches) {
    assert.equal(w.events.filter((e) => e.type === 'ERROR').length, 0, 'resumed, not expired');
    assert.equal(w.events.length, 40, 'each event once');
    assert.equal(orderProblem(w.events), '');
  }
  const seq = watches[0]!.events.map((e) => `${e.type} ${e.name} ${e.rv}`);
  assert.deepEqual(watches[1]!.events.map((e) => `${e.type} ${e.name} ${e.rv}`), seq);
  assert.deepEqual(kw.lines.slice(2), seq, `kubectl get -w (${kw.stderr()})`);
  assert.equal(inf.log.length, 42);
  assert.equal(new Set(inf.log).size, 42, 'the informer saw each object added once');
  for (const w of watches) w.handle.close();
  await kw.stop();
  inf.factory.stop();
  // kubectl works through both.
  for (const s of [A, B]) {
    const r = await s.kubectl(['get', 'configmaps', '-n', ns, '-o', 'name']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 42);
  }
});

test('etcd compacted while the servers were cut off: watchers get 410 Gone (Expired) and informers relist', { timeout: 90_000 }, async () => {
  const ns = 'ha-etcd-compacted';
  const ca = ha.client(A), cb = ha.client(B);
  await ensureNamespace(ca, ns);
  await createRetrying(ca, ns, 'one');
  const rv = (await cb.resource<ConfigMap>(R.configmaps).list({ namespace: ns })).metadata.resourceVersion!;
  const watches = [recordWatch(ca.resource<ConfigMap>(R.configmaps), { namespace: ns, resourceVersion: rv }),
    recordWatch(cb.resource<ConfigMap>(R.configmaps), { namespace: ns, resourceVersion: rv })];
  const inf = informer(cb, ns);
  await inf.factory.waitForSync(AbortSignal.timeout(10_000));
  await sleep(200);

  // Move etcd away from the servers, write and compact there, and bring it back.
  const elsewhere = await ha.etcd.restartElsewhere();
  const direct = new Etcd3({ hosts: [elsewhere] });
  try {
    for (let i = 0; i < 3; i++) await direct.put(`/ha-test/elsewhere-${i}`).value('x');
    const rev = Number((await direct.get('/ha-test/elsewhere-0').exec()).header.revision);
    await direct.kv.compact({ revision: rev, physical: true });
  } finally {
    direct.close();
  }
  await ha.etcd.restart();

  await waitFor(() => watches.every((w) => w.events.some((e) => e.type === 'ERROR')), '410 on both servers\' watches', 30_000);
  for (const w of watches) {
    const err = w.events.find((e) => e.type === 'ERROR')!;
    assert.equal(err.code, 410);
    assert.equal(err.reason, 'Expired');
    w.handle.close();
  }
  // The informer relists and keeps going.
  await createRetrying(ca, ns, 'two');
  await waitFor(() => inf.inf.store.get(`${ns}/two`) !== undefined, 'informer caught up after the relist', 30_000);
  assert.deepEqual(inf.log, ['add kube-root-ca.crt', 'add one', 'add two']);
  inf.factory.stop();
});
