// Reads a container's CRI log file (`<RFC3339Nano> <stdout|stderr> <F|P> <msg>` per
// line, as the shim writes it) the way the kubelet serves `kubectl logs`: tail, since,
// timestamps, limitBytes, stream selection, and follow until the container exits.
// Follow watches the file (fs.watch, with a poll as fallback: inotify misses nothing
// on a local disk but events can coalesce) and survives rotation: a truncated file
// (copytruncate) or a replaced one (new inode) is read again from its start.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import type { Writable } from 'node:stream';

export interface LogReadOptions {
  follow?: boolean;
  /** Only the last N lines (of the current file). */
  tailLines?: number;
  /** Only lines at or after this time (Unix ms; sub-ms precision is not needed). */
  sinceMs?: number;
  timestamps?: boolean;
  /** Stop after this many bytes of output. */
  limitBytes?: number;
  /** Which streams; both by default. */
  stream?: 'stdout' | 'stderr' | 'all';
  /** Follow stops once this says the container is gone (checked when the file is idle). */
  isRunning?: () => Promise<boolean>;
  signal?: AbortSignal;
}

export interface LogLine {
  time: string;
  stream: 'stdout' | 'stderr';
  /** Partial line (P): no newline after it. */
  partial: boolean;
  msg: Buffer;
}

export function parseLogLine(line: Buffer): LogLine | undefined {
  const a = line.indexOf(0x20);
  if (a < 0) return undefined;
  const b = line.indexOf(0x20, a + 1);
  if (b < 0) return undefined;
  const c = line.indexOf(0x20, b + 1);
  const stream = line.subarray(a + 1, b).toString();
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const tag = line.subarray(b + 1, c < 0 ? line.length : c).toString();
  return { time: line.subarray(0, a).toString(), stream, partial: tag.startsWith('P'), msg: c < 0 ? Buffer.alloc(0) : line.subarray(c + 1) };
}

/** Unix ms of an RFC3339Nano timestamp (precision beyond ms dropped). */
export function timeMs(t: string): number {
  return Date.parse(t.replace(/(\.\d{3})\d+/, '$1'));
}

const CHUNK = 256 * 1024;
const POLL_MS = 250;

/** Offset of the start of the last `n` lines (scanning backwards in chunks). */
async function tailOffset(fh: FileHandle, size: number, n: number): Promise<number> {
  if (n <= 0) return size;
  let pos = size;
  let newlines = 0;
  const buf = Buffer.allocUnsafe(CHUNK);
  // The file ends with '\n': the last newline terminates the last line, not a separator.
  let skipLast = true;
  while (pos > 0) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    const { bytesRead } = await fh.read(buf, 0, len, pos);
    for (let i = bytesRead - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a) continue;
      if (skipLast && pos + i === size - 1) { skipLast = false; continue; }
      if (++newlines === n) return pos + i + 1;
    }
  }
  return 0;
}

/** Writes with back-pressure; false when the client is gone. */
function write(out: Writable, data: Buffer): Promise<boolean> {
  if (out.destroyed || out.writableEnded) return Promise.resolve(false);
  if (out.write(data)) return Promise.resolve(true);
  return new Promise((res) => {
    const done = (ok: boolean) => { out.off('drain', onDrain); out.off('close', onClose); res(ok); };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    out.once('drain', onDrain);
    out.once('close', onClose);
  });
}

/**
 * Copies the log at `path` to `out` with the given options; resolves when done
 * (end of file, or with follow when the container stops or the signal aborts).
 */
export async function readContainerLog(path: string, out: Writable, o: LogReadOptions = {}): Promise<void> {
  let fh: FileHandle;
  try { fh = await open(path, 'r'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !o.follow) return;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    // Following a log not written yet: wait for it.
    fh = await waitOpen(path, o);
  }
  let ino = (await fh.stat()).ino;
  let limit = o.limitBytes && o.limitBytes > 0 ? o.limitBytes : Infinity;
  const want = o.stream ?? 'all';
  let pos = o.tailLines !== undefined && o.tailLines >= 0 ? await tailOffset(fh, (await fh.stat()).size, o.tailLines) : 0;
  let rest: Buffer = Buffer.alloc(0);
  const buf = Buffer.allocUnsafe(CHUNK);
  let watcher: FSWatcher | undefined;
  let wake: (() => void) | undefined;
  const poke = () => { const w = wake; wake = undefined; w?.(); };
  if (o.follow) {
    try { watcher = watch(path, poke); watcher.on('error', () => undefined); } catch { /* poll only */ }
    o.signal?.addEventListener('abort', poke);
  }
  // Emits complete lines from `data`; returns false once the output is done.
  const emit = async (data: Buffer): Promise<boolean> => {
    let start = 0;
    const outParts: Buffer[] = [];
    for (;;) {
      const nl = data.indexOf(0x0a, start);
      if (nl < 0) break;
      const l = parseLogLine(data.subarray(start, nl));
      start = nl + 1;
      if (!l || (want !== 'all' && l.stream !== want)) continue;
      if (o.sinceMs !== undefined && timeMs(l.time) < o.sinceMs) continue;
      let piece = l.partial ? l.msg : Buffer.concat([l.msg, Buffer.from('\n')]);
      if (o.timestamps) piece = Buffer.concat([Buffer.from(`${l.time} `), piece]);
      if (piece.length >= limit) { outParts.push(piece.subarray(0, limit)); limit = 0; break; }
      limit -= piece.length;
      outParts.push(piece);
    }
    rest = data.subarray(start);
    if (outParts.length && !(await write(out, Buffer.concat(outParts)))) return false;
    return limit > 0;
  };
  try {
    for (;;) {
      if (o.signal?.aborted) return;
      const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
      if (bytesRead > 0) {
        pos += bytesRead;
        const data = rest.length ? Buffer.concat([rest, buf.subarray(0, bytesRead)]) : Buffer.from(buf.subarray(0, bytesRead));
        if (!(await emit(data))) return;
        continue;
      }
      if (!o.follow) return;
      // At the end: rotated away (new inode or truncated)? Then start over on the new file.
      const now = await stat(path).catch(() => undefined);
      if (now && (now.ino !== ino || now.size < pos)) {
        if (now.ino !== ino) { await fh.close(); fh = await open(path, 'r'); ino = (await fh.stat()).ino; }
        pos = 0;
        rest = Buffer.alloc(0);
        continue;
      }
      if (o.isRunning && !(await o.isRunning())) {
        // One last read: the shim may have flushed the final lines just now.
        const { bytesRead: last } = await fh.read(buf, 0, CHUNK, pos);
        if (last > 0) { pos += last; if (!(await emit(Buffer.concat([rest, buf.subarray(0, last)])))) return; continue; }
        return;
      }
      await new Promise<void>((res) => { wake = res; setTimeout(poke, POLL_MS); });
    }
  } finally {
    watcher?.close();
    o.signal?.removeEventListener('abort', poke);
    await fh.close().catch(() => undefined);
  }
}

async function waitOpen(path: string, o: LogReadOptions): Promise<FileHandle> {
  for (;;) {
    if (o.signal?.aborted) throw new Error('aborted');
    try { return await open(path, 'r'); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
    if (o.isRunning && !(await o.isRunning())) throw new Error(`log file ${path} does not exist`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
