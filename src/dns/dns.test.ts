import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { R } from '../api/resources.js';
import { Resolver, buildReverse, type Lookup } from './records.js';
import { startDnsServer } from './server.js';
import { createFakeInformers } from '../../test/network/fake-informers.js';

const svc = (name: string, spec: Service['spec'], ns = 'default'): Service => ({ metadata: { name, namespace: ns }, spec });
const slice = (name: string, eps: { ip: string; hostname?: string; ready?: boolean }[], ports = [{ name: 'http', port: 8080, protocol: 'TCP' }], ns = 'default'): EndpointSlice => ({
  addressType: 'IPv4', metadata: { name: `${name}-x`, namespace: ns, labels: { 'kubernetes.io/service-name': name } },
  ports, endpoints: eps.map((e) => ({ addresses: [e.ip], hostname: e.hostname, conditions: { ready: e.ready ?? true } })),
});

const services = [
  svc('web', { clusterIP: '10.43.0.20', ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }] }),
  svc('db', { clusterIP: 'None', ports: [{ name: 'http', port: 8080 }] }),
  svc('ext', { type: 'ExternalName', externalName: 'example.org' }),
];
const slices = [slice('db', [{ ip: '10.42.0.5', hostname: 'db-0' }, { ip: '10.42.0.6' }, { ip: '10.42.0.7', ready: false }])];
const db: Lookup = {
  service: (ns, n) => services.find((s) => s.metadata!.namespace === ns && s.metadata!.name === n),
  slices: (ns, n) => slices.filter((s) => s.metadata!.namespace === ns && s.metadata!.labels!['kubernetes.io/service-name'] === n),
  hasNamespace: (ns) => ns === 'default' || ns === 'kube-system',
  reverse: (ip) => buildReverse('cluster.local', services, (ns, n) => db.slices(ns, n)).get(ip) ?? [],
};
const r = new Resolver('cluster.local', db);
const data = (name: string, type: string) => r.resolve(name, type).answers.map((a) => a.data);

test('A for a cluster IP service; NODATA for AAAA; NXDOMAIN for unknown names', () => {
  assert.deepEqual(data('web.default.svc.cluster.local', 'A'), ['10.43.0.20']);
  assert.deepEqual(data('WEB.default.svc.cluster.local.', 'A'), ['10.43.0.20']);
  const aaaa = r.resolve('web.default.svc.cluster.local', 'AAAA');
  assert.equal(aaaa.rcode, 'NOERROR');
  assert.equal(aaaa.answers.length, 0);
  assert.equal(r.resolve('nope.default.svc.cluster.local', 'A').rcode, 'NXDOMAIN');
  assert.equal(r.resolve('web.other.svc.cluster.local', 'A').rcode, 'NXDOMAIN');
  assert.equal(r.resolve('default.svc.cluster.local', 'A').rcode, 'NOERROR');
  assert.equal(r.resolve('nons.svc.cluster.local', 'A').rcode, 'NXDOMAIN');
  assert.equal(r.resolve('svc.cluster.local', 'A').rcode, 'NOERROR');
  assert.equal(r.resolve('a.b.web.default.svc.cluster.local', 'A').rcode, 'NXDOMAIN');
  assert.equal(r.resolve('example.org', 'A').rcode, 'REFUSED');
});

test('headless: one A per ready endpoint, hostnames and dashed IPs resolve', () => {
  assert.deepEqual(data('db.default.svc.cluster.local', 'A').sort(), ['10.42.0.5', '10.42.0.6']);
  assert.deepEqual(data('db-0.db.default.svc.cluster.local', 'A'), ['10.42.0.5']);
  assert.deepEqual(data('10-42-0-6.db.default.svc.cluster.local', 'A'), ['10.42.0.6']);
  assert.equal(r.resolve('10-42-0-7.db.default.svc.cluster.local', 'A').rcode, 'NXDOMAIN');
});

test('SRV for named ports (cluster IP and headless)', () => {
  assert.deepEqual(data('_http._tcp.web.default.svc.cluster.local', 'SRV'), [{ priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' }]);
  assert.deepEqual(data('_dns._udp.web.default.svc.cluster.local', 'SRV'), [{ priority: 0, weight: 100, port: 53, target: 'web.default.svc.cluster.local' }]);
  assert.equal(r.resolve('_dns._tcp.web.default.svc.cluster.local', 'SRV').rcode, 'NXDOMAIN');
  const h = r.resolve('_http._tcp.db.default.svc.cluster.local', 'SRV');
  assert.deepEqual(h.answers.map((a) => (a.data as { target: string }).target).sort(), ['10-42-0-6.db.default.svc.cluster.local', 'db-0.db.default.svc.cluster.local']);
  assert.equal(h.additionals.length, 2);
});

test('ExternalName is a CNAME; pod records; PTR', () => {
  assert.deepEqual(data('ext.default.svc.cluster.local', 'A'), ['example.org']);
  assert.deepEqual(data('10-42-0-9.default.pod.cluster.local', 'A'), ['10.42.0.9']);
  assert.equal(r.resolve('10-42-0-999.default.pod.cluster.local', 'A').rcode, 'NXDOMAIN');
  assert.deepEqual(data('20.0.43.10.in-addr.arpa', 'PTR'), ['web.default.svc.cluster.local']);
  assert.deepEqual(data('5.0.42.10.in-addr.arpa', 'PTR'), ['db-0.db.default.svc.cluster.local']);
  assert.equal(r.resolve('99.0.43.10.in-addr.arpa', 'PTR').rcode, 'NXDOMAIN');
});

// The server over real sockets on loopback, fed by (hand-driven) informers.
const inf = createFakeInformers();
const server = await startDnsServer({ informers: inf, host: '127.0.0.1', port: 0 });
after(() => server.stop());

type Reply = Omit<dnsPacket.DecodedPacket, "answers"> & { rcode?: string; answers?: { data?: unknown }[] };
function udpQuery(name: string, type: dnsPacket.RecordType): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => { s.close(); reject(new Error('timeout')); }, 2000);
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve(dnsPacket.decode(m) as Reply); });
    s.send(dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] }), server.port, '127.0.0.1');
  });
}
function tcpQuery(name: string, type: dnsPacket.RecordType): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const c = net.connect(server.port, '127.0.0.1', () => c.write(dnsPacket.streamEncode({ type: 'query', id: 9, questions: [{ type, name }] })));
    let buf = Buffer.alloc(0);
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) { c.end(); resolve(dnsPacket.decode(buf.subarray(2)) as Reply); }
    });
    c.on('error', reject);
  });
}

test('server: a new service resolves within 1 s over UDP; TCP works; NXDOMAIN carries the SOA', async () => {
  let res = await udpQuery('fresh.default.svc.cluster.local', 'A');
  assert.equal(res.rcode, 'NXDOMAIN');
  assert.equal(res.authorities?.[0]?.type, 'SOA');
  const t0 = Date.now();
  inf.put(R.services, svc('fresh', { clusterIP: '10.43.0.99', ports: [{ port: 80 }] }));
  res = await udpQuery('fresh.default.svc.cluster.local', 'A');
  assert.ok(Date.now() - t0 < 1000);
  assert.equal(res.id, 7);
  assert.equal(res.rcode, 'NOERROR');
  assert.ok(res.flag_aa);
  assert.deepEqual(res.answers?.map((a) => a.data), ['10.43.0.99']);
  const t = await tcpQuery('fresh.default.svc.cluster.local', 'A');
  assert.deepEqual(t.answers?.map((a) => a.data), ['10.43.0.99']);
  assert.equal((await udpQuery('example.com', 'A')).rcode, 'REFUSED');
});

test('server: large headless answers are truncated over UDP, complete over TCP', async () => {
  inf.put(R.services, svc('big', { clusterIP: 'None', ports: [{ name: 'http', port: 80 }] }));
  inf.put(R.endpointslices, slice('big', Array.from({ length: 60 }, (_, i) => ({ ip: `10.42.3.${i + 1}` }))));
  const u = await udpQuery('big.default.svc.cluster.local', 'A');
  assert.ok(u.flag_tc);
  const t = await tcpQuery('big.default.svc.cluster.local', 'A');
  assert.equal(t.answers?.length, 60);
});
