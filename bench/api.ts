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
import { Worker } from 'node:worker_threads';
import { binLaunch, startCluster } from '../test/lib/cluster.js';
import { formatSummary, summarizeFile } from './profile-summary.js';
import { buildCompiled } from './lib/compiled.js';

const RATE = Number(process.env.RATE ?? 500);
const TOTAL = Number(process.env.PODS ?? 10_000);
const WATCHERS = Number(process.env.WATCHERS ?? 100);
const NS = 'bench';

// n watch streams; records the absolute time each pod's ADDED event arrived on each.
const WATCH_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { Agent, request } = require('node:https');
const { performance } = require('node:perf_hooks');
const { url, startRV, tls, n, total } = workerData;
const agent = new Agent({ ...tls, keepAlive: true, maxSockets: n + 1 });
const times = [], seen = [], reqs = [], resumes = [], connected = [];
let whenDone = false, stopped = false;
const finish = () => { stopped = true; for (const r of reqs) r.destroy(); agent.destroy(); parentPort.postMessage({ seen, times, resumes }); parentPort.close(); };
const check = () => { if (whenDone && seen.every((x) => x >= total)) finish(); };
// One watch stream; when the server ends it (a watcher that fell too far behind), it resumes
// from the last resourceVersion it saw, as a client-go reflector does.
function watch(i, rv) {
  const t = times[i];
  const req = request(url + rv, { agent }, (res) => {
    // Every watch has its response (the server registered it) once: the timed phase may start.
    if (!connected[i]) { connected[i] = true; if (connected.every(Boolean)) parentPort.postMessage({ connected: true }); }
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const r = line.indexOf('"resourceVersion":"');
        if (r >= 0) rv = line.slice(r + 19, line.indexOf('"', r + 19));
        if (!line.startsWith('{"type":"ADDED"')) continue;
        const at = line.indexOf('"name":"p-');
        if (at < 0) continue;
        const idx = Number(line.slice(at + 10, line.indexOf('"', at + 10)));
        if (idx >= 0 && idx < total && !t[idx]) { t[idx] = performance.timeOrigin + performance.now(); seen[i]++; }
      }
      if (whenDone && seen[i] >= total) check();
    });
    res.on('end', () => { if (!stopped) { resumes[i]++; reqs[i] = watch(i, rv); } });
  });
  req.end();
  return req;
}
for (let i = 0; i < n; i++) {
  times.push(new Float64Array(total)); seen.push(0); resumes.push(0); connected.push(false);
  reqs.push(watch(i, startRV));
}
parentPort.on('message', (m) => { if (m === 'stop') finish(); else { whenDone = true; check(); } });
`;

interface MemProbe { usage: NodeJS.MemoryUsage; spaces: Record<string, { size: number; used: number }>; smaps: Record<string, number>; snapshot?: string; gcs?: [number, number, string][] }

/** Asks the server (mem-probe-preload.mjs) for its memory breakdown. */
async function probeMemory(pid: number | undefined): Promise<MemProbe | undefined> {
  if (!pid) return undefined;
  const file = join(memDir, `${pid}.json`);
  const since = Date.now();
  process.kill(pid, 'SIGWINCH');
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      const m = JSON.parse(readFileSync(file, 'utf8')) as MemProbe & { at: number };
      if (m.at >= since) return m;
    } catch { /* not written yet */ }
  }
  return undefined;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
const f = (n: number): string => n.toFixed(1);

const PROFILE = process.argv.includes('--profile');
const TIMELINE = process.argv.includes('--timeline');
const timeline: [number, number][] = [];
const profDir = PROFILE ? mkdtempSync(join(tmpdir(), 'jotasu-bench-api-prof-')) : '';
if (PROFILE && !process.argv.includes('--keep-profiles')) process.on('exit', () => rmSync(profDir, { recursive: true, force: true }));
// The memory probe: the server writes its heap breakdown on SIGWINCH (--heap-snapshot: and a snapshot, kept).
const memDir = mkdtempSync(join(tmpdir(), 'jotasu-bench-api-mem-'));
const SNAPSHOT = process.argv.includes('--heap-snapshot');
if (!SNAPSHOT) process.on('exit', () => rmSync(memDir, { recursive: true, force: true }));
const preloads = [new URL('./mem-probe-preload.mjs', import.meta.url).pathname, ...(PROFILE ? [new URL('./cpu-profile-preload.mjs', import.meta.url).pathname] : [])];
const profEnv: Record<string, string> = {
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${preloads.map((p) => `--import ${p}`).join(' ')}`.trim(),
  MEM_PROBE_DIR: memDir,
  ...(SNAPSHOT ? { MEM_PROBE_SNAPSHOT: '1' } : {}),
  ...(PROFILE ? { CPU_PROFILE_DIR: profDir } : {}),
};

// The API server alone: in-process scheduler and controllers would add their own load.
// --node-flags="--max-semi-space-size=2 ...": V8 settings for the server process, printed with the figures.
const NODE_FLAGS = (process.argv.find((a) => a.startsWith('--node-flags='))?.slice('--node-flags='.length) ?? '').split(' ').filter(Boolean);
const main = process.env.FROM_SOURCE ? undefined : await buildCompiled('api');
// Compiled, the server starts as bin/jotasu.mjs starts it (its node flags and malloc settings).
const asInstalled = binLaunch();
console.log(`server: ${main ? `${Object.entries(asInstalled.env).map(([k, v]) => `${k}=${v} `).join('')}node ${asInstalled.nodeFlags.join(' ')} ${main}` : 'tsx (sources)'}`);
const cluster = await startCluster({ main, nodeArgs: NODE_FLAGS, env: { LOG_LEVEL: 'warn', ...profEnv }, args: (process.env.BENCH_ARGS ?? '--disable scheduler --disable controller-manager').split(' ').filter(Boolean) });
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
  // No controller manager here: the "default" ServiceAccount its pods need (admission) is made by hand.
  await call('POST', `/api/v1/namespaces/${NS}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } });
  const rv = JSON.parse((await call('GET', `/api/v1/namespaces/${NS}/pods`)).body).metadata.resourceVersion as string;

  // Watchers: each records when it saw each pod's ADDED event. They run on worker threads,
  // so parsing 100 streams does not delay the create loop's own timing in this thread
  // (times are absolute: timeOrigin + now, comparable across threads).
  const sent = new Float64Array(TOTAL);
  const workers = Array.from({ length: Math.min(2, WATCHERS) }, (_, k) => {
    const n = Math.floor(WATCHERS / 2) + (k < WATCHERS % 2 ? 1 : 0);
    return new Worker(WATCH_WORKER, { eval: true, workerData: { url: `${cluster.url}/api/v1/namespaces/${NS}/pods?watch=true&resourceVersion=`, startRV: rv, tls, n, total: TOTAL } });
  });
  const connectedAll = workers.map((w) => new Promise<void>((res) => { const on = (m: { connected?: boolean }): void => { if (m.connected) { w.off('message', on); res(); } }; w.on('message', on); }));
  const results = workers.map((w) => new Promise<{ seen: number[]; times: Float64Array[]; resumes: number[] }>((res, rej) => {
    const on = (m: { connected?: boolean; seen?: number[] }): void => { if (m.seen) { w.off('message', on); res(m as never); } };
    w.on('message', on);
    w.once('error', rej);
  }));
  const stopWatchers = (): void => { for (const w of workers) w.postMessage('stop'); };
  const now = (): number => performance.timeOrigin + performance.now();
  // The watches are set up before the timed creates (their TLS handshakes and registration are not
  // part of create latency): until every one has its response headers, at most 30 s, then 500 ms more.
  const w0 = performance.now();
  await Promise.race([Promise.all(connectedAll), new Promise((r) => setTimeout(r, 30_000))]);
  console.log(`watchers: ${WATCHERS} connected before the timed creates (waited ${f(performance.now() - w0)} ms for their responses, then 500 ms)`);
  await new Promise((r) => setTimeout(r, 500));

  const pod = (i: number): unknown => ({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: `p-${i}`, labels: { app: 'bench', shard: String(i % 10) } },
    spec: { containers: [{ name: 'c', image: 'busybox:1.36', command: ['sleep', '3600'], resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
  });

  // Warm-up: the target is for sustained load, so the timed run starts on a server past its
  // first seconds (JIT compilation of the create and fan-out paths, heap growth, new
  // connections). WARMUP creates (default 1,000: 2 s) at the same rate, in the same namespace
  // so that the watchers' fan-out warms up too, then deleted; their latencies are printed
  // apart as the cold start. WARMUP=0 times a cold server.
  const WARMUP = Number(process.env.WARMUP ?? 1000);
  const warmLat: number[] = [];
  if (WARMUP > 0) {
    const w0 = performance.now();
    const ws: Promise<unknown>[] = [];
    for (let i = 0; i < WARMUP; i++) {
      const wait = w0 + (i * 1000) / RATE - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const t0 = performance.now();
      ws.push(call('POST', `/api/v1/namespaces/${NS}/pods`, { ...(pod(i) as object), metadata: { name: `warmup-${i}`, labels: { app: 'bench', shard: String(i % 10), warmup: 'true' } } })
        .then((r) => { if (r.code === 201) warmLat.push(performance.now() - t0); }));
    }
    await Promise.all(ws);
    const del = await call('DELETE', `/api/v1/namespaces/${NS}/pods?labelSelector=warmup%3Dtrue`);
    if (del.code !== 200) throw new Error(`deleting the warm-up pods: ${del.code} ${del.body.slice(0, 200)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }

  // Open loop: request i is sent at i/RATE seconds regardless of responses.
  const createLat: number[] = [];
  const steadyLat: [number, number][] = [];
  let errorsN = 0;
  const errorCodes = new Map<number, number>();
  // Server CPU time (user + system) over the creates and their fan-out: less sensitive than
  // latencies to other load on a shared machine.
  const cpuOf = (): number => { const f = readFileSync(`/proc/${cluster.pid()}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
  const cpu0 = cpuOf();
  // The profile covers the creates and the watch fan-out, not the startup.
  if (PROFILE) process.kill(cluster.pid()!, 'SIGUSR2');
  const start = performance.now();
  const createsStart = now();
  const done: Promise<void>[] = [];
  for (let i = 0; i < TOTAL; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    sent[i] = now();
    done.push(call('POST', `/api/v1/namespaces/${NS}/pods`, pod(i)).then((r) => {
      if (r.code !== 201) { errorsN++; errorCodes.set(r.code, (errorCodes.get(r.code) ?? 0) + 1); return; }
      createLat.push(performance.now() - t0);
      steadyLat.push([t0 - start, performance.now() - t0]);
      if (TIMELINE) timeline.push([t0 - start, performance.now() - t0]);
    }, () => { errorsN++; errorCodes.set(0, (errorCodes.get(0) ?? 0) + 1); }));
  }
  await Promise.all(done);
  const createsEnd = now();
  const elapsed = (performance.now() - start) / 1000;
  const cpuMs = cpuOf() - cpu0;
  // Watch results, once every watcher saw every pod (or 10 s passed).
  setTimeout(stopWatchers, 10_000).unref();
  for (const w of workers) w.postMessage('stop-when-done');
  const got = await Promise.all(results);
  const seen = got.flatMap((g) => g.seen);
  const resumes = got.flatMap((g) => g.resumes).reduce((a, b) => a + b, 0);
  const watchLat: number[] = [];
  for (const g of got) for (const t of g.times) for (let i = 0; i < TOTAL; i++) if (t[i]! > 0 && sent[i]! > 0) watchLat.push(t[i]! - sent[i]!);

  const memAfterCreates = await probeMemory(cluster.pid());

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
  const rssPeak = pid ? Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/)![1]) / 1024 : NaN;
  const mem = await probeMemory(pid);

  console.log(`pods created: ${TOTAL - errorsN} of ${TOTAL} at ${RATE}/s target (sent at ${f(TOTAL / elapsed)}/s), errors ${errorsN}${errorsN ? ` (${[...errorCodes].map(([k, v]) => `${k || 'conn'}: ${v}`).join(', ')})` : ''}`);
  if (WARMUP > 0) console.log(`warm-up (cold server, not in the figures below): ${warmLat.length} of ${WARMUP} creates at ${RATE}/s, p50 ${f(pct(warmLat, 50))} ms, p99 ${f(pct(warmLat, 99))} ms, max ${f(Math.max(...warmLat))} ms; then deleted`);
  console.log(`create latency: p50 ${f(pct(createLat, 50))} ms, p99 ${f(pct(createLat, 99))} ms, max ${f(Math.max(...createLat))} ms   (target p99 <= 20 ms)`);
  // The same after the first 2 s of the timed run, reported apart, not instead.
  const steady = steadyLat.filter(([t]) => t >= 2000).map(([, l]) => l);
  console.log(`  after the first 2 s: p50 ${f(pct(steady, 50))} ms, p99 ${f(pct(steady, 99))} ms`);
  if (TIMELINE) {
    // Create latency per second of the run: where the slow ones cluster.
    for (let sec = 0; sec * 1000 < elapsed * 1000; sec++) {
      const xs = timeline.filter(([t]) => t >= sec * 1000 && t < (sec + 1) * 1000).map(([, l]) => l);
      console.log(`  t=${String(sec).padStart(3)}s  n ${xs.length}  p50 ${f(pct(xs, 50))}  p99 ${f(pct(xs, 99))}  max ${f(Math.max(...xs))}`);
    }
  }
  console.log(`server CPU during the creates: ${f(cpuMs / 1000)} s over ${f(elapsed)} s (${f(cpuMs / elapsed / 10)}% of one core), ${f(cpuMs / TOTAL)} ms per create incl. fan-out to ${WATCHERS} watchers; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  // The server's GC pauses during the timed creates (the main-thread stalls that make tail latency).
  const gcIn = (memAfterCreates?.gcs ?? []).filter(([t]) => t >= createsStart && t <= createsEnd);
  const gcBy = new Map<string, { n: number; ms: number; max: number; first2s: number }>();
  for (const [t, ms, kind] of gcIn) {
    const g = gcBy.get(kind) ?? { n: 0, ms: 0, max: 0, first2s: 0 };
    g.n++; g.ms += ms; g.max = Math.max(g.max, ms); if (t < createsStart + 2000) g.first2s += ms;
    gcBy.set(kind, g);
  }
  console.log(`server GC during the creates: ${[...gcBy].map(([k, g]) => `${k} ${g.n}x ${f(g.ms)} ms (max ${f(g.max)}, ${f(g.first2s)} ms in the first 2 s)`).join(', ') || 'none seen'}`);
  console.log(`get latency:    p50 ${f(pct(getLat, 50))} ms, p99 ${f(pct(getLat, 99))} ms (${getLat.length} of 2000 ok)`);
  for (const [k, v] of Object.entries(listTimes)) console.log(`list ${TOTAL} pods (${k}): ${f(v)} ms   (target <= 300 ms)`);
  console.log(`watchers: ${WATCHERS}, all saw every event: ${seen.every((n) => n >= TOTAL)} (min ${Math.min(...seen)}), latency p50 ${f(pct(watchLat, 50))} ms, p99 ${f(pct(watchLat, 99))} ms, resumed after the server ended a stream: ${resumes}   (target p99 <= 100 ms)`);
  if (NODE_FLAGS.length) console.log(`server node flags: ${NODE_FLAGS.join(' ')}`);
  console.log(`server RSS with ${TOTAL} pods: ${f(rss)} MB right after the lists, ${f(rssSettled)} MB 3 s later, peak ${f(rssPeak)} MB   (target <= 150 MB)`);
  for (const [label, m] of [['after the creates', memAfterCreates], ['after the lists', mem]] as const) {
    if (!m) continue;
    const mem = m;
    const mb = (n: number): string => f(n / 1048576);
    const u = mem.usage;
    console.log(`  server memory ${label}: rss ${mb(u.rss)} MB = V8 heap ${mb(u.heapTotal)} MB (used ${mb(u.heapUsed)}) + external ${mb(u.external)} MB (array buffers ${mb(u.arrayBuffers)}) + native/code/stacks ${mb(u.rss - u.heapTotal - u.external)} MB`);
    console.log(`  V8 spaces (used/size MB): ${Object.entries(mem.spaces).filter(([, s]) => s.size > 0).map(([k, s]) => `${k.replace(/_space$/, '')} ${mb(s.used)}/${mb(s.size)}`).join(', ')}`);
    console.log(`  resident by mapping (MB): ${Object.entries(mem.smaps).filter(([, v]) => v >= 1048576).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${mb(v)}`).join(', ')}`);
    if (mem.snapshot) console.log(`  heap snapshot: ${mem.snapshot}`);
  }
  agent.destroy();
} finally {
  await cluster.stop();
}
if (PROFILE) {
  for (const file of readdirSync(profDir).filter((x) => x.endsWith('.cpuprofile'))) console.log(formatSummary(`server ${file}`, summarizeFile(join(profDir, file), 25)));
  if (process.argv.includes('--keep-profiles')) console.log(`profiles kept in ${profDir}`);
}
