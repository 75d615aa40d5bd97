// Reads a container's CRI log file (`<RFC3339Nano> <stdout|stderr> <F|P> <msg>` per
// line, as the shim writes it) the way the kubelet serves `kubectl logs`: tail, since,
// timestamps, limitBytes, stream selection, and follow until the container exits.
// Follow watches the file (fs.watch, with a poll as fallback: inotify misses nothing
// on a local disk but events can coalesce) and follows the shim's rotation, which renames
// the live log to `<log>.<yyyymmdd-hhmmss>[.N]` and opens a new one: the renamed file is
// read to its end (lines written just before the rename), then any later rotated files
// (several rotations while the reader was behind), then the new live log. A follower
// pins the file it reads (follow-pin.ts) so that the shim does not prune files it has
// not read yet, however far behind it is (within a bound). Upstream's kubelet reopens
// the live log on a rename and skips the rest of the old file and any rotated between.
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { FollowPin } from './follow-pin.js';

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
  /** Called once the start position is fixed (attach sends stdin only after: no answer is missed). */
  onOpen?: () => void;
}

/** Rotated siblings of a log file (the shim's names), oldest first. */
export async function rotatedFiles(logPath: string): Promise<string[]> {
  const dir = dirname(logPath), base = basename(logPath);
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(`${base}.`) && /\.\d{8}-\d{6}(\.\d+)?$/.test(n)).sort().map((n) => join(dir, n));
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
  // Claimed before the open: no rotated file can be pruned between the open and the claim.
  const pin = o.follow ? await FollowPin.create(path) : undefined;
  try {
    await readLog(path, out, o, pin);
  } finally {
    await pin?.release();
  }
}

async function readLog(path: string, out: Writable, o: LogReadOptions, pin: FollowPin | undefined): Promise<void> {
  let fh: FileHandle;
  try { fh = await open(path, 'r'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !o.follow) { o.onOpen?.(); return; }
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    // Following a log not written yet: wait for it.
    o.onOpen?.();
    fh = await waitOpen(path, o);
  }
  await pin?.hold(fh);
  let ino = (await fh.stat()).ino;
  let limit = o.limitBytes && o.limitBytes > 0 ? o.limitBytes : Infinity;
  const want = o.stream ?? 'all';
  let pos = o.tailLines !== undefined && o.tailLines >= 0 ? await tailOffset(fh, (await fh.stat()).size, o.tailLines) : 0;
  o.onOpen?.();
  let rest: Buffer = Buffer.alloc(0);
  const buf = Buffer.allocUnsafe(CHUNK);
  let watcher: FSWatcher | undefined;
  let wake: (() => void) | undefined;
  const poke = () => { const w = wake; wake = undefined; w?.(); };
  // inotify watches an inode, not a name: after a rotation the new live file needs a new watch.
  const rewatch = () => {
    watcher?.close();
    watcher = undefined;
    try { watcher = watch(path, poke); watcher.on('error', () => undefined); } catch { /* poll only */ }
  };
  if (o.follow) {
    rewatch();
    o.signal?.addEventListener('abort', poke);
  }
  // Rotation: `current` is the file fh reads (the live log, or a rotated one being caught
  // up on); `renamed` once the live log was seen moved away.
  let current = path;
  let renamed = false;
  let finishing = false;
  /** The file after the one just read to its end: the next rotated one by name, else the live log. */
  const openNext = async (): Promise<void> => {
    const ifExists = (e: NodeJS.ErrnoException) => { if (e.code === 'ENOENT') return undefined; throw e; };
    for (let tries = 0; ; tries++) {
      // The live log is opened before the rotated files are listed. Listed first, a
      // rotation between the listing and the open would make the open land on a later
      // file and skip the one rotated in between (seen under load: 2 files lost). Opened
      // first, it is the next file unless the listing shows a rotated file after this one.
      // ENOENT: the live log between the shim's rename and its new file.
      const live = await open(path, 'r').catch(ifExists);
      const liveIno = live ? (await live.stat()).ino : undefined;
      // Listed now, not when the rename was seen: more rotations may have happened while this
      // file was being read (a slow client), and each must be read in turn.
      const rotated = await rotatedFiles(path);
      const inos = await Promise.all(rotated.map((f) => stat(f).then((s) => s.ino, () => -1)));
      // Not found: pruned already (past the pins' bound), so every rotated file left is newer than it.
      const from = inos.indexOf(ino) + 1;
      const newer = rotated.slice(from), newerInos = inos.slice(from);
      let next: FileHandle | undefined;
      if (!newer.length || newerInos[0] === liveIno) {
        // No rotation since this file, or the live log just opened is the next file, rotated since.
        next = live;
        current = newer.length ? newer[0]! : path;
      } else {
        await live?.close();
        for (const f of newer) {
          // ENOENT: pruned meanwhile (past the pins' bound).
          next = await open(f, 'r').catch(ifExists);
          if (next) { current = f; break; }
        }
      }
      if (next) {
        // The claim moves on only once the next file is open (the pin kept it until then).
        await pin?.hold(next);
        await fh.close().catch(() => undefined);
        fh = next;
        break;
      }
      if (tries >= 40 || o.signal?.aborted) throw new Error(`log file ${path} is gone`);
      await new Promise((r) => setTimeout(r, 50));
    }
    ino = (await fh.stat()).ino;
    pos = 0;
    rest = Buffer.alloc(0);
    renamed = false;
    if (current === path && o.follow) rewatch();
  };
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
      // A rotated file read to its end (nothing writes to it any more): on to the next.
      if (current !== path || renamed) { await openNext(); continue; }
      const now = await stat(path).catch(() => undefined);
      if (now && now.ino !== ino) {
        // Renamed away by the shim. It may have written to it between our last read and
        // the rename: read it once more to its end, then take the files after it.
        renamed = true;
        continue;
      }
      if (now && now.size < pos) { pos = 0; rest = Buffer.alloc(0); continue; } // truncated in place
      if (finishing) return;
      // Gone: one more pass, as the shim may have flushed (or rotated) just before it exited.
      if (o.isRunning && !(await o.isRunning())) { finishing = true; continue; }
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
