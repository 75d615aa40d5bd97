// The proxy against the real kernel, inside a namespace topology this test makes
// (test/network/netns.ts): real TCP/UDP through cluster IPs, NodePorts, affinity,
// traffic policies, rejects; rule sync speed; cleanup leaving nothing behind. Every
// test runs in both modes (iptables and nftables), each in its own topology.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { R } from '../../src/api/resources.js';
import type { ApiClient } from '../../src/client/types.js';
import { startProxy, type RunningProxy } from '../../src/proxy/proxier.js';
import { makeExec } from '../../src/proxy/exec.js';
import { Iptables } from '../../src/proxy/iptables.js';
import { cleanupAllModes, PROXY_MODES, type ProxyMode } from '../../src/proxy/mode.js';
import { nftAvailable } from '../../src/proxy/nftables.js';
import { createTopology, inNs, type Topology } from './netns.js';
import { createFakeInformers } from './fake-informers.js';

const root = process.getuid?.() === 0;
const hasNft = root && await nftAvailable(makeExec());

function service(name: string, spec: Service['spec']): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec };
}
function slice(svc: string, ports: { name?: string; port: number; protocol?: string }[], eps: { ip: string; node?: string; ready?: boolean }[], suffix = 'x'): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { name: `${svc}-${suffix}`, namespace: 'default', labels: { 'kubernetes.io/service-name': svc } },
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
    endpoints: eps.map((e) => ({ addresses: [e.ip], nodeName: e.node ?? 'n1', conditions: { ready: e.ready ?? true } })),
  };
}
const names = (rs: { body?: string }[]): Set<string> => new Set(rs.map((r) => r.body?.split(' ')[0] ?? '?'));

/** What a mode put in the kernel of namespace `ns`, for a prefix: its dump, and whether anything of it exists. */
function kernelView(mode: ProxyMode, ns: string) {
  return {
    /** The rules of an instance (default: the default one), as text. */
    dump: (prefix = 'JOTASU'): string => mode === 'iptables'
      ? inNs(ns, 'iptables-save', '-t', 'nat').split('\n').filter((l) => l.includes(`${prefix}-`)).join('\n')
      : inNs(ns, 'nft', 'list', 'table', 'ip', `${prefix}-proxy`),
    /** Is `ip` one of the endpoints the default instance's service port default/<svc>:<port> sends to? */
    routesTo: (svc: string, port: string, ip: string): boolean => mode === 'iptables'
      ? inNs(ns, 'iptables-save', '-t', 'nat').includes(`default/${svc}:${port} -> ${ip}:`)
      // A jump from the service's chain (a flushed endpoint chain may linger a second, unused).
      : new RegExp(`goto endpoint-\\S+-default/${svc}/tcp/${port}__${ip.replace(/\./g, '\\.')}/`).test(inNs(ns, 'nft', 'list', 'table', 'ip', 'JOTASU-proxy')),
    /** Does anything of this prefix exist (chains in either iptables table, or its nftables table)? */
    owns: (prefix: string): boolean => inNs(ns, 'iptables-save').includes(`${prefix}-`) || inNs(ns, 'nft', 'list', 'tables').split('\n').includes(`table ip ${prefix}-proxy`),
  };
}

for (const mode of PROXY_MODES) describe(`proxy (${mode} mode) in a network namespace`, { skip: !root ? 'needs root' : mode === 'nftables' && !hasNft ? 'nft not usable here' : false }, () => {
  let topo: Topology;
  let proxy: RunningProxy | undefined;
  const inf = createFakeInformers();
  const exec = () => makeExec(topo.node);
  const view = () => kernelView(mode, topo.node);

  before(async () => {
    topo = await createTopology(3);
    for (const [i, p] of topo.pods.entries()) await topo.serve(p.ns, `pod${i}`, 8080, 5353);
    const [p0, p1, p2] = topo.pods.map((p) => p.ip);
    inf.put(R.services, service('web', { type: 'NodePort', clusterIP: '10.43.0.50', ports: [{ name: 'http', port: 80, targetPort: 'web', nodePort: 30080 }] }));
    inf.put(R.endpointslices, slice('web', [{ name: 'http', port: 8080 }], [{ ip: p0! }, { ip: p1! }, { ip: p2! }]));
    inf.put(R.services, service('sticky', { clusterIP: '10.43.0.51', sessionAffinity: 'ClientIP', ports: [{ port: 80, targetPort: 8080 }] }));
    inf.put(R.endpointslices, slice('sticky', [{ port: 8080 }], [{ ip: p0! }, { ip: p1! }, { ip: p2! }]));
    inf.put(R.services, service('empty', { type: 'NodePort', clusterIP: '10.43.0.52', ports: [{ port: 80, nodePort: 30082 }] }));
    inf.put(R.services, service('local', { type: 'NodePort', externalTrafficPolicy: 'Local', clusterIP: '10.43.0.54', ports: [{ port: 80, targetPort: 8080, nodePort: 30081 }] }));
    inf.put(R.endpointslices, slice('local', [{ port: 8080 }], [{ ip: p0!, node: 'n1' }, { ip: p1!, node: 'n2' }]));
    inf.put(R.services, service('dns', { clusterIP: '10.43.0.53', ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }, { name: 'dns-tcp', port: 53, targetPort: 8080 }] }));
    inf.put(R.endpointslices, slice('dns', [{ name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'dns-tcp', port: 8080 }], [{ ip: p2! }]));
    proxy = await startProxy({ client: {} as ApiClient, informers: inf, nodeName: 'n1', clusterCIDR: '10.42.0.0/16', exec: exec(), minSyncIntervalMs: 50, mode });
  });

  after(async () => {
    try { await proxy?.stop(); } finally {
      if (topo) {
        // Belt and braces: `jotasu proxy --cleanup` semantics, then the namespaces go
        // (and with the node's namespace every table in it).
        for (const prefix of [undefined, 'JT2', 'JT3', 'JT4', 'JT5']) await cleanupAllModes(exec(), prefix).catch(() => undefined);
        topo.destroy();
      }
    }
  });

  test('the proxy runs in the mode asked for, and only this mode\'s objects exist', () => {
    assert.equal(proxy!.mode, mode);
    const iptablesChains = inNs(topo.node, 'iptables-save').includes('JOTASU-');
    const tables = inNs(topo.node, 'nft', 'list', 'tables').split('\n').filter(Boolean);
    if (mode === 'nftables') {
      assert.equal(iptablesChains, false);
      // Nothing but our table in the node's namespace: no other table was created or touched.
      assert.deepEqual(tables, ['table ip JOTASU-proxy']);
    } else {
      assert.equal(iptablesChains, true);
      assert.ok(!tables.includes('table ip JOTASU-proxy'));
    }
  });

  test('cluster IP from off-cluster client: all endpoints reached, source masqueraded', async () => {
    const rs = await topo.get(topo.client, 'http://10.43.0.50/', 40);
    assert.ok(rs.every((r) => r.ok && r.status === 200), JSON.stringify(rs.filter((r) => !r.ok)));
    assert.deepEqual([...names(rs)].sort(), ['pod0', 'pod1', 'pod2']);
    assert.ok(rs.every((r) => r.body!.endsWith(' 10.42.0.1')), 'masqueraded to the node');
  });

  test('cluster IP from the node itself (OUTPUT path)', async () => {
    const rs = await topo.get(topo.node, 'http://10.43.0.50/', 10);
    assert.ok(rs.every((r) => r.ok));
  });

  test('pod to pod through the cluster IP keeps the source; hairpin to itself works', async () => {
    const rs = await topo.get(topo.pods[1]!.ns, 'http://10.43.0.50/', 30);
    assert.ok(rs.every((r) => r.ok));
    const others = rs.filter((r) => !r.body!.startsWith('pod1 '));
    assert.ok(others.length > 0 && others.every((r) => r.body!.endsWith(` ${topo.pods[1]!.ip}`)), 'source kept for other pods');
    const self = rs.filter((r) => r.body!.startsWith('pod1 '));
    assert.ok(self.length > 0, 'hairpin reached itself');
    assert.ok(self.every((r) => r.body!.endsWith(' 10.42.0.1')), 'hairpin masqueraded');
  });

  test('NodePort on the node address, from outside and from the node itself', async () => {
    const rs = await topo.get(topo.client, `http://${topo.nodeIP}:30080/`, 20);
    assert.ok(rs.every((r) => r.ok));
    assert.ok(names(rs).size >= 2);
    const own = await topo.get(topo.node, `http://${topo.nodeIP}:30080/`, 4);
    assert.ok(own.every((r) => r.ok), JSON.stringify(own));
  });

  test('sessionAffinity ClientIP sticks to one endpoint; switched off and on again, the rules follow', async () => {
    const rs = await topo.get(topo.client, 'http://10.43.0.51/', 15);
    assert.ok(rs.every((r) => r.ok));
    assert.equal(names(rs).size, 1);
    const sticky = (on: boolean) => service('sticky', { clusterIP: '10.43.0.51', ...(on ? { sessionAffinity: 'ClientIP' as const } : {}), ports: [{ port: 80, targetPort: 8080 }] });
    inf.put(R.services, sticky(false));
    await proxy!.syncNow();
    const spread = await topo.get(topo.client, 'http://10.43.0.51/', 30);
    assert.ok(spread.every((r) => r.ok));
    assert.ok(names(spread).size >= 2, 'no affinity any more');
    inf.put(R.services, sticky(true));
    await proxy!.syncNow();
    const again = await topo.get(topo.client, 'http://10.43.0.51/', 10);
    assert.ok(again.every((r) => r.ok));
    assert.equal(names(again).size, 1);
  });

  test('service without endpoints: connection refused at once (cluster IP and NodePort, from outside and from the node)', async () => {
    for (const [ns, url] of [[topo.client, 'http://10.43.0.52/'], [topo.client, `http://${topo.nodeIP}:30082/`], [topo.node, 'http://10.43.0.52/'], [topo.node, `http://${topo.nodeIP}:30082/`]] as const) {
      const [r] = await topo.get(ns, url, 1);
      assert.equal(r!.ok, false, url);
      assert.equal(r!.error, 'ECONNREFUSED', url);
      assert.ok(r!.ms < 500, `${url} took ${r!.ms} ms`);
    }
  });

  test('externalTrafficPolicy Local: only the local endpoint, client source preserved', async () => {
    const rs = await topo.get(topo.client, `http://${topo.nodeIP}:30081/`, 12);
    assert.ok(rs.every((r) => r.ok));
    assert.deepEqual([...names(rs)], ['pod0']);
    assert.ok(rs.every((r) => r.body!.endsWith(` ${topo.clientIP}`)));
  });

  test('UDP and TCP ports of one service (named ports)', async () => {
    const u = await topo.udp(topo.pods[0]!.ns, '10.43.0.53', 53, 'hello');
    assert.equal(u.ok, true, u.error);
    assert.match(u.body!, /^pod2 10\.42\.0\.2 hello$/);
    const [t] = await topo.get(topo.pods[0]!.ns, 'http://10.43.0.53:53/', 1);
    assert.match(t!.body!, /^pod2 /);
  });

  test('endpoint removal is in the kernel within 1 s, then no request goes to it', async () => {
    const [p0, p1] = topo.pods.map((p) => p.ip);
    assert.ok(view().routesTo('web', 'http', '10.42.0.4'));
    const t0 = Date.now();
    inf.put(R.endpointslices, slice('web', [{ name: 'http', port: 8080 }], [{ ip: p0! }, { ip: p1! }]));
    let ms = -1;
    while (Date.now() - t0 < 3000) {
      if (!view().routesTo('web', 'http', '10.42.0.4')) { ms = Date.now() - t0; break; }
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(ms >= 0 && ms < 1000, `took ${ms} ms`);
    const rs = await topo.get(topo.client, 'http://10.43.0.50/', 20);
    assert.ok(rs.every((r) => r.ok));
    assert.deepEqual([...names(rs)].sort(), ['pod0', 'pod1']);
    if (mode === 'nftables') {
      // The flushed endpoint chain itself is deleted a little later, without any other change.
      const chain = /chain (endpoint-\S+web\/tcp\/http__10\.42\.0\.4\/8080)/;
      let gone = false;
      for (let i = 0; i < 50 && !gone; i++) {
        gone = !chain.test(view().dump());
        if (!gone) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(gone, 'stale endpoint chain deleted');
    }
  });

  test('1,000 services x 10 endpoints: full sync, one endpoint change', async () => {
    // Correctness at scale; the sync times are printed here and measured by `npm run bench:network`.
    try {
      for (let i = 0; i < 1000; i++) {
        const name = `bulk${i}`;
        inf.put(R.services, service(name, { clusterIP: `10.43.${10 + (i >> 8)}.${i & 255}`, ports: [{ port: 80, targetPort: 8080 }] }));
        inf.put(R.endpointslices, slice(name, [{ port: 8080 }], Array.from({ length: 10 }, (_, j) => ({ ip: `10.42.${1 + (i >> 4)}.${(i & 15) * 10 + j + 1}` }))));
      }
      const t0 = performance.now();
      await proxy!.syncNow();
      const full = performance.now() - t0;
      const t1 = performance.now();
      inf.put(R.endpointslices, slice('bulk7', [{ port: 8080 }], [{ ip: '10.42.1.250' }]));
      await proxy!.syncNow();
      const incr = performance.now() - t1;
      const changes = proxy!.stats().lastChanges;
      const dump = view().dump();
      assert.match(dump, /10\.43\.13\.231/, 'the last bulk service has its rule');
      assert.match(dump, /10\.42\.1\.250:8080/, 'the changed endpoint is in the kernel');
      assert.doesNotMatch(dump, /10\.42\.1\.71:8080/, 'the replaced endpoints of bulk7 are gone');
      let legacy = '';
      if (mode === 'iptables') {
        // The same rule set through the legacy backend (the nft backend's iptables-restore
        // is several times slower on large sets).
        const { endpointsMap, servicePorts } = await import('../../src/proxy/model.js');
        const { buildRules } = await import('../../src/proxy/rules.js');
        const rs = buildRules(inf.informer<Service>(R.services).store.list().flatMap(servicePorts),
          endpointsMap(inf.informer<EndpointSlice>(R.endpointslices).store.list(), 'n1'), { clusterCIDR: '10.42.0.0/16' });
        const ipt = new Iptables(exec(), 'legacy');
        try {
          const t2 = performance.now();
          await ipt.apply(rs);
          legacy = `, ${(performance.now() - t2).toFixed(0)} ms (legacy backend)`;
        } finally { await ipt.cleanup(); }
      }
      console.log(`# proxy sync (${mode}), 1,000 services x 10 endpoints: full ${full.toFixed(0)} ms${legacy}; one endpoint change ${incr.toFixed(0)} ms (${changes} objects written)`);
      // Still routing.
      const still = await topo.get(topo.client, 'http://10.43.0.50/', 4);
      assert.ok(still.every((r) => r.ok));
    } finally {
      for (let i = 0; i < 1000; i++) {
        inf.del(R.services, service(`bulk${i}`, {}));
        inf.del(R.endpointslices, slice(`bulk${i}`, [], []));
      }
      await proxy!.syncNow();
    }
  });

  test('a second proxy with its own chain prefix on the same host: neither disturbs the other', async () => {
    // Another cluster on this host: its own service, its own chains (JT2-*) or table (JT2-proxy).
    const inf2 = createFakeInformers();
    inf2.put(R.services, service('other', { clusterIP: '10.43.0.60', ports: [{ port: 80, targetPort: 8080 }] }));
    inf2.put(R.endpointslices, slice('other', [{ port: 8080 }], [{ ip: topo.pods[2]!.ip }]));
    const second = await startProxy({ client: {} as ApiClient, informers: inf2, nodeName: 'n1', clusterCIDR: '10.42.0.0/16', exec: exec(), minSyncIntervalMs: 50, chainPrefix: 'JT2', mode });
    let stopped = false;
    try {
      assert.ok(view().owns('JT2'));
      assert.match(view().dump(), /10\.43\.0\.50/, 'the first proxy\'s rules are still there');
      const both = [...await topo.get(topo.client, 'http://10.43.0.50/', 4), ...await topo.get(topo.client, 'http://10.43.0.60/', 4)];
      assert.ok(both.every((r) => r.ok), JSON.stringify(both));
      // Its start was a full sync; its stop removes its own objects only.
      await second.stop();
      stopped = true;
      assert.equal(view().owns('JT2'), false);
      assert.ok(view().owns('JOTASU'));
      const still = await topo.get(topo.client, 'http://10.43.0.50/', 6);
      assert.ok(still.every((r) => r.ok), JSON.stringify(still));
    } finally {
      if (!stopped) await second.stop().catch(() => undefined);
      await cleanupAllModes(exec(), 'JT2').catch(() => undefined);
    }
  });

  test('switching modes: a proxy removes what the other mode of its prefix left behind', async () => {
    const other: ProxyMode = mode === 'iptables' ? 'nftables' : 'iptables';
    if (other === 'nftables' && !hasNft) return;
    const inf3 = createFakeInformers();
    inf3.put(R.services, service('three', { clusterIP: '10.43.0.70', ports: [{ port: 80, targetPort: 8080 }] }));
    inf3.put(R.endpointslices, slice('three', [{ port: 8080 }], [{ ip: topo.pods[0]!.ip }]));
    const opts = { client: {} as ApiClient, informers: inf3, nodeName: 'n1', clusterCIDR: '10.42.0.0/16', exec: exec(), minSyncIntervalMs: 50, chainPrefix: 'JT3' };
    // A run in the other mode that did not clean up (killed).
    const before = await startProxy({ ...opts, mode: other, cleanupOnStop: false });
    await before.stop();
    const otherView = kernelView(other, topo.node);
    assert.ok(otherView.owns('JT3'));
    const now = await startProxy({ ...opts, mode });
    try {
      const ipt = inNs(topo.node, 'iptables-save').includes('JT3-');
      const table = inNs(topo.node, 'nft', 'list', 'tables').split('\n').includes('table ip JT3-proxy');
      assert.deepEqual({ ipt, table }, mode === 'iptables' ? { ipt: true, table: false } : { ipt: false, table: true });
      const rs = await topo.get(topo.client, 'http://10.43.0.70/', 4);
      assert.ok(rs.every((r) => r.ok && r.body!.startsWith('pod0 ')), JSON.stringify(rs));
    } finally {
      await now.stop();
      await cleanupAllModes(exec(), 'JT3').catch(() => undefined);
    }
    assert.equal(kernelView(mode, topo.node).owns('JT3'), false);
  });

  test('NodePorts on 127.0.0.1: with --iptables-localhost-nodeports in iptables mode only, as upstream', async () => {
    const inf5 = createFakeInformers();
    inf5.put(R.services, service('lo', { type: 'NodePort', clusterIP: '10.43.0.90', ports: [{ port: 80, targetPort: 8080, nodePort: 30090 }] }));
    inf5.put(R.endpointslices, slice('lo', [{ port: 8080 }], [{ ip: topo.pods[2]!.ip }]));
    const lo = await startProxy({ client: {} as ApiClient, informers: inf5, nodeName: 'n1', clusterCIDR: '10.42.0.0/16', exec: exec(), minSyncIntervalMs: 50, chainPrefix: 'JT5', mode, localhostNodePorts: true });
    try {
      const [viaNodeIP] = await topo.get(topo.node, `http://${topo.nodeIP}:30090/`, 1);
      assert.ok(viaNodeIP!.ok, JSON.stringify(viaNodeIP));
      const [r] = await topo.get(topo.node, 'http://127.0.0.1:30090/', 1);
      if (mode === 'iptables') {
        assert.ok(r!.ok && r!.body!.startsWith('pod2 '), JSON.stringify(r));
        assert.ok(r!.body!.endsWith(' 10.42.0.1'), 'masqueraded away from 127.0.0.1');
      } else {
        assert.equal(r!.error, 'ECONNREFUSED', JSON.stringify(r));
      }
    } finally {
      await lo.stop();
      await cleanupAllModes(exec(), 'JT5').catch(() => undefined);
    }
  });

  test('a proxy restarted after a crash adopts what it left: removed services\' rules go, the rest keeps working', async () => {
    const inf4 = createFakeInformers();
    const put = (name: string, ip: string) => {
      inf4.put(R.services, service(name, { clusterIP: ip, ports: [{ port: 80, targetPort: 8080 }] }));
      inf4.put(R.endpointslices, slice(name, [{ port: 8080 }], [{ ip: topo.pods[1]!.ip }]));
    };
    put('keep', '10.43.0.80');
    put('gone', '10.43.0.81');
    const opts = { client: {} as ApiClient, informers: inf4, nodeName: 'n1', clusterCIDR: '10.42.0.0/16', exec: exec(), minSyncIntervalMs: 50, chainPrefix: 'JT4', mode };
    const crashed = await startProxy({ ...opts, cleanupOnStop: false });
    await crashed.stop();
    assert.match(view().dump('JT4'), /10\.43\.0\.81/);
    inf4.del(R.services, service('gone', {}));
    inf4.del(R.endpointslices, slice('gone', [], []));
    const restarted = await startProxy(opts);
    try {
      assert.doesNotMatch(view().dump('JT4'), /10\.43\.0\.81/);
      const rs = await topo.get(topo.client, 'http://10.43.0.80/', 4);
      assert.ok(rs.every((r) => r.ok && r.body!.startsWith('pod1 ')), JSON.stringify(rs));
      if (mode === 'nftables') {
        // The leftover chains of the removed service are deleted once stale long enough.
        let left = true;
        for (let i = 0; i < 50 && left; i++) {
          left = /chain \S+-default\/gone\//.test(view().dump('JT4'));
          if (left) await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(left, false, view().dump('JT4'));
      }
    } finally {
      await restarted.stop();
      await cleanupAllModes(exec(), 'JT4').catch(() => undefined);
    }
  });

  test('stop removes every chain, jump rule and table it created', async () => {
    await proxy!.stop();
    proxy = undefined;
    assert.doesNotMatch(inNs(topo.node, 'iptables-save'), /JOTASU/);
    assert.doesNotMatch(inNs(topo.node, 'nft', 'list', 'tables'), /JOTASU/);
  });
});
