// The Job controller's sync against in-memory informers and a client whose writes reach
// the "server" but not the caches until the test says so: informer lag, made explicit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Job } from 'kubernetes-types/batch/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { EventHandlers, KubeObject } from '../../client/types.js';
import type { ResourceInfo } from '../../api/resources.js';
import { logger } from '../../util/log.js';
import { defaultOptions, type ControllerContext } from '../base.js';
import { startJobController } from './controller.js';
import { JOB_TRACKING_FINALIZER } from './logic.js';

class FakeInformer<T extends KubeObject> {
  readonly objs = new Map<string, T>();
  readonly handlers: EventHandlers<T>[] = [];
  readonly store = {
    get: (k: string) => this.objs.get(k),
    list: () => [...this.objs.values()],
    keys: () => [...this.objs.keys()],
    byIndex: (_i: string, ns: string) => [...this.objs.values()].filter((o) => o.metadata?.namespace === ns),
  };
  addEventHandler(h: EventHandlers<T>) { this.handlers.push(h); return { remove: () => undefined }; }
  addIndexer(): void { /* byIndex filters by namespace */ }
  hasSynced() { return true; }
  lastSyncResourceVersion() { return '1'; }
  /** The informer catches up with `o`. */
  set(o: T): void {
    const key = `${o.metadata!.namespace}/${o.metadata!.name}`;
    const old = this.objs.get(key);
    this.objs.set(key, o);
    for (const h of this.handlers) { if (old) h.onUpdate?.(old, o); else h.onAdd?.(o); }
  }
}

const testJob = (uid: string, spec: Partial<NonNullable<Job['spec']>> = {}): Job => ({
  metadata: { name: 'j', namespace: 'n', uid, resourceVersion: '5' },
  spec: { completions: 1, parallelism: 1, backoffLimit: 6, selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } },
    template: { metadata: { labels: { 'batch.kubernetes.io/controller-uid': uid } }, spec: { restartPolicy: 'Never', containers: [{ name: 'c' }] } }, ...spec },
  status: {},
});

function fakeEnv(eventBeforeResponse = false) {
  const jobs = new FakeInformer<Job>(), pods = new FakeInformer<Pod>();
  const server = { job: undefined as Job | undefined, created: [] as Pod[], patched: [] as string[] };
  let rv = 10;
  const ctx = {
    informers: { informer: (info: ResourceInfo) => (info.resource === 'jobs' ? jobs : pods), start() {}, async waitForSync() {}, stop() {} },
    client: {
      resource: (info: ResourceInfo) => (info.resource === 'jobs'
        ? {
            async updateStatus(j: Job) {
              assert.equal(j.metadata?.resourceVersion, server.job?.metadata?.resourceVersion, 'status written over the current version');
              server.job = { ...structuredClone(j), metadata: { ...j.metadata, resourceVersion: String(++rv) } };
              // The watch event may reach the informer before the write's response reaches the writer.
              if (eventBeforeResponse) jobs.set(structuredClone(server.job));
              return structuredClone(server.job);
            },
            async get() { return structuredClone(server.job); },
          }
        : {
            async create(p: Pod) { const c = { ...p, metadata: { ...p.metadata, name: `new-${server.created.length}`, uid: `n${server.created.length}` } }; server.created.push(c); return c; },
            async patch(name: string) { server.patched.push(name); return {}; },
            async delete() { return {}; },
          }),
    },
    recorder: () => ({ event() {} }),
    newQueue: () => ({ add() {}, addAfter() {}, addRateLimited() {}, forget() {}, numRequeues: () => 0, get: async () => undefined, done() {}, len: () => 0, shutDown() {} }),
    options: defaultOptions,
    log: logger('test'),
    signal: new AbortController().signal,
  } as unknown as ControllerContext;
  return { ctx, jobs, pods, server };
}

test('a sync on a job cache older than its own last status write creates no pods (counted pods would look missing)', async () => {
  const { ctx, jobs, pods, server } = fakeEnv();
  const c = startJobController(ctx);
  const uid = 'job-uid';
  const job: Job = {
    metadata: { name: 'j', namespace: 'n', uid, resourceVersion: '5' },
    spec: { completions: 1, parallelism: 1, backoffLimit: 6, selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } },
      template: { metadata: { labels: { 'batch.kubernetes.io/controller-uid': uid } }, spec: { restartPolicy: 'Never', containers: [{ name: 'c' }] } } },
    status: { startTime: '2024-01-01T00:00:00Z', active: 1, ready: 0, terminating: 0, uncountedTerminatedPods: {} },
  };
  server.job = structuredClone(job);
  jobs.set(structuredClone(job));
  const pod: Pod = {
    metadata: { name: 'p', namespace: 'n', uid: 'pod-uid', labels: { 'batch.kubernetes.io/controller-uid': uid }, finalizers: [JOB_TRACKING_FINALIZER],
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'j', uid, controller: true }] },
    spec: { containers: [{ name: 'c' }] },
    status: { phase: 'Succeeded' },
  };
  pods.set(structuredClone(pod));

  await c.sync('n/j');
  assert.deepEqual(server.patched, ['p'], 'the finished pod is released');
  assert.equal(server.job?.status?.succeeded, 1);
  assert.ok(server.job?.status?.conditions?.some((x) => x.type === 'Complete'));
  assert.equal(server.created.length, 0);

  // The pod cache shows the release; the job cache still has the status from before it.
  pods.set({ ...structuredClone(pod), metadata: { ...structuredClone(pod.metadata), finalizers: [] } });
  await c.sync('n/j');
  assert.equal(server.created.length, 0, 'no replacement for a pod counted in a status the cache has not shown yet');

  // Once the cache has our write, the job is complete and stays so.
  jobs.set(structuredClone(server.job!));
  await c.sync('n/j');
  assert.equal(server.created.length, 0);
});

test('a write whose watch event arrived before its response does not hold later syncs back', async () => {
  const { ctx, jobs, server } = fakeEnv(true);
  const c = startJobController(ctx);
  const job = testJob('u2', { parallelism: 2, completions: 4 });
  server.job = structuredClone(job);
  jobs.set(structuredClone(job));
  await c.sync('n/j');
  assert.equal(server.created.length, 2);
  // Someone else changes the job (a label): the cache moves past our write.
  server.job = { ...structuredClone(server.job!), metadata: { ...server.job!.metadata, labels: { x: 'y' }, resourceVersion: '99' } };
  jobs.set(structuredClone(server.job));
  // The next sync must act, not wait for our write (the informer showed it long ago).
  const r = await c.sync('n/j');
  assert.notEqual(r, 10_000, 'no wait for a write the informer has already shown');
});
