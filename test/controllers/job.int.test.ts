// batch/v1 Jobs with real kubectl against a real API server, the scheduler, simulated
// nodes and the controller manager. Simulated nodes run no containers: the test plays
// the kubelet's part of finishing a pod (phase Succeeded/Failed with the container's
// exit code in its status), as a kubelet would report `sh -c 'exit 0'` / `exit 1`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Job } from 'kubernetes-types/batch/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { R } from '../../src/api/resources.js';
import { nowTime } from '../../src/controllers/base.js';
import { startEnv, kubectl, waitFor, pods, ensureNamespace, type Env } from './helpers.js';

let env: Env;
const ns = 'jobs';

before(async () => {
  env = await startEnv(2);
  await ensureNamespace(env, ns);
});
after(async () => { await env?.stop(); });

const apply = (obj: unknown): Promise<string> => kubectl(env.cluster.kubeconfig, ['apply', '-f', '-'], JSON.stringify(obj));
const getJob = (name: string): Promise<Job> => env.client.resource<Job>(R.jobs).get(name, { namespace: ns });

/** Report the pod's only container as exited with `code`, as the kubelet does for a restartPolicy Never pod. */
async function finishPod(p: Pod, code: number, conditions: { type: string; status: string }[] = []): Promise<void> {
  const t = nowTime();
  const c = p.spec!.containers[0]!;
  await env.client.resource<Pod>(R.pods).patch(p.metadata!.name!, 'merge', {
    metadata: { uid: p.metadata!.uid },
    status: {
      phase: code === 0 ? 'Succeeded' : 'Failed',
      conditions: [{ type: 'Ready', status: 'False', reason: 'PodCompleted', lastTransitionTime: t }, ...conditions.map((c) => ({ ...c, lastTransitionTime: t }))],
      containerStatuses: [{ name: c.name, image: c.image, imageID: '', ready: false, restartCount: 0, started: false,
        state: { terminated: { exitCode: code, reason: code === 0 ? 'Completed' : 'Error', startedAt: t, finishedAt: t } } }],
    },
  }, { namespace: ns, subresource: 'status' });
}

const running = async (selector: string, n: number): Promise<Pod[]> => waitFor(`${n} running pod(s) of ${selector}`, async () => {
  const ps = (await pods(env, ns, selector)).filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
  return ps.length === n ? ps : undefined;
});

test('kubectl create job: defaults, generated selector, tracking finalizer, completes; kubectl get/wait/delete', async () => {
  await env.kubectl('create', 'job', 'ok', '--image=busybox', '-n', ns, '--', 'sh', '-c', 'exit 0');
  const job = await getJob('ok');
  const uid = job.metadata!.uid!;
  assert.deepEqual(
    { completions: job.spec?.completions, parallelism: job.spec?.parallelism, backoffLimit: job.spec?.backoffLimit, completionMode: job.spec?.completionMode,
      suspend: job.spec?.suspend, manualSelector: job.spec?.manualSelector, podReplacementPolicy: job.spec?.podReplacementPolicy },
    { completions: 1, parallelism: 1, backoffLimit: 6, completionMode: 'NonIndexed', suspend: false, manualSelector: false, podReplacementPolicy: 'TerminatedOrFailed' });
  assert.deepEqual(job.spec?.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } });
  const want = { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': 'ok', 'controller-uid': uid, 'job-name': 'ok' };
  assert.deepEqual(job.spec?.template?.metadata?.labels, want);
  assert.deepEqual(job.metadata?.labels, want, 'the job takes its template labels');

  const [pod] = await running('job-name=ok', 1);
  assert.ok(pod!.metadata?.name?.startsWith('ok-'));
  assert.deepEqual(pod!.metadata?.finalizers, ['batch.kubernetes.io/job-tracking']);
  assert.equal(pod!.metadata?.ownerReferences?.[0]?.kind, 'Job');
  assert.equal(pod!.metadata?.ownerReferences?.[0]?.controller, true);
  const runningJob = await waitFor('status.active 1', async () => { const j = await getJob('ok'); return j.status?.active === 1 && j.status.ready === 1 ? j : undefined; });
  assert.ok(runningJob.status?.startTime);
  assert.match(await env.kubectl('get', 'jobs', '-n', ns), /^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE\nok\s+Running\s+0\/1\s+\d+s\s+\d+s\n$/);

  await finishPod(pod!, 0);
  await env.kubectl('wait', '--for=condition=complete', 'job/ok', '-n', ns, '--timeout=30s');
  const done = await getJob('ok');
  assert.equal(done.status?.succeeded, 1);
  assert.equal(done.status?.active, undefined);
  assert.ok(done.status?.completionTime);
  assert.deepEqual(done.status?.uncountedTerminatedPods, {});
  assert.deepEqual(done.status?.conditions?.map((c) => [c.type, c.status, c.reason]), [['SuccessCriteriaMet', 'True', 'CompletionsReached'], ['Complete', 'True', 'CompletionsReached']]);
  const after = await env.client.resource<Pod>(R.pods).get(pod!.metadata!.name!, { namespace: ns });
  assert.deepEqual(after.metadata?.finalizers ?? [], [], 'the counted pod lost its tracking finalizer');
  assert.match(await env.kubectl('get', 'jobs', '-n', ns, '-o', 'wide'), /\nok\s+Complete\s+1\/1\s+\d+s\s+\d+s\s+ok\s+busybox\s+batch\.kubernetes\.io\/controller-uid=/);
  assert.match(await env.kubectl('get', 'jobs', '-n', ns, '--field-selector', 'status.successful=1', '-o', 'name'), /^job\.batch\/ok\n$/);

  assert.match(await env.kubectl('explain', 'job.spec.backoffLimit'), /GROUP:\s+batch\nKIND:\s+Job\nVERSION:\s+v1\n\nFIELD: backoffLimit <integer>/);

  await env.kubectl('delete', 'job', 'ok', '-n', ns);
  await waitFor('the job\'s pods deleted with it', async () => (await pods(env, ns, 'job-name=ok')).length === 0);
});

test('a failing job retries with backoff and fails with BackoffLimitExceeded; restartPolicy Always is refused', async () => {
  await apply({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'bad', namespace: ns },
    spec: { backoffLimit: 1, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'exit 1'] }] } } },
  });
  const [first] = await running('job-name=bad', 1);
  await finishPod(first!, 1);
  await waitFor('failed 1', async () => (await getJob('bad')).status?.failed === 1);
  // The replacement waits for the pod failure backoff (10 s), then runs.
  const [second] = await running('job-name=bad', 1);
  assert.notEqual(second!.metadata!.name, first!.metadata!.name);
  await finishPod(second!, 1);
  await env.kubectl('wait', '--for=condition=failed', 'job/bad', '-n', ns, '--timeout=30s');
  const job = await getJob('bad');
  assert.equal(job.status?.failed, 2);
  const failed = job.status?.conditions?.find((c) => c.type === 'Failed');
  assert.equal(failed?.reason, 'BackoffLimitExceeded');
  assert.equal(failed?.message, 'Job has reached the specified backoff limit');
  assert.equal(job.status?.conditions?.find((c) => c.type === 'FailureTarget')?.reason, 'BackoffLimitExceeded');
  assert.equal(job.status?.completionTime, undefined);
  assert.match(await env.kubectl('get', 'job', 'bad', '-n', ns), /\nbad\s+Failed\s+0\/1\s/);
  assert.match(await env.kubectl('describe', 'job', 'bad', '-n', ns), /Pods Statuses:\s+0 Active \(0 Ready\) \/ 0 Succeeded \/ 2 Failed[\s\S]*BackoffLimitExceeded/);

  // batch/v1 keeps a job's pods when the DELETE names no propagationPolicy, and says so.
  const r = await env.client.request('DELETE', `/apis/batch/v1/namespaces/${ns}/jobs/bad`);
  assert.equal(r.status, 200);
  assert.match(String(r.headers.warning), /child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them/);
  const orphans = await waitFor('the pods orphaned', async () => {
    const ps = await pods(env, ns, 'job-name=bad');
    return ps.length === 2 && ps.every((p) => !p.metadata?.ownerReferences?.length) ? ps : undefined;
  });
  assert.equal(orphans.length, 2);

  await assert.rejects(apply({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'always', namespace: ns },
    spec: { template: { spec: { restartPolicy: 'Always', containers: [{ name: 'c', image: 'busybox' }] } } },
  }), /spec\.template\.spec\.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"/);
});

test('Indexed job: one pod per index with JOB_COMPLETION_INDEX, completedIndexes; activeDeadlineSeconds; ttlSecondsAfterFinished', async () => {
  await apply({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'idx', namespace: ns },
    spec: { completions: 3, parallelism: 2, completionMode: 'Indexed', ttlSecondsAfterFinished: 600,
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } },
  });
  const two = await running('job-name=idx', 2);
  const indexOf = (p: Pod): string | undefined => p.metadata?.annotations?.['batch.kubernetes.io/job-completion-index'];
  assert.deepEqual(two.map(indexOf).sort(), ['0', '1']);
  for (const p of two) {
    assert.equal(p.spec?.hostname, `idx-${indexOf(p)}`);
    assert.deepEqual(p.spec?.containers[0]?.env, [{ name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } }]);
  }
  await finishPod(two.find((p) => indexOf(p) === '1')!, 0);
  const next = await waitFor('index 2 started', async () => (await pods(env, ns, 'job-name=idx')).find((p) => indexOf(p) === '2' && p.status?.phase === 'Running'));
  assert.equal((await getJob('idx')).status?.completedIndexes, '1');
  await finishPod(two.find((p) => indexOf(p) === '0')!, 0);
  await finishPod(next, 0);
  const done = await waitFor('complete', async () => { const j = await getJob('idx'); return j.status?.conditions?.some((c) => c.type === 'Complete') ? j : undefined; });
  assert.equal(done.status?.completedIndexes, '0-2');
  assert.equal(done.status?.succeeded, 3);
  // ttlSecondsAfterFinished, lowered to 1 once Complete was seen (created with 1, a loaded
  // machine's poll could miss the finished job before its deletion): the TTL-after-finished
  // controller deletes it and its pods.
  await env.kubectl('patch', 'job', 'idx', '-n', ns, '--type=merge', '-p', '{"spec":{"ttlSecondsAfterFinished":1}}');
  await waitFor('deleted after its TTL', async () => {
    try { await getJob('idx'); return false; } catch { return (await pods(env, ns, 'job-name=idx')).length === 0; }
  });

  await apply({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'slow', namespace: ns },
    spec: { activeDeadlineSeconds: 2, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } },
  });
  await env.kubectl('wait', '--for=condition=failed', 'job/slow', '-n', ns, '--timeout=30s');
  const slow = await getJob('slow');
  assert.equal(slow.status?.conditions?.find((c) => c.type === 'Failed')?.reason, 'DeadlineExceeded');
  assert.equal(slow.status?.active, undefined);
  await waitFor('its pod deleted', async () => (await pods(env, ns, 'job-name=slow')).length === 0);
});

test('podFailurePolicy: a DisruptionTarget failure is ignored and replaced at once, exit code 42 fails the job', async () => {
  await apply({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'pfp', namespace: ns },
    spec: { podFailurePolicy: { rules: [
      { action: 'FailJob', onExitCodes: { operator: 'In', values: [42] } },
      { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] },
    ] }, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] } } },
  });
  assert.equal((await getJob('pfp')).spec?.podReplacementPolicy, 'Failed');
  const [first] = await running('job-name=pfp', 1);
  await finishPod(first!, 137, [{ type: 'DisruptionTarget', status: 'True' }]);
  const [second] = await running('job-name=pfp', 1);
  assert.notEqual(second!.metadata!.name, first!.metadata!.name);
  assert.equal((await getJob('pfp')).status?.failed, undefined, 'the ignored failure is not counted');
  await finishPod(second!, 42);
  await env.kubectl('wait', '--for=condition=failed', 'job/pfp', '-n', ns, '--timeout=30s');
  const job = await getJob('pfp');
  const failed = job.status?.conditions?.find((c) => c.type === 'Failed');
  assert.equal(failed?.reason, 'PodFailurePolicy');
  assert.equal(failed?.message, `Container main for pod ${ns}/${second!.metadata!.name} failed with exit code 42 matching FailJob rule at index 0`);
  assert.equal(job.status?.failed, 1);
});
