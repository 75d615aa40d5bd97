// Three `jotasu server` processes on one real etcd serve one cluster: what one stores
// under /registry/ the others read and watch in revision order; one kubeconfig (one CA,
// shared through --token) works against all; Service IPs and NodePorts stay unique;
// one scheduler and one controller manager lead, and another takes over within 15 s
// of the leader's kill -9; a server killed during a stream of writes loses none it
// acknowledged, while the others keep serving and clients reconnect.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ConfigMap, Pod, Service, Event } from 'kubernetes-types/core/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import { R } from '../../src/api/resources.js';
import { isStatusError } from '../../src/api/errors.js';
import { createInformerFactory } from '../../src/client/informer.js';
import type { JotasuApiClient } from '../../src/client/rest.js';
import { startSimNodes, type SimNodes } from '../../src/sim/nodes.js';
import type { Cluster } from '../lib/cluster.js';
import { startHA, waitFor, sleep, recordWatch, orderProblem, kubectlWatch, ensureNamespace, WATCH_FORMAT, type HA } from './lib.js';

let ha: HA;
let A: Cluster, B: Cluster, C: Cluster;
const sims: SimNodes[] = [];

before(async () => {
  ha = await startHA(3, { env: { LOG_LEVEL: 'info' } });
  [A, B, C] = ha.servers as [Cluster, Cluster, Cluster];
});
after(async () => {
  for (const s of sims) await s.stop().catch(() => undefined);
  await ha?.stop();
});

test('objects are stored in etcd under /registry/, the CA only encrypted under /bootstrap/', async () => {
  const r = await A.kubectl(['create', 'configmap', 'stored', '-n', 'default', '--from-literal=k=v']);
  assert.equal(r.code, 0, r.stderr);
  const raw = await ha.etcdClient.get('/registry/configmaps/default/stored').string();
  assert.ok(raw, 'the ConfigMap is in etcd');
  const obj = JSON.parse(raw) as ConfigMap;
  assert.equal(obj.data?.k, 'v');
  assert.equal(obj.metadata?.resourceVersion, undefined, 'resourceVersion comes from the revision, not the value');
  const ns = await ha.etcdClient.getAll().prefix('/registry/namespaces/').keys();
  assert.ok(ns.includes('/registry/namespaces/kube-system'));
  const boot = await ha.etcdClient.getAll().prefix('/bootstrap/').strings();
  const vals = Object.values(boot);
  assert.equal(vals.length, 1, 'one bootstrap record for the token');
  assert.ok(!vals[0]!.includes('BEGIN'), 'the CA key is not stored in the clear');
});

test('one CA: every server\'s kubeconfig works against every server (kubectl)', async () => {
  const ca = (c: Cluster) => readFileSync(join(c.dataDir, 'server', 'tls', 'server-ca.crt'), 'utf8');
  assert.equal(ca(B), ca(A));
  assert.equal(ca(C), ca(A));
  for (const cfg of [A, B, C]) {
    for (const target of [A, B, C]) {
      const r = await cfg.kubectl(['--server', target.url, 'get', 'configmap', 'stored', '-n', 'default', '-o', 'jsonpath={.data.k}']);
      assert.equal(r.code, 0, `kubeconfig of ${cfg.url} against ${target.url}: ${r.stderr}`);
      assert.equal(r.stdout, 'v');
    }
  }
});

test('writes through any server are read and watched through the others in revision order', async () => {
  const ns = 'ha-order';
  const ca = ha.client(A), cb = ha.client(B), cc = ha.client(C);
  await ensureNamespace(ca, ns);
  const rv = (await cb.resource<ConfigMap>(R.configmaps).list({ namespace: ns })).metadata.resourceVersion!;
  const watches = [ca, cb, cc].map((c) => recordWatch(c.resource<ConfigMap>(R.configmaps), { namespace: ns, resourceVersion: rv }));
  // kubectl get -w on C, too: it lists (kube-root-ca.crt and the marker) and then watches from the list's revision.
  await ca.resource<ConfigMap>(R.configmaps).create({ metadata: { name: 'marker', namespace: ns } });
  const kw = kubectlWatch(C, ['configmaps', '-n', ns, ...WATCH_FORMAT]);
  await waitFor(() => kw.lines.length > 1, 'kubectl listed', 10_000);
  assert.match(kw.lines[0]!, /^ADDED kube-root-ca\.crt \d+$/);
  assert.match(kw.lines[1]!, /^ADDED marker \d+$/);
  const writers = [ca, cb, cc];
  const acked: number[] = [];
  // Interleaved writes through all three, several in flight at once.
  await Promise.all(writers.map(async (c, w) => {
    const cms = c.resource<ConfigMap>(R.configmaps);
    for (let i = 0; i < 10; i++) {
      const o = await cms.create({ metadata: { name: `cm-${w}-${i}`, namespace: ns }, data: { v: '0' } });
      acked.push(Number(o.metadata!.resourceVersion));
      const u = await cms.patch(`cm-${w}-${i}`, 'merge', { data: { v: '1' } }, { namespace: ns });
      acked.push(Number(u.metadata!.resourceVersion));
      if (i % 3 === 0) {
        await cms.delete(`cm-${w}-${i}`, { namespace: ns });
      }
    }
  }));
  const total = 3 * (10 * 2 + 4) + 1;
  await waitFor(() => watches.every((w) => w.events.length >= total), `${total} events on every watch`, 10_000);
  await sleep(200);
  // Read-your-writes across servers: what A wrote, B and C read at once.
  const lists = await Promise.all([ca, cb, cc].map((c) => c.resource<ConfigMap>(R.configmaps).list({ namespace: ns })));
  for (const l of lists) assert.equal(l.items.length, 30 - 12 + 1 + 1, 'with the marker and kube-root-ca.crt');
  const seqs = watches.map((w) => w.events.map((e) => `${e.type} ${e.name} ${e.rv}`));
  for (const w of watches) {
    assert.equal(w.events.length, total, 'no event missing or twice');
    assert.equal(orderProblem(w.events), '');
  }
  assert.deepEqual(seqs[1], seqs[0], 'B saw what A saw, in the same order');
  assert.deepEqual(seqs[2], seqs[0], 'C saw what A saw, in the same order');
  for (const r of acked) assert.ok(watches[1]!.events.some((e) => e.rv === r), `acknowledged rv ${r} watched through B`);
  for (const w of watches) w.handle.close();
  await waitFor(() => kw.lines.length >= total + 1, 'kubectl saw every event', 10_000);
  await sleep(200);
  await kw.stop();
  assert.deepEqual(kw.lines.slice(1), seqs[0], `kubectl get -w through C (${kw.stderr()})`);
});

test('Service IPs and NodePorts are unique when allocated through all servers at once', async () => {
  const ns = 'ha-alloc';
  const clients = [ha.client(A), ha.client(B), ha.client(C)];
  await ensureNamespace(clients[0]!, ns);
  const made = await Promise.all(Array.from({ length: 45 }, (_, i) => clients[i % 3]!.resource<Service>(R.services).create({
    metadata: { name: `svc-${i}`, namespace: ns },
    spec: { type: 'NodePort', selector: { app: 'x' }, ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81 }] },
  })));
  const ips = made.map((s) => s.spec!.clusterIP!);
  const ports = made.flatMap((s) => s.spec!.ports!.map((p) => p.nodePort!));
  assert.equal(new Set(ips).size, 45, 'distinct ClusterIPs');
  assert.equal(new Set(ports).size, 90, 'distinct NodePorts');
  const ipKeys = await ha.etcdClient.getAll().prefix('/registry/jotasu/serviceips/').keys();
  for (const ip of ips) assert.ok(ipKeys.includes(`/registry/jotasu/serviceips/${ip}`));
  // A fixed IP or port already taken through another server is refused.
  await assert.rejects(clients[1]!.resource<Service>(R.services).create({
    metadata: { name: 'dup-ip', namespace: ns }, spec: { clusterIP: ips[0], selector: { app: 'x' }, ports: [{ port: 80 }] },
  }), (e: unknown) => isStatusError(e, 'Invalid'));
  await assert.rejects(clients[2]!.resource<Service>(R.services).create({
    metadata: { name: 'dup-port', namespace: ns }, spec: { type: 'NodePort', selector: { app: 'x' }, ports: [{ port: 80, nodePort: ports[0] }] },
  }), (e: unknown) => isStatusError(e, 'Invalid'));
});

async function holder(c: JotasuApiClient, name: string): Promise<{ id: string; renew: string }> {
  const l = await c.resource<Lease>(R.leases).get(name, { namespace: 'kube-system' });
  return { id: l.spec?.holderIdentity ?? '', renew: String(l.spec?.renewTime ?? '') };
}

/** The server that holds `id`: its leader-election log lines carry the identity (servers log at info here). */
function serverOf(id: string): Cluster | undefined {
  return [A, B, C].find((s) => s.logs().includes(`"identity":"${id}"`));
}

test('one scheduler and one controller manager lead; kill -9 of the leader\'s server hands over within 15 s', { timeout: 90_000 }, async (t) => {
  const probe = ha.client(B);
  await waitFor(async () => (await holder(probe, 'kube-scheduler')).id !== '' && (await holder(probe, 'kube-controller-manager')).id !== '', 'both leases held');
  const sched = await holder(probe, 'kube-scheduler');
  const cm = await holder(probe, 'kube-controller-manager');
  t.diagnostic(`scheduler leader ${sched.id}, controller-manager leader ${cm.id}`);
  assert.match(sched.id, new RegExp(`^${hostname()}_[0-9a-f-]{36}$`), 'identities are hostname_uuid, unique across machines');
  // Exactly one holder each: the three candidates' Leases are one object, so check that the
  // holder keeps renewing and nobody else writes it for a few retry periods.
  const ids = new Set<string>();
  for (let i = 0; i < 12; i++) {
    ids.add((await holder(probe, 'kube-scheduler')).id);
    await sleep(250);
  }
  assert.deepEqual([...ids], [sched.id], 'the scheduler lease stays with one holder');

  const leader = serverOf(sched.id);
  assert.ok(leader, `found the server of ${sched.id}`);
  const survivors = [A, B, C].filter((s) => s !== leader);
  const sc = ha.client(survivors[0]!);

  // Only the leader acts: pods on simulated nodes are all bound by the leader's scheduler.
  const ns = 'ha-lead';
  await ensureNamespace(sc, ns);
  sims.push(await startSimNodes({ client: ha.client(survivors[1]!), count: 2, namePrefix: 'ha-node-', startIndex: 1, cpu: '8', memory: '16Gi' }));
  const pods = sc.resource<Pod>(R.pods);
  const podSpec = (name: string): Pod => ({ metadata: { name, namespace: ns }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
  for (let i = 0; i < 4; i++) await pods.create(podSpec(`before-${i}`));
  const events = sc.resource<Event>(R.events);
  const scheduledBy = async (): Promise<Map<string, string>> => {
    const l = await events.list({ namespace: ns });
    return new Map(l.items.filter((e) => e.reason === 'Scheduled').map((e) => [e.involvedObject.name!, e.reportingInstance ?? e.source?.host ?? '']));
  };
  await waitFor(async () => (await scheduledBy()).size >= 4, 'four pods scheduled');
  for (const [pod, by] of await scheduledBy()) assert.equal(by, sched.id, `${pod} bound by the leader`);

  // kill -9 the leader's server and measure how long until another server's components lead.
  const killedAt = Date.now();
  await leader!.kill9();
  const takeover = async (name: string, old: string): Promise<number> => {
    for (;;) {
      const h = await holder(sc, name).catch(() => ({ id: old, renew: '' }));
      if (h.id && h.id !== old) return Date.now() - killedAt;
      if (Date.now() - killedAt > 30_000) throw new Error(`${name}: no takeover in 30 s`);
      await sleep(100);
    }
  };
  const [schedMs, cmMs] = await Promise.all([
    takeover('kube-scheduler', sched.id),
    cm.id === sched.id ? takeover('kube-controller-manager', cm.id) : Promise.resolve(-1),
  ]);
  t.diagnostic(`takeover after kill -9: scheduler ${schedMs} ms${cmMs >= 0 ? `, controller-manager ${cmMs} ms` : ''}`);
  assert.ok(schedMs <= 15_000, `scheduler took over in ${schedMs} ms`);
  if (cmMs >= 0) assert.ok(cmMs <= 15_000, `controller-manager took over in ${cmMs} ms`);
  const newSched = (await holder(sc, 'kube-scheduler')).id;

  // The new leaders act: a new pod is bound by the new scheduler; a Deployment gets its ReplicaSet and pods.
  await pods.create(podSpec('after-0'));
  await waitFor(async () => (await scheduledBy()).has('after-0'), 'after-0 scheduled', 20_000);
  assert.equal((await scheduledBy()).get('after-0'), newSched);
  await sc.resource<Deployment>(R.deployments).create({
    metadata: { name: 'web', namespace: ns },
    spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
  });
  await waitFor(async () => (await pods.list({ namespace: ns, labelSelector: 'app=web' })).items.filter((p) => p.spec?.nodeName).length === 2, 'deployment pods scheduled', 20_000);

  // Bring the killed server back for the next test.
  await leader!.restart();
});

test('kill -9 of a server during a stream of writes: every acknowledged write is in etcd; the others serve on; clients reconnect', { timeout: 90_000 }, async (t) => {
  const ns = 'ha-crash';
  const [victim, other1, other2] = [C, A, B];
  const cv = ha.client(victim);
  await ensureNamespace(cv, ns);
  // An informer on a survivor, and one on the victim (it must reconnect after the restart).
  const seen = (c: JotasuApiClient) => {
    const factory = createInformerFactory(c);
    const inf = factory.informer<ConfigMap>(R.configmaps, { namespace: ns });
    const adds = new Map<string, number>();
    inf.addEventHandler({ onAdd: (o) => adds.set(o.metadata!.name!, (adds.get(o.metadata!.name!) ?? 0) + 1) });
    factory.start();
    return { factory, inf, adds };
  };
  const onSurvivor = seen(ha.client(other1));
  const onVictim = seen(ha.client(victim));
  await onSurvivor.factory.waitForSync(AbortSignal.timeout(10_000));
  await onVictim.factory.waitForSync(AbortSignal.timeout(10_000));

  const acked: string[] = [];
  let failed = 0;
  let stop = false;
  const cms = cv.resource<ConfigMap>(R.configmaps);
  let n = 0;
  const writers = Array.from({ length: 8 }, async () => {
    while (!stop) {
      const name = `w-${n++}`;
      try {
        await cms.create({ metadata: { name, namespace: ns }, data: { pad: 'x'.repeat(512) } });
        acked.push(name);
      } catch {
        failed++;
        await sleep(20);
      }
    }
  });
  await waitFor(() => acked.length >= 200, '200 acknowledged writes', 20_000);
  await victim.kill9();
  const killedAt = acked.length;
  await sleep(300);
  stop = true;
  await Promise.all(writers);
  t.diagnostic(`${acked.length} writes acknowledged (${killedAt} when the kill returned), ${failed} failed`);
  assert.ok(failed > 0, 'writes in flight at the kill failed');

  // Every acknowledged write is in etcd.
  const keys = new Set(await ha.etcdClient.getAll().prefix(`/registry/configmaps/${ns}/`).keys());
  const missing = acked.filter((a) => !keys.has(`/registry/configmaps/${ns}/${a}`));
  assert.deepEqual(missing, [], 'no acknowledged write lost');

  // The others keep serving (reads, writes, kubectl), and the survivor's informer has everything.
  const r = await other2.kubectl(['get', 'configmaps', '-n', ns, '-o', 'name']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, keys.size);
  await ha.client(other2).resource<ConfigMap>(R.configmaps).create({ metadata: { name: 'after-crash', namespace: ns } });
  await waitFor(() => onSurvivor.inf.store.keys().length === keys.size + 1, 'survivor informer caught up');

  // The victim comes back on the same address; its informer reconnects and catches up, with no object added twice.
  await victim.restart();
  await ha.client(other1).resource<ConfigMap>(R.configmaps).create({ metadata: { name: 'after-restart', namespace: ns } });
  await waitFor(() => onVictim.inf.store.get(`${ns}/after-restart`) !== undefined, 'victim informer reconnected and caught up', 30_000);
  assert.equal(onVictim.inf.store.keys().length, keys.size + 2);
  for (const [name, count] of [...onSurvivor.adds, ...onVictim.adds]) assert.equal(count, 1, `${name} added once`);
  onSurvivor.factory.stop();
  onVictim.factory.stop();
});
