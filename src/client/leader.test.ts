import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import { createMemoryCluster } from '../../test/client/memory-client.js';
import { microTime, runLeaderElection } from './leader.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

// Short periods so that the test runs in seconds: lease 2 s (whole seconds on the wire), renew deadline 1 s, retry 0.2 s.
const fast = { leaseDurationSeconds: 2, renewDeadlineSeconds: 1, retryPeriodSeconds: 0.2 };

function candidate(cluster: ReturnType<typeof createMemoryCluster>, identity: string) {
  const client = cluster.connect();
  const st = { leading: false, started: 0, stopped: 0, signal: undefined as AbortSignal | undefined, at: 0 };
  const el = runLeaderElection({
    client, namespace: 'kube-system', name: 'sched', identity, ...fast,
    onStartedLeading: (signal) => { st.leading = true; st.started++; st.signal = signal; st.at = Date.now(); },
    onStoppedLeading: () => { st.leading = false; st.stopped++; },
  });
  return { client, st, el };
}

const lease = (c: ReturnType<typeof createMemoryCluster>): Lease => c.objects.get('leases/kube-system/sched') as Lease;

test('microTime has microseconds', () => {
  assert.equal(microTime(new Date('2024-01-02T03:04:05.678Z')), '2024-01-02T03:04:05.678000Z');
});

test('one leader at a time; stop releases and the other takes over at once', async () => {
  const cluster = createMemoryCluster();
  const a = candidate(cluster, 'a');
  await waitFor(() => a.st.leading, 'a leads');
  const b = candidate(cluster, 'b');
  await sleep(500);
  assert.equal(b.st.leading, false, 'b waits while a renews');
  assert.equal(lease(cluster).spec!.holderIdentity, 'a');
  assert.equal(lease(cluster).spec!.leaseTransitions, 0);
  assert.equal(a.el.isLeader(), true);
  assert.equal(b.el.leader(), 'a');
  const renewedAt = lease(cluster).spec!.renewTime;
  await sleep(400);
  assert.notEqual(lease(cluster).spec!.renewTime, renewedAt, 'the leader renews');

  const t0 = Date.now();
  await a.el.stop();
  assert.equal(a.st.signal!.aborted, true);
  assert.equal(a.st.stopped, 1);
  assert.equal(lease(cluster).spec!.holderIdentity, b.st.leading ? 'b' : '');
  await waitFor(() => b.st.leading, 'b takes over');
  assert.ok(Date.now() - t0 < 600, `takeover after release took ${Date.now() - t0} ms`);
  assert.equal(lease(cluster).spec!.holderIdentity, 'b');
  assert.equal(lease(cluster).spec!.leaseTransitions, 1);
  await b.el.stop();
});

test('a leader that cannot renew steps down after renewDeadline; another takes over within leaseDuration', async () => {
  const cluster = createMemoryCluster();
  const a = candidate(cluster, 'a');
  await waitFor(() => a.st.leading, 'a leads');
  const b = candidate(cluster, 'b');
  try {
    await sleep(600);
    // Cut a off from the API server: it stops renewing.
    a.client.partitioned = true;
    const lastRenew = Date.parse(lease(cluster).spec!.renewTime!);
    await waitFor(() => !a.st.leading, 'a steps down', 3000);
    const downAt = Date.now();
    assert.ok(a.st.signal!.aborted);
    // Upper bounds are generous (a loaded CI machine delays timers); the order is what matters.
    assert.ok(downAt - lastRenew <= 1000 + 1000, `a stepped down ${downAt - lastRenew} ms after its last renewal`);
    assert.equal(b.st.leading, false, 'b has not taken over before a stepped down');
    await waitFor(() => b.st.leading, 'b takes over', 3000);
    const took = b.st.at - lastRenew;
    assert.ok(took >= 1000 && took <= 2000 + 1000, `b took over ${took} ms after a's last renewal`);
    // a comes back: it is a candidate again and does not disturb b.
    a.client.partitioned = false;
    await sleep(600);
    assert.equal(a.st.leading, false);
    assert.equal(b.st.leading, true);
    await b.el.stop();
    await waitFor(() => a.st.leading, 'a leads again');
    assert.equal(a.st.started, 2);
  } finally {
    await Promise.all([a.el.stop(), b.el.stop()]);
  }
});

test('many candidates: never two leaders', async () => {
  const cluster = createMemoryCluster();
  const cs = Array.from({ length: 5 }, (_, i) => candidate(cluster, `c${i}`));
  let maxLeaders = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < 2500) {
    const n = cs.filter((c) => c.st.leading).length;
    maxLeaders = Math.max(maxLeaders, n);
    // Stop whoever leads, now and then, to force handovers.
    const leader = cs.find((c) => c.st.leading);
    if (leader && Date.now() - leader.st.at > 400) await leader.el.stop();
    await sleep(10);
  }
  assert.equal(maxLeaders, 1);
  await Promise.all(cs.map((c) => c.el.stop()));
});

test('config is validated', () => {
  const cluster = createMemoryCluster();
  const cb = { onStartedLeading() {}, onStoppedLeading() {} };
  assert.throws(() => runLeaderElection({ client: cluster.connect(), namespace: 'n', name: 'x', identity: 'i', leaseDurationSeconds: 5, renewDeadlineSeconds: 5, ...cb }), /leaseDuration must be greater/);
  assert.throws(() => runLeaderElection({ client: cluster.connect(), namespace: 'n', name: 'x', identity: '', ...cb }), /identity/);
});
