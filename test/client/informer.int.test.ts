// The client machinery against the real API server (test/lib/cluster.ts):
// informers see creates/updates/deletes, survive a server restart and catch up
// with what changed while it was down; leader election hands over within 15 s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import { R } from '../../src/api/resources.js';
import { isStatusError } from '../../src/api/errors.js';
import { createServer, connect, type Socket, type AddressInfo } from 'node:net';
import { createClient, createClientFromKubeconfig, type JotasuApiClient } from '../../src/client/rest.js';
import { loadKubeconfig } from '../../src/client/kubeconfig.js';
import { createInformerFactory } from '../../src/client/informer.js';
import { runLeaderElection } from '../../src/client/leader.js';
import { createEventRecorder } from '../../src/client/events.js';
import type { KubeObject } from '../../src/client/types.js';
import { startCluster, type Cluster } from '../lib/cluster.js';

let cluster: Cluster;
let client: JotasuApiClient;

before(async () => {
  cluster = await startCluster();
  client = createClientFromKubeconfig(cluster.kubeconfig, { qps: 0 });
});
after(async () => {
  client?.close();
  await cluster?.stop();
});

async function waitFor(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function recorder<T extends KubeObject>(): { events: string[]; h: { onAdd(o: T): void; onUpdate(a: T, b: T): void; onDelete(o: T): void } } {
  const events: string[] = [];
  return {
    events,
    h: {
      onAdd: (o) => events.push(`add ${o.metadata!.name}`),
      onUpdate: (a, b) => { if (a.metadata!.resourceVersion !== b.metadata!.resourceVersion) events.push(`update ${b.metadata!.name}`); },
      onDelete: (o) => events.push(`delete ${o.metadata!.name}`),
    },
  };
}

/** A namespace, once the controller manager has published its kube-root-ca.crt (so that the ConfigMaps seen are the test's and that one). */
async function ensureNamespace(name: string): Promise<void> {
  try {
    await client.resource(R.namespaces).create({ metadata: { name } });
  } catch (e) {
    if (!isStatusError(e, 'AlreadyExists')) throw e;
  }
  for (let i = 0; !(await client.resource<ConfigMap>(R.configmaps).get('kube-root-ca.crt', { namespace: name }).catch(() => undefined)); i++) {
    if (i > 200) throw new Error(`no kube-root-ca.crt in ${name} after 20 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('informer: list then watch sees creates, updates and deletes, in order', async () => {
  const ns = 'inf-basic';
  await ensureNamespace(ns);
  const cms = client.resource<ConfigMap>(R.configmaps);
  for (let i = 0; i < 7; i++) await cms.create({ metadata: { name: `pre-${i}`, namespace: ns }, data: { i: String(i) } });
  const factory = createInformerFactory(client, { pageSize: 3 });
  const inf = factory.informer<ConfigMap>(R.configmaps, { namespace: ns });
  const log = recorder<ConfigMap>();
  inf.addEventHandler(log.h);
  factory.start();
  await factory.waitForSync(AbortSignal.timeout(10_000));
  assert.equal(inf.store.list().length, 8, 'pre-0..6 and kube-root-ca.crt');
  log.events.length = 0;

  const a = await cms.create({ metadata: { name: 'a', namespace: ns, labels: { x: '1' } }, data: { v: '1' } });
  await cms.update({ ...a, data: { v: '2' } });
  await cms.patch('a', 'merge', { data: { v: '3' } }, { namespace: ns });
  await cms.delete('pre-0', { namespace: ns });
  await waitFor(() => log.events.length >= 4, 'four events');
  assert.deepEqual(log.events, ['add a', 'update a', 'update a', 'delete pre-0']);
  assert.equal(inf.store.get(`${ns}/a`)!.data!.v, '3');
  assert.deepEqual(inf.store.byIndex('namespace', ns).length, 8);
  factory.stop();
});

/**
 * A TCP relay in front of the API server that can be cut, so that the informer is
 * provably disconnected while other clients change things.
 */
async function startRelay(target: number): Promise<{ port: number; cut(): void; heal(): void; close(): Promise<void> }> {
  let open = true;
  const conns = new Set<Socket>();
  const server = createServer((c) => {
    if (!open) { c.destroy(); return; }
    const up = connect(target, '127.0.0.1');
    conns.add(c); conns.add(up);
    c.pipe(up); up.pipe(c);
    const drop = (): void => { c.destroy(); up.destroy(); conns.delete(c); conns.delete(up); };
    c.on('error', drop); up.on('error', drop); c.on('close', drop); up.on('close', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    cut() { open = false; for (const s of conns) s.destroy(); conns.clear(); },
    heal() { open = true; },
    close: () => new Promise<void>((r) => { for (const s of conns) s.destroy(); server.close(() => r()); }),
  };
}

test('informer: survives an API server restart and catches up with changes made while it was disconnected', async () => {
  const ns = 'inf-restart';
  await ensureNamespace(ns);
  const cms = client.resource<ConfigMap>(R.configmaps);
  await cms.create({ metadata: { name: 'stays', namespace: ns } });
  await cms.create({ metadata: { name: 'goes', namespace: ns } });
  await cms.create({ metadata: { name: 'changes', namespace: ns }, data: { v: '1' } });
  const relay = await startRelay(cluster.port);
  const viaRelay = createClient({ ...loadKubeconfig(cluster.kubeconfig), server: `https://127.0.0.1:${relay.port}`, qps: 0 });
  const factory = createInformerFactory(viaRelay, { backoff: { initialMs: 100, maxMs: 1000 } });
  const inf = factory.informer<ConfigMap>(R.configmaps, { namespace: ns });
  const log = recorder<ConfigMap>();
  inf.addEventHandler(log.h);
  factory.start();
  try {
    await factory.waitForSync(AbortSignal.timeout(10_000));
    log.events.length = 0;

    // The server goes away, and comes back on the same data dir, while the informer cannot reach it.
    relay.cut();
    await cluster.stop({ keepData: true });
    await new Promise((r) => setTimeout(r, 500)); // the informer fails to reconnect a few times
    await cluster.restart();
    await cms.delete('goes', { namespace: ns });
    await cms.patch('changes', 'merge', { data: { v: '2' } }, { namespace: ns });
    await cms.create({ metadata: { name: 'new', namespace: ns } });
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(log.events, [], 'nothing seen while disconnected');
    assert.ok(inf.store.get(`${ns}/goes`), 'the cache still has the old state');
    relay.heal();

    await waitFor(() => inf.store.get(`${ns}/new`) !== undefined && inf.store.get(`${ns}/goes`) === undefined
      && inf.store.get(`${ns}/changes`)?.data?.v === '2', 'the cache to catch up', 30_000);
    assert.deepEqual([...log.events].sort(), ['add new', 'delete goes', 'update changes'].sort());
    assert.deepEqual(inf.store.keys().sort(), [`${ns}/changes`, `${ns}/kube-root-ca.crt`, `${ns}/new`, `${ns}/stays`]);
    // And it keeps watching.
    log.events.length = 0;
    await cms.create({ metadata: { name: 'after', namespace: ns } });
    await waitFor(() => log.events.includes('add after'), 'an event after the restart');
  } finally {
    factory.stop();
    viaRelay.close();
    await relay.close();
  }
});

test('leader election: the other candidate takes over within 15 s when the leader stops renewing', { timeout: 60_000 }, async (t) => {
  const ns = 'kube-system';
  await ensureNamespace(ns);
  const state = { a: 0, b: 0, bAt: 0 };
  const clientA = createClientFromKubeconfig(cluster.kubeconfig, { qps: 0 });
  const clientB = createClientFromKubeconfig(cluster.kubeconfig, { qps: 0 });
  const a = runLeaderElection({
    client: clientA, namespace: ns, name: 'int-test', identity: 'a',
    onStartedLeading: () => { state.a++; }, onStoppedLeading: () => {},
  });
  await waitFor(() => state.a === 1, 'a to lead');
  const b = runLeaderElection({
    client: clientB, namespace: ns, name: 'int-test', identity: 'b',
    onStartedLeading: () => { state.b++; state.bAt = Date.now(); }, onStoppedLeading: () => {},
  });
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(state.b, 0, 'b waits while a renews');
  // a dies without releasing: its connection is gone, so it stops renewing.
  clientA.close();
  const lease = await client.resource<Lease>(R.leases).get('int-test', { namespace: ns });
  const lastRenew = Date.parse(lease.spec!.renewTime!);
  await waitFor(() => state.b === 1, 'b to take over', 20_000);
  const took = state.bAt - lastRenew;
  assert.ok(took <= 15_000 + 500, `b took over ${took} ms after a's last renewal`);
  t.diagnostic(`leader handover ${took} ms after the last renewal`);
  const after = await client.resource<Lease>(R.leases).get('int-test', { namespace: ns });
  assert.equal(after.spec!.holderIdentity, 'b');
  assert.equal(after.spec!.leaseTransitions, 1);
  await b.stop();
  const released = await client.resource<Lease>(R.leases).get('int-test', { namespace: ns });
  assert.equal(released.spec!.holderIdentity ?? '', '', 'stop releases the lease');
  await a.stop();
  clientB.close();
});

test('event recorder writes and aggregates Events on the real server', async () => {
  const ns = 'inf-events';
  await ensureNamespace(ns);
  const cm = await client.resource<ConfigMap>(R.configmaps).create({ metadata: { name: 'subject', namespace: ns } });
  const rec = createEventRecorder(client, { component: 'int-test', host: 'here' });
  rec.event(cm, 'Normal', 'Tested', 'hello');
  rec.event(cm, 'Normal', 'Tested', 'hello');
  await rec.flush();
  const list = await client.resource<KubeObject & { reason?: string; count?: number; involvedObject?: { uid?: string } }>(R.events).list({ namespace: ns });
  const evs = list.items.filter((e) => e.reason === 'Tested');
  assert.equal(evs.length, 1);
  assert.equal(evs[0]!.count, 2);
  assert.equal(evs[0]!.involvedObject!.uid, cm.metadata!.uid);
  await rec.shutdown();
});
