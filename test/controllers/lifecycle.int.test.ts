// Namespaces, garbage collection, service accounts and node lifecycle against a real
// API server with simulated nodes and a short node-monitor grace period.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { ConfigMap, Namespace, Node, Pod, ServiceAccount } from 'kubernetes-types/core/v1.js';
import { R } from '../../src/api/resources.js';
import { isStatusError } from '../../src/api/errors.js';
import { startEnv, createDeployment, waitFor, pods, live, runningReady, ensureNamespace, type Env } from './helpers.js';

let env: Env;
const ns = 'lc';

before(async () => {
  env = await startEnv(3);
  await ensureNamespace(env, ns);
});
after(async () => { await env?.stop(); });

const gone = async (p: Promise<unknown>): Promise<boolean> => {
  try { await p; return false; } catch (e) { if (isStatusError(e, 'NotFound')) return true; throw e; }
};

test('every node gets a distinct /24 pod CIDR from 10.42.0.0/16', async () => {
  const nodes = await waitFor('pod CIDRs', async () => {
    const n = (await env.client.resource<Node>(R.nodes).list()).items;
    return n.length === 3 && n.every((x) => x.spec?.podCIDR) ? n : undefined;
  });
  const cidrs = nodes.map((n) => n.spec!.podCIDR!);
  assert.equal(new Set(cidrs).size, 3);
  for (const n of nodes) {
    assert.match(n.spec!.podCIDR!, /^10\.42\.\d+\.0\/24$/);
    assert.deepEqual(n.spec!.podCIDRs, [n.spec!.podCIDR]);
  }
});

test('a default ServiceAccount in every namespace, recreated when deleted', async () => {
  await ensureNamespace(env, 'sa-test');
  const sa = env.client.resource<ServiceAccount>(R.serviceaccounts);
  const first = await waitFor('default SA', () => sa.get('default', { namespace: 'sa-test' }));
  await sa.delete('default', { namespace: 'sa-test' });
  await waitFor('recreated', async () => {
    const x = await sa.get('default', { namespace: 'sa-test' });
    return x.metadata?.uid !== first.metadata?.uid;
  });
});

test('deleting a namespace deletes its content, then the namespace', async () => {
  await ensureNamespace(env, 'doomed');
  await createDeployment(env, 'doomed', 'app', 'nginx', 2);
  await env.kubectl('create', 'configmap', 'cfg', '--from-literal=a=b', '-n', 'doomed');
  await waitFor('pods', async () => runningReady(await pods(env, 'doomed', 'app=app')).length === 2);
  await env.kubectl('delete', 'namespace', 'doomed', '--wait=false');
  const nsObj = await waitFor('terminating', async () => {
    try {
      const n = await env.client.resource<Namespace>(R.namespaces).get('doomed');
      return n.status?.phase === 'Terminating' ? n : undefined;
    } catch (e) { if (isStatusError(e, 'NotFound')) return { metadata: {} } as Namespace; throw e; }
  });
  assert.ok(nsObj);
  await waitFor('namespace gone', () => gone(env.client.resource(R.namespaces).get('doomed')), 60_000, 250);
});

test('garbage collection: background', async () => {
  await createDeployment(env, ns, 'gc-bg', 'nginx', 2);
  await waitFor('pods', async () => runningReady(await pods(env, ns, 'app=gc-bg')).length === 2);
  await env.kubectl('delete', 'deployment', 'gc-bg', '-n', ns, '--wait=false');
  await waitFor('replicasets gone', async () => (await env.client.resource<ReplicaSet>(R.replicasets).list({ namespace: ns, labelSelector: 'app=gc-bg' })).items.length === 0);
  await waitFor('pods gone', async () => (await pods(env, ns, 'app=gc-bg')).length === 0);
});

test('garbage collection: orphan', async () => {
  await createDeployment(env, ns, 'gc-or', 'nginx', 2);
  await waitFor('pods', async () => runningReady(await pods(env, ns, 'app=gc-or')).length === 2);
  await env.kubectl('delete', 'deployment', 'gc-or', '-n', ns, '--cascade=orphan');
  await waitFor('deployment gone', () => gone(env.client.resource<Deployment>(R.deployments).get('gc-or', { namespace: ns })));
  const rss = await waitFor('orphaned RS', async () => {
    const r = (await env.client.resource<ReplicaSet>(R.replicasets).list({ namespace: ns, labelSelector: 'app=gc-or' })).items;
    return r.length === 1 && !r[0]!.metadata?.ownerReferences?.length ? r : undefined;
  });
  await env.kubectl('delete', 'replicaset', rss[0]!.metadata!.name!, '-n', ns, '--cascade=orphan');
  await waitFor('orphaned pods', async () => {
    const p = live(await pods(env, ns, 'app=gc-or'));
    return p.length === 2 && p.every((x) => !x.metadata?.ownerReferences?.length);
  });
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(live(await pods(env, ns, 'app=gc-or')).length, 2, 'orphans stay');
  await env.kubectl('delete', 'pods', '-l', 'app=gc-or', '-n', ns, '--wait=false');
});

test('garbage collection: foreground', async () => {
  await createDeployment(env, ns, 'gc-fg', 'nginx', 2);
  await waitFor('pods', async () => runningReady(await pods(env, ns, 'app=gc-fg')).length === 2);
  await env.kubectl('delete', 'deployment', 'gc-fg', '-n', ns, '--cascade=foreground', '--wait=false');
  await waitFor('deployment gone', () => gone(env.client.resource<Deployment>(R.deployments).get('gc-fg', { namespace: ns })), 60_000, 100);
  // foreground: once the owner is gone, its dependents (RS, and their pods) are gone too
  assert.equal((await env.client.resource<ReplicaSet>(R.replicasets).list({ namespace: ns, labelSelector: 'app=gc-fg' })).items.length, 0);
  assert.equal(live(await pods(env, ns, 'app=gc-fg')).length, 0);
});

test('garbage collection goes by uid, not by name', async () => {
  const cms = env.client.resource<ConfigMap>(R.configmaps);
  const owner = await cms.create({ metadata: { name: 'owner' } }, { namespace: ns });
  await cms.create({ metadata: { name: 'dep', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! }] } }, { namespace: ns });
  await cms.delete('owner', { namespace: ns });
  await cms.create({ metadata: { name: 'owner' } }, { namespace: ns }); // same name, new uid
  await waitFor('dependent collected', () => gone(cms.get('dep', { namespace: ns })));
});

test('node lifecycle: a silent node becomes Unknown, is tainted, its pods are evicted and recreated elsewhere', async () => {
  await createDeployment(env, ns, 'nl', 'nginx', 6);
  const ps = await waitFor('6 pods', async () => {
    const r = runningReady(await pods(env, ns, 'app=nl'));
    return r.length === 6 ? r : undefined;
  });
  const victim = ps[0]!.spec!.nodeName!;
  const onVictim = ps.filter((p) => p.spec?.nodeName === victim).map((p) => p.metadata!.name!);
  // A pod that tolerates unreachable nodes for ever: marked not ready, never evicted.
  const podApi = env.client.resource<Pod>(R.pods);
  await podApi.create({
    metadata: { name: 'stayer', labels: { app: 'stayer' } },
    spec: { nodeName: victim, containers: [{ name: 'c', image: 'nginx' }], tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' }] },
  }, { namespace: ns });
  await waitFor('stayer ready', async () => runningReady(await pods(env, ns, 'app=stayer')).length === 1);
  env.nodes.stopHeartbeat(victim);
  const nodes = env.client.resource<Node>(R.nodes);
  const n = await waitFor('Ready=Unknown and unreachable taint', async () => {
    const x = await nodes.get(victim);
    const ready = x.status?.conditions?.find((c) => c.type === 'Ready');
    return ready?.status === 'Unknown' && x.spec?.taints?.some((t) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute') ? x : undefined;
  }, 30_000, 200);
  assert.equal(n.status?.conditions?.find((c) => c.type === 'Ready')?.reason, 'NodeStatusUnknown');
  assert.equal(n.status?.conditions?.find((c) => c.type === 'Ready')?.message, 'Kubelet stopped posting node status.');
  await waitFor('pods recreated on the other nodes', async () => {
    const all = await pods(env, ns, 'app=nl');
    const r = runningReady(all).filter((p) => p.spec?.nodeName !== victim);
    return r.length === 6 && !all.some((p) => onVictim.includes(p.metadata!.name!) && !p.metadata?.deletionTimestamp);
  }, 60_000, 250);
  const events = await env.kubectl('get', 'events', '-n', ns);
  assert.match(events, /TaintManagerEviction/);
  const stayer = await podApi.get('stayer', { namespace: ns });
  assert.ok(!stayer.metadata?.deletionTimestamp, 'a pod tolerating the taint for ever stays');
  assert.equal(stayer.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'False', 'pods on an unreachable node are marked not ready');
  env.nodes.resumeHeartbeat(victim);
  await waitFor('taints removed', async () => {
    const x = await nodes.get(victim);
    return x.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' && !x.spec?.taints?.some((t) => t.key.startsWith('node.kubernetes.io/'));
  }, 30_000, 200);
});

test('pod GC: pods of a deleted node are removed, and their owners recreate them', async () => {
  await createDeployment(env, ns, 'pgc', 'nginx', 3);
  const ps = await waitFor('3 pods', async () => {
    const r = runningReady(await pods(env, ns, 'app=pgc'));
    return r.length === 3 ? r : undefined;
  });
  const victim = ps[0]!.spec!.nodeName!;
  env.nodes.stopHeartbeat(victim);
  await env.client.resource<Node>(R.nodes).delete(victim);
  await waitFor('no pod left on the deleted node', async () => !(await pods(env, ns, 'app=pgc')).some((p) => p.spec?.nodeName === victim), 30_000, 200);
  await waitFor('3 pods again', async () => runningReady(await pods(env, ns, 'app=pgc')).length === 3, 30_000, 200);
});
