// API server benchmark (npm run bench:api): pod creates at a fixed open-loop rate,
// gets, a list of 10,000 pods, 100 concurrent watchers, and the server's RSS.
// Latencies count successful responses only; failures are counted and printed apart.
// --profile: CPU profile of the server during the creates/watches, summarised at the end
// (--keep-profiles keeps the .cpuprofile file for a closer look).
import { Agent, request } from 'node:https';
import { readFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startCluster } from '../test/lib/cluster.js';
import { formatSummary, summarizeFile } from './profile-summary.js';

const RATE = Number(process.env.RATE ?? 500);
const TOTAL = Number(process.env.PODS ?? 10_000);
const WATCHERS = Number(process.env.WATCHERS ?? 100);
const NS = 'bench';

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
const f = (n: number): string => n.toFixed(1);

const PROFILE = process.argv.includes('--profile');
const profDir = PROFILE ? mkdtempSync(join(tmpdir(), 'jotasu-bench-api-prof-')) : '';
if (PROFILE && !process.argv.includes('--keep-profiles')) process.on('exit', () => rmSync(profDir, { recursive: true, force: true }));
const profEnv: Record<string, string> = PROFILE
  ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${new URL('./cpu-profile-preload.mjs', import.meta.url).pathname}`.trim(), CPU_PROFILE_DIR: profDir }
  : {};

// The API server alone: in-process scheduler and controllers would add their own load.
const cluster = await startCluster({ env: { LOG_LEVEL: 'warn', ...profEnv }, args: (process.env.BENCH_ARGS ?? '--disable scheduler --disable controller-manager').split(' ').filter(Boolean) });
try {
  const tls = cluster.tlsOptions();
  const agent = new Agent({ ...tls, keepAlive: true, maxSockets: 64 });
  const call = (method: string, path: string, body?: unknown): Promise<{ code: number; body: string }> => new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(`${cluster.url}${path}`, { method, agent, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(data);
  });
  await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  const rv = JSON.parse((await call('GET', `/api/v1/namespaces/${NS}/pods`)).body).metadata.resourceVersion as string;

  // Watchers: each records when it saw each pod's ADDED event.
  const sent = new Map<string, number>();
  const watchLat: number[] = [];
  const seen = new Array<number>(WATCHERS).fill(0);
  const wAgent = new Agent({ ...tls, keepAlive: true, maxSockets: WATCHERS + 1 });
  const watchReqs = [];
  for (let i = 0; i < WATCHERS; i++) {
    const req = request(`${cluster.url}/api/v1/namespaces/${NS}/pods?watch=true&resourceVersion=${rv}`, { agent: wAgent }, (res) => {
      let buf = '';
      res.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const m = line.match(/^\{"type":"ADDED","object":\{"apiVersion":"v1","kind":"Pod","metadata":\{[^]*?"name":"([^"]+)"/);
          if (m) {
            const t0 = sent.get(m[1]!);
            if (t0 !== undefined) watchLat.push(performance.now() - t0);
            seen[i]!++;
          }
        }
      });
    });
    req.end();
    watchReqs.push(req);
  }
  await new Promise((r) => setTimeout(r, 500));

  const pod = (i: number): unknown => ({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: `p-${i}`, labels: { app: 'bench', shard: String(i % 10) } },
    spec: { containers: [{ name: 'c', image: 'busybox:1.36', command: ['sleep', '3600'], resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
  });

  // Open loop: request i is sent at i/RATE seconds regardless of responses.
  const createLat: number[] = [];
  let errorsN = 0;
  const errorCodes = new Map<number, number>();
  // The profile covers the creates and the watch fan-out, not the startup.
  if (PROFILE) process.kill(cluster.pid()!, 'SIGUSR2');
  const start = performance.now();
  const done: Promise<void>[] = [];
  for (let i = 0; i < TOTAL; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    sent.set(`p-${i}`, t0);
    done.push(call('POST', `/api/v1/namespaces/${NS}/pods`, pod(i)).then((r) => {
      if (r.code !== 201) { errorsN++; errorCodes.set(r.code, (errorCodes.get(r.code) ?? 0) + 1); return; }
      createLat.push(performance.now() - t0);
    }, () => { errorsN++; errorCodes.set(0, (errorCodes.get(0) ?? 0) + 1); }));
  }
  await Promise.all(done);
  const elapsed = (performance.now() - start) / 1000;
  const deadline = Date.now() + 10_000;
  while (seen.some((n) => n < TOTAL) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

  const getLat: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t0 = performance.now();
    const r = await call('GET', `/api/v1/namespaces/${NS}/pods/p-${(i * 7) % TOTAL}`);
    if (r.code === 200) getLat.push(performance.now() - t0);
  }
  const listTimes: Record<string, number> = {};
  for (const [label, q] of [['consistent', ''], ['rv=0 (cache)', '?resourceVersion=0'], ['limit=500 page', '?limit=500']] as const) {
    const t0 = performance.now();
    const r = await call('GET', `/api/v1/namespaces/${NS}/pods${q}`);
    listTimes[label] = performance.now() - t0;
    if (r.code !== 200) throw new Error(`list failed: ${r.code}`);
  }
  const pid = cluster.pid();
  const rssOf = (): number => (pid ? Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)![1]) / 1024 : NaN);
  const rss = rssOf();
  // And once the burst's garbage had a chance to be collected (watchers still connected).
  await new Promise((r) => setTimeout(r, 3000));
  const rssSettled = rssOf();

  console.log(`pods created: ${TOTAL - errorsN} of ${TOTAL} at ${RATE}/s target (sent at ${f(TOTAL / elapsed)}/s), errors ${errorsN}${errorsN ? ` (${[...errorCodes].map(([k, v]) => `${k || 'conn'}: ${v}`).join(', ')})` : ''}`);
  console.log(`create latency: p50 ${f(pct(createLat, 50))} ms, p99 ${f(pct(createLat, 99))} ms, max ${f(Math.max(...createLat))} ms   (target p99 <= 20 ms)`);
  console.log(`get latency:    p50 ${f(pct(getLat, 50))} ms, p99 ${f(pct(getLat, 99))} ms (${getLat.length} of 2000 ok)`);
  for (const [k, v] of Object.entries(listTimes)) console.log(`list ${TOTAL} pods (${k}): ${f(v)} ms   (target <= 300 ms)`);
  console.log(`watchers: ${WATCHERS}, all saw every event: ${seen.every((n) => n >= TOTAL)} (min ${Math.min(...seen)}), latency p50 ${f(pct(watchLat, 50))} ms, p99 ${f(pct(watchLat, 99))} ms   (target p99 <= 100 ms)`);
  console.log(`server RSS with ${TOTAL} pods: ${f(rss)} MB right after the lists, ${f(rssSettled)} MB 3 s later   (target <= 150 MB)`);
  for (const r of watchReqs) r.destroy();
  agent.destroy();
  wAgent.destroy();
} finally {
  await cluster.stop();
}
if (PROFILE) {
  for (const file of readdirSync(profDir).filter((x) => x.endsWith('.cpuprofile'))) console.log(formatSummary(`server ${file}`, summarizeFile(join(profDir, file), 25)));
  if (process.argv.includes('--keep-profiles')) console.log(`profiles kept in ${profDir}`);
}
