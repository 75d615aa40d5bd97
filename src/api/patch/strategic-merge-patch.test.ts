import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyStrategicMergePatch as smp } from './strategic-merge-patch.js';
import { podSchema, deploymentSchema, resolve } from './test-schema.js';
import { isStatusError } from '../errors.js';

const pod = () => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name: 'p', labels: { app: 'web', tier: 'front' }, finalizers: ['a', 'b', 'c'] },
  spec: {
    containers: [
      { name: 'web', image: 'nginx:1.25', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], ports: [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 443, protocol: 'TCP' }], args: ['x', 'y'] },
      { name: 'sidecar', image: 'busybox' },
    ],
    volumes: [{ name: 'data', emptyDir: {} }],
    nodeSelector: { disk: 'ssd', zone: 'a' },
  },
});
const P = (obj: unknown, patch: unknown) => smp(obj, patch, podSchema, resolve);

test('maps merge, null deletes, input is not modified', () => {
  const o = pod();
  const r = P(o, { metadata: { labels: { tier: null, env: 'prod' } } });
  assert.deepEqual((r.metadata as any).labels, { app: 'web', env: 'prod' });
  assert.deepEqual(o.metadata.labels, { app: 'web', tier: 'front' });
  // null for a missing key is ignored, nulls inside new values are dropped
  const r2 = P(o, { metadata: { annotations: { a: 'x', b: null } }, spec: { nodeName: null } });
  assert.deepEqual((r2.metadata as any).annotations, { a: 'x' });
});

test('containers merge by name; args (no strategy) are replaced', () => {
  const r = P(pod(), { spec: { containers: [{ name: 'web', image: 'nginx:1.26', args: ['z'] }] } }) as any;
  assert.equal(r.spec.containers.length, 2);
  assert.equal(r.spec.containers[0].image, 'nginx:1.26');
  assert.deepEqual(r.spec.containers[0].args, ['z']);
  assert.equal(r.spec.containers[0].env.length, 2);
  assert.equal(r.spec.containers[1].name, 'sidecar');
});

test('without $setElementOrder new items come first (upstream mergeSortedSlice); patch order wins', () => {
  const r = P(pod(), { spec: { containers: [{ name: 'log', image: 'fluent' }] } }) as any;
  assert.deepEqual(r.spec.containers.map((c: any) => c.name), ['log', 'web', 'sidecar']);
  const r1 = P(pod(), { spec: { '$setElementOrder/containers': [{ name: 'web' }, { name: 'sidecar' }, { name: 'log' }], containers: [{ name: 'log', image: 'fluent' }] } }) as any;
  assert.deepEqual(r1.spec.containers.map((c: any) => c.name), ['web', 'sidecar', 'log']);
  const r2 = P(pod(), { spec: { containers: [{ name: 'sidecar', image: 'b2' }, { name: 'web' }] } }) as any;
  assert.deepEqual(r2.spec.containers.map((c: any) => c.name), ['sidecar', 'web']);
});

test('ports merge by containerPort', () => {
  const r = P(pod(), { spec: { containers: [{ name: 'web', ports: [{ containerPort: 443, name: 'https' }, { containerPort: 8080 }] }] } }) as any;
  assert.deepEqual(r.spec.containers[0].ports, [
    { containerPort: 80, protocol: 'TCP' }, { containerPort: 443, protocol: 'TCP', name: 'https' }, { containerPort: 8080 },
  ]);
});

test('$patch: delete removes a list item by merge key', () => {
  const r = P(pod(), { spec: { containers: [{ name: 'web', env: [{ name: 'A', $patch: 'delete' }] }] } }) as any;
  assert.deepEqual(r.spec.containers[0].env, [{ name: 'B', value: '2' }]);
  const r2 = P(pod(), { spec: { containers: [{ name: 'sidecar', $patch: 'delete' }] } }) as any;
  assert.deepEqual(r2.spec.containers.map((c: any) => c.name), ['web']);
});

test('$patch: replace on a list and on a map', () => {
  const r = P(pod(), { spec: { containers: [{ name: 'web', env: [{ name: 'Z', value: '9' }, { $patch: 'replace' }] }] } }) as any;
  assert.deepEqual(r.spec.containers[0].env, [{ name: 'Z', value: '9' }]);
  const r2 = P(pod(), { metadata: { labels: { $patch: 'replace', only: 'me' } } }) as any;
  assert.deepEqual(r2.metadata.labels, { only: 'me' });
  const r3 = P(pod(), { metadata: { labels: { $patch: 'delete' } } }) as any;
  assert.deepEqual(r3.metadata.labels, {});
});

test('kubectl 1.32 client-side apply patch: $setElementOrder with env change and delete', () => {
  // What CreateThreeWayMergePatch produces when the manifest changes B's value,
  // drops A and adds C after B, and changes the web image.
  const patch = {
    metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
    spec: {
      '$setElementOrder/containers': [{ name: 'web' }, { name: 'sidecar' }],
      containers: [{
        '$setElementOrder/env': [{ name: 'B' }, { name: 'C' }],
        env: [{ name: 'B', value: '22' }, { name: 'C', value: '3' }, { $patch: 'delete', name: 'A' }],
        image: 'nginx:1.26', name: 'web',
      }],
    },
  };
  const r = P(pod(), patch) as any;
  assert.deepEqual(r.spec.containers.map((c: any) => c.name), ['web', 'sidecar']);
  assert.deepEqual(r.spec.containers[0].env, [{ name: 'B', value: '22' }, { name: 'C', value: '3' }]);
  assert.equal(r.spec.containers[0].image, 'nginx:1.26');
  assert.equal(r.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], '{}');
  assert.ok(!('$setElementOrder/containers' in r.spec));
});

test('$setElementOrder reorders, keeps server-only items near their live neighbours', () => {
  const o = pod();
  o.spec.containers.push({ name: 'extra', image: 'x' });
  const r = P(o, { spec: { '$setElementOrder/containers': [{ name: 'sidecar' }, { name: 'web' }] } }) as any;
  assert.deepEqual(r.spec.containers.map((c: any) => c.name), ['sidecar', 'web', 'extra']);
  // a setElementOrder-only patch for a list missing in the live object does nothing
  const r2 = P(o, { spec: { '$setElementOrder/volumes': [{ name: 'data' }] } }) as any;
  assert.deepEqual(r2.spec.volumes, [{ name: 'data', emptyDir: {} }]);
});

test('primitive merge lists: union and $deleteFromPrimitiveList', () => {
  const r = P(pod(), { metadata: { finalizers: ['d', 'a'] } }) as any;
  assert.deepEqual(r.metadata.finalizers, ['d', 'a', 'b', 'c']);
  const r2 = P(pod(), { metadata: { '$deleteFromPrimitiveList/finalizers': ['b'] } }) as any;
  assert.deepEqual(r2.metadata.finalizers, ['a', 'c']);
  const r3 = P(pod(), { metadata: { '$setElementOrder/finalizers': ['c', 'a'], '$deleteFromPrimitiveList/finalizers': ['b'] } }) as any;
  assert.deepEqual(r3.metadata.finalizers, ['c', 'a']);
});

test('$retainKeys clears fields not listed (volumes, deployment strategy)', () => {
  const o = pod();
  const r = P(o, { spec: { volumes: [{ name: 'data', $retainKeys: ['configMap', 'name'], configMap: { name: 'cm' } }] } }) as any;
  assert.deepEqual(r.spec.volumes, [{ name: 'data', configMap: { name: 'cm' } }]);
  const d = { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%' } } } };
  const r2 = smp(d, { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } }, deploymentSchema, resolve) as any;
  assert.deepEqual(r2.spec.strategy, { type: 'Recreate' });
  assert.throws(() => smp(d, { spec: { strategy: { $retainKeys: ['type'], rollingUpdate: {} } } }, deploymentSchema, resolve),
    (e) => isStatusError(e, 'BadRequest') && e.message === 'invalid patch format of retainKeys');
});

test('atomic map (nodeSelector has no replace strategy in SMP) still merges; unknown fields are added', () => {
  const r = P(pod(), { spec: { nodeSelector: { zone: 'b' }, foo: { bar: 1 } } }) as any;
  assert.deepEqual(r.spec.nodeSelector, { disk: 'ssd', zone: 'b' });
  assert.deepEqual(r.spec.foo, { bar: 1 });
});

test('type changes replace; scalars replace', () => {
  const r = P(pod(), { spec: { containers: 'x' } }) as any;
  assert.equal(r.spec.containers, 'x');
});

test('errors as the API server answers them', () => {
  assert.throws(() => P(pod(), { spec: { containers: [{ image: 'x' }] } }),
    (e) => isStatusError(e) && e.code === 500 && e.message === 'map: map[image:x] does not contain declared merge key: name');
  assert.throws(() => P(pod(), { spec: { containers: [{ name: 'web', $patch: 'merge' }] } }),
    (e) => isStatusError(e) && e.code === 500 && e.message === 'merging lists cannot yet be specified in the patch');
  assert.throws(() => P(pod(), { metadata: { labels: { $patch: 'bogus' } } }),
    (e) => isStatusError(e) && e.code === 500 && /^unknown patch type: bogus in map: map\[\$patch:bogus\]$/.test(e.message));
  assert.throws(() => P(pod(), { metadata: { '$deleteFromPrimitiveListfinalizers': ['a'], '$deleteFromPrimitiveList': ['a'] } }),
    (e) => isStatusError(e, 'BadRequest') && e.message === 'invalid patch format of primitive list');
  assert.throws(() => P(pod(), [1]), (e) => isStatusError(e, 'BadRequest'));
  assert.throws(() => P({ metadata: { finalizers: [['a']] } }, { metadata: { finalizers: [['x']] } }), (e) => isStatusError(e, 'Invalid') && e.code === 422);
});
