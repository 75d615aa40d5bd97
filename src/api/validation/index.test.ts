import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateObject } from './index.js';
import { applyDefaults } from '../defaults/index.js';
import { fieldErrorText, type FieldError } from '../errors.js';

const texts = (e: FieldError[]) => e.map(fieldErrorText);
function pod(spec: object, name = 'p'): Record<string, any> {
  const p = { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec };
  applyDefaults('', 'v1', 'Pod', p);
  return p;
}

test('a good pod is valid', () => {
  assert.deepEqual(validateObject('', 'v1', 'Pod', pod({ containers: [{ name: 'a', image: 'nginx', ports: [{ containerPort: 80 }] }] })), []);
});

test('metadata errors', () => {
  const p = pod({ containers: [{ name: 'a', image: 'x' }] }, 'Bad_Name');
  assert.deepEqual(texts(validateObject('', 'v1', 'Pod', p)), [
    `metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
  ]);
  const noName = { metadata: { namespace: 'default' }, spec: { containers: [{ name: 'a', image: 'x' }] } };
  assert.deepEqual(texts(validateObject('', 'v1', 'ConfigMap', noName)), ['metadata.name: Required value: name or generateName is required']);
  assert.deepEqual(texts(validateObject('', 'v1', 'Namespace', { metadata: { name: 'a.b' } })).length, 1);
  assert.deepEqual(texts(validateObject('', 'v1', 'Namespace', { metadata: { name: 'ns', namespace: 'x' } })), ['metadata.namespace: Forbidden: not allowed on this type']);
});

test('pod spec errors', () => {
  const p = pod({
    containers: [
      { name: 'a', image: 'x', ports: [{ containerPort: 70000, protocol: 'FOO' }], volumeMounts: [{ name: 'missing', mountPath: '/m' }], resources: { requests: { cpu: '2' }, limits: { cpu: '1' } } },
      { name: 'a' },
    ],
    restartPolicy: 'Sometimes',
  });
  assert.deepEqual(texts(validateObject('', 'v1', 'Pod', p)), [
    'spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
    'spec.containers[0].ports[0].protocol: Unsupported value: "FOO": supported values: "SCTP", "TCP", "UDP"',
    'spec.containers[0].volumeMounts[0].name: Not found: "missing"',
    'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1',
    'spec.containers[1].name: Duplicate value: "a"',
    'spec.containers[1].image: Required value',
    'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
  ]);
  assert.deepEqual(texts(validateObject('', 'v1', 'Pod', pod({ containers: [] }))), ['spec.containers: Required value']);
});

test('pod updates: only image and a few fields may change', () => {
  const old = pod({ containers: [{ name: 'a', image: 'nginx:1' }] });
  const ok = structuredClone(old);
  ok.spec.containers[0].image = 'nginx:2';
  ok.metadata.labels = { x: 'y' };
  assert.deepEqual(validateObject('', 'v1', 'Pod', ok, old), []);
  const bad = structuredClone(old);
  bad.spec.containers[0].ports = [{ containerPort: 81, protocol: 'TCP' }];
  const errs = validateObject('', 'v1', 'Pod', bad, old);
  assert.equal(errs.length, 1);
  assert.equal(errs[0]!.field, 'spec');
  assert.match(fieldErrorText(errs[0]!), /^spec: Forbidden: pod updates may not change fields other than `spec.containers\[\*\].image`, /);
  const tol = structuredClone(old);
  tol.spec.tolerations = [{ key: 'k', operator: 'Exists', effect: 'NoSchedule' }];
  assert.deepEqual(validateObject('', 'v1', 'Pod', tol, old), []);
  const renamed = structuredClone(old);
  renamed.metadata.name = 'q';
  assert.deepEqual(texts(validateObject('', 'v1', 'Pod', renamed, old)), ['metadata.name: Invalid value: "q": field is immutable']);
});

test('deployments', () => {
  const d: Record<string, any> = { metadata: { name: 'd', namespace: 'default' }, spec: { selector: { matchLabels: { app: 'a' } }, template: { metadata: { labels: { app: 'b' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } } };
  applyDefaults('apps', 'v1', 'Deployment', d);
  assert.deepEqual(texts(validateObject('apps', 'v1', 'Deployment', d)), ['spec.template.metadata.labels: Invalid value: map[string]string{"app":"b"}: `selector` does not match template `labels`']);
  d.spec.template.metadata.labels.app = 'a';
  d.spec.replicas = -1;
  assert.deepEqual(texts(validateObject('apps', 'v1', 'Deployment', d)), ['spec.replicas: Invalid value: -1: must be greater than or equal to 0']);
  d.spec.replicas = 1;
  const changed = structuredClone(d);
  changed.spec.selector.matchLabels.app = 'z';
  changed.spec.template.metadata.labels.app = 'z';
  assert.deepEqual(texts(validateObject('apps', 'v1', 'Deployment', changed, d)), ['spec.selector: Invalid value: {"matchLabels":{"app":"z"}}: field is immutable']);
  delete d.spec.selector;
  assert.deepEqual(texts(validateObject('apps', 'v1', 'Deployment', d)), ['spec.selector: Required value']);
});

test('services', () => {
  const s: Record<string, any> = { metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'a' }, ports: [{ port: 80 }, { port: 0, name: 'x' }], type: 'Weird' } };
  applyDefaults('', 'v1', 'Service', s);
  assert.deepEqual(texts(validateObject('', 'v1', 'Service', s)), [
    'spec.type: Unsupported value: "Weird": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
    'spec.ports[0].name: Required value',
    'spec.ports[1].port: Required value',
    'spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive',
  ]);
  const ok = { metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }], clusterIP: '10.43.0.5', clusterIPs: ['10.43.0.5'] } };
  const moved = structuredClone(ok);
  moved.spec.clusterIP = '10.43.0.6'; moved.spec.clusterIPs = ['10.43.0.6'];
  assert.deepEqual(texts(validateObject('', 'v1', 'Service', moved, ok)), ['spec.clusterIPs[0]: Invalid value: []string{"10.43.0.6"}: may not change once set']);
  assert.equal(validateObject('', 'v1', 'Service', { metadata: { name: '1web', namespace: 'd' }, spec: { ports: [{ port: 1, protocol: 'TCP' }] } })[0]!.field, 'metadata.name');
});

test('ingress', () => {
  const ing = { metadata: { name: 'i', namespace: 'default' }, spec: { rules: [{ host: 'a.example.com', http: { paths: [{ path: 'x', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }, { path: '/', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] } };
  assert.deepEqual(texts(validateObject('networking.k8s.io', 'v1', 'Ingress', ing)), [
    'spec.rules[0].http.paths[0].path: Invalid value: "x": must be an absolute path',
    'spec.rules[0].http.paths[1].pathType: Required value: pathType must be specified',
  ]);
});

test('configmap and secret keys', () => {
  assert.equal(texts(validateObject('', 'v1', 'ConfigMap', { metadata: { name: 'c', namespace: 'd' }, data: { 'a b': 'x', ok: 'y' } }))[0]!.startsWith('data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters'), true);
  assert.deepEqual(texts(validateObject('', 'v1', 'Secret', { metadata: { name: 's', namespace: 'd' }, type: 'kubernetes.io/tls', data: { 'tls.crt': '' } })), ['data[tls.key]: Required value']);
});
