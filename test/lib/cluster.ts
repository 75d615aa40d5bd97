// Starts a real `jotasu server --disable-agent` for integration tests: free port,
// temp data dir, waits for /readyz, and always cleans up (stop() or process exit).
// Usage:
//   const c = await startCluster();
//   after(() => c.stop());
//   const r = await c.kubectl(['get', 'pods', '-o', 'json']);
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { request } from 'node:https';
import { randomBytes, randomInt } from 'node:crypto';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);

export interface KubectlResult { code: number; stdout: string; stderr: string }

export interface Cluster {
  kubeconfig: string;
  url: string;
  port: number;
  dataDir: string;
  /** The server's process id (for RSS measurements). */
  pid(): number | undefined;
  /** Everything the server printed (stdout + stderr), for failure messages. */
  logs(): string;
  kubectl(args: string[], opts?: { input?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<KubectlResult>;
  /** kubectl that must succeed: its stdout (the assertion message carries both streams). */
  kubectlOk(args: string[], opts?: { input?: string; env?: Record<string, string> }): Promise<string>;
  /** kubectl that must fail: its stderr. */
  kubectlFails(args: string[], opts?: { input?: string; env?: Record<string, string> }): Promise<string>;
  /** Graceful stop (SIGTERM) and removal of the data dir (unless keepData). */
  stop(opts?: { keepData?: boolean }): Promise<void>;
  /** SIGKILL, keeping the data dir for a restart. */
  kill9(): Promise<void>;
  /** Start again on the same data dir and port (after stop({keepData}) or kill9). */
  restart(): Promise<void>;
  /** The admin client certificate and CA, for tests that speak HTTPS directly. */
  tlsOptions(): { ca: string; cert: string; key: string };
  /** Service network and cluster DNS IP the server was started with. */
  serviceCidr: string;
  clusterDns: string;
  /** Prefix of the iptables chains of this cluster's proxies (its own per run). */
  chainPrefix: string;
  /** Host ports of the server's ingress controller and cluster DNS (free ones, per run). */
  ingressHttpPort: number;
  ingressHttpsPort: number;
  dnsPort: number;
}

export interface ClusterOptions {
  /** Extra `jotasu server` flags. */
  args?: string[];
  /** Reuse a data dir (not removed by stop()). */
  dataDir?: string;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  /** Extra node flags for the server process (e.g. V8 heap sizes). */
  nodeArgs?: string[];
  /** Run this compiled CLI entry (dist/cli/main.js) instead of the sources through tsx (benchmarks), started as bin/jotasu.mjs starts node (binLaunch). */
  main?: string;
  /**
   * Service network and cluster DNS IP (default: the server's, 10.43.0.0/16 and
   * 10.43.0.10). Clusters whose nodes run a proxy on this host must each have their
   * own, or one cluster's DNAT rules catch the other's traffic (test/kubelet/env.ts).
   */
  serviceCidr?: string;
  clusterDns?: string;
  /** iptables chain prefix of the cluster's proxies; default JT + 6 random hex digits. */
  chainPrefix?: string;
}

/**
 * How the installed `jotasu` starts node: the `#!/usr/bin/env -S NAME=value... node FLAGS...`
 * line of bin/jotasu.mjs (malloc tunables, V8 heap sizes), as environment and node flags.
 * Compiled servers (benchmarks: jotasu as users run it) start with the same.
 */
export function binLaunch(): { env: Record<string, string>; nodeFlags: string[] } {
  const line = readFileSync(join(ROOT, 'bin', 'jotasu.mjs'), 'utf8').split('\n', 1)[0]!;
  const words = line.replace(/^#!\S*\benv\s+(-S\s+)?/, '').split(/\s+/).filter(Boolean);
  const env: Record<string, string> = {};
  let i = 0;
  for (; i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!); i++) {
    const w = words[i]!;
    env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
  }
  if (words[i] !== 'node') throw new Error(`bin/jotasu.mjs: unexpected first line ${JSON.stringify(line)}`);
  return { env, nodeFlags: words.slice(i + 1) };
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

const live = new Set<ChildProcess>();
let exitHook = false;
function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  // Never leave servers behind, whatever way the test process ends.
  process.on('exit', () => { for (const p of live) { try { p.kill('SIGKILL'); } catch { /* gone */ } } });
}

function nodePortWindow(): string {
  const lo = 30000 + 100 * randomInt(27);
  return `${lo}-${lo + 99}`;
}

function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  installExitHook();
  const ownDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'jotasu-test-'));
  const port = await freePort();
  // Every server binds the ingress (80/443) and DNS (53) ports on the host: concurrent
  // test servers get free ones of their own (args given by the test still win).
  const [ingressHttpPort, ingressHttpsPort, dnsPort] = [await freePort(), await freePort(), await freePort()];
  const chainPrefix = opts.chainPrefix ?? `JT${randomBytes(3).toString('hex').toUpperCase()}`;
  const serviceCidr = opts.serviceCidr ?? '10.43.0.0/16';
  const clusterDns = opts.clusterDns ?? '10.43.0.10';
  const netArgs = [
    '--ingress-http-port', String(ingressHttpPort), '--ingress-https-port', String(ingressHttpsPort), '--dns-port', String(dnsPort),
    '--iptables-chain-prefix', chainPrefix, '--service-cidr', serviceCidr, '--cluster-dns', clusterDns,
    // NodePorts are host-wide: each test cluster allocates from its own 100-port window so
    // concurrent clusters don't program the same port.
    '--service-node-port-range', nodePortWindow(),
    // The ingress serves in the server process: worker processes (the default) cost ~50 MB each,
    // which many concurrent test servers on a 2-core machine can't spare.
    '--ingress-workers', '0',
  ];
  const kubeconfig = join(dataDir, 'kubeconfig.yaml');
  const url = `https://127.0.0.1:${port}`;
  let proc: ChildProcess | undefined;
  let output = '';

  const launch = async (): Promise<void> => {
    const asInstalled = opts.main ? binLaunch() : { env: {}, nodeFlags: [] };
    const p = spawn(process.execPath, [
      ...asInstalled.nodeFlags, ...(opts.nodeArgs ?? []), ...(opts.main ? [opts.main] : ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')]), 'server',
      '--data-dir', dataDir, '--https-listen-port', String(port), '--bind-address', '127.0.0.1',
      '--write-kubeconfig', kubeconfig, '--disable-agent', ...netArgs, ...(opts.args ?? []),
    ], { cwd: ROOT, env: { ...process.env, ...asInstalled.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    live.add(p);
    p.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    p.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
    p.on('exit', () => live.delete(p));
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
    while (Date.now() < deadline) {
      if (p.exitCode !== null || p.signalCode !== null) throw new Error(`jotasu server exited (${p.exitCode ?? p.signalCode}) before ready:\n${output}`);
      if (existsSync(kubeconfig) && (await readyz()) === 200) return;
      await sleep(50);
    }
    throw new Error(`jotasu server not ready after ${opts.readyTimeoutMs ?? 30_000} ms:\n${output}`);
  };

  const readyz = (): Promise<number> => new Promise((res) => {
    const r = request(`${url}/readyz`, { rejectUnauthorized: false, timeout: 1000 }, (resp) => { resp.resume(); res(resp.statusCode ?? 0); });
    r.on('error', () => res(0));
    r.on('timeout', () => { r.destroy(); res(0); });
    r.end();
  });

  const waitExit = (p: ChildProcess, ms: number): Promise<void> => new Promise((res) => {
    if (p.exitCode !== null || p.signalCode !== null) return res();
    const t = setTimeout(() => { try { p.kill('SIGKILL'); } catch { /* gone */ } }, ms);
    p.once('exit', () => { clearTimeout(t); res(); });
  });

  try {
    await launch();
  } catch (e) {
    if (proc) { proc.kill('SIGKILL'); await waitExit(proc, 1000); }
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }

  const cluster: Cluster = {
    kubeconfig, url, port, dataDir, serviceCidr, clusterDns, chainPrefix, ingressHttpPort, ingressHttpsPort, dnsPort,
    logs: () => output,
    pid: () => proc?.pid,
    kubectl(args, o = {}) {
      return new Promise((res) => {
        const k = spawn('kubectl', args, {
          env: { ...process.env, KUBECONFIG: kubeconfig, ...o.env },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let stdout = '', stderr = '';
        k.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
        k.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
        const t = setTimeout(() => k.kill('SIGKILL'), o.timeoutMs ?? 60_000);
        k.on('close', (code) => { clearTimeout(t); res({ code: code ?? -1, stdout, stderr }); });
        k.stdin.end(o.input ?? '');
      });
    },
    async kubectlOk(args, o = {}) {
      const r = await cluster.kubectl(args, o);
      assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed:\n${r.stderr}\n${r.stdout}`);
      return r.stdout;
    },
    async kubectlFails(args, o = {}) {
      const r = await cluster.kubectl(args, o);
      assert.notEqual(r.code, 0, `kubectl ${args.join(' ')} should fail:\n${r.stdout}`);
      return r.stderr;
    },
    async stop(so = {}) {
      if (proc) { proc.kill('SIGTERM'); await waitExit(proc, 10_000); }
      if (ownDir && !so.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
    async kill9() {
      if (proc) { proc.kill('SIGKILL'); await waitExit(proc, 5000); }
    },
    async restart() {
      if (proc && proc.exitCode === null && proc.signalCode === null) throw new Error('restart: server still running');
      await launch();
    },
    tlsOptions() {
      const tlsDir = join(dataDir, 'server', 'tls');
      return {
        ca: readFileSync(join(tlsDir, 'server-ca.crt'), 'utf8'),
        cert: readFileSync(join(tlsDir, 'client-admin.crt'), 'utf8'),
        key: readFileSync(join(tlsDir, 'client-admin.key'), 'utf8'),
      };
    },
  };
  // Pods are refused until their namespace's default ServiceAccount exists (ServiceAccount
  // admission), which the controller manager creates shortly after /readyz: wait for it,
  // as upstream's e2e framework does, so that a test's first pod does not race it.
  const cmDisabled = (opts.args ?? []).some((a, i, all) => /controller-manager/.test(a) && (all[i - 1] === '--disable' || a.startsWith('--disable')));
  if (!cmDisabled) {
    const tls = cluster.tlsOptions();
    const saStatus = (): Promise<number> => new Promise((res) => {
      const r = request(`${url}/api/v1/namespaces/default/serviceaccounts/default`, { ...tls, timeout: 1000 }, (resp) => { resp.resume(); res(resp.statusCode ?? 0); });
      r.on('error', () => res(0));
      r.on('timeout', () => { r.destroy(); res(0); });
      r.end();
    });
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
    while ((await saStatus()) !== 200) {
      if (Date.now() > deadline) { await cluster.stop(); throw new Error(`default ServiceAccount not created within ${opts.readyTimeoutMs ?? 30_000} ms:\n${output}`); }
      await sleep(50);
    }
  }
  return cluster;
}
