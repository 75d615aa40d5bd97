// The bytes of an upgraded connection (exec, attach, port-forward), client <-> kubelet,
// as cheaply per byte as Node allows: both sides are TLS, and each record arrives on its
// own (16 KiB at most).
//
// - Records are read one after another into a slab (a pooled 128 KiB buffer), with no
//   allocation per record: a fresh Buffer per record (Node's default) is external memory
//   to V8, and at hundreds of MB/s it made the API server run a mark-compact every ~30 MB.
// - One write at a time, of one contiguous piece of a slab: what arrives while a write is
//   in flight waits in the slab and leaves with the next write. A TLS socket handed
//   several buffers at once (a writev: corked writes, or writes queued behind one in
//   flight) first copies them into one fresh allocation of their total size; with the
//   malloc settings of bin/jotasu.mjs (mmap above 8 KiB) each such copy was a new
//   mapping, page-faulted in and unmapped again, a quarter of the API server's CPU while
//   relaying.
import type { Duplex, Readable, Writable } from 'node:stream';
import { BufferPool } from '../../util/buffer-pool.js';
import { readIntoBuffers, type BufferIntake } from '../../util/read-into-buffers.js';
import { batchedPipe } from '../../util/batched-pipe.js';

/** Read but not yet written toward one side before the other side's reading pauses. */
const RELAY_HIGH_WATER = 256 * 1024;
/** Room a read needs: a whole TLS record (16 KiB of plaintext). */
const READ_ROOM = 16 * 1024;
/**
 * Eight records a slab: writes of up to 128 KiB. Each direction of a session holds one
 * slab even when idle (an open `kubectl exec -it`), so not larger.
 */
const SLAB_SIZE = 128 * 1024;
const slabPool = new BufferPool(SLAB_SIZE, 16);

/** A slab and how many parties still use it (the reader, each region waiting or in flight). */
interface Slab { buf: Buffer; users: number }
interface Region { slab: Slab; start: number; end: number }

const newSlab = (): Slab => ({ buf: slabPool.take(), users: 1 });
const release = (s: Slab) => { if (--s.users === 0) slabPool.give(s.buf); };

/**
 * relayOnRead's intake. `end()`: ends the destination once everything read is written;
 * `afterWrites(fn)`: calls fn once everything read so far is written (at once if it is).
 */
export type RelayIntake = BufferIntake & { end(): void; afterWrites(fn: () => void): void };

/**
 * `onread` options relaying into `to` (see the top of this file). Pair with relayOnReadEnd().
 */
export function relayOnRead(to: Writable): RelayIntake {
  let slab = newSlab();
  /** The current slab's bytes not yet handed to a write: [start, end). */
  let start = 0;
  let end = 0;
  /** Regions of earlier slabs not yet written (the reader moved on to a fresh slab). */
  const waiting: Region[] = [];
  let writing = false;
  let flushQueued = false;
  let stopped = false;
  let ending = false;
  let resume: (() => void) | undefined;
  const idle: (() => void)[] = [];
  const pending = () => end - start + waiting.reduce((n, r) => n + r.end - r.start, 0);

  function writeNext(): void {
    let r = waiting.shift();
    if (!r && end > start) { slab.users++; r = { slab, start, end }; start = end; }
    if (!r) {
      writing = false;
      if (ending && !to.writableEnded) to.end();
      for (const fn of idle.splice(0)) fn();
      return;
    }
    writing = true;
    const region = r;
    to.write(region.slab.buf.subarray(region.start, region.end), () => {
      release(region.slab);
      if (stopped && pending() < RELAY_HIGH_WATER) { stopped = false; resume?.(); }
      writeNext();
    });
  }
  /** After this turn of the event loop's reads, when no write is in flight. */
  const flushSoon = () => {
    if (writing || flushQueued) return;
    flushQueued = true;
    setImmediate(() => { flushQueued = false; if (!writing) writeNext(); });
  };

  return {
    buffer: () => {
      if (SLAB_SIZE - end < READ_ROOM) {
        if (end > start) { slab.users++; waiting.push({ slab, start, end }); }
        release(slab);
        slab = newSlab();
        start = end = 0;
      }
      return slab.buf.subarray(end);
    },
    callback: (n) => {
      end += n;
      flushSoon();
      // false stops reading until the writes have caught up (onResume).
      if (pending() < RELAY_HIGH_WATER) return true;
      stopped = true;
      return false;
    },
    onResume: (fn) => { resume = fn; },
    end: () => {
      ending = true;
      if (!writing && !flushQueued) writeNext();
    },
    afterWrites: (fn) => {
      if (!writing && !flushQueued && end === start && !waiting.length) fn();
      else idle.push(fn);
    },
  };
}

/** The rest of relayOnRead: reading resumes as writes catch up; `to` ends after `from`'s last byte. */
export function relayOnReadEnd(from: Readable, intake: RelayIntake): void {
  intake.onResume(() => from.resume());
  from.on('end', () => intake.end());
  from.resume();
}

/**
 * Relays an upgraded client connection and the kubelet connection both ways: the kubelet
 * socket was opened with `fromKubelet` (relayOnRead(client)) as its onread; the client's
 * socket is switched to slab reads when possible. Either side closing closes the other,
 * once what it sent has been written on (the kubelet's last message, the exec's Status,
 * may still wait in a slab when its socket closes); an error closes both at once.
 */
export function relayBothWays(client: Duplex, kubelet: Duplex, fromKubelet: RelayIntake): void {
  const toKubelet = relayOnRead(kubelet);
  const switched = readIntoBuffers(client, toKubelet);
  if (switched) relayOnReadEnd(client, toKubelet);
  else batchedPipe(client, kubelet);
  relayOnReadEnd(kubelet, fromKubelet);
  const closeBoth = () => { client.destroy(); kubelet.destroy(); };
  client.on('error', closeBoth);
  kubelet.on('error', closeBoth);
  client.on('close', () => { if (switched) toKubelet.afterWrites(closeBoth); else closeBoth(); });
  kubelet.on('close', () => fromKubelet.afterWrites(closeBoth));
}
