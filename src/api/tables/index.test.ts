import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toTable, humanDuration } from './index.js';

const now = new Date('2024-06-01T12:00:00Z');
const ago = (s: number) => new Date(now.getTime() - s * 1000).toISOString();

test('humanDuration as upstream', () => {
  const cases: [number, string][] = [[-5, '<invalid>'], [-1, '0s'], [5, '5s'], [119, '119s'], [182, '3m2s'], [600, '10m'], [3 * 3600, '3h'], [5 * 3600 + 1800, '5h30m'], [4 * 3600, '4h'], [20 * 3600, '20h'], [51 * 3600, '2d3h'], [48 * 3600, '2d'], [30 * 86400, '30d'], [800 * 86400, '2y70d']];
  for (const [s, want] of cases) assert.equal(humanDuration(s * 1000), want, `${s}s`);
});

test('pod table', () => {
  const running = {
    metadata: { name: 'web', creationTimestamp: ago(300) },
    spec: { containers: [{ name: 'a' }, { name: 'b' }], nodeName: 'n1' },
    status: {
      phase: 'Running', podIP: '10.42.0.5', podIPs: [{ ip: '10.42.0.5' }],
      containerStatuses: [
        { name: 'a', ready: true, restartCount: 2, state: { running: {} }, lastState: { terminated: { exitCode: 1, finishedAt: ago(65) } } },
        { name: 'b', ready: false, restartCount: 0, state: { waiting: { reason: 'CrashLoopBackOff' } } },
      ],
    },
  };
  const init = {
    metadata: { name: 'i', creationTimestamp: ago(10) },
    spec: { containers: [{ name: 'a' }], initContainers: [{ name: 'x' }, { name: 'y' }] },
    status: { phase: 'Pending', initContainerStatuses: [{ name: 'x', state: { terminated: { exitCode: 0 } } }, { name: 'y', state: { running: {} } }] },
  };
  const done = { metadata: { name: 'd', creationTimestamp: ago(10) }, spec: { containers: [{ name: 'a' }] }, status: { phase: 'Succeeded', containerStatuses: [{ name: 'a', ready: false, state: { terminated: { exitCode: 0, reason: 'Completed' } } }] } };
  const terminating = { metadata: { name: 't', creationTimestamp: ago(10), deletionTimestamp: ago(0) }, spec: { containers: [{ name: 'a' }] }, status: { phase: 'Running' } };
  const t = toTable('', 'v1', 'Pod', [running, init, done, terminating], now);
  assert.deepEqual(t.columnDefinitions.map((c) => c.name), ['Name', 'Ready', 'Status', 'Restarts', 'Age', 'IP', 'Node', 'Nominated Node', 'Readiness Gates']);
  assert.deepEqual(t.columnDefinitions.map((c) => c.priority), [0, 0, 0, 0, 0, 1, 1, 1, 1]);
  assert.equal(t.columnDefinitions[0]!.format, 'name');
  assert.deepEqual(t.rows[0]!.cells, ['web', '1/2', 'CrashLoopBackOff', '2 (65s ago)', '5m', '10.42.0.5', 'n1', '<none>', '<none>']);
  assert.deepEqual(t.rows[1]!.cells.slice(0, 4), ['i', '0/1', 'Init:1/2', '0']);
  assert.deepEqual(t.rows[2]!.cells.slice(0, 3), ['d', '0/1', 'Completed']);
  assert.equal(t.rows[2]!.conditions![0]!.type, 'Completed');
  assert.equal(t.rows[3]!.cells[2], 'Terminating');
  assert.deepEqual(t.rows[0]!.object, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: running.metadata });
  assert.equal(t.kind, 'Table');
  assert.equal(t.apiVersion, 'meta.k8s.io/v1');
});

test('service, deployment, node, event, default tables', () => {
  const svc = { metadata: { name: 'web', creationTimestamp: ago(60) }, spec: { type: 'NodePort', clusterIP: '10.43.0.10', clusterIPs: ['10.43.0.10'], ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }], selector: { b: '2', a: '1' } } };
  assert.deepEqual(toTable('', 'v1', 'Service', [svc], now).rows[0]!.cells, ['web', 'NodePort', '10.43.0.10', '<none>', '80:30080/TCP,53/UDP', '60s', 'a=1,b=2']);
  const d = { metadata: { name: 'd', creationTimestamp: ago(7200) }, spec: { replicas: 3, selector: { matchLabels: { app: 'x' } }, template: { spec: { containers: [{ name: 'c', image: 'nginx' }] } } }, status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 } };
  assert.deepEqual(toTable('apps', 'v1', 'Deployment', [d], now).rows[0]!.cells, ['d', '2/3', 3, 2, '120m', 'c', 'nginx', 'app=x']);
  const n = { metadata: { name: 'n1', creationTimestamp: ago(86400 * 3), labels: { 'node-role.kubernetes.io/control-plane': 'true' } }, spec: { unschedulable: true }, status: { conditions: [{ type: 'Ready', status: 'True' }], nodeInfo: { kubeletVersion: 'v1.32.0' }, addresses: [{ type: 'InternalIP', address: '10.0.0.1' }] } };
  assert.deepEqual(toTable('', 'v1', 'Node', [n], now).rows[0]!.cells.slice(0, 6), ['n1', 'Ready,SchedulingDisabled', 'control-plane', '3d', 'v1.32.0', '10.0.0.1']);
  const ev = { metadata: { name: 'e1' }, involvedObject: { kind: 'Pod', name: 'web' }, reason: 'Pulled', message: 'ok', type: 'Normal', lastTimestamp: ago(30), firstTimestamp: ago(90), count: 2 };
  const et = toTable('', 'v1', 'Event', [ev], now);
  assert.deepEqual(et.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name), ['Last Seen', 'Type', 'Reason', 'Object', 'Message']);
  assert.deepEqual(et.rows[0]!.cells.slice(0, 4), ['30s', 'Normal', 'Pulled', 'pod/web']);
  const x = toTable('example.com', 'v1', 'Widget', [{ metadata: { name: 'w', creationTimestamp: ago(3) } }], now, 'None');
  assert.deepEqual(x.rows, [{ cells: ['w', '3s'] }]);
  assert.deepEqual(toTable('', 'v1', 'ConfigMap', [{ metadata: { name: 'c', creationTimestamp: ago(1) }, data: { a: '1', b: '2' } }], now).rows[0]!.cells, ['c', 2, '1s']);
});

test('ingress: three hosts then "+ N more..." counting rules; load-balancer points sorted and unique', () => {
  const rules = ['a.example', '', 'b.example', 'c.example', 'd.example'].map((host) => (host ? { host } : {}));
  const ing = { metadata: { name: 'i', creationTimestamp: ago(5) }, spec: { rules }, status: { loadBalancer: { ingress: [{ ip: '10.0.0.2' }, { hostname: 'lb.example' }, { ip: '10.0.0.1' }, { ip: '10.0.0.2' }] } } };
  assert.deepEqual(toTable('networking.k8s.io', 'v1', 'Ingress', [ing], now).rows[0]!.cells,
    ['i', '<none>', 'a.example,b.example,c.example + 2 more...', '10.0.0.1,10.0.0.2,lb.example', '80', '5s']);
  const three = { metadata: { name: 'j' }, spec: { rules: [{ host: 'a' }, { host: 'b' }, { host: 'c' }] } };
  assert.equal(toTable('networking.k8s.io', 'v1', 'Ingress', [three], now).rows[0]!.cells[2], 'a,b,c');
  const lb = { metadata: { name: 's' }, spec: { type: 'LoadBalancer', clusterIPs: ['10.43.0.9'], ports: [{ port: 80, nodePort: 30001, protocol: 'TCP' }] }, status: { loadBalancer: { ingress: [{ ip: '192.0.2.9' }, { ip: '192.0.2.1' }] } } };
  assert.equal(toTable('', 'v1', 'Service', [lb], now).rows[0]!.cells[3], '192.0.2.1,192.0.2.9');
});

test('events: singleton count 1, kind alone without a name, source from reporting controller and instance', () => {
  const core = { metadata: { name: 'e1' }, involvedObject: { kind: 'Node' }, reason: 'Rebooted', message: ' m ', type: 'Warning', eventTime: ago(10), reportingComponent: 'kubelet', reportingInstance: 'n1' };
  const cells = toTable('', 'v1', 'Event', [core], now).rows[0]!.cells;
  assert.deepEqual(cells, ['10s', 'Warning', 'Rebooted', 'node', '', 'kubelet, n1', 'm', '10s', 1, 'e1']);
  const fromController = { metadata: { name: 'e2' }, involvedObject: { kind: 'Deployment', name: 'web' }, reason: 'ScalingReplicaSet', message: 'x', type: 'Normal', lastTimestamp: ago(3), firstTimestamp: ago(3), count: 1, source: { component: 'deployment-controller' } };
  assert.equal(toTable('', 'v1', 'Event', [fromController], now).rows[0]!.cells[5], 'deployment-controller');
  const v1 = { metadata: { name: 'e3' }, regarding: { kind: 'Pod', name: 'p' }, reason: 'Scheduled', note: 'ok', type: 'Normal', eventTime: ago(4), reportingController: 'default-scheduler', reportingInstance: 'default-scheduler-h1' };
  assert.deepEqual(toTable('events.k8s.io', 'v1', 'Event', [v1], now).rows[0]!.cells.slice(3, 9), ['pod/p', '', 'default-scheduler, default-scheduler-h1', 'ok', '4s', 1]);
});

test('endpoints and endpoint slices print as upstream', () => {
  const none = { metadata: { name: 'a' } };
  const notReady = { metadata: { name: 'b' }, subsets: [{ notReadyAddresses: [{ ip: '10.42.0.9' }], ports: [{ port: 80 }] }] };
  const v6 = { metadata: { name: 'c' }, subsets: [{ addresses: [{ ip: 'fd00::1' }, { ip: 'fd00::2' }], ports: [{ port: 80 }, { port: 443 }] }] };
  const rows = toTable('', 'v1', 'Endpoints', [none, notReady, v6], now).rows.map((r) => r.cells[1]);
  assert.deepEqual(rows, ['<none>', '', '[fd00::1]:80,[fd00::2]:80,[fd00::1]:443 + 1 more...']);
  const slice = { metadata: { name: 's' }, addressType: 'IPv4', ports: [{ name: 'http' }, {}, { port: 53 }], endpoints: [] };
  assert.deepEqual(toTable('discovery.k8s.io', 'v1', 'EndpointSlice', [slice], now).rows[0]!.cells.slice(1, 4), ['IPv4', 'http,*,53', '<unset>']);
});

test('label selectors print sorted by key as LabelSelectorAsSelector; a deployment with an empty one prints ""', () => {
  const selector = { matchLabels: { tier: 'web' }, matchExpressions: [{ key: 'app', operator: 'In', values: ['y', 'x'] }, { key: 'zone', operator: 'DoesNotExist' }] };
  const rs = { metadata: { name: 'r' }, spec: { replicas: 1, selector, template: { spec: { containers: [] } } } };
  assert.equal(toTable('apps', 'v1', 'ReplicaSet', [rs], now).rows[0]!.cells[7], 'app in (x,y),tier=web,!zone');
  const d = { metadata: { name: 'd' }, spec: { replicas: 1, selector: {}, template: { spec: { containers: [] } } } };
  assert.equal(toTable('apps', 'v1', 'Deployment', [d], now).rows[0]!.cells[7], '');
  assert.equal(toTable('apps', 'v1', 'ReplicaSet', [{ ...rs, spec: { ...rs.spec, selector: {} } }], now).rows[0]!.cells[7], '<none>');
});

test('pods: restarts of sidecar containers stay counted once the pod is initialized', () => {
  const pod = {
    metadata: { name: 'p', creationTimestamp: ago(600) },
    spec: { initContainers: [{ name: 'once' }, { name: 'side', restartPolicy: 'Always' }], containers: [{ name: 'main' }] },
    status: {
      phase: 'Running', conditions: [{ type: 'Initialized', status: 'True' }],
      initContainerStatuses: [
        { name: 'once', restartCount: 4, state: { terminated: { exitCode: 0 } }, lastState: { terminated: { exitCode: 1, finishedAt: ago(500) } } },
        { name: 'side', restartCount: 2, started: true, ready: true, state: { running: {} }, lastState: { terminated: { exitCode: 1, finishedAt: ago(100) } } },
      ],
      containerStatuses: [{ name: 'main', restartCount: 1, ready: true, state: { running: {} }, lastState: { terminated: { exitCode: 1, finishedAt: ago(200) } } }],
    },
  };
  assert.deepEqual(toTable('', 'v1', 'Pod', [pod], now).rows[0]!.cells.slice(0, 4), ['p', '2/2', 'Running', '3 (100s ago)']);
});
