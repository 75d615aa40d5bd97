import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, Service } from 'kubernetes-types/core/v1.js';
import { computeEndpointSubsets, computeSlices, findPort } from './endpoints.js';

const svc = (extra: Partial<Service['spec']> = {}): Service => ({
  metadata: { name: 'web', namespace: 'default', uid: 's1' },
  spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }], ...extra },
});
function pod(name: string, ip: string | undefined, ready: boolean, containerPort = 8080, extra: { deleting?: boolean; labels?: Record<string, string>; phase?: string } = {}): Pod {
  return {
    metadata: { name, namespace: 'default', uid: `u-${name}`, labels: extra.labels ?? { app: 'web' }, ...(extra.deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}) },
    spec: { nodeName: 'n1', containers: [{ name: 'c', ports: [{ name: 'http', containerPort, protocol: 'TCP' }] }] },
    status: { phase: extra.phase ?? 'Running', podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}

test('named targetPort resolves per pod', () => {
  assert.equal(findPort(pod('a', '1.1.1.1', true, 9000), { port: 80, targetPort: 'http' }), 9000);
  assert.equal(findPort(pod('a', '1.1.1.1', true), { port: 80, targetPort: 'nope' }), undefined);
  assert.equal(findPort(pod('a', '1.1.1.1', true), { port: 80 }), 80);
  assert.equal(findPort(pod('a', '1.1.1.1', true), { port: 80, targetPort: 81 }), 81);
});

test('endpoints: ready and not-ready addresses, pods without IP or not matching skipped, repacked by port', () => {
  const pods = [
    pod('a', '10.42.0.5', true), pod('b', '10.42.0.10', false), pod('c', undefined, true),
    pod('d', '10.42.0.7', true, 9000), pod('e', '10.42.0.8', true, 8080, { labels: { app: 'other' } }),
    pod('f', '10.42.0.9', true, 8080, { deleting: true }), pod('g', '10.42.0.11', true, 8080, { phase: 'Failed' }),
  ];
  const subsets = computeEndpointSubsets(svc(), pods);
  assert.equal(subsets.length, 2);
  const s8080 = subsets.find((s) => s.ports?.[0]?.port === 8080)!;
  assert.deepEqual(s8080.addresses?.map((a) => a.ip), ['10.42.0.5']);
  assert.deepEqual(s8080.notReadyAddresses?.map((a) => a.ip), ['10.42.0.10']);
  assert.equal(s8080.addresses?.[0]?.targetRef?.name, 'a');
  assert.equal(s8080.addresses?.[0]?.nodeName, 'n1');
  assert.equal(s8080.ports?.[0]?.name, 'http');
  const s9000 = subsets.find((s) => s.ports?.[0]?.port === 9000)!;
  assert.deepEqual(s9000.addresses?.map((a) => a.ip), ['10.42.0.7']);
  // publishNotReadyAddresses: everything is ready
  const all = computeEndpointSubsets(svc({ publishNotReadyAddresses: true }), pods);
  assert.ok(all.every((s) => !s.notReadyAddresses));
});

test('slices: conditions, terminating pods included, max 100 per slice', () => {
  const slices = computeSlices(svc(), [pod('a', '10.42.0.5', true), pod('b', '10.42.0.6', false), pod('f', '10.42.0.9', true, 8080, { deleting: true })]);
  assert.equal(slices.length, 1);
  const byName = Object.fromEntries(slices[0]!.endpoints.map((e) => [e.targetRef!.name, e.conditions]));
  assert.deepEqual(byName.a, { ready: true, serving: true, terminating: false });
  assert.deepEqual(byName.b, { ready: false, serving: false, terminating: false });
  assert.deepEqual(byName.f, { ready: false, serving: true, terminating: true });
  assert.deepEqual(slices[0]!.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  const many = Array.from({ length: 250 }, (_, i) => pod(`p${i}`, `10.42.${Math.floor(i / 200)}.${i % 200}`, true));
  assert.deepEqual(computeSlices(svc(), many).map((s) => s.endpoints.length), [100, 100, 50]);
  assert.equal(computeSlices(svc(), []).length, 1);
  const zoned = computeSlices(svc(), [pod('a', '10.42.0.5', true)], 100, (n) => (n === 'n1' ? 'zone-a' : undefined));
  assert.equal(zoned[0]!.endpoints[0]!.zone, 'zone-a');
});
