// npm run bench:datastore — the same workload on embedded SQLite and on a real etcd
// (a throwaway member started here), side by side, plus raw etcd puts through the etcd3
// client as the etcdctl-level baseline. Printed figures, not a timed test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { openEtcdDatastore } from '../src/datastore/etcd.js';
import { startEtcd, type EtcdProcess } from '../src/datastore/etcd-process.js';
import { openSqliteDatastore } from '../src/datastore/sqlite.js';
import type { Datastore } from '../src/datastore/types.js';
import { createClientFromKubeconfig } from '../src/client/rest.js';
import { R } from '../src/api/resources.js';
import { startCluster } from '../test/lib/cluster.js';
import { buildCompiled } from './lib/compiled.js';

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

async function rawEtcd(endpoint: string): Promise<Row> {
  const client = new Etcd3({ hosts: [endpoint] });
  try {
    const seq = await sequential(2000, (i) => client.put(`/raw/seq/pod-${i}`).value(podJson(i)).exec());
    const con = await concurrent(5000, 32, (i) => client.put(`/raw/con/pod-${i}`).value(podJson(i)).exec());
    return {
      'create sequential p50': ms(seq.p50),
      'create sequential p99': ms(seq.p99),
      'create sequential throughput': rate(seq.perSec),
      'create x32 concurrent p50': ms(con.p50),
      'create x32 concurrent p99': ms(con.p99),
      'create x32 concurrent throughput': rate(con.perSec),
    };
  } finally {
    client.close();
  }
}

/**
 * Creates through a real `jotasu server` process on the same etcd (scheduler and
 * controllers off, so only the request path is measured): HTTPS, authentication,
 * decoding, defaulting, validation, managedFields, the etcd txn and the response.
 */
let pairedRatio: { api: number; raw: number; api99: number; raw99: number } | undefined;

/** `etcdctl put` as a user runs it (a process per write): the literal etcdctl-level latency. */
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

async function apiServer(endpoint: string): Promise<Row> {
  // The server runs compiled, as installed (FROM_SOURCE=1: through tsx).
  const main = process.env.FROM_SOURCE ? undefined : await buildCompiled('datastore');
  const server = await startCluster({ main, args: ['--datastore-endpoint', endpoint, '--disable', 'scheduler', '--disable', 'controller-manager'] });
  const client = createClientFromKubeconfig(server.kubeconfig, { qps: 0 });
  try {
    await client.resource(R.namespaces).create({ metadata: { name: 'bench' } });
    const cms = client.resource(R.configmaps);
    const cm = (i: number, tag: string) => ({ metadata: { name: `${tag}-${i}`, namespace: 'bench', labels: { app: 'bench' } }, data: { pod: podJson(i) } });
    for (let i = 0; i < 200; i++) await cms.create(cm(i, 'warm')); // JIT and connection warm-up
    const seq = await sequential(2000, (i) => cms.create(cm(i, 'seq')));
    const con = await concurrent(5000, 32, (i) => cms.create(cm(i, 'con')));
    // The 2x target, measured fairly: API creates and raw puts of the same value in
    // alternating batches, so drift (etcd's growing history, GC, the machine) hits both alike.
    const raw = new Etcd3({ hosts: [endpoint] });
    const apiLat: number[] = [], rawLat: number[] = [];
    try {
      for (let b = 0; b < 10; b++) {
        for (let i = 0; i < 200; i++) {
          const s = now();
          await cms.create(cm(b * 200 + i, 'pair'));
          apiLat.push(now() - s);
        }
        for (let i = 0; i < 200; i++) {
          const s = now();
          await raw.put(`/raw/pair/pod-${b * 200 + i}`).value(podJson(i)).exec();
          rawLat.push(now() - s);
        }
      }
    } finally {
      raw.close();
    }
    pairedRatio = { api: pct(apiLat, 50), raw: pct(rawLat, 50), api99: pct(apiLat, 99), raw99: pct(rawLat, 99) };
    return {
      'create sequential p50': ms(seq.p50),
      'create sequential p99': ms(seq.p99),
      'create sequential throughput': rate(seq.perSec),
      'create x32 concurrent p50': ms(con.p50),
      'create x32 concurrent p99': ms(con.p99),
      'create x32 concurrent throughput': rate(con.perSec),
    };
  } finally {
    client.close();
    await server.stop();
  }
}

async function main(): Promise<void> {
  process.env.LOG_LEVEL ??= 'warn';
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'jotasu-bench-'));
  let etcd: EtcdProcess | undefined;
  let etcdctlP50 = NaN;
  const cols: Record<string, Row> = {};
  try {
    console.error('sqlite ...');
    const sq = await openSqliteDatastore(dir);
    try {
      cols['sqlite'] = await workload('sqlite', sq);
    } finally {
      await sq.close();
    }
    console.error('etcd ...');
    etcd = await startEtcd({ name: 'bench' });
    const ed = await openEtcdDatastore({ endpoints: [etcd.endpoint] });
    try {
      cols['etcd (jotasu)'] = await workload('etcd', ed);
    } finally {
      await ed.close();
    }
    console.error('raw etcd ...');
    cols['etcd raw put'] = await rawEtcd(etcd.endpoint);
    console.error('API server on etcd ...');
    cols['API create on etcd'] = await apiServer(etcd.endpoint);
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
  console.log(`\njotasu datastore benchmark (pod-sized values ~${podJson(0).length} B, ${process.platform}, node ${process.version})\n`);
  console.log(line('', names));
  console.log(line('-'.repeat(w0), widths.map((w) => '-'.repeat(w))));
  for (const m of metrics) console.log(line(m, names.map((n) => cols[n]![m] ?? '-')));
  const ours = parseFloat(cols['etcd (jotasu)']?.['create sequential p50'] ?? 'NaN');
  const raw = parseFloat(cols['etcd raw put']?.['create sequential p50'] ?? 'NaN');
  console.log(`\netcd create (txn) vs raw put, sequential p50: ${(ours / raw).toFixed(2)}x`);
  const api = parseFloat(cols['API create on etcd']?.['create sequential p50'] ?? 'NaN');
  const apiCon = parseFloat(cols['API create on etcd']?.['create x32 concurrent p50'] ?? 'NaN');
  const rawCon = parseFloat(cols['etcd raw put']?.['create x32 concurrent p50'] ?? 'NaN');
  console.log(`API server create (ConfigMap holding a pod-sized value, HTTPS through a jotasu server on the same etcd) vs raw etcd put (gRPC):`);
  console.log(`  columns above: sequential p50 ${(api / raw).toFixed(2)}x, x32 concurrent p50 ${(apiCon / rawCon).toFixed(2)}x`);
  if (pairedRatio) {
    console.log(`  interleaved batches: API create p50 ${ms(pairedRatio.api)} (p99 ${ms(pairedRatio.api99)}) vs raw put p50 ${ms(pairedRatio.raw)} (p99 ${ms(pairedRatio.raw99)}): ${(pairedRatio.api / pairedRatio.raw).toFixed(2)}x (target <= 2x)`);
  }
  if (Number.isFinite(etcdctlP50)) console.log(`  \`etcdctl put\` (a process per write) p50 ${ms(etcdctlP50)}: the API create is ${(api / etcdctlP50).toFixed(2)}x of it`);
  console.log(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

await main();
