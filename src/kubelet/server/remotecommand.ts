// exec and attach over a WebSocket (v5.channel.k8s.io, v4.channel.k8s.io): the channel
// framing from api/remotecommand, wired to a process (exec) or to the container's output
// (attach). The Status on channel 3 is the last message; then the socket closes.
import { PassThrough, Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Status } from 'kubernetes-types/meta/v1.js';
import {
  STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE, frame, parseResize, successStatus, exitCodeStatus, errorStatus,
  type TerminalSize,
} from '../../api/remotecommand/protocol.js';
import { logger } from '../../util/log.js';
import { BufferPool } from '../../util/buffer-pool.js';
import type { BufferIntake } from '../../util/read-into-buffers.js';

const log = logger('kubelet-server');

/** Pauses writers while this much is queued on the socket (intake readers until LOW_WATER). */
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
/**
 * Output is sent in messages of at most this much: a read of the process's socket takes
 * what has piled up (several of its writes when it is ahead), so fewer, larger messages
 * (fewer reads, sends and wake-ups down the chain) than at 64 KiB.
 */
const MAX_MESSAGE = 256 * 1024;
/**
 * Messages are built in reused buffers (channel byte, then the output), returned once
 * written: output streams at hundreds of MB/s, and a fresh buffer per message made the
 * agent run a mark-compact every ten or so MB (util/buffer-pool.ts).
 */
const messagePool = new BufferPool(1 + MAX_MESSAGE, 16);
/** stdin buffered toward the process before the socket is paused. */
const STDIN_BUFFER = 1024 * 1024;

export interface StreamFlags { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }

export interface RemoteCommandSession {
  stdin?: PassThrough;
  stdout?: ChannelWriter;
  stderr?: ChannelWriter;
  /** Terminal size changes (channel 4); sizes sent before a listener exists are replayed. */
  onResize(fn: (s: TerminalSize) => void): void;
  signal: AbortSignal;
  /** Sends the final Status and closes. */
  finish(status: Status): void;
}

/** Output toward the client: a Writable, and an intake to read a pipe or socket straight into messages. */
export type ChannelWriter = Writable & { intake: BufferIntake };

/** A Writable whose chunks go out as messages on `channel` (pooled, with back-pressure). */
export function channelWriter(ws: WebSocket, channel: number): ChannelWriter {
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (ws.readyState !== ws.OPEN) { cb(); return; }
      let off = 0;
      do {
        const n = Math.min(MAX_MESSAGE, chunk.length - off);
        const m = messagePool.take();
        m[0] = channel;
        chunk.copy(m, 1, off, off + n);
        off += n;
        // Back-pressure: with too much queued, the writer waits until this message is out.
        const wait = off === chunk.length && ws.bufferedAmount > HIGH_WATER;
        ws.send(m.subarray(0, 1 + n), (e) => { messagePool.give(m); if (wait) cb(e ?? null); });
        if (off === chunk.length && !wait) cb();
      } while (off < chunk.length);
    },
  }) as ChannelWriter;
  // Reads land one byte into a pooled buffer; the channel byte goes in front: no copy.
  let resume: (() => void) | undefined;
  let stopped = false;
  w.intake = {
    buffer: () => messagePool.take().subarray(1),
    callback: (n, view) => {
      const m = Buffer.from(view.buffer, view.byteOffset - 1, 1 + n);
      if (ws.readyState !== ws.OPEN) { messagePool.give(m); return true; }
      m[0] = channel;
      ws.send(m, () => {
        messagePool.give(m);
        if (stopped && ws.bufferedAmount <= LOW_WATER) { stopped = false; resume?.(); }
      });
      if (ws.bufferedAmount <= HIGH_WATER) return true;
      stopped = true;
      return false;
    },
    onResume: (fn) => { resume = fn; },
  };
  return w;
}

/** Sets up the channels on an accepted WebSocket. */
export function remoteCommandSession(ws: WebSocket, flags: StreamFlags): RemoteCommandSession {
  const ac = new AbortController();
  const v5 = ws.protocol === 'v5.channel.k8s.io';
  // A roomy buffer: kubectl sends stdin in 32 KiB messages; with the default 16 KiB
  // every message would pause and resume the socket.
  const stdin = flags.stdin ? new PassThrough({ highWaterMark: STDIN_BUFFER }) : undefined;
  let stdinPaused = false;
  const listeners: ((s: TerminalSize) => void)[] = [];
  const queued: TerminalSize[] = [];
  let finished = false;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary || data.length === 0) return;
    const ch = data[0]!, body = data.subarray(1);
    if (ch === STDIN) {
      // Back-pressure: stop reading the socket while the process is behind, or an
      // upload faster than the process reads piles up in memory.
      if (stdin && !stdin.writableEnded && body.length && !stdin.write(body) && !stdinPaused) {
        stdinPaused = true;
        ws.pause();
        stdin.once('drain', () => { stdinPaused = false; ws.resume(); });
      }
    }
    else if (ch === RESIZE) {
      const s = parseResize(body);
      if (s) { if (listeners.length) listeners.forEach((l) => l(s)); else queued.push(s); }
    } else if (ch === CLOSE && v5 && body[0] === STDIN) stdin?.end();
  });
  ws.on('close', () => { ac.abort(); stdin?.end(); });
  ws.on('error', (e) => log.debug({ err: e.message }, 'websocket error'));
  const stdout = flags.stdout ? channelWriter(ws, STDOUT) : undefined;
  const stderr = flags.stderr && !flags.tty ? channelWriter(ws, STDERR) : undefined;
  // Tell the client the streams are open (an empty message on the lowest writable channel), as upstream does.
  ws.send(frame(flags.stdout ? STDOUT : flags.stderr ? STDERR : ERROR));
  return {
    stdin, stdout, stderr, signal: ac.signal,
    onResize(fn) { listeners.push(fn); for (const s of queued.splice(0)) fn(s); },
    finish(status) {
      if (finished) return;
      finished = true;
      if (ws.readyState !== ws.OPEN) return;
      ws.send(frame(ERROR, JSON.stringify(status)), () => ws.close(1000));
    },
  };
}

/** The Status for an exit code (Success for 0). */
export function statusForExit(cmd: string[], code: number): Status {
  return code === 0 ? successStatus() : exitCodeStatus(cmd, code);
}

export { errorStatus };
