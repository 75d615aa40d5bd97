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
