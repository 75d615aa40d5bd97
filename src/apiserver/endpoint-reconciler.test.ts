import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Endpoints } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { openSqliteDatastore } from '../datastore/sqlite.js';
import type { Datastore } from '../datastore/types.js';
import { serverContext } from './bootstrap.js';
import { EndpointReconciler, MASTER_LEASES_PREFIX, desiredSlices, desiredSubsets, groupServers, leaseKey, parseLeases } from './endpoint-reconciler.js';
import { Registry } from './registry.js';

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

test('a peer reconciling from a lease list taken before a server stopped does not put the stopped server back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jotasu-endpoint-reconciler-'));
  const ds = await openSqliteDatastore(dir);
  const registry = new Registry(ds, { serviceCIDR: '10.43.0.0/16' });
  await registry.start();
  const reconcilers: EndpointReconciler[] = [];
  try {
    await registry.namespaces.create('', { metadata: { name: 'default' } }, serverContext);
    const c = new EndpointReconciler(registry, { ip: '127.0.0.1', port: 7002 });
    reconcilers.push(c);
    await c.start();

    // Server A's view of the datastore holds its next lease listing until released, as a
    // slow peer whose list was taken just before C went away.
    let hold: Promise<void> | undefined;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let listedWhileHeld: (() => void) | undefined;
    const listed = new Promise<void>((r) => (listedWhileHeld = r));
    const slowDs = new Proxy(ds, {
      get(target, prop) {
        if (prop === 'range') {
          return async (...args: Parameters<Datastore['range']>) => {
            const res = await target.range(...args);
            if (hold && args[0] === MASTER_LEASES_PREFIX) {
              const h = hold;
              hold = undefined;
              listedWhileHeld?.();
              await h;
            }
            return res;
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const slowRegistry = new Proxy(registry, { get: (t, p) => (p === 'ds' ? slowDs : (Reflect.get(t, p, t) as unknown)) }) as Registry;
    const a = new EndpointReconciler(slowRegistry, { ip: '127.0.0.1', port: 7001 });
    reconcilers.push(a);
    hold = held;
    const aStarted = a.start();
    await listed; // A has listed both leases and waits
    await c.stop(); // C removes its lease and its endpoint
    release(); // A writes from its older list
    await aStarted;

    const ep = await registry.store('', 'endpoints')!.get('default', 'kubernetes');
    assert.deepEqual((ep as Endpoints).subsets!.map((s) => `${s.addresses![0]!.ip}:${s.ports![0]!.port}`), ['127.0.0.1:7001']);
    const slices = await registry.store('discovery.k8s.io', 'endpointslices')!.list('default', {});
    assert.deepEqual(slices.raws.map((r) => (JSON.parse(r) as EndpointSlice).ports![0]!.port), [7001]);
  } finally {
    for (const r of reconcilers) await r.stop().catch(() => undefined);
    registry.close();
    await ds.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
