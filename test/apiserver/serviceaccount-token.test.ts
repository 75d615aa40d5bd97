// TokenRequest (serviceaccounts/token) and service-account bearer tokens, through
// kubectl and the client: claims as upstream's, the token authenticates, and expired,
// forged, foreign-audience or unbound tokens are 401s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, decodeJwt, decodeProtectedHeader } from 'jose';
import type { SelfSubjectReview, TokenRequest } from 'kubernetes-types/authentication/v1.js';
import type { Pod, ServiceAccount } from 'kubernetes-types/core/v1.js';
import { startCluster, type Cluster } from '../lib/cluster.js';
import { createClient, createClientFromKubeconfig, type JotasuApiClient } from '../../src/client/index.js';
import { R, findResource } from '../../src/api/resources.js';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';

let c: Cluster;
let admin: JotasuApiClient;
before(async () => {
  c = await startCluster();
  admin = createClientFromKubeconfig(c.kubeconfig, { qps: 0 });
  // The serviceaccount controller creates "default" shortly after the namespace exists.
  for (let i = 0; i < 100; i++) {
    if (await admin.resource<ServiceAccount>(R.serviceaccounts).get('default', { namespace: 'default' }).catch(() => undefined)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no default ServiceAccount');
});
after(async () => { admin?.close(); await c?.stop(); });

function saKey(): string { return readFileSync(join(c.dataDir, 'server', 'tls', 'service.key'), 'utf8'); }

/** A request with nothing but the bearer token (no client certificate). */
function withToken(path: string, token: string, method = 'GET'): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${c.url}${path}`, { method, ca: c.tlsOptions().ca, headers: { Authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function createToken(args: string[]): Promise<string> {
  const r = await c.kubectl(['create', 'token', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** Deletions reach the authenticator through the watch cache (as upstream's informers): a moment later. */
async function eventually401(token: string, why: string): Promise<void> {
  let code = 0;
  for (let i = 0; i < 40 && code !== 401; i++) {
    code = (await withToken('/api', token)).code;
    if (code !== 401) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(code, 401, why);
}

async function podUid(name: string): Promise<string> {
  return (await admin.resource<Pod>(R.pods).get(name, { namespace: 'default' })).metadata!.uid!;
}

test('kubectl create token default --duration=10m: a JWT with upstream\'s claims, signed by the service-account key', async () => {
  const before = Math.floor(Date.now() / 1000);
  const token = await createToken(['default', '--duration=10m']);
  const header = decodeProtectedHeader(token);
  assert.equal(header.alg, 'ES256');
  assert.ok(header.kid, 'kid');
  const { payload } = await jwtVerify(token, createPublicKey(createPrivateKey(saKey())), { issuer: ISSUER, audience: ISSUER });
  const sa = await admin.resource<ServiceAccount>(R.serviceaccounts).get('default', { namespace: 'default' });
  assert.equal(payload.sub, 'system:serviceaccount:default:default');
  assert.deepEqual(payload.aud, [ISSUER]);
  assert.equal(payload.exp! - payload.iat!, 600);
  assert.equal(payload.nbf, payload.iat);
  assert.ok(payload.iat! >= before - 1 && payload.iat! <= before + 30);
  assert.match(String(payload.jti), /^[0-9a-f-]{36}$/);
  assert.deepEqual(payload['kubernetes.io'], { namespace: 'default', serviceaccount: { name: 'default', uid: sa.metadata!.uid } });
});

test('the token authenticates: raw HTTPS and kubectl with a token-only kubeconfig', async () => {
  const token = await createToken(['default', '--duration=10m']);
  const api = await withToken('/api', token);
  assert.equal(api.code, 200, api.body);
  assert.equal(JSON.parse(api.body).kind, 'APIVersions');
  // Authenticated, not authorized: a service account holds nothing beyond discovery until bound (RBAC).
  assert.equal((await withToken('/api/v1/namespaces/default/configmaps', token)).code, 403);
  const cfg = join(c.dataDir, 'token-kubeconfig.yaml');
  writeFileSync(cfg, [
    'apiVersion: v1', 'kind: Config', 'current-context: sa',
    `clusters: [{name: c, cluster: {server: "${c.url}", certificate-authority-data: ${Buffer.from(c.tlsOptions().ca).toString('base64')}}}]`,
    `users: [{name: sa, user: {token: "${token}"}}]`,
    'contexts: [{name: sa, context: {cluster: c, user: sa}}]', '',
  ].join('\n'));
  const r = await c.kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { env: { KUBECONFIG: cfg } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'system:serviceaccount:default:default');
});

test('the client: TokenRequest with defaults (3600 s, the API audience), and its token as the client\'s credential', async () => {
  const tr = await admin.resource(R.serviceaccounts).createSubresource<TokenRequest>('default', 'token',
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} }, { namespace: 'default' });
  assert.equal(tr.kind, 'TokenRequest');
  assert.equal(tr.spec.expirationSeconds, 3600);
  assert.deepEqual(tr.spec.audiences, [ISSUER]);
  const claims = decodeJwt(tr.status!.token);
  assert.equal(claims.exp! - claims.iat!, 3600);
  assert.ok(Math.abs(Date.parse(tr.status!.expirationTimestamp) / 1000 - claims.exp!) <= 1);
  const asSA = createClient({ server: c.url, caData: Buffer.from(c.tlsOptions().ca), token: tr.status!.token, qps: 0 });
  try {
    // Who the server takes the client for (SelfSubjectReview: any authenticated user may ask).
    const review = await asSA.resource<SelfSubjectReview>(findResource('authentication.k8s.io', 'selfsubjectreviews')!)
      .create({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
    assert.equal(review.status?.userInfo?.username, 'system:serviceaccount:default:default');
  } finally { asSA.close(); }
});

test('expired, forged, garbage and foreign-audience tokens are 401', async () => {
  const key = createPrivateKey(saKey());
  const sa = await admin.resource<ServiceAccount>(R.serviceaccounts).get('default', { namespace: 'default' });
  const now = Math.floor(Date.now() / 1000);
  const sign = (exp: number, k = key) => new SignJWT({
    iss: ISSUER, sub: 'system:serviceaccount:default:default', aud: [ISSUER], iat: exp - 3600, nbf: exp - 3600, exp, jti: randomUUID(),
    'kubernetes.io': { namespace: 'default', serviceaccount: { name: 'default', uid: sa.metadata!.uid } },
  }).setProtectedHeader({ alg: 'ES256' }).sign(k);
  // The same claims, signed by our key and unexpired, pass: the failures below are the expiry and the key.
  assert.equal((await withToken('/api', await sign(now + 600))).code, 200);
  assert.equal((await withToken('/api', await sign(now - 120))).code, 401, 'expired (beyond the 60 s leeway)');
  const { privateKey: stranger } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  assert.equal((await withToken('/api', await sign(now + 600, stranger))).code, 401, 'signed by another key');
  for (const garbage of ['garbage', 'a.b.c', `${(await createToken(['default'])).slice(0, -4)}AAAA`]) {
    const r = await withToken('/api', garbage);
    assert.equal(r.code, 401, garbage);
    assert.equal(JSON.parse(r.body).reason, 'Unauthorized');
  }
  const foreign = await createToken(['default', '--audience', 'vault']);
  assert.deepEqual(decodeJwt(foreign).aud, ['vault']);
  assert.equal((await withToken('/api', foreign)).code, 401, 'audience not the API server\'s');
});

test('a token bound to a pod names it and stops working when the pod is gone (also when recreated)', async () => {
  const pod: Pod = { metadata: { name: 'bound' }, spec: { schedulerName: 'nobody', containers: [{ name: 'c', image: 'busybox' }] } };
  await admin.resource<Pod>(R.pods).create(pod, { namespace: 'default' });
  const uid = await podUid('bound');
  const token = await createToken(['default', '--bound-object-kind', 'Pod', '--bound-object-name', 'bound', '--bound-object-uid', uid]);
  assert.deepEqual((decodeJwt(token)['kubernetes.io'] as { pod: unknown }).pod, { name: 'bound', uid });
  assert.equal((await withToken('/api', token)).code, 200);
  await admin.resource(R.pods).delete('bound', { namespace: 'default', gracePeriodSeconds: 0 });
  await admin.resource<Pod>(R.pods).create(pod, { namespace: 'default' });
  assert.notEqual(await podUid('bound'), uid);
  assert.equal((await withToken('/api', token)).code, 401, 'bound pod recreated: another uid');
  await admin.resource(R.pods).delete('bound', { namespace: 'default', gracePeriodSeconds: 0 });
  await eventually401(token, 'bound pod gone');
  // Binding to a pod that does not exist, or with a stale uid, is refused.
  const missing = await c.kubectl(['create', 'token', 'default', '--bound-object-kind', 'Pod', '--bound-object-name', 'nope']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /pods "nope" not found/);
  await admin.resource<Pod>(R.pods).create(pod, { namespace: 'default' });
  const stale = await c.kubectl(['create', 'token', 'default', '--bound-object-kind', 'Pod', '--bound-object-name', 'bound', '--bound-object-uid', uid]);
  assert.notEqual(stale.code, 0);
  assert.match(stale.stderr, /the UID in the bound object reference \(.+\) does not match the UID in record/);
  await admin.resource(R.pods).delete('bound', { namespace: 'default', gracePeriodSeconds: 0 });
});

test('a deleted service account\'s tokens are 401; requests are validated as upstream', async () => {
  const r = await c.kubectl(['create', 'serviceaccount', 'short-lived']);
  assert.equal(r.code, 0, r.stderr);
  const token = await createToken(['short-lived']);
  assert.equal((await withToken('/api', token)).code, 200);
  assert.equal((await c.kubectl(['delete', 'serviceaccount', 'short-lived'])).code, 0);
  await eventually401(token, 'service account deleted');
  const short = await c.kubectl(['create', 'token', 'default', '--duration=5m']);
  assert.notEqual(short.code, 0);
  assert.match(short.stderr, /spec\.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes/);
  const none = await c.kubectl(['create', 'token', 'missing-sa']);
  assert.match(none.stderr, /serviceaccounts "missing-sa" not found/);
});

test('discovery lists serviceaccounts/token (create, authentication.k8s.io/v1 TokenRequest)', async () => {
  const r = await c.kubectl(['get', '--raw', '/api/v1']);
  assert.equal(r.code, 0, r.stderr);
  const sub = (JSON.parse(r.stdout) as { resources: { name: string; verbs: string[]; group?: string; version?: string; kind: string }[] })
    .resources.find((x) => x.name === 'serviceaccounts/token');
  assert.ok(sub);
  assert.deepEqual(sub.verbs, ['create']);
  assert.equal(sub.kind, 'TokenRequest');
  assert.equal(sub.group, 'authentication.k8s.io');
});
