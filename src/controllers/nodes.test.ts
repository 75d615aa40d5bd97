import { parseDuration } from '../cli/flags.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from 'kubernetes-types/core/v1.js';
import { evictionDelay, reconcileTaints, tolerates, TaintUnreachable, TaintNotReady } from './nodelifecycle.js';
import { CidrAllocator } from './nodeipam.js';
import { decideDependent } from './garbagecollector.js';
import { deletionConditions, namespacedResources } from './namespace.js';
import { enabledControllers } from './index.js';

const node = (ready: string | undefined, taints: Node['spec'] extends infer S ? S extends { taints?: infer T } ? T : never : never = []): Node => ({
  metadata: { name: 'n1' },
  spec: { taints },
  status: { conditions: ready ? [{ type: 'Ready', status: ready }] : [] },
});

test('taints follow the Ready condition and keep others', () => {
  const t = '2024-01-01T00:00:00Z';
  const u = reconcileTaints(node('Unknown', [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }]), t)!;
  assert.deepEqual(u.map((x) => `${x.key}:${x.effect}`), ['dedicated:NoSchedule', `${TaintUnreachable}:NoExecute`, `${TaintUnreachable}:NoSchedule`]);
  const f = reconcileTaints(node('False', u), t)!;
  assert.deepEqual(f.map((x) => `${x.key}:${x.effect}`), ['dedicated:NoSchedule', `${TaintNotReady}:NoExecute`, `${TaintNotReady}:NoSchedule`]);
  const back = reconcileTaints(node('True', f), t)!;
  assert.deepEqual(back.map((x) => x.key), ['dedicated']);
  assert.equal(reconcileTaints(node('True', back), t), undefined);
  assert.equal(reconcileTaints(node(undefined, []), t), undefined);
});

test('toleration matching and eviction delay', () => {
  const taint = { key: TaintUnreachable, effect: 'NoExecute' as const, timeAdded: '2024-01-01T00:00:00Z' };
  assert.ok(tolerates({ operator: 'Exists' }, taint));
  assert.ok(tolerates({ key: TaintUnreachable, operator: 'Exists', effect: 'NoExecute' }, taint));
  assert.ok(!tolerates({ key: TaintUnreachable, operator: 'Exists', effect: 'NoSchedule' }, taint));
  assert.ok(!tolerates({ key: 'other', operator: 'Exists' }, taint));
  assert.equal(evictionDelay([taint], []), 'now');
  assert.equal(evictionDelay([taint], [{ key: TaintUnreachable, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }]), 30);
  assert.equal(evictionDelay([taint], [{ key: TaintUnreachable, operator: 'Exists', effect: 'NoExecute' }]), 'never');
  // the API server's default 300 s toleration is replaced by the configured timeout
  assert.equal(evictionDelay([taint], [{ key: TaintUnreachable, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }], 5), 5);
  assert.equal(evictionDelay([{ key: 'x', effect: 'NoSchedule' }], []), 'never');
});

test('CIDR allocator hands out distinct /24s and reuses released ones', () => {
  const a = new CidrAllocator('10.42.0.0/16', 24);
  a.occupy('10.42.0.0/24');
  assert.equal(a.allocate(), '10.42.1.0/24');
  assert.equal(a.allocate(), '10.42.2.0/24');
  a.release('10.42.1.0/24');
  assert.equal(a.allocate(), '10.42.1.0/24');
  const small = new CidrAllocator('10.0.0.0/23', 24);
  assert.equal(small.allocate(), '10.0.0.0/24');
  assert.equal(small.allocate(), '10.0.1.0/24');
  assert.equal(small.allocate(), undefined);
});

test('garbage collector decisions', () => {
  const ref = (uid: string, block = false) => ({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: uid, uid, blockOwnerDeletion: block });
  assert.deepEqual(decideDependent([{ ref: ref('a'), state: 'solid' }], false), { action: 'none' });
  assert.deepEqual(decideDependent([{ ref: ref('a'), state: 'dangling' }], false), { action: 'delete' });
  assert.deepEqual(decideDependent([{ ref: ref('a'), state: 'solid' }, { ref: ref('b'), state: 'dangling' }], false), { action: 'patch', remove: ['b'], unblock: [] });
  assert.deepEqual(decideDependent([{ ref: ref('a', true), state: 'waiting' }], true), { action: 'delete', policy: 'Foreground' });
  assert.deepEqual(decideDependent([{ ref: ref('a', true), state: 'waiting' }], false), { action: 'delete' });
  assert.deepEqual(decideDependent([], false), { action: 'none' });
});

test('namespace deletion conditions and resource list', () => {
  const c = deletionConditions(new Map([['pods.', 2]]), new Map(), []);
  const rem = c.find((x) => x.type === 'NamespaceContentRemaining')!;
  assert.equal(rem.status, 'True');
  assert.equal(rem.message, 'Some resources are remaining: pods. has 2 resource instances');
  assert.equal(deletionConditions(new Map(), new Map(), []).find((x) => x.type === 'NamespaceContentRemaining')!.status, 'False');
  const rs = namespacedResources();
  assert.ok(rs.some((r) => r.resource === 'pods'));
  assert.equal(rs.filter((r) => r.resource === 'events').length, 1);
});

test('controller selection and durations', () => {
  assert.ok(enabledControllers(['*']).includes('garbagecollector'));
  assert.ok(!enabledControllers(['*', '-garbagecollector']).includes('garbagecollector'));
  assert.deepEqual(enabledControllers(['deployment', 'replicaset']), ['replicaset', 'deployment']);
  assert.equal(parseDuration('40s'), 40_000);
  assert.equal(parseDuration('5m0s'), 300_000);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('2'), 2000);
  assert.throws(() => parseDuration('x'));
});

test('node IPAM: CIDRs of nodes already seen (before the workers start, or later) are never handed out again', async () => {
  const { SharedInformer } = await import('../client/informer.js');
  const { createWorkQueue } = await import('../client/workqueue.js');
  const { R } = await import('../api/resources.js');
  const { defaultOptions } = await import('./base.js');
  const { logger } = await import('../util/log.js');
  const { startNodeIpamController } = await import('./nodeipam.js');
  const patches: { name: string; cidr: string }[] = [];
  const client = {
    resource: () => ({
      patch: async (name: string, _t: string, body: { spec: { podCIDR: string } }) => {
        patches.push({ name, cidr: body.spec.podCIDR });
        // The update comes back through the watch, as from the API server.
        inf.handleEvent({ type: 'MODIFIED', object: { metadata: { name, resourceVersion: String(100 + patches.length) }, spec: { podCIDR: body.spec.podCIDR, podCIDRs: [body.spec.podCIDR] } } });
        return {};
      },
    }),
    request: () => { throw new Error('unused'); }, close() {},
  } as unknown as ConstructorParameters<typeof SharedInformer>[0];
  const inf = new SharedInformer<Node>(client, R.nodes, {});
  const abort = new AbortController();
  const ctx = {
    client, options: { ...defaultOptions, clusterCidr: '10.42.0.0/16', nodeCidrMaskSize: 24 }, log: logger('test'), signal: abort.signal,
    informers: { informer: () => inf, start() {}, async waitForSync() {}, stop() {} },
    recorder: () => ({ event() {} }),
    newQueue: (name: string) => createWorkQueue<string>({ name }),
  } as unknown as Parameters<typeof startNodeIpamController>[0];
  const n = (name: string, rv: string, cidr?: string): Node => ({ metadata: { name, resourceVersion: rv }, spec: cidr ? { podCIDR: cidr, podCIDRs: [cidr] } : {} });
  const c = startNodeIpamController(ctx);
  inf.handleEvent({ type: 'ADDED', object: n('old-a', '1', '10.42.0.0/24') });
  inf.handleEvent({ type: 'ADDED', object: n('new-b', '2') });
  inf.handleEvent({ type: 'ADDED', object: n('old-c', '3', '10.42.2.0/24') });
  const running = c.run(4);
  const deadline = Date.now() + 5000;
  while (patches.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  // A node seen after the workers started, with a CIDR the allocator would pick next.
  inf.handleEvent({ type: 'ADDED', object: n('old-d', '4', '10.42.3.0/24') });
  inf.handleEvent({ type: 'ADDED', object: n('new-e', '5') });
  inf.handleEvent({ type: 'ADDED', object: n('new-f', '6') });
  while (patches.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  abort.abort();
  await running;
  assert.deepEqual(patches.map((p) => p.name).sort(), ['new-b', 'new-e', 'new-f']);
  const cidrs = patches.map((p) => p.cidr);
  assert.equal(new Set(cidrs).size, 3);
  for (const used of ['10.42.0.0/24', '10.42.2.0/24', '10.42.3.0/24']) assert.ok(!cidrs.includes(used), `${used} handed out again: ${cidrs.join(' ')}`);
});
