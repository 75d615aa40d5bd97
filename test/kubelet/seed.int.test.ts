// The seed's pod (shared/seed/webapp.yaml) on a real node: runc + CNI, images from a
// loopback registry. nginx stays nginx (built from Debian's package); the seed's
// `mongo` container is a busybox stand-in that listens on 27017 (no mongo image is
// built offline). Checks: Running and Ready, the ConfigMap's variables in the
// webapp container, the two containers reach each other on localhost, then delete:
// SIGTERM with the grace period and nothing left on the host.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { startKubeletEnv, kubectlApply, type KubeletEnv } from './env.js';
import { R } from '../../src/api/resources.js';
import { LABEL_CONTAINER_NAME, LABEL_POD_UID } from '../../src/kubelet/container-config.js';

let env: KubeletEnv;
before(async () => { env = await startKubeletEnv(); });
after(async () => { await env?.stop(); });

/** Runs a command in a pod's container through runc (what exec will do later). */
async function execIn(pod: Pod, container: string, cmd: string[]): Promise<string> {
  const { execFileSync } = await import('node:child_process');
  const { readdirSync, readFileSync: rf } = await import('node:fs');
  const { join } = await import('node:path');
  const dir = join(env.agentDir, 'agent', 'containers');
  for (const id of readdirSync(dir)) {
    const rec = JSON.parse(rf(join(dir, id, 'container.json'), 'utf8')) as { config: { labels: Record<string, string> } };
    if (rec.config.labels[LABEL_POD_UID] !== pod.metadata!.uid || rec.config.labels[LABEL_CONTAINER_NAME] !== container) continue;
    try { return execFileSync('runc', ['--root', join(env.runDir, 'runc'), 'exec', id, ...cmd], { encoding: 'utf8', timeout: 10_000 }); } catch { /* older instance */ }
  }
  throw new Error(`no running container ${container} in ${pod.metadata!.name}`);
}

test('the seed pod runs, is Ready, has its ConfigMap env, containers talk over localhost; delete leaves nothing', async () => {
  const docs = parseAllDocuments(readFileSync('/work/shared/seed/webapp.yaml', 'utf8')).map((d) => d.toJSON() as Record<string, unknown>);
  const pod = docs.find((d) => d.kind === 'Pod') as unknown as Pod;
  const cm = docs.find((d) => d.kind === 'ConfigMap')!;
  const web = pod.spec!.containers.find((c) => c.name === 'webapp')!;
  web.image = env.nginx;
  web.imagePullPolicy = 'IfNotPresent';
  web.readinessProbe = { httpGet: { path: '/', port: 80 }, periodSeconds: 1 };
  const db = pod.spec!.containers.find((c) => c.name === 'database')!;
  db.image = env.busybox;
  // mongo stand-in: answers on 27017, and traps TERM to show the graceful stop.
  db.command = ['sh', '-c', 'trap "echo got-TERM > /tmp/term; exit 0" TERM; while true; do echo mongo | nc -l -p 27017 >/dev/null; done & wait'];
  pod.spec!.terminationGracePeriodSeconds = 5;
  await kubectlApply(env, JSON.stringify(cm));
  await kubectlApply(env, JSON.stringify(pod));

  const running = await env.waitPod('webapp-with-db', (p) => p.status?.phase === 'Running'
    && p.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True', 60_000);
  assert.equal(running.spec?.nodeName, env.nodeName);
  assert.match(running.status!.podIP!, /^10\.\d+\.\d+\.\d+$/);
  for (const t of ['PodScheduled', 'PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready']) {
    assert.equal(running.status!.conditions!.find((c) => c.type === t)?.status, 'True', `${t}: ${JSON.stringify(running.status!.conditions)}`);
  }
  for (const s of running.status!.containerStatuses!) {
    assert.ok(s.state?.running, `${s.name} running`);
    assert.match(s.containerID!, /^runc:\/\/[0-9a-f]{64}$/);
    assert.equal(s.restartCount, 0);
  }

  const envOut = await execIn(running, 'webapp', ['env']);
  assert.match(envOut, /^WEBAPP_ENV=production$/m);
  assert.match(envOut, /^DATABASE_URL=mongodb:\/\/database-service:27017\/mydb$/m);
  // Each test cluster has its own service network (test/kubelet/env.ts): the first IP of it.
  assert.ok(envOut.split('\n').includes(`KUBERNETES_SERVICE_HOST=${env.cluster.serviceCidr.replace(/\.0\/\d+$/, '.1')}`), envOut);

  // localhost between the two containers, both ways.
  assert.match(await execIn(running, 'webapp', ['sh', '-c', 'nc 127.0.0.1 27017 </dev/null']), /mongo/);
  assert.match(await execIn(running, 'database', ['wget', '-qO-', 'http://127.0.0.1:80/']), /jotasu nginx/);
  // Pod DNS config.
  const resolv = await execIn(running, 'webapp', ['cat', '/etc/resolv.conf']);
  assert.ok(resolv.split('\n').includes(`nameserver ${env.cluster.clusterDns}`), resolv);
  assert.match(resolv, /search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local/);
  assert.match(resolv, /options ndots:5/);

  // Logs through the API server's proxy to this kubelet's HTTPS server.
  const logs = await env.cluster.kubectl(['logs', 'webapp-with-db', '-c', 'webapp']);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /GET \/ HTTP/);

  // Delete: the kubelet stops the containers (TERM first), removes the sandbox, then the pod object.
  const t0 = Date.now();
  const del = await env.cluster.kubectl(['delete', 'pod', 'webapp-with-db', '--wait=true', '--timeout=60s']);
  assert.equal(del.code, 0, del.stderr);
  assert.ok(Date.now() - t0 < 30_000);
  await assert.rejects(env.client.resource<Pod>(R.pods).get('webapp-with-db', { namespace: 'default' }));
  // The recorder sends events asynchronously (batched, rate-limited as upstream's): the
  // kubelet's last one, Killing, may still be on its way when the pod is gone.
  const want = ['Scheduled', 'Pulling', 'Pulled', 'Created', 'Started', 'Killing'];
  let reasons: string[] = [];
  for (const until = Date.now() + 15_000; ;) {
    const events = await env.cluster.kubectl(['get', 'events', '-o', 'json']);
    reasons = (JSON.parse(events.stdout) as { items: { reason: string }[] }).items.map((e) => e.reason);
    if (want.every((r) => reasons.includes(r)) || Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  for (const r of want) assert.ok(reasons.includes(r), `event ${r} in ${reasons.join(',')}`);
  // Nothing of the pod left on the host (the bridge itself stays until the agent drains).
  const left = env.leftovers().filter((l) => !l.startsWith('cgroup:') && !l.startsWith('links: ' + env.bridge + '\n'));
  const veths = left.filter((l) => l.startsWith('links:') && l.replace(env.bridge, '').replace('links:', '').replace(/,/g, '').trim());
  assert.deepEqual(left.filter((l) => !l.startsWith('links:')), [], left.join('\n'));
  assert.deepEqual(veths, []);
});
