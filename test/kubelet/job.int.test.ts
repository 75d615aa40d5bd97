// Jobs on a real node: busybox under runc exits 0 or 1, the kubelet reports the pod
// Succeeded or Failed, and the server's own Job controller completes or fails the job.
// Indexed pods read their index from JOB_COMPLETION_INDEX (downward API on the annotation).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Job } from 'kubernetes-types/batch/v1.js';
import { startKubeletEnv, kubectlApply, type KubeletEnv } from './env.js';
import { R } from '../../src/api/resources.js';

let env: KubeletEnv;
before(async () => { env = await startKubeletEnv(); });
after(async () => { await env?.stop(); });

const kubectl = (...args: string[]): Promise<string> => env.cluster.kubectlOk(args);

test('kubectl create job: `exit 0` completes, `exit 1` fails with BackoffLimitExceeded; kubectl delete job removes its pods', async () => {
  await kubectl('create', 'job', 'ok', `--image=${env.busybox}`, '--', 'sh', '-c', 'exit 0');
  await kubectl('wait', '--for=condition=complete', 'job/ok', '--timeout=120s');
  assert.match(await kubectl('get', 'jobs', 'ok'), /^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE\nok\s+Complete\s+1\/1\s+\d+s\s+\d+s\n$/);
  assert.match(await kubectl('get', 'pods', '-l', 'job-name=ok', '--no-headers'), /^ok-\w+\s+0\/1\s+Completed\s+0\s/);

  await kubectlApply(env, JSON.stringify({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'bad' },
    spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: env.busybox, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'exit 1'] }] } } },
  }));
  await kubectl('wait', '--for=condition=failed', 'job/bad', '--timeout=120s');
  const bad = await env.client.resource<Job>(R.jobs).get('bad', { namespace: 'default' });
  assert.equal(bad.status?.failed, 1);
  assert.equal(bad.status?.conditions?.find((c) => c.type === 'Failed')?.reason, 'BackoffLimitExceeded');
  assert.match(await kubectl('get', 'pods', '-l', 'job-name=bad', '--no-headers'), /^bad-\w+\s+0\/1\s+Error\s+0\s/);

  await kubectl('delete', 'job', 'ok', 'bad');
  const t0 = Date.now();
  while ((await kubectl('get', 'pods', '-l', 'job-name in (ok,bad)', '-o', 'name')).trim()) {
    assert.ok(Date.now() - t0 < 60_000, 'the jobs\' pods are deleted with them');
    await new Promise((r) => setTimeout(r, 200));
  }
});

test('Indexed job: each pod sees its JOB_COMPLETION_INDEX', async () => {
  await kubectlApply(env, JSON.stringify({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'idx' },
    spec: { completions: 2, parallelism: 2, completionMode: 'Indexed',
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: env.busybox, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'echo "index=$JOB_COMPLETION_INDEX host=$(hostname)"'] }] } } },
  }));
  await kubectl('wait', '--for=condition=complete', 'job/idx', '--timeout=120s');
  const names = (await kubectl('get', 'pods', '-l', 'job-name=idx', '-o', 'jsonpath={range .items[*]}{.metadata.annotations.batch\\.kubernetes\\.io/job-completion-index} {.metadata.name}{"\\n"}{end}')).trim().split('\n').sort();
  assert.equal(names.length, 2, 'one pod per index');
  for (const line of names) {
    const [index, pod] = line.split(' ') as [string, string];
    assert.equal((await kubectl('logs', pod)).trim(), `index=${index} host=idx-${index}`);
  }
  assert.equal((await env.client.resource<Job>(R.jobs).get('idx', { namespace: 'default' })).status?.completedIndexes, '0,1');
  await kubectl('delete', 'job', 'idx');
});
