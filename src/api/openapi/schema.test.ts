import { test } from 'node:test';
import assert from 'node:assert/strict';
import { schemaForKind, resolveRef, deref, openapiV2, openapiV3, openapiV3Index, openapiV3Document, groupVersionPath } from './schema.js';
import { storedResources } from '../resources.js';
import type { SchemaNode } from './types.js';

test('schemaForKind finds kinds by group/version/kind', () => {
  const pod = schemaForKind('', 'v1', 'Pod');
  assert.ok(pod?.properties?.spec);
  assert.deepEqual(pod['x-kubernetes-group-version-kind'], [{ group: '', version: 'v1', kind: 'Pod' }]);
  assert.ok(schemaForKind('apps', 'v1', 'Deployment'));
  assert.ok(schemaForKind('events.k8s.io', 'v1', 'Event'));
  assert.ok(schemaForKind('', 'v1', 'Event'));
  assert.equal(schemaForKind('apps', 'v1', 'Nope'), undefined);
  assert.ok(schemaForKind('', 'v1', 'Status'));
  assert.ok(schemaForKind('meta.k8s.io', 'v1', 'Table'));
});

test('patch metadata is carried as extensions', () => {
  const spec = deref(schemaForKind('', 'v1', 'Pod')!.properties!.spec)!;
  const containers = spec.properties!.containers!;
  assert.equal(containers['x-kubernetes-patch-strategy'], 'merge');
  assert.equal(containers['x-kubernetes-patch-merge-key'], 'name');
  assert.equal(spec.properties!.volumes!['x-kubernetes-patch-strategy'], 'merge,retainKeys');
  const c = resolveRef('io.k8s.api.core.v1.Container')!;
  assert.deepEqual(c.properties!.ports!['x-kubernetes-list-map-keys'], ['containerPort', 'protocol']);
  assert.equal(c.properties!.volumeMounts!['x-kubernetes-patch-merge-key'], 'mountPath');
  const svc = resolveRef('#/definitions/io.k8s.api.core.v1.ServiceSpec')!;
  assert.deepEqual(svc.properties!.ports!['x-kubernetes-list-map-keys'], ['port', 'protocol']);
  const meta = resolveRef('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta')!;
  assert.equal(meta.properties!.ownerReferences!['x-kubernetes-patch-merge-key'], 'uid');
  assert.equal(meta.properties!.finalizers!['x-kubernetes-patch-strategy'], 'merge');
  assert.equal(meta.properties!.generation!.format, 'int64');
  assert.equal(resolveRef('io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector')!['x-kubernetes-map-type'], 'atomic');
  assert.equal(resolveRef('io.k8s.apimachinery.pkg.apis.meta.v1.Time')!.format, 'date-time');
  assert.equal(resolveRef('io.k8s.apimachinery.pkg.util.intstr.IntOrString')!.format, 'int-or-string');
  assert.equal(resolveRef('io.k8s.apimachinery.pkg.api.resource.Quantity')!.type, 'string');
  assert.deepEqual(c.required, ['name']);
});

test('v2 document uses #/definitions refs and has kubectl paths', () => {
  const doc = openapiV2() as { swagger: string; paths: Record<string, Record<string, { 'x-kubernetes-group-version-kind'?: unknown }>>; definitions: Record<string, SchemaNode> };
  assert.equal(doc.swagger, '2.0');
  const s = JSON.stringify(doc.definitions);
  assert.ok(!s.includes('#/components/schemas/'));
  assert.ok(doc.paths['/api/v1/namespaces/{namespace}/pods/{name}']?.patch);
  assert.deepEqual(doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale']!.get!['x-kubernetes-group-version-kind'], { group: 'autoscaling', version: 'v1', kind: 'Scale' });
});

test('v3 index and documents: every PATCH operation offers fieldValidation', () => {
  const idx = openapiV3Index() as { paths: Record<string, { serverRelativeURL: string }> };
  assert.ok(idx.paths['api/v1']!.serverRelativeURL.startsWith('/openapi/v3/api/v1?hash='));
  assert.ok(idx.paths['apis/apps/v1']);
  assert.ok(idx.paths['apis/networking.k8s.io/v1']);
  const hash = idx.paths['apis/apps/v1']!.serverRelativeURL.split('hash=')[1];
  assert.equal(openapiV3Document('apis/apps/v1')!.hash, hash);
  for (const gv of Object.keys(idx.paths)) {
    const doc = openapiV3(gv) as { openapi: string; paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>; components: { schemas: Record<string, SchemaNode> } };
    assert.equal(doc.openapi, '3.0.0');
    let patches = 0;
    for (const p of Object.values(doc.paths)) {
      if (!p.patch) continue;
      patches++;
      assert.ok(p.patch.parameters!.some((x) => x.name === 'fieldValidation' && x.in === 'query'));
    }
    // Groups of create-only reviews (authentication.k8s.io, authorization.k8s.io) have nothing to patch.
    if (storedResources.some((r) => groupVersionPath(r.group, r.version) === gv)) assert.ok(patches > 0, gv);
    else assert.equal(patches, 0, gv);
    // Every ref resolves inside the document.
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/[^"]+/g) ?? [];
    for (const r of refs) assert.ok(doc.components.schemas[r.slice('#/components/schemas/'.length)], r);
  }
  assert.equal(openapiV3('apis/nope/v1'), undefined);
  const v1 = openapiV3('api/v1') as { components: { schemas: Record<string, SchemaNode> } };
  // $ref with a description becomes allOf, as upstream's v3.
  assert.deepEqual(v1.components.schemas['io.k8s.api.core.v1.Pod']!.properties!.spec!.allOf, [{ $ref: '#/components/schemas/io.k8s.api.core.v1.PodSpec' }]);
});

test('documents are cached', () => {
  assert.equal(openapiV3Document('api/v1'), openapiV3Document('/api/v1'));
});
