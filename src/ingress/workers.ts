// The ingress controller's worker processes: N cluster workers sharing the listening
// sockets (SCHED_NONE: the primary binds, every worker accepts, the kernel spreads
// connections; the controller's own event loop never touches client traffic). The
// controller keeps the informers and sends each compiled routing table, with the TLS
// secrets it references, to every worker (versioned; a worker applies a version in
// one step and acknowledges it). A worker that dies is replaced; workers exit when
// the controller stops or dies (their IPC channel closes).
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../util/log.js';
import type { FromWorker, SecretPem, ToWorker, WorkerConfig } from './ipc.js';
import type { RouteTable } from './routes.js';

export interface IngressWorkersOptions {
  count: number;
  log: Logger;
  host: string;
  httpPort: number;
  httpsPort?: number;
  defaultCert: { certPem: string; keyPem: string };
  connectTimeoutMs?: number;
  /** The PEMs of a TLS secret ("ns/name") with its resourceVersion, or undefined. */
  secretPem(key: string): SecretPem | undefined;
}

interface Slot { worker: Worker; pid: number; ready: boolean; acked: number; sent: Map<string, string>; started: number }

const ACK_TIMEOUT_MS = 5000;

/** Where the worker entry is: next to this module, compiled (.js) or, in a checkout run through tsx, the .ts source. */
function workerEntry(): { exec: string; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  const exec = fileURLToPath(new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url));
  return { exec, execArgv: fromSource ? ['--import', import.meta.resolve('tsx')] : [] };
}

export class IngressWorkers {
  private readonly slots = new Map<number, Slot>();
  private version = 0;
  private table: RouteTable | undefined;
  private stopping = false;
  private failures = 0;
  private readonly respawnTimers = new Set<NodeJS.Timeout>();
  private waiters: { version: number; resolve: () => void }[] = [];
  private statWaiters = new Map<number, (s: Extract<FromWorker, { t: 'stats' }>) => void>();
  ports: { http: number; https?: number } | undefined;

  constructor(private readonly o: IngressWorkersOptions) {}

  /** Forks the workers with `table` and resolves once all of them listen. */
  async start(table: RouteTable): Promise<{ http: number; https?: number }> {
    this.table = table;
    this.version++;
    const { exec, execArgv } = workerEntry();
    // Must be set before the first fork; the primary then only binds, never accepts.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec, execArgv, serialization: 'advanced', args: [] });
    try {
      const ports = await Promise.all(Array.from({ length: this.o.count }, () => this.spawn()));
      this.ports = ports[0]!;
      return this.ports;
    } catch (e) {
      await this.stop(0);
      throw e;
    }
  }

  pids(): number[] { return [...this.slots.values()].map((s) => s.pid); }

  /** Sends a new table to every worker; resolves when all have applied it (or died, or 5 s passed). */
  publish(table: RouteTable): Promise<void> {
    this.table = table;
    const v = ++this.version;
    for (const s of this.slots.values()) this.post(s, { t: 'config', config: this.config(s) });
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => { this.o.log.warn({ version: v }, 'ingress workers slow to apply a configuration'); resolve(); }, ACK_TIMEOUT_MS);
      this.waiters.push({ version: v, resolve: () => { clearTimeout(timer); resolve(); } });
      this.settle();
    });
  }

  /** Per worker: pid, configuration version, requests served, RSS. */
  async stats(): Promise<{ pid: number; version: number; requests: number; rss: number }[]> {
    return Promise.all([...this.slots.values()].filter((s) => s.ready).map((s) => new Promise<{ pid: number; version: number; requests: number; rss: number }>((resolve) => {
      this.statWaiters.set(s.worker.id, (m) => resolve({ pid: s.pid, version: m.version, requests: m.requests, rss: m.rss }));
      this.post(s, { t: 'stats' });
    })));
  }

  /** Asks every worker to drain for up to graceMs and exit; kills what is left. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    for (const t of this.respawnTimers) clearTimeout(t);
    const exits = [...this.slots.values()].map((s) => new Promise<void>((resolve) => {
      if (s.worker.isDead()) return resolve();
      s.worker.once('exit', () => resolve());
      this.post(s, { t: 'stop', graceMs });
      setTimeout(() => { if (!s.worker.isDead()) s.worker.process.kill('SIGKILL'); }, graceMs + 2000).unref();
    }));
    await Promise.all(exits);
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  private config(s: Slot): WorkerConfig {
    const t = this.table!;
    const secrets = new Map<string, SecretPem>();
    for (const key of new Set([...t.tls.values(), ...t.tlsWildcards.values()])) {
      const pem = this.o.secretPem(key);
      if (!pem) continue;
      // PEMs only when this worker does not have this version of the secret yet.
      secrets.set(key, s.sent.get(key) === pem.rv ? { rv: pem.rv } : pem);
      s.sent.set(key, pem.rv);
    }
    for (const k of [...s.sent.keys()]) if (!secrets.has(k)) s.sent.delete(k);
    return { version: this.version, table: t, secrets };
  }

  private post(s: Slot, m: ToWorker): void {
    if (!s.worker.isConnected()) return;
    try { s.worker.send(m); } catch (e) { this.o.log.debug({ pid: s.pid, err: (e as Error).message }, 'send to ingress worker failed'); }
  }

  /** Resolves publish() waiters whose version every ready worker has applied. */
  private settle(): void {
    let min = Infinity;
    for (const s of this.slots.values()) if (s.ready) min = Math.min(min, s.acked);
    this.waiters = this.waiters.filter((w) => (w.version <= min ? (w.resolve(), false) : true));
  }

  private spawn(): Promise<{ http: number; https?: number }> {
    const worker = cluster.fork({ JOTASU_INGRESS_WORKER: '1' });
    const slot: Slot = { worker, pid: worker.process.pid ?? 0, ready: false, acked: 0, sent: new Map(), started: Date.now() };
    this.slots.set(worker.id, slot);
    return new Promise((resolve, reject) => {
      let settled = false;
      worker.on('message', (m: FromWorker) => {
        switch (m.t) {
          case 'hello':
            // Its message handler is in place (ESM loading is asynchronous: earlier messages could be missed).
            this.post(slot, {
              t: 'init', host: this.o.host, httpPort: this.o.httpPort, httpsPort: this.o.httpsPort,
              defaultCert: this.o.defaultCert, connectTimeoutMs: this.o.connectTimeoutMs, config: this.config(slot),
            });
            break;
          case 'listening':
            slot.ready = true;
            if (!settled) { settled = true; resolve({ http: m.http, https: m.https }); }
            this.settle();
            break;
          case 'error':
            if (!settled) { settled = true; reject(Object.assign(new Error(`ingress worker: ${m.message}`), { code: m.code })); }
            break;
          case 'applied': slot.acked = Math.max(slot.acked, m.version); this.settle(); break;
          case 'stats': this.statWaiters.get(worker.id)?.(m); this.statWaiters.delete(worker.id); break;
        }
      });
      worker.on('error', (e) => this.o.log.debug({ pid: slot.pid, err: e.message }, 'ingress worker IPC error'));
      worker.on('exit', (code, signal) => {
        this.slots.delete(worker.id);
        this.settle();
        if (!settled) { settled = true; reject(Object.assign(new Error(`ingress worker exited during start (code ${code}, signal ${signal})`), { code: 'EWORKER' })); }
        if (this.stopping) return;
        this.o.log.warn({ pid: slot.pid, code, signal }, 'ingress worker exited; starting a new one');
        // Back off when workers die young (a crash loop should not eat the CPU).
        this.failures = Date.now() - slot.started < 10_000 ? this.failures + 1 : 0;
        const delay = Math.min(5000, 100 * 2 ** Math.min(this.failures, 6));
        const timer = setTimeout(() => {
          this.respawnTimers.delete(timer);
          if (this.stopping) return;
          this.spawn().catch((e: Error) => this.o.log.warn({ err: e.message }, 'replacement ingress worker failed to start'));
        }, delay);
        this.respawnTimers.add(timer);
      });
    });
  }
}
