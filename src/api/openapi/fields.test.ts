import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFields, findUnknownFields, findTypeErrors, pruneUnknownFields, strictDecodingMessage, decodeErrorMessage } from './fields.js';

const pod = () => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name: 'p', labels: { a: 'b' }, annotations: { x: 'y' }, managedFields: [{ manager: 'm', fieldsV1: { 'f:spec': {} } }] },
  spec: {
    containers: [{ name: 'c', image: 'nginx', ports: [{ containerPort: 80 }], resources: { limits: { cpu: '100m', memory: 128 } }, readinessProbe: { httpGet: { port: 'http' } } }],
    nodeSelector: { 'kubernetes.io/os': 'linux' },
  },
});

test('a valid object has no unknown fields or type errors', () => {
  assert.deepEqual(checkFields('', 'v1', 'Pod', pod()), { unknown: [] });
});

test('unknown fields are reported with upstream paths, in document order', () => {
  const p = pod() as Record<string, any>;
  p.spec.containers[0].imagePullPolicyy = 'Always';
  p.spec.foo = 1;
  p.metadata.bar = {};
  assert.deepEqual(findUnknownFields('', 'v1', 'Pod', p), ['metadata.bar', 'spec.containers[0].imagePullPolicyy', 'spec.foo']);
  assert.equal(strictDecodingMessage(['spec.foo', 'spec.bar']), 'strict decoding error: unknown field "spec.foo", unknown field "spec.bar"');
});

test('type errors read as Go decoding errors', () => {
  const d = { apiVersion: 'apps/v1', kind: 'Deployment', spec: { replicas: 'three', selector: {}, template: {} } };
  assert.deepEqual(findTypeErrors('apps', 'v1', 'Deployment', d), [{ path: 'spec.replicas', message: 'json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32' }]);
  assert.equal(decodeErrorMessage('Deployment', 'v1', 'x'), 'Deployment in version "v1" cannot be handled as a Deployment: x');
  const p = pod() as Record<string, any>;
  p.spec.containers[0].ports[0].containerPort = '80';
  assert.equal(findTypeErrors('', 'v1', 'Pod', p)[0]!.message, 'json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32');
  assert.equal(findTypeErrors('', 'v1', 'Pod', { spec: { containers: {} } })[0]!.message, 'json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container');
  assert.equal(findTypeErrors('', 'v1', 'Pod', { metadata: { labels: { a: 1 } } })[0]!.message, 'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string');
  assert.equal(findTypeErrors('', 'v1', 'Pod', { spec: 'x' })[0]!.message, 'json: cannot unmarshal string into Go struct field Pod.spec of type v1.PodSpec');
  assert.equal(findTypeErrors('', 'v1', 'Pod', { spec: { activeDeadlineSeconds: 1.5 } })[0]!.message, 'json: cannot unmarshal number 1.5 into Go struct field PodSpec.spec.activeDeadlineSeconds of type int64');
  assert.match(findTypeErrors('', 'v1', 'Pod', { spec: { containers: [{ resources: { limits: { cpu: '1x' } } }] } })[0]!.message, /^quantities must match/);
  assert.equal(findTypeErrors('', 'v1', 'Service', { spec: { ports: [{ targetPort: true }] } })[0]!.message, 'json: cannot unmarshal bool into Go value of type int32');
  assert.deepEqual(findTypeErrors('', 'v1', 'Service', { spec: { ports: [{ targetPort: 'http' }, { targetPort: 8080 }] } }), []);
});

test('pruneUnknownFields drops them', () => {
  const p = pod() as Record<string, any>;
  p.spec.zzz = 1;
  assert.deepEqual(pruneUnknownFields('', 'v1', 'Pod', p), ['spec.zzz']);
  assert.equal('zzz' in p.spec, false);
});

test('kinds without a schema are not checked', () => {
  assert.deepEqual(checkFields('example.com', 'v1', 'Foo', { spec: { anything: 1 } }), { unknown: [] });
});
