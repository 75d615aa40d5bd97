// npm run bench:kubelet — pod startup latency on a real node (runc + CNI): 50 pods of
// a pre-pulled busybox image created at once, each timed from its create call to the
// watch event that shows it Running; beside it, in the same run, bare `runc run -d`
// of a bundle made from the same image (sequential and 50 at once), the same 50 at once
// each in its own network namespace wired by the CNI plugins as a plain runc + CNI setup
// would do it (ip netns add, loopback, bridge with ipMasq + host-local), and the agent's
// RSS idle and with the 50 pods. CPU is counted for the agent's whole process tree (the
// launcher and the tools it ran, the shims and the runc they ran) and for the machine.
// Printed figures, not a timed test.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { R } from '../src/api/resources.js';
import { ImageStore } from '../src/runtime/images/store.js';
import { startKubeletEnv } from '../test/kubelet/env.js';
import { buildCompiled } from './lib/compiled.js';

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

/** Processes whose parent is pid. */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try { if (Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === pid) out.push(Number(d)); } catch { /* gone */ }
  }
  return out;
}

/** CPU seconds (self + reaped children) of the agent's helpers: its children (the launcher) and theirs (the shims). */
function helperCpu(agent: number | undefined): number {
  if (!agent) return NaN;
  let sum = 0;
  for (const c of childPids(agent)) {
    try { const x = cpu(c); sum += x.self + x.children; } catch { /* gone */ }
    for (const g of childPids(c)) { try { const x = cpu(g); sum += x.self + x.children; } catch { /* gone */ } }
  }
  return sum;
}

/** Busy CPU seconds of the whole machine (all CPUs), from /proc/stat. */
function machineCpu(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  return (f.reduce((a, b) => a + b, 0) - f[3]! - f[4]!) / 100;
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
  if (!process.env.AGENT_MAIN && !process.env.FROM_SOURCE) process.env.AGENT_MAIN = await buildCompiled('kubelet');
  console.log(`agent: ${process.env.AGENT_MAIN ? `node ${process.env.AGENT_MAIN}` : 'tsx (sources)'}`);
  const env = await startKubeletEnv();
  const pods = env.client.resource<Pod>(R.pods);
  const mkPod = (name: string): Pod => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { bench: 'kubelet' } },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: env.busybox, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
  });
  let bareDir = '';
  // For the finally below: the bare CNI variant's namespaces (CNI DEL removes veth, IPAM and ipMasq rules) and bridge.
  const netnsCleanup: string[] = [];
  let bridgeCleanup = '';
  let cniDel: (ns: string) => Promise<void> = async () => undefined;
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
    // With network: the CNI plugins as a plain runc + CNI setup runs them, on a bridge and
    // subnet of their own (10.98.x.0/24), torn down below.
    const tag = randomBytes(2).toString('hex');
    const cniBridge = `jb${tag}`;
    const cniNet = { cniVersion: '1.0.0', name: `jbench${tag}` };
    const bridgeConf = { ...cniNet, type: 'bridge', bridge: cniBridge, isGateway: true, ipMasq: true, hairpinMode: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: `10.98.${parseInt(tag, 16) % 250}.0/24` }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(bareDir, 'ipam') } };
    const netnsNames = netnsCleanup;
    bridgeCleanup = cniBridge;
    cniDel = (ns) => cniPlugin('bridge', 'DEL', ns, ns, 'eth0', bridgeConf);
    const cniPlugin = (type: string, cmd: 'ADD' | 'DEL', id: string, ns: string, ifname: string, conf: object) => new Promise<void>((res, rej) => {
      const p = spawn(join('/usr/lib/cni', type), [], { stdio: ['pipe', 'ignore', 'pipe'], env: { PATH: process.env.PATH, CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: `/var/run/netns/${ns}`, CNI_IFNAME: ifname, CNI_PATH: '/usr/lib/cni' } });
      let err = '';
      p.stderr!.on('data', (d: Buffer) => { err += d; });
      p.on('error', rej);
      p.on('exit', (code) => (code === 0 ? res() : rej(new Error(`${type} ${cmd}: ${err}`))));
      p.stdin!.end(JSON.stringify(conf));
    });
    const bare = async (i: number, withNet = false): Promise<number> => {
      const b = join(bareDir, `b${i}`);
      for (const d of ['rootfs', 'upper', 'work']) mkdirSync(join(b, d), { recursive: true });
      const t0 = now();
      let netns = '';
      if (withNet) {
        netns = `jbench-${tag}-${i}`;
        netnsNames.push(netns);
        await execFileP('ip', ['netns', 'add', netns]);
        await cniPlugin('loopback', 'ADD', netns, netns, 'lo', { ...cniNet, type: 'loopback' });
        await cniPlugin('bridge', 'ADD', netns, netns, 'eth0', bridgeConf);
      }
      await execFileP('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${join(b, 'upper')},workdir=${join(b, 'work')}`, join(b, 'rootfs')]);
      await execFileP('runc', ['spec', '-b', b]);
      const spec = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8'));
      spec.process.terminal = false;
      spec.process.args = ['sleep', '3600'];
      spec.linux.cgroupsPath = `/${env.cgroupRoot}-bare/c${i}`;
      if (netns) spec.linux.namespaces = spec.linux.namespaces.map((n: { type: string }) => (n.type === 'network' ? { type: 'network', path: `/var/run/netns/${netns}` } : n));
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
    const m0 = machineCpu();
    const bareNetT0 = now();
    const bareNet = await Promise.all(Array.from({ length: N }, (_, i) => bare(100 + N + i, true)));
    const bareNetWall = now() - bareNetT0;
    const bareNetCpu = machineCpu() - m0;

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
    const helpers0 = helperCpu(env.agentPid());
    const machine0 = machineCpu();
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
    const machine1 = machineCpu();
    await sleep(500); // the last shims' runc has been reaped
    const helpers1 = helperCpu(env.agentPid());
    const lat = [...running].map(([n, t]) => t - created.get(n)!);
    await sleep(2000);
    const rss50 = rssMB(env.agentPid());

    console.log(`\njotasu kubelet benchmark (${N} pods, pre-pulled busybox, real runc + CNI bridge)`);
    console.log(`  pods Running: ${running.size}/${N} in ${fmt(wall)}`);
    console.log(`  pod startup (create -> Running by watch): p50 ${fmt(pct(lat, 50))}, p99 ${fmt(pct(lat, 99))}, max ${fmt(Math.max(...lat))}`);
    console.log(`  bare runc run -d (same image, overlay + runc, no netns/CNI): sequential p50 ${fmt(pct(bareSeq, 50))}; ${N} at once p50 ${fmt(pct(barePar, 50))}, p99 ${fmt(pct(barePar, 99))}, wall ${fmt(bareParWall)}`);
    console.log(`  bare runc + netns + CNI (ip netns add, loopback, bridge+ipMasq+host-local, overlay, runc run -d), ${N} at once: p50 ${fmt(pct(bareNet, 50))}, p99 ${fmt(pct(bareNet, 99))}, wall ${fmt(bareNetWall)}, machine CPU ${bareNetCpu.toFixed(2)} s`);
    console.log(`  overhead vs bare runc (${N} at once): p50 ${(pct(lat, 50) / pct(barePar, 50)).toFixed(2)}x, p99 ${(pct(lat, 99) / pct(barePar, 99)).toFixed(2)}x; vs bare runc + netns + CNI: p50 ${(pct(lat, 50) / pct(bareNet, 50)).toFixed(2)}x, p99 ${(pct(lat, 99) / pct(bareNet, 99)).toFixed(2)}x`);
    console.log(`  CPU during the burst: agent (node) ${(cpu1.self - cpu0.self).toFixed(2)} s; its helpers (launcher, sandbox helper, CNI plugins, shims, runc) ${(helpers1 - helpers0 + cpu1.children - cpu0.children).toFixed(2)} s`);
    console.log(`  control plane (API server, scheduler, controllers in one process) ${(srv1.self - srv0.self).toFixed(2)} s; whole machine ${(machine1 - machine0).toFixed(2)} s of ${(cpus().length * wall / 1000).toFixed(2)} s available (${cpus().length} CPUs)`);
    const launcherRss = childPids(env.agentPid()!).map(rssMB).reduce((x, y) => x + y, 0);
    console.log(`  agent RSS: idle ${rssIdle.toFixed(1)} MB, with ${N} pods ${rss50.toFixed(1)} MB (+ ${launcherRss.toFixed(1)} MB in its child processes: the launcher; builds before it had the shims there)`);
    console.log('  targets: p99 <= 1 s, overhead <= 2x, RSS <= 80 MB\n');

    // Clean up the pods through the API (the kubelet stops and removes them).
    await pods.deleteCollection({ namespace: 'default', labelSelector: 'bench=kubelet' });
    const deadline = Date.now() + 60_000;
    while ((await pods.list({ namespace: 'default', labelSelector: 'bench=kubelet' })).items.length && Date.now() < deadline) await sleep(500);
  } finally {
    if (bareDir) {
      const root = join(bareDir, 'state');
      for (let i = 0; i < 100 + 2 * N; i++) await execFileP('runc', ['--root', root, 'delete', '--force', `bench-${i}`]).catch(() => undefined);
      for (let i = 0; i < 100 + 2 * N; i++) await execFileP('umount', [join(bareDir, `b${i}`, 'rootfs')]).catch(() => undefined);
      for (const ns of netnsCleanup) {
        await cniDel(ns).catch((e: Error) => console.error(`bench cleanup: ${e.message}`));
        await execFileP('ip', ['netns', 'del', ns]).catch(() => undefined);
      }
      if (bridgeCleanup) await execFileP('ip', ['link', 'del', bridgeCleanup]).catch(() => undefined);
      await execFileP('sh', ['-c', `for d in /sys/fs/cgroup/*/${env.cgroupRoot}-bare /sys/fs/cgroup/${env.cgroupRoot}-bare; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \\; ; done; true`]).catch(() => undefined);
      rmSync(bareDir, { recursive: true, force: true });
    }
    await env.stop();
  }
}

await main();
