// ReplicaSet adoption/release/minReadySeconds and Deployment Recreate/history
// cleanup against a real API server, the scheduler and simulated nodes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { R } from '../../src/api/resources.js';
import { createInformerFactory } from '../../src/client/informer.js';
import { startEnv, createDeployment, kubectl, waitFor, pods, live, runningReady, ensureNamespace, type Env } from './helpers.js';

let env: Env;
const ns = 'rs';

before(async () => {
  env = await startEnv(2);
  await ensureNamespace(env, ns);
});
after(async () => { await env?.stop(); });

const apply = (obj: unknown): Promise<string> => kubectl(env.cluster.kubeconfig, ['apply', '-f', '-'], JSON.stringify(obj));

test('a ReplicaSet adopts matching orphans, releases pods that stop matching, counts availability after minReadySeconds', async () => {
  await env.client.resource<Pod>(R.pods).create({ metadata: { name: 'orphan', labels: { app: 'orph' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } }, { namespace: ns });
  await waitFor('orphan running', async () => runningReady(await pods(env, ns, 'app=orph')).length === 1);
  await apply({
    apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'orph', namespace: ns },
    spec: { replicas: 2, minReadySeconds: 2, selector: { matchLabels: { app: 'orph' } }, template: { metadata: { labels: { app: 'orph' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
  });
  const rsClient = env.client.resource<ReplicaSet>(R.replicasets);
  const ps = await waitFor('2 pods, orphan adopted', async () => {
    const l = live(await pods(env, ns, 'app=orph'));
    return l.length === 2 && l.every((p) => p.metadata?.ownerReferences?.[0]?.name === 'orph') ? l : undefined;
  });
  assert.ok(ps.some((p) => p.metadata?.name === 'orphan'), 'the orphan was adopted, not replaced');
  const rs = await waitFor('ready but not yet available', async () => {
    const r = await rsClient.get('orph', { namespace: ns });
    return r.status?.readyReplicas === 2 ? r : undefined;
  });
  // The new pod only just became ready: not available until minReadySeconds have passed.
  assert.ok((rs.status?.availableReplicas ?? 0) < 2, `available ${rs.status?.availableReplicas} right after ready`);
  await waitFor('available after minReadySeconds', async () => (await rsClient.get('orph', { namespace: ns })).status?.availableReplicas === 2, 15_000, 100);
  // Relabel the orphan: released (owner reference removed) and replaced.
  await env.kubectl('label', 'pod', 'orphan', '-n', ns, 'app=gone', '--overwrite');
  await waitFor('released and replaced', async () => {
    const mine = live(await pods(env, ns, 'app=orph'));
    const released = (await env.client.resource<Pod>(R.pods).get('orphan', { namespace: ns })).metadata?.ownerReferences ?? [];
    return mine.length === 2 && released.length === 0;
  });
  const fresh = await waitFor('status caught up', async () => {
    const r = await rsClient.get('orph', { namespace: ns });
    return r.status?.replicas === 2 && r.status.fullyLabeledReplicas === 2 ? r : undefined;
  });
  assert.equal(fresh.status?.observedGeneration, fresh.metadata?.generation);
});

test('Recreate: all old pods go before new ones come; revisionHistoryLimit prunes old ReplicaSets', async () => {
  await createDeployment(env, ns, 'rc', 'nginx', 3);
  await env.kubectl('patch', 'deployment/rc', '-n', ns, '--type=merge', '-p', '{"spec":{"strategy":{"type":"Recreate","rollingUpdate":null},"revisionHistoryLimit":1}}');
  await env.kubectl('rollout', 'status', 'deployment/rc', '-n', ns, '--timeout=60s');
  const inf = createInformerFactory(env.client);
  const podInf = inf.informer<Pod>(R.pods, { namespace: ns, labelSelector: 'app=rc' });
  let mixed = false;
  const look = (): void => {
    const images = new Set(podInf.store.list().filter((p) => p.status?.phase !== 'Failed').map((p) => p.spec?.containers[0]?.image));
    if (images.size > 1) mixed = true;
  };
  podInf.addEventHandler({ onAdd: look, onUpdate: look, onDelete: look });
  inf.start();
  try {
    await inf.waitForSync();
    for (const tag of ['1', '2']) {
      await env.kubectl('set', 'image', 'deployment/rc', `nginx=nginx:${tag}`, '-n', ns);
      await env.kubectl('rollout', 'status', 'deployment/rc', '-n', ns, '--timeout=60s');
      await waitFor(`pods on nginx:${tag}`, async () => {
        const l = runningReady(await pods(env, ns, 'app=rc'));
        return l.length === 3 && l.every((p) => p.spec?.containers[0]?.image === `nginx:${tag}`);
      });
    }
  } finally { inf.stop(); }
  assert.ok(!mixed, 'old and new pods never coexisted');
  await waitFor('history pruned to 1 old ReplicaSet', async () =>
    (await env.client.resource<ReplicaSet>(R.replicasets).list({ namespace: ns, labelSelector: 'app=rc' })).items.length === 2);
  const d = await env.client.resource<Deployment>(R.deployments).get('rc', { namespace: ns });
  assert.equal(d.metadata?.annotations?.['deployment.kubernetes.io/revision'], '3');
  assert.equal(d.status?.updatedReplicas, 3);
});

test('scaling down: the status written with the new generation no longer counts the pods just deleted', async () => {
  // The deployment controller reads availability from ReplicaSet status: a status that still
  // counted deleted pods as available let a rolling update go below maxUnavailable.
  await apply({
    apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'down', namespace: ns },
    spec: { replicas: 3, selector: { matchLabels: { app: 'down' } }, template: { metadata: { labels: { app: 'down' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
  });
  const rsClient = env.client.resource<ReplicaSet>(R.replicasets);
  await waitFor('3 available', async () => (await rsClient.get('down', { namespace: ns })).status?.availableReplicas === 3);
  const seen: ReplicaSet[] = [];
  const inf = createInformerFactory(env.client);
  const rsInf = inf.informer<ReplicaSet>(R.replicasets, { namespace: ns, fieldSelector: 'metadata.name=down' });
  rsInf.addEventHandler({ onAdd: (r) => seen.push(r), onUpdate: (_o, r) => seen.push(r) });
  inf.start();
  try {
    await inf.waitForSync();
    const scaled = await rsClient.patch('down', 'merge', { spec: { replicas: 1 } }, { namespace: ns });
    const gen = scaled.metadata!.generation!;
    await waitFor('1 left, observed', async () => seen.some((r) => (r.status?.observedGeneration ?? 0) >= gen && r.status?.replicas === 1 && r.status.availableReplicas === 1));
    const stale = seen.filter((r) => (r.status?.observedGeneration ?? 0) >= gen && (r.status?.availableReplicas ?? 0) > 1);
    assert.deepEqual(stale.map((r) => r.status), [], 'statuses of the new generation that count deleted pods');
  } finally { inf.stop(); }
});
