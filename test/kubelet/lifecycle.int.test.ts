// Container lifecycle on a real node: restarts after kill -9, CrashLoopBackOff with
// growing delays, liveness restarts, readiness without restarts, graceful deletion
// with SIGTERM, upstream reasons for pods the node cannot run, init containers and
// volumes, and an agent restart that adopts running containers.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Event, Pod } from 'kubernetes-types/core/v1.js';
import { startKubeletEnv, kubectlApply, type KubeletEnv } from './env.js';
import { R } from '../../src/api/resources.js';

let env: KubeletEnv;
before(async () => { env = await startKubeletEnv(); });
after(async () => { await env?.stop(); });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pod(name: string, spec: Partial<Pod['spec']> & { containers: NonNullable<Pod['spec']>['containers'] }): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
    spec: {
      terminationGracePeriodSeconds: 2,
      ...spec,
      containers: spec.containers.map((c) => ({ imagePullPolicy: 'IfNotPresent', image: env.busybox, ...c })),
      initContainers: spec.initContainers?.map((c) => ({ imagePullPolicy: 'IfNotPresent', image: env.busybox, ...c })),
    },
  } as Pod;
}

async function create(p: Pod): Promise<void> {
  await env.client.resource<Pod>(R.pods).create(p, { namespace: 'default' });
}

async function events(name: string): Promise<Event[]> {
  const list = await env.client.resource<Event>(R.events).list({ namespace: 'default', fieldSelector: `involvedObject.name=${name}` });
  return list.items;
}

const cs = (p: Pod, name?: string) => p.status?.containerStatuses?.find((c) => !name || c.name === name);
const ready = (p: Pod) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

function containerPid(containerID: string): number {
  const id = containerID.replace('runc://', '');
  return Number(readFileSync(join(env.agentDir, 'agent', 'containers', id, 'pid'), 'utf8').trim());
}

describe('kubelet lifecycle', { concurrency: true }, () => {
  test('kill -9 of the main process: restarted, restartCount goes up', async () => {
    await create(pod('killme', { containers: [{ name: 'main', command: ['sleep', '3600'] }] }));
    const p = await env.waitPod('killme', (x) => !!cs(x)?.state?.running);
    const first = cs(p)!.containerID!;
    process.kill(containerPid(first), 'SIGKILL');
    const p2 = await env.waitPod('killme', (x) => cs(x)?.restartCount === 1 && !!cs(x)?.state?.running, 30_000);
    assert.notEqual(cs(p2)!.containerID, first);
    assert.equal(cs(p2)!.lastState?.terminated?.exitCode, 137);
    assert.equal(cs(p2)!.lastState?.terminated?.containerID, first);
    assert.equal(p2.status?.phase, 'Running');
  });

  test('a container that keeps exiting: CrashLoopBackOff with growing delays', async () => {
    await create(pod('crasher', { containers: [{ name: 'crash', command: ['sh', '-c', 'echo bye; exit 3'] }] }));
    const p1 = await env.waitPod('crasher', (x) => cs(x)?.state?.waiting?.reason === 'CrashLoopBackOff', 30_000);
    assert.match(cs(p1)!.state!.waiting!.message!, /^back-off 10s restarting failed container=crash pod=crasher_default\(/);
    assert.equal(cs(p1)!.lastState?.terminated?.exitCode, 3);
    assert.equal(cs(p1)!.lastState?.terminated?.reason, 'Error');
    const p2 = await env.waitPod('crasher', (x) => /^back-off 20s/.test(cs(x)?.state?.waiting?.message ?? ''), 40_000);
    assert.ok(cs(p2)!.restartCount >= 2);
    // Delays between the restarts grow: finishedAt of run n → startedAt of run n+1.
    const ev = await events('crasher');
    assert.ok(ev.some((e) => e.reason === 'BackOff' && /Back-off restarting failed container crash in pod crasher_default/.test(e.message ?? '')));
    assert.equal(p2.status?.phase, 'Running');
  });

  test('a failing liveness probe restarts the container (Unhealthy, Killing)', async () => {
    await create(pod('liveness', { containers: [{
      name: 'app', command: ['sh', '-c', 'touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 3600'],
      livenessProbe: { exec: { command: ['cat', '/tmp/healthy'] }, periodSeconds: 1, failureThreshold: 2 },
    }] }));
    const p = await env.waitPod('liveness', (x) => (cs(x)?.restartCount ?? 0) >= 1, 40_000);
    assert.ok(cs(p)!.lastState?.terminated);
    const ev = await events('liveness');
    assert.ok(ev.some((e) => e.reason === 'Unhealthy' && /^Liveness probe failed: /.test(e.message ?? '')), JSON.stringify(ev.map((e) => e.reason)));
    assert.ok(ev.some((e) => e.reason === 'Killing' && e.message === 'Container app failed liveness probe, will be restarted'));
  });

  test('a failing readiness probe makes the pod NotReady without a restart', async () => {
    await create(pod('readiness', { containers: [{
      name: 'app', command: ['sh', '-c', 'touch /tmp/ready; sleep 3600'],
      readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1, failureThreshold: 1 },
    }] }));
    const p = await env.waitPod('readiness', ready, 30_000);
    assert.equal(cs(p)!.ready, true);
    // Break readiness from inside.
    const { execFileSync } = await import('node:child_process');
    execFileSync('runc', ['--root', join(env.runDir, 'runc'), 'exec', cs(p)!.containerID!.replace('runc://', ''), 'rm', '/tmp/ready']);
    const p2 = await env.waitPod('readiness', (x) => !ready(x), 20_000);
    const r = p2.status!.conditions!.find((c) => c.type === 'Ready')!;
    assert.equal(r.reason, 'ContainersNotReady');
    assert.equal(r.message, 'containers with unready status: [app]');
    await sleep(3000);
    const p3 = await env.client.resource<Pod>(R.pods).get('readiness', { namespace: 'default' });
    assert.equal(cs(p3)!.restartCount, 0);
    assert.ok(cs(p3)!.state?.running);
    assert.equal(p3.status?.phase, 'Running');
  });

  test('delete: SIGTERM and the grace period, preStop first, then the pod is gone', async () => {
    const marks = join(env.agentDir, 'marks');
    mkdirSync(marks, { recursive: true });
    await create(pod('graceful', {
      terminationGracePeriodSeconds: 10,
      volumes: [{ name: 'marks', hostPath: { path: marks, type: 'Directory' } }],
      containers: [{
        name: 'app', command: ['sh', '-c', 'trap "echo TERM >> /marks/log; sleep 1; exit 0" TERM; while true; do sleep 0.2; done'],
        volumeMounts: [{ name: 'marks', mountPath: '/marks' }],
        lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo preStop >> /marks/log'] } } },
      }],
    }));
    await env.waitPod('graceful', (x) => !!cs(x)?.state?.running);
    await env.client.resource<Pod>(R.pods).delete('graceful', { namespace: 'default' });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const gone = await env.client.resource<Pod>(R.pods).get('graceful', { namespace: 'default' }).then(() => false, () => true);
      if (gone) break;
      assert.ok(Date.now() < deadline, 'pod not removed in 30 s');
      await sleep(200);
    }
    assert.equal(readFileSync(join(marks, 'log'), 'utf8'), 'preStop\nTERM\n');
  });

  test('a missing ConfigMap key: CreateContainerConfigError; a missing image: ErrImagePull then ImagePullBackOff', async () => {
    await kubectlApply(env, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'partial' }, data: { A: '1' } }));
    await create(pod('badconfig', { containers: [{ name: 'app', command: ['sleep', '3600'],
      env: [{ name: 'B', valueFrom: { configMapKeyRef: { name: 'partial', key: 'B' } } }] }] }));
    await create(pod('badimage', { containers: [{ name: 'app', image: `${env.registry.host}/test/nope:1` }] }));
    const p = await env.waitPod('badconfig', (x) => cs(x)?.state?.waiting?.reason === 'CreateContainerConfigError', 30_000);
    assert.equal(cs(p)!.state!.waiting!.message, "couldn't find key B in ConfigMap default/partial");
    await env.waitPod('badimage', (x) => cs(x)?.state?.waiting?.reason === 'ErrImagePull', 30_000);
    const bi = await env.waitPod('badimage', (x) => cs(x)?.state?.waiting?.reason === 'ImagePullBackOff', 30_000);
    assert.equal(cs(bi)!.state!.waiting!.message, `Back-off pulling image "${env.registry.host}/test/nope:1"`);
    assert.equal(bi.status?.phase, 'Pending');
    // The rest of the node is undisturbed; the config error heals once the key exists.
    await env.client.resource(R.configmaps).patch('partial', 'merge', { data: { B: '2' } }, { namespace: 'default' });
    await env.waitPod('badconfig', (x) => !!cs(x)?.state?.running, 30_000);
  });

  test('a volume of a missing ConfigMap: FailedMount, no container, no pod IP; it starts once the ConfigMap exists', async () => {
    // Volumes are set up while the sandbox is made (pod-worker.ts): a failed one must still hold every container back.
    await create(pod('nomount', { volumes: [{ name: 'cfg', configMap: { name: 'later' } }],
      containers: [{ name: 'app', command: ['sleep', '3600'], volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }] }] }));
    const deadline = Date.now() + 30_000;
    let failed: Event | undefined;
    while (!(failed = (await events('nomount')).find((e) => e.reason === 'FailedMount'))) {
      assert.ok(Date.now() < deadline, 'no FailedMount event');
      await sleep(250);
    }
    assert.match(failed.message ?? '', /configmap "later" not found/);
    const p = await env.client.resource<Pod>(R.pods).get('nomount', { namespace: 'default' });
    assert.equal(p.status?.phase, 'Pending');
    assert.equal(p.status?.podIP, undefined);
    assert.ok(!(await events('nomount')).some((e) => e.reason === 'Created' || e.reason === 'Started'));
    await kubectlApply(env, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'later' }, data: { k: 'v' } }));
    const running = await env.waitPod('nomount', (x) => !!cs(x)?.state?.running, 30_000);
    assert.ok(running.status?.podIP);
  });

  test('configMap volumes follow updates; resources become cgroup limits; service links and pull secrets', async () => {
    await kubectlApply(env, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'live' }, data: { v: 'one' } }));
    await kubectlApply(env, JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'my-db' }, spec: { ports: [{ name: 'mongo', port: 27017 }], selector: { app: 'x' } } }));
    await kubectlApply(env, JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'regcred' }, type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { [env.registry.host]: { username: 'u', password: 'p' } } })).toString('base64') } }));
    await create(pod('live', {
      imagePullSecrets: [{ name: 'regcred' }],
      volumes: [{ name: 'cfg', configMap: { name: 'live' } }],
      containers: [{ name: 'main', command: ['sleep', '3600'], imagePullPolicy: 'Always',
        resources: { requests: { cpu: '100m', memory: '32Mi' }, limits: { cpu: '200m', memory: '64Mi' } },
        volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }] }],
    }));
    const p = await env.waitPod('live', (x) => !!cs(x)?.state?.running, 30_000);
    const id = cs(p)!.containerID!.replace('runc://', '');
    const { execFileSync } = await import('node:child_process');
    const exec = (...cmd: string[]) => execFileSync('runc', ['--root', join(env.runDir, 'runc'), 'exec', id, ...cmd], { encoding: 'utf8' });
    assert.equal(exec('cat', '/cfg/v'), 'one');
    assert.match(exec('env'), /^MY_DB_SERVICE_PORT_MONGO=27017$/m);
    const cg = (ctl: string, file: string) => readFileSync(join('/sys/fs/cgroup', ctl, env.cgroupRoot, `pod${p.metadata!.uid}`, id, file), 'utf8').trim();
    assert.equal(cg('memory', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
    assert.equal(cg('cpu', 'cpu.cfs_quota_us'), '20000');
    assert.equal(cg('cpu', 'cpu.shares'), '102');
    await env.client.resource(R.configmaps).patch('live', 'merge', { data: { v: 'two' } }, { namespace: 'default' });
    const deadline = Date.now() + 20_000;
    while (exec('cat', '/cfg/v') !== 'two') {
      assert.ok(Date.now() < deadline, 'configMap update did not reach the volume');
      await sleep(250);
    }
  });

  test('init containers in order, emptyDir, configMap and downward API volumes, env from fieldRef', async () => {
    await kubectlApply(env, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'files' }, data: { 'app.conf': 'x=1\n' } }));
    await create(pod('volumes', {
      restartPolicy: 'Never',
      volumes: [
        { name: 'work', emptyDir: {} }, { name: 'mem', emptyDir: { medium: 'Memory', sizeLimit: '8Mi' } },
        { name: 'conf', configMap: { name: 'files' } },
        { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
      ],
      initContainers: [
        { name: 'one', command: ['sh', '-c', 'echo one >> /work/order'], volumeMounts: [{ name: 'work', mountPath: '/work' }] },
        { name: 'two', command: ['sh', '-c', 'echo two >> /work/order'], volumeMounts: [{ name: 'work', mountPath: '/work' }] },
      ],
      containers: [{
        name: 'main',
        command: ['sh', '-c', 'cat /work/order /conf/app.conf; cat /info/labels; echo; echo "$MY_NODE $MY_POD"; grep -c " /mem tmpfs" /proc/mounts; echo done > /dev/termination-log'],
        env: [{ name: 'MY_NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }, { name: 'MY_POD', value: 'pod-$(MY_NODE)' }],
        volumeMounts: [{ name: 'work', mountPath: '/work' }, { name: 'conf', mountPath: '/conf' }, { name: 'info', mountPath: '/info' }, { name: 'mem', mountPath: '/mem' }],
      }],
    }));
    const p = await env.waitPod('volumes', (x) => x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed', 40_000);
    assert.equal(p.status?.phase, 'Succeeded', JSON.stringify(p.status));
    assert.equal(cs(p)!.state?.terminated?.reason, 'Completed');
    assert.equal(cs(p)!.state?.terminated?.message, 'done\n');
    assert.deepEqual(p.status!.initContainerStatuses!.map((s) => s.state?.terminated?.exitCode), [0, 0]);
    const logs = await env.cluster.kubectl(['logs', 'volumes', '-c', 'main']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, `one\ntwo\nx=1\n\n${env.nodeName} pod-${env.nodeName}\n1\n`);
  });
});

test('restarting the agent adopts running containers without restarting them', async () => {
  await create(pod('adopt', { containers: [{ name: 'main', command: ['sleep', '3600'] }] }));
  const p = await env.waitPod('adopt', (x) => !!cs(x)?.state?.running && ready(x));
  const id = cs(p)!.containerID!;
  const pid = containerPid(id);
  await env.killAgent();
  await env.startAgent();
  await sleep(3000);
  const p2 = await env.waitPod('adopt', (x) => ready(x));
  assert.equal(cs(p2)!.containerID, id);
  assert.equal(cs(p2)!.restartCount, 0);
  assert.equal(containerPid(id), pid);
  assert.ok(existsSync(`/proc/${pid}`));
  // A pod deleted while the agent is down is cleaned up as an orphan once it is back.
  await env.killAgent();
  await env.client.resource<Pod>(R.pods).delete('adopt', { namespace: 'default', gracePeriodSeconds: 0 });
  await env.startAgent();
  const deadline = Date.now() + 30_000;
  while (existsSync(`/proc/${pid}`)) {
    assert.ok(Date.now() < deadline, 'orphaned container still running');
    await sleep(200);
  }
});

test('--drain on shutdown removes every container, mount, cgroup, namespace and veth', async () => {
  await create(pod('drain-a', { volumes: [{ name: 'm', emptyDir: { medium: 'Memory' } }],
    containers: [{ name: 'main', command: ['sleep', '3600'], volumeMounts: [{ name: 'm', mountPath: '/m' }] }] }));
  await create(pod('drain-b', { containers: [{ name: 'main', command: ['sleep', '3600'], ports: [{ containerPort: 80, hostPort: 30000 + Math.floor(Math.random() * 2000), hostIP: '127.0.0.1' }] }] }));
  const a = await env.waitPod('drain-a', (x) => !!cs(x)?.state?.running);
  await env.waitPod('drain-b', (x) => !!cs(x)?.state?.running);
  const pid = containerPid(cs(a)!.containerID!);
  assert.ok(env.leftovers().length > 0, 'something to drain');
  await env.stopAgent(true);
  assert.deepEqual(env.leftovers(), []);
  assert.ok(!existsSync(`/proc/${pid}`));
});
