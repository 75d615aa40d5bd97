import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigMap, Pod } from 'kubernetes-types/core/v1.js';
import { R } from '../api/resources.js';
import { startFakeApiServer } from '../../test/client/fake-apiserver.js';
import { createClient } from './rest.js';
import { createInformerFactory, scopedInformerFactory, SharedInformer } from './informer.js';
import { IndexedStore } from './store.js';
import { Indexes, type KubeObject } from './types.js';

const cm = (name: string, rv: string, extra: Partial<ConfigMap['metadata']> = {}, ns = 'default'): ConfigMap =>
  ({ metadata: { name, namespace: ns, resourceVersion: rv, uid: `u-${name}`, ...extra } });

test('store.replace computes adds, updates, deletes and delete+add for a recreated object', () => {
  const s = new IndexedStore<ConfigMap>();
  s.addIndexer('ns', (o) => [o.metadata!.namespace!]);
  s.set(cm('same', '1'));
  s.set(cm('changed', '1'));
  s.set(cm('gone', '1'));
  s.set(cm('recreated', '1'));
  const deltas = s.replace([cm('same', '1'), cm('changed', '2'), cm('new', '3'), cm('recreated', '4', { uid: 'other' })]);
  const summary = deltas.map((d) => `${d.type}:${d.obj.metadata!.name}:${d.obj.metadata!.resourceVersion}`);
  assert.deepEqual([...summary].sort(), ['add:new:3', 'add:recreated:4', 'delete:gone:1', 'delete:recreated:1', 'update:changed:2'].sort());
  const recreated = summary.filter((x) => x.includes('recreated'));
  assert.deepEqual(recreated, ['delete:recreated:1', 'add:recreated:4'], 'old one goes first');
  assert.deepEqual(s.keys().sort(), ['default/changed', 'default/new', 'default/recreated', 'default/same']);
  assert.equal(s.byIndex('ns', 'default').length, 4);
  assert.equal(s.get('default/recreated')!.metadata!.uid, 'other');
});

test('store.set: an update keeping its index values returns the new object; changed multi-values move', () => {
  const s = new IndexedStore<ConfigMap>();
  s.addIndexer('ns', (o) => [o.metadata!.namespace!]);
  s.addIndexer('tags', (o) => (o.metadata!.labels?.tags ?? '').split(',').filter(Boolean));
  s.set(cm('x', '1', { labels: { tags: 'a,b' } }));
  s.set(cm('x', '2', { labels: { tags: 'a,b' } }));
  assert.deepEqual(s.byIndex('ns', 'default').map((o) => o.metadata!.resourceVersion), ['2']);
  assert.deepEqual(s.byIndex('tags', 'b').map((o) => o.metadata!.resourceVersion), ['2']);
  s.set(cm('x', '3', { labels: { tags: 'b,c' } }));
  assert.equal(s.byIndex('tags', 'a').length, 0);
  assert.deepEqual(s.indexKeys('tags', 'b'), ['default/x']);
  assert.deepEqual(s.indexKeys('tags', 'c'), ['default/x']);
  s.delete('default/x');
  assert.equal(s.byIndex('tags', 'b').length + s.byIndex('tags', 'c').length + s.byIndex('ns', 'default').length, 0);
});

test('standard indexes: namespace, owner (controller refs only), nodeName for pods; custom indexers', () => {
  const fakeClient = { resource: () => { throw new Error('unused'); }, request: () => { throw new Error('unused'); }, close() {} };
  const inf = new SharedInformer<Pod>(fakeClient, R.pods, {});
  const pod = (name: string, node: string | undefined, owner?: string): Pod => ({
    metadata: { name, namespace: 'ns', resourceVersion: '1', uid: name, ownerReferences: owner ? [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: owner, controller: true }, { apiVersion: 'v1', kind: 'X', name: 'x', uid: 'not-controller' }] : [] },
    spec: { nodeName: node, containers: [] },
  });
  inf.handleEvent({ type: 'ADDED', object: pod('a', 'n1', 'rs1') });
  inf.handleEvent({ type: 'ADDED', object: pod('b', undefined, 'rs1') });
  inf.handleEvent({ type: 'ADDED', object: pod('c', 'n1') });
  inf.addIndexer('phase', (p) => [p.status?.phase ?? 'none']);
  assert.deepEqual(inf.store.byIndex(Indexes.nodeName, 'n1').map((p) => p.metadata!.name).sort(), ['a', 'c']);
  assert.deepEqual(inf.store.byIndex(Indexes.nodeName, '').map((p) => p.metadata!.name), ['b']);
  assert.deepEqual(inf.store.byIndex(Indexes.owner, 'ns/rs1').map((p) => p.metadata!.name).sort(), ['a', 'b']);
  assert.equal(inf.store.byIndex(Indexes.owner, 'ns/not-controller').length, 0);
  assert.equal(inf.store.byIndex(Indexes.namespace, 'ns').length, 3);
  assert.equal(inf.store.byIndex('phase', 'none').length, 3);
  // Moving a pod updates the index.
  inf.handleEvent({ type: 'MODIFIED', object: { ...pod('b', 'n2', 'rs1'), metadata: { ...pod('b', 'n2', 'rs1').metadata, resourceVersion: '2' } } });
  assert.deepEqual(inf.store.byIndex(Indexes.nodeName, '').length, 0);
  assert.equal(inf.store.byIndex(Indexes.nodeName, 'n2').length, 1);
  // A stale event (older resourceVersion) is ignored: never stale after new.
  inf.handleEvent({ type: 'MODIFIED', object: pod('b', 'n9', 'rs1') });
  assert.equal(inf.store.get('ns/b')!.spec!.nodeName, 'n2');
  inf.handleEvent({ type: 'DELETED', object: pod('c', 'n1') });
  assert.deepEqual(inf.store.byIndex(Indexes.nodeName, 'n1').map((p) => p.metadata!.name), ['a']);
});

test('trimManagedFields: objects from lists and watch events are cached without metadata.managedFields', async () => {
  const mf = [{ manager: 'kubectl', operation: 'Update', apiVersion: 'v1', time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': {} } }];
  const listed = { ...cm('listed', '1'), metadata: { ...cm('listed', '1').metadata, managedFields: mf } };
  const fakeClient = {
    resource: () => ({
      list: async () => ({ metadata: { resourceVersion: '1' }, items: [listed] }),
      watch: () => ({ close() {}, done: new Promise<void>(() => undefined) }),
    }),
    request: () => { throw new Error('unused'); }, close() {},
  } as unknown as ConstructorParameters<typeof SharedInformer>[0];
  const inf = new SharedInformer<ConfigMap>(fakeClient, R.configmaps, {}, { trimManagedFields: true });
  const seen: ConfigMap[] = [];
  inf.addEventHandler({ onAdd: (o) => seen.push(o), onUpdate: (_o, n) => seen.push(n) });
  inf.start();
  await inf.whenSynced();
  inf.handleEvent({ type: 'MODIFIED', object: { ...cm('listed', '2'), metadata: { ...cm('listed', '2').metadata, managedFields: mf } } });
  inf.stop();
  assert.equal(seen.length, 2);
  for (const o of [...seen, inf.store.get('default/listed')!]) assert.equal(o.metadata!.managedFields, undefined);
  assert.equal(JSON.stringify(inf.store.get('default/listed')).includes('managedFields'), false);
  // Without the option they are kept.
  const plain = new SharedInformer<ConfigMap>(fakeClient, R.configmaps, {});
  plain.handleEvent({ type: 'ADDED', object: { ...cm('x', '3'), metadata: { ...cm('x', '3').metadata, managedFields: mf } } });
  assert.deepEqual(plain.store.get('default/x')!.metadata!.managedFields, mf);
});

test('stale events are recognised across digit counts: 10 is newer than 9, 9 after 10 is ignored', () => {
  const fakeClient = { resource: () => { throw new Error('unused'); }, request: () => { throw new Error('unused'); }, close() {} };
  const inf = new SharedInformer<ConfigMap>(fakeClient, R.configmaps, {});
  inf.handleEvent({ type: 'ADDED', object: cm('a', '9') });
  inf.handleEvent({ type: 'MODIFIED', object: cm('a', '10') });
  assert.equal(inf.store.get('default/a')!.metadata!.resourceVersion, '10');
  inf.handleEvent({ type: 'MODIFIED', object: cm('a', '9') });
  assert.equal(inf.store.get('default/a')!.metadata!.resourceVersion, '10');
  inf.handleEvent({ type: 'MODIFIED', object: cm('a', '100000000000000000001') });
  inf.handleEvent({ type: 'MODIFIED', object: cm('a', '99999999999999999999') });
  assert.equal(inf.store.get('default/a')!.metadata!.resourceVersion, '100000000000000000001');
});

// ---- against the wire-level fake server ----

const fake = await startFakeApiServer();
const client = createClient({ server: fake.url, qps: 0 });
after(async () => { client.close(); await fake.stop(); });

interface Log { events: string[]; clear(): void }
function record<T extends KubeObject>(inf: { addEventHandler(h: object): void }): Log {
  const events: string[] = [];
  inf.addEventHandler({
    onAdd: (o: T) => events.push(`add ${o.metadata!.name}@${o.metadata!.resourceVersion}`),
    onUpdate: (a: T, b: T) => events.push(`update ${b.metadata!.name}@${a.metadata!.resourceVersion}->${b.metadata!.resourceVersion}`),
    onDelete: (o: T) => events.push(`delete ${o.metadata!.name}`),
  });
  return { events, clear: () => { events.length = 0; } };
}

async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const put = (name: string, data: Record<string, string> = {}, ns = 'inf'): string =>
  fake.put({ metadata: { name, namespace: ns }, data }).metadata.resourceVersion!;
const lists = (): number => fake.requests.filter((r) => r.startsWith('GET /api/v1/namespaces/inf/configmaps?') && !r.includes('watch=true')).length;

test('informer: paged list, then watch; add/update/delete in order; resume after a normal end without relist', async () => {
  for (let i = 0; i < 5; i++) put(`pre${i}`);
  const factory = createInformerFactory(client, { pageSize: 2, backoff: { initialMs: 20, maxMs: 200 } });
  const inf = factory.informer<ConfigMap>(R.configmaps, { namespace: 'inf' });
  const log = record(inf);
  assert.equal(inf.hasSynced(), false);
  factory.start();
  await factory.waitForSync();
  assert.equal(inf.hasSynced(), true);
  assert.equal(inf.store.list().length, 5);
  assert.equal(log.events.length, 5);
  assert.ok(log.events.every((e) => e.startsWith('add pre')));
  assert.equal(lists(), 3, 'three pages of 2');
  assert.equal(factory.informer(R.configmaps, { namespace: 'inf' }), inf, 'shared');

  log.clear();
  await waitFor(() => fake.openWatches() === 1, 'watch');
  const rv1 = put('x', { a: '1' });
  const rv2 = put('x', { a: '2' });
  const rv3 = put('x', { a: '3' });
  fake.remove('inf', 'pre0');
  await waitFor(() => log.events.length === 4, 'events');
  assert.deepEqual(log.events, [`add x@${rv1}`, `update x@${rv1}->${rv2}`, `update x@${rv2}->${rv3}`, 'delete pre0']);
  assert.equal(inf.store.get('inf/x')!.data!.a, '3');
  assert.equal(inf.store.get('inf/x')!.kind, 'ConfigMap');

  // Bookmarks move the resourceVersion forward.
  put('other', {}, 'elsewhere');
  fake.sendBookmarks();
  await waitFor(() => inf.lastSyncResourceVersion() === String(fake.rev()), 'bookmark');

  // The server ends the watch (timeout): the informer watches again from where it was, no relist.
  log.clear();
  const listsBefore = lists();
  fake.endWatches();
  put('y');
  await waitFor(() => log.events.length === 1, 'event after rewatch');
  assert.deepEqual(log.events, [`add y@${inf.store.get('inf/y')!.metadata!.resourceVersion}`]);
  assert.equal(lists(), listsBefore, 'no relist after a normal watch end');

  // A late handler hears about everything cached.
  const late = record(inf);
  assert.equal(late.events.length, inf.store.list().length);
  factory.stop();
});

for (const mode of ['event', 'http'] as const) {
  test(`informer: 410 Gone (${mode}) relists and reports the differences, including deletes missed while away`, async () => {
    const ns = `gone-${mode}`;
    fake.put({ metadata: { name: 'keep', namespace: ns } });
    fake.put({ metadata: { name: 'change', namespace: ns }, data: { v: '1' } });
    fake.put({ metadata: { name: 'drop', namespace: ns } });
    const factory = createInformerFactory(client, { backoff: { initialMs: 20, maxMs: 200 } });
    const inf = factory.informer<ConfigMap>(R.configmaps, { namespace: ns });
    factory.start();
    await factory.waitForSync();
    const log = record(inf);
    log.clear();
    await waitFor(() => fake.openWatches() >= 1, 'watch');
    // Down: changes happen meanwhile, and the history is compacted past them.
    await fake.stop();
    fake.goneMode = mode;
    fake.put({ metadata: { name: 'change', namespace: ns }, data: { v: '2' } });
    fake.remove(ns, 'drop');
    fake.put({ metadata: { name: 'new', namespace: ns } });
    fake.compact();
    await fake.start();
    await waitFor(() => log.events.length === 3, 'relist differences');
    assert.deepEqual(log.events.map((e) => e.replace(/@.*/, '')).sort(), ['add new', 'delete drop', 'update change'].sort());
    assert.deepEqual(inf.store.keys().sort(), [`${ns}/change`, `${ns}/keep`, `${ns}/new`]);
    // And the watch continues after the relist.
    log.clear();
    fake.put({ metadata: { name: 'after', namespace: ns } });
    await waitFor(() => log.events.length === 1, 'event after relist');
    fake.goneMode = 'event';
    factory.stop();
  });
}

test('informer: server down for a while: reconnects with backoff and catches up from its resourceVersion', async () => {
  const ns = 'restart';
  fake.put({ metadata: { name: 'a', namespace: ns } });
  const factory = createInformerFactory(client, { backoff: { initialMs: 20, maxMs: 300 } });
  const inf = factory.informer<ConfigMap>(R.configmaps, { namespace: ns });
  const log = record(inf);
  factory.start();
  await factory.waitForSync();
  await waitFor(() => fake.openWatches() >= 1, 'watch');
  log.clear();
  const listCount = (): number => fake.requests.filter((r) => r.startsWith(`GET /api/v1/namespaces/${ns}/configmaps?`) && !r.includes('watch=true')).length;
  const listsBefore = listCount();
  await fake.stop();
  fake.put({ metadata: { name: 'b', namespace: ns } });
  fake.remove(ns, 'a');
  await new Promise((r) => setTimeout(r, 500)); // several failed reconnects
  const watchAttempts = fake.requests.length;
  await fake.start();
  await waitFor(() => log.events.length === 2, 'catch-up');
  assert.deepEqual(log.events.map((e) => e.replace(/@.*/, '')), ['add b', 'delete a']);
  assert.equal(listCount(), listsBefore, 'caught up by watching from the last resourceVersion, not by relisting');
  assert.ok(watchAttempts > 0);
  factory.stop();
  await waitFor(() => fake.openWatches() === 0, 'watch closed on stop');
});

test('informer: a dropped stream mid-way and a server refusing the first list', async () => {
  const ns = 'flaky';
  fake.put({ metadata: { name: 'a', namespace: ns } });
  fake.failNext(2, 500, { kind: 'Status', code: 500, reason: 'InternalError', message: 'boom' });
  const factory = createInformerFactory(client, { backoff: { initialMs: 10, maxMs: 50 } });
  const inf = factory.informer<ConfigMap>(R.configmaps, { namespace: ns });
  const log = record(inf);
  factory.start();
  await factory.waitForSync();
  assert.equal(log.events.length, 1);
  await waitFor(() => fake.openWatches() >= 1, 'watch');
  fake.chunkSize = 3;
  fake.put({ metadata: { name: 'b', namespace: ns }, data: { big: 'z'.repeat(100_000) } });
  await waitFor(() => log.events.length === 2, 'chunked event');
  fake.chunkSize = 0;
  fake.dropWatches();
  fake.put({ metadata: { name: 'c', namespace: ns } });
  await waitFor(() => log.events.length === 3, 'event after dropped stream');
  assert.equal(inf.store.get(`${ns}/b`)!.data!.big!.length, 100_000);
  factory.stop();
});

test('informer factory: waitForSync honours an abort signal; resync redelivers cached objects', async () => {
  const dead = createClient({ server: 'http://127.0.0.1:1' });
  const f = createInformerFactory(dead, { backoff: { initialMs: 10, maxMs: 20 } });
  f.informer(R.configmaps);
  f.start();
  await assert.rejects(f.waitForSync(AbortSignal.timeout(100)), /aborted/);
  f.stop();
  dead.close();

  fake.put({ metadata: { name: 'r', namespace: 'resync' } });
  const f2 = createInformerFactory(client, { resyncMs: 50 });
  const inf = f2.informer<ConfigMap>(R.configmaps, { namespace: 'resync' });
  let resyncs = 0;
  inf.addEventHandler({ onUpdate: (a, b) => { if (a === b) resyncs++; } });
  f2.start();
  await f2.waitForSync();
  await waitFor(() => resyncs >= 2, 'resyncs');
  f2.stop();
});

test('scoped view of a shared factory: one watch for all users; stop() removes only its own handlers; indexers added once', async () => {
  put('s1', {}, 'scoped');
  const shared = createInformerFactory(client, { backoff: { initialMs: 20, maxMs: 200 } });
  shared.start();
  const scopedWatches = (): number => fake.requests.filter((r) => r.startsWith('GET /api/v1/namespaces/scoped/configmaps?') && r.includes('watch=true')).length;
  const always = record(shared.informer<ConfigMap>(R.configmaps, { namespace: 'scoped' }));
  const term = (): { f: ReturnType<typeof scopedInformerFactory>; log: Log } => {
    const f = scopedInformerFactory(shared);
    const inf = f.informer<ConfigMap>(R.configmaps, { namespace: 'scoped' });
    inf.addIndexer('byData', (o) => Object.keys(o.data ?? {}));
    return { f, log: record(inf) };
  };
  const t1 = term();
  t1.f.start();
  await t1.f.waitForSync();
  await waitFor(() => scopedWatches() === 1, 'watch');
  assert.deepEqual(t1.log.events.map((e) => e.split('@')[0]), ['add s1']);
  t1.f.stop();
  put('s2', { k: 'v' }, 'scoped');
  await waitFor(() => always.events.some((e) => e.startsWith('add s2')), 'the shared informer keeps running');
  assert.equal(t1.log.events.length, 1, 'a stopped view hears nothing more');
  // A second term: the same indexer again is no error; it hears about what is cached.
  const t2 = term();
  t2.f.start();
  await t2.f.waitForSync();
  assert.deepEqual(t2.log.events.map((e) => e.split('@')[0]).sort(), ['add s1', 'add s2']);
  assert.deepEqual(t2.f.informer<ConfigMap>(R.configmaps, { namespace: 'scoped' }).store.byIndex('byData', 'k').map((o) => o.metadata!.name), ['s2']);
  assert.equal(scopedWatches(), 1, 'still one watch');
  t2.f.stop();
  shared.stop();
});
