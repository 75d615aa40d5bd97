// npm run bench:kubelet — pod startup latency on a real node (runc + CNI): 50 pods of
// a pre-pulled busybox image created at once, each timed from its create call to the
// watch event that shows it Running; beside it, in the same run, bare `runc run -d`
// of a bundle made from the same image (sequential and 50 at once), and the agent's
// RSS idle and with the 50 pods. Printed figures, not a timed test.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { R } from '../src/api/resources.js';
import { ImageStore } from '../src/runtime/images/store.js';
import { startKubeletEnv } from '../test/kubelet/env.js';

const execFileP = promisify(execFile);
const N = Number(process.env.PODS ?? 50);
const now = () => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

/** CPU seconds of a process itself and of its waited-for children (utime+stime, cutime+cstime). */
function cpu(pid: number | undefined): { self: number; children: number } {
  if (!pid) return { self: NaN, children: NaN };
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const hz = 100;
  return { self: (Number(f[11]) + Number(f[12])) / hz, children: (Number(f[13]) + Number(f[14])) / hz };
}

function rssMB(pid: number | undefined): number {
  if (!pid) return NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const fmt = (ms: number) => `${ms.toFixed(0)} ms`;

async function main(): Promise<void> {
  // The agent runs compiled, as `jotasu agent` does from an installed package (bin/jotasu.mjs
  // prefers dist/): tsx alone adds ~50 MB of RSS, and every fork the runtime makes costs
  // in proportion to the parent's RSS. Built into .bench/ so the tree's dist/ is untouched.
  if (!process.env.AGENT_MAIN && !process.env.FROM_SOURCE) {
    // <root>/dist beside <root>/src, as in the package (the runtime finds its shim source at ../../src).
    const root = join(process.cwd(), '.bench', 'kubelet');
    const out = join(root, 'dist');
    mkdirSync(root, { recursive: true });
    if (!existsSync(join(root, 'src'))) symlinkSync(join(process.cwd(), 'src'), join(root, 'src'));
    await execFileP('npx', ['tsc', '-p', 'tsconfig.json', '--outDir', out, '--sourceMap', 'false']).catch(() => undefined); // emits despite type errors elsewhere
    process.env.AGENT_MAIN = join(out, 'cli', 'main.js');
  }
  console.log(`agent: ${process.env.AGENT_MAIN ? `node ${process.env.AGENT_MAIN}` : 'tsx (sources)'}`);
  const env = await startKubeletEnv();
  const pods = env.client.resource<Pod>(R.pods);
  const mkPod = (name: string): Pod => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { bench: 'kubelet' } },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: env.busybox, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
  });
  let bareDir = '';
  try {
    // Pre-pull: one pod brings the image to the node.
    await pods.create(mkPod('warmup'), { namespace: 'default' });
    await env.waitPod('warmup', (p) => p.status?.phase === 'Running');
    await pods.delete('warmup', { namespace: 'default' });
    await env.waitPod('warmup', () => false, 30_000).catch(() => undefined);
    await sleep(2000);
    const rssIdle = rssMB(env.agentPid());

    // Bare runc: a bundle from the same image layers (no network namespace, no CNI).
    bareDir = mkdtempSync(join(tmpdir(), 'jotasu-bench-runc-'));
    const store = new ImageStore(join(env.agentDir, 'agent'));
    await store.init();
    const rec = (await store.find(env.busybox))!;
    const lower = [...await store.layerDirs(rec)].reverse().join(':');
    const runcRoot = join(bareDir, 'state');
    const bare = async (i: number): Promise<number> => {
      const b = join(bareDir, `b${i}`);
      for (const d of ['rootfs', 'upper', 'work']) mkdirSync(join(b, d), { recursive: true });
      const t0 = now();
      await execFileP('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${join(b, 'upper')},workdir=${join(b, 'work')}`, join(b, 'rootfs')]);
      await execFileP('runc', ['spec', '-b', b]);
      const spec = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8'));
      spec.process.terminal = false;
      spec.process.args = ['sleep', '3600'];
      spec.linux.cgroupsPath = `/${env.cgroupRoot}-bare/c${i}`;
      writeFileSync(join(b, 'config.json'), JSON.stringify(spec));
      // stdio to /dev/null: a detached container would otherwise hold our pipes open.
      await new Promise<void>((res, rej) => {
        const p = spawn('runc', ['--root', runcRoot, 'run', '-d', '-b', b, `bench-${i}`], { stdio: 'ignore' });
        p.on('error', rej);
        p.on('exit', (code) => (code === 0 ? res() : rej(new Error(`runc run bench-${i}: exit ${code}`))));
      });
      return now() - t0;
    };
    const bareSeq: number[] = [];
    for (let i = 0; i < 10; i++) bareSeq.push(await bare(i));
    const bareParT0 = now();
    const barePar = await Promise.all(Array.from({ length: N }, (_, i) => bare(100 + i)));
    const bareParWall = now() - bareParT0;

    // 50 pods at once, Running as seen by a watch.
    const created = new Map<string, number>();
    const running = new Map<string, number>();
    let allRunning!: () => void;
    const done = new Promise<void>((r) => { allRunning = r; });
    const w = pods.watch({ namespace: 'default', labelSelector: 'bench=kubelet' }, (e) => {
      const p = e.object as Pod;
      const name = p.metadata?.name;
      if (!name || running.has(name) || p.status?.phase !== 'Running') return;
      running.set(name, now());
      if (running.size === N) allRunning();
    });
    await sleep(300);
    const cpu0 = cpu(env.agentPid());
    const srv0 = cpu(env.cluster.pid());
    const t0 = now();
    await Promise.all(Array.from({ length: N }, async (_, i) => {
      const name = `bench-${i}`;
      created.set(name, now());
      await pods.create(mkPod(name), { namespace: 'default' });
    }));
    await Promise.race([done, sleep(120_000)]);
    const wall = now() - t0;
    w.close();
    const cpu1 = cpu(env.agentPid());
    const srv1 = cpu(env.cluster.pid());
    const lat = [...running].map(([n, t]) => t - created.get(n)!);
    await sleep(2000);
    const rss50 = rssMB(env.agentPid());

    console.log(`\njotasu kubelet benchmark (${N} pods, pre-pulled busybox, real runc + CNI bridge)`);
    console.log(`  pods Running: ${running.size}/${N} in ${fmt(wall)}`);
    console.log(`  pod startup (create -> Running by watch): p50 ${fmt(pct(lat, 50))}, p99 ${fmt(pct(lat, 99))}, max ${fmt(Math.max(...lat))}`);
    console.log(`  bare runc run -d (same image, overlay + runc, no netns/CNI): sequential p50 ${fmt(pct(bareSeq, 50))}; ${N} at once p50 ${fmt(pct(barePar, 50))}, p99 ${fmt(pct(barePar, 99))}, wall ${fmt(bareParWall)}`);
    console.log(`  overhead (p50 pod vs p50 bare runc, ${N} at once): ${(pct(lat, 50) / pct(barePar, 50)).toFixed(2)}x; p99: ${(pct(lat, 99) / pct(barePar, 99)).toFixed(2)}x`);
    console.log(`  agent CPU during the burst: ${(cpu1.self - cpu0.self).toFixed(2)} s in the agent (node), ${(cpu1.children - cpu0.children).toFixed(2)} s in its child processes (unshare, mount, CNI plugins, shim, runc)`);
    console.log(`  control plane (API server, scheduler, controllers in one process) CPU during the burst: ${(srv1.self - srv0.self).toFixed(2)} s; the machine has ${cpus().length} CPUs`);
    console.log(`  agent RSS: idle ${rssIdle.toFixed(1)} MB, with ${N} pods ${rss50.toFixed(1)} MB`);
    console.log('  targets: p99 <= 1 s, overhead <= 2x, RSS <= 80 MB\n');

    // Clean up the pods through the API (the kubelet stops and removes them).
    await pods.deleteCollection({ namespace: 'default', labelSelector: 'bench=kubelet' });
    const deadline = Date.now() + 60_000;
    while ((await pods.list({ namespace: 'default', labelSelector: 'bench=kubelet' })).items.length && Date.now() < deadline) await sleep(500);
  } finally {
    if (bareDir) {
      const root = join(bareDir, 'state');
      for (let i = 0; i < 100 + N; i++) await execFileP('runc', ['--root', root, 'delete', '--force', `bench-${i}`]).catch(() => undefined);
      for (let i = 0; i < 100 + N; i++) await execFileP('umount', [join(bareDir, `b${i}`, 'rootfs')]).catch(() => undefined);
      await execFileP('sh', ['-c', `for d in /sys/fs/cgroup/*/${env.cgroupRoot}-bare /sys/fs/cgroup/${env.cgroupRoot}-bare; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \\; ; done; true`]).catch(() => undefined);
      rmSync(bareDir, { recursive: true, force: true });
    }
    await env.stop();
  }
}

await main();
