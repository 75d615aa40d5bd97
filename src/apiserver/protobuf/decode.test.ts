import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import descriptors from './descriptors.json' with { type: 'json' };
import { decodeProtobuf } from './decode.js';

const root = protobuf.Root.fromJSON(descriptors as protobuf.INamespace);

/** What a Go client sends: the k8s magic, then runtime.Unknown{typeMeta, raw}. */
function envelope(apiVersion: string, kind: string, type: string, msg: object): Buffer {
  const T = root.lookupType(type);
  const raw = T.encode(T.fromObject(msg)).finish();
  const U = root.lookupType('k8s.io.apimachinery.pkg.runtime.Unknown');
  const body = U.encode(U.fromObject({ typeMeta: { apiVersion, kind }, raw, contentType: '' })).finish();
  return Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00]), body]);
}

test('fields Go embeds inline decode into their parent, as in JSON', () => {
  const ing = decodeProtobuf(envelope('networking.k8s.io/v1', 'Ingress', 'k8s.io.api.networking.v1.Ingress', {
    metadata: { name: 'simple' },
    spec: { rules: [{ host: 'foo.com', ingressRuleValue: { http: { paths: [{ path: '/bar', pathType: 'Exact', backend: { service: { name: 'svc1', port: { number: 8080 } } } }] } } }] },
  }));
  assert.deepEqual(ing.spec, { rules: [{ host: 'foo.com', http: { paths: [{ path: '/bar', pathType: 'Exact', backend: { service: { name: 'svc1', port: { number: 8080 } } } }] } }] });

  const pod = decodeProtobuf(envelope('v1', 'Pod', 'k8s.io.api.core.v1.Pod', {
    metadata: { name: 'p' },
    spec: {
      volumes: [{ name: 'cfg', volumeSource: { configMap: { localObjectReference: { name: 'app' } } } }],
      containers: [{
        name: 'c', image: 'busybox',
        readinessProbe: { handler: { exec: { command: ['true'] } }, periodSeconds: 5 },
        env: [{ name: 'K', valueFrom: { secretKeyRef: { localObjectReference: { name: 's' }, key: 'k' } } }],
      }],
    },
  })) as { spec: { volumes: unknown[]; containers: { readinessProbe: unknown; env: unknown[] }[] } };
  assert.deepEqual(pod.spec.volumes, [{ name: 'cfg', configMap: { name: 'app' } }]);
  assert.deepEqual(pod.spec.containers[0]!.readinessProbe, { exec: { command: ['true'] }, periodSeconds: 5 });
  assert.deepEqual(pod.spec.containers[0]!.env, [{ name: 'K', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }]);
});
