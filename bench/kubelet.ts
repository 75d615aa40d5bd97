// npm run bench:kubelet — pod startup latency on a real node (runc + CNI): 50 pods of
// a pre-pulled busybox image created at once, each timed from its create call to the
// watch event that shows it Running; beside it, in the same run, bare `runc run -d`
// of the same bundle (the config.json the kubelet generated for a pod of the same spec,
// on an overlay of the same layers; sequential and 50 at once), the same 50 at once
// each in its own network namespace wired by the CNI plugins as a plain runc + CNI setup
// would do it (ip netns add, loopback, bridge with ipMasq + host-local), pods started one
// at a time, and the agent's RSS idle and with the 50 pods. CPU is counted for the
// agent's whole process tree (the launcher and the tools it ran, the shims and the runc
// they ran), for the bare runs' tools, and for the machine. The agent runs with
// JOTASU_KUBELET_TRACE=1 (NO_TRACE=1: off): the per-phase breakdown of the burst comes
// from its start timelines (src/runtime/start-trace.ts). Printed figures, not a timed test.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { R } from '../src/api/resources.js';
import { startKubeletEnv } from '../test/kubelet/env.js';
import { buildCompiled } from './lib/compiled.js';

const execFileP = promisify(execFile);
const N = Number(process.env.PODS ?? 50);
const AUTOMOUNT = process.env.AUTOMOUNT !== '0';
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

interface MemProbe { usage: NodeJS.MemoryUsage; spaces: Record<string, { size: number; used: number }>; smaps: Record<string, number>; snapshot?: string }

/** MEM_AGENT=1: the agent runs with mem-probe-preload.mjs, which writes its memory breakdown on SIGWINCH. */
const memDir = process.env.MEM_AGENT ? mkdtempSync(join(tmpdir(), 'jotasu-bench-kubelet-mem-')) : '';
async function probeMemory(pid: number | undefined): Promise<string> {
  if (!memDir || !pid) return '';
  const file = join(memDir, `${pid}.json`);
  const since = Date.now();
  process.kill(pid, 'SIGWINCH');
  for (let i = 0; i < 600; i++) {
    await sleep(100);
    try {
      const m = JSON.parse(readFileSync(file, 'utf8')) as MemProbe & { at: number };
      if (m.at < since) continue;
      const mb = (n: number) => (n / 1048576).toFixed(1);
      const u = m.usage;
      const spaces = Object.entries(m.spaces).filter(([, s]) => s.size > 0).map(([k, s]) => `${k.replace('_space', '')} ${mb(s.size)}/${mb(s.used)}`).join(', ');
      const smaps = Object.entries(m.smaps).sort((a, b) => b[1] - a[1]).filter(([, v]) => v >= 256 * 1024).map(([k, v]) => `${k} ${mb(v)}`).join(', ');
      return `rss ${mb(u.rss)}, heapTotal ${mb(u.heapTotal)}, heapUsed ${mb(u.heapUsed)}, external ${mb(u.external)}, arrayBuffers ${mb(u.arrayBuffers)} MB\n      V8 spaces (size/used MB): ${spaces}\n      resident by mapping (MB): ${smaps}${m.snapshot ? `\n      heap snapshot: ${m.snapshot}` : ''}`;
    } catch { /* not written yet */ }
  }
  return '(no answer from the memory probe)';
}

function rssMB(pid: number | undefined): number {
  if (!pid) return NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const fmt = (ms: number) => `${ms.toFixed(0)} ms`;

/** Epoch ms with sub-ms precision, comparable with the agent's start-trace marks. */
const epoch = () => performance.timeOrigin + performance.now();

/** RSS split as /proc reports it: anonymous (heaps, buffers) and file-backed (the node binary's code). */
function rssParts(pid: number | undefined): string {
  if (!pid) return '';
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(st)?.[1] ?? NaN) / 1024;
  return `anon ${kb('RssAnon').toFixed(1)} + file ${kb('RssFile').toFixed(1)} + shmem ${kb('RssShmem').toFixed(1)} MB`;
}

/** Our CPU seconds in reaped children (the bare runs' ip, CNI plugins, mount, runc). */
function childrenCpu(): number {
  return cpu(process.pid).children;
}

/** Phases of a pod start in the order they happen (bench marks and the agent's start trace). */
const PHASES = ['create acked', 'watch', 'sync', 'admit', 'gate', 'netns', 'masquerade', 'cni', 'podfiles', 'sandbox', 'volumes', 'inspect',
  'image', 'container config', 'spec', 'created', 'start gate', 'shim started', 'shim mounted', 'shim forked runc', 'shim runc returned', 'runc run',
  'started', 'status computed', 'status written', 'running seen'];
const PHASE_NOTE: Record<string, string> = {
  'create acked': 'POST pods answered', watch: 'scheduled, bound, delivered to the kubelet', sync: 'pod worker queue',
  gate: 'waiting for a start slot', 'start gate': 'waiting for a start slot', netns: 'sandbox helper: netns/ipc/uts, lo, shm', masquerade: 'node masquerade rule', cni: 'bridge + host-local plugins',
  podfiles: 'hosts, resolv.conf, sandbox.json', sandbox: 'sandbox status', volumes: 'volumes (set up during the sandbox) ready', inspect: 'list containers', image: 'image present?',
  'container config': 'env, mounts, CRI config', spec: 'OCI spec + config.json', created: 'container.json',
  'shim started': 'launcher spawns the shim', 'shim mounted': 'overlay root', 'shim forked runc': 'pipes, fork',
  'shim runc returned': 'runc run -d', 'runc run': 'reply to the agent', started: 'pid stat, container.json',
  'status computed': 'list + inspect containers', 'status written': 'PUT pods/status', 'running seen': 'bench watch delivery',
};

/** Per-phase duration (ms since the previous phase in PHASES that the pod has), over the pods. */
function breakdown(timelines: Map<string, Map<string, number>>): string[] {
  const per = new Map<string, number[]>();
  for (const t of timelines.values()) {
    let prev = t.get('create sent');
    if (prev === undefined) continue;
    for (const ph of PHASES) {
      const at = t.get(ph);
      if (at === undefined) continue;
      (per.get(ph) ?? per.set(ph, []).get(ph)!).push(at - prev);
      prev = at;
    }
  }
  const out: string[] = [];
  let sum50 = 0;
  for (const ph of PHASES) {
    const xs = per.get(ph);
    if (!xs?.length) continue;
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    sum50 += mean;
    out.push(`    ${ph.padEnd(20)} p50 ${pct(xs, 50).toFixed(1).padStart(7)}  p99 ${pct(xs, 99).toFixed(1).padStart(7)}  mean ${mean.toFixed(1).padStart(7)} ms   ${PHASE_NOTE[ph] ?? ''}`);
  }
  out.push(`    ${'(sum of means)'.padEnd(20)} ${sum50.toFixed(0)} ms over ${timelines.size} pods`);
  return out;
}

/** The agent's start timelines ('pod start trace' log lines), by pod name. */
function agentTimelines(logs: string): Map<string, [string, number][]> {
  const out = new Map<string, [string, number][]>();
  for (const line of logs.split('\n')) {
    if (!line.includes('"pod start trace"')) continue;
    try {
      const j = JSON.parse(line) as { pod: string; marks: [string, number][] };
      out.set(j.pod.split('/')[1]!, j.marks);
    } catch { /* a partial line */ }
  }
  return out;
}

async function main(): Promise<void> {
  // The agent runs compiled, as `jotasu agent` does from an installed package (bin/jotasu.mjs
  // prefers dist/): tsx alone adds ~50 MB of RSS, and every fork the runtime makes costs
  // in proportion to the parent's RSS. Built into .bench/ so the tree's dist/ is untouched.
  if (!process.env.AGENT_MAIN && !process.env.FROM_SOURCE) process.env.AGENT_MAIN = await buildCompiled('kubelet');
  if (!process.env.NO_TRACE) process.env.JOTASU_KUBELET_TRACE = '1';
  if (memDir) {
    process.env.AGENT_NODE_ARGS = `${process.env.AGENT_NODE_ARGS ?? ''} --import ${new URL('./mem-probe-preload.mjs', import.meta.url).pathname}`;
    process.env.MEM_PROBE_DIR = memDir;
  }
  console.log(`agent: ${process.env.AGENT_MAIN ? `node ${process.env.AGENT_MAIN}` : 'tsx (sources)'}; service-account token volume ${AUTOMOUNT ? 'mounted' : 'off (AUTOMOUNT=0)'}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  // PROFILE_AGENT=1 with CPU_PROFILE_DIR: the server is profiled too (cpu-profile-preload.mjs), the burst only.
  const preload = new URL('./cpu-profile-preload.mjs', import.meta.url).pathname;
  const env = await startKubeletEnv(process.env.PROFILE_AGENT && process.env.CPU_PROFILE_DIR ? { server: { nodeArgs: ['--import', preload] } } : {});
  const pods = env.client.resource<Pod>(R.pods);
  const mkPod = (name: string, set = 'kubelet'): Pod => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { bench: set } },
    // Every pod mounts its service account's kube-api-access volume (a TokenRequest each), as
    // upstream's; AUTOMOUNT=0 turns it off to measure what it costs.
    spec: { terminationGracePeriodSeconds: 1, ...(AUTOMOUNT ? {} : { automountServiceAccountToken: false }), containers: [{ name: 'c', image: env.busybox, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
  });
  let bareDir = '';
  // For the finally below: the bare CNI variant's namespaces (CNI DEL removes veth, IPAM and ipMasq rules) and bridge.
  const netnsCleanup: string[] = [];
  let bridgeCleanup = '';
  let cniDel: (ns: string) => Promise<void> = async () => undefined;
  try {
    await sleep(3000);
    const memIdle = await probeMemory(env.agentPid());
    const rssIdle = rssMB(env.agentPid());
    const rssIdleParts = rssParts(env.agentPid());

    // Pre-pull: one pod brings the image to the node. It keeps running while the bare runs
    // use its bundle (its config.json binds its sandbox's hosts, resolv.conf, hostname).
    await pods.create(mkPod('warmup', 'kubelet-warmup'), { namespace: 'default' });
    await env.waitPod('warmup', (p) => p.status?.phase === 'Running');

    // Bare runc: the warmup pod's bundle (same spec, same layers), each on an overlay of its own.
    bareDir = mkdtempSync(join(tmpdir(), 'jotasu-bench-runc-'));
    const containersDir = join(env.agentDir, 'agent', 'containers');
    const cid = readdirSync(containersDir)[0]!;
    const template = JSON.parse(readFileSync(join(containersDir, cid, 'config.json'), 'utf8'));
    const lower = (JSON.parse(readFileSync(join(containersDir, cid, 'container.json'), 'utf8')) as { overlayLower: string }).overlayLower;
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
      // The kubelet's spec, with a root, cgroup and namespaces of its own (new ipc/uts, the bare netns or a new one).
      const spec = { ...template, root: { ...template.root, path: join(b, 'rootfs') }, linux: { ...template.linux, cgroupsPath: `/${env.cgroupRoot}-bare/c${i}`,
        namespaces: (template.linux.namespaces as { type: string; path?: string }[]).map((n) => (n.type === 'network' && netns ? { type: 'network', path: `/var/run/netns/${netns}` } : { type: n.type })) } };
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
    let c0 = childrenCpu();
    const bareParT0 = now();
    const barePar = await Promise.all(Array.from({ length: N }, (_, i) => bare(100 + i)));
    const bareParWall = now() - bareParT0;
    const bareParCpu = childrenCpu() - c0;
    const m0 = machineCpu();
    c0 = childrenCpu();
    const bareNetT0 = now();
    const bareNet = await Promise.all(Array.from({ length: N }, (_, i) => bare(100 + N + i, true)));
    const bareNetWall = now() - bareNetT0;
    const bareNetCpu = childrenCpu() - c0;
    const bareNetMachine = machineCpu() - m0;

    // Pods one at a time: startup latency without contention.
    const seqLat: number[] = [];
    const SEQ = Number(process.env.SEQ_PODS ?? 10);
    for (let i = 0; i < SEQ; i++) {
      const name = `seq-${i}`;
      let seen!: (t: number) => void;
      const running = new Promise<number>((r) => { seen = r; });
      const w = pods.watch({ namespace: 'default', fieldSelector: `metadata.name=${name}` }, (e) => {
        if ((e.object as Pod).status?.phase === 'Running') seen(now());
      });
      await sleep(100);
      const t0 = now();
      await pods.create(mkPod(name, 'kubelet-seq'), { namespace: 'default' });
      seqLat.push(await Promise.race([running, sleep(30_000).then(() => NaN)]) - t0);
      w.close();
    }

    // 50 pods at once, Running as seen by a watch.
    const timelines = new Map<string, Map<string, number>>();
    const tl = (name: string) => timelines.get(name) ?? timelines.set(name, new Map()).get(name)!;
    let nRunning = 0;
    let allRunning!: () => void;
    const done = new Promise<void>((r) => { allRunning = r; });
    const w = pods.watch({ namespace: 'default', labelSelector: 'bench=kubelet' }, (e) => {
      const p = e.object as Pod;
      const name = p.metadata?.name;
      if (!name) return;
      const t = tl(name);
      if (p.spec?.nodeName && !t.has('scheduled seen')) t.set('scheduled seen', epoch());
      if (t.has('running seen') || p.status?.phase !== 'Running') return;
      t.set('running seen', epoch());
      if (++nRunning === N) allRunning();
    });
    await sleep(300);
    const cpu0 = cpu(env.agentPid());
    const srv0 = cpu(env.cluster.pid());
    const helpers0 = helperCpu(env.agentPid());
    const machine0 = machineCpu();
    // PROFILE_AGENT=1 with AGENT_NODE_ARGS="--import <a preload that profiles between SIGUSR2s>": the burst only.
    if (process.env.PROFILE_AGENT) { process.kill(env.agentPid()!, 'SIGUSR2'); process.kill(env.cluster.pid()!, 'SIGUSR2'); }
    // PERF_OUT=FILE: the whole machine sampled by perf during the burst only (perf report -i FILE --sort comm).
    const perf = process.env.PERF_OUT ? spawn('perf', ['record', '-a', '-F', '999', ...(process.env.PERF_CALLGRAPH ? ['-g'] : []), '-o', process.env.PERF_OUT], { stdio: 'ignore' }) : undefined;
    if (perf) await sleep(500);
    const t0 = now();
    await Promise.all(Array.from({ length: N }, async (_, i) => {
      const name = `bench-${i}`;
      tl(name).set('create sent', epoch());
      await pods.create(mkPod(name), { namespace: 'default' });
      tl(name).set('create acked', epoch());
    }));
    await Promise.race([done, sleep(120_000)]);
    const wall = now() - t0;
    w.close();
    if (perf) { perf.kill('SIGINT'); await new Promise((r) => perf.on('exit', r)); }
    const cpu1 = cpu(env.agentPid());
    const srv1 = cpu(env.cluster.pid());
    const machine1 = machineCpu();
    if (process.env.PROFILE_AGENT) { process.kill(env.agentPid()!, 'SIGUSR2'); process.kill(env.cluster.pid()!, 'SIGUSR2'); }
    await sleep(500); // the last shims' runc has been reaped
    const helpers1 = helperCpu(env.agentPid());
    const lat = [...timelines.values()].filter((t) => t.has('running seen')).map((t) => t.get('running seen')! - t.get('create sent')!);
    await sleep(2000);
    const rss50 = rssMB(env.agentPid());
    const rss50Parts = rssParts(env.agentPid());
    const mem50 = await probeMemory(env.agentPid());
    for (const [name, marks] of agentTimelines(env.agentLogs())) {
      const t = timelines.get(name);
      if (t) for (const [ph, at] of marks) t.set(ph, at);
    }

    const agentCpu = cpu1.self - cpu0.self;
    const helperCpuS = helpers1 - helpers0 + cpu1.children - cpu0.children;
    const srvCpu = srv1.self - srv0.self;
    const perPod = (s: number) => `${(s / N * 1000).toFixed(1)} ms/pod`;
    console.log(`\njotasu kubelet benchmark (${N} pods, pre-pulled busybox, real runc + CNI bridge); load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    console.log(`  pods Running: ${nRunning}/${N} in ${fmt(wall)}`);
    console.log(`  pod startup (create -> Running by watch), ${N} at once: p50 ${fmt(pct(lat, 50))}, p99 ${fmt(pct(lat, 99))}, max ${fmt(Math.max(...lat))}`);
    console.log(`  pod startup, one at a time (${SEQ}): p50 ${fmt(pct(seqLat, 50))}, max ${fmt(Math.max(...seqLat))}`);
    console.log(`  bare runc run -d (the kubelet's bundle for this pod: its config.json, overlay of the same layers; no netns/CNI): sequential p50 ${fmt(pct(bareSeq, 50))}; ${N} at once p50 ${fmt(pct(barePar, 50))}, p99 ${fmt(pct(barePar, 99))}, wall ${fmt(bareParWall)}, CPU ${perPod(bareParCpu)}`);
    console.log(`  bare runc + netns + CNI (ip netns add, loopback, bridge+ipMasq+host-local, overlay, runc run -d), ${N} at once: p50 ${fmt(pct(bareNet, 50))}, p99 ${fmt(pct(bareNet, 99))}, wall ${fmt(bareNetWall)}, CPU ${perPod(bareNetCpu)} (machine ${bareNetMachine.toFixed(2)} s)`);
    console.log(`  overhead vs bare runc (${N} at once): p50 ${(pct(lat, 50) / pct(barePar, 50)).toFixed(2)}x, p99 ${(pct(lat, 99) / pct(barePar, 99)).toFixed(2)}x; vs bare runc + netns + CNI: p50 ${(pct(lat, 50) / pct(bareNet, 50)).toFixed(2)}x, p99 ${(pct(lat, 99) / pct(bareNet, 99)).toFixed(2)}x`);
    console.log(`  CPU during the burst: agent (node) ${agentCpu.toFixed(2)} s = ${perPod(agentCpu)}; its helpers (launcher, sandbox helper, CNI plugins, shims, runc) ${helperCpuS.toFixed(2)} s = ${perPod(helperCpuS)}`);
    console.log(`  control plane (API server, scheduler, controllers in one process) ${srvCpu.toFixed(2)} s = ${perPod(srvCpu)}; whole machine ${(machine1 - machine0).toFixed(2)} s of ${(cpus().length * wall / 1000).toFixed(2)} s available (${cpus().length} CPUs)`);
    const launcherRss = childPids(env.agentPid()!).map(rssMB).reduce((x, y) => x + y, 0);
    const sockets = readdirSync(`/proc/${env.agentPid()}/fd`).filter((f) => { try { return readlinkSync(`/proc/${env.agentPid()}/fd/${f}`).startsWith('socket:'); } catch { return false; } }).length;
    console.log(`  agent RSS: idle (node Ready, no pods) ${rssIdle.toFixed(1)} MB (${rssIdleParts}), with ${N + 1} pods ${rss50.toFixed(1)} MB (${rss50Parts}); + ${launcherRss.toFixed(1)} MB in its child processes (the launcher); ${sockets} sockets open`);
    if (memIdle) console.log(`    memory idle: ${memIdle}\n    memory with ${N + 1} pods: ${mem50}`);
    if (!process.env.NO_TRACE) {
      console.log(`  phases of the ${N}-pod burst (agent start trace + bench marks; each: ms since the previous phase):`);
      for (const l of breakdown(timelines)) console.log(l);
      const sched = [...timelines.values()].filter((t) => t.has('scheduled seen')).map((t) => t.get('scheduled seen')! - t.get('create sent')!);
      console.log(`    (bench's watch saw the binding: p50 ${pct(sched, 50).toFixed(0)} ms, p99 ${pct(sched, 99).toFixed(0)} ms after create sent)`);
    }
    console.log('  targets: p99 <= 1 s, overhead <= 2x, RSS <= 80 MB\n');

    // The burst's and the sequential pods go (the kubelet stops and removes them) before the paced run.
    const drain = async (labelSelector: string) => {
      await pods.deleteCollection({ namespace: 'default', labelSelector });
      const deadline = Date.now() + 90_000;
      while ((await pods.list({ namespace: 'default', labelSelector })).items.length && Date.now() < deadline) await sleep(500);
    };
    // Paced, as clusterloader2's pod-startup latency phase measures the SLO: pods created at
    // a steady rate (not all at once), each timed from its create call to the watch event
    // that shows it Running. In addition to the burst above, not instead of it (PACED_PODS=0: skipped).
    const pacedRun = async (P: number): Promise<void> => {
      const QPS = Number(process.env.PACED_QPS ?? 10);
      const paced = new Map<string, { sent: number; running?: number }>();
      let pacedRunning = 0;
      let pacedAll!: () => void;
      const pacedDone = new Promise<void>((r) => { pacedAll = r; });
      const pw = pods.watch({ namespace: 'default', labelSelector: 'bench=kubelet-paced' }, (e) => {
        const p = e.object as Pod;
        const t = paced.get(p.metadata?.name ?? '');
        if (!t || t.running !== undefined || p.status?.phase !== 'Running') return;
        t.running = now();
        if (++pacedRunning === P) pacedAll();
      });
      await sleep(1000);
      const pa0 = cpu(env.agentPid()), ps0 = cpu(env.cluster.pid()), ph0 = helperCpu(env.agentPid()), pm0 = machineCpu(), la0 = loadavg()[0]!;
      const pt0 = now();
      const creates: Promise<unknown>[] = [];
      for (let i = 0; i < P; i++) {
        const at = pt0 + (i * 1000) / QPS;
        if (at > now()) await sleep(at - now());
        const name = `paced-${i}`;
        paced.set(name, { sent: now() });
        creates.push(pods.create(mkPod(name, 'kubelet-paced'), { namespace: 'default' }));
      }
      await Promise.all(creates);
      await Promise.race([pacedDone, sleep(120_000)]);
      const pWall = now() - pt0;
      pw.close();
      const pa1 = cpu(env.agentPid()), ps1 = cpu(env.cluster.pid()), pm1 = machineCpu();
      await sleep(500);
      const ph1 = helperCpu(env.agentPid());
      const pLat = [...paced.values()].filter((t) => t.running !== undefined).map((t) => t.running! - t.sent);
      const perP = (s: number) => `${(s / P * 1000).toFixed(1)} ms/pod`;
      console.log(`  PACED (clusterloader2's pod-startup latency phase): ${P} pods created at ${QPS}/s, create -> Running by watch; load average ${la0.toFixed(2)} -> ${loadavg()[0]!.toFixed(2)}`);
      console.log(`    Running ${pacedRunning}/${P}; p50 ${fmt(pct(pLat, 50))}, p90 ${fmt(pct(pLat, 90))}, p99 ${fmt(pct(pLat, 99))}, max ${fmt(Math.max(...pLat))} (upstream SLO: p99 <= 5 s)`);
      console.log(`    CPU: agent ${perP(pa1.self - pa0.self + 0)}, its helpers ${perP(ph1 - ph0 + pa1.children - pa0.children)}, control plane ${perP(ps1.self - ps0.self)}; whole machine ${(pm1 - pm0).toFixed(2)} s over ${(pWall / 1000).toFixed(1)} s\n`);
    };
    await drain('bench in (kubelet, kubelet-seq)');
    const P = Number(process.env.PACED_PODS ?? 50);
    if (P > 0) await pacedRun(P);
    await drain('bench');
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
    if (memDir && process.env.MEM_PROBE_SNAPSHOT !== '1') rmSync(memDir, { recursive: true, force: true });
  }
}

await main();
