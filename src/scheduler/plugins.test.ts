import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Code, type CycleState, type FilterPlugin } from './framework.js';
import { NodeInfo, PodInfo } from './nodeinfo.js';
import { podRequests } from './resources.js';
import { defaultProfile } from './profile.js';
import { cacheWith, makeHandle, makeNode, makePod } from './testutil.js';
import type { Node } from 'kubernetes-types/core/v1.js';

/** Run the default filters for one pod against one node (with the given bound pods); the failing plugin's reasons. */
function check(pod: Pod, node: Node, bound: Pod[] = [], others: Node[] = []): string[] {
  const cache = cacheWith([node, ...others], bound);
  const h = makeHandle(cache);
  const pi = new PodInfo(pod);
  const state: CycleState = new Map();
  const filters: FilterPlugin[] = defaultProfile().filters;
  // As the framework: a filter whose pre-filter says Skip is not run.
  const active = filters.filter((f) => f.preFilter?.(state, pi, h).code !== Code.Skip);
  const ni = cache.getNode(node.metadata!.name!) as NodeInfo;
  for (const f of active) {
    const st = f.filter(state, pi, ni);
    if (st.code !== Code.Success) return st.reasons;
  }
  return [];
}

test('pod requests: containers add up, init containers take the max, sidecars run alongside, overhead adds', () => {
  const pod = makePod('p', {
    spec: {
      containers: [
        { name: 'a', resources: { requests: { cpu: '100m', memory: '64Mi' } } },
        { name: 'b', resources: { limits: { cpu: '200m' } } }, // requests default to limits
      ],
      initContainers: [
        { name: 'sidecar', restartPolicy: 'Always', resources: { requests: { cpu: '50m' } } },
        { name: 'init', resources: { requests: { cpu: '1', memory: '32Mi' } } },
      ],
      overhead: { cpu: '10m' },
    },
  });
  const r = podRequests(pod);
  // max(100+200+50, 1000+50) + 10
  assert.equal(r.milliCPU, 1060);
  assert.equal(r.memory, 64 * 2 ** 20);
  const nz = podRequests(makePod('q'), true);
  assert.equal(nz.milliCPU, 100);
  assert.equal(nz.memory, 200 * 2 ** 20);
});

test('NodeResourcesFit: cpu, memory, pods and extended resources against allocatable minus bound requests', () => {
  const node = makeNode('n1', { cpu: '2', memory: '1Gi', pods: '3', extra: { 'example.com/gpu': '1' } });
  const bound = [makePod('b1', { cpu: '1500m', nodeName: 'n1' }), makePod('b2', { memory: '1Gi', nodeName: 'n1' })];
  assert.deepEqual(check(makePod('p', { cpu: '500m' }), node, bound), []);
  assert.deepEqual(check(makePod('p', { cpu: '600m', memory: '1' }), node, bound), ['Insufficient cpu', 'Insufficient memory']);
  assert.deepEqual(check(makePod('p', { extra: { 'example.com/gpu': '2' } }), node), ['Insufficient example.com/gpu']);
  assert.deepEqual(check(makePod('p'), node, [...bound, makePod('b3', { nodeName: 'n1' })]), ['Too many pods']);
});

test('TaintToleration: untolerated NoSchedule/NoExecute taints reject, PreferNoSchedule does not', () => {
  const node = makeNode('n1', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }, { key: 'soft', effect: 'PreferNoSchedule' }] });
  assert.deepEqual(check(makePod('p'), node), ['node(s) had untolerated taint {dedicated: db}']);
  assert.deepEqual(check(makePod('p', { spec: { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }] } }), node), []);
  assert.deepEqual(check(makePod('p', { spec: { tolerations: [{ key: 'dedicated', operator: 'Exists' }] } }), node), []);
  assert.deepEqual(check(makePod('p', { spec: { tolerations: [{ operator: 'Exists' }] } }), node), []);
  assert.deepEqual(check(makePod('p', { spec: { tolerations: [{ key: 'dedicated', value: 'web' }] } }), node), ['node(s) had untolerated taint {dedicated: db}']);
});

test('nodes that are not Ready count as tainted not-ready / unreachable', () => {
  assert.deepEqual(check(makePod('p'), makeNode('n1', { ready: 'False' })), ['node(s) had untolerated taint {node.kubernetes.io/not-ready: }']);
  assert.deepEqual(check(makePod('p'), makeNode('n1', { ready: 'Unknown' })), ['node(s) had untolerated taint {node.kubernetes.io/unreachable: }']);
  const tolerant = makePod('p', { spec: { tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists' }] } });
  assert.deepEqual(check(tolerant, makeNode('n1', { ready: 'Unknown' })), []);
});

test('NodeUnschedulable and NodeName', () => {
  assert.deepEqual(check(makePod('p'), makeNode('n1', { unschedulable: true })), ['node(s) were unschedulable']);
  const tol = makePod('p', { spec: { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] } });
  assert.deepEqual(check(tol, makeNode('n1', { unschedulable: true })), []);
  assert.deepEqual(check(makePod('p', { nodeName: 'n2' }), makeNode('n1')), ["node(s) didn't match the requested node name"]);
});

test('NodeAffinity: nodeSelector and required terms with every operator and matchFields', () => {
  const node = makeNode('n1', { labels: { disk: 'ssd', gen: '5' } });
  const miss = ["node(s) didn't match Pod's node affinity/selector"];
  assert.deepEqual(check(makePod('p', { spec: { nodeSelector: { disk: 'ssd' } } }), node), []);
  assert.deepEqual(check(makePod('p', { spec: { nodeSelector: { disk: 'hdd' } } }), node), miss);
  const withTerms = (...exprs: { key: string; operator: string; values?: string[] }[]) =>
    makePod('p', { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: exprs }] } } } } });
  assert.deepEqual(check(withTerms({ key: 'disk', operator: 'In', values: ['ssd', 'nvme'] }), node), []);
  assert.deepEqual(check(withTerms({ key: 'disk', operator: 'NotIn', values: ['ssd'] }), node), miss);
  assert.deepEqual(check(withTerms({ key: 'disk', operator: 'Exists' }), node), []);
  assert.deepEqual(check(withTerms({ key: 'gpu', operator: 'DoesNotExist' }), node), []);
  assert.deepEqual(check(withTerms({ key: 'gen', operator: 'Gt', values: ['4'] }), node), []);
  assert.deepEqual(check(withTerms({ key: 'gen', operator: 'Lt', values: ['5'] }), node), miss);
  const byName = makePod('p', { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [
    { matchExpressions: [{ key: 'disk', operator: 'In', values: ['hdd'] }] },
    { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] },
  ] } } } } });
  assert.deepEqual(check(byName, node), []); // terms are ORed
});

test('NodePorts: hostPort conflicts per protocol and address', () => {
  const withPort = (name: string, port: number, protocol = 'TCP', hostIP?: string, nodeName?: string) => makePod(name, {
    nodeName, spec: { containers: [{ name: 'c', ports: [{ containerPort: 80, hostPort: port, protocol, hostIP }] }] },
  });
  const node = makeNode('n1');
  const bound = [withPort('b', 8080, 'TCP', '127.0.0.1', 'n1')];
  assert.deepEqual(check(withPort('p', 8080), node, bound), ["node(s) didn't have free ports for the requested pod ports"]);
  assert.deepEqual(check(withPort('p', 8080, 'UDP'), node, bound), []);
  assert.deepEqual(check(withPort('p', 8080, 'TCP', '127.0.0.2'), node, bound), []);
  assert.deepEqual(check(withPort('p', 8081), node, bound), []);
});

test('InterPodAffinity: anti-affinity on hostname, affinity, and existing pods anti-affinity', () => {
  const n1 = makeNode('n1', { labels: { zone: 'a' } });
  const n2 = makeNode('n2', { labels: { zone: 'a' } });
  const web = makePod('web-0', { labels: { app: 'web' }, nodeName: 'n1' });
  const anti = makePod('web-1', { labels: { app: 'web' }, spec: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [
    { labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname' }] } } } });
  assert.deepEqual(check(anti, n1, [web], [n2]), ["node(s) didn't match pod anti-affinity rules"]);
  assert.deepEqual(check(anti, n2, [web], [n1]), []);
  const aff = makePod('cache', { spec: { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [
    { labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'zone' }] } } } });
  assert.deepEqual(check(aff, n2, [web], [n1]), []); // same zone as web-0
  const n3 = makeNode('n3', { labels: { zone: 'b' } });
  assert.deepEqual(check(aff, n3, [web], [n1]), ["node(s) didn't match pod affinity rules"]);
  // A pod whose affinity selects itself may start the group.
  const self = makePod('db-0', { labels: { app: 'db' }, spec: { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [
    { labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'zone' }] } } } });
  assert.deepEqual(check(self, n3), []);
  // An existing pod that repels app=web keeps web pods off its node.
  const repel = makePod('lonely', { nodeName: 'n2', spec: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [
    { labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname' }] } } } });
  assert.deepEqual(check(makePod('w', { labels: { app: 'web' } }), n2, [repel], [n1]), ["node(s) didn't satisfy existing pods anti-affinity rules"]);
  assert.deepEqual(check(makePod('w', { labels: { app: 'other' } }), n2, [repel], [n1]), []);
});

test('PodTopologySpread DoNotSchedule: maxSkew over hostname domains, missing label', () => {
  const nodes = [makeNode('n1'), makeNode('n2')];
  const spread = (name: string) => makePod(name, { labels: { app: 'x' }, spec: { topologySpreadConstraints: [
    { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'x' } } }] } });
  const bound = [makePod('a', { labels: { app: 'x' }, nodeName: 'n1' })];
  assert.deepEqual(check(spread('p'), nodes[0]!, bound, [nodes[1]!]), ["node(s) didn't match pod topology spread constraints"]);
  assert.deepEqual(check(spread('p'), nodes[1]!, bound, [nodes[0]!]), []);
  const zonal = makePod('z', { labels: { app: 'x' }, spec: { topologySpreadConstraints: [
    { maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'x' } } }] } });
  assert.deepEqual(check(zonal, nodes[0]!), ["node(s) didn't match pod topology spread constraints (missing required label)"]);
});
