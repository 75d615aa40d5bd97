// The scheduler inside a real `jotasu server`, with simulated nodes from this process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Event, Pod } from 'kubernetes-types/core/v1.js';
import { startCluster, type Cluster } from '../lib/cluster.js';
import { createClientFromKubeconfig, type JotasuApiClient } from '../../src/client/rest.js';
import { R } from '../../src/api/resources.js';
import { startSimNodes, type SimNodes } from '../../src/sim/nodes.js';

let cluster: Cluster;
let client: JotasuApiClient;
const sims: SimNodes[] = [];

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

function pod(name: string, ns: string, extra: Partial<NonNullable<Pod['spec']>> = {}, labels: Record<string, string> = {}, cpu = '100m'): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: ns, labels },
    spec: { containers: [{ name: 'c', image: 'nginx', resources: { requests: { cpu, memory: '64Mi' } } }], ...extra },
  };
}

const pods = () => client.resource<Pod>(R.pods);
async function getPod(ns: string, name: string): Promise<Pod> { return pods().get(name, { namespace: ns }); }
async function makeNamespace(name: string): Promise<void> {
  await client.resource(R.namespaces).create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}
async function eventsFor(ns: string, name: string): Promise<Event[]> {
  const list = await client.resource<Event>(R.events).list({ namespace: ns });
  return list.items.filter((e) => e.involvedObject?.name === name);
}

before(async () => {
  cluster = await startCluster();
  client = createClientFromKubeconfig(cluster.kubeconfig, { qps: 500, burst: 1000 });
  sims.push(await startSimNodes({ client, count: 3, namePrefix: 'node-', startIndex: 1, cpu: '4', memory: '8Gi' }));
});

after(async () => {
  for (const s of sims) await s.stop().catch(() => undefined);
  client?.close();
  await cluster?.stop();
});

test('pods spread over the nodes, are bound with a Scheduled event and run on the simulated nodes', async () => {
  await makeNamespace('spread');
  for (let i = 0; i < 6; i++) await pods().create(pod(`web-${i}`, 'spread', {}, { app: 'web' }), { namespace: 'spread' });
  const running = await waitFor('6 running pods', async () => {
    const l = await pods().list({ namespace: 'spread' });
    return l.items.filter((p) => p.status?.phase === 'Running').length === 6 && l.items;
  });
  const perNode = new Map<string, number>();
  for (const p of running) perNode.set(p.spec!.nodeName!, (perNode.get(p.spec!.nodeName!) ?? 0) + 1);
  assert.deepEqual([...perNode.keys()].sort(), ['node-1', 'node-2', 'node-3']);
  assert.deepEqual([...perNode.values()], [2, 2, 2]);
  const p0 = running.find((p) => p.metadata!.name === 'web-0')!;
  assert.ok(p0.status?.podIP, 'simulated node gave a pod IP');
  assert.equal(p0.status?.conditions?.find((c) => c.type === 'PodScheduled')?.status, 'True');
  const ev = await waitFor('Scheduled event', async () => (await eventsFor('spread', 'web-0')).find((e) => e.reason === 'Scheduled'));
  assert.equal(ev.message, `Successfully assigned spread/web-0 to ${p0.spec!.nodeName}`);
  assert.equal(ev.source?.component, 'default-scheduler');
});

test('kubectl create deployment: 5 Running replicas spread over the 3 nodes', async () => {
  const r = await cluster.kubectl(['create', 'deployment', 'web', '--image=nginx', '--replicas=5', '-n', 'default']);
  assert.equal(r.code, 0, r.stderr);
  const running = await waitFor('5 running replicas', async () => {
    const l = (await pods().list({ namespace: 'default', labelSelector: 'app=web' })).items;
    const ok = l.filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
    return ok.length === 5 && ok;
  }, 30_000);
  const perNode = new Map<string, number>();
  for (const p of running) perNode.set(p.spec!.nodeName!, (perNode.get(p.spec!.nodeName!) ?? 0) + 1);
  assert.equal(perNode.size, 3, 'every node got a replica');
  assert.deepEqual([...perNode.values()].sort(), [1, 2, 2]);
  await cluster.kubectl(['delete', 'deployment', 'web', '-n', 'default']);
});

test('a pod asking more cpu than any node has stays Pending with the upstream message; a big node appearing takes it', async () => {
  await makeNamespace('big');
  await pods().create(pod('hog', 'big', {}, {}, '64'), { namespace: 'big' });
  const want = '0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.';
  const cond = await waitFor('PodScheduled=False', async () => (await getPod('big', 'hog')).status?.conditions?.find((c) => c.type === 'PodScheduled'));
  assert.equal(cond.status, 'False');
  assert.equal(cond.reason, 'Unschedulable');
  assert.equal(cond.message, want);
  const ev = await waitFor('FailedScheduling event', async () => (await eventsFor('big', 'hog')).find((e) => e.reason === 'FailedScheduling'));
  assert.equal(ev.type, 'Warning');
  assert.equal(ev.message, want);
  assert.equal((await getPod('big', 'hog')).spec?.nodeName, undefined);

  const big = await startSimNodes({ client, count: 1, namePrefix: 'big-node-', cpu: '128', memory: '512Gi' });
  sims.push(big);
  const bound = await waitFor('hog bound', async () => (await getPod('big', 'hog')).spec?.nodeName);
  assert.equal(bound, 'big-node-0');
  await pods().delete('hog', { namespace: 'big' });
  await big.stop({ deleteNodes: true });
});

test('taints, nodeSelector and pod anti-affinity are honoured', async () => {
  await makeNamespace('rules');
  const nodes = client.resource(R.nodes);
  await nodes.patch('node-3', 'merge', { spec: { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] }, metadata: { labels: { disk: 'ssd' } } });
  try {
    // nodeSelector picks node-3, whose taint only the tolerating pod accepts.
    await pods().create(pod('picky', 'rules', { nodeSelector: { disk: 'ssd' } }), { namespace: 'rules' });
    await pods().create(pod('picky-tol', 'rules', { nodeSelector: { disk: 'ssd' }, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }] }), { namespace: 'rules' });
    assert.equal(await waitFor('picky-tol bound', async () => (await getPod('rules', 'picky-tol')).spec?.nodeName), 'node-3');
    // The first attempt may run before the scheduler's cache has node-3's new label (then all
    // three nodes fail the selector); the node update requeues the pod and the message settles.
    const want = "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 node(s) didn't match Pod's node affinity/selector. "
      + 'preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.';
    let seen = '';
    await waitFor(`picky unschedulable with: ${want}`, async () => {
      const c = (await getPod('rules', 'picky')).status?.conditions?.find((x) => x.type === 'PodScheduled' && x.status === 'False');
      seen = c?.message ?? seen;
      return c?.message === want;
    }).catch((e: Error) => { throw new Error(`${e.message}; last message: ${seen}`); });

    // Anti-affinity on hostname: two untainted nodes take two replicas, the third waits.
    const anti = { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [
      { labelSelector: { matchLabels: { app: 'solo' } }, topologyKey: 'kubernetes.io/hostname' }] } } };
    for (let i = 0; i < 3; i++) await pods().create(pod(`solo-${i}`, 'rules', anti, { app: 'solo' }), { namespace: 'rules' });
    const placed = await waitFor('two solo pods bound and one rejected', async () => {
      const l = (await pods().list({ namespace: 'rules', labelSelector: 'app=solo' })).items;
      const bound = l.filter((p) => p.spec?.nodeName);
      const rejected = l.filter((p) => p.status?.conditions?.some((x) => x.type === 'PodScheduled' && x.status === 'False'));
      return bound.length === 2 && rejected.length === 1 && { bound, rejected };
    });
    assert.deepEqual(placed.bound.map((p) => p.spec!.nodeName).sort(), ['node-1', 'node-2']);
    assert.match(placed.rejected[0]!.status!.conditions!.find((x) => x.type === 'PodScheduled')!.message!,
      /^0\/3 nodes are available: 1 node\(s\) had untolerated taint \{dedicated: db\}, 2 node\(s\) didn't match pod anti-affinity rules\./);
  } finally {
    await nodes.patch('node-3', 'merge', { spec: { taints: null } });
  }
});
