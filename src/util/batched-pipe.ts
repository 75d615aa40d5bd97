// pipe(), but what is written in one tick leaves in one write: a TLS socket hands over its
// records one by one (16 KiB each) and a SPDY or WebSocket session its frames one by one;
// writing each on its own costs a syscall apiece (and a TLS record on a TLS socket).
import type { Duplex, Readable, Writable } from 'node:stream';

/** Queued toward `to` before `from` pauses (a socket's own high-water mark is 16 KiB). */
const HIGH_WATER = 256 * 1024;

/** Writes to `to`, batching what is written in one tick into one write. */
export function batchedWriter(to: Writable): (d: Buffer, cb?: () => void) => void {
  let corked = false;
  const uncork = () => { corked = false; to.uncork(); };
  return (d, cb) => {
    if (!corked) { corked = true; to.cork(); process.nextTick(uncork); }
    to.write(d, cb);
  };
}

/** Copies `from` into `to` like pipe() (ending `to` at the end), in batches. */
export function batchedPipe(from: Duplex | Readable, to: Writable): void {
  const write = batchedWriter(to);
  from.on('data', (d: Buffer) => {
    write(d);
    // Pausing at write() === false would end every batch after its first chunk.
    if (to.writableLength >= HIGH_WATER) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}
