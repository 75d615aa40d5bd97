// The deployment controller working from a cache that lags behind its own writes (as it
// does on a loaded machine): a sync that starts from a stale Deployment must not write
// that stale view back over newer status. Before the fix, the revision patch (sent without
// a resourceVersion) handed the stale object a fresh resourceVersion, and its status write
// replaced the new rollout's NewReplicaSetCreated with the old NewReplicaSetAvailable,
// which then stuck (CI of 24 Nov).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import { R } from '../../src/api/resources.js';
import type { ApiClient, KubeObject, ResourceClient, WatchEvent } from '../../src/client/types.js';
import { createClientFromKubeconfig, type JotasuApiClient } from '../../src/client/rest.js';
import { startControllerManager, type ControllerManager } from '../../src/controllers/index.js';
import { startCluster, type Cluster } from '../lib/cluster.js';
import { waitFor } from './helpers.js';

const lagMs = 400;
let cluster: Cluster;
let client: JotasuApiClient;
let cm: ControllerManager | undefined;
const ns = 'stale';

/** The client, except that Deployment watch events reach the caller `lagMs` late (in order). */
function laggingDeployments(inner: ApiClient): ApiClient {
  return {
    request: (...a) => inner.request(...a),
    close: () => inner.close(),
    resource<T extends KubeObject>(info: typeof R.deployments): ResourceClient<T> {
      const rc = inner.resource<T>(info);
      if (info !== R.deployments) return rc;
      return {
        ...rc, info: rc.info,
        get: rc.get.bind(rc), list: rc.list.bind(rc), create: rc.create.bind(rc), update: rc.update.bind(rc),
        updateStatus: rc.updateStatus.bind(rc), patch: rc.patch.bind(rc), delete: rc.delete.bind(rc),
        deleteCollection: rc.deleteCollection.bind(rc), createSubresource: rc.createSubresource.bind(rc),
        watch(opts, onEvent) {
          let closed = false;
          const h = rc.watch(opts, (e: WatchEvent<T>) => { setTimeout(() => { if (!closed) onEvent(e); }, lagMs); });
          return { close() { closed = true; h.close(); }, done: h.done.then(() => new Promise((r) => setTimeout(r, lagMs))) };
        },
      };
    },
  };
}

before(async () => {
  cluster = await startCluster({ args: ['--disable', 'controller-manager', '--disable', 'scheduler'] });
  client = createClientFromKubeconfig(cluster.kubeconfig, { qps: 0 });
  await client.resource(R.namespaces).create({ metadata: { name: ns } });
  cm = startControllerManager({
    client: laggingDeployments(client), leaderElect: false, identity: 'test-cm-stale',
    options: { controllers: ['deployment', 'replicaset', 'serviceaccount'] },
  });
});
after(async () => {
  await cm?.stop();
  client?.close();
  await cluster?.stop();
});

test('a new rollout keeps its progress condition although the controller\'s cache lags its own writes', async () => {
  const dc = client.resource<Deployment>(R.deployments);
  const template = { metadata: { labels: { app: 'lag' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } };
  await dc.create({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'lag' }, spec: { replicas: 0, selector: { matchLabels: { app: 'lag' } }, template } }, { namespace: ns });
  await waitFor('the rollout of 0 complete', async () => {
    const d = await dc.get('lag', { namespace: ns });
    return d.status?.conditions?.some((c) => c.reason === 'NewReplicaSetAvailable') ? d : undefined;
  });
  // A new template and 2 replicas that cannot run (no scheduler here): the rollout progresses, never completes.
  await dc.patch('lag', 'merge', { spec: { replicas: 2, template: { spec: { nodeSelector: { nowhere: 'true' } } } } }, { namespace: ns });
  const d = await waitFor('2 updated, unavailable', async () => {
    const x = await dc.get('lag', { namespace: ns });
    return x.status?.updatedReplicas === 2 && x.status.unavailableReplicas === 2 && x.status.observedGeneration === x.metadata?.generation ? x : undefined;
  });
  // Let every lagging sync run out, then look again.
  await new Promise((r) => setTimeout(r, 4 * lagMs));
  const after = await dc.get('lag', { namespace: ns });
  for (const x of [d, after]) {
    const p = x.status?.conditions?.find((c) => c.type === 'Progressing');
    assert.equal(p?.status, 'True');
    assert.ok(p?.reason === 'ReplicaSetUpdated' || p?.reason === 'NewReplicaSetCreated', `Progressing reason ${p?.reason}: the finished rollout's condition came back`);
  }
  assert.equal(after.metadata?.annotations?.['deployment.kubernetes.io/revision'], '2');
});
