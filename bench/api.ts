// API server benchmark (npm run bench:api): pod creates at a fixed open-loop rate,
// gets, a list of 10,000 pods, 100 concurrent watchers, and the server's RSS.
import { Agent, request } from 'node:https';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { startCluster } from '../test/lib/cluster.js';

const RATE = Number(process.env.RATE ?? 500);
const TOTAL = Number(process.env.PODS ?? 10_000);
const WATCHERS = Number(process.env.WATCHERS ?? 100);
const NS = 'bench';

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
const f = (n: number): string => n.toFixed(1);

// The API server alone: in-process scheduler and controllers would add their own load.
const cluster = await startCluster({ env: { LOG_LEVEL: 'warn' }, args: (process.env.BENCH_ARGS ?? '--disable scheduler --disable controller-manager').split(' ').filter(Boolean) });
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
  const start = performance.now();
  const done: Promise<void>[] = [];
  for (let i = 0; i < TOTAL; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    sent.set(`p-${i}`, t0);
    done.push(call('POST', `/api/v1/namespaces/${NS}/pods`, pod(i)).then((r) => {
      if (r.code !== 201) errorsN++;
      createLat.push(performance.now() - t0);
    }));
  }
  await Promise.all(done);
  const elapsed = (performance.now() - start) / 1000;
  const deadline = Date.now() + 10_000;
  while (seen.some((n) => n < TOTAL) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

  const getLat: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t0 = performance.now();
    await call('GET', `/api/v1/namespaces/${NS}/pods/p-${(i * 7) % TOTAL}`);
    getLat.push(performance.now() - t0);
  }
  const listTimes: Record<string, number> = {};
  for (const [label, q] of [['consistent', ''], ['rv=0 (cache)', '?resourceVersion=0'], ['limit=500 page', '?limit=500']] as const) {
    const t0 = performance.now();
    const r = await call('GET', `/api/v1/namespaces/${NS}/pods${q}`);
    listTimes[label] = performance.now() - t0;
    if (r.code !== 200) throw new Error(`list failed: ${r.code}`);
  }
  const pid = cluster.pid();
  const rss = pid ? Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)![1]) / 1024 : NaN;

  console.log(`pods created: ${TOTAL} at ${RATE}/s target (achieved ${f(TOTAL / elapsed)}/s), errors ${errorsN}`);
  console.log(`create latency: p50 ${f(pct(createLat, 50))} ms, p99 ${f(pct(createLat, 99))} ms, max ${f(Math.max(...createLat))} ms   (target p99 <= 20 ms)`);
  console.log(`get latency:    p50 ${f(pct(getLat, 50))} ms, p99 ${f(pct(getLat, 99))} ms`);
  for (const [k, v] of Object.entries(listTimes)) console.log(`list ${TOTAL} pods (${k}): ${f(v)} ms   (target <= 300 ms)`);
  console.log(`watchers: ${WATCHERS}, all saw every event: ${seen.every((n) => n >= TOTAL)} (min ${Math.min(...seen)}), latency p50 ${f(pct(watchLat, 50))} ms, p99 ${f(pct(watchLat, 99))} ms   (target p99 <= 100 ms)`);
  console.log(`server RSS with ${TOTAL} pods: ${f(rss)} MB   (target <= 150 MB)`);
  for (const r of watchReqs) r.destroy();
  agent.destroy();
  wAgent.destroy();
} finally {
  await cluster.stop();
}
