// Runs a throwaway single-member etcd (Debian's etcd-server, /usr/bin/etcd) on free
// loopback ports with a temporary data dir, for tests and benchmarks. The process is
// killed and the dir removed by stop(), and also if this process exits first.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EtcdProcess {
  /** Client URL, e.g. http://127.0.0.1:23790 */
  endpoint: string;
  dataDir: string;
  /** The member's process id while it runs (CPU figures in benchmarks). */
  pid(): number | undefined;
  /** SIGKILL the member, keeping its data dir (for restart tests). */
  kill(): Promise<void>;
  /** Start it again on the same ports and data dir. */
  restart(): Promise<void>;
  /**
   * Restart the same member (same data dir) on another client port, returning that
   * endpoint: clients of `endpoint` cannot reach it until restart(). Used to change
   * etcd (write, compact) behind a disconnected client's back.
   */
  restartElsewhere(): Promise<string>;
  /** Kill it and remove the data dir. */
  stop(): Promise<void>;
}

export const ETCD_BIN = process.env.JOTASU_ETCD_BIN ?? '/usr/bin/etcd';

/** A loopback TCP port that nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

/**
 * Serve clients over TLS and require a client certificate signed by `caPem`
 * (etcd's --cert-file, --key-file, --trusted-ca-file, --client-cert-auth).
 * `client` is a certificate of that CA, used here only for the health probe.
 */
export interface EtcdTLS {
  caPem: string;
  server: { certPem: string; keyPem: string };
  client: { certPem: string; keyPem: string };
}

/** GET /health over https with a client certificate (fetch cannot present one). */
function healthTLS(url: string, tls: EtcdTLS): Promise<{ health?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${url}/health`, { ca: tls.caPem, cert: tls.client.certPem, key: tls.client.keyPem, timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as { health?: string });
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export async function startEtcd(opts: { name?: string; tls?: EtcdTLS } = {}): Promise<EtcdProcess> {
  installExitHook();
  const dataDir = mkdtempSync(join(tmpdir(), 'jotasu-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const name = opts.name ?? 'jotasu-test';
  const scheme = opts.tls ? 'https' : 'http';
  const endpoint = `${scheme}://127.0.0.1:${clientPort}`;
  const tlsArgs: string[] = [];
  if (opts.tls) {
    const file = (n: string, pem: string): string => {
      writeFileSync(join(dataDir, n), pem, { mode: 0o600 });
      return join(dataDir, n);
    };
    tlsArgs.push(
      '--cert-file', file('server.crt', opts.tls.server.certPem),
      '--key-file', file('server.key', opts.tls.server.keyPem),
      '--trusted-ca-file', file('ca.crt', opts.tls.caPem),
      '--client-cert-auth',
    );
  }
  const peer = `http://127.0.0.1:${peerPort}`;
  let child: ChildProcess | undefined;
  let log = '';

  const launch = async (endpoint: string): Promise<void> => {
    log = '';
    const c = spawn(
      ETCD_BIN,
      [
        '--name', name,
        '--data-dir', join(dataDir, 'member-data'),
        '--listen-client-urls', endpoint,
        '--advertise-client-urls', endpoint,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `${name}=${peer}`,
        '--initial-cluster-state', 'new',
        '--log-level', 'warn',
        '--logger', 'zap',
        ...tlsArgs,
      ],
    );
    child = c;
    live.add(c);
    c.stderr!.on('data', (d: Buffer) => {
      log = (log + d.toString()).slice(-4000);
    });
    c.once('exit', () => live.delete(c));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`etcd exited at start (${c.exitCode ?? c.signalCode}): ${log}`);
      try {
        const body = opts.tls
          ? await healthTLS(endpoint, opts.tls)
          : ((await (await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) })).json()) as { health?: string });
        if (body.health === 'true') return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`etcd at ${endpoint} not healthy after 20 s: ${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };

  try {
    await launch(endpoint);
  } catch (err) {
    await kill();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    endpoint,
    dataDir,
    pid: () => child?.pid,
    kill,
    restart: async () => {
      await kill();
      await launch(endpoint);
    },
    restartElsewhere: async () => {
      await kill();
      const other = `${scheme}://127.0.0.1:${await freePort()}`;
      await launch(other);
      return other;
    },
    stop: async () => {
      await kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
