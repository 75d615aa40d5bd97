// Scheduler benchmark: a real `jotasu server` (API server, controller manager and
// scheduler in one process, as k3s runs them), 1,000 SIMULATED nodes from this
// process, then 10,000 pods created through the API. As upstream's scheduler_perf,
// pods are created at a fixed rate (open loop: a slow reply does not slow creation
// down); each rate runs on a fresh cluster. Prints, per rate: pods bound per second
// (first create to last bind), create-to-bind latency percentiles, CPU milliseconds
// per pod of every process, the load average, and where the server's CPU time went.
//
//   npm run bench:scheduler -- [--nodes 1000] [--pods 10000] [--rates 500,1000,burst]
//                              [--concurrency 32] [--separate-scheduler] [--no-control-loop-thread] [--from-source]
//                              [--profile-all] [--keep-profiles]
//
// "burst" creates as fast as --concurrency creators waiting for their replies allow
// (a queue builds up in the scheduler when that is faster than it binds).
// The server (and a separate scheduler) run compiled, as an installed `jotasu` does
// (bin/jotasu.mjs prefers dist/): tsx costs them memory and CPU that a deployment
// doesn't pay (bench/lib/compiled.ts); --from-source runs them through tsx instead.
import { Session } from 'node:inspector/promises';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { startCluster } from '../test/lib/cluster.js';
import { createClientFromKubeconfig } from '../src/client/rest.js';
import { createInformerFactory } from '../src/client/informer.js';
import { R } from '../src/api/resources.js';
import { startSimNodes } from '../src/sim/nodes.js';
import { formatSummary, summarize, summarizeFile, type CpuProfile } from './profile-summary.js';
import { buildCompiled } from './lib/compiled.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}
const NODES = Number(arg('nodes', '1000'));
const PODS = Number(arg('pods', '10000'));
const CONCURRENCY = Number(arg('concurrency', '32'));
const SEPARATE = process.argv.includes('--separate-scheduler');
/** The server's scheduler and controller manager on the API server's thread (`jotasu server --no-control-loop-thread`). */
const MAIN_THREAD = process.argv.includes('--no-control-loop-thread');
/** Creation rates, pods/s; 0 ("burst"): as fast as CONCURRENCY closed-loop creators go. `--rate N` runs one. */
const RATES = (process.argv.includes('--rate') ? arg('rate', '500') : arg('rates', '500,1000,burst'))
  .split(',').map((r) => (r.trim() === 'burst' ? 0 : Number(r)));
/** Open-loop creation gives up pacing (and says so) beyond this many creates in flight. */
const MAX_IN_FLIGHT = 2000;
const ROOT = resolve(new URL('..', import.meta.url).pathname);
const FROM_SOURCE = process.argv.includes('--from-source');
const PROFILE_ALL = process.argv.includes('--profile-all');
const TARGET = { rate: 500, throughput: 500, p99Ms: 2000 };
/** How long the settled cluster's CPU use is measured once every pod runs. */
const IDLE_MS = 5000;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}
/** Our child processes (server, scheduler): their command lines name the cluster's files. */
function pidsWith(...needles: string[]): { pid: number; name: string }[] {
  const out: { pid: number; name: string }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (needles.some((n) => cmd.some((a) => a.includes(n)))) out.push({ pid: Number(d), name: cmd.find((a) => a === 'server' || a === 'scheduler') ?? 'node' });
    } catch { /* exited */ }
  }
  return out;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** CPU seconds (user + system) a process used so far; 0 once it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch { return 0; }
}
/** CPU seconds per thread of a process (tid -> seconds). */
function threadCpuSeconds(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        const f = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
        out.set(Number(t), (Number(f[11]) + Number(f[12])) / 100);
      } catch { /* exited */ }
    }
  } catch { /* gone */ }
  return out;
}
/**
 * Where a process's CPU went by thread: the main thread (the API server), the busiest other
 * thread (the control loops' worker thread, when the process has one) and the rest (V8's
 * GC and compiler helpers, libuv's pool). Thread names don't tell them apart (all "node").
 */
function threadSplit(pid: number, before: Map<number, number>, after: Map<number, number>): { main: number; busiest: number; rest: number } {
  const used = [...after].map(([tid, s]) => [tid, s - (before.get(tid) ?? 0)] as const);
  const main = used.find(([tid]) => tid === pid)?.[1] ?? 0;
  const others = used.filter(([tid]) => tid !== pid).map(([, s]) => s).sort((a, b) => b - a);
  const busiest = others[0] ?? 0;
  return { main, busiest, rest: others.slice(1).reduce((a, b) => a + b, 0) };
}
function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

interface PhaseResult {
  label: string;
  created: number;
  createErrors: number;
  createSecs: number;
  bound: number;
  bindSecs: number;
  lat: { p50: number; p90: number; p99: number; max: number };
  /** CPU seconds until the last bind, per control-plane process, and of this process (creators, simulated nodes, watch). */
  cpu: { name: string; secs: number; idlePerSec: number; threads: { main: number; busiest: number; rest: number } }[];
  benchCpuSecs: number;
  load: [number, number];
  maxInFlight: number;
  spread: string;
  runningSecs: number;
  running: number;
}

const fmtRate = (rate: number): string => (rate > 0 ? `paced at ${rate}/s` : `burst (${CONCURRENCY} creators)`);

async function runPhase(rate: number, main: string | undefined, profDir: string, wantProfile: boolean): Promise<PhaseResult> {
  // node refuses --cpu-prof in NODE_OPTIONS; a preload profiles through the inspector instead.
  const nodeOptions = `${process.env.NODE_OPTIONS ?? ''} --import ${join(ROOT, 'bench/cpu-profile-preload.mjs')}`.trim();
  const cluster = await startCluster({
    main,
    env: { NODE_OPTIONS: nodeOptions, CPU_PROFILE_DIR: profDir, LOG_LEVEL: 'error' },
    args: [...(SEPARATE ? ['--disable', 'scheduler'] : []), ...(MAIN_THREAD ? ['--no-control-loop-thread'] : [])],
    readyTimeoutMs: 60_000,
  });
  let schedProc: ChildProcess | undefined;
  const client = createClientFromKubeconfig(cluster.kubeconfig, { qps: 100_000, burst: 100_000, userAgent: 'jotasu-bench' });
  // Pod creation gets its own connection pool, so that it does not compete with the sim's.
  const creatorClient = createClientFromKubeconfig(cluster.kubeconfig, { qps: 100_000, burst: 100_000, userAgent: 'jotasu-bench-create', maxConnections: 128 });
  const informers = createInformerFactory(client, { trimManagedFields: true });
  const session = new Session();
  try {
    if (SEPARATE) {
      schedProc = spawn(process.execPath, [...(main ? [main] : ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')]), 'scheduler', '--kubeconfig', cluster.kubeconfig], {
        cwd: ROOT, env: { ...process.env, NODE_OPTIONS: nodeOptions, CPU_PROFILE_DIR: profDir, LOG_LEVEL: 'error' }, stdio: 'inherit',
      });
      const child = schedProc;
      // Never leave the scheduler behind (the cluster helper does the same for the server).
      process.on('exit', () => { try { child.kill('SIGKILL'); } catch { /* gone */ } });
    }
    // Track binds (and Running) through a watch, as any client would see them.
    const created = new Map<string, number>();
    const bound = new Map<string, number>();
    const running = new Set<string>();
    const podInformer = informers.informer<Pod>(R.pods);
    const seen = (p: Pod): void => {
      const k = p.metadata!.name!;
      if (p.spec?.nodeName && !bound.has(k) && created.has(k)) bound.set(k, performance.now());
      if (p.status?.phase === 'Running') running.add(k);
    };
    podInformer.addEventHandler({ onAdd: seen, onUpdate: (_o, p) => seen(p) });

    let t = performance.now();
    const sim = await startSimNodes({ client, count: NODES, informers, concurrency: 16 });
    informers.start();
    await informers.waitForSync();
    console.log(`  registered ${NODES} simulated nodes in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    await client.resource(R.namespaces).create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });
    await sleep(2000); // let the scheduler's node cache fill
    const cp = pidsWith(cluster.dataDir, cluster.kubeconfig);

    // Restart the other processes' profiles: leave startup and registration out.
    for (const { pid } of cp) { try { process.kill(pid, 'SIGUSR2'); } catch { /* gone */ } }
    // CPU time is the figure that survives a busy shared machine; wall-clock rates don't.
    const cpu0 = cp.map(({ pid }) => cpuSeconds(pid));
    const threads0 = cp.map(({ pid }) => threadCpuSeconds(pid));
    const bench0 = ownCpuSeconds();
    const load0 = loadavg()[0]!;
    if (wantProfile) {
      await session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 1000 });
      await session.post('Profiler.start');
    }

    const pods = creatorClient.resource<Pod>(R.pods);
    const body = (i: number): Pod => ({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: `pod-${i}`, namespace: 'bench', labels: { app: 'bench' } },
      spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10', resources: { requests: { cpu: '100m', memory: '128Mi' } } }] },
    });
    let next = 0;
    let createErrors = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    const createOne = async (i: number): Promise<void> => {
      created.set(`pod-${i}`, performance.now());
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try { await pods.create(body(i), { namespace: 'bench' }); } catch { createErrors++; } finally { inFlight--; }
    };
    const t0 = performance.now();
    let creation: Promise<unknown>;
    if (rate > 0) {
      // Open loop, as scheduler_perf's fixed QPS: every pod is sent when its time comes.
      creation = (async () => {
        const pending: Promise<void>[] = [];
        while (next < PODS) {
          const due = Math.min(PODS, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
          while (next < due && inFlight < MAX_IN_FLIGHT) pending.push(createOne(next++));
          await sleep(2);
        }
        await Promise.all(pending);
      })();
    } else {
      creation = Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (next < PODS) await createOne(next++);
      }));
    }
    let lastPrint = t0;
    const progress = setInterval(() => {
      const now = performance.now();
      if (now - lastPrint < 5000) return;
      lastPrint = now;
      console.log(`    ${((now - t0) / 1000).toFixed(0)} s: created ${Math.min(next, PODS)}, bound ${bound.size}, running ${running.size}`);
    }, 1000);
    await creation;
    const tCreated = performance.now();
    const deadline = Date.now() + 180_000;
    while (bound.size < PODS - createErrors && Date.now() < deadline) await sleep(20);
    const tBound = performance.now();
    const cpuUsed = cp.map(({ pid }, i) => cpuSeconds(pid) - cpu0[i]!);
    const threads = cp.map(({ pid }, i) => threadSplit(pid, threads0[i]!, threadCpuSeconds(pid)));
    const benchCpu = ownCpuSeconds() - bench0;
    const load1 = loadavg()[0]!;
    while (running.size < bound.size && Date.now() < deadline) await sleep(50);
    const tRunning = performance.now();
    clearInterval(progress);
    // The settled cluster's own load (1,000 Lease renewals every 10 s, as kubelets do), to
    // tell it apart from the cost of the pods: it is paid per second, not per pod.
    await sleep(2000);
    const idle0 = cp.map(({ pid }) => cpuSeconds(pid));
    const tIdle = performance.now();
    await sleep(IDLE_MS);
    const idleRate = cp.map(({ pid }, i) => (cpuSeconds(pid) - idle0[i]!) / ((performance.now() - tIdle) / 1000));

    const lat = [...bound].map(([k, at]) => at - created.get(k)!).sort((a, b) => a - b);
    const perNode = new Map<string, number>();
    for (const p of podInformer.store.list()) if (p.spec?.nodeName) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + 1);
    const counts = [...perNode.values()];
    if (wantProfile) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(join(profDir, 'bench-process.cpuprofile'), JSON.stringify(profile));
    }
    await sim.stop();
    informers.stop();
    if (schedProc) {
      schedProc.kill('SIGTERM');
      await new Promise((r) => schedProc!.once('exit', r));
    }
    await cluster.stop();
    return {
      label: fmtRate(rate),
      created: PODS - createErrors, createErrors, createSecs: (tCreated - t0) / 1000,
      bound: bound.size, bindSecs: (tBound - t0) / 1000,
      lat: { p50: pct(lat, 50), p90: pct(lat, 90), p99: pct(lat, 99), max: pct(lat, 100) },
      cpu: cp.map(({ name }, i) => ({ name, secs: cpuUsed[i]!, idlePerSec: idleRate[i]!, threads: threads[i]! })),
      benchCpuSecs: benchCpu,
      load: [load0, load1],
      maxInFlight,
      spread: `${perNode.size} nodes used, ${Math.min(...counts)}-${Math.max(...counts)} pods per node`,
      runningSecs: (tRunning - t0) / 1000, running: running.size,
    };
  } finally {
    if (session) try { session.disconnect(); } catch { /* not connected */ }
    client.close();
    creatorClient.close();
    schedProc?.kill('SIGKILL');
    await cluster.stop().catch(() => undefined);
  }
}

/** Control-plane CPU seconds until the last bind, less what the idle cluster uses in that time. */
function netCpu(r: PhaseResult): number {
  return r.cpu.reduce((a, c) => a + Math.max(0, c.secs - c.idlePerSec * r.bindSecs), 0);
}

function printPhase(r: PhaseResult): void {
  const perPod = (s: number): string => `${(1000 * s / Math.max(1, r.bound)).toFixed(2)} ms`;
  const cpTotal = r.cpu.reduce((a, c) => a + c.secs, 0);
  console.log(`  pods created           ${r.created} in ${r.createSecs.toFixed(2)} s (${(r.created / r.createSecs).toFixed(0)}/s), ${r.createErrors} errors, at most ${r.maxInFlight} creates in flight`);
  console.log(`  pods bound             ${r.bound} in ${r.bindSecs.toFixed(2)} s from the first create`);
  console.log(`  throughput             ${(r.bound / r.bindSecs).toFixed(0)} pods/s bound (target >= ${TARGET.throughput})`);
  console.log(`  create-to-bind latency p50 ${r.lat.p50.toFixed(0)} ms, p90 ${r.lat.p90.toFixed(0)} ms, p99 ${r.lat.p99.toFixed(0)} ms (target <= ${TARGET.p99Ms}), max ${r.lat.max.toFixed(0)} ms`);
  console.log(`  CPU per pod bound      control plane ${perPod(cpTotal)} (${r.cpu.map((c) => `${c.name} ${perPod(c.secs)}, ${c.secs.toFixed(1)} s`).join('; ')}); bench process (creators, ${NODES} simulated nodes, watch) ${perPod(r.benchCpuSecs)}`);
  for (const c of r.cpu) {
    const t = c.threads;
    console.log(`  ${c.name} by thread${' '.repeat(Math.max(1, 13 - c.name.length))}main ${perPod(t.main)}, busiest other thread${MAIN_THREAD || c.name !== 'server' ? '' : ' (control loops)'} ${perPod(t.busiest)}, the rest (GC and compiler helpers, libuv) ${perPod(t.rest)}`);
  }
  console.log(`  ... less idle load     control plane ${perPod(netCpu(r))}: the settled cluster uses ${r.cpu.map((c) => `${c.name} ${(100 * c.idlePerSec).toFixed(1)} %`).join(', ')} of a CPU (${NODES} Lease renewals per 10 s), over ${r.bindSecs.toFixed(1)} s`);
  console.log(`  load average           ${r.load[0].toFixed(1)} at the start, ${r.load[1].toFixed(1)} at the last bind (other work on this machine skews wall-clock figures)`);
  console.log(`  all Running            ${r.running} after ${r.runningSecs.toFixed(2)} s (simulated kubelets)`);
  console.log(`  spread                 ${r.spread}`);
}

async function main(): Promise<void> {
  const profRoot = mkdtempSync(join(tmpdir(), 'jotasu-bench-prof-'));
  if (!process.argv.includes('--keep-profiles')) process.on('exit', () => rmSync(profRoot, { recursive: true, force: true }));
  console.log(`scheduler benchmark: ${NODES} simulated nodes, ${PODS} pods per run, creation ${RATES.map(fmtRate).join(' / ')}, each on a fresh cluster, ${cpus().length} CPUs${SEPARATE ? ', scheduler in its own process' : ''}${MAIN_THREAD ? ', control loops on the API server\'s thread' : ''}`);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGPIPE'] as const) process.once(sig, () => process.exit(130));
  const main = FROM_SOURCE ? undefined : await buildCompiled('scheduler');
  console.log(`control plane: ${main ? `node ${main}` : 'tsx (sources)'}`);
  const results: PhaseResult[] = [];
  const profiles: string[] = [];
  for (const [i, rate] of RATES.entries()) {
    const profDir = join(profRoot, `run-${i}-${rate || 'burst'}`);
    mkdirSync(profDir);
    console.log(`\ncreation ${fmtRate(rate)}`);
    const r = await runPhase(rate, main, profDir, i === 0 || PROFILE_ALL);
    printPhase(r);
    results.push(r);
    if (i === 0 || PROFILE_ALL) profiles.push(profDir);
  }

  console.log('\nsummary (CPU ms per pod bound; wall-clock figures depend on the machine\'s load)');
  const head = ['creation', 'created/s', 'bound/s', 'p50 ms', 'p99 ms', ...results[0]!.cpu.map((c) => `${c.name} CPU`), 'less idle', 'bench CPU', 'load'];
  const rows = results.map((r) => [
    r.label, (r.created / r.createSecs).toFixed(0), (r.bound / r.bindSecs).toFixed(0), r.lat.p50.toFixed(0), r.lat.p99.toFixed(0),
    ...r.cpu.map((c) => (1000 * c.secs / Math.max(1, r.bound)).toFixed(2)), (1000 * netCpu(r) / Math.max(1, r.bound)).toFixed(2),
    (1000 * r.benchCpuSecs / Math.max(1, r.bound)).toFixed(2),
    `${r.load[0].toFixed(1)}-${r.load[1].toFixed(1)}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  for (const row of [head, ...rows]) console.log(`  ${row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`);
  const paced = results.find((r, i) => RATES[i] === TARGET.rate);
  if (paced) {
    const ok = paced.bound / paced.bindSecs >= TARGET.throughput * 0.98 && paced.lat.p99 <= TARGET.p99Ms;
    console.log(`  target at ${TARGET.rate}/s creation (>= ${TARGET.throughput} pods/s bound, p99 <= ${TARGET.p99Ms} ms): ${ok ? 'met' : 'NOT met'}`);
  }

  for (const dir of profiles) {
    console.log(`\nCPU profiles, creation ${results[profiles.indexOf(dir)]!.label}`);
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile') && x !== 'bench-process.cpuprofile')) {
      console.log(formatSummary(`process ${f}`, summarizeFile(join(dir, f))));
    }
    const bench = join(dir, 'bench-process.cpuprofile');
    try { console.log(formatSummary('bench process (pod creation, simulated nodes, watch)', summarize(JSON.parse(readFileSync(bench, 'utf8')) as CpuProfile))); } catch { /* not profiled */ }
  }
  if (process.argv.includes('--keep-profiles')) console.log(`\nprofiles kept in ${profRoot}`);
}

await main();
process.exit(0);
