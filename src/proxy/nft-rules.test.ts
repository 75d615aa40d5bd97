import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { endpointsMap, servicePorts, type EndpointInfo } from './model.js';
import { buildNftRules, isServiceObjectName, nftAffinitySet, nftEndpointChain, nftExternalChain, nftLocalChain, nftServiceChain, nftTableName } from './nft-rules.js';
import { nftTransaction, STALE_CHAIN_DELAY_MS } from './nftables.js';

const cfg = { clusterCIDR: '10.42.0.0/16' };

function svc(name: string, spec: Service['spec'], ns = 'default'): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec };
}
function slice(svcName: string, ports: { name?: string; port: number; protocol?: string }[], eps: { ip: string; ready?: boolean; node?: string }[], ns = 'default'): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { name: `${svcName}-abc`, namespace: ns, labels: { 'kubernetes.io/service-name': svcName } },
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
    endpoints: eps.map((e) => ({ addresses: [e.ip], nodeName: e.node, conditions: { ready: e.ready ?? true } })),
  };
}
function build(services: Service[], slices: EndpointSlice[], node = 'n1') {
  const ports = services.flatMap(servicePorts);
  return { ports, rs: buildNftRules(ports, endpointsMap(slices, node), cfg) };
}
const ep = (ip: string, port: number): EndpointInfo => ({ ip, port, local: false, ready: true, serving: true, terminating: false });
const IDENT = /^[A-Za-z_.][A-Za-z0-9/\\_.-]*$/;

test('table and object names: per-prefix table, legal nft identifiers, readable service names', () => {
  assert.equal(nftTableName(), 'JOTASU-proxy');
  assert.equal(nftTableName('JT1A2B3'), 'JT1A2B3-proxy');
  assert.throws(() => nftTableName('a-b'), /invalid chain prefix/);
  const [sp] = servicePorts(svc('web', { clusterIP: '10.43.0.20', sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80 }] }));
  const names = [nftServiceChain(sp!), nftLocalChain(sp!), nftExternalChain(sp!), nftEndpointChain(sp!, ep('10.42.0.2', 8080)), nftAffinitySet(sp!, ep('10.42.0.2', 8080))];
  for (const n of names) {
    assert.match(n, IDENT);
    assert.ok(isServiceObjectName(n));
  }
  assert.match(names[0]!, /^service-[A-Z2-7]{8}-default\/web\/tcp\/http$/);
  assert.match(names[3]!, /^endpoint-[A-Z2-7]{8}-default\/web\/tcp\/http__10\.42\.0\.2\/8080$/);
  assert.match(names[4]!, /^affinity-10800-/);
  // Longest legal names still fit nftables' 256 bytes.
  const long = 'x'.repeat(63);
  const [lp] = servicePorts(svc(long, { clusterIP: '10.43.0.21', ports: [{ name: long.slice(0, 15), port: 80 }] }, long));
  assert.ok(nftEndpointChain(lp!, ep('10.42.0.2', 8080)).length <= 256);
});

test('ClusterIP: service-ips dispatch, masquerade from off-cluster, numgen over every ready endpoint', () => {
  const { ports, rs } = build(
    [svc('web', { clusterIP: '10.43.0.20', ports: [{ port: 80, targetPort: 8080 }] })],
    [slice('web', [{ port: 8080 }], [{ ip: '10.42.0.3' }, { ip: '10.42.0.2' }, { ip: '10.42.0.4' }, { ip: '10.42.0.9', ready: false }])],
  );
  const sp = ports[0]!;
  assert.equal(rs.maps['service-ips'].get('10.43.0.20 . tcp . 80'), `goto ${nftServiceChain(sp)}`);
  const rules = rs.chains.get(nftServiceChain(sp))!;
  assert.equal(rules[0], 'ip daddr 10.43.0.20 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade');
  const eps = ['10.42.0.2', '10.42.0.3', '10.42.0.4'].map((ip) => nftEndpointChain(sp, ep(ip, 8080)));
  assert.equal(rules[1], `numgen random mod 3 vmap { 0 : goto ${eps[0]}, 1 : goto ${eps[1]}, 2 : goto ${eps[2]} }`);
  assert.deepEqual(rs.chains.get(eps[0]!), ['ip saddr 10.42.0.2 jump mark-for-masquerade', 'meta l4proto tcp dnat to 10.42.0.2:8080']);
  assert.ok(![...rs.chains.keys()].some((c) => c.includes('10.42.0.9')));
  assert.equal(rs.maps['no-endpoint-services'].size, 0);
  // No pod network known: everything to the cluster IP is masqueraded.
  const all = buildNftRules(ports, endpointsMap([slice('web', [{ port: 8080 }], [{ ip: '10.42.0.2' }])], 'n1'), { clusterCIDR: '' });
  assert.equal(all.chains.get(nftServiceChain(sp))![0], 'ip daddr 10.43.0.20 tcp dport 80 jump mark-for-masquerade');
  assert.equal(all.chains.get(nftServiceChain(sp))![1], `goto ${eps[0]}`);
});

test('no endpoints: cluster IP and NodePort rejected through the no-endpoint maps, no chains', () => {
  const { ports, rs } = build([svc('empty', { type: 'NodePort', clusterIP: '10.43.0.21', externalIPs: ['192.0.2.7'], ports: [{ port: 80, nodePort: 30080 }] })], []);
  assert.equal(rs.chains.has(nftServiceChain(ports[0]!)), false);
  assert.equal(rs.maps['no-endpoint-services'].get('10.43.0.21 . tcp . 80'), 'goto reject-chain');
  assert.equal(rs.maps['no-endpoint-nodeports'].get('tcp . 30080'), 'goto reject-chain');
  assert.equal(rs.maps['no-endpoint-external'].get('192.0.2.7 . tcp . 80'), 'goto reject-chain');
  assert.equal(rs.maps['service-ips'].size + rs.maps['service-nodeports'].size, 0);
  assert.deepEqual(rs.chains.get('reject-chain'), ['reject']);
});

test('named and multiple ports: one chain set per service port, DNAT to the slice port of the same name', () => {
  const { ports, rs } = build(
    [svc('multi', { clusterIP: '10.43.0.22', ports: [{ name: 'http', port: 80, targetPort: 'web' }, { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] })],
    [slice('multi', [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }], [{ ip: '10.42.1.5' }])],
  );
  const http = ports.find((p) => p.portName === 'http')!, dns = ports.find((p) => p.portName === 'dns')!;
  assert.notEqual(nftServiceChain(http), nftServiceChain(dns));
  assert.equal(rs.chains.get(nftEndpointChain(http, ep('10.42.1.5', 8080)))![1], 'meta l4proto tcp dnat to 10.42.1.5:8080');
  assert.equal(rs.chains.get(nftEndpointChain(dns, ep('10.42.1.5', 5353)))![1], 'meta l4proto udp dnat to 10.42.1.5:5353');
  assert.ok(rs.maps['service-ips'].has('10.43.0.22 . udp . 53'));
  assert.ok(rs.maps['service-ips'].has('10.43.0.22 . tcp . 80'));
});

test('sessionAffinity ClientIP: a timeout set per endpoint, looked up before numgen, updated on DNAT', () => {
  const { ports, rs } = build(
    [svc('sticky', { clusterIP: '10.43.0.23', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } }, ports: [{ port: 80 }] })],
    [slice('sticky', [{ port: 80 }], [{ ip: '10.42.0.5' }, { ip: '10.42.0.6' }])],
  );
  const sp = ports[0]!;
  const [a, b] = [ep('10.42.0.5', 80), ep('10.42.0.6', 80)];
  assert.deepEqual([...rs.sets], [[nftAffinitySet(sp, a), 600], [nftAffinitySet(sp, b), 600]]);
  const rules = rs.chains.get(nftServiceChain(sp))!;
  assert.equal(rules.length, 4);
  assert.equal(rules[1], `ip saddr @${nftAffinitySet(sp, a)} goto ${nftEndpointChain(sp, a)}`);
  assert.match(rules[3]!, /^numgen random mod 2 vmap/);
  assert.deepEqual(rs.chains.get(nftEndpointChain(sp, a)), ['ip saddr 10.42.0.5 jump mark-for-masquerade', `update @${nftAffinitySet(sp, a)} { ip saddr }`, 'meta l4proto tcp dnat to 10.42.0.5:80']);
});

test('NodePort and external IPs: external chain masquerades, then the cluster policy chain', () => {
  const { ports, rs } = build(
    [svc('np', { type: 'NodePort', clusterIP: '10.43.0.24', externalIPs: ['192.0.2.8'], ports: [{ port: 80, nodePort: 30001 }] })],
    [slice('np', [{ port: 80 }], [{ ip: '10.42.0.7' }])],
  );
  const sp = ports[0]!;
  assert.equal(rs.maps['service-nodeports'].get('tcp . 30001'), `goto ${nftExternalChain(sp)}`);
  assert.equal(rs.maps['service-ips'].get('192.0.2.8 . tcp . 80'), `goto ${nftExternalChain(sp)}`);
  assert.deepEqual(rs.chains.get(nftExternalChain(sp)), ['jump mark-for-masquerade', `goto ${nftServiceChain(sp)}`]);
  assert.match(rs.chains.get('services')![1]!, /^fib daddr type local ip daddr != 127\.0\.0\.0\/8 meta l4proto \. th dport vmap @service-nodeports$/);
});

test('externalTrafficPolicy Local: outside clients to local endpoints unmasqueraded; none local -> drop', () => {
  const services = [svc('loc', { type: 'NodePort', externalTrafficPolicy: 'Local', clusterIP: '10.43.0.25', ports: [{ port: 80, nodePort: 30002 }] })];
  let { ports, rs } = build(services, [slice('loc', [{ port: 80 }], [{ ip: '10.42.0.8', node: 'n1' }, { ip: '10.42.1.8', node: 'n2' }])]);
  const sp = ports[0]!;
  assert.deepEqual(rs.chains.get(nftExternalChain(sp)), [
    `ip saddr 10.42.0.0/16 goto ${nftServiceChain(sp)}`,
    'fib saddr type local jump mark-for-masquerade',
    `fib saddr type local goto ${nftServiceChain(sp)}`,
    `goto ${nftLocalChain(sp)}`,
  ]);
  assert.deepEqual(rs.chains.get(nftLocalChain(sp)), [`goto ${nftEndpointChain(sp, ep('10.42.0.8', 80))}`]);
  ({ ports, rs } = build(services, [slice('loc', [{ port: 80 }], [{ ip: '10.42.1.8', node: 'n2' }])]));
  assert.equal(rs.maps['no-endpoint-nodeports'].get('tcp . 30002'), 'drop');
  assert.equal(rs.chains.get(nftExternalChain(sp))!.at(-1), `fib saddr type local goto ${nftServiceChain(sp)}`);
  assert.ok(rs.maps['service-ips'].has('10.43.0.25 . tcp . 80'), 'the cluster IP still works');
});

test('internalTrafficPolicy Local: cluster IP leads to the local chain (which masquerades off-cluster); none local -> drop', () => {
  const services = [svc('itp', { internalTrafficPolicy: 'Local', clusterIP: '10.43.0.26', ports: [{ port: 80 }] })];
  let { ports, rs } = build(services, [slice('itp', [{ port: 80 }], [{ ip: '10.42.0.9', node: 'n1' }, { ip: '10.42.1.9', node: 'n2' }])]);
  assert.equal(rs.maps['service-ips'].get('10.43.0.26 . tcp . 80'), `goto ${nftLocalChain(ports[0]!)}`);
  assert.match(rs.chains.get(nftLocalChain(ports[0]!))![0]!, /^ip daddr 10\.43\.0\.26 tcp dport 80 ip saddr != 10\.42\.0\.0\/16 jump mark-for-masquerade$/);
  ({ ports, rs } = build(services, [slice('itp', [{ port: 80 }], [{ ip: '10.42.1.9', node: 'n2' }])]));
  assert.equal(rs.maps['no-endpoint-services'].get('10.43.0.26 . tcp . 80'), 'drop');
});

test('nftTransaction: a full write declares the table, hooks, maps and everything; identical state writes nothing', () => {
  const { rs } = build([svc('a', { clusterIP: '10.43.0.30', sessionAffinity: 'ClientIP', ports: [{ port: 80 }] })], [slice('a', [{ port: 80 }], [{ ip: '10.42.0.2' }])]);
  const full = nftTransaction('T-proxy', undefined, rs, new Map(), 0);
  const lines = full.text.split('\n');
  assert.equal(lines[0], 'add table ip T-proxy { comment "jotasu service proxy"; }');
  assert.ok(lines.includes('add chain ip T-proxy nat-prerouting { type nat hook prerouting priority -100; }'));
  assert.ok(lines.includes('add chain ip T-proxy filter-output { type filter hook output priority -110; }'));
  assert.ok(lines.includes('add map ip T-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }'));
  assert.ok(lines.includes('flush map ip T-proxy service-ips'));
  // Sets before the rules that use them, chains before the rules and elements that jump to them.
  const idx = (re: RegExp) => lines.findIndex((l) => re.test(l));
  assert.ok(idx(/^add set .*affinity-/) < idx(/^add rule .* update @affinity-/));
  assert.ok(idx(/^add chain ip T-proxy service-/) < idx(/^add element ip T-proxy service-ips/));
  assert.ok(idx(/^add chain ip T-proxy endpoints-check$/) < idx(/^add rule ip T-proxy filter-output ct state new jump endpoints-check$/));
  assert.equal(nftTransaction('T-proxy', full.written, rs, full.stale, 1).text, '');
});

test('nftTransaction: an endpoint change rewrites one service chain and adds one endpoint chain; the old one is flushed, deleted later', () => {
  const services = [svc('a', { clusterIP: '10.43.0.30', ports: [{ port: 80 }] }), svc('b', { clusterIP: '10.43.0.31', ports: [{ port: 80 }] })];
  const one = build(services, [slice('a', [{ port: 80 }], [{ ip: '10.42.0.2' }]), slice('b', [{ port: 80 }], [{ ip: '10.42.0.3' }])]);
  const t0 = 1_000_000;
  const first = nftTransaction('T-proxy', undefined, one.rs, new Map(), t0);
  const two = build(services, [slice('a', [{ port: 80 }], [{ ip: '10.42.0.5' }]), slice('b', [{ port: 80 }], [{ ip: '10.42.0.3' }])]);
  const sp = two.ports.find((p) => p.service === 'a')!;
  const oldEp = nftEndpointChain(sp, ep('10.42.0.2', 80)), newEp = nftEndpointChain(sp, ep('10.42.0.5', 80));
  const second = nftTransaction('T-proxy', first.written, two.rs, first.stale, t0 + 10);
  assert.deepEqual(second.text.trim().split('\n'), [
    `add chain ip T-proxy ${newEp}`,
    `add chain ip T-proxy ${nftServiceChain(sp)}`,
    `flush chain ip T-proxy ${nftServiceChain(sp)}`,
    `add rule ip T-proxy ${newEp} ip saddr 10.42.0.5 jump mark-for-masquerade`,
    `add rule ip T-proxy ${newEp} meta l4proto tcp dnat to 10.42.0.5:80`,
    `add rule ip T-proxy ${nftServiceChain(sp)} ip daddr 10.43.0.30 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade`,
    `add rule ip T-proxy ${nftServiceChain(sp)} goto ${newEp}`,
    `flush chain ip T-proxy ${oldEp}`,
  ]);
  assert.deepEqual([...second.stale.keys()], [oldEp]);
  // Before the delay: nothing to do. After it: the chain is deleted.
  assert.equal(nftTransaction('T-proxy', second.written, two.rs, second.stale, t0 + 10 + STALE_CHAIN_DELAY_MS - 1).text, '');
  const third = nftTransaction('T-proxy', second.written, two.rs, second.stale, t0 + 10 + STALE_CHAIN_DELAY_MS);
  assert.equal(third.text, `delete chain ip T-proxy ${oldEp}\n`);
  assert.equal(third.stale.size, 0);
  assert.equal(third.written.chains.has(oldEp), false);
  // A stale chain wanted again before its deletion is rewritten and no longer stale.
  const back = nftTransaction('T-proxy', second.written, one.rs, second.stale, t0 + 20);
  assert.match(back.text, new RegExp(`^flush chain ip T-proxy ${oldEp.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'));
  assert.equal(back.stale.has(oldEp), false);
  assert.ok(back.stale.has(newEp));
});

test('nftTransaction: map elements are replaced by delete + add; unused affinity sets deleted after the flushes', () => {
  const s = (affinity: boolean) => [svc('a', { clusterIP: '10.43.0.30', ...(affinity ? { sessionAffinity: 'ClientIP' as const } : {}), ports: [{ port: 80 }] })];
  const with0 = build(s(true), [slice('a', [{ port: 80 }], [{ ip: '10.42.0.2' }])]);
  const first = nftTransaction('T-proxy', undefined, with0.rs, new Map(), 0);
  const none = build(s(true), []);
  const second = nftTransaction('T-proxy', first.written, none.rs, first.stale, 1);
  const lines = second.text.trim().split('\n');
  assert.ok(lines.includes('delete element ip T-proxy service-ips { 10.43.0.30 . tcp . 80 }'));
  assert.ok(lines.includes('add element ip T-proxy no-endpoint-services { 10.43.0.30 . tcp . 80 : goto reject-chain }'));
  const delSet = lines.findIndex((l) => l.startsWith('delete set ip T-proxy affinity-'));
  assert.ok(delSet > lines.findLastIndex((l) => l.startsWith('flush chain')), second.text);
  // Switching affinity off: new (plain) endpoint chain contents, the set goes.
  const plain = build(s(false), [slice('a', [{ port: 80 }], [{ ip: '10.42.0.2' }])]);
  const third = nftTransaction('T-proxy', first.written, plain.rs, first.stale, 1);
  assert.match(third.text, /^delete set ip T-proxy affinity-10800-/m);
  assert.doesNotMatch(third.text, /add set/);
});

test('nftTransaction over an unknown kernel state: leftover per-service chains and sets are removed, fixed ones kept', () => {
  const { rs } = build([svc('a', { clusterIP: '10.43.0.30', ports: [{ port: 80 }] })], [slice('a', [{ port: 80 }], [{ ip: '10.42.0.2' }])]);
  const existing = { chains: ['services', 'service-XXXXXXXX-default/old/tcp/', 'nat-output'], sets: ['service-ips', 'affinity-10800-XXXXXXXX-default/old/tcp/__10.42.0.9/80'] };
  const tx = nftTransaction('T-proxy', undefined, rs, new Map(), 0, existing);
  const lines = tx.text.trim().split('\n');
  assert.ok(lines.includes('flush chain ip T-proxy service-XXXXXXXX-default/old/tcp/'));
  assert.ok(lines.includes('delete set ip T-proxy affinity-10800-XXXXXXXX-default/old/tcp/__10.42.0.9/80'));
  assert.ok(!lines.some((l) => /^delete (set|map) ip T-proxy service-ips/.test(l)));
  assert.ok(tx.stale.has('service-XXXXXXXX-default/old/tcp/'));
  // Only chains that exist are flushed before being written.
  assert.ok(lines.includes('flush chain ip T-proxy services'));
  assert.ok(!lines.some((l) => /^flush chain ip T-proxy (service-[A-Z2-7]{8}-default\/a|endpoints-check)/.test(l)), tx.text);
});

test('1,000 services x 10 endpoints: every chain and element computed (time: npm run bench:network)', () => {
  const services: Service[] = [], slices: EndpointSlice[] = [];
  for (let i = 0; i < 1000; i++) {
    services.push(svc(`s${i}`, { clusterIP: `10.43.${i >> 8}.${i & 255}`, ports: [{ port: 80 }] }));
    slices.push(slice(`s${i}`, [{ port: 8080 }], Array.from({ length: 10 }, (_, j) => ({ ip: `10.42.${i >> 4}.${(i & 15) * 10 + j + 1}` }))));
  }
  const { rs } = build(services, slices);
  const tx = nftTransaction('T-proxy', undefined, rs, new Map(), 0);
  assert.equal(rs.chains.size, 6 + 1000 + 10_000);
  assert.equal(rs.maps['service-ips'].size, 1000);
  assert.ok(tx.text.length > 1_000_000);
});
