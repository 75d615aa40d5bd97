// core/v1 and events.k8s.io/v1 Events share storage: each endpoint shows every Event
// in its own version, field mapping as upstream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../lib/cluster.js';

let c: Cluster;
before(async () => { c = await startCluster({ args: ['--disable', 'scheduler', '--disable', 'controller-manager'] }); });
after(async () => { await c?.stop(); });

const ok = (args: string[], input?: string): Promise<string> => c.kubectlOk(args, { input });

const CORE = `apiVersion: v1
kind: Event
metadata: {name: core-ev}
involvedObject: {kind: Pod, name: web, namespace: default}
reason: Started
message: Started container web
source: {component: kubelet, host: node-1}
firstTimestamp: "2025-01-01T00:00:00Z"
lastTimestamp: "2025-01-01T00:01:00Z"
count: 3
type: Normal
reportingComponent: kubelet
reportingInstance: node-1
`;

const V1 = `apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: new-ev}
eventTime: "2025-01-01T00:02:00.000000Z"
regarding: {kind: Deployment, name: api, namespace: default}
reason: ScalingReplicaSet
note: Scaled up replica set api-1 to 2
action: Scale
type: Normal
reportingController: deployment-controller
reportingInstance: cm-1
series: {count: 2, lastObservedTime: "2025-01-01T00:03:00.000000Z"}
`;

test('a core/v1 Event reads as events.k8s.io/v1', async () => {
  await ok(['apply', '-f', '-'], CORE);
  const e = JSON.parse(await ok(['get', 'events.v1.events.k8s.io', 'core-ev', '-o', 'json'])) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(e.apiVersion, 'events.k8s.io/v1');
  assert.deepEqual(e.regarding, { kind: 'Pod', name: 'web', namespace: 'default' });
  assert.equal(e.note, 'Started container web');
  assert.equal(e.reportingController, 'kubelet');
  assert.equal(e.reportingInstance, 'node-1');
  assert.deepEqual(e.deprecatedSource, { component: 'kubelet', host: 'node-1' });
  assert.equal(e.deprecatedCount, 3);
  assert.equal(e.deprecatedFirstTimestamp, '2025-01-01T00:00:00Z');
  assert.equal(e.deprecatedLastTimestamp, '2025-01-01T00:01:00Z');
  for (const k of ['message', 'involvedObject', 'count', 'source', 'reportingComponent']) assert.equal(e[k], undefined, k);
});

test('an events.k8s.io/v1 Event reads as core/v1, in tables, selectors and lists', async () => {
  await ok(['apply', '-f', '-'], V1);
  const e = JSON.parse(await ok(['get', 'events', 'new-ev', '-o', 'json'])) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(e.apiVersion, 'v1');
  assert.deepEqual(e.involvedObject, { kind: 'Deployment', name: 'api', namespace: 'default' });
  assert.equal(e.message, 'Scaled up replica set api-1 to 2');
  assert.equal(e.reportingComponent, 'deployment-controller');
  assert.deepEqual(e.series, { count: 2, lastObservedTime: '2025-01-01T00:03:00.000000Z' });
  assert.equal(e.note, undefined);
  // Both endpoints list both Events, each in its own version.
  const core = JSON.parse(await ok(['get', 'events', '-o', 'json'])) as { items: { apiVersion?: string; metadata: { name: string }; message?: string }[] };
  assert.deepEqual(core.items.map((i) => i.metadata.name).sort(), ['core-ev', 'new-ev']);
  assert.ok(core.items.every((i) => typeof i.message === 'string'));
  const v1 = JSON.parse(await ok(['get', 'events.v1.events.k8s.io', '-o', 'json'])) as { items: { metadata: { name: string }; note?: string }[] };
  assert.deepEqual(v1.items.map((i) => i.metadata.name).sort(), ['core-ev', 'new-ev']);
  assert.ok(v1.items.every((i) => typeof i.note === 'string'));
  // kubectl get events prints the upstream columns for both.
  assert.match(await ok(['get', 'events']), /LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE[\s\S]*ScalingReplicaSet\s+deployment\/api\s+Scaled up replica set api-1 to 2/);
  assert.match(await ok(['get', 'events.v1.events.k8s.io']), /Started\s+pod\/web\s+Started container web/);
  // Core field selectors apply to an Event written through events.k8s.io.
  assert.equal(await ok(['get', 'events', '--field-selector', 'involvedObject.name=api', '-o', 'name']), 'event/new-ev\n');
  // Updates through the other endpoint keep the stored object whole.
  await ok(['patch', 'events.v1.events.k8s.io', 'core-ev', '--type=merge', '-p', '{"note":"changed"}']);
  assert.equal(await ok(['get', 'events', 'core-ev', '-o', 'jsonpath={.message}/{.count}/{.involvedObject.name}']), 'changed/3/web');
});
