import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, Service, Namespace, Secret } from 'kubernetes-types/core/v1.js';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import { applyDefaults, addDefaultTolerations, syncDeprecatedServiceAccount, podQOSClass } from './index.js';

test('pod defaults as upstream', () => {
  const p: Pod = {
    metadata: { name: 'p' },
    spec: {
      containers: [
        { name: 'a', image: 'nginx', ports: [{ containerPort: 80 }], readinessProbe: { httpGet: { port: 80 } }, resources: { limits: { cpu: '1' } } },
        { name: 'b', image: 'nginx:1.25' },
        { name: 'c', image: 'registry:5000/x:latest' },
        { name: 'd', image: 'registry:5000/x' },
        { name: 'e', image: 'x@sha256:abc' },
      ],
      volumes: [{ name: 'v', configMap: { name: 'cm' } }, { name: 's', secret: { secretName: 's' } }, { name: 'e' }],
    },
  };
  applyDefaults('', 'v1', 'Pod', p);
  const s = p.spec!;
  assert.equal(s.restartPolicy, 'Always');
  assert.equal(s.dnsPolicy, 'ClusterFirst');
  assert.equal(s.schedulerName, 'default-scheduler');
  assert.equal(s.terminationGracePeriodSeconds, 30);
  assert.deepEqual(s.securityContext, {});
  assert.equal(s.enableServiceLinks, true);
  assert.equal(s.priority, 0);
  assert.equal(s.preemptionPolicy, 'PreemptLowerPriority');
  assert.deepEqual(s.containers.map((c) => c.imagePullPolicy), ['Always', 'IfNotPresent', 'Always', 'Always', 'IfNotPresent']);
  const a = s.containers[0]!;
  assert.equal(a.terminationMessagePath, '/dev/termination-log');
  assert.equal(a.terminationMessagePolicy, 'File');
  assert.equal(a.ports![0]!.protocol, 'TCP');
  assert.deepEqual(a.readinessProbe, { httpGet: { port: 80, path: '/', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 });
  assert.deepEqual(a.resources!.requests, { cpu: '1' });
  assert.equal(s.volumes![0]!.configMap!.defaultMode, 420);
  assert.equal(s.volumes![1]!.secret!.defaultMode, 420);
  assert.deepEqual(s.volumes![2]!.emptyDir, {});
  // Idempotent.
  const again = structuredClone(p);
  applyDefaults('', 'v1', 'Pod', again);
  assert.deepEqual(again, p);
  assert.equal(podQOSClass(p), 'Burstable');
  assert.equal(podQOSClass({ spec: { containers: [{ name: 'x' }] } }), 'BestEffort');
  assert.equal(podQOSClass({ spec: { containers: [{ name: 'x', resources: { limits: { cpu: '1', memory: '1Gi' } } }] } }), 'Guaranteed');
});

test('default tolerations and service account', () => {
  const p: Pod = { spec: { containers: [], tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 10 }] } };
  addDefaultTolerations(p);
  assert.deepEqual(p.spec!.tolerations, [
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 10 },
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
  ]);
  addDefaultTolerations(p);
  assert.equal(p.spec!.tolerations!.length, 2);
  // The deprecated alias and the name fill each other; nothing is made up (admission defaults to "default").
  syncDeprecatedServiceAccount(p);
  assert.equal(p.spec!.serviceAccountName, undefined);
  assert.equal(p.spec!.serviceAccount, undefined);
  const old: Pod = { spec: { containers: [], serviceAccount: 'builder' } };
  syncDeprecatedServiceAccount(old);
  assert.equal(old.spec!.serviceAccountName, 'builder');
  const both: Pod = { spec: { containers: [], serviceAccountName: 'runner', serviceAccount: 'ignored' } };
  syncDeprecatedServiceAccount(both);
  assert.deepEqual([both.spec!.serviceAccountName, both.spec!.serviceAccount], ['runner', 'runner']);
});

test('service defaults', () => {
  const s: Service = { spec: { ports: [{ port: 80 }, { port: 443, targetPort: 'https' }] } };
  applyDefaults('', 'v1', 'Service', s);
  assert.equal(s.spec!.type, 'ClusterIP');
  assert.equal(s.spec!.sessionAffinity, 'None');
  assert.deepEqual(s.spec!.ports, [{ port: 80, protocol: 'TCP', targetPort: 80 }, { port: 443, targetPort: 'https', protocol: 'TCP' }]);
  assert.equal(s.spec!.internalTrafficPolicy, 'Cluster');
  assert.equal(s.spec!.externalTrafficPolicy, undefined);
  assert.equal(s.spec!.ipFamilyPolicy, 'SingleStack');
  assert.deepEqual(s.spec!.ipFamilies, ['IPv4']);
  const np: Service = { spec: { type: 'NodePort', ports: [{ port: 80 }] } };
  applyDefaults('', 'v1', 'Service', np);
  assert.equal(np.spec!.externalTrafficPolicy, 'Cluster');
});

test('deployment defaults include the pod template spec', () => {
  const d: Deployment = { spec: { selector: {}, template: { spec: { containers: [{ name: 'a', image: 'nginx' }] } } } };
  applyDefaults('apps', 'v1', 'Deployment', d);
  assert.equal(d.spec!.replicas, 1);
  assert.deepEqual(d.spec!.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
  assert.equal(d.spec!.revisionHistoryLimit, 10);
  assert.equal(d.spec!.progressDeadlineSeconds, 600);
  assert.equal(d.spec!.template.spec!.restartPolicy, 'Always');
  assert.equal(d.spec!.template.spec!.containers[0]!.imagePullPolicy, 'Always');
  assert.equal(d.spec!.template.spec!.enableServiceLinks, undefined);
});

test('namespace and secret defaults', () => {
  const n: Namespace = { metadata: { name: 'team' } };
  applyDefaults('', 'v1', 'Namespace', n);
  assert.deepEqual(n, { metadata: { name: 'team', labels: { 'kubernetes.io/metadata.name': 'team' } }, status: { phase: 'Active' } });
  const s: Secret = {};
  applyDefaults('', 'v1', 'Secret', s);
  assert.equal(s.type, 'Opaque');
});
