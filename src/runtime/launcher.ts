// Spawns processes for the runtime through `jotasu-shim --launcher`, a long-lived ~0.3 MB
// helper, instead of child_process. Why: Node forks its whole address space for every
// spawn; at the agent's ~90 MB that blocks the event loop ~4-5 ms per spawn, and in a
// 50-pod burst ChildProcess.spawn was 60 % of the agent's CPU. The helper's forks cost
// almost nothing. The wire format is described beside launcher_main in jotasu-shim.c.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

export interface LaunchOptions {
  /** The command's environment; default: the launcher's own (the agent's when it started). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Written to the command's stdin, which is then closed (default: /dev/null). */
  input?: string | Buffer;
  /**
   * The shim's protocol: the command runs detached (own session, stdio on /dev/null) with
   * a pipe on fd 3; the answer comes when fd 3 is closed, with what was written to it as
   * stdout, and the process keeps running.
   */
  syncFd3?: boolean;
}

export interface LaunchResult {
  /** Exit code; null when killed by a signal, or still running (syncFd3). */
  code: number | null;
  signal: number | null;
  /** syncFd3: the process was still running when fd 3 closed. */
  running: boolean;
  stdout: Buffer;
  stderr: Buffer;
}

const INHERIT_ENV = 1;
const SYNC = 2;
const RUNNING = 0x7fffffff;

export class Launcher {
  private child?: ChildProcess;
  private readonly pending = new Map<number, { resolve: (r: LaunchResult) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private buf: Buffer = Buffer.alloc(0);
  /** Processes started through the launcher (tests count them per pod). */
  launched = 0;

  constructor(readonly bin: string) {}

  run(argv: string[], opts: LaunchOptions = {}): Promise<LaunchResult> {
    const child = this.ensure();
    const id = this.nextId++ >>> 0;
    const env = opts.env ? Object.entries(opts.env).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`) : [];
    const input = opts.input === undefined ? Buffer.alloc(0) : Buffer.from(opts.input);
    const strings = Buffer.from([opts.cwd ?? '', ...argv, ...env].map((s) => `${s}\0`).join(''));
    const head = Buffer.alloc(24);
    head.writeUInt32LE(20 + strings.length + input.length, 0);
    head.writeUInt32LE(id, 4);
    head.writeUInt32LE((opts.env ? 0 : INHERIT_ENV) | (opts.syncFd3 ? SYNC : 0), 8);
    head.writeUInt32LE(argv.length, 12);
    head.writeUInt32LE(env.length, 16);
    head.writeUInt32LE(input.length, 20);
    this.launched++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.setRef(true);
      (child.stdin as Writable).write(Buffer.concat([head, strings, input]));
    });
  }

  /** Stops the helper (processes it started keep running). */
  close(): void {
    const c = this.child;
    this.child = undefined;
    c?.stdin?.end();
    this.failAll(new Error('launcher closed'));
  }

  private ensure(): ChildProcess {
    if (this.child) return this.child;
    // stderr inherited: the launcher itself only writes there if something is badly wrong.
    const c = spawn(this.bin, ['--launcher'], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child = c;
    this.buf = Buffer.alloc(0);
    c.on('error', (e) => { if (this.child === c) this.child = undefined; this.failAll(new Error(`launcher ${this.bin}: ${e.message}`)); });
    c.on('exit', (code, sig) => { if (this.child === c) this.child = undefined; this.failAll(new Error(`launcher exited (${sig ?? code})`)); });
    (c.stdin as Writable).on('error', () => undefined); // EPIPE after a crash: 'exit' reports it
    (c.stdout as Readable).on('data', (d: Buffer) => this.onData(d));
    return c;
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32LE(0);
      if (this.buf.length < 4 + len) break;
      const m = this.buf.subarray(4, 4 + len);
      this.buf = this.buf.subarray(4 + len);
      const id = m.readUInt32LE(0);
      const status = m.readInt32LE(4);
      const ol = m.readUInt32LE(8);
      const el = m.readUInt32LE(12);
      const res: LaunchResult = {
        code: status === RUNNING || status < 0 ? null : status, signal: status < 0 ? -status : null, running: status === RUNNING,
        stdout: Buffer.from(m.subarray(16, 16 + ol)), stderr: Buffer.from(m.subarray(16 + ol, 16 + ol + el)),
      };
      const p = this.pending.get(id);
      this.pending.delete(id);
      p?.resolve(res);
    }
    if (!this.pending.size) this.setRef(false);
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** The helper keeps Node alive only while a request is pending. */
  private setRef(on: boolean): void {
    const c = this.child;
    if (!c) return;
    for (const s of [c, c.stdin, c.stdout] as ({ ref?: () => void; unref?: () => void } | null)[]) {
      if (on) s?.ref?.(); else s?.unref?.();
    }
  }
}
