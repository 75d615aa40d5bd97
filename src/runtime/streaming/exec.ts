// Streaming exec into a runc container: what the kubelet's exec and `kubectl cp` use.
//
// Without a tty: `runc exec` with pipes. With a tty: `runc exec -t` run under a pty from
// node-pty. runc, seeing a terminal on its stdin, allocates the container's console and
// relays it, and it follows SIGWINCH by copying its own terminal's size to the console;
// so resizing our pty (pty.resize) resizes the container's terminal too. The other way,
// runc's --console-socket, hands over the console master by SCM_RIGHTS, which Node cannot
// receive without a native helper of our own; node-pty is a maintained native module
// that builds here with node-gyp, so it is the smaller thing to depend on.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { TerminalSize } from '../../api/remotecommand/protocol.js';
import { logger } from '../../util/log.js';
import { pipeInto, type BufferIntake } from '../../util/read-into-buffers.js';
import { batchedPipe } from '../../util/batched-pipe.js';

const log = logger('streaming');

/**
 * Where runc keeps its state and which binary to run (RuncRuntime: <runDir>/runc), and
 * the container shim binary, whose --exec mode hands our pipes to the process itself
 * (without it, runc relays them: a copy per byte in one more process).
 */
export interface RuncLocation { root: string; bin: string; shim?: () => Promise<string | undefined> }

export interface ExecOptions {
  containerId: string;
  cmd: string[];
  tty: boolean;
  stdin?: Readable;
  /** With an intake (kubelet/server's channel writers), the pipe is read straight into its buffers. */
  stdout?: Writable & { intake?: BufferIntake };
  /** Ignored with a tty (the terminal merges both). */
  stderr?: Writable & { intake?: BufferIntake };
  /** Initial size (tty). */
  size?: TerminalSize;
  /** Aborting kills the process (the client went away). */
  signal?: AbortSignal;
}

/** A running exec: resize (tty only) and the exit code. */
export interface ExecHandle {
  resize(size: TerminalSize): void;
  /** Exit code; rejects when runc could not even start the process. */
  done: Promise<number>;
}

async function killFromPidFile(pidFile: string): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '0')).trim());
  // runc exec does not kill the process it started when it is killed itself.
  if (pid > 0) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

export function execInContainer(runc: RuncLocation, o: ExecOptions): ExecHandle {
  const pidFile = join(tmpdir(), `jotasu-exec-${randomBytes(6).toString('hex')}.pid`);
  if (!o.tty) return execPipes(runc, pidFile, o);
  const args = ['--root', runc.root, 'exec', '--pid-file', pidFile, '-t', '--env', 'TERM=xterm', o.containerId, ...o.cmd];
  return execTty(runc, args, pidFile, o);
}

/** The exec process with our pipes as its stdio: through the shim's --exec when there is a shim, else runc's relay. */
async function spawnExec(runc: RuncLocation, pidFile: string, o: ExecOptions) {
  const shim = await runc.shim?.().catch((e: Error) => { log.warn({ err: e.message }, 'no shim for exec; runc relays its stdio'); return undefined; });
  const stdio: ('pipe' | 'ignore')[] = [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'];
  if (shim) return spawn(shim, ['--exec', '--runc', runc.bin, '--root', runc.root, '--pid-file', pidFile, o.containerId, ...o.cmd], { stdio });
  return spawn(runc.bin, ['--root', runc.root, 'exec', '--pid-file', pidFile, o.containerId, ...o.cmd], { stdio });
}

function execPipes(runc: RuncLocation, pidFile: string, o: ExecOptions): ExecHandle {
  const done = spawnExec(runc, pidFile, o).then((child) => attachPipes(child, pidFile, o));
  return { resize() { /* no terminal */ }, done };
}

function attachPipes(child: ChildProcess, pidFile: string, o: ExecOptions): Promise<number> {
  if (o.stdin && child.stdin) {
    // The messages of one read in one write to the pipe.
    batchedPipe(o.stdin, child.stdin);
    child.stdin.on('error', () => { /* the process exited before reading all of stdin */ });
  }
  // Output is read straight into the writer's buffers when it offers them (pipeInto).
  if (o.stdout) pipeInto(child.stdout!, o.stdout); else child.stdout!.resume();
  // runc's own errors (exec failed) come on stderr as well: the client sees them.
  if (o.stderr) pipeInto(child.stderr!, o.stderr); else child.stderr!.resume();
  const onAbort = () => { void killFromPidFile(pidFile); child.kill('SIGKILL'); };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  if (o.signal?.aborted) onAbort();
  return new Promise<number>((resolve, reject) => {
    child.on('error', (e) => reject(new Error(`runc exec in ${o.containerId.slice(0, 12)}: ${e.message}`)));
    child.on('close', (code, sig) => {
      o.signal?.removeEventListener('abort', onAbort);
      void rm(pidFile, { force: true });
      resolve(code ?? (sig ? 128 + 9 : 1));
    });
  });
}

function execTty(runc: RuncLocation, args: string[], pidFile: string, o: ExecOptions): ExecHandle {
  let resizeFn: (s: TerminalSize) => void = () => undefined;
  let pending: TerminalSize | undefined = o.size;
  const done = (async () => {
    const pty = await import('node-pty');
    const term = pty.spawn(runc.bin, args, {
      name: 'xterm', cols: o.size?.width || 80, rows: o.size?.height || 24,
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
      // Bytes, not strings: a split UTF-8 sequence must not be mangled between chunks.
      encoding: null,
    });
    resizeFn = (s) => { if (s.width > 0 && s.height > 0) try { term.resize(s.width, s.height); } catch { /* exited */ } };
    if (pending) resizeFn(pending);
    term.onData((d: string | Buffer) => o.stdout?.write(d));
    o.stdin?.on('data', (d: Buffer) => term.write(d));
    const onAbort = () => { void killFromPidFile(pidFile); try { term.kill('SIGKILL'); } catch { /* gone */ } };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    return new Promise<number>((resolve) => {
      term.onExit(({ exitCode, signal }) => {
        o.signal?.removeEventListener('abort', onAbort);
        void rm(pidFile, { force: true });
        resolve(signal ? 128 + signal : exitCode);
      });
    });
  })();
  done.catch((e) => log.warn({ err: (e as Error).message }, 'tty exec failed'));
  return {
    resize(s) { pending = s; resizeFn(s); },
    done,
  };
}
