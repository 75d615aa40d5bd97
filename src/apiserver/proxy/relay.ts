// The bytes of an upgraded connection (exec, attach, port-forward), client <-> kubelet,
// as cheaply per byte as Node allows: both sides are TLS, and each record arrives on its
// own (16 KiB at most).
//
// - Records are read into pooled buffers (util/buffer-pool.ts) and written on as they
//   are, the buffer returned once written: no allocation per record. A fresh Buffer per
//   record (Node's default) is external memory to V8, and at hundreds of MB/s it made the
//   API server run a mark-compact every ~30 MB.
// - What arrives in one tick leaves in one write (util/batched-pipe.ts).
import type { Duplex, Readable, Writable } from 'node:stream';
import { BufferPool } from '../../util/buffer-pool.js';
import { readIntoBuffers, type ReadIntoBuffers } from '../../util/read-into-buffers.js';
import { batchedPipe, batchedWriter } from '../../util/batched-pipe.js';

/** Queued toward one side before the other side's reading pauses. */
const RELAY_HIGH_WATER = 256 * 1024;

/** Plaintext TLS records (at most 16 KiB) read straight into reused buffers. */
const recordPool = new BufferPool(16 * 1024, 64);

/**
 * `onread` options relaying into `to`: each read lands in a pooled buffer that is written
 * on as it is and returned once written. Pair with relayOnReadEnd().
 */
export function relayOnRead(to: Writable): ReadIntoBuffers {
  const write = batchedWriter(to);
  return {
    buffer: () => recordPool.take(),
    callback: (n, buf) => {
      write(buf.subarray(0, n), () => recordPool.give(buf));
      // false stops reading until 'drain' (relayOnReadEnd resumes).
      return to.writableLength < RELAY_HIGH_WATER;
    },
  };
}

/** The rest of relayOnRead: resume on drain, end `to` when `from` ends. */
export function relayOnReadEnd(from: Readable, to: Writable): void {
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
  from.resume();
}

/**
 * Relays an upgraded client connection and the kubelet connection both ways: the kubelet
 * socket was opened with relayOnRead(client) as its onread; the client's socket is switched
 * to pooled reads when possible.
 */
export function relayBothWays(client: Duplex, kubelet: Duplex): void {
  if (readIntoBuffers(client, relayOnRead(kubelet))) relayOnReadEnd(client, kubelet);
  else batchedPipe(client, kubelet);
  relayOnReadEnd(kubelet, client);
}
