import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Algorithm, NoNodesError, numFeasibleNodesToFind } from './algorithm.js';
import { FitError } from './framework.js';
import { defaultProfile } from './profile.js';
import { cacheWith, makeHandle, makeNode, makePod } from './testutil.js';

test('numFeasibleNodesToFind follows the adaptive percentage with a floor of 100 nodes', () => {
  assert.equal(numFeasibleNodesToFind(50), 50);
  assert.equal(numFeasibleNodesToFind(100), 100);
  assert.equal(numFeasibleNodesToFind(150), 100);
  assert.equal(numFeasibleNodesToFind(1000), 420);
  assert.equal(numFeasibleNodesToFind(5000), 500);
  assert.equal(numFeasibleNodesToFind(10000), 500); // 5% floor
  assert.equal(numFeasibleNodesToFind(1000, 100), 1000);
});

test('unschedulable: upstream-style message with the reasons histogram and the preemption verdict', () => {
  const cache = cacheWith([
    makeNode('node-1', { ready: 'Unknown' }),
    makeNode('node-2', { cpu: '2' }),
    makeNode('node-3', { cpu: '2' }),
  ]);
  const alg = new Algorithm(defaultProfile(), makeHandle(cache));
  assert.throws(() => alg.schedule(makePod('big', { cpu: '64' })), (e: unknown) => {
    assert.ok(e instanceof FitError);
    assert.equal(e.message, '0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 2 Insufficient cpu. '
      + 'preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.');
    assert.deepEqual([...e.plugins()].sort(), ['NodeResourcesFit', 'TaintToleration']);
    return true;
  });
  const tainted = cacheWith([makeNode('n1', { taints: [{ key: 'k', value: 'v', effect: 'NoSchedule' }] }), makeNode('n2', { labels: { a: 'b' } })]);
  const alg2 = new Algorithm(defaultProfile(), makeHandle(tainted));
  assert.throws(() => alg2.schedule(makePod('p', { spec: { nodeSelector: { a: 'c' } } })), {
    message: "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {k: v}. "
      + 'preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.',
  });
  assert.throws(() => new Algorithm(defaultProfile(), makeHandle(cacheWith([]))).schedule(makePod('p')), NoNodesError);
});

test('pods of one service spread evenly; least-allocated fills emptier nodes', () => {
  const cache = cacheWith([makeNode('n1'), makeNode('n2'), makeNode('n3')]);
  const alg = new Algorithm(defaultProfile(), makeHandle(cache, { app: 'web' }));
  const counts = new Map<string, number>();
  for (let i = 0; i < 30; i++) {
    const pod = makePod(`web-${i}`, { labels: { app: 'web' } });
    const { node } = alg.schedule(pod);
    cache.assumePod(pod, node);
    counts.set(node, (counts.get(node) ?? 0) + 1);
  }
  assert.deepEqual([...counts.values()], [10, 10, 10]);
  // A node already busy with cpu is avoided by a big pod.
  const c2 = cacheWith([makeNode('busy'), makeNode('idle')], [makePod('hog', { cpu: '3', nodeName: 'busy' })]);
  const alg2 = new Algorithm(defaultProfile(), makeHandle(c2));
  for (let i = 0; i < 5; i++) assert.equal(alg2.schedule(makePod(`p${i}`, { cpu: '500m' })).node, 'idle');
});

test('preferences: node affinity weights, PreferNoSchedule taints, preferred pod anti-affinity', () => {
  const cache = cacheWith([makeNode('n1', { labels: { disk: 'ssd' } }), makeNode('n2'), makeNode('n3', { taints: [{ key: 'x', effect: 'PreferNoSchedule' }] })]);
  const alg = new Algorithm(defaultProfile(), makeHandle(cache));
  const prefer = makePod('p', { spec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [
    { weight: 100, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } }] } } } });
  for (let i = 0; i < 5; i++) assert.equal(alg.schedule(prefer).node, 'n1');
  const seen = new Set<string>();
  for (let i = 0; i < 40; i++) seen.add(alg.schedule(makePod(`q${i}`)).node);
  assert.ok(!seen.has('n3'), 'PreferNoSchedule node avoided while others are equal');
  const c2 = cacheWith([makeNode('a'), makeNode('b')], [makePod('w0', { labels: { app: 'w' }, nodeName: 'a' })]);
  const alg2 = new Algorithm(defaultProfile(), makeHandle(c2));
  const soft = makePod('w1', { labels: { app: 'w' }, spec: { affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [
    { weight: 100, podAffinityTerm: { labelSelector: { matchLabels: { app: 'w' } }, topologyKey: 'kubernetes.io/hostname' } }] } } } });
  for (let i = 0; i < 5; i++) assert.equal(alg2.schedule(soft).node, 'b');
});

test('big clusters are sampled: about 42% of 1000 nodes evaluated per pod, rotating', () => {
  const nodes = Array.from({ length: 1000 }, (_, i) => makeNode(`n${i}`, { cpu: '32', memory: '256Gi' }));
  const cache = cacheWith(nodes);
  const alg = new Algorithm(defaultProfile(), makeHandle(cache));
  const r = alg.schedule(makePod('p', { cpu: '100m' }));
  assert.equal(r.evaluatedNodes, 420);
  assert.equal(r.feasibleNodes, 420);
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) {
    const pod = makePod(`p${i}`, { cpu: '100m', memory: '128Mi' });
    cache.assumePod(pod, alg.schedule(pod).node);
  }
  const perPod = (performance.now() - t0) / 200;
  assert.ok(perPod < 20, `scheduling took ${perPod.toFixed(2)} ms per pod`);
});
