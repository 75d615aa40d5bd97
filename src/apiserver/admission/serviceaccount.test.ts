import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, ServiceAccount } from 'kubernetes-types/core/v1.js';
import { isStatusError } from '../../api/errors.js';
import type { ResourceStore } from '../store.js';
import type { Obj } from '../objects.js';
import type { StrategyContext } from '../strategies/types.js';
import {
  DEFAULT_API_TOKEN_MOUNT_PATH, mountServiceAccountToken, serviceAccountAdmission, serviceAccountGetter, shouldAutomount, tokenVolumeSource,
} from './serviceaccount.js';

const podsStore = { info: { group: '', resource: 'pods', kind: 'Pod' } } as unknown as ResourceStore;
const ctx: StrategyContext = { user: { name: 'alice', groups: [] } as unknown as StrategyContext['user'], dryRun: false, subresource: '' };
const sa = (name: string, extra: Partial<ServiceAccount> = {}): ServiceAccount => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: 'ns1' }, ...extra });
const pod = (spec: Partial<NonNullable<Pod['spec']>> = {}, annotations?: Record<string, string>): Pod => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns1', ...(annotations ? { annotations } : {}) },
  spec: { containers: [{ name: 'app', image: 'busybox' }], ...spec },
});

function admission(accounts: ServiceAccount[]) {
  const hook = serviceAccountAdmission(async (ns, name) => {
    const found = accounts.find((a) => a.metadata?.namespace === ns && a.metadata?.name === name);
    if (!found) throw new Error(`serviceaccount "${name}" not found`);
    return found;
  }, (prefix) => `${prefix}abcde`);
  return async (p: Pod): Promise<void> => { await hook('CREATE', podsStore, p as Obj, undefined, ctx); };
}

test('a pod without a service account runs as "default" and gets the kube-api-access volume in every container', async () => {
  const p = pod({ initContainers: [{ name: 'init', image: 'busybox' }] });
  await admission([sa('default')])(p);
  assert.equal(p.spec!.serviceAccountName, 'default');
  assert.equal(p.spec!.serviceAccount, 'default');
  assert.deepEqual(p.spec!.volumes, [{
    name: 'kube-api-access-abcde',
    projected: {
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  }]);
  const mount = { name: 'kube-api-access-abcde', readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' };
  assert.deepEqual(p.spec!.containers[0]!.volumeMounts, [mount]);
  assert.deepEqual(p.spec!.initContainers![0]!.volumeMounts, [mount]);
});

test('a missing service account is Forbidden with upstream\'s message', async () => {
  await assert.rejects(admission([sa('default')])(pod({ serviceAccountName: 'builder' })), (e: unknown) => {
    assert.ok(isStatusError(e, 'Forbidden'));
    assert.equal(e.status.code, 403);
    assert.equal(e.message, 'pods "p" is forbidden: error looking up service account ns1/builder: serviceaccount "builder" not found');
    return true;
  });
});

test('automountServiceAccountToken: the pod\'s choice wins over the account\'s', async () => {
  const off = pod({ automountServiceAccountToken: false });
  await admission([sa('default')])(off);
  assert.equal(off.spec!.volumes, undefined);
  assert.equal(off.spec!.containers[0]!.volumeMounts, undefined);
  assert.equal(off.spec!.serviceAccountName, 'default');

  const saOff = sa('default', { automountServiceAccountToken: false });
  const inherits = pod();
  await admission([saOff])(inherits);
  assert.equal(inherits.spec!.volumes, undefined);
  const overrides = pod({ automountServiceAccountToken: true });
  await admission([saOff])(overrides);
  assert.equal(overrides.spec!.volumes?.length, 1);

  assert.equal(shouldAutomount(sa('x'), pod()), true);
});

test('a container with its own mount at the token path keeps it; the volume is added only when some container needs it', () => {
  const own = { name: 'mine', mountPath: DEFAULT_API_TOKEN_MOUNT_PATH };
  const p = pod({ containers: [{ name: 'a', image: 'i', volumeMounts: [own] }], volumes: [{ name: 'mine', emptyDir: {} }] });
  mountServiceAccountToken(p, (x) => `${x}zzzzz`);
  assert.deepEqual(p.spec!.containers[0]!.volumeMounts, [own]);
  assert.deepEqual(p.spec!.volumes!.map((v) => v.name), ['mine']);

  const mixed = pod({ containers: [{ name: 'a', image: 'i', volumeMounts: [own] }, { name: 'b', image: 'i' }] });
  mountServiceAccountToken(mixed, (x) => `${x}zzzzz`);
  assert.deepEqual(mixed.spec!.containers[1]!.volumeMounts, [{ name: 'kube-api-access-zzzzz', readOnly: true, mountPath: DEFAULT_API_TOKEN_MOUNT_PATH }]);
  assert.deepEqual(mixed.spec!.volumes!.map((v) => v.name), ['kube-api-access-zzzzz']);
});

test('an existing kube-api-access-* volume is reused, not added twice', () => {
  const p = pod({ volumes: [{ name: 'kube-api-access-q8x2n', projected: tokenVolumeSource() }] });
  mountServiceAccountToken(p, () => assert.fail('no new name'));
  assert.equal(p.spec!.volumes!.length, 1);
  assert.equal(p.spec!.containers[0]!.volumeMounts![0]!.name, 'kube-api-access-q8x2n');
});

test('the generated volume name is kube-api-access- and 5 name characters', () => {
  const p = pod();
  mountServiceAccountToken(p);
  assert.match(p.spec!.volumes![0]!.name, /^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
});

test('mirror pods are not changed, and may not reference service accounts, secrets or tokens', async () => {
  const mirrorAnn = { 'kubernetes.io/config.mirror': 'abc' };
  const plain = pod({}, mirrorAnn);
  await admission([])(plain);
  assert.equal(plain.spec!.serviceAccountName, undefined);
  assert.equal(plain.spec!.volumes, undefined);
  const cases: [Pod, string][] = [
    [pod({ serviceAccountName: 'default' }, mirrorAnn), 'a mirror pod may not reference service accounts'],
    [pod({ volumes: [{ name: 's', secret: { secretName: 'x' } }] }, mirrorAnn), 'a mirror pod may not reference secrets'],
    [pod({ volumes: [{ name: 't', projected: { sources: [{ serviceAccountToken: { path: 't' } }] } }] }, mirrorAnn), 'a mirror pod may not use ServiceAccountToken volume projections'],
  ];
  for (const [p, why] of cases) await assert.rejects(admission([sa('default')])(p), { message: `pods "p" is forbidden: ${why}` });
});

test('imagePullSecrets of the account go to a pod that has none', async () => {
  const account = sa('default', { imagePullSecrets: [{ name: 'regcred' }] });
  const p = pod();
  await admission([account])(p);
  assert.deepEqual(p.spec!.imagePullSecrets, [{ name: 'regcred' }]);
  const own = pod({ imagePullSecrets: [{ name: 'mine' }] });
  await admission([account])(own);
  assert.deepEqual(own.spec!.imagePullSecrets, [{ name: 'mine' }]);
});

test('kubernetes.io/enforce-mountable-secrets limits a pod to the account\'s secrets', async () => {
  const account = sa('default', { metadata: { name: 'default', namespace: 'ns1', annotations: { 'kubernetes.io/enforce-mountable-secrets': 'true' } }, secrets: [{ name: 'ok' }] });
  await admission([account])(pod({ volumes: [{ name: 'v', secret: { secretName: 'ok' } }] }));
  await assert.rejects(admission([account])(pod({ volumes: [{ name: 'v', secret: { secretName: 'other' } }] })),
    { message: 'pods "p" is forbidden: volume with secret.secretName="other" is not allowed because service account default does not reference that secret' });
  await assert.rejects(admission([account])(pod({ containers: [{ name: 'app', image: 'i', env: [{ name: 'PW', valueFrom: { secretKeyRef: { name: 'other', key: 'k' } } }] }] })),
    { message: 'pods "p" is forbidden: container app with envVar PW referencing secret.secretName="other" is not allowed because service account default does not reference that secret' });
});

test('other resources, subresources and updates pass untouched', async () => {
  const hook = serviceAccountAdmission(async () => assert.fail('no lookup'));
  const p = pod();
  await hook('UPDATE', podsStore, p as Obj, p as Obj, ctx);
  await hook('CREATE', podsStore, p as Obj, undefined, { ...ctx, subresource: 'binding' });
  const saStore = { info: { group: '', resource: 'serviceaccounts' } } as unknown as ResourceStore;
  await hook('CREATE', saStore, sa('x') as Obj, undefined, { ...ctx, subresource: 'token' });
  assert.equal(p.spec!.serviceAccountName, undefined);
});

test('the lookup: cache, then the store; "default" is retried 10 times (the controller creates it a moment after its namespace)', async () => {
  let reads = 0;
  let sleeps = 0;
  const stored = new Map<string, ServiceAccount>();
  const store = {
    cache: { items: new Map<string, { obj: Obj }>() },
    key: (ns: string, name: string) => `/registry/serviceaccounts/${ns}/${name}`,
    getKV: async (ns: string, name: string) => { reads++; const o = stored.get(`${ns}/${name}`); return o ? { value: JSON.stringify(o) } : undefined; },
  } as unknown as ResourceStore;
  const get = serviceAccountGetter(store, async () => { sleeps++; if (sleeps === 3) stored.set('ns1/default', sa('default')); });
  assert.equal((await get('ns1', 'default')).metadata?.name, 'default');
  assert.equal(reads, 4);
  reads = 0; sleeps = 0;
  await assert.rejects(get('ns1', 'builder'), (e: unknown) => isStatusError(e, 'NotFound') && e.message === 'serviceaccount "builder" not found');
  assert.equal(reads, 1);
  reads = 0;
  await assert.rejects(get('ns2', 'default'));
  assert.equal(reads, 10);
  (store.cache.items as Map<string, { obj: Obj }>).set('/registry/serviceaccounts/ns3/default', { obj: sa('default') as Obj });
  reads = 0;
  const first = await get('ns3', 'default');
  assert.equal(reads, 0);
  // A cached one is parsed once per stored version, and shared read-only.
  assert.equal(await get('ns3', 'default'), first);
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first.metadata));
});
