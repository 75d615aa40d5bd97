// Projected service-account token volumes: the kubelet asks the API server for a
// pod-bound TokenRequest and writes the token into the pod; the token authenticates
// while the pod exists, and is authorized by what RBAC binds to the service account.
// Every pod gets its account's credentials (ServiceAccount admission, the root CA
// publisher) at /var/run/secrets/kubernetes.io/serviceaccount, as in any cluster.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
      containers: [{ name: 'app', image: env.busybox, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'cat /var/run/secrets/tokens/token; echo; grep " /var/run/secrets/tokens " /proc/mounts; sleep 3600'],
        volumeMounts: [{ name: 'tok', mountPath: '/var/run/secrets/tokens', readOnly: true }] }],
      volumes: [{ name: 'tok', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 600 } }] } }],
    },
  };
  await env.client.resource<Pod>(R.pods).create(pod, { namespace: 'default' });
  const p = await env.waitPod('tokens', (x) => !!x.status?.containerStatuses?.[0]?.state?.running, 60_000);
  let token = '';
  let mountLine = '';
  for (let i = 0; i < 50 && !mountLine; i++) {
    const logs = await env.cluster.kubectl(['logs', 'tokens']);
    [token = '', mountLine = ''] = logs.stdout.trim().split('\n');
    if (!mountLine) await new Promise((r) => setTimeout(r, 100));
  }
  // On a tmpfs, as upstream's projected volumes (a memory-backed emptyDir): the token never reaches the disk.
  assert.match(mountLine, /^\S+ \/var\/run\/secrets\/tokens tmpfs ro[, ]/);
  const hostMounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(p.metadata!.uid!));
  assert.equal(hostMounts().filter((l) => l.includes('/kubernetes.io~projected/tok ') && l.includes(' - tmpfs ')).length, 1, 'the volume is a tmpfs mount on the host');
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
  assert.deepEqual(hostMounts(), [], 'the volumes\' tmpfs mounts go with the pod');
});

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

test('every pod gets its service account\'s token, the cluster CA and its namespace, which authenticate an in-cluster client', async () => {
  const ns = 'creds';
  await env.cluster.kubectlOk(['create', 'namespace', ns]);
  const pod: Pod = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client', namespace: ns },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: env.busybox, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
  };
  await env.client.resource<Pod>(R.pods).create(pod, { namespace: ns });
  const p = await env.waitPod('client', (x) => !!x.status?.containerStatuses?.[0]?.state?.running, 60_000, ns);
  const volume = p.spec!.volumes!.find((v) => v.name.startsWith('kube-api-access-'));
  assert.ok(volume, `no kube-api-access volume: ${JSON.stringify(p.spec!.volumes)}`);
  const exec = (...cmd: string[]) => env.cluster.kubectlOk(['exec', '-n', ns, 'client', '--', ...cmd]);

  assert.equal(await exec('cat', `${SA_DIR}/namespace`), ns);
  const ca = await exec('cat', `${SA_DIR}/ca.crt`);
  assert.equal(ca, env.cluster.tlsOptions().ca);
  const token = await exec('cat', `${SA_DIR}/token`);
  const claims = decodeJwt(token);
  assert.equal(claims.sub, `system:serviceaccount:${ns}:default`);
  assert.equal((claims['kubernetes.io'] as { pod: { name: string; uid: string } }).pod.uid, p.metadata!.uid);
  // The kubelet's 3607 s token is valid for a year and warns after 3607 s (upstream's extended expiry).
  assert.equal(claims.exp! - claims.iat!, 365 * 24 * 3600);
  // Written atomically: the files are links through ..data, read-only in the container.
  const listing = await exec('ls', '-la', SA_DIR);
  assert.match(listing, /\.\.data -> \.\.\d{4}_/);
  assert.match(listing, /token -> \.\.data\/token/);
  const write = await env.cluster.kubectl(['exec', '-n', ns, 'client', '--', 'sh', '-c', `echo x > ${SA_DIR}/x`]);
  assert.notEqual(write.code, 0, 'the volume is mounted read-only');

  // What client-go's in-cluster config reads: the kubernetes Service from the environment.
  const [host, port] = (await exec('sh', '-c', 'echo "$KUBERNETES_SERVICE_HOST $KUBERNETES_SERVICE_PORT"')).trim().split(' ');
  assert.equal(host, env.cluster.serviceCidr.replace(/\.0\/\d+$/, '.1'));
  assert.equal(port, '443');
  // A real client-go client (kubectl) configured as in the pod: that Service's address (the
  // node's proxy rules take it to the API server), the pod's CA verifying the server, its
  // token. Busybox's own TLS offers no cipher the ECDSA-serving API server accepts, so the
  // request goes from here rather than from the pod.
  const dir = mkdtempSync(join(tmpdir(), 'jotasu-sa-'));
  try {
    writeFileSync(join(dir, 'ca.crt'), ca);
    const who = await env.cluster.kubectlOk(['--kubeconfig', '/dev/null', '--server', `https://${host}:${port}`, '--certificate-authority', join(dir, 'ca.crt'), '--token', token,
      'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    assert.equal(who, `system:serviceaccount:${ns}:default`);
    // Without the token: anonymous requests are refused.
    const anon = await env.cluster.kubectl(['--kubeconfig', '/dev/null', '--server', `https://${host}:${port}`, '--certificate-authority', join(dir, 'ca.crt'), 'get', 'pods', '-n', ns]);
    assert.notEqual(anon.code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
