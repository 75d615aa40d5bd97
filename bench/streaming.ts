// Streaming throughput: 100 MB through `kubectl port-forward` and through
// `kubectl exec` (stdout and stdin), beside a direct TCP connection to the pod IP in the
// same run. Real API server, kubelet server, runc and CNI (test/streaming/harness.ts).
// Needs root, runc, kubectl. Usage: npm run bench:streaming [-- --mb 100]
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Harness, skip } from '../test/streaming/harness.js';

const mbArg = process.argv.indexOf('--mb');
const MB = mbArg > 0 ? Number(process.argv[mbArg + 1]) : 100;
const BYTES = MB * 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** Sends `bytes` zeros; resolves when the server has closed after reading them all. */
function upload(host: string, port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = connect(port, host);
    const chunk = Buffer.alloc(1 << 20);
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!s.write(chunk)) { s.once('drain', pump); return; }
      }
      s.end();
    };
    s.on('connect', pump);
    s.on('close', () => resolve(performance.now() - t0));
    s.on('error', reject);
    s.resume();
  });
}

function kubectlTimed(kubeconfig: string, args: string[], stdinBytes = 0): Promise<[number, number]> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('kubectl', args, { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['pipe', 'pipe', 'inherit'] });
    let n = 0;
    p.stdout.on('data', (d: Buffer) => { n += d.length; });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve([n, performance.now() - t0]) : reject(new Error(`kubectl ${args.join(' ')} exited ${code}`))));
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

const rate = (bytes: number, ms: number) => bytes / 1024 / 1024 / (ms / 1000);

async function main(): Promise<void> {
  if (skip) { console.error(`bench:streaming skipped: ${skip}`); return; }
  const h = new Harness();
  const procs: ReturnType<typeof spawn>[] = [];
  try {
    await h.start();
    const rp = await h.runPod('bench', [
      { name: 'src', command: ['nc', '-ll', '-p', '8080', '-e', 'head', '-c', String(BYTES), '/dev/zero'] },
      { name: 'sink', command: ['nc', '-ll', '-p', '8081', '-e', 'sh', '-c', 'cat >/dev/null'] },
      { name: 'sh', command: ['sleep', '3600'] },
    ]);
    await sleep(300);
    const pf = spawn('kubectl', ['port-forward', 'pod/bench', '0:8080', '0:8081', '--address', '127.0.0.1'], { env: { ...process.env, KUBECONFIG: h.cluster.kubeconfig } });
    procs.push(pf);
    const ports = await new Promise<number[]>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`port-forward did not start: ${out}`)), 15_000);
      pf.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = [...out.matchAll(/Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)/g)];
        if (m.length >= 2) { clearTimeout(t); resolve([8080, 8081].map((p) => Number(m.find((x) => Number(x[2]) === p)![1]))); }
      });
    });
    const rows: [string, number, number][] = [];
    const [dn, dms] = await download(rp.ip, 8080);
    rows.push(['direct TCP to pod IP, download', dn, dms]);
    const [pn, pms] = await download('127.0.0.1', ports[0]!);
    rows.push(['kubectl port-forward, download', pn, pms]);
    const ums = await upload(rp.ip, 8081, BYTES);
    rows.push(['direct TCP to pod IP, upload', BYTES, ums]);
    const pums = await upload('127.0.0.1', ports[1]!, BYTES);
    rows.push(['kubectl port-forward, upload', BYTES, pums]);
    const [en, ems] = await kubectlTimed(h.cluster.kubeconfig, ['exec', 'bench', '-c', 'sh', '--', 'head', '-c', String(BYTES), '/dev/zero']);
    rows.push(['kubectl exec (stdout: head -c)', en, ems]);
    const [, eims] = await kubectlTimed(h.cluster.kubeconfig, ['exec', '-i', 'bench', '-c', 'sh', '--', 'sh', '-c', 'cat >/dev/null'], BYTES);
    rows.push(['kubectl exec -i (stdin: cat)', BYTES, eims]);
    console.log(`\nstreaming throughput, ${MB} MB each (same run)\n`);
    for (const [name, n, ms] of rows) {
      if (n < BYTES) throw new Error(`${name}: only ${n} of ${BYTES} bytes`);
      console.log(`${name.padEnd(36)} ${rate(n, ms).toFixed(0).padStart(6)} MB/s  (${ms.toFixed(0)} ms)`);
    }
    const direct = Math.min(rate(dn, dms), rate(BYTES, ums));
    console.log(`\nvs direct (download/upload): port-forward ${(100 * rate(pn, pms) / rate(dn, dms)).toFixed(0)}% / ${(100 * rate(BYTES, pums) / rate(BYTES, ums)).toFixed(0)}%,`
      + ` exec ${(100 * rate(en, ems) / rate(dn, dms)).toFixed(0)}% / ${(100 * rate(BYTES, eims) / rate(BYTES, ums)).toFixed(0)}%  (target >= 50%; slower direct path ${direct.toFixed(0)} MB/s)`);
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    const errors = await h.stop();
    if (errors.length) console.error(`cleanup: ${errors.join('; ')}`);
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
