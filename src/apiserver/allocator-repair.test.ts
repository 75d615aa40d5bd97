import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatastore } from '../datastore/sqlite.js';
import { Allocators } from './allocators.js';
import { AllocatorRepair } from './allocator-repair.js';

const SVC = '/registry/services/specs/';

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'jotasu-repair-'));
  const ds = await openSqliteDatastore(dir);
  const alloc = new Allocators(ds, '10.43.0.0/16');
  let now = 1_000_000;
  const repair = new AllocatorRepair(ds, alloc, { servicesPrefix: SVC, graceMs: 60_000, passesBeforeRelease: 3, now: () => now });
  const svc = (name: string, ip: string, nodePort?: number) => ds.create(`${SVC}default/${name}`, JSON.stringify({
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' },
    spec: { clusterIP: ip, clusterIPs: [ip], ports: [{ port: 80, ...(nodePort ? { nodePort } : {}) }] },
  }));
  return { ds, alloc, repair, svc, tick: (ms: number) => { now += ms; }, done: async () => { await ds.close(); rmSync(dir, { recursive: true, force: true }); } };
}

test('a key no Service uses is released after the grace period and enough passes; used keys stay', async () => {
  const t = await setup();
  try {
    await t.alloc.allocateIP('default/a', '10.43.1.1');
    await t.svc('a', '10.43.1.1', 30080);
    await t.alloc.allocatePort('default/a', 'spec.ports[0].nodePort', 30080);
    // Left by a crash between allocation and the Service write:
    await t.alloc.allocateIP('default/crashed', '10.43.2.2');
    await t.alloc.allocatePort('default/crashed', 'spec.ports[0].nodePort', 31000);
    assert.deepEqual((await t.repair.runOnce()).released, []);
    t.tick(30_000);
    assert.deepEqual((await t.repair.runOnce()).released, []);
    t.tick(30_000);
    // Third pass, 60 s after first seen unused: released.
    assert.deepEqual((await t.repair.runOnce()).released.sort(), [t.alloc.ipKey('10.43.2.2'), t.alloc.portKey(31000)].sort());
    assert.equal(await t.ds.get(t.alloc.ipKey('10.43.2.2')), undefined);
    assert.ok(await t.ds.get(t.alloc.ipKey('10.43.1.1')));
    assert.ok(await t.ds.get(t.alloc.portKey(30080)));
    // The released address can be allocated again.
    assert.equal(await t.alloc.allocateIP('default/b', '10.43.2.2'), '10.43.2.2');
  } finally { await t.done(); }
});

test('an allocation whose Service appears within the grace period is kept', async () => {
  const t = await setup();
  try {
    await t.alloc.allocateIP('default/slow', '10.43.3.3');
    await t.repair.runOnce();
    t.tick(120_000);
    await t.repair.runOnce();
    // The in-flight create lands before the pass that would have released it.
    await t.svc('slow', '10.43.3.3');
    t.tick(120_000);
    assert.deepEqual((await t.repair.runOnce()).released, []);
    assert.ok(await t.ds.get(t.alloc.ipKey('10.43.3.3')));
  } finally { await t.done(); }
});

test('a key claimed again between passes is not released; a Service without its key gets one', async () => {
  const t = await setup();
  try {
    await t.alloc.allocateIP('default/x', '10.43.4.4');
    await t.repair.runOnce();
    t.tick(60_000);
    await t.repair.runOnce();
    // Released by the owner and claimed by a new create (new modRevision).
    await t.alloc.release(t.alloc.ipKey('10.43.4.4'));
    await t.alloc.allocateIP('default/y', '10.43.4.4');
    t.tick(60_000);
    assert.deepEqual((await t.repair.runOnce()).released, []);
    await t.svc('restored', '10.43.5.5', 32000);
    const r = await t.repair.runOnce();
    assert.deepEqual(r.claimed.sort(), [t.alloc.ipKey('10.43.5.5'), t.alloc.portKey(32000)].sort());
    await assert.rejects(t.alloc.allocateIP('default/z', '10.43.5.5'), /already allocated/);
  } finally { await t.done(); }
});
