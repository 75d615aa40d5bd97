import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { endpointsMap, servicePorts } from './model.js';
import { buildRules, chainHash, chainNames, extChain, sepChain, svcChain, svlChain, SERVICES, NODEPORTS, EXTERNAL_SERVICES } from './rules.js';
import { restoreInput, parseOwnChains, splitArgs } from './iptables.js';

const cfg = { clusterCIDR: '10.42.0.0/16' };

function svc(name: string, spec: Service['spec'], ns = 'default'): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec };
}
function slice(svcName: string, ports: { name?: string; port: number; protocol?: string }[], eps: { ip: string; ready?: boolean; node?: string; serving?: boolean; terminating?: boolean }[], ns = 'default'): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { name: `${svcName}-abc`, namespace: ns, labels: { 'kubernetes.io/service-name': svcName } },
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
    endpoints: eps.map((e) => ({ addresses: [e.ip], nodeName: e.node, conditions: { ready: e.ready ?? true, serving: e.serving, terminating: e.terminating } })),
  };
}
function build(services: Service[], slices: EndpointSlice[], node = 'n1') {
  const ports = services.flatMap(servicePorts);
  return { ports, rs: buildRules(ports, endpointsMap(slices, node), cfg) };
}

test('chain hashes: 16 base32 chars, stable, names fit iptables 28-char limit', () => {
  const h = chainHash('default/web:http' + 'TCP');
  assert.match(h, /^[A-Z2-7]{16}$/);
  assert.equal(h, chainHash('default/web:httpTCP'));
  assert.ok(`JOTASU-SEP-${h}`.length <= 28);
});

test('chain prefix: every chain and jump of an instance carries its prefix, names fit 28 chars', () => {
  const ports = servicePorts(svc('web', { type: 'NodePort', clusterIP: '10.43.0.20', externalIPs: ['192.0.2.9'], externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30001 }] }));
  const eps = endpointsMap([slice('web', [{ port: 8080 }], [{ ip: '10.42.0.2', node: 'n1' }])], 'n1');
  for (const prefix of ['JT1A2B3', 'ABCDEFGHIJ']) {
    const rs = buildRules(ports, eps, { ...cfg, chainPrefix: prefix });
    const chains = [...rs.nat.keys(), ...rs.filter.keys()];
    assert.ok(chains.every((c) => c.startsWith(`${prefix}-`) && c.length <= 28), chains.join(' '));
    // Every jump target is one of ours or a built-in target: nothing reaches into JOTASU-*.
    const targets = [...rs.nat.values(), ...rs.filter.values()].flat().map((r) => /-j (\S+)/.exec(r)![1]!);
    assert.ok(targets.every((t) => t.startsWith(`${prefix}-`) || /^[A-Z]+$/.test(t)), targets.join(' '));
    assert.ok(chainNames(prefix).jumps.every(([, , r]) => new RegExp(`-j ${prefix}-\\S+$`).test(r)));
  }
  assert.notEqual(chainNames('JT1').svc(ports[0]!), svcChain(ports[0]!));
  assert.throws(() => chainNames('JT-1'), /invalid iptables chain prefix/);
  assert.throws(() => chainNames('ABCDEFGHIJK'), /invalid iptables chain prefix/);
  // Another instance's chains are not ours, even when its prefix extends ours.
  const save = '*nat\n:JOTASU-SERVICES - [0:0]\n:JOTASU2-SERVICES - [0:0]\n:JT1-SVC-X - [0:0]\nCOMMIT\n';
  assert.deepEqual(parseOwnChains(save).get('nat'), ['JOTASU-SERVICES']);
  assert.deepEqual(parseOwnChains(save, 'JT1').get('nat'), ['JT1-SVC-X']);
});

test('ClusterIP: equal-probability DNAT to every ready endpoint, masquerade from off-cluster', () => {
  const { ports, rs } = build(
    [svc('web', { clusterIP: '10.43.0.20', ports: [{ port: 80, targetPort: 8080 }] })],
    [slice('web', [{ port: 8080 }], [{ ip: '10.42.0.3' }, { ip: '10.42.0.2' }, { ip: '10.42.0.4' }, { ip: '10.42.0.9', ready: false }])],
  );
  const sp = ports[0]!;
  const svcRules = rs.nat.get(svcChain(sp))!;
  assert.match(svcRules[0]!, /! -s 10\.42\.0\.0\/16 -d 10\.43\.0\.20\/32 -p tcp -m tcp --dport 80 -j JOTASU-MARK-MASQ/);
  assert.equal(svcRules.length, 4);
  assert.match(svcRules[1]!, /10\.42\.0\.2:8080.*--probability 0\.3333333333 -j JOTASU-SEP-/);
  assert.match(svcRules[2]!, /10\.42\.0\.3:8080.*--probability 0\.5000000000 -j JOTASU-SEP-/);
  assert.doesNotMatch(svcRules[3]!, /statistic/);
  const sep = rs.nat.get(sepChain(sp, { ip: '10.42.0.2', port: 8080, local: false, ready: true, serving: true, terminating: false }))!;
  assert.match(sep[0]!, /-s 10\.42\.0\.2\/32 -j JOTASU-MARK-MASQ/); // hairpin
  assert.match(sep[1]!, /-j DNAT --to-destination 10\.42\.0\.2:8080$/);
  assert.ok(rs.nat.get(SERVICES)!.some((r) => r.includes('-d 10.43.0.20/32 -p tcp -m tcp --dport 80 -j ' + svcChain(sp))));
  assert.ok(![...rs.nat.keys()].some((c) => c.includes('10.42.0.9')));
  assert.equal(rs.filter.get('JOTASU-SERVICES')!.length, 0);
  // The NodePorts jump is last, not for loopback unless asked for (with the martian filter then).
  assert.match(rs.nat.get(SERVICES)!.at(-1)!, /--dst-type LOCAL ! -d 127\.0\.0\.0\/8 -j JOTASU-NODEPORTS$/);
  const lo = buildRules(ports, endpointsMap([], 'n1'), { ...cfg, localhostNodePorts: true });
  assert.match(lo.nat.get(SERVICES)!.at(-1)!, /--dst-type LOCAL -j JOTASU-NODEPORTS$/);
  assert.match(lo.filter.get(EXTERNAL_SERVICES)![0]!, /! -s 127\.0\.0\.0\/8 -d 127\.0\.0\.0\/8 -m conntrack ! --ctstate DNAT -j DROP$/);
});

test('no endpoints: REJECT in filter, no nat chain; NodePort rejected too', () => {
  const { ports, rs } = build([svc('empty', { type: 'NodePort', clusterIP: '10.43.0.21', ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }] })], []);
  assert.equal(rs.nat.has(svcChain(ports[0]!)), false);
  assert.match(rs.filter.get('JOTASU-SERVICES')![0]!, /-d 10\.43\.0\.21\/32 -p tcp -m tcp --dport 80 -j REJECT/);
  assert.match(rs.filter.get(EXTERNAL_SERVICES)![0]!, /--dst-type LOCAL -p tcp -m tcp --dport 30080 -j REJECT/);
  assert.equal(rs.nat.get(NODEPORTS)!.length, 0);
});

test('named ports and multiple ports: each service port matches the slice port of the same name', () => {
  const { ports, rs } = build(
    [svc('multi', { clusterIP: '10.43.0.22', ports: [{ name: 'http', port: 80, targetPort: 'web' }, { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] })],
    [slice('multi', [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }], [{ ip: '10.42.1.5' }])],
  );
  const http = ports.find((p) => p.portName === 'http')!, dns = ports.find((p) => p.portName === 'dns')!;
  assert.notEqual(svcChain(http), svcChain(dns));
  const ep = (port: number) => ({ ip: '10.42.1.5', port, local: false, ready: true, serving: true, terminating: false });
  assert.match(rs.nat.get(sepChain(http, ep(8080)))![1]!, /-p tcp -m tcp -j DNAT --to-destination 10\.42\.1\.5:8080/);
  assert.match(rs.nat.get(sepChain(dns, ep(5353)))![1]!, /-p udp -m udp -j DNAT --to-destination 10\.42\.1\.5:5353/);
  assert.ok(rs.nat.get(SERVICES)!.some((r) => r.includes('-p udp -m udp --dport 53')));
});

test('sessionAffinity ClientIP: recent --rcheck before the random rules, --set in the endpoint chain', () => {
  const { ports, rs } = build(
    [svc('sticky', { clusterIP: '10.43.0.23', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } }, ports: [{ port: 80 }] })],
    [slice('sticky', [{ port: 80 }], [{ ip: '10.42.0.5' }, { ip: '10.42.0.6' }])],
  );
  const rules = rs.nat.get(svcChain(ports[0]!))!;
  assert.equal(rules.length, 5);
  assert.match(rules[1]!, /-m recent --name (JOTASU-SEP-\S+) --mask 255\.255\.255\.255 --rsource --rcheck --seconds 600 --reap -j \1/);
  const sepName = /-j (JOTASU-SEP-\S+)$/.exec(rules[1]!)![1]!;
  assert.match(rs.nat.get(sepName)![1]!, /-m recent --name JOTASU-SEP-\S+ --mask 255\.255\.255\.255 --rsource --set -m tcp -j DNAT/);
});

test('NodePort: NODEPORTS -> EXT (masquerade) -> SVC', () => {
  const { ports, rs } = build(
    [svc('np', { type: 'NodePort', clusterIP: '10.43.0.24', ports: [{ port: 80, nodePort: 30001 }] })],
    [slice('np', [{ port: 80 }], [{ ip: '10.42.0.7' }])],
  );
  const sp = ports[0]!;
  assert.match(rs.nat.get(NODEPORTS)![0]!, new RegExp(`--dport 30001 -j ${extChain(sp)}$`));
  assert.deepEqual(rs.nat.get(extChain(sp))!.map((r) => /-j (\S+)$/.exec(r)![1]), ['JOTASU-MARK-MASQ', svcChain(sp)]);
});

test('externalTrafficPolicy Local: outside clients go to local endpoints only, without masquerade; none local -> DROP', () => {
  const services = [svc('loc', { type: 'NodePort', externalTrafficPolicy: 'Local', clusterIP: '10.43.0.25', ports: [{ port: 80, nodePort: 30002 }] })];
  let { ports, rs } = build(services, [slice('loc', [{ port: 80 }], [{ ip: '10.42.0.8', node: 'n1' }, { ip: '10.42.1.8', node: 'n2' }])]);
  const sp = ports[0]!;
  const ext = rs.nat.get(extChain(sp))!;
  assert.match(ext.at(-1)!, new RegExp(`^-j ${svlChain(sp)}$`));
  assert.match(ext[0]!, /-s 10\.42\.0\.0\/16 -j JOTASU-SVC-/);
  assert.equal(rs.nat.get(svlChain(sp))!.length, 1);
  assert.match(rs.nat.get(svlChain(sp))![0]!, /10\.42\.0\.8/);
  // Only a remote endpoint: the NodePort drops outside traffic, the cluster IP still works.
  ({ ports, rs } = build(services, [slice('loc', [{ port: 80 }], [{ ip: '10.42.1.8', node: 'n2' }])]));
  assert.match(rs.filter.get(EXTERNAL_SERVICES)![0]!, /--dport 30002 -j DROP/);
  assert.ok(rs.nat.get(SERVICES)!.some((r) => r.includes('-d 10.43.0.25/32')));
});

test('internalTrafficPolicy Local: cluster IP leads to the SVL chain; no local endpoint -> DROP', () => {
  const services = [svc('itp', { internalTrafficPolicy: 'Local', clusterIP: '10.43.0.26', ports: [{ port: 80 }] })];
  let { ports, rs } = build(services, [slice('itp', [{ port: 80 }], [{ ip: '10.42.0.9', node: 'n1' }, { ip: '10.42.1.9', node: 'n2' }])]);
  assert.ok(rs.nat.get(SERVICES)!.some((r) => r.endsWith(svlChain(ports[0]!))));
  ({ ports, rs } = build(services, [slice('itp', [{ port: 80 }], [{ ip: '10.42.1.9', node: 'n2' }])]));
  assert.match(rs.filter.get('JOTASU-SERVICES')![0]!, /-d 10\.43\.0\.26\/32 .* -j DROP/);
});

test('headless and ExternalName services get no rules; terminating-serving endpoints are a fallback', () => {
  const { rs } = build([
    svc('headless', { clusterIP: 'None', ports: [{ port: 80 }] }),
    svc('ext', { type: 'ExternalName', externalName: 'example.org' }),
  ], [slice('headless', [{ port: 80 }], [{ ip: '10.42.0.10' }])]);
  assert.equal([...rs.nat.keys()].filter((c) => c.startsWith('JOTASU-SVC-')).length, 0);
  const t = build([svc('term', { clusterIP: '10.43.0.27', ports: [{ port: 80 }] })],
    [slice('term', [{ port: 80 }], [{ ip: '10.42.0.11', ready: false, serving: true, terminating: true }])]);
  assert.ok(t.rs.nat.has(svcChain(t.ports[0]!)));
});

test('restoreInput: first write declares everything; an endpoint change rewrites only what changed', () => {
  const services = [svc('a', { clusterIP: '10.43.0.30', ports: [{ port: 80 }] }), svc('b', { clusterIP: '10.43.0.31', ports: [{ port: 80 }] })];
  const one = build(services, [slice('a', [{ port: 80 }], [{ ip: '10.42.0.2' }]), slice('b', [{ port: 80 }], [{ ip: '10.42.0.3' }])]);
  const first = restoreInput(undefined, one.rs);
  assert.match(first.text, /^\*nat\n/);
  assert.match(first.text, /COMMIT\n\*filter\n[\s\S]*COMMIT\n$/);
  const two = build(services, [slice('a', [{ port: 80 }], [{ ip: '10.42.0.5' }]), slice('b', [{ port: 80 }], [{ ip: '10.42.0.3' }])]);
  const second = restoreInput(first.written, two.rs);
  const declared = second.text.split('\n').filter((l) => l.startsWith(':'));
  // a's SVC chain, its new SEP chain and the deleted old SEP chain; nothing of b.
  assert.equal(declared.length, 3);
  assert.equal(second.text.split('\n').filter((l) => l.startsWith('-X ')).length, 1);
  assert.doesNotMatch(second.text, /10\.42\.0\.3/);
  assert.equal(restoreInput(second.written, two.rs).text, '');
});

test('parseOwnChains and splitArgs', () => {
  const save = '*nat\n:PREROUTING ACCEPT [0:0]\n:JOTASU-SERVICES - [0:0]\n:KUBE-X - [0:0]\nCOMMIT\n*filter\n:JOTASU-FORWARD - [0:0]\nCOMMIT\n';
  assert.deepEqual([...parseOwnChains(save)], [['nat', ['JOTASU-SERVICES']], ['filter', ['JOTASU-FORWARD']]]);
  assert.deepEqual(splitArgs('-m comment --comment "a b" -j X'), ['-m', 'comment', '--comment', 'a b', '-j', 'X']);
});

test('1,000 services x 10 endpoints: every rule computed (time: npm run bench:network)', () => {
  const services: Service[] = [], slices: EndpointSlice[] = [];
  for (let i = 0; i < 1000; i++) {
    services.push(svc(`s${i}`, { clusterIP: `10.43.${i >> 8}.${i & 255}`, ports: [{ port: 80 }] }));
    slices.push(slice(`s${i}`, [{ port: 8080 }], Array.from({ length: 10 }, (_, j) => ({ ip: `10.42.${i >> 4}.${(i & 15) * 10 + j + 1}` }))));
  }
  const { rs } = build(services, slices);
  const text = restoreInput(undefined, rs).text;
  assert.ok(text.length > 1_000_000);
  // Per service: the SVC chain and one SEP chain per endpoint.
  assert.equal([...rs.nat.keys()].filter((c) => c.startsWith('JOTASU-SEP-')).length, 10_000);
  assert.equal([...rs.nat.keys()].filter((c) => c.startsWith('JOTASU-SVC-')).length, 1000);
});
