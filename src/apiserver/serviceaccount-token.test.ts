import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { SignJWT } from 'jose';
import { ServiceAccountTokens, serviceAccountTokenAuthenticator, DEFAULT_ISSUER, type ObjectLookup } from './serviceaccount-token.js';
import type { Obj } from './objects.js';

const pem = (): string => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const req = (token: string): IncomingMessage => ({ headers: { authorization: `Bearer ${token}` } }) as IncomingMessage;

function world(): { objects: Map<string, Obj>; lookup: ObjectLookup } {
  const objects = new Map<string, Obj>([
    ['serviceaccounts/ns1/sa', { metadata: { name: 'sa', namespace: 'ns1', uid: 'sa-uid' } }],
    ['pods/ns1/p', { metadata: { name: 'p', namespace: 'ns1', uid: 'pod-uid' } }],
  ]);
  return { objects, lookup: async (r, ns, n) => objects.get(`${r}/${ns}/${n}`) };
}

test('a pod-bound token authenticates as the service account, with upstream\'s groups and extra', async () => {
  const t = new ServiceAccountTokens(pem());
  const { lookup } = world();
  const auth = serviceAccountTokenAuthenticator(t, lookup);
  const { token, claims } = await t.sign({ namespace: 'ns1', serviceaccount: { name: 'sa', uid: 'sa-uid' }, pod: { name: 'p', uid: 'pod-uid' } }, t.audiences, 600);
  assert.equal(claims.iss, DEFAULT_ISSUER);
  const u = await auth(req(token));
  assert.deepEqual(u, {
    name: 'system:serviceaccount:ns1:sa', uid: 'sa-uid',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:ns1', 'system:authenticated'],
    extra: {
      'authentication.kubernetes.io/credential-id': [`JTI=${claims.jti}`],
      'authentication.kubernetes.io/pod-name': ['p'], 'authentication.kubernetes.io/pod-uid': ['pod-uid'],
    },
  });
});

test('other bearer tokens pass to the next link; ours that fail a check are 401', async () => {
  const t = new ServiceAccountTokens(pem());
  const { objects, lookup } = world();
  const auth = serviceAccountTokenAuthenticator(t, lookup);
  assert.equal(await auth(req('static-token')), undefined);
  assert.equal(await auth({ headers: {} } as IncomingMessage), undefined);
  const foreign = await new SignJWT({ iss: 'https://other' }).setProtectedHeader({ alg: 'ES256' }).sign(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  assert.equal(await auth(req(foreign)), undefined, 'another issuer');
  // Our issuer, another key.
  const forged = await new ServiceAccountTokens(pem()).sign({ namespace: 'ns1', serviceaccount: { name: 'sa', uid: 'sa-uid' } }, t.audiences, 600);
  await assert.rejects(async () => auth(req(forged.token)), /Unauthorized/);
  // Bound pod being deleted: valid until a minute after its deletionTimestamp, then not.
  const { token } = await t.sign({ namespace: 'ns1', serviceaccount: { name: 'sa', uid: 'sa-uid' }, pod: { name: 'p', uid: 'pod-uid' } }, t.audiences, 600);
  objects.get('pods/ns1/p')!.metadata!.deletionTimestamp = new Date(Date.now() + 30_000).toISOString();
  assert.ok(await auth(req(token)));
  objects.get('pods/ns1/p')!.metadata!.deletionTimestamp = new Date(Date.now() - 61_000).toISOString();
  await assert.rejects(async () => auth(req(token)), /Unauthorized/);
  objects.delete('pods/ns1/p');
  await assert.rejects(async () => auth(req(token)), /Unauthorized/);
});

test('a verified token is rejected once it expires (the cache of verified tokens honours exp)', async () => {
  const t = new ServiceAccountTokens(pem());
  const { lookup } = world();
  const auth = serviceAccountTokenAuthenticator(t, lookup);
  // Issued 658.5 s ago for 600 s: exp is ~59 s ago, inside the 60 s leeway now, not two seconds later.
  const { token } = await t.sign({ namespace: 'ns1', serviceaccount: { name: 'sa', uid: 'sa-uid' } }, t.audiences, 600, new Date(Date.now() - 658_500));
  assert.ok(await auth(req(token)));
  await new Promise((r) => setTimeout(r, 2000));
  await assert.rejects(async () => auth(req(token)), /Unauthorized/);
});
