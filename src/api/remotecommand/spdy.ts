// A minimal SPDY/3.1 session, server side: enough for kubectl's port-forward, which
// speaks SPDY either on a plain HTTP upgrade or tunnelled inside a WebSocket (KEP-4006,
// subprotocol SPDY/3.1+portforward.k8s.io). The peer opens streams (SYN_STREAM with
// headers), we answer SYN_REPLY, both sides send DATA frames and close with FIN.
//
// Frame layout (draft-mbelshe-httpbis-spdy-00):
//   control: 1|version(15) type(16) flags(8) length(24) payload
//   data:    0|stream-id(31)         flags(8) length(24) payload
// Header blocks are zlib streams with the SPDY dictionary, one compression context per
// direction for the whole session. We inflate with one persistent zlib context (frames
// wait in order while a header block inflates) and deflate with stored blocks only: valid zlib
// that every inflater reads, and we only ever send a handful of small header blocks.
//
// Flow control: Go's spdystream (kubectl, kubelet) neither sends nor honours
// WINDOW_UPDATE, so neither do we; PINGs are answered (kubectl pings every few seconds).
//
// Sending: each DATA frame (header and payload) is built in one pooled buffer and handed
// to the transport as one write (one WebSocket message in the tunnel), returned to the
// pool once written: no allocation per frame (util/buffer-pool.ts).
import { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import * as zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './spdy-dictionary.js';
import { BufferPool } from '../../util/buffer-pool.js';
import type { BufferIntake } from '../../util/read-into-buffers.js';

const VERSION = 3;
const SYN_STREAM = 1, SYN_REPLY = 2, RST_STREAM = 3, SETTINGS = 4, PING = 6, GOAWAY = 7, HEADERS = 8, WINDOW_UPDATE = 9;
const FLAG_FIN = 0x01;
/** Largest DATA payload we send in one frame (a pod socket read takes what has piled up, up to this). */
const MAX_DATA = 256 * 1024;
/** Writers wait while more than this is queued on the transport, until it is below LOW_WATER. */
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
const framePool = new BufferPool(8 + MAX_DATA, 16);
const RST_CANCEL = 5;

export type SpdyHeaders = Record<string, string>;

function adler32(buf: Buffer): number {
  let a = 1, b = 0;
  for (const x of buf) { a = (a + x) % 65521; b = (b + a) % 65521; }
  return ((b << 16) | a) >>> 0;
}

/** Header block encoder: a zlib stream of stored blocks (no compression, no shared window needed). */
class HeaderEncoder {
  private started = false;
  encode(h: SpdyHeaders): Buffer {
    const parts: Buffer[] = [];
    const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); parts.push(b); };
    const entries = Object.entries(h);
    u32(entries.length);
    for (const [k, v] of entries) {
      const kb = Buffer.from(k.toLowerCase()), vb = Buffer.from(v);
      u32(kb.length); parts.push(kb); u32(vb.length); parts.push(vb);
    }
    const raw = Buffer.concat(parts);
    const out: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      // CMF 0x78 (deflate, 32K window), FLG 0xBB (FDICT, level 2, check bits), dictionary id.
      const hdr = Buffer.alloc(6);
      hdr[0] = 0x78; hdr[1] = 0xbb;
      hdr.writeUInt32BE(adler32(SPDY3_DICTIONARY), 2);
      out.push(hdr);
    }
    for (let off = 0; off < raw.length; off += 0xffff) {
      const chunk = raw.subarray(off, off + 0xffff);
      const blk = Buffer.alloc(5);
      blk[0] = 0; // BFINAL=0, BTYPE=00 (stored)
      blk.writeUInt16LE(chunk.length, 1);
      blk.writeUInt16LE(~chunk.length & 0xffff, 3);
      out.push(blk, chunk);
    }
    // An empty stored block, as zlib's Z_SYNC_FLUSH ends with: inflaters (Go's flate)
    // hand out a stored block's bytes only when they reach the next block boundary.
    out.push(Buffer.from([0, 0, 0, 0xff, 0xff]));
    return Buffer.concat(out);
  }
}

/** Header block decoder with one inflate context for the session (zlib streams are async). */
class HeaderDecoder {
  private readonly inflate = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  constructor() { this.inflate.on('error', () => undefined); }
  async decode(block: Buffer): Promise<SpdyHeaders> {
    const raw = await new Promise<Buffer>((resolve, reject) => {
      const onErr = (e: Error) => reject(new Error(`header block: ${e.message}`));
      this.inflate.once('error', onErr);
      this.inflate.write(block);
      this.inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.inflate.off('error', onErr);
        // Paused mode: what the flush produced waits in the readable buffer.
        const parts: Buffer[] = [];
        for (let c = this.inflate.read() as Buffer | null; c; c = this.inflate.read() as Buffer | null) parts.push(c);
        resolve(Buffer.concat(parts));
      });
    });
    const h: SpdyHeaders = {};
    let off = 0;
    const u32 = () => { const v = raw.readUInt32BE(off); off += 4; return v; };
    const n = u32();
    for (let i = 0; i < n; i++) {
      const kl = u32(); const k = raw.subarray(off, off + kl).toString(); off += kl;
      const vl = u32(); const v = raw.subarray(off, off + vl).toString(); off += vl;
      // Multiple values are NUL-separated; the first is all the port-forward protocol needs.
      h[k.toLowerCase()] = v.split('\0')[0]!;
    }
    return h;
  }
}

export class SpdyStream extends Duplex {
  private replied = false;
  private remoteClosed = false;
  constructor(private readonly session: SpdySession, readonly id: number, readonly headers: SpdyHeaders) {
    // Room for a few 32 KiB DATA frames: at the default 16 KiB every frame would
    // pause and resume the whole transport.
    // The same on the writable side: a 64 KiB chunk from the pod would otherwise make
    // every write() return false, and the pod socket pause and resume per chunk.
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 });
  }

  /** Accepts the stream (SYN_REPLY). */
  reply(headers: SpdyHeaders = {}): void {
    if (this.replied) return;
    this.replied = true;
    this.session.sendControl(SYN_REPLY, 0, Buffer.concat([u32be(this.id), this.session.encodeHeaders(headers)]));
  }

  /** Aborts the stream (RST_STREAM CANCEL). */
  reset(): void {
    if (!this.destroyed) this.session.sendControl(RST_STREAM, 0, Buffer.concat([u32be(this.id), u32be(RST_CANCEL)]));
    this.session.forget(this.id);
    this.destroy();
  }

  /**
   * Reading a socket straight into this stream's DATA frames (util/read-into-buffers.ts):
   * each read lands after room for the frame header, which is then filled in: no copy.
   */
  intake(): BufferIntake {
    let resume: (() => void) | undefined;
    return {
      buffer: () => framePool.take().subarray(8),
      callback: (n, view) => {
        const f = Buffer.from(view.buffer, view.byteOffset - 8, 8 + n);
        if (this.destroyed || this.writableEnded) { framePool.give(f); return true; }
        return this.session.sendDataFrame(this.id, f, () => resume?.());
      },
      onResume: (fn) => { resume = fn; },
    };
  }

  override _read(): void { this.session.resume(this); }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.session.sendData(this.id, chunk, false);
    this.session.afterWrite(cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.session.sendData(this.id, Buffer.alloc(0), true);
    if (this.remoteClosed) this.session.forget(this.id);
    cb();
  }

  /** @internal */ onData(data: Buffer, fin: boolean): void {
    if (data.length && !this.push(data)) this.session.pause(this);
    if (fin) this.onRemoteFin();
  }

  /** @internal */ onRemoteFin(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.push(null);
    if (this.writableFinished) this.session.forget(this.id);
  }

  /** @internal */ onReset(): void {
    this.remoteClosed = true;
    this.destroy();
  }
}

const EMPTY = Buffer.alloc(0);

/** A byte queue over the received chunks; take(n) copies only when n spans chunks. */
export class ChunkQueue {
  private chunks: Buffer[] = [];
  private head = 0;
  length = 0;

  push(b: Buffer): void {
    if (!b.length) return;
    this.chunks.push(b);
    this.length += b.length;
  }

  peekUInt32BE(off: number): number {
    const c = this.chunks[this.head]!;
    if (c.length >= off + 4) return c.readUInt32BE(off);
    let v = 0;
    for (let i = 0; i < 4; i++) v = v * 256 + this.byteAt(off + i);
    return v;
  }

  private byteAt(off: number): number {
    for (let i = this.head; ; i++) {
      const c = this.chunks[i]!;
      if (off < c.length) return c[off]!;
      off -= c.length;
    }
  }

  take(n: number): Buffer {
    this.length -= n;
    const c = this.chunks[this.head]!;
    if (c.length > n) { this.chunks[this.head] = c.subarray(n); return c.subarray(0, n); }
    if (c.length === n) { this.drop(); return c; }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const x = this.chunks[this.head]!;
      const k = Math.min(x.length, n - off);
      x.copy(out, off, 0, k);
      off += k;
      if (k === x.length) this.drop(); else this.chunks[this.head] = x.subarray(k);
    }
    return out;
  }

  private drop(): void {
    this.chunks[this.head++] = EMPTY;
    // Compact now and then so the array does not grow without bound.
    if (this.head > 64 && this.head * 2 > this.chunks.length) { this.chunks = this.chunks.slice(this.head); this.head = 0; }
  }
}

function u32be(n: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; }

/** What a session runs over: a socket (plain SPDY upgrade) or a WebSocket (the tunnel). */
export interface SpdyTransport {
  /** Sends bytes as one write; `done` once written, after which the buffer may be reused. */
  send(data: Buffer, done: () => void): void;
  /** Bytes accepted but not yet written. */
  readonly queued: number;
  pause(): void;
  resume(): void;
  end(): void;
  destroy(err?: Error): void;
  /** Starts delivery: received bytes to `data`; `closed` once the transport ends, closes or fails. */
  start(data: (b: Buffer) => void, closed: () => void): void;
}

/** A byte stream (socket) as a transport. */
export function streamTransport(s: Duplex): SpdyTransport {
  return {
    send: (data, done) => { s.write(data, () => done()); },
    get queued() { return s.writableLength; },
    pause: () => s.pause(),
    resume: () => s.resume(),
    end: () => s.end(),
    destroy: (err) => s.destroy(err),
    start(data, closed) {
      s.on('data', data);
      s.on('end', closed);
      s.on('close', closed);
      s.on('error', closed);
    },
  };
}

export interface SpdySessionEvents {
  stream: [SpdyStream];
  close: [];
}

/**
 * One SPDY connection over a byte stream (a socket, or a WebSocket tunnel made into one).
 * Emits 'stream' for every stream the peer opens and 'close' when the transport ends.
 */
export class SpdySession extends EventEmitter<SpdySessionEvents> {
  /** Received bytes not yet cut into frames (a chunk list: no copying of whole frames). */
  private readonly inbuf = new ChunkQueue();
  private readonly streams = new Map<number, SpdyStream>();
  private readonly enc = new HeaderEncoder();
  private readonly dec = new HeaderDecoder();
  private closed = false;
  private readonly paused = new Set<SpdyStream>();
  private readonly queue: [Buffer, Buffer][] = [];
  private pumping = false;
  private readonly transport: SpdyTransport;
  /** Writers waiting for the transport's queue to go down (afterWrite). */
  private waiting: (() => void)[] = [];
  private readonly written = (): void => {
    if (this.waiting.length && this.transport.queued <= LOW_WATER) for (const w of this.waiting.splice(0)) w();
  };

  constructor(transport: Duplex | SpdyTransport) {
    super();
    this.transport = transport instanceof Duplex ? streamTransport(transport) : transport;
    this.transport.start((d) => this.onBytes(d), () => this.shutdown());
  }

  get open(): boolean { return !this.closed; }

  encodeHeaders(h: SpdyHeaders): Buffer { return this.enc.encode(h); }

  sendControl(type: number, flags: number, payload: Buffer): void {
    if (this.closed) return;
    const h = Buffer.alloc(8);
    h.writeUInt16BE(0x8000 | VERSION, 0);
    h.writeUInt16BE(type, 2);
    h.writeUInt32BE(((flags & 0xff) << 24 | payload.length) >>> 0, 4);
    this.transport.send(Buffer.concat([h, payload]), this.written);
  }

  /** DATA frames of at most MAX_DATA bytes for `data`; FIN on the last when `fin`. */
  sendData(id: number, data: Buffer, fin: boolean): void {
    if (this.closed) return;
    let off = 0;
    do {
      const n = Math.min(MAX_DATA, data.length - off);
      const f = framePool.take();
      f.writeUInt32BE(id & 0x7fffffff, 0);
      f.writeUInt32BE((((fin && off + n === data.length) ? FLAG_FIN : 0) << 24 | n) >>> 0, 4);
      data.copy(f, 8, off, off + n);
      this.transport.send(f.subarray(0, 8 + n), () => { framePool.give(f); this.written(); });
      off += n;
    } while (off < data.length);
  }

  /**
   * Sends a pooled DATA frame whose payload is in place after 8 free bytes (intake());
   * false when the transport is full: `onRoom` is called once it has room again.
   */
  sendDataFrame(id: number, f: Buffer, onRoom: () => void): boolean {
    if (this.closed) { framePool.give(f); return true; }
    f.writeUInt32BE(id & 0x7fffffff, 0);
    f.writeUInt32BE((f.length - 8) >>> 0, 4);
    this.transport.send(f, () => { framePool.give(f); this.written(); });
    if (this.transport.queued <= HIGH_WATER) return true;
    this.waiting.push(onRoom);
    return false;
  }

  /** Calls back once the transport has room again (back-pressure for stream writers). */
  afterWrite(cb: () => void): void {
    if (this.closed || this.transport.queued <= HIGH_WATER) { cb(); return; }
    this.waiting.push(cb);
  }

  /** A stream's reader is full: stop reading the transport until every such stream asks again. */
  pause(s: SpdyStream): void { this.paused.add(s); this.transport.pause(); }
  resume(s: SpdyStream): void {
    if (!this.paused.delete(s)) return;
    if (this.paused.size === 0) this.transport.resume();
  }

  forget(id: number): void {
    const s = this.streams.get(id);
    this.streams.delete(id);
    if (s) this.resume(s);
  }

  close(): void {
    if (this.closed) return;
    this.sendControl(GOAWAY, 0, Buffer.concat([u32be(0), u32be(0)]));
    this.transport.end();
    this.shutdown();
  }

  private shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) s.destroy();
    this.streams.clear();
    this.transport.destroy();
    for (const w of this.waiting.splice(0)) w();
    this.emit('close');
  }

  private onBytes(d: Buffer): void {
    // kubectl's tunnel sends a frame's 8-byte header and its payload as separate
    // WebSocket messages: taking the payload as it came (no concat) saves a copy per frame.
    const q = this.inbuf;
    q.push(d);
    while (q.length >= 8) {
      const len = q.peekUInt32BE(4) & 0xffffff;
      if (q.length < 8 + len) break;
      const head = q.take(8);
      this.queue.push([head, len ? q.take(len) : EMPTY]);
    }
    if (!this.pumping) void this.pump();
  }

  /** Handles frames in order; header blocks make it wait for the inflater. */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.queue.length && !this.closed) {
        const [head, payload] = this.queue.shift()!;
        const pending = this.onFrame(head, payload);
        if (pending) await pending;
      }
    } catch (e) {
      this.transport.destroy(new Error(`SPDY protocol error: ${(e as Error).message}`));
    } finally {
      this.pumping = false;
    }
  }

  private onFrame(f: Buffer, payload: Buffer): Promise<void> | undefined {
    const flags = f[4]!;
    if (!(f[0]! & 0x80)) {
      const id = f.readUInt32BE(0) & 0x7fffffff;
      const s = this.streams.get(id);
      if (s) s.onData(payload, (flags & FLAG_FIN) !== 0);
      return undefined;
    }
    const type = f.readUInt16BE(2);
    switch (type) {
      case SYN_STREAM: {
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        // stream-id(4) associated-id(4) priority+unused(1) slot(1), then the header block.
        return this.dec.decode(payload.subarray(10)).then((headers) => {
          const s = new SpdyStream(this, id, headers);
          this.streams.set(id, s);
          this.emit('stream', s);
          if (flags & FLAG_FIN) s.onRemoteFin();
        });
      }
      case HEADERS: case SYN_REPLY:
        // Keep the inflate context in step even though we do not use these headers.
        return this.dec.decode(payload.subarray(4)).then(() => undefined);
      case RST_STREAM: {
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        this.streams.get(id)?.onReset();
        this.forget(id);
        break;
      }
      case PING:
        this.sendControl(PING, 0, payload.subarray(0, 4));
        break;
      case GOAWAY:
        this.shutdown();
        break;
      case SETTINGS: case WINDOW_UPDATE:
        break;
      default:
        break;
    }
    return undefined;
  }
}
