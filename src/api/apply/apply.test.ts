import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch, updateManagedFields, applyConflictError, LAST_APPLIED_ANNOTATION } from './apply.js';
import { FieldSet, pathString } from './fieldpath.js';
import { deploymentSchema as schema, podSchema, resolve } from '../patch/test-schema.js';

const T0 = '2025-01-01T00:00:00Z', T1 = '2025-01-01T00:01:00Z', T2 = '2025-01-01T00:02:00Z';
const opts = (now: string, force = false) => ({ force, schema, resolve, now });

const deploy = (over: { replicas?: number; labels?: Record<string, string>; containers?: unknown[] } = {}) => ({
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default', labels: over.labels ?? { app: 'web' } },
  spec: {
    replicas: over.replicas ?? 2,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: over.containers ?? [{ name: 'web', image: 'nginx:1.25', ports: [{ containerPort: 80 }] }] },
    },
  },
});
// What the server adds when it stores the object.
const stored = (o: any) => ({ ...o, metadata: { ...o.metadata, uid: 'u1', resourceVersion: '1', generation: 1, creationTimestamp: T0 }, status: {} });
const mf = (o: any) => o.metadata.managedFields as any[];

test('apply on create records FieldsV1 like upstream', () => {
  const r = applyPatch(undefined, deploy(), 'kubectl', opts(T0));
  assert.equal(r.conflicts, undefined);
  assert.equal(r.changed, true);
  const e = mf(r.object);
  assert.equal(e.length, 1);
  assert.deepEqual({ ...e[0], fieldsV1: undefined }, { manager: 'kubectl', operation: 'Apply', apiVersion: 'apps/v1', time: T0, fieldsType: 'FieldsV1', fieldsV1: undefined });
  assert.deepEqual(e[0].fieldsV1, {
    'f:metadata': { 'f:labels': { 'f:app': {} } },
    'f:spec': {
      'f:replicas': {}, 'f:selector': {},
      'f:template': {
        'f:metadata': { 'f:labels': { 'f:app': {} } },
        'f:spec': { 'f:containers': { 'k:{"name":"web"}': {
          '.': {}, 'f:image': {}, 'f:name': {},
          'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
        } } },
      },
    },
  });
  assert.deepEqual((r.object as any).spec.replicas, 2);
  assert.ok(!('status' in r.object), 'no scaffolding left on create');
});

test('applying the same config twice is a no-op', () => {
  const first = stored(applyPatch(undefined, deploy(), 'kubectl', opts(T0)).object);
  const second = applyPatch(first, deploy(), 'kubectl', opts(T1));
  assert.equal(second.changed, false);
  assert.deepEqual(second.object, first);
  assert.equal(mf(second.object)[0].time, T0);
});

test('fields dropped from the config are removed; changed fields update', () => {
  const live = stored(applyPatch(undefined, deploy({ labels: { app: 'web', tier: 'front' }, containers: [
    { name: 'web', image: 'nginx:1.25' }, { name: 'side', image: 'busybox' }] }), 'kubectl', opts(T0)).object);
  const r = applyPatch(live, deploy({ containers: [{ name: 'web', image: 'nginx:1.26' }] }), 'kubectl', opts(T1));
  const o = r.object as any;
  assert.deepEqual(o.metadata.labels, { app: 'web' });
  assert.deepEqual(o.spec.template.spec.containers, [{ name: 'web', image: 'nginx:1.26' }]);
  assert.equal(o.metadata.uid, 'u1');
  assert.deepEqual(o.status, {});
  assert.equal(mf(o)[0].time, T1);
  assert.ok(!('k:{"name":"side"}' in mf(o)[0].fieldsV1['f:spec']['f:template']['f:spec']['f:containers']));
});

test('a field another applier still applies is kept', () => {
  let live = stored(applyPatch(undefined, deploy({ labels: { app: 'web', shared: 'x' } }), 'a', opts(T0)).object);
  live = applyPatch(live, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', labels: { shared: 'x' } } }, 'b', opts(T1)).object as any;
  const r = applyPatch(live, deploy(), 'a', opts(T2));
  assert.deepEqual((r.object as any).metadata.labels, { app: 'web', shared: 'x' });
});

test('conflicts with an Update manager, force takes ownership, same value shares', () => {
  const created = stored(applyPatch(undefined, deploy(), 'kubectl', opts(T0)).object);
  const scaled = updateManagedFields(created, { ...created, spec: { ...created.spec, replicas: 5 } }, 'kubectl-edit', 'Update', undefined, T1, { schema, resolve });
  const edit = mf(scaled).find((e) => e.manager === 'kubectl-edit');
  assert.deepEqual(edit.fieldsV1, { 'f:spec': { 'f:replicas': {} } });
  assert.ok(!('f:replicas' in mf(scaled).find((e) => e.manager === 'kubectl').fieldsV1['f:spec']), 'the applier lost replicas');

  const r = applyPatch(scaled, deploy({ replicas: 3 }), 'kubectl', opts(T2));
  assert.deepEqual(r.conflicts, [{ manager: 'kubectl-edit', operation: 'Update', apiVersion: 'apps/v1', field: '.spec.replicas' }]);
  assert.equal((r.object as any).spec.replicas, 5);
  const err = applyConflictError(r.conflicts!);
  assert.equal(err.code, 409);
  assert.equal(err.reason, 'Conflict');
  assert.equal(err.message, 'Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas');
  assert.deepEqual(err.status.details?.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "kubectl-edit" using apps/v1', field: '.spec.replicas' }]);

  const forced = applyPatch(scaled, deploy({ replicas: 3 }), 'kubectl', opts(T2, true));
  assert.equal((forced.object as any).spec.replicas, 3);
  assert.deepEqual(mf(forced.object).map((e) => e.manager), ['kubectl']);

  const same = applyPatch(scaled, deploy({ replicas: 5 }), 'kubectl', opts(T2));
  assert.equal(same.conflicts, undefined);
  assert.deepEqual(mf(same.object).map((e) => e.manager).sort(), ['kubectl', 'kubectl-edit']);
});

test('multiple conflicts message', () => {
  const err = applyConflictError([
    { manager: 'b', operation: 'Apply', field: '.spec.replicas' },
    { manager: 'a', operation: 'Update', apiVersion: 'v1', field: '.metadata.labels.x' },
    { manager: 'a', operation: 'Update', apiVersion: 'v1', field: '.metadata.labels.y' },
  ]);
  assert.equal(err.message, 'Apply failed with 3 conflicts: conflicts with "a" using v1:\n- .metadata.labels.x\n- .metadata.labels.y\nconflicts with "b":\n- .spec.replicas');
});

test('kubectl apply (client-side) then --server-side', () => {
  const manifest = deploy();
  const la = JSON.stringify(manifest) + '\n';
  const created = stored(updateManagedFields(undefined, { ...manifest, metadata: { ...manifest.metadata, annotations: { [LAST_APPLIED_ANNOTATION]: la } } }, 'kubectl-client-side-apply', 'Update', undefined, T0, { schema, resolve }));
  const csa = mf(created)[0];
  assert.equal(csa.manager, 'kubectl-client-side-apply');
  assert.equal(csa.operation, 'Update');
  assert.deepEqual(csa.fieldsV1['f:metadata']['f:labels'], { '.': {}, 'f:app': {} });
  assert.ok(!('.' in csa.fieldsV1['f:spec']), 'spec exists in the zero object, so it is not added');

  // Same manifest: no conflicts, both own the fields.
  const same = applyPatch(created, manifest, 'kubectl', opts(T1));
  assert.equal(same.conflicts, undefined);
  assert.deepEqual(mf(same.object).map((e) => e.manager), ['kubectl', 'kubectl-client-side-apply']);

  // Changed replicas: allowed for "kubectl" because live still matches last-applied.
  const changed = applyPatch(created, deploy({ replicas: 4 }), 'kubectl', opts(T1));
  assert.equal(changed.conflicts, undefined);
  const o = changed.object as any;
  assert.equal(o.spec.replicas, 4);
  assert.equal(JSON.parse(o.metadata.annotations[LAST_APPLIED_ANNOTATION]).spec.replicas, 4);

  // Any other manager conflicts.
  const other = applyPatch(created, deploy({ replicas: 4 }), 'other', opts(T1));
  assert.equal(applyConflictError(other.conflicts!).message, 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas');
});

test('updateManagedFields: ownership moves with the change, entries merge per manager', () => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { run: 'p' } }, spec: { containers: [{ name: 'c', image: 'a' }] } };
  const o1 = updateManagedFields(undefined, pod, 'kubectl-run', 'Update', undefined, T0, { schema: podSchema, resolve }) as any;
  assert.deepEqual(mf(o1)[0].fieldsV1, {
    'f:metadata': { 'f:labels': { '.': {}, 'f:run': {} } },
    'f:spec': { 'f:containers': { 'k:{"name":"c"}': { '.': {}, 'f:image': {}, 'f:name': {} } } },
  });
  const o2 = updateManagedFields(o1, { ...o1, spec: { containers: [{ name: 'c', image: 'b' }] } }, 'kubectl-set', 'Update', undefined, T1, { schema: podSchema, resolve }) as any;
  assert.deepEqual(mf(o2).map((e) => [e.manager, e.time]), [['kubectl-run', T0], ['kubectl-set', T1]]);
  assert.deepEqual(mf(o2)[1].fieldsV1, { 'f:spec': { 'f:containers': { 'k:{"name":"c"}': { 'f:image': {} } } } });
  assert.ok(!('f:image' in mf(o2)[0].fieldsV1['f:spec']['f:containers']['k:{"name":"c"}']));
  // No change: the manager's entry and time stay as they were.
  const o3 = updateManagedFields(o2, o2, 'kubectl-set', 'Update', undefined, T2, { schema: podSchema, resolve }) as any;
  assert.deepEqual(mf(o3), mf(o2));
  // Status subresource writes are their own entry.
  const o4 = updateManagedFields(o3, { ...o3, status: { phase: 'Running' } }, 'kubelet', 'Update', 'status', T2, { schema: podSchema, resolve }) as any;
  assert.deepEqual(mf(o4).at(-1), { manager: 'kubelet', operation: 'Update', apiVersion: 'v1', time: T2, fieldsType: 'FieldsV1', fieldsV1: { 'f:status': { 'f:phase': {} } }, subresource: 'status' });
  // An explicit empty list resets tracking.
  const o5 = updateManagedFields(o4, { ...o4, metadata: { ...o4.metadata, managedFields: [] } }, 'x', 'Update', undefined, T2) as any;
  assert.equal(o5.metadata.managedFields, undefined);
});

test('list ordering when merging applied lists into live ones', () => {
  const live = stored(applyPatch(undefined, deploy({ containers: [{ name: 'a', image: '1' }, { name: 'b', image: '1' }] }), 'x', opts(T0)).object);
  // Another manager's container stays after the live item before it (SMD's merge order).
  const withC = updateManagedFields(live, { ...live, spec: { ...live.spec, template: { ...live.spec.template, spec: { containers: [...live.spec.template.spec.containers, { name: 'c', image: '1' }] } } } }, 'y', 'Update', undefined, T1, { schema, resolve }) as any;
  const r = applyPatch(withC, deploy({ containers: [{ name: 'b', image: '2' }, { name: 'a', image: '2' }, { name: 'd', image: '2' }] }), 'x', opts(T2));
  assert.deepEqual((r.object as any).spec.template.spec.containers.map((c: any) => c.name), ['b', 'c', 'a', 'd']);
});

test('bad apply bodies', () => {
  assert.throws(() => applyPatch(undefined, { ...deploy(), metadata: { name: 'x', managedFields: [] } }, 'k', opts(T0)), /metadata.managedFields must be nil/);
  assert.throws(() => applyPatch(undefined, deploy({ containers: [{ name: 'a' }, { name: 'a' }] }), 'k', opts(T0)), (e: any) => e.code === 400 && /duplicate entries for key \[name="a"\]/.test(e.message));
});

test('FieldsV1 round trip and path strings', () => {
  const j = { 'f:metadata': { 'f:labels': { '.': {}, 'f:a': {} } }, 'f:spec': { 'f:ports': { 'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:port': {} } }, 'f:finalizers': { 'v:"x"': {} } } };
  const s = FieldSet.fromJSON(j);
  assert.deepEqual(s.toJSON(), j);
  assert.deepEqual(s.paths().map(pathString), ['.metadata.labels', '.metadata.labels.a', '.spec.finalizers[="x"]', '.spec.ports[port=80,protocol="TCP"]', '.spec.ports[port=80,protocol="TCP"].port']);
});

test('an update sharing unchanged parts with the stored object records the same managedFields as a full copy', async () => {
  const { applyMergePatch } = await import('../patch/merge-patch.js');
  const created = updateManagedFields(undefined, stored(deploy()), 'creator', 'Update', undefined, T0, { schema, resolve });
  const patch = { metadata: { labels: { tier: 'web' } }, spec: { replicas: 5 }, status: { replicas: 2 } };
  const shared = applyMergePatch(created, patch);
  assert.equal((shared as any).spec.template, (created as any).spec.template, 'the merge patch shares what it does not change');
  assert.equal((created as any).spec.replicas, 2, 'and leaves its input alone');
  const copied = structuredClone(shared);
  const a = updateManagedFields(created, shared, 'patcher', 'Update', undefined, T1, { schema, resolve });
  const b = updateManagedFields(created, copied, 'patcher', 'Update', undefined, T1, { schema, resolve });
  assert.deepEqual(mf(a), mf(b));
  const patcher = mf(a).find((e) => e.manager === 'patcher');
  assert.deepEqual(patcher.fieldsV1, { 'f:metadata': { 'f:labels': { 'f:tier': {} } }, 'f:spec': { 'f:replicas': {} }, 'f:status': { 'f:replicas': {} } });
});
