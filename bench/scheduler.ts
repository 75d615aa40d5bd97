// Scheduler benchmark: a real `jotasu server` (API server, controller manager and
// scheduler in one process, as k3s runs them), 1,000 SIMULATED nodes from this
// process, then 10,000 pods created through the API with bounded concurrency.
// Prints pods bound per second (first create to last bind), create-to-bind latency
// percentiles and where the CPU time went in both processes.
//
//   npm run bench:scheduler -- [--nodes 1000] [--pods 10000] [--concurrency 64] [--separate-scheduler] [--from-source]
//
// The server (and a separate scheduler) run compiled, as an installed `jotasu` does
// (bin/jotasu.mjs prefers dist/): tsx costs them memory and CPU that a deployment
// doesn't pay (bench/lib/compiled.ts); --from-source runs them through tsx instead.
import { Session } from 'node:inspector/promises';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
/** Pace creation (pods/s, 0 = as fast as CONCURRENCY allows): latency at a sustainable rate. */
const RATE = Number(arg('rate', '0'));
const ROOT = resolve(new URL('..', import.meta.url).pathname);
const FROM_SOURCE = process.argv.includes('--from-source');

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}
/** Our child processes (server, scheduler): their command lines name the cluster's files. */
function pidsWith(...needles: string[]): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (needles.some((n) => cmd.includes(n))) out.push(Number(d));
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

async function main(): Promise<void> {
  const profDir = mkdtempSync(join(tmpdir(), 'jotasu-bench-prof-'));
  if (!process.argv.includes('--keep-profiles')) process.on('exit', () => rmSync(profDir, { recursive: true, force: true }));
  // node refuses --cpu-prof in NODE_OPTIONS; a preload profiles through the inspector instead.
  const nodeOptions = `${process.env.NODE_OPTIONS ?? ''} --import ${join(ROOT, 'bench/cpu-profile-preload.mjs')}`.trim();
  console.log(`scheduler benchmark: ${NODES} simulated nodes, ${PODS} pods, create concurrency ${CONCURRENCY}${RATE ? ` paced at ${RATE}/s` : ''}, ${cpus().length} CPUs${SEPARATE ? ', scheduler in its own process' : ''}`);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGPIPE'] as const) process.once(sig, () => process.exit(130));
  const main = FROM_SOURCE ? undefined : await buildCompiled('scheduler');
  console.log(`control plane: ${main ? `node ${main}` : 'tsx (sources)'}`);
  const cluster = await startCluster({
    main,
    env: { NODE_OPTIONS: nodeOptions, CPU_PROFILE_DIR: profDir, LOG_LEVEL: 'error' },
    args: SEPARATE ? ['--disable', 'scheduler'] : [],
    readyTimeoutMs: 60_000,
  });
  let schedProc: ChildProcess | undefined;
  const client = createClientFromKubeconfig(cluster.kubeconfig, { qps: 100_000, burst: 100_000, userAgent: 'jotasu-bench' });
  // Pod creation gets its own connection pool, so that it does not churn the sim's kept-alive TLS connections.
  const creatorClient = createClientFromKubeconfig(cluster.kubeconfig, { qps: 100_000, burst: 100_000, userAgent: 'jotasu-bench-create' });
  const informers = createInformerFactory(client);
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
    console.log(`registered ${NODES} simulated nodes in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    await client.resource(R.namespaces).create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });
    await sleep(2000); // let the scheduler's node cache fill

    // Restart the other processes' profiles: leave startup and registration out.
    for (const pid of pidsWith(cluster.dataDir, cluster.kubeconfig)) { try { process.kill(pid, 'SIGUSR2'); } catch { /* gone */ } }
    // CPU time is the figure that survives a busy shared machine; wall-clock rates don't.
    const cpPids = pidsWith(cluster.dataDir, cluster.kubeconfig);
    const cpu0 = cpPids.map(cpuSeconds);
    const load0 = loadavg()[0]!;
    await session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 1000 });
    await session.post('Profiler.start');

    const pods = creatorClient.resource<Pod>(R.pods);
    const body = (i: number): Pod => ({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: `pod-${i}`, namespace: 'bench', labels: { app: 'bench' } },
      spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10', resources: { requests: { cpu: '100m', memory: '128Mi' } } }] },
    });
    let next = 0;
    let createErrors = 0;
    const t0 = performance.now();
    const creators = Array.from({ length: CONCURRENCY }, async () => {
      while (next < PODS) {
        const i = next++;
        if (RATE > 0) {
          const due = t0 + (i * 1000) / RATE;
          const now = performance.now();
          if (due > now) await sleep(due - now);
        }
        created.set(`pod-${i}`, performance.now());
        try { await pods.create(body(i), { namespace: 'bench' }); } catch { createErrors++; }
      }
    });
    let lastPrint = t0;
    const progress = setInterval(() => {
      const now = performance.now();
      if (now - lastPrint < 5000) return;
      lastPrint = now;
      console.log(`  ${((now - t0) / 1000).toFixed(0)} s: created ${Math.min(next, PODS)}, bound ${bound.size}, running ${running.size}`);
    }, 1000);
    await Promise.all(creators);
    const tCreated = performance.now();
    const deadline = Date.now() + 180_000;
    while (bound.size < PODS - createErrors && Date.now() < deadline) await sleep(20);
    const tBound = performance.now();
    const cpuUsed = cpPids.map((p, i) => cpuSeconds(p) - cpu0[i]!);
    while (running.size < bound.size && Date.now() < deadline) await sleep(50);
    const tRunning = performance.now();
    clearInterval(progress);

    const { profile } = await session.post('Profiler.stop');
    const lat = [...bound].map(([k, at]) => at - created.get(k)!).sort((a, b) => a - b);
    const secs = (tBound - t0) / 1000;
    console.log('\nresults');
    console.log(`  pods created           ${PODS - createErrors} in ${((tCreated - t0) / 1000).toFixed(2)} s (${((PODS - createErrors) / ((tCreated - t0) / 1000)).toFixed(0)}/s), ${createErrors} errors`);
    console.log(`  pods bound             ${bound.size} in ${secs.toFixed(2)} s from the first create`);
    console.log(`  throughput             ${(bound.size / secs).toFixed(0)} pods/s bound (target >= 500)`);
    console.log(`  create-to-bind latency p50 ${pct(lat, 50).toFixed(0)} ms, p90 ${pct(lat, 90).toFixed(0)} ms, p99 ${pct(lat, 99).toFixed(0)} ms (target <= 2000), max ${pct(lat, 100).toFixed(0)} ms`);
    const cpuTotal = cpuUsed.reduce((a, b) => a + b, 0);
    console.log(`  control-plane CPU      ${cpuTotal.toFixed(1)} s until the last bind (${cpuUsed.map((c) => c.toFixed(1)).join(' + ')} s over ${cpPids.length} process(es)), ${(1000 * cpuTotal / Math.max(1, bound.size)).toFixed(2)} ms per pod bound`);
    console.log(`  load average           ${load0.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end (other work on this machine skews wall-clock figures)`);
    console.log(`  all Running            ${running.size} after ${((tRunning - t0) / 1000).toFixed(2)} s (simulated kubelets)`);
    const perNode = new Map<string, number>();
    for (const p of podInformer.store.list()) if (p.spec?.nodeName) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + 1);
    const counts = [...perNode.values()];
    console.log(`  spread                 ${perNode.size} nodes used, ${Math.min(...counts)}-${Math.max(...counts)} pods per node`);

    const benchProf = join(profDir, 'bench-process.cpuprofile');
    writeFileSync(benchProf, JSON.stringify(profile));
    await sim.stop();
    informers.stop();
    if (schedProc) {
      schedProc.kill('SIGTERM');
      await new Promise((r) => schedProc!.once('exit', r));
    }
    await cluster.stop();
    console.log('\nCPU profiles (self time)');
    for (const f of readdirSync(profDir).filter((x) => x.endsWith('.cpuprofile') && x !== 'bench-process.cpuprofile')) {
      console.log(formatSummary(`process ${f}`, summarizeFile(join(profDir, f))));
    }
    console.log(formatSummary('bench process (pod creation, simulated nodes, watch)', summarize(profile as unknown as CpuProfile)));
    if (process.argv.includes('--keep-profiles')) console.log(`\nprofiles kept in ${profDir}`);
  } finally {
    session.disconnect();
    client.close();
    creatorClient.close();
    schedProc?.kill('SIGKILL');
    await cluster.stop().catch(() => undefined);
  }
}

await main();
process.exit(0);
