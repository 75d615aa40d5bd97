// The Node authorizer's graph: what a pod bound to a node opens to that node (every
// kind of secret and configmap reference, its service account), reference counts across
// pods, rebinding, deletion, mirror pods, and the reference visitors it is built on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { NodeGraph, podReferences } from './graph.js';

function pod(name: string, node: string | undefined, spec: Partial<NonNullable<Pod['spec']>> = {}, extra: Partial<Pod['metadata']> = {}): Pod {
  return { metadata: { name, namespace: 'default', ...extra }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...(node ? { nodeName: node } : {}), ...spec } };
}

const everyReference: Partial<NonNullable<Pod['spec']>> = {
  serviceAccountName: 'sa',
  imagePullSecrets: [{ name: 'pull' }],
  initContainers: [{ name: 'i', image: 'x', envFrom: [{ secretRef: { name: 'init-envfrom' } }] }],
  containers: [{
    name: 'c', image: 'x',
    env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'env-secret', key: 'k' } } }, { name: 'B', valueFrom: { configMapKeyRef: { name: 'env-cm', key: 'k' } } }],
    envFrom: [{ configMapRef: { name: 'envfrom-cm' } }],
  }],
  ephemeralContainers: [{ name: 'e', image: 'x', env: [{ name: 'C', valueFrom: { secretKeyRef: { name: 'ephemeral-secret', key: 'k' } } }] }],
  volumes: [
    { name: 's', secret: { secretName: 'vol-secret' } },
    { name: 'm', configMap: { name: 'vol-cm' } },
    { name: 'p', projected: { sources: [{ secret: { name: 'proj-secret' } }, { configMap: { name: 'proj-cm' } }, { serviceAccountToken: { path: 't' } }] } },
    { name: 'csi', csi: { driver: 'd', nodePublishSecretRef: { name: 'csi-secret' } } },
    { name: 'e', emptyDir: {} },
  ],
};

test('podReferences: every secret and configmap reference upstream visits, and the service account', () => {
  const refs = podReferences(pod('p', 'n1', everyReference)).map((r) => `${r.type}/${r.name}`).sort();
  assert.deepEqual(refs, [
    'configmap/env-cm', 'configmap/envfrom-cm', 'configmap/proj-cm', 'configmap/vol-cm',
    'secret/csi-secret', 'secret/env-secret', 'secret/ephemeral-secret', 'secret/init-envfrom', 'secret/proj-secret', 'secret/pull', 'secret/vol-secret',
    'serviceaccount/sa',
  ]);
});

test('a bound pod opens what it references to its node only; an unbound pod opens nothing', () => {
  const g = new NodeGraph();
  g.setPod(pod('unbound', undefined, { volumes: [{ name: 's', secret: { secretName: 'x' } }] }));
  assert.equal(g.reaches('n1', 'secret', 'default', 'x'), false);
  assert.equal(g.podNode('default', 'unbound'), undefined);

  g.setPod(pod('p', 'n1', everyReference));
  for (const [type, name] of [['secret', 'vol-secret'], ['secret', 'pull'], ['configmap', 'proj-cm'], ['serviceaccount', 'sa'], ['secret', 'ephemeral-secret']] as const) {
    assert.equal(g.reaches('n1', type, 'default', name), true, `${type}/${name}`);
    assert.equal(g.reaches('n2', type, 'default', name), false, `${type}/${name} on n2`);
  }
  // Same name, other namespace or other kind: no.
  assert.equal(g.reaches('n1', 'secret', 'other', 'vol-secret'), false);
  assert.equal(g.reaches('n1', 'configmap', 'default', 'vol-secret'), false);
  assert.equal(g.podNode('default', 'p'), 'n1');
});

test('references are counted per node: the object stays open until the last pod using it goes', () => {
  const g = new NodeGraph();
  const uses = { volumes: [{ name: 's', secret: { secretName: 'shared' } }], containers: [{ name: 'c', image: 'x', envFrom: [{ secretRef: { name: 'shared' } }] }] };
  g.setPod(pod('a', 'n1', uses));
  g.setPod(pod('b', 'n1', uses));
  g.setPod(pod('c', 'n2', uses));
  g.deletePod('default/a');
  assert.equal(g.reaches('n1', 'secret', 'default', 'shared'), true);
  g.deletePod('default/b');
  assert.equal(g.reaches('n1', 'secret', 'default', 'shared'), false);
  assert.equal(g.reaches('n2', 'secret', 'default', 'shared'), true);
  g.deletePod('default/c');
  g.deletePod('default/c'); // twice: harmless
  assert.deepEqual(g.size, { pods: 0, edges: 0 });
});

test('setting a pod again replaces its edges (a pod rebound, references changed)', () => {
  const g = new NodeGraph();
  g.setPod(pod('p', 'n1', { volumes: [{ name: 's', secret: { secretName: 'old' } }] }));
  g.setPod(pod('p', 'n2', { volumes: [{ name: 's', secret: { secretName: 'new' } }] }));
  assert.equal(g.reaches('n1', 'secret', 'default', 'old'), false);
  assert.equal(g.reaches('n2', 'secret', 'default', 'old'), false);
  assert.equal(g.reaches('n2', 'secret', 'default', 'new'), true);
  assert.equal(g.podNode('default', 'p'), 'n2');
  // Unbinding (not possible through the API, but a replace must not leak) removes it.
  g.setPod(pod('p', undefined));
  assert.deepEqual(g.size, { pods: 0, edges: 0 });
});

test('a mirror pod opens nothing but itself to its node', () => {
  const g = new NodeGraph();
  g.setPod(pod('static-web-n1', 'n1', { serviceAccountName: 'sa', volumes: [{ name: 's', secret: { secretName: 'x' } }] }, { annotations: { 'kubernetes.io/config.mirror': 'abc' } }));
  assert.equal(g.podNode('default', 'static-web-n1'), 'n1');
  assert.equal(g.reaches('n1', 'secret', 'default', 'x'), false);
  assert.equal(g.reaches('n1', 'serviceaccount', 'default', 'sa'), false);
});

test('reset rebuilds the graph from a list of pods', () => {
  const g = new NodeGraph();
  g.setPod(pod('gone', 'n1', { volumes: [{ name: 's', secret: { secretName: 'gone' } }] }));
  g.reset([pod('p', 'n2', { volumes: [{ name: 's', secret: { secretName: 'kept' } }] })]);
  assert.equal(g.reaches('n1', 'secret', 'default', 'gone'), false);
  assert.equal(g.reaches('n2', 'secret', 'default', 'kept'), true);
  assert.deepEqual(g.size, { pods: 1, edges: 1 });
});
