// Deployments, ReplicaSets and Endpoints against a real API server, the scheduler
// and simulated nodes, driven with real kubectl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { Endpoints, Pod } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { R } from '../../src/api/resources.js';
import { createInformerFactory } from '../../src/client/informer.js';
import { isPodReady } from '../../src/api/pods.js';
import { startEnv, createDeployment, kubectl, waitFor, pods, live, runningReady, ensureNamespace, type Env } from './helpers.js';

let env: Env;
const ns = 'wl';

before(async () => {
  env = await startEnv(3);
  await ensureNamespace(env, ns);
});
after(async () => { await env?.stop(); });

async function deployment(name: string): Promise<Deployment> {
  return env.client.resource<Deployment>(R.deployments).get(name, { namespace: ns });
}

/** Watch the deployment's pods; record the fewest ready and most live pods seen. */
function watchRollout(selector: string): { minReady: () => number; maxLive: () => number; reset(): void; stop(): void } {
  const inf = createInformerFactory(env.client);
  const podInf = inf.informer<Pod>(R.pods, { namespace: ns, labelSelector: selector });
  let minReady = Infinity, maxLive = 0, armed = false;
  const look = (): void => {
    if (!armed) return;
    const all = podInf.store.list().filter((p) => !p.metadata?.deletionTimestamp);
    minReady = Math.min(minReady, all.filter(isPodReady).length);
    maxLive = Math.max(maxLive, all.length);
  };
  podInf.addEventHandler({ onAdd: look, onUpdate: look, onDelete: look });
  inf.start();
  return {
    minReady: () => minReady, maxLive: () => maxLive,
    reset() { armed = true; minReady = Infinity; maxLive = 0; look(); },
    stop: () => inf.stop(),
  };
}

test('kubectl create deployment → 5 Running pods spread over the nodes, status and events', async () => {
  await createDeployment(env, ns, 'web', 'nginx', 5);
  const ps = await waitFor('5 running ready pods', async () => {
    const r = runningReady(await pods(env, ns, 'app=web'));
    return r.length === 5 && live(await pods(env, ns, 'app=web')).length === 5 ? r : undefined;
  });
  assert.ok(new Set(ps.map((p) => p.spec?.nodeName)).size >= 2, 'pods spread over nodes');
  for (const p of ps) {
    const ref = p.metadata?.ownerReferences?.[0];
    assert.equal(ref?.kind, 'ReplicaSet');
    assert.equal(ref?.controller, true);
    assert.equal(ref?.blockOwnerDeletion, true);
    assert.match(p.metadata!.name!, new RegExp(`^${ref!.name}-[a-z0-9]{5}$`));
  }
  await env.kubectl('rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s');
  const d = await waitFor('deployment status', async () => {
    const d = await deployment('web');
    return d.status?.availableReplicas === 5 && d.status.updatedReplicas === 5 && d.status.observedGeneration === d.metadata?.generation ? d : undefined;
  });
  assert.equal(d.metadata?.annotations?.['deployment.kubernetes.io/revision'], '1');
  const conds = Object.fromEntries((d.status?.conditions ?? []).map((c) => [c.type, c.reason]));
  assert.equal(conds.Available, 'MinimumReplicasAvailable');
  assert.equal(conds.Progressing, 'NewReplicaSetAvailable');
  const rss = (await env.client.resource<ReplicaSet>(R.replicasets).list({ namespace: ns, labelSelector: 'app=web' })).items;
  assert.equal(rss.length, 1);
  const hash = rss[0]!.metadata!.labels!['pod-template-hash'];
  assert.equal(rss[0]!.metadata!.name, `web-${hash}`);
  assert.equal(rss[0]!.status?.readyReplicas, 5);
  const events = await env.kubectl('get', 'events', '-n', ns);
  assert.match(events, /ScalingReplicaSet\s+.*Scaled up replica set web-\w+ from 0 to 5/);
  assert.match(events, /SuccessfulCreate\s+.*Created pod: web-/);
});

test('kubectl scale up and down', async () => {
  await env.kubectl('scale', 'deployment/web', '--replicas=7', '-n', ns);
  await waitFor('7 pods', async () => runningReady(await pods(env, ns, 'app=web')).length === 7);
  await env.kubectl('scale', 'deployment/web', '--replicas=3', '-n', ns);
  await waitFor('3 pods', async () => live(await pods(env, ns, 'app=web')).length === 3 && runningReady(await pods(env, ns, 'app=web')).length === 3);
  await env.kubectl('rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s');
});

test('kubectl set image: rolling update honours maxSurge/maxUnavailable (watched), history, undo', async () => {
  await env.kubectl('patch', 'deployment/web', '-n', ns, '-p', '{"spec":{"strategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":1}}}}');
  const w = watchRollout('app=web');
  try {
    await new Promise((r) => setTimeout(r, 500));
    w.reset();
    await env.kubectl('set', 'image', 'deployment/web', 'nginx=nginx:1.27', '-n', ns);
    await env.kubectl('rollout', 'status', 'deployment/web', '-n', ns, '--timeout=90s');
    const ps = await waitFor('3 new pods', async () => {
      const l = live(await pods(env, ns, 'app=web'));
      return l.length === 3 && l.every((p) => p.spec?.containers[0]?.image === 'nginx:1.27') ? l : undefined;
    });
    assert.equal(ps.length, 3);
    assert.ok(w.minReady() >= 2, `ready pods never below replicas - maxUnavailable (saw ${w.minReady()})`);
    assert.ok(w.maxLive() <= 4, `live pods never above replicas + maxSurge (saw ${w.maxLive()})`);
  } finally { w.stop(); }

  await env.kubectl('annotate', 'deployment/web', '-n', ns, 'kubernetes.io/change-cause=image 1.27');
  const hist = await waitFor('history with change cause', async () => {
    const h = await env.kubectl('rollout', 'history', 'deployment/web', '-n', ns);
    return /image 1\.27/.test(h) ? h : undefined;
  });
  assert.match(hist, /^1\s+<none>/m);
  assert.match(hist, /^2\s+image 1\.27/m);

  await env.kubectl('rollout', 'undo', 'deployment/web', '-n', ns);
  await env.kubectl('rollout', 'status', 'deployment/web', '-n', ns, '--timeout=90s');
  await waitFor('pods back on nginx', async () => {
    const l = live(await pods(env, ns, 'app=web'));
    return l.length === 3 && l.every((p) => p.spec?.containers[0]?.image === 'nginx');
  });
  const h2 = await env.kubectl('rollout', 'history', 'deployment/web', '-n', ns);
  assert.match(h2, /^2\s+image 1\.27/m);
  assert.match(h2, /^3\s+/m);
  assert.doesNotMatch(h2, /^1\s+/m, 'revision 1 became revision 3');
  const d = await deployment('web');
  assert.equal(d.metadata?.annotations?.['deployment.kubernetes.io/revision'], '3');
  const rss = (await env.client.resource<ReplicaSet>(R.replicasets).list({ namespace: ns, labelSelector: 'app=web' })).items;
  assert.equal(rss.length, 2, 'undo reuses the old ReplicaSet');
});

test('pause, resume and restart', async () => {
  await env.kubectl('rollout', 'pause', 'deployment/web', '-n', ns);
  await env.kubectl('set', 'image', 'deployment/web', 'nginx=nginx:paused', '-n', ns);
  await new Promise((r) => setTimeout(r, 1500));
  let l = live(await pods(env, ns, 'app=web'));
  assert.ok(l.every((p) => p.spec?.containers[0]?.image === 'nginx'), 'paused: no rollout');
  const d = await deployment('web');
  assert.equal(d.status?.conditions?.find((c) => c.type === 'Progressing')?.reason, 'DeploymentPaused');
  await env.kubectl('set', 'image', 'deployment/web', 'nginx=nginx', '-n', ns);
  await env.kubectl('rollout', 'resume', 'deployment/web', '-n', ns);
  await env.kubectl('rollout', 'restart', 'deployment/web', '-n', ns);
  await env.kubectl('rollout', 'status', 'deployment/web', '-n', ns, '--timeout=90s');
  l = await waitFor('restarted pods', async () => {
    const x = live(await pods(env, ns, 'app=web'));
    return x.length === 3 && x.every((p) => p.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt']) ? x : undefined;
  });
  assert.equal(l.length, 3);
});

test('a deleted pod is replaced', async () => {
  const before = runningReady(await pods(env, ns, 'app=web'));
  const victim = before[0]!.metadata!.name!;
  await env.kubectl('delete', 'pod', victim, '-n', ns, '--wait=false');
  await waitFor('replacement', async () => {
    const r = runningReady(await pods(env, ns, 'app=web'));
    return r.length === 3 && !r.some((p) => p.metadata?.name === victim);
  });
});

test('endpoints and slices follow ready pods', async () => {
  await env.kubectl('expose', 'deployment/web', '--port=80', '-n', ns);
  const ips = async (): Promise<string[]> => runningReady(await pods(env, ns, 'app=web')).map((p) => p.status!.podIP!).sort();
  const ep = await waitFor('endpoints with 3 addresses', async () => {
    const e = await env.client.resource<Endpoints>(R.endpoints).get('web', { namespace: ns });
    const got = (e.subsets ?? []).flatMap((s) => s.addresses ?? []).map((a) => a.ip).sort();
    return got.length === 3 && JSON.stringify(got) === JSON.stringify(await ips()) ? e : undefined;
  });
  assert.equal(ep.subsets?.[0]?.ports?.[0]?.port, 80);
  assert.equal(ep.subsets?.[0]?.addresses?.[0]?.targetRef?.kind, 'Pod');
  const slice = await waitFor('slice with 3 ready endpoints', async () => {
    const s = (await env.client.resource<EndpointSlice>(R.endpointslices).list({ namespace: ns, labelSelector: 'kubernetes.io/service-name=web' })).items;
    return s.length === 1 && s[0]!.endpoints?.filter((e) => e.conditions?.ready).length === 3 ? s[0] : undefined;
  });
  assert.equal(slice.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
  assert.equal(slice.addressType, 'IPv4');
  await env.kubectl('scale', 'deployment/web', '--replicas=2', '-n', ns);
  await waitFor('endpoints with 2 addresses', async () => {
    const e = await env.client.resource<Endpoints>(R.endpoints).get('web', { namespace: ns });
    return (e.subsets ?? []).flatMap((s) => s.addresses ?? []).length === 2;
  });
  await env.kubectl('scale', 'deployment/web', '--replicas=3', '-n', ns);
  await env.kubectl('rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s');
});

test('restarting the controller manager mid-rollout: it carries on, no duplicate pods', async () => {
  await env.kubectl('scale', 'deployment/web', '--replicas=6', '-n', ns);
  await env.kubectl('rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s');
  const w = watchRollout('app=web');
  try {
    await new Promise((r) => setTimeout(r, 300));
    w.reset();
    await env.kubectl('set', 'image', 'deployment/web', 'nginx=nginx:1.28', '-n', ns);
    await waitFor('rollout under way', async () => live(await pods(env, ns, 'app=web')).some((p) => p.spec?.containers[0]?.image === 'nginx:1.28'), 30_000, 20);
    await env.stopCM();
    await new Promise((r) => setTimeout(r, 500));
    env.startCM();
    await env.kubectl('rollout', 'status', 'deployment/web', '-n', ns, '--timeout=90s');
    const l = await waitFor('6 new pods', async () => {
      const x = live(await pods(env, ns, 'app=web'));
      return x.length === 6 && x.every((p) => p.spec?.containers[0]?.image === 'nginx:1.28') ? x : undefined;
    });
    assert.equal(l.length, 6);
    // default strategy 25%/25% was replaced by 1/1 above
    assert.ok(w.maxLive() <= 7, `never more than replicas + maxSurge live pods (saw ${w.maxLive()})`);
    assert.ok(w.minReady() >= 5, `never fewer than replicas - maxUnavailable ready pods (saw ${w.minReady()})`);
    const rss = (await env.client.resource<ReplicaSet>(R.replicasets).list({ namespace: ns, labelSelector: 'app=web' })).items;
    assert.equal(rss.filter((r) => (r.spec?.replicas ?? 0) > 0).length, 1);
  } finally { w.stop(); }
});

test('named targetPort resolved per pod; not-ready addresses; publishNotReadyAddresses', async () => {
  const apply = (o: unknown): Promise<string> => kubectl(env.cluster.kubeconfig, ['apply', '-f', '-'], JSON.stringify(o));
  const [nodeA, nodeB] = env.nodes.nodeNames as [string, string];
  const pod = (name: string, port: number, nodeName: string) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels: { app: 'named' } },
    spec: {
      nodeName, containers: [{ name: 'c', image: 'nginx', ports: [{ name: 'http', containerPort: port }] }],
      tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' }],
    },
  });
  await apply(pod('named-a', 8080, nodeA));
  await apply(pod('named-b', 9090, nodeB));
  await apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'named', namespace: ns }, spec: { selector: { app: 'named' }, ports: [{ name: 'web', port: 80, targetPort: 'http' }] } });
  const e = await waitFor('two subsets, one per resolved port', async () => {
    const x = await env.client.resource<Endpoints>(R.endpoints).get('named', { namespace: ns });
    return (x.subsets ?? []).length === 2 && x.subsets!.every((s) => s.addresses?.length === 1) ? x : undefined;
  });
  assert.deepEqual(e.subsets!.map((s) => s.ports?.[0]?.port).sort(), [8080, 9090]);
  assert.ok(e.subsets!.every((s) => s.ports?.[0]?.name === 'web'));
  assert.equal(e.subsets!.find((s) => s.ports?.[0]?.port === 8080)?.addresses?.[0]?.nodeName, nodeA);
  await waitFor('one slice per port set', async () => {
    const slices = (await env.client.resource<EndpointSlice>(R.endpointslices).list({ namespace: ns, labelSelector: 'kubernetes.io/service-name=named' })).items;
    return JSON.stringify(slices.map((s) => s.ports?.[0]?.port).sort()) === '[8080,9090]';
  });
  // named-a's node goes silent: the node lifecycle controller marks its pods not ready.
  env.nodes.stopHeartbeat(nodeA);
  try {
    await waitFor('not-ready address', async () => {
      const x = await env.client.resource<Endpoints>(R.endpoints).get('named', { namespace: ns });
      return x.subsets?.some((s) => s.notReadyAddresses?.length === 1 && !s.addresses && s.ports?.[0]?.port === 8080);
    }, 30_000, 200);
    await waitFor('slice endpoint not ready', async () => {
      const slices = (await env.client.resource<EndpointSlice>(R.endpointslices).list({ namespace: ns, labelSelector: 'kubernetes.io/service-name=named' })).items;
      const ep = slices.flatMap((s) => s.endpoints ?? []).find((x) => x.targetRef?.name === 'named-a');
      return ep?.conditions?.ready === false && ep.conditions.serving === false;
    });
    await env.kubectl('patch', 'service/named', '-n', ns, '-p', '{"spec":{"publishNotReadyAddresses":true}}');
    await waitFor('published although not ready', async () => {
      const x = await env.client.resource<Endpoints>(R.endpoints).get('named', { namespace: ns });
      return x.subsets?.length === 2 && x.subsets.every((s) => !s.notReadyAddresses && s.addresses?.length === 1);
    });
  } finally {
    env.nodes.resumeHeartbeat(nodeA);
  }
});

test('a rollout that cannot progress: ProgressDeadlineExceeded, rollout status fails', async () => {
  await createDeployment(env, ns, 'stuck', 'nginx', 1);
  await env.kubectl('rollout', 'status', 'deployment/stuck', '-n', ns, '--timeout=60s');
  await env.kubectl('patch', 'deployment/stuck', '-n', ns, '--type=merge', '-p', JSON.stringify({
    spec: { progressDeadlineSeconds: 2, template: { spec: { nodeSelector: { nowhere: 'true' } } } },
  }));
  const d = await waitFor('deadline exceeded', async () => {
    const x = await deployment('stuck');
    return x.status?.conditions?.find((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded') ? x : undefined;
  }, 30_000, 200);
  assert.equal(d.status?.conditions?.find((c) => c.type === 'Progressing')?.status, 'False');
  await assert.rejects(env.kubectl('rollout', 'status', 'deployment/stuck', '-n', ns, '--timeout=20s'), /exceeded its progress deadline/);
  // maxUnavailable 25% of 1 rounds down to 0: the old pod keeps serving.
  assert.equal(runningReady(await pods(env, ns, 'app=stuck')).length, 1);
});

test('status as upstream\'s omitempty JSON, and kubectl get/rollout status on it: 0 replicas, pods not ready, ready', async () => {
  const keys = (o: object | undefined) => Object.keys(o ?? {}).sort();
  const rsOf = async () => (await env.client.resource<ReplicaSet>(R.replicasets).list({ namespace: ns, labelSelector: 'app=zero' })).items
    .sort((a, b) => (b.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? '').localeCompare(a.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? ''));
  await createDeployment(env, ns, 'zero', 'nginx', 0);
  let d = await waitFor('a complete rollout of 0', async () => {
    const x = await deployment('zero');
    return x.status?.conditions?.find((c) => c.reason === 'NewReplicaSetAvailable') ? x : undefined;
  });
  assert.deepEqual(keys(d.status), ['conditions', 'observedGeneration']);
  assert.equal(await env.kubectl('rollout', 'status', 'deployment/zero', '-n', ns, '--timeout=30s'), 'deployment "zero" successfully rolled out\n');
  assert.match((await env.kubectl('get', 'deployment', 'zero', '-n', ns)).split('\n')[1]!, /^zero\s+0\/0\s+0\s+0\s+\d+s$/);
  const [rs0] = await waitFor('rs status observed', async () => { const r = await rsOf(); return r[0]?.status?.observedGeneration ? r : undefined; });
  assert.deepEqual(rs0!.status, { replicas: 0, observedGeneration: 1 });
  assert.match((await env.kubectl('get', 'rs', '-n', ns, '-l', 'app=zero')).split('\n')[1]!, /^zero-\w+\s+0\s+0\s+0\s+\d+s$/);

  // 2 pods that cannot be scheduled: no readyReplicas/availableReplicas.
  await env.kubectl('patch', 'deployment/zero', '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { replicas: 2, template: { spec: { nodeSelector: { nowhere: 'true' } } } } }));
  d = await waitFor('2 unavailable', async () => {
    const x = await deployment('zero');
    return x.status?.unavailableReplicas === 2 && x.status.updatedReplicas === 2 && x.status.observedGeneration === x.metadata?.generation ? x : undefined;
  });
  assert.deepEqual(keys(d.status), ['conditions', 'observedGeneration', 'replicas', 'unavailableReplicas', 'updatedReplicas']);
  assert.deepEqual(d.status?.conditions?.map((c) => [c.type, c.status, c.reason]).sort(),
    [['Available', 'False', 'MinimumReplicasUnavailable'], ['Progressing', 'True', 'ReplicaSetUpdated']]);
  assert.match((await env.kubectl('get', 'deployment', 'zero', '-n', ns)).split('\n')[1]!, /^zero\s+0\/2\s+2\s+0\s+\d+s$/);
  const [rsPending] = await waitFor('rs of 2 pending', async () => { const r = await rsOf(); return r[0]?.status?.replicas === 2 ? r : undefined; });
  assert.deepEqual(keys(rsPending!.status), ['fullyLabeledReplicas', 'observedGeneration', 'replicas']);

  // Schedulable again: ready, and unavailableReplicas gone.
  await env.kubectl('patch', 'deployment/zero', '-n', ns, '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/template/spec/nodeSelector' }]));
  assert.equal(await env.kubectl('rollout', 'status', 'deployment/zero', '-n', ns, '--timeout=60s').then((o) => o.split('\n').at(-2)), 'deployment "zero" successfully rolled out');
  d = await waitFor('2 available', async () => { const x = await deployment('zero'); return x.status?.availableReplicas === 2 && !x.status.unavailableReplicas ? x : undefined; });
  assert.deepEqual(keys(d.status), ['availableReplicas', 'conditions', 'observedGeneration', 'readyReplicas', 'replicas', 'updatedReplicas']);
  assert.match((await env.kubectl('get', 'deployment', 'zero', '-n', ns)).split('\n')[1]!, /^zero\s+2\/2\s+2\s+2\s+\d+s$/);
});
