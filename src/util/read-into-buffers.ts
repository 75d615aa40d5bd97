// Reading a socket straight into buffers of our choosing (pooled, or with room for a frame
// header in front), instead of a fresh Buffer per read: see util/buffer-pool.ts for why.
import type { Duplex, Readable, Writable } from 'node:stream';

/** A socket's `onread` options (net.connect, tls.connect). */
export interface ReadIntoBuffers {
  /** The buffer the next read goes into. */
  buffer: () => Buffer;
  /** `n` bytes arrived at the start of `buf`; false stops reading until the socket's resume(). */
  callback: (n: number, buf: Buffer) => boolean;
}

/**
 * Gives an existing socket (accepted by a server, a child process's pipe) what `onread`
 * gives a socket Node creates for a client: reads into our buffers. Node has the machinery
 * for every net.Socket (its kBuffer slots, StreamBase's useUserBuffer) but an option to
 * reach it only in net.connect and tls.connect. false when this Node lacks them (or the
 * stream is no socket); the caller then uses 'data' events. Whatever the socket had read
 * already is handed to the callback first. 'end' and resume() work as usual.
 */
export function readIntoBuffers(sock: Duplex, o: ReadIntoBuffers): boolean {
  const symbols = Object.getOwnPropertySymbols(sock);
  const sym = (d: string) => symbols.find((s) => s.description === d);
  const kBuffer = sym('kBuffer'), kBufferCb = sym('kBufferCb'), kBufferGen = sym('kBufferGen');
  const handle = (sock as Duplex & { _handle?: { useUserBuffer?: (b: Uint8Array) => void } })._handle;
  if (!kBuffer || !kBufferCb || !kBufferGen || typeof handle?.useUserBuffer !== 'function') return false;
  for (let c = sock.read() as Buffer | null; c; c = sock.read() as Buffer | null) {
    for (let off = 0; off < c.length;) {
      const b = o.buffer();
      const n = c.copy(b, 0, off);
      off += n;
      o.callback(n, b);
    }
  }
  const slots = sock as unknown as Record<symbol, unknown>;
  const first = o.buffer();
  slots[kBuffer] = first;
  slots[kBufferGen] = o.buffer;
  slots[kBufferCb] = o.callback;
  handle.useUserBuffer(first);
  return true;
}


/** A consumer that hands out the buffers reads land in (see readIntoBuffers). */
export interface BufferIntake extends ReadIntoBuffers {
  /** `fn` is called when reading may go on after the callback returned false. */
  onResume(fn: () => void): void;
}

/**
 * Copies a socket or pipe into `to` like pipe(from, to, { end: false }), but reading
 * straight into `to`'s buffers when it offers an intake and `from` allows it.
 */
export function pipeInto(from: Readable, to: Writable & { intake?: BufferIntake }): void {
  const intake = to.intake;
  if (intake && readIntoBuffers(from as Duplex, intake)) {
    intake.onResume(() => from.resume());
    from.resume();
    return;
  }
  from.pipe(to, { end: false });
}
