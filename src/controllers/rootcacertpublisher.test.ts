import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { DESCRIPTION, DESCRIPTION_ANNOTATION, desiredRootCAConfigMap } from './rootcacertpublisher.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

test('a missing kube-root-ca.crt is created with the CA and upstream\'s description', () => {
  assert.deepEqual(desiredRootCAConfigMap(CA), {
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name: 'kube-root-ca.crt', annotations: { 'kubernetes.io/description': DESCRIPTION } },
    data: { 'ca.crt': CA },
  });
});

test('a correct one is left alone; changed data or a missing description is put back, other metadata kept', () => {
  const ok: ConfigMap = { metadata: { name: 'kube-root-ca.crt', namespace: 'a', resourceVersion: '7', annotations: { [DESCRIPTION_ANNOTATION]: 'x' } }, data: { 'ca.crt': CA } };
  assert.equal(desiredRootCAConfigMap(CA, ok), undefined);
  const changed: ConfigMap = { metadata: { ...ok.metadata, labels: { team: 'a' } }, data: { 'ca.crt': 'tampered', extra: '1' } };
  const fixed = desiredRootCAConfigMap(CA, changed)!;
  assert.deepEqual(fixed.data, { 'ca.crt': CA });
  assert.equal(fixed.metadata?.resourceVersion, '7');
  assert.deepEqual(fixed.metadata?.labels, { team: 'a' });
  assert.equal(fixed.metadata?.annotations?.[DESCRIPTION_ANNOTATION], DESCRIPTION);
  const undescribed: ConfigMap = { metadata: { name: 'kube-root-ca.crt', namespace: 'a' }, data: { 'ca.crt': CA } };
  assert.equal(desiredRootCAConfigMap(CA, undescribed)?.metadata?.annotations?.[DESCRIPTION_ANNOTATION], DESCRIPTION);
});
