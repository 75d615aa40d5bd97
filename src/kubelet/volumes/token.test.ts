import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { MountError, VolumeManager, tokenRefreshAt, type IssuedToken } from './index.js';

const HOUR = 3600_000;

test('tokens are refreshed at 80% of their lifetime or after 24 h, less a jitter', () => {
  const exp = Date.parse('2026-01-01T12:00:00Z');
  assert.equal(tokenRefreshAt(exp, 3607, 0), exp - 721_400);
  assert.equal(tokenRefreshAt(exp, 3600, 5000), exp - 720_000 - 5000);
  // 48 h tokens: after 24 h, not after 38.4 h.
  assert.equal(tokenRefreshAt(exp, 48 * 3600, 0), exp - 24 * HOUR);
  const r = tokenRefreshAt(exp, 3600);
  assert.ok(r <= exp - 720_000 && r > exp - 730_000);
});

function tokenPod(): Pod {
  return {
    metadata: { name: 'p', namespace: 'ns1', uid: 'uid-1' },
    spec: {
      serviceAccountName: 'default', containers: [{ name: 'c', image: 'i' }],
      volumes: [{ name: 'kube-api-access-abcde', projected: { defaultMode: 0o644, sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ] } }],
    },
  };
}

test('the kube-api-access volume: token, CA and namespace; the token is replaced through a ..data swap when due', async () => {
  mock.timers.enable({ apis: ['Date', 'setTimeout'], now: Date.parse('2026-01-01T00:00:00Z') });
  const root = mkdtempSync(join(tmpdir(), 'jotasu-tok-'));
  try {
    let issued = 0;
    let fail = false;
    const due: string[] = [];
    const vm = new VolumeManager(root, {
      configMap: (ns, name) => (ns === 'ns1' && name === 'kube-root-ca.crt' ? { data: { 'ca.crt': 'CA PEM' } } : undefined),
      secret: () => undefined,
      serviceAccountToken: async (_pod, _aud, exp): Promise<IssuedToken> => {
        if (fail) throw new Error('connect ECONNREFUSED');
        issued++;
        return { token: `token-${issued}`, expirationTimestamp: new Date(Date.now() + exp * 1000).toISOString() };
      },
    }, { onTokenRefreshDue: (uid) => due.push(uid) });
    const pod = tokenPod();
    const dir = (await vm.setUp(pod)).get('kube-api-access-abcde')!;
    assert.equal(readFileSync(join(dir, 'token'), 'utf8'), 'token-1');
    assert.equal(readFileSync(join(dir, 'ca.crt'), 'utf8'), 'CA PEM');
    assert.equal(readFileSync(join(dir, 'namespace'), 'utf8'), 'ns1');
    assert.equal(readlinkSync(join(dir, 'token')), '..data/token');
    const firstData = readlinkSync(join(dir, '..data'));
    // Syncs before the refresh is due reuse the token.
    mock.timers.tick(HOUR / 3);
    await vm.setUp(pod);
    assert.equal(issued, 1);
    assert.deepEqual(due, []);
    // At 80% of 3607 s (less up to 10 s of jitter) the pod is told to sync; that sync asks again.
    mock.timers.tick(2885_600 - HOUR / 3);
    assert.deepEqual(due, ['uid-1']);
    await vm.setUp(pod);
    assert.equal(issued, 2);
    assert.equal(readFileSync(join(dir, 'token'), 'utf8'), 'token-2');
    assert.notEqual(readlinkSync(join(dir, '..data')), firstData);
    // A failed refresh keeps the valid token and tries again later.
    mock.timers.tick(2886_000);
    fail = true;
    await vm.setUp(pod);
    assert.equal(readFileSync(join(dir, 'token'), 'utf8'), 'token-2');
    fail = false;
    mock.timers.tick(30_000);
    assert.equal(due.length, 3);
    await vm.setUp(pod);
    assert.equal(readFileSync(join(dir, 'token'), 'utf8'), 'token-3');
    // Without any token the mount fails, as upstream.
    fail = true;
    const other: Pod = { ...tokenPod(), metadata: { name: 'q', namespace: 'ns1', uid: 'uid-2' } };
    await assert.rejects(vm.setUp(other), (e: unknown) => e instanceof MountError
      && e.message === 'MountVolume.SetUp failed for volume "kube-api-access-abcde" : failed to fetch token: connect ECONNREFUSED');
    await vm.tearDown('uid-1');
    vm.close();
  } finally {
    mock.timers.reset();
    rmSync(root, { recursive: true, force: true });
  }
});
