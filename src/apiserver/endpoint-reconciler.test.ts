import assert from 'node:assert/strict';
import { test } from 'node:test';
import { desiredSlices, desiredSubsets, groupServers, leaseKey, parseLeases } from './endpoint-reconciler.js';

test('master lease keys are IP:port, IPv6 in brackets', () => {
  assert.equal(leaseKey({ ip: '10.0.0.2', port: 6443 }), '/registry/masterleases/10.0.0.2:6443');
  assert.equal(leaseKey({ ip: 'fd00::2', port: 6443 }), '/registry/masterleases/[fd00::2]:6443');
});

test('lease values: ours carry the port; upstream\'s (IP only) get the default port; junk is skipped', () => {
  const ours = JSON.stringify({ kind: 'Endpoints', subsets: [{ addresses: [{ ip: '10.0.0.3' }], ports: [{ port: 7443 }] }] });
  const upstream = JSON.stringify({ kind: 'Endpoints', subsets: [{ addresses: [{ ip: '10.0.0.4' }] }] });
  assert.deepEqual(parseLeases([ours, upstream, 'not json', '{}'], 6443), [{ ip: '10.0.0.3', port: 7443 }, { ip: '10.0.0.4', port: 6443 }]);
});

test('one port: one subset and one slice named kubernetes, IPs sorted and unique (upstream\'s shape)', () => {
  const g = groupServers([{ ip: '10.0.0.9', port: 6443 }, { ip: '10.0.0.1', port: 6443 }, { ip: '10.0.0.9', port: 6443 }]);
  assert.deepEqual(desiredSubsets(g), [{ addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.9' }], ports: [{ name: 'https', port: 6443, protocol: 'TCP' }] }]);
  const s = desiredSlices(g);
  assert.deepEqual([...s.keys()], ['kubernetes']);
  assert.deepEqual(s.get('kubernetes')!.endpoints!.map((e) => e.addresses), [['10.0.0.1'], ['10.0.0.9']]);
  assert.equal(s.get('kubernetes')!.addressType, 'IPv4');
});

test('servers sharing an IP on different ports: a subset and a slice per port; IPv6 apart', () => {
  const g = groupServers([{ ip: '127.0.0.1', port: 7000 }, { ip: '127.0.0.1', port: 6443 }, { ip: '::1', port: 6443 }]);
  assert.deepEqual(desiredSubsets(g).map((x) => [x.addresses!.map((a) => a.ip), x.ports![0]!.port]), [[['127.0.0.1'], 6443], [['127.0.0.1'], 7000], [['::1'], 6443]]);
  const s = desiredSlices(g);
  assert.deepEqual([...s.keys()], ['kubernetes', 'kubernetes-7000', 'kubernetes-ipv6']);
  assert.equal(s.get('kubernetes-ipv6')!.addressType, 'IPv6');
  for (const slice of s.values()) assert.deepEqual(slice.metadata!.labels, { 'kubernetes.io/service-name': 'kubernetes' });
});
