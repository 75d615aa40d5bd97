// A real agent under the Node authorizer and NodeRestriction: the kubelet reads the
// Secrets and ConfigMaps of its pods through one watch per object (a cluster-wide list
// would be refused), sees them change and appear, and nothing it or its service proxy
// (system:kube-proxy) asks for is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { startKubeletEnv, type KubeletEnv } from './env.js';
import { R } from '../../src/api/resources.js';

let env: KubeletEnv;
before(async () => { env = await startKubeletEnv(); });
after(async () => { await env?.stop(); });

async function kubectl(args: string[]): Promise<string> {
  const r = await env.cluster.kubectl(args);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function eventually(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`${what}; agent:\n${env.agentLogs().split('\n').slice(-30).join('\n')}`);
}

test('the kubelet runs pods with secrets and configmaps it may read only through its pods', async () => {
  await kubectl(['create', 'secret', 'generic', 'app-secret', '--from-literal=password=s3cret']);
  await kubectl(['create', 'configmap', 'app-config', '--from-literal=GREETING=hi']);
  const pod: Pod = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'app', namespace: 'default' },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{
        name: 'app', image: env.busybox, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'echo "$GREETING $(cat /etc/app/password)"; sleep 3600'],
        envFrom: [{ configMapRef: { name: 'app-config' } }], volumeMounts: [{ name: 'secret', mountPath: '/etc/app', readOnly: true }],
      }],
      volumes: [{ name: 'secret', secret: { secretName: 'app-secret' } }],
    },
  };
  await env.client.resource<Pod>(R.pods).create(pod, { namespace: 'default' });
  await env.waitPod('app', (x) => !!x.status?.containerStatuses?.[0]?.state?.running, 60_000);
  await eventually('the pod printed its configmap and secret', async () => (await env.cluster.kubectl(['logs', 'app'])).stdout.includes('hi s3cret'));

  // A changed secret reaches the volume through the kubelet's watch of that one secret.
  await kubectl(['create', 'secret', 'generic', 'app-secret', '--from-literal=password=rotated', '--dry-run=client', '-o', 'yaml']).then((y) => env.cluster.kubectl(['apply', '-f', '-'], { input: y }));
  await eventually('the secret volume updated', async () => (await env.cluster.kubectl(['exec', 'app', '--', 'cat', '/etc/app/password'])).stdout === 'rotated');

  // A secret that exists only after the pod: CreateContainerConfigError, then running once it is created.
  await env.client.resource<Pod>(R.pods).create({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'late', namespace: 'default' },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'app', image: env.busybox, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'], env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'late-secret', key: 'token' } } }] }],
    },
  }, { namespace: 'default' });
  await env.waitPod('late', (x) => x.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError', 60_000);
  await kubectl(['create', 'secret', 'generic', 'late-secret', '--from-literal=token=t']);
  await env.waitPod('late', (x) => !!x.status?.containerStatuses?.[0]?.state?.running, 60_000);

  // Nothing the kubelet or its proxy asked for was refused.
  assert.doesNotMatch(env.agentLogs(), /forbidden|\b403\b/i);
  for (const name of ['app', 'late']) await env.client.resource(R.pods).delete(name, { namespace: 'default' });
});
