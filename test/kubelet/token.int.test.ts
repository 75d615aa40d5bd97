// Projected service-account token volumes: the kubelet asks the API server for a
// pod-bound TokenRequest and writes the token into the pod; the token authenticates
// while the pod exists, and is authorized by what RBAC binds to the service account.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { decodeJwt } from 'jose';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { startKubeletEnv, type KubeletEnv } from './env.js';
import { R } from '../../src/api/resources.js';

let env: KubeletEnv;
before(async () => { env = await startKubeletEnv(); });
after(async () => { await env?.stop(); });

function getWithToken(path: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${env.cluster.url}${path}`, { ca: env.cluster.tlsOptions().ca, headers: { Authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a projected serviceAccountToken volume holds a pod-bound token that authenticates', async () => {
  const pod: Pod = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'tokens', namespace: 'default' },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'app', image: env.busybox, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'cat /var/run/secrets/tokens/token; echo; sleep 3600'],
        volumeMounts: [{ name: 'tok', mountPath: '/var/run/secrets/tokens', readOnly: true }] }],
      volumes: [{ name: 'tok', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 600 } }] } }],
    },
  };
  await env.client.resource<Pod>(R.pods).create(pod, { namespace: 'default' });
  const p = await env.waitPod('tokens', (x) => !!x.status?.containerStatuses?.[0]?.state?.running, 60_000);
  let token = '';
  for (let i = 0; i < 50 && !token; i++) {
    const logs = await env.cluster.kubectl(['logs', 'tokens']);
    token = logs.stdout.trim().split('\n')[0] ?? '';
    if (!token) await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, `no token in the pod; agent: ${env.agentLogs().split('\n').filter((l) => /TokenRequest/.test(l)).join('\n')}`);
  const claims = decodeJwt(token);
  assert.equal(claims.sub, 'system:serviceaccount:default:default');
  assert.equal(claims.exp! - claims.iat!, 600);
  const k = claims['kubernetes.io'] as { pod: { name: string; uid: string }; node?: { name: string } };
  assert.deepEqual(k.pod, { name: 'tokens', uid: p.metadata!.uid });
  assert.equal(k.node?.name, env.nodeName);
  assert.equal(await getWithToken('/api', token), 200);
  assert.doesNotMatch(env.agentLogs(), /TokenRequest failed/);
  // RBAC: the pod's service account holds nothing beyond discovery until a role is bound to it.
  assert.equal(await getWithToken('/api/v1/namespaces/default/secrets', token), 403);
  for (const args of [['create', 'role', 'secret-lister', '--verb=list', '--resource=secrets'], ['create', 'rolebinding', 'default-lists-secrets', '--role=secret-lister', '--serviceaccount=default:default']]) {
    const r = await env.cluster.kubectl(args);
    assert.equal(r.code, 0, r.stderr);
  }
  let listed = 0;
  for (let i = 0; i < 50 && listed !== 200; i++) {
    listed = await getWithToken('/api/v1/namespaces/default/secrets', token);
    if (listed !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(listed, 200, 'bound: the pod\'s token lists secrets');
  await env.client.resource(R.pods).delete('tokens', { namespace: 'default' });
  // Gone from the API once the kubelet has stopped it: the token goes with it.
  for (let i = 0; i < 200; i++) {
    if (await env.client.resource<Pod>(R.pods).get('tokens', { namespace: 'default' }).then(() => false, () => true)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  let code = 0;
  for (let i = 0; i < 40 && code !== 401; i++) {
    code = await getWithToken('/api', token);
    if (code !== 401) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(code, 401);
});
