// npm run bench:datastore — the same workload on embedded SQLite and on a real etcd
// (a throwaway member started here), side by side, plus raw etcd puts, and creates
// through a real API server on that etcd against the etcdctl-level baseline (Put RPCs
// from a separate client process: bench/lib/etcd-put-child.mjs). Printed figures, not
// a timed test. BENCH_ONLY=api runs only the API-server part; --profile adds a CPU
// profile of the server during the paired creates.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { openEtcdDatastore } from '../src/datastore/etcd.js';
import { EtcdRpc, RPC } from '../src/datastore/etcd-rpc.js';
import { startEtcd, type EtcdProcess } from '../src/datastore/etcd-process.js';
import { openSqliteDatastore } from '../src/datastore/sqlite.js';
import type { Datastore } from '../src/datastore/types.js';
import { createClientFromKubeconfig } from '../src/client/rest.js';
import { R } from '../src/api/resources.js';
import { startCluster } from '../test/lib/cluster.js';
import { buildCompiled } from './lib/compiled.js';
import { cpuMsOf } from './lib/proc.js';
import { formatSummary, summarizeFile } from './profile-summary.js';

const now = () => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

/** A pod-sized JSON value (~1.5 KB), like what the API server stores. */
function podJson(i: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `pod-${i}`,
      namespace: 'bench',
      uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      labels: { app: 'bench', shard: String(i % 16) },
      annotations: { 'bench/pad': 'x'.repeat(600) },
      creationTimestamp: new Date().toISOString(),
    },
    spec: {
      containers: [{ name: 'c', image: 'busybox:1.36', command: ['sleep', '3600'], resources: { requests: { cpu: '10m', memory: '16Mi' } } }],
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      schedulerName: 'default-scheduler',
    },
    status: { phase: 'Pending', qosClass: 'Burstable' },
  });
}

type Row = Record<string, string>;

async function sequential(n: number, op: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number; perSec: number }> {
  const lat: number[] = [];
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const s = now();
    await op(i);
    lat.push(now() - s);
  }
  return { p50: pct(lat, 50), p99: pct(lat, 99), perSec: n / ((now() - t0) / 1000) };
}

async function concurrent(n: number, conc: number, op: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number; perSec: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < n) {
        const i = next++;
        const s = now();
        await op(i);
        lat.push(now() - s);
      }
    }),
  );
  return { p50: pct(lat, 50), p99: pct(lat, 99), perSec: n / ((now() - t0) / 1000) };
}

/** Open-loop: start `rate` creates per second regardless of completions (the API target: 500/s). */
async function paced(rate: number, seconds: number, op: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number; perSec: number }> {
  const lat: number[] = [];
  const pending: Promise<unknown>[] = [];
  const n = rate * seconds;
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - now();
    if (wait > 1) await sleep(wait);
    const s = now();
    pending.push(op(i).then(() => lat.push(now() - s)));
  }
  await Promise.all(pending);
  return { p50: pct(lat, 50), p99: pct(lat, 99), perSec: n / ((now() - t0) / 1000) };
}

const ms = (x: number) => `${x.toFixed(2)} ms`;
const rate = (x: number) => `${Math.round(x)}/s`;

async function workload(name: string, ds: Datastore): Promise<Row> {
  const r: Row = {};
  const ns = `/registry/bench-${name}`;
  const seq = await sequential(2000, (i) => ds.create(`${ns}/seq/pod-${i}`, podJson(i)));
  r['create sequential p50'] = ms(seq.p50);
  r['create sequential p99'] = ms(seq.p99);
  r['create sequential throughput'] = rate(seq.perSec);
  const con = await concurrent(5000, 32, (i) => ds.create(`${ns}/con/pod-${i}`, podJson(i)));
  r['create x32 concurrent p50'] = ms(con.p50);
  r['create x32 concurrent p99'] = ms(con.p99);
  r['create x32 concurrent throughput'] = rate(con.perSec);
  const pc = await paced(500, 4, (i) => ds.create(`${ns}/paced/pod-${i}`, podJson(i)));
  r['create at 500/s p50'] = ms(pc.p50);
  r['create at 500/s p99'] = ms(pc.p99);

  // 10,000 keys under one prefix, as "list pods" reads them.
  await concurrent(10_000, 64, (i) => ds.create(`${ns}/pods/pod-${String(i).padStart(5, '0')}`, podJson(i)));
  const full: number[] = [];
  let count = 0;
  for (let i = 0; i < 5; i++) {
    const s = now();
    const res = await ds.range(`${ns}/pods/`, { prefix: true });
    full.push(now() - s);
    count = res.kvs.length;
  }
  if (count !== 10_000) throw new Error(`${name}: range returned ${count} keys`);
  r['range 10,000 keys (median of 5)'] = ms(pct(full, 50));
  const paged: number[] = [];
  for (let i = 0; i < 3; i++) {
    const s = now();
    const first = await ds.range(`${ns}/pods/`, { prefix: true, limit: 500 });
    let from = first.kvs.at(-1)!.key + '\0';
    let more = first.more;
    while (more) {
      const page = await ds.range(`${ns}/pods/`, { prefix: true, limit: 500, fromKey: from, revision: first.revision });
      from = page.kvs.at(-1)!.key + '\0';
      more = page.more;
    }
    paged.push(now() - s);
  }
  r['range 10,000 keys in pages of 500'] = ms(pct(paged, 50));
  // Paging while writes go on: later pages read at the first page's (now past) revision.
  const pagedPast: number[] = [];
  for (let i = 0; i < 3; i++) {
    const s = now();
    const first = await ds.range(`${ns}/pods/`, { prefix: true, limit: 500 });
    let from = first.kvs.at(-1)!.key + '\0';
    let more = first.more;
    let n = first.kvs.length;
    while (more) {
      await ds.create(`${ns}/other/${i}-${n}`, 'x');
      const page = await ds.range(`${ns}/pods/`, { prefix: true, limit: 500, fromKey: from, revision: first.revision });
      from = page.kvs.at(-1)!.key + '\0';
      more = page.more;
      n += page.kvs.length;
    }
    if (n !== 10_000) throw new Error(`${name}: paged range returned ${n} keys`);
    pagedPast.push(now() - s);
  }
  r['... pages at a past revision, writes between'] = ms(pct(pagedPast, 50));

  // Watch latency: from issuing a write to its event arriving at a prefix watch.
  const sent = new Map<string, number>();
  const lat: number[] = [];
  let got = 0;
  const w = ds.watch(`${ns}/watch/`, {
    prefix: true,
    onEvents: (evs) => {
      const t = now();
      for (const e of evs) {
        const s = sent.get(e.kv.key);
        if (s !== undefined) lat.push(t - s);
        got++;
      }
    },
    onError: (err) => console.error(`${name} watch failed:`, err),
  });
  await sleep(200);
  await paced(500, 2, async (i) => {
    const key = `${ns}/watch/pod-${i}`;
    sent.set(key, now());
    return ds.create(key, podJson(i));
  });
  const deadline = Date.now() + 5000;
  while (got < 1000 && Date.now() < deadline) await sleep(10);
  w.close();
  r['watch latency write→event p50 (500/s)'] = ms(pct(lat, 50));
  r['watch latency write→event p99 (500/s)'] = ms(pct(lat, 99));
  return r;
}

/** Plain Put RPCs from this process through the datastore's own grpc-js client: the column beside "etcd (jotasu)". */
async function rawEtcd(endpoint: string): Promise<Row> {
  const rpc = new EtcdRpc({ endpoints: [endpoint] });
  const put = (key: string, i: number) => rpc.unary(RPC.put, { key: Buffer.from(key), value: Buffer.from(podJson(i)) });
  try {
    const seq = await sequential(2000, (i) => put(`/raw/seq/pod-${i}`, i));
    const con = await concurrent(5000, 32, (i) => put(`/raw/con/pod-${i}`, i));
    return {
      'create sequential p50': ms(seq.p50),
      'create sequential p99': ms(seq.p99),
      'create sequential throughput': rate(seq.perSec),
      'create x32 concurrent p50': ms(con.p50),
      'create x32 concurrent p99': ms(con.p99),
      'create x32 concurrent throughput': rate(con.perSec),
    };
  } finally {
    rpc.close();
  }
}

// --profile: CPU profile of the API server during the paired creates, summarised at the end
// (--keep-profiles keeps the .cpuprofile file).
const PROFILE = process.argv.includes('--profile');
const profDir = PROFILE ? mkdtempSync(join(tmpdir(), 'jotasu-bench-ds-prof-')) : '';
if (PROFILE && !process.argv.includes('--keep-profiles')) process.on('exit', () => rmSync(profDir, { recursive: true, force: true }));
const profEnv: Record<string, string> = PROFILE
  ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${new URL('./cpu-profile-preload.mjs', import.meta.url).pathname}`.trim(), CPU_PROFILE_DIR: profDir, LOG_LEVEL: 'warn' }
  : {};

/** The interleaved comparison behind the 2x target (see apiServer). */
interface Paired {
  api: number[];
  raw: number[];
  /** The same puts through the `etcd3` package's stub (grpc-js too), for reference. */
  rawEtcd3: number[];
  /** CPU ms per operation: the API server process, etcd during API creates, etcd during raw puts, the put client. */
  serverCpu: number;
  etcdCpuApi: number;
  etcdCpuRaw: number;
  clientCpu: number;
  /** The HTTPS round trip alone (GET /version through the same client): the floor of any API call. */
  https: number[];
  storedBytes: number;
}
let paired: Paired | undefined;

/** `etcdctl put` as a user runs it (a process per write, so process start and dial included). */
async function etcdctlPut(endpoint: string, n: number): Promise<number> {
  const { execFileSync } = await import('node:child_process');
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = now();
    execFileSync('etcdctl', ['--endpoints', endpoint, 'put', `/raw/etcdctl/${i}`, 'v'], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'ignore' });
    lat.push(now() - s);
  }
  return pct(lat, 50);
}

/** The baseline client: its own process (bench/lib/etcd-put-child.mjs), one connection, sequential Put RPCs. */
async function startPutChild(endpoint: string, value: string, rpcModule: string): Promise<{ batch(n: number, client: 'grpc-js' | 'etcd3'): Promise<{ lat: number[]; cpuMs: number }>; stop(): void }> {
  const { spawn } = await import('node:child_process');
  const { createInterface } = await import('node:readline');
  const child = spawn(process.execPath, [new URL('./lib/etcd-put-child.mjs', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const ask = async (msg: object): Promise<Record<string, unknown>> => {
    child.stdin!.write(JSON.stringify(msg) + '\n');
    const r = await lines.next();
    if (r.done) throw new Error('etcd put client exited');
    return JSON.parse(r.value) as Record<string, unknown>;
  };
  await ask({ endpoint, value, rpcModule });
  return {
    batch: async (n, c) => (await ask({ n, prefix: `/raw/pair-${c}/`, client: c })) as { lat: number[]; cpuMs: number },
    stop: () => { child.stdin!.end(); child.kill(); },
  };
}

/**
 * Creates through a real `jotasu server` process on the same etcd (scheduler and
 * controllers off, so only the request path is measured): HTTPS, authentication,
 * decoding, defaulting, validation, managedFields, the etcd txn and the response.
 * The 2x target compares it with the etcdctl-level baseline: sequential Put RPCs of
 * the same stored bytes from a separate client process over the same loopback.
 */
async function apiServer(etcd: EtcdProcess): Promise<Row> {
  const endpoint = etcd.endpoint;
  // The server runs compiled, as installed (FROM_SOURCE=1: through tsx); the baseline
  // client loads the compiled etcd-rpc.js.
  const built = await buildCompiled('datastore');
  const main = process.env.FROM_SOURCE ? undefined : built;
  const server = await startCluster({ main, env: profEnv, args: ['--datastore-endpoint', endpoint, '--disable', 'scheduler', '--disable', 'controller-manager'] });
  const client = createClientFromKubeconfig(server.kubeconfig, { qps: 0 });
  let putter: Awaited<ReturnType<typeof startPutChild>> | undefined;
  try {
    await client.resource(R.namespaces).create({ metadata: { name: 'bench' } });
    const cms = client.resource(R.configmaps);
    const cm = (i: number, tag: string) => ({ metadata: { name: `${tag}-${i}`, namespace: 'bench', labels: { app: 'bench' } }, data: { pod: podJson(i) } });
    for (let i = 0; i < 300; i++) await cms.create(cm(i, 'warm')); // JIT and connection warm-up
    const seq = await sequential(2000, (i) => cms.create(cm(i, 'seq')));
    const con = await concurrent(5000, 32, (i) => cms.create(cm(i, 'con')));
    // The baseline puts exactly the bytes the server stores for such a ConfigMap.
    const probe = new Etcd3({ hosts: [endpoint] });
    const stored = (await probe.get('/registry/configmaps/bench/warm-0').string()) ?? '';
    probe.close();
    putter = await startPutChild(endpoint, stored, join(dirname(built), '..', 'datastore', 'etcd-rpc.js'));
    await putter.batch(300, 'grpc-js'); // warm-up of the baseline clients
    await putter.batch(300, 'etcd3');
    const https: number[] = [];
    for (let i = 0; i < 500; i++) {
      const s = now();
      await client.request('GET', '/version');
      https.push(now() - s);
    }
    if (PROFILE) process.kill(server.pid()!, 'SIGUSR2'); // the profile covers the paired creates only
    // Alternating batches, so drift (etcd's growing history, GC, other load) hits both alike.
    const apiLat: number[] = [], rawLat: number[] = [], etcd3Lat: number[] = [];
    let serverCpu = 0, etcdApi = 0, etcdRaw = 0, clientCpu = 0;
    const B = Number(process.env.BENCH_BATCHES ?? 10), N = 200;
    for (let b = 0; b < B; b++) {
      const s0 = cpuMsOf(server.pid()), e0 = cpuMsOf(etcd.pid());
      for (let i = 0; i < N; i++) {
        const s = now();
        await cms.create(cm(b * N + i, 'pair'));
        apiLat.push(now() - s);
      }
      const e1 = cpuMsOf(etcd.pid());
      serverCpu += cpuMsOf(server.pid()) - s0;
      etcdApi += e1 - e0;
      const r = await putter.batch(N, 'grpc-js');
      etcdRaw += cpuMsOf(etcd.pid()) - e1;
      rawLat.push(...r.lat);
      clientCpu += r.cpuMs;
      etcd3Lat.push(...(await putter.batch(N, 'etcd3')).lat);
    }
    const n = B * N;
    paired = { api: apiLat, raw: rawLat, rawEtcd3: etcd3Lat, serverCpu: serverCpu / n, etcdCpuApi: etcdApi / n, etcdCpuRaw: etcdRaw / n, clientCpu: clientCpu / n, https, storedBytes: Buffer.byteLength(stored) };
    return {
      'create sequential p50': ms(seq.p50),
      'create sequential p99': ms(seq.p99),
      'create sequential throughput': rate(seq.perSec),
      'create x32 concurrent p50': ms(con.p50),
      'create x32 concurrent p99': ms(con.p99),
      'create x32 concurrent throughput': rate(con.perSec),
    };
  } finally {
    putter?.stop();
    client.close();
    await server.stop();
  }
}

async function main(): Promise<void> {
  process.env.LOG_LEVEL ??= 'warn';
  // BENCH_ONLY=api: only the API-server-on-etcd section (the 2x target), for quick iterations.
  const only = process.env.BENCH_ONLY ?? '';
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'jotasu-bench-'));
  let etcd: EtcdProcess | undefined;
  let etcdctlP50 = NaN;
  const cols: Record<string, Row> = {};
  try {
    if (!only) {
      console.error('sqlite ...');
      const sq = await openSqliteDatastore(dir);
      try {
        cols['sqlite'] = await workload('sqlite', sq);
      } finally {
        await sq.close();
      }
    }
    etcd = await startEtcd({ name: 'bench' });
    if (!only) {
      console.error('etcd ...');
      const ed = await openEtcdDatastore({ endpoints: [etcd.endpoint] });
      try {
        cols['etcd (jotasu)'] = await workload('etcd', ed);
      } finally {
        await ed.close();
      }
      console.error('raw etcd ...');
      cols['etcd raw put'] = await rawEtcd(etcd.endpoint);
    }
    console.error('API server on etcd ...');
    cols['API create on etcd'] = await apiServer(etcd);
    etcdctlP50 = await etcdctlPut(etcd.endpoint, 30).catch(() => NaN);
  } finally {
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const names = Object.keys(cols);
  const metrics = [...new Set(names.flatMap((n) => Object.keys(cols[n]!)))];
  const w0 = Math.max(...metrics.map((m) => m.length));
  const widths = names.map((n) => Math.max(n.length, ...metrics.map((m) => (cols[n]![m] ?? '-').length)));
  const line = (a: string, cells: string[]) => a.padEnd(w0) + '  ' + cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  console.log(`\njotasu datastore benchmark (pod-sized values ~${podJson(0).length} B, ${process.platform}, node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')})\n`);
  console.log(line('', names));
  console.log(line('-'.repeat(w0), widths.map((w) => '-'.repeat(w))));
  for (const m of metrics) console.log(line(m, names.map((n) => cols[n]![m] ?? '-')));
  const ours = parseFloat(cols['etcd (jotasu)']?.['create sequential p50'] ?? 'NaN');
  const raw = parseFloat(cols['etcd raw put']?.['create sequential p50'] ?? 'NaN');
  if (!only) console.log(`\netcd create (txn) vs raw put, sequential p50, both in this process: ${(ours / raw).toFixed(2)}x`);
  if (paired) {
    const p = paired;
    const a50 = pct(p.api, 50), r50 = pct(p.raw, 50), a99 = pct(p.api, 99), r99 = pct(p.raw, 99);
    console.log(`\nThe 2x target: API create vs the etcdctl-level put, ${p.api.length} of each in alternating batches of 200.`);
    console.log(`  API create: a ConfigMap holding a pod-sized value (${p.storedBytes} B stored), HTTPS through a compiled jotasu server on this etcd.`);
    console.log(`  baseline:   Put RPCs of the same ${p.storedBytes} B from a separate Node process over the same loopback, one connection, one HTTP/2 stream per call,`);
    console.log(`              through @grpc/grpc-js as the API server talks to etcd (the server's own etcd client module, same channel options);`);
    console.log(`              the same put through the \`etcd3\` package's stub (grpc-js with etcd3's defaults): p50 ${ms(pct(p.rawEtcd3, 50))} p99 ${ms(pct(p.rawEtcd3, 99))}.`);
    console.log(`  API create p50 ${ms(a50)} p99 ${ms(a99)}; grpc-js put p50 ${ms(r50)} p99 ${ms(r99)}: p50 ${(a50 / r50).toFixed(2)}x, p99 ${(a99 / r99).toFixed(2)}x (target <= 2x)`);
    console.log(`  HTTPS round trip alone (GET /version, same client): p50 ${ms(pct(p.https, 50))}; API create minus it: ${ms(a50 - pct(p.https, 50))}`);
    console.log(`  CPU per op: API server ${p.serverCpu.toFixed(3)} ms/create; etcd ${p.etcdCpuApi.toFixed(3)} ms/create vs ${p.etcdCpuRaw.toFixed(3)} ms/put; baseline client ${p.clientCpu.toFixed(3)} ms/put`);
  }
  if (Number.isFinite(etcdctlP50)) console.log(`  \`etcdctl put\` (a process per write: start, dial, put) p50 ${ms(etcdctlP50)}${paired ? `: the API create is ${(pct(paired.api, 50) / etcdctlP50).toFixed(2)}x of it` : ''}`);
  if (PROFILE) {
    for (const file of readdirSync(profDir).filter((x) => x.endsWith('.cpuprofile'))) console.log(formatSummary(`API server ${file}`, summarizeFile(join(profDir, file), 30)));
    if (process.argv.includes('--keep-profiles')) console.log(`profiles kept in ${profDir}`);
  }
  console.log(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

await main();
