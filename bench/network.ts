// npm run bench:network — service networking figures, one wrk run each, side by side.
//  1. Ingress: jotasu's ingress controller vs nginx (Debian) as a reverse proxy to the
//     same three backends (nginx serving a small page on 127.0.0.2-4), req/s and p99,
//     at 1 process each and at N each (nginx workers = ingress worker processes,
//     BENCH_INGRESS_WORKERS, default the CPU count). BENCH_ROUNDS > 1: interleaved
//     rounds, medians printed (the host may be shared and noisy).
//  2. ClusterIP vs pod IP: wrk from a client namespace to a backend in a "pod"
//     namespace, directly and through the proxy's iptables rules (test topology of
//     test/network/netns.ts, needs root).
// Backends are local nginx processes (not real pods), in namespaces for part 2.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { R } from '../src/api/resources.js';
import type { ApiClient } from '../src/client/types.js';
import { startProxy } from '../src/proxy/proxier.js';
import { Iptables, makeExec } from '../src/proxy/iptables.js';
import { createFakeInformers } from '../test/network/fake-informers.js';
import { createTopology, type Topology } from '../test/network/netns.js';

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

async function ingressBench(): Promise<void> {
  const port = 18080;
  const backends = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
  nginx('backends', backendBlock(backends.map((ip) => `${ip}:${port}`)), '1');
  for (const ip of backends) await waitPort(ip, port);
  const upstream = `upstream be { ${backends.map((ip) => `server ${ip}:${port};`).join(' ')} keepalive 128; }`;
  const proxyLoc = (p: number) => `server { listen 127.0.0.1:${p}; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_set_header X-Real-IP $remote_addr; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; proxy_buffering off; } }`;
  // Same number of processes on both sides: nginx workers = ingress worker processes.
  const n = Number(process.env.BENCH_INGRESS_WORKERS ?? cpus().length);
  nginx('proxy1', `${upstream} ${proxyLoc(18081)}`, '1');
  nginx('proxyn', `${upstream} ${proxyLoc(18082)}`, String(n));
  await waitPort('127.0.0.1', 18081);
  await waitPort('127.0.0.1', 18082);

  // The ingress in its own process, like inside `jotasu server` (the bench driver stays out of its event loop):
  // once serving in that process (0 workers), once with n worker processes.
  const child = (listen: number, workers: number) => {
    const c = spawn(process.execPath, ['--import', 'tsx', new URL('./network-ingress-child.ts', import.meta.url).pathname, String(port), String(listen), String(workers)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, LOG_LEVEL: 'error' } });
    children.push(c);
    return c;
  };
  child(18083, 0);
  child(18084, n);
  await waitPort('127.0.0.1', 18083);
  await waitPort('127.0.0.1', 18084);

  const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
  console.log(`\nIngress vs nginx reverse proxy (3 backends: nginx on 127.0.0.2-4, keep-alive to them on both sides, wrk -c ${CONNS} -d ${DURATION}, ${cpus().length} CPUs shared by wrk, proxies and backends${rounds > 1 ? `, median of ${rounds} interleaved rounds` : ''})`);
  const runs: Record<string, WrkResult[]> = {};
  const cases: [string, string, string?][] = [
    ['backend directly (reference)', `http://127.0.0.2:${port}/`],
    ['nginx, 1 worker', 'http://127.0.0.1:18081/', 'bench.example.com'],
    ['jotasu ingress, in process (1 thread)', 'http://127.0.0.1:18083/', 'bench.example.com'],
    [`nginx, ${n} workers`, 'http://127.0.0.1:18082/', 'bench.example.com'],
    [`jotasu ingress, ${n} worker processes`, 'http://127.0.0.1:18084/', 'bench.example.com'],
  ];
  for (let r = 0; r < rounds; r++) {
    for (const [name, url, host] of cases) {
      const res = wrk(url, { host });
      (runs[name] ??= []).push(res);
      if (rounds > 1) console.log(fmt(`  round ${r + 1}: ${name}`, res));
    }
  }
  const med = (name: string): WrkResult => { const l = [...runs[name]!].sort((a, b) => a.rps - b.rps); return l[(l.length - 1) >> 1]!; };
  const [direct, n1, j1, nn, jn] = cases.map(([name]) => med(name)) as [WrkResult, WrkResult, WrkResult, WrkResult, WrkResult];
  console.log(fmt(cases[0]![0], direct));
  console.log(fmt(cases[1]![0], n1));
  console.log(fmt(cases[2]![0], j1, n1));
  console.log(fmt(cases[3]![0], nn));
  console.log(fmt(cases[4]![0], jn, nn));
  console.log(`  target: >= 70 % of nginx's req/s with p99 <= 2x at the same worker count -> ${n} workers: ${((jn.rps / nn.rps) * 100).toFixed(0)} %, p99 ${(jn.p99 / nn.p99).toFixed(2)}x`);
}

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
    proxy = await startProxy({ client: {} as ApiClient, informers: inf, nodeName: 'n1', clusterCIDR: '10.42.0.0/16', exec: makeExec(topo.node) });
    console.log(`\nClusterIP vs pod IP (client namespace -> node namespace -> pod namespaces, nginx backends, wrk -c ${CONNS} -d ${DURATION})`);
    const pod = wrk(`http://${topo.pods[0]!.ip}:8080/`, { netns: topo.client });
    console.log(fmt('pod IP directly', pod));
    const cip = wrk('http://10.43.0.90/', { netns: topo.client });
    console.log(fmt('ClusterIP, 1 endpoint (DNAT + masquerade)', cip, pod));
    const cip3 = wrk('http://10.43.0.91/', { netns: topo.client });
    console.log(fmt('ClusterIP, 3 endpoints', cip3, pod));
    console.log(`  ClusterIP overhead vs pod IP (1 endpoint): ${(100 - (cip.rps / pod.rps) * 100).toFixed(1)} % req/s`);
  } finally {
    await proxy?.stop().catch(() => undefined);
    if (topo) { try { await new Iptables(makeExec(topo.node)).cleanup(); } catch { /* gone */ } }
    for (const c of children.splice(0)) try { c.kill('SIGTERM'); } catch { /* gone */ }
    await sleep(200);
    topo?.destroy();
  }
}

try {
  await ingressBench();
  for (const c of children.splice(0)) try { c.kill('SIGTERM'); } catch { /* gone */ }
  await sleep(300);
  await clusterIPBench();
} finally {
  for (const c of children) try { c.kill('SIGTERM'); } catch { /* gone */ }
  await sleep(300);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
