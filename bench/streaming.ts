// Streaming throughput: 100 MB through `kubectl port-forward` and through `kubectl exec`
// (stdout and stdin), beside a direct TCP connection to the pod IP in the same run.
// Real API server, real `jotasu agent` (its kubelet runs the pod and serves the
// streams), runc and CNI (test/streaming/env.ts).
//
// Fair baselines: every path has the same program at the pod end. Download source:
// `dd if=/dev/zero bs=64k` (busybox `head -c` writes in small pieces and held the direct
// path back to ~100 MB/s); upload sink: `cat >/dev/null`. Direct and port-forward reach
// them through `nc -ll -e`, exec runs them itself. Each figure is the best of --runs
// (default 3, interleaved): the machine is shared and 2 cores run the whole chain
// (client, kubectl, API server, kubelet, pod), so CPU time per 100 MB is printed too.
// The server and agent run compiled (bench/lib/compiled.ts; FROM_SOURCE=1 for tsx).
// --profile: CPU profiles of the API server and the agent over the measured transfers,
// summarised at the end (--keep-profiles keeps the .cpuprofile files). --gc: V8's
// --trace-gc in both, and the mark-compacts/scavenges each transfer caused.
//
// The ceiling, in the same run: the path's three processes (kubectl, API server, agent)
// replaced by three plain Node relays that only carry the bytes over the same sockets and
// TLS hops (bench/lib/relay-chain.ts, the API server's relay code in each), toward the same
// pod programs. On 2 cores the path is CPU-bound; what this chain reaches is about what the
// machine allows any path of three TLS-relaying Node processes, protocols aside. Beside
// it: the crypto floor (AES-GCM CPU per 100 MB, bench/lib/crypto-floor.ts).
// Needs root, runc, kubectl. Usage: npm run bench:streaming [-- --mb 100 --runs 3 --only exec --profile --server-env NAME=VALUE]
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startStreamingEnv, skip } from '../test/streaming/env.js';
import { buildCompiled } from './lib/compiled.js';
import { formatSummary, summarizeFile } from './profile-summary.js';
import { startRelayChain, type RelayChain } from './lib/relay-chain.js';
import { gcmSecondsPer100MB } from './lib/crypto-floor.js';

const arg = (name: string, d: number) => { const i = process.argv.indexOf(name); return i > 0 ? Number(process.argv[i + 1]) : d; };
const MB = arg('--mb', 100);
const RUNS = arg('--runs', 3);
const BYTES = MB * 1024 * 1024;
const BLOCKS = Math.ceil(BYTES / 65536);
const PROFILE = process.argv.includes('--profile');
const TRACE_GC = process.argv.includes('--gc');
const profDir = PROFILE ? mkdtempSync(join(tmpdir(), 'jotasu-bench-streaming-prof-')) : '';
if (PROFILE && !process.argv.includes('--keep-profiles')) process.on('exit', () => rmSync(profDir, { recursive: true, force: true }));
const profEnv: Record<string, string> = PROFILE
  ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${new URL('./cpu-profile-preload.mjs', import.meta.url).pathname}`.trim(), CPU_PROFILE_DIR: profDir }
  : {};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// --server-env NAME=VALUE (repeatable): the API server's environment on top of how bin/jotasu.mjs
// starts it, e.g. --server-env GLIBC_TUNABLES= to see what the installed malloc settings cost.
const serverEnv: Record<string, string> = Object.fromEntries(process.argv.flatMap((a, i) => (a === '--server-env' ? [process.argv[i + 1] ?? ''] : []))
  .map((kv) => [kv.slice(0, kv.indexOf('=') < 0 ? kv.length : kv.indexOf('=')), kv.indexOf('=') < 0 ? '' : kv.slice(kv.indexOf('=') + 1)]));

/** CPU seconds (user+system) a process has used so far; with `children`, those of its reaped children instead. */
function cpuOf(pid: number | undefined, children = false): number {
  if (!pid) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (children ? Number(f[13]) + Number(f[14]) : Number(f[11]) + Number(f[12])) / 100;
  } catch { return 0; }
}

/** The agent process of this environment (found by its run dir). */
function agentPid(runDir: string): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const cmd = (() => { try { return readFileSync(`/proc/${d}/cmdline`, 'utf8'); } catch { return ''; } })();
    if (cmd.includes('\0agent\0') && cmd.includes(`\0${runDir}\0`)) return Number(d);
  }
  return undefined;
}

/** Reads everything a server sends on connect; resolves to [bytes, ms]. */
function download(host: string, port: number): Promise<[number, number]> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let n = 0;
    const s = connect(port, host);
    s.on('data', (d: Buffer) => { n += d.length; });
    s.on('end', () => resolve([n, performance.now() - t0]));
    s.on('error', reject);
  });
}

/** Sends BYTES zeros; resolves when the server has closed after reading them all. */
function upload(host: string, port: number): Promise<[number, number]> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = connect(port, host);
    const chunk = Buffer.alloc(1 << 20);
    let sent = 0;
    const pump = () => {
      while (sent < BYTES) {
        sent += chunk.length;
        if (!s.write(chunk)) { s.once('drain', pump); return; }
      }
      s.end();
    };
    s.on('connect', pump);
    s.on('close', () => resolve([BYTES, performance.now() - t0]));
    s.on('error', reject);
    s.resume();
  });
}

/** Runs kubectl under /usr/bin/time; resolves to [bytes, ms, kubectl CPU seconds]. */
function kubectlTimed(kubeconfig: string, args: string[], stdinBytes = 0): Promise<[number, number, number]> {
  const timeFile = join(profDir || tmpdir(), `kubectl-time-${process.pid}`);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, 'kubectl', ...args], { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['pipe', 'pipe', 'inherit'] });
    let n = 0;
    p.stdout.on('data', (d: Buffer) => { n += d.length; });
    p.on('error', reject);
    p.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) { reject(new Error(`kubectl ${args.join(' ')} exited ${code}`)); return; }
      const [u, sys] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
      rmSync(timeFile, { force: true });
      resolve([stdinBytes || n, ms, u! + sys!]);
    });
    if (stdinBytes) {
      const chunk = Buffer.alloc(1 << 20);
      let sent = 0;
      const pump = () => {
        while (sent < stdinBytes) { sent += chunk.length; if (!p.stdin.write(chunk)) { p.stdin.once('drain', pump); return; } }
        p.stdin.end();
      };
      pump();
    } else p.stdin.end();
  });
}

/** "M+S": mark-compacts and scavenges in a stretch of --trace-gc output. */
function gcCounts(log: string): string {
  const lines = log.split('\n');
  return `${lines.filter((l) => /: Mark-Compact /.test(l)).length}+${lines.filter((l) => /: Scavenge /.test(l)).length}`;
}

const rate = (bytes: number, ms: number) => bytes / 1024 / 1024 / (ms / 1000);

async function main(): Promise<void> {
  if (skip) { console.error(`bench:streaming skipped: ${skip}`); return; }
  const main = process.env.FROM_SOURCE ? undefined : await buildCompiled('streaming');
  if (main && !process.env.AGENT_MAIN) process.env.AGENT_MAIN = main;
  if (TRACE_GC) process.env.AGENT_NODE_ARGS = `${process.env.AGENT_NODE_ARGS ?? ''} --trace-gc`;
  console.log(`server and agent: ${main ? `node ${main}` : 'tsx (sources)'}${PROFILE ? ', profiled' : ''}`);
  // The agent inherits this process's environment (the preload and where to write).
  Object.assign(process.env, profEnv);
  if (Object.keys(serverEnv).length) console.log(`API server environment: ${Object.entries(serverEnv).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  const s = await startStreamingEnv({ server: { main, env: { ...profEnv, ...serverEnv }, nodeArgs: TRACE_GC ? ['--trace-gc'] : [] } });
  for (const k of Object.keys(profEnv)) delete process.env[k];
  let pf: ReturnType<typeof spawn> | undefined;
  const chains: RelayChain[] = [];
  try {
    const dd = `dd if=/dev/zero bs=65536 count=${BLOCKS} 2>/dev/null`;
    const pod = await s.runPod('bench', [
      { name: 'src', command: ['nc', '-ll', '-p', '8080', '-e', 'sh', '-c', dd] },
      { name: 'sink', command: ['nc', '-ll', '-p', '8081', '-e', 'sh', '-c', 'cat >/dev/null'] },
      { name: 'sh', command: ['sleep', '3600'] },
    ]);
    const ip = pod.status!.podIP!;
    await sleep(300);
    pf = spawn('kubectl', ['port-forward', 'pod/bench', '0:8080', '0:8081', '--address', '127.0.0.1'], { env: { ...process.env, KUBECONFIG: s.kubeconfig } });
    const ports = await new Promise<number[]>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`port-forward did not start: ${out}`)), 15_000);
      pf!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = [...out.matchAll(/Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)/g)];
        if (m.length >= 2) { clearTimeout(t); resolve([8080, 8081].map((p) => Number(m.find((x) => Number(x[2]) === p)![1]))); }
      });
    });
    const pids: Record<string, number | undefined> = { apiserver: s.env.cluster.pid(), agent: agentPid(s.env.runDir), 'kubectl port-forward': pf.pid };
    const kc = s.kubeconfig;
    // The ceiling's relays move bytes with the compiled relay.js of this build (plain pipe() under FROM_SOURCE).
    const relayModule = main ? join(dirname(main), '..', 'apiserver', 'proxy', 'relay.js') : undefined;
    for (const port of [8080, 8081]) chains.push(await startRelayChain(ip, port, { relayModule }));
    const [chainDown, chainUp] = chains as [RelayChain, RelayChain];
    const chainPids = (c: RelayChain) => ({ apiserver: c.pids.apiserver, agent: c.pids.agent, 'kubectl port-forward': c.pids.kubectl });
    const cases: [string, () => Promise<[number, number] | [number, number, number]>, Record<string, number | undefined>?][] = [
      ['direct TCP to pod IP, download', () => download(ip, 8080)],
      ['ceiling: 3 Node TLS relays, download', () => download('127.0.0.1', chainDown.port), chainPids(chainDown)],
      ['kubectl port-forward, download', () => download('127.0.0.1', ports[0]!)],
      ['kubectl exec (stdout: dd)', () => kubectlTimed(kc, ['exec', 'bench', '-c', 'sh', '--', 'sh', '-c', dd])],
      ['direct TCP to pod IP, upload', () => upload(ip, 8081)],
      ['ceiling: 3 Node TLS relays, upload', () => upload('127.0.0.1', chainUp.port), chainPids(chainUp)],
      ['kubectl port-forward, upload', () => upload('127.0.0.1', ports[1]!)],
      ['kubectl exec -i (stdin: cat)', () => kubectlTimed(kc, ['exec', '-i', 'bench', '-c', 'sh', '--', 'sh', '-c', 'cat >/dev/null'], BYTES)],
    ];
    // --only WORD: just the cases whose name contains WORD (the direct ones always run, as the baseline).
    const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1]! : '';
    if (only) cases.splice(0, cases.length, ...cases.filter(([n]) => n.includes(only) || n.startsWith('direct') || n.startsWith('ceiling')));
    // Profiles cover the transfers only, not startup.
    if (PROFILE) for (const p of [pids.apiserver, pids.agent]) if (p) process.kill(p, 'SIGUSR2');
    const best = new Map<string, number>();
    const cpu = new Map<string, Record<string, number>>();
    const gcs = new Map<string, string>();
    for (let run = 0; run < RUNS; run++) {
      for (const [name, fn, casePids = pids] of cases) {
        const before = Object.fromEntries(Object.entries(casePids).map(([k, p]) => [k, cpuOf(p)]));
        const agentChildrenBefore = cpuOf(pids.agent, true);
        const logMark = [s.env.cluster.logs().length, s.env.agentLogs().length];
        const [n, ms, execCpu] = await fn();
        if (n < BYTES) throw new Error(`${name}: only ${n} of ${BYTES} bytes`);
        const r = rate(n, ms);
        if (r > (best.get(name) ?? 0)) {
          best.set(name, r);
          const used = Object.fromEntries(Object.entries(casePids).map(([k, p]) => [k, (cpuOf(p) - before[k]!) * 100 / MB]));
          // kubectl: the port-forward process, or the exec's own kubectl.
          // The agent's exec children (the exec helper, runc, and the command in the pod) once reaped.
          const agentChildren = (cpuOf(pids.agent, true) - agentChildrenBefore) * 100 / MB;
          cpu.set(name, { apiserver: used.apiserver!, agent: used.agent!, kubectl: execCpu !== undefined ? execCpu * 100 / MB : used['kubectl port-forward']!, agentChildren });
          if (TRACE_GC) gcs.set(name, [s.env.cluster.logs().slice(logMark[0]!), s.env.agentLogs().slice(logMark[1]!)].map(gcCounts).join(' / '));
        }
      }
    }
    console.log(`\nstreaming throughput, ${MB} MB each, best of ${RUNS} (same run); load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
    console.log(`${''.padEnd(34)} ${'MB/s'.padStart(6)}   CPU s per 100 MB: API server / agent / kubectl / the agent's exec children (runc, the command)`);
    for (const [name] of cases) {
      const c = cpu.get(name)!;
      console.log(`${name.padEnd(34)} ${best.get(name)!.toFixed(0).padStart(6)}   ${Object.values(c).map((v) => v.toFixed(2)).join(' / ')}${TRACE_GC ? `   GCs (mark-compact+scavenge) API server / agent: ${gcs.get(name)}` : ''}`);
    }
    const pct = (a: string, b: string) => (best.has(a) ? `${(100 * best.get(a)! / best.get(b)!).toFixed(0)}%` : '-');
    // An exec's figure includes starting kubectl and the session (API server, kubelet, runc
    // exec); port-forward's does not (kubectl started before). The same without it:
    const setups: number[] = [];
    for (let i = 0; i < 3; i++) setups.push((await kubectlTimed(kc, ['exec', 'bench', '-c', 'sh', '--', 'true']))[1]);
    const setupMs = setups.sort((a, b) => a - b)[1]!;
    const steady = (name: string) => (best.has(name) ? rate(BYTES, BYTES / 1024 / 1024 / best.get(name)! * 1000 - setupMs) : NaN);
    const [out, inn] = [steady('kubectl exec (stdout: dd)'), steady('kubectl exec -i (stdin: cat)')];
    console.log(`exec session setup (kubectl exec -- true, median of 3): ${setupMs.toFixed(0)} ms; exec without it: stdout ${out.toFixed(0)} MB/s, stdin ${inn.toFixed(0)} MB/s`
      + ` (${(100 * out / best.get('direct TCP to pod IP, download')!).toFixed(0)}% / ${(100 * inn / best.get('direct TCP to pod IP, upload')!).toFixed(0)}% of direct)`);
    console.log(`\nvs direct (download / upload): port-forward ${pct('kubectl port-forward, download', 'direct TCP to pod IP, download')} / ${pct('kubectl port-forward, upload', 'direct TCP to pod IP, upload')},`
      + ` exec ${pct('kubectl exec (stdout: dd)', 'direct TCP to pod IP, download')} / ${pct('kubectl exec -i (stdin: cat)', 'direct TCP to pod IP, upload')}  (target >= 50%)`);
    const [c128, c256] = [gcmSecondsPer100MB('aes-128-gcm'), gcmSecondsPer100MB('aes-256-gcm')];
    console.log(`ceiling (3 Node processes relaying the same TLS hops, no protocols; relays ${relayModule ? 'as the API server\'s' : 'by pipe()'}): `
      + `${pct('ceiling: 3 Node TLS relays, download', 'direct TCP to pod IP, download')} / ${pct('ceiling: 3 Node TLS relays, upload', 'direct TCP to pod IP, upload')} of direct;`
      + ` the real path reaches port-forward ${pct('kubectl port-forward, download', 'ceiling: 3 Node TLS relays, download')} / ${pct('kubectl port-forward, upload', 'ceiling: 3 Node TLS relays, upload')},`
      + ` exec ${pct('kubectl exec (stdout: dd)', 'ceiling: 3 Node TLS relays, download')} / ${pct('kubectl exec -i (stdin: cat)', 'ceiling: 3 Node TLS relays, upload')} of it`);
    console.log(`  TLS suites of the ceiling's hops (the real path's are logged by the API server at debug level): ${Object.entries(chainDown.ciphers).map(([k, v]) => `${k} -> ${v}`).join(', ')}`);
    if (c128 !== undefined && c256 !== undefined) {
      console.log(`  crypto floor (openssl speed, 16 KiB records), CPU s per 100 MB sealed or opened: AES-128-GCM ${c128.toFixed(3)}, AES-256-GCM ${c256.toFixed(3)}`
        + ` (the API server opens and seals every byte: ${(2 * c256).toFixed(2)} s of its CPU per 100 MB is crypto, the agent and kubectl pay half that)`);
    }
  } finally {
    for (const c of chains) c.stop();
    pf?.kill('SIGKILL');
    await s.stop();
  }
  if (PROFILE) {
    for (const file of readdirSync(profDir).filter((x) => /^(server|agent)-.*\.cpuprofile$/.test(x))) {
      console.log(`\n${formatSummary(file, summarizeFile(join(profDir, file), 20))}`);
    }
    if (process.argv.includes('--keep-profiles')) console.log(`\nprofiles kept in ${profDir}`);
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
