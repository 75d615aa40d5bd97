// npm run bench:network — service networking figures, one wrk run each, side by side.
//  1. Ingress: jotasu's ingress controller (compiled) vs nginx (Debian) as a reverse
//     proxy to the same three backends (nginx serving a small page on 127.0.0.2-4),
//     req/s, p99 and CPU per request, at 1 process each and at N each (nginx workers =
//     ingress worker processes, BENCH_INGRESS_WORKERS, default the CPU count);
//     BENCH_ROUNDS rounds (default 5), each pair back to back in alternating order, the
//     median of the per-round ratios printed (the host may be shared and noisy).
//  2. ClusterIP vs pod IP: wrk from a client namespace to a backend in a "pod"
//     namespace, directly and through the proxy's rules, in each proxy mode (test
//     topology of test/network/netns.ts, needs root).
//  3. Proxy sync: 1,000 Services x 10 endpoints written from nothing (a proxy starting
//     with full informer caches) and one endpoint change, per mode (iptables through
//     the host's iptables backend, iptables-legacy, nftables), wall time and CPU-seconds
//     (this process and the iptables-restore/nft it runs).
// Backends are local nginx processes (not real pods), in namespaces for part 2.
// BENCH_NETWORK=proxy runs parts 2 and 3 only, BENCH_NETWORK=sync part 3 only,
// BENCH_NETWORK=ingress part 1 only.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import net from 'node:net';
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { R } from '../src/api/resources.js';
import type { ApiClient } from '../src/client/types.js';
import { startProxy } from '../src/proxy/proxier.js';
import { makeExec } from '../src/proxy/exec.js';
import type { Backend } from '../src/proxy/iptables.js';
import { cleanupAllModes, PROXY_MODES, type ProxyMode } from '../src/proxy/mode.js';
import { nftAvailable } from '../src/proxy/nftables.js';
import { createFakeInformers } from '../test/network/fake-informers.js';
import { createTopology, type Topology } from '../test/network/netns.js';
import { buildCompiled } from './lib/compiled.js';
import { cpuMsOf } from './lib/proc.js';

const DURATION = process.env.BENCH_DURATION ?? '10s';
const CONNS = process.env.BENCH_CONNECTIONS ?? '64';
const dir = mkdtempSync(join(tmpdir(), 'jotasu-bench-net-'));
const children: ChildProcess[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface WrkResult { rps: number; p50: number; p99: number; errors: number }

function parseMs(s: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(s.trim());
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
}

function wrk(url: string, opts: { host?: string; netns?: string; threads?: number } = {}): WrkResult {
  const args = ['-t', String(opts.threads ?? 2), '-c', CONNS, '-d', DURATION, '--latency', ...(opts.host ? ['-H', `Host: ${opts.host}`] : []), url];
  const argv = opts.netns ? ['ip', 'netns', 'exec', opts.netns, 'wrk', ...args] : ['wrk', ...args];
  const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p50 = parseMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
  const p99 = parseMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps, p50, p99, errors };
}

async function waitPort(host: string, port: number, netns?: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = netns
      ? (() => { try { execFileSync('ip', ['netns', 'exec', netns, 'bash', '-c', `echo > /dev/tcp/${host}/${port}`], { stdio: 'ignore' }); return true; } catch { return false; } })()
      : await new Promise<boolean>((r) => { const s = net.connect(port, host, () => { s.destroy(); r(true); }); s.on('error', () => r(false)); });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listening on ${host}:${port}`);
}

function nginx(name: string, httpBlock: string, workers: string, netns?: string): ChildProcess {
  const d = join(dir, name);
  execFileSync('mkdir', ['-p', d]);
  const conf = join(d, 'nginx.conf');
  writeFileSync(conf, `daemon off; master_process on; worker_processes ${workers}; pid ${d}/nginx.pid; error_log ${d}/error.log warn;
user root;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${d}; proxy_temp_path ${d}; fastcgi_temp_path ${d}; uwsgi_temp_path ${d}; scgi_temp_path ${d};
${httpBlock}
}
`);
  const argv = [...(netns ? ['ip', 'netns', 'exec', netns] : []), 'nginx', '-c', conf, '-p', d];
  const p = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
  children.push(p);
  return p;
}

const BODY = 'x'.repeat(600); // about the size of nginx's welcome page headers+body
const backendBlock = (listen: string[]) => `server { ${listen.map((l) => `listen ${l};`).join(' ')} location / { return 200 "${BODY}\\n"; } }`;

function fmt(name: string, r: WrkResult, base?: WrkResult): string {
  const rel = base ? `  ${((r.rps / base.rps) * 100).toFixed(0).padStart(4)} % of req/s, p99 ${(r.p99 / base.p99).toFixed(2)}x` : '';
  return `  ${name.padEnd(44)} ${r.rps.toFixed(0).padStart(8)} req/s   p50 ${r.p50.toFixed(2).padStart(6)} ms   p99 ${r.p99.toFixed(2).padStart(6)} ms   errors ${r.errors}${rel}`;
}

// --- Ingress ---------------------------------------------------------------------

/** A process and its descendants, as `pid comm` pairs (from /proc/PID/task/PID/children). */
function processTree(pid: number): { pid: number; comm: string }[] {
  const out: { pid: number; comm: string }[] = [];
  const walk = (p: number): void => {
    let comm = '';
    try { comm = readFileSync(`/proc/${p}/comm`, 'utf8').trim(); } catch { return; }
    out.push({ pid: p, comm });
    let kids = '';
    try { kids = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8'); } catch { /* gone */ }
    for (const k of kids.split(' ').filter(Boolean)) walk(Number(k));
  };
  walk(pid);
  return out;
}

interface ProxyRun extends WrkResult { cpuUsPerReq: number; workerShares: number[] }

/** One wrk run against a proxy; its CPU (the whole process tree) per request and how its worker processes shared it. */
function measureProxy(url: string, host: string, rootPid: number): ProxyRun {
  // tsx's esbuild service sits in the ingress' tree: not part of the proxy.
  const procs = processTree(rootPid).filter((p) => p.comm !== 'esbuild');
  const before = procs.map((p) => cpuMsOf(p.pid));
  const t0 = process.hrtime.bigint();
  const r = wrk(url, { host });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const used = procs.map((p, i) => cpuMsOf(p.pid) - before[i]!);
  const total = used.reduce((a, b) => a + b, 0);
  // Workers: the children of the master (nginx) or of the controller (ingress); in-process: the one process.
  const workers = procs.length > 1 ? used.slice(1) : used;
  const wsum = workers.reduce((a, b) => a + b, 0);
  return { ...r, cpuUsPerReq: (total * 1000) / (r.rps * secs), workerShares: workers.map((w) => (wsum ? w / wsum : 0)) };
}

const median = (xs: number[]): number => { const l = [...xs].sort((a, b) => a - b); return l.length % 2 ? l[l.length >> 1]! : (l[l.length / 2 - 1]! + l[l.length / 2]!) / 2; };

async function ingressBench(): Promise<void> {
  const port = 18080;
  const backends = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
  nginx('backends', backendBlock(backends.map((ip) => `${ip}:${port}`)), '1');
  for (const ip of backends) await waitPort(ip, port);
  const upstream = `upstream be { ${backends.map((ip) => `server ${ip}:${port};`).join(' ')} keepalive 128; }`;
  // reuseport as ingress-nginx configures it (reuse-port: true): a listening socket per worker, the
  // kernel spreads connections. Without it one worker often took all 64 of wrk's connections.
  const proxyLoc = (p: number) => `server { listen 127.0.0.1:${p} reuseport; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_set_header X-Real-IP $remote_addr; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; proxy_buffering off; } }`;
  // Same number of processes on both sides: nginx workers = ingress worker processes.
  const n = Number(process.env.BENCH_INGRESS_WORKERS ?? cpus().length);
  const nginx1 = nginx('proxy1', `${upstream} ${proxyLoc(18081)}`, '1');
  const nginxN = nginx('proxyn', `${upstream} ${proxyLoc(18082)}`, String(n));
  await waitPort('127.0.0.1', 18081);
  await waitPort('127.0.0.1', 18082);

  // The ingress compiled, as users run it, in its own process like inside `jotasu server` (the bench
  // driver stays out of its event loop): once serving in that process (0 workers), once with n workers.
  const controller = join(dirname(dirname(await buildCompiled('network'))), 'ingress', 'controller.js');
  const child = (listen: number, workers: number) => {
    const c = spawn(process.execPath, ['--import', 'tsx', new URL('./network-ingress-child.ts', import.meta.url).pathname, String(port), String(listen), String(workers)],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, LOG_LEVEL: 'error', INGRESS_CONTROLLER_MODULE: controller } });
    children.push(c);
    return c;
  };
  const ingress1 = child(18083, 0);
  const ingressN = child(18084, n);
  await waitPort('127.0.0.1', 18083);
  await waitPort('127.0.0.1', 18084);

  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const host = 'bench.example.com';
  interface Case { name: string; url: string; pid: number }
  const pairs: [Case, Case][] = [
    [{ name: 'nginx, 1 worker', url: 'http://127.0.0.1:18081/', pid: nginx1.pid! }, { name: 'jotasu ingress, in process (1 thread)', url: 'http://127.0.0.1:18083/', pid: ingress1.pid! }],
    [{ name: `nginx, ${n} workers (reuseport)`, url: 'http://127.0.0.1:18082/', pid: nginxN.pid! }, { name: `jotasu ingress, ${n} worker processes`, url: 'http://127.0.0.1:18084/', pid: ingressN.pid! }],
  ];
  const load0 = loadavg()[0]!;
  console.log(`\nIngress vs nginx reverse proxy (3 backends: nginx on 127.0.0.2-4, keep-alive to them on both sides, wrk -c ${CONNS} -d ${DURATION}, ${cpus().length} CPUs shared by wrk, proxies and backends; ${rounds} rounds, each pair back to back in alternating order; medians)`);
  // Warm-up: JIT, upstream pools.
  for (const pair of pairs) for (const c of pair) execFileSync('wrk', ['-t', '2', '-c', CONNS, '-d', '2s', '-H', `Host: ${host}`, c.url], { stdio: 'ignore' });
  const direct: WrkResult[] = [];
  const runs = new Map<Case, ProxyRun[]>();
  const ratios: { rps: number; p99: number; cpu: number }[][] = pairs.map(() => []);
  for (let r = 0; r < rounds; r++) {
    direct.push(wrk(`http://127.0.0.2:${port}/`));
    pairs.forEach((pair, i) => {
      // Alternating order: neither side always runs first (load on a shared host drifts).
      const [a, b] = r % 2 ? [pair[1], pair[0]] : pair;
      const ra = measureProxy(a.url, host, a.pid);
      const rb = measureProxy(b.url, host, b.pid);
      const [ng, jo] = r % 2 ? [rb, ra] : [ra, rb];
      runs.set(pair[0], [...runs.get(pair[0]) ?? [], ng]);
      runs.set(pair[1], [...runs.get(pair[1]) ?? [], jo]);
      ratios[i]!.push({ rps: jo.rps / ng.rps, p99: jo.p99 / ng.p99, cpu: jo.cpuUsPerReq / ng.cpuUsPerReq });
      if (rounds > 1) console.log(`    round ${r + 1}: ${pair[0].name} ${ng.rps.toFixed(0)} req/s p99 ${ng.p99.toFixed(2)} ms; ${pair[1].name} ${jo.rps.toFixed(0)} req/s p99 ${jo.p99.toFixed(2)} ms -> ${(100 * jo.rps / ng.rps).toFixed(0)} %`);
    });
  }
  const med = (rs: WrkResult[]): WrkResult => ({ rps: median(rs.map((x) => x.rps)), p50: median(rs.map((x) => x.p50)), p99: median(rs.map((x) => x.p99)), errors: rs.reduce((a, x) => a + x.errors, 0) });
  const cpuOf = (rs: ProxyRun[]): string => {
    const shares = rs[0]!.workerShares.length > 1 ? `, worker CPU split ${rs.map((x) => x.workerShares.map((s) => (100 * s).toFixed(0)).join('/')).join(' ')}` : '';
    return `   ${median(rs.map((x) => x.cpuUsPerReq)).toFixed(1).padStart(5)} µs CPU/req${shares}`;
  };
  console.log(fmt('backend directly (reference)', med(direct)));
  pairs.forEach(([ng, jo], i) => {
    const rr = ratios[i]!;
    console.log(fmt(ng.name, med(runs.get(ng)!)) + cpuOf(runs.get(ng)!));
    console.log(fmt(jo.name, med(runs.get(jo)!)) + cpuOf(runs.get(jo)!));
    console.log(`    ${jo.name} / ${ng.name}: median ${(100 * median(rr.map((x) => x.rps))).toFixed(0)} % of req/s (rounds ${rr.map((x) => (100 * x.rps).toFixed(0)).join(', ')}), p99 ${median(rr.map((x) => x.p99)).toFixed(2)}x, CPU per request ${median(rr.map((x) => x.cpu)).toFixed(2)}x`);
  });
  const rn = ratios[1]!;
  console.log(`  target: >= 70 % of nginx's req/s with p99 <= 2x at the same worker count -> ${n} workers: ${(100 * median(rn.map((x) => x.rps))).toFixed(0)} %, p99 ${median(rn.map((x) => x.p99)).toFixed(2)}x (load average ${load0.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end)`);
}

const modesHere = async (): Promise<ProxyMode[]> => (await nftAvailable(makeExec())) ? [...PROXY_MODES] : ['iptables'];

async function clusterIPBench(): Promise<void> {
  if (process.getuid?.() !== 0) { console.log('\nClusterIP vs pod IP: skipped (needs root)'); return; }
  let topo: Topology | undefined;
  const inf = createFakeInformers();
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  try {
    topo = await createTopology(3);
    for (const p of topo.pods) nginx(`pod-${p.ip}`, backendBlock([`${p.ip}:8080`]), '1', p.ns);
    for (const p of topo.pods) await waitPort(p.ip, 8080, p.ns);
    inf.put<Service>(R.services, { metadata: { name: 'one', namespace: 'default' }, spec: { clusterIP: '10.43.0.90', ports: [{ port: 80, targetPort: 8080 }] } });
    inf.put<EndpointSlice>(R.endpointslices, { addressType: 'IPv4', metadata: { name: 'one-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'one' } }, ports: [{ name: '', port: 8080, protocol: 'TCP' }], endpoints: [{ addresses: [topo.pods[0]!.ip], nodeName: 'n1' }] });
    inf.put<Service>(R.services, { metadata: { name: 'three', namespace: 'default' }, spec: { clusterIP: '10.43.0.91', ports: [{ port: 80, targetPort: 8080 }] } });
    inf.put<EndpointSlice>(R.endpointslices, { addressType: 'IPv4', metadata: { name: 'three-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'three' } }, ports: [{ name: '', port: 8080, protocol: 'TCP' }], endpoints: topo.pods.map((p) => ({ addresses: [p.ip], nodeName: 'n1' })) });
    console.log(`\nClusterIP vs pod IP (client namespace -> node namespace -> pod namespaces, nginx backends, wrk -c ${CONNS} -d ${DURATION})`);
    const pod = wrk(`http://${topo.pods[0]!.ip}:8080/`, { netns: topo.client });
    console.log(fmt('pod IP directly', pod));
    for (const mode of await modesHere()) {
      proxy = await startProxy({ client: {} as ApiClient, informers: inf, nodeName: 'n1', clusterCIDR: '10.42.0.0/16', exec: makeExec(topo.node), mode });
      const cip = wrk('http://10.43.0.90/', { netns: topo.client });
      console.log(fmt(`${mode}: ClusterIP, 1 endpoint (DNAT + masq)`, cip, pod));
      const cip3 = wrk('http://10.43.0.91/', { netns: topo.client });
      console.log(fmt(`${mode}: ClusterIP, 3 endpoints`, cip3, pod));
      console.log(`  ${mode}: ClusterIP overhead vs pod IP (1 endpoint): ${(100 - (cip.rps / pod.rps) * 100).toFixed(1)} % req/s`);
      await proxy.stop();
      proxy = undefined;
    }
  } finally {
    await proxy?.stop().catch(() => undefined);
    if (topo) await cleanupAllModes(makeExec(topo.node)).catch(() => undefined);
    for (const c of children.splice(0)) try { c.kill('SIGTERM'); } catch { /* gone */ }
    await sleep(200);
    topo?.destroy();
  }
}

/** CPU-seconds of this process and of the children it has waited for (iptables-restore, nft). */
function cpuSeconds(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  // Fields 14-17 of stat (utime, stime, cutime, cstime), in clock ticks (100 Hz); after the ") " split they are at 11-14.
  return f.slice(11, 15).reduce((a, b) => a + Number(b), 0) / 100;
}

async function proxySyncBench(): Promise<void> {
  if (process.getuid?.() !== 0) { console.log('\nProxy sync: skipped (needs root)'); return; }
  const SERVICES = 1000, ENDPOINTS = 10, CHANGES = Number(process.env.BENCH_SYNC_CHANGES ?? 5);
  const inf = createFakeInformers();
  const slice = (i: number, ips: string[]): EndpointSlice => ({ addressType: 'IPv4', metadata: { name: `s${i}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': `s${i}` } }, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints: ips.map((ip) => ({ addresses: [ip], nodeName: 'n1' })) });
  for (let i = 0; i < SERVICES; i++) {
    inf.put<Service>(R.services, { metadata: { name: `s${i}`, namespace: 'default' }, spec: { type: i % 10 === 0 ? 'NodePort' : 'ClusterIP', clusterIP: `10.43.${10 + (i >> 8)}.${i & 255}`, ports: [{ name: 'http', port: 80, targetPort: 8080, ...(i % 10 === 0 ? { nodePort: 30000 + i } : {}) }] } });
    inf.put(R.endpointslices, slice(i, Array.from({ length: ENDPOINTS }, (_, j) => `10.42.${1 + (i >> 4)}.${(i & 15) * 10 + j + 1}`)));
  }
  const ns = `jtn-bsync-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  const rows: { name: string; full: number; fullCpu: number; change: number; changeCpu: number }[] = [];
  const load = loadavg()[0]!.toFixed(1);
  try {
    const exec = makeExec(ns);
    const variants: { name: string; mode: ProxyMode; backend?: Backend }[] = [
      { name: 'iptables (host iptables: ' + (execFileSync('iptables', ['--version'], { encoding: 'utf8' }).includes('legacy') ? 'legacy)' : 'nf_tables)'), mode: 'iptables' },
      { name: 'iptables (iptables-legacy)', mode: 'iptables', backend: 'legacy' },
      ...((await modesHere()).includes('nftables') ? [{ name: 'nftables', mode: 'nftables' as const }] : []),
    ];
    for (const v of variants) {
      let c0 = cpuSeconds(), t0 = performance.now();
      const proxy = await startProxy({ client: {} as ApiClient, informers: inf, nodeName: 'n1', clusterCIDR: '10.42.0.0/16', exec, mode: v.mode, backend: v.backend });
      const full = performance.now() - t0, fullCpu = cpuSeconds() - c0;
      const times: number[] = [], cpu: number[] = [];
      try {
        for (let k = 0; k < CHANGES; k++) {
          // Apart from each other and from housekeeping syncs (nftables deletes flushed chains a second later).
          await sleep(1300);
          const i = (k * 97) % SERVICES;
          const ips = Array.from({ length: ENDPOINTS }, (_, j) => `10.42.${1 + (i >> 4)}.${(i & 15) * 10 + j + 1}`);
          ips[k % ENDPOINTS] = `10.42.250.${k + 1}`; // one endpoint replaced
          c0 = cpuSeconds(); t0 = performance.now();
          inf.put(R.endpointslices, slice(i, ips));
          await proxy.syncNow();
          times.push(performance.now() - t0);
          cpu.push(cpuSeconds() - c0);
        }
      } finally { await proxy.stop(); }
      const median = (l: number[]): number => [...l].sort((a, b) => a - b)[(l.length - 1) >> 1]!;
      rows.push({ name: v.name, full, fullCpu, change: median(times), changeCpu: median(cpu) });
    }
  } finally {
    await cleanupAllModes(makeExec(ns)).catch(() => undefined);
    execFileSync('ip', ['netns', 'del', ns]);
  }
  console.log(`\nProxy sync, ${SERVICES.toLocaleString('en')} Services x ${ENDPOINTS} endpoints (every 10th a NodePort), in a scratch network namespace; load average ${load} at start, ${cpus().length} CPUs`);
  console.log(`  ${'mode'.padEnd(34)} ${'full sync'.padStart(10)} ${'CPU-s'.padStart(7)}   ${'1 endpoint change'.padStart(18)} ${'CPU-s'.padStart(7)}  (median of ${CHANGES})`);
  for (const r of rows) console.log(`  ${r.name.padEnd(34)} ${r.full.toFixed(0).padStart(7)} ms ${r.fullCpu.toFixed(2).padStart(7)}   ${r.change.toFixed(0).padStart(15)} ms ${r.changeCpu.toFixed(2).padStart(7)}`);
  console.log('  target: full sync <= 2 s, an endpoint change in the kernel within 1 s (full sync: a proxy starting with 1,000 Services in its caches; CPU-s include iptables-restore/nft)');
}

const part = process.env.BENCH_NETWORK ?? 'all';
try {
  if (part === 'all' || part === 'ingress') {
    await ingressBench();
    for (const c of children.splice(0)) try { c.kill('SIGTERM'); } catch { /* gone */ }
    await sleep(300);
  }
  if (part === 'all' || part === 'proxy') await clusterIPBench();
  if (part !== 'ingress') await proxySyncBench();
} finally {
  for (const c of children) try { c.kill('SIGTERM'); } catch { /* gone */ }
  await sleep(300);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
