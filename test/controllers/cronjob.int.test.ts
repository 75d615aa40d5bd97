// batch/v1 CronJobs with real kubectl against a real API server, the scheduler,
// simulated nodes and the controller manager. A due run is made without waiting for a
// minute boundary by moving status.lastScheduleTime back (as if runs were missed).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { CronJob, Job } from 'kubernetes-types/batch/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { isStatusError } from '../../src/api/errors.js';
import { R } from '../../src/api/resources.js';
import { nowTime } from '../../src/controllers/base.js';
import { startEnv, kubectl, waitFor, pods, ensureNamespace, type Env } from './helpers.js';

let env: Env;
const ns = 'cron';

before(async () => {
  env = await startEnv(1);
  await ensureNamespace(env, ns);
});
after(async () => { await env?.stop(); });

const cjClient = () => env.client.resource<CronJob>(R.cronjobs);
const jobsOf = async (cj: string): Promise<Job[]> => (await env.client.resource<Job>(R.jobs).list({ namespace: ns })).items.filter((j) => j.metadata?.ownerReferences?.[0]?.name === cj);

test('kubectl create cronjob: defaults, columns; a due run starts a job, its completion is recorded; history limit; create job --from=cronjob; Forbid, Replace, suspend', async () => {
  await env.kubectl('create', 'cronjob', 'c', '--image=busybox', '--schedule=*/1 * * * *', '-n', ns, '--', 'sh', '-c', 'exit 0');
  const cj = await cjClient().get('c', { namespace: ns });
  assert.deepEqual([cj.spec?.concurrencyPolicy, cj.spec?.suspend, cj.spec?.successfulJobsHistoryLimit, cj.spec?.failedJobsHistoryLimit], ['Allow', false, 3, 1]);
  assert.match(await env.kubectl('get', 'cronjobs', '-n', ns), /^NAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE\nc\s+\*\/1 \* \* \* \*\s+<none>\s+False\s+\d\s+\S+\s+\d+s\n$/);

  // Missed runs: the latest is started at once.
  const fresh = await cjClient().get('c', { namespace: ns });
  await cjClient().updateStatus({ ...fresh, status: { ...(fresh.status ?? {}), lastScheduleTime: nowTime(Date.now() - 5 * 60_000) } }, { namespace: ns });
  const [job] = await waitFor('a job of the cronjob', async () => { const js = await jobsOf('c'); return js.length ? js : undefined; });
  assert.match(job!.metadata!.name!, /^c-\d{8}$/);
  const scheduled = Number(job!.metadata!.name!.slice(2)) * 60_000;
  assert.equal(job!.metadata?.annotations?.['batch.kubernetes.io/cronjob-scheduled-timestamp'], nowTime(scheduled));
  const active = await waitFor('status.active', async () => { const c = await cjClient().get('c', { namespace: ns }); return c.status?.active?.length === 1 ? c : undefined; });
  assert.equal(active.status?.active?.[0]?.name, job!.metadata!.name);
  assert.equal(active.status?.lastScheduleTime, nowTime(scheduled));

  // The kubelet's part: the pod exits 0.
  const pod = await waitFor('its pod running', async () => (await pods(env, ns, `job-name=${job!.metadata!.name}`)).find((p) => p.status?.phase === 'Running'));
  const t = nowTime();
  await env.client.resource<Pod>(R.pods).patch(pod.metadata!.name!, 'merge', {
    status: { phase: 'Succeeded', containerStatuses: [{ name: pod.spec!.containers[0]!.name, image: 'busybox', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, startedAt: t, finishedAt: t } } }] },
  }, { namespace: ns, subresource: 'status' });
  const done = await waitFor('the run recorded as successful', async () => { const c = await cjClient().get('c', { namespace: ns }); return c.status?.lastSuccessfulTime && !c.status.active ? c : undefined; })
    .catch(async (e) => { throw new Error(`${String(e)}\ncronjob status ${JSON.stringify((await cjClient().get('c', { namespace: ns })).status)}\njobs ${JSON.stringify((await jobsOf('c')).map((j) => [j.metadata?.name, j.status]))}`); });
  assert.ok(done.status?.lastSuccessfulTime);

  await env.kubectl('create', 'job', 'manual', '--from=cronjob/c', '-n', ns);
  const manual = await env.client.resource<Job>(R.jobs).get('manual', { namespace: ns });
  assert.equal(manual.metadata?.annotations?.['cronjob.kubernetes.io/instantiate'], 'manual');
  assert.equal(manual.spec?.template?.spec?.containers[0]?.image, 'busybox');

  // successfulJobsHistoryLimit 0: the finished run goes.
  await env.kubectl('patch', 'cronjob', 'c', '-n', ns, '-p', '{"spec":{"successfulJobsHistoryLimit":0}}');
  await waitFor('the finished job deleted', async () => !(await jobsOf('c')).some((j) => j.metadata?.name === job!.metadata!.name));

  // The manual job runs and is the cronjob's: Forbid starts no run beside it, Replace replaces it.
  await waitFor('the manual job active', async () => (await cjClient().get('c', { namespace: ns })).status?.active?.some((r) => r.name === 'manual'));
  // A read-modify-write of the status, which the controller writes too: again on a conflict.
  const backdate = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const c = await cjClient().get('c', { namespace: ns });
      try {
        await cjClient().updateStatus({ ...c, status: { ...c.status, lastScheduleTime: nowTime(Date.now() - 5 * 60_000) } }, { namespace: ns });
        return;
      } catch (e) {
        if (attempt >= 5 || !isStatusError(e, 'Conflict')) throw e;
      }
    }
  };
  await env.kubectl('patch', 'cronjob', 'c', '-n', ns, '-p', '{"spec":{"concurrencyPolicy":"Forbid"}}');
  await backdate();
  await waitFor('JobAlreadyActive event', async () => /JobAlreadyActive/.test(await env.kubectl('get', 'events', '-n', ns, '--field-selector', 'involvedObject.kind=CronJob')));
  assert.deepEqual((await jobsOf('c')).map((j) => j.metadata?.name), ['manual']);
  await env.kubectl('patch', 'cronjob', 'c', '-n', ns, '-p', '{"spec":{"concurrencyPolicy":"Replace"}}');
  await backdate();
  const replaced = await waitFor('manual replaced by a scheduled run', async () => {
    const js = (await jobsOf('c')).filter((j) => !j.metadata?.deletionTimestamp);
    return js.length === 1 && js[0]!.metadata?.name !== 'manual' ? js : undefined;
  });
  assert.match(replaced[0]!.metadata!.name!, /^c-\d{8}$/);

  await env.kubectl('patch', 'cronjob', 'c', '-n', ns, '-p', '{"spec":{"suspend":true}}');
  assert.match(await env.kubectl('get', 'cronjob', 'c', '-n', ns), /\nc\s+\*\/1 \* \* \* \*\s+<none>\s+True\s/);
});

test('CronJob validation: an unparseable schedule, TZ in the schedule, an unknown time zone', async () => {
  await assert.rejects(env.kubectl('create', 'cronjob', 'bad', '--image=busybox', '--schedule=61 * * * *', '-n', ns), /spec\.schedule: Invalid value: "61 \* \* \* \*"/);
  await assert.rejects(env.kubectl('create', 'cronjob', 'bad', '--image=busybox', '--schedule=TZ=UTC 0 * * * *', '-n', ns), /cannot use TZ or CRON_TZ in schedule, use timeZone field instead/);
  await assert.rejects(kubectl(env.cluster.kubeconfig, ['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'bad', namespace: ns },
    spec: { schedule: '0 * * * *', timeZone: 'Mars/Olympus', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } } } },
  })), /spec\.timeZone: Invalid value: "Mars\/Olympus": unknown time zone Mars\/Olympus/);
});
