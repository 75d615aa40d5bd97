// The server side of WebSocket (RFC 6455) for the kubelet's streaming endpoints (exec,
// attach, port-forward), in place of the `ws` library on these connections: uploads
// (kubectl exec -i, port-forward from the client) made the agent's garbage collector its
// largest cost. ws, like Node's TLS socket, hands out a fresh Buffer for every read and
// every message that spans reads; at hundreds of MB/s that external memory set off a
// mark-compact of the agent's whole heap every few dozen MB (45% of its CPU on uploads).
// Here the socket is read into pooled buffers (util/read-into-buffers.ts), each frame's
// payload is unmasked while it is copied into a pooled message buffer, and the message is
// lent to the consumer (BufferPool.lend): whoever writes it on returns it once written
// (batchedPipe does), so a steady upload allocates nothing.
//
// Only what these endpoints use: binary and text messages (fragmented or not), ping/pong,
// the close handshake; client frames must be masked (RFC 6455 5.1). No extensions
// (permessage-deflate is never negotiated).
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { BufferPool } from '../../util/buffer-pool.js';
import { readIntoBuffers } from '../../util/read-into-buffers.js';
import { HttpError } from './resolve.js';

/** What the streaming handlers use of a WebSocket (ws's WebSocket has it too). */
export interface StreamingSocket {
  readonly protocol: string;
  readonly readyState: number;
  readonly OPEN: number;
  readonly bufferedAmount: number;
  send(data: Buffer | string, cb?: (err?: Error) => void): void;
  pause(): void;
  resume(): void;
  close(code?: number): void;
  terminate(): void;
  on(event: 'message', fn: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'close', fn: () => void): this;
  on(event: 'error', fn: (e: Error) => void): this;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Largest message accepted (as the server's former ws maxPayload). */
const MAX_MESSAGE = 64 * 1024 * 1024;
/** Socket reads land here; everything in them is copied out before the next read. */
const readPool = new BufferPool(64 * 1024, 16);
/** Messages up to this size are assembled in pooled buffers (kubectl sends at most 32 KiB + 1). */
const POOLED_MESSAGE = 64 * 1024 + 16;
const messagePool = new BufferPool(POOLED_MESSAGE, 64);

const CONNECTING = 0, OPEN = 1, CLOSING = 2, CLOSED = 3;

type MaskFn = (src: Buffer, mask: Buffer, out: Buffer, offset: number, length: number) => void;
/** XORs src with the mask into out[offset...]: bufferutil's native loop (a dependency of ws too), else ours. */
const unmaskInto: MaskFn = (() => {
  try {
    const native = (createRequire(import.meta.url)('bufferutil') as { mask: MaskFn }).mask;
    return (src: Buffer, mask: Buffer, out: Buffer, offset: number, length: number) => {
      if (length < 48) jsMask(src, mask, out, offset, length); else native(src, mask, out, offset, length);
    };
  } catch {
    return jsMask;
  }
})();
function jsMask(src: Buffer, mask: Buffer, out: Buffer, offset: number, length: number): void {
  for (let i = 0; i < length; i++) out[offset + i] = src[i]! ^ mask[i & 3]!;
}

/**
 * Completes the opening handshake on an upgrade request and returns the connection;
 * throws a 400 HttpError (nothing written) when the request is no valid WebSocket upgrade.
 * `protocol`: the subprotocol to answer with ('' for none).
 */
export function acceptWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: string): ServerWebSocket {
  const key = String(req.headers['sec-websocket-key'] ?? '');
  if (req.method !== 'GET') throw new HttpError(400, 'a WebSocket upgrade must be a GET');
  if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') throw new HttpError(400, 'missing or invalid Upgrade header');
  if (!/^[+/0-9A-Za-z]{22}==$/.test(key)) throw new HttpError(400, 'missing or invalid Sec-WebSocket-Key header');
  if (String(req.headers['sec-websocket-version'] ?? '') !== '13') throw new HttpError(400, 'missing or invalid Sec-WebSocket-Version header');
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n`
    + (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') + '\r\n');
  return new ServerWebSocket(socket, protocol, head);
}

/** Subprotocols the client offered (Sec-WebSocket-Protocol), in its order. */
export function offeredProtocols(req: IncomingMessage): string[] {
  return String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
}

export class ServerWebSocket extends EventEmitter implements StreamingSocket {
  readonly OPEN = OPEN;
  readyState = CONNECTING;
  private paused = false;
  private stopped = false;
  // Frame parsing state.
  private readonly hdr = Buffer.alloc(14);
  private hdrLen = 0;
  private payloadLeft = 0;
  private payloadDone = 0;
  private readonly mask = Buffer.alloc(4);
  private readonly rotated = Buffer.alloc(4);
  private opcode = 0;
  private fin = false;
  /** The data message being assembled (across frames and reads). */
  private msg: Buffer | undefined;
  private msgLen = 0;
  private msgBinary = true;
  /** A control frame's payload (at most 125 bytes). */
  private ctl: Buffer | undefined;
  private closeSent = false;

  constructor(private readonly socket: Duplex, readonly protocol: string, head: Buffer) {
    super();
    this.readyState = OPEN;
    (socket as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
    (socket as { setTimeout?: (ms: number) => void }).setTimeout?.(0);
    socket.on('error', (e: Error) => { this.report(e); socket.destroy(); });
    socket.on('close', () => this.onClosed());
    socket.on('end', () => socket.end());
    // Reading starts once the caller has its listeners on (messages may be in `head` already).
    process.nextTick(() => this.startReading(head));
  }

  private startReading(head: Buffer): void {
    const socket = this.socket;
    if (head.length) this.parse(head, head.length);
    const pooled = readIntoBuffers(socket, {
      buffer: () => readPool.take(),
      callback: (n, buf) => {
        this.parse(buf, n);
        readPool.give(buf);
        return !this.paused;
      },
    });
    if (!pooled) socket.on('data', (d: Buffer) => { this.parse(d, d.length); if (this.paused) socket.pause(); });
    socket.resume();
  }

  get bufferedAmount(): number { return this.socket.writableLength; }

  send(data: Buffer | string, cb?: (err?: Error) => void): void {
    if (this.readyState !== OPEN) { if (cb) process.nextTick(cb, new Error('WebSocket is not open')); return; }
    const text = typeof data === 'string';
    const body = text ? Buffer.from(data) : data;
    this.writeFrame(text ? 0x1 : 0x2, body, cb);
  }

  pause(): void { this.paused = true; }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.readyState === OPEN || this.readyState === CLOSING) this.socket.resume();
  }

  /** Sends a close frame and ends our side; the socket closes once the client has closed its side too. */
  close(code = 1000): void {
    if (this.readyState !== OPEN) return;
    this.readyState = CLOSING;
    this.sendClose(code);
    this.socket.end();
  }

  terminate(): void {
    this.socket.destroy();
  }

  private sendClose(code: number): void {
    if (this.closeSent) return;
    this.closeSent = true;
    const b = Buffer.alloc(2);
    b.writeUInt16BE(code);
    this.writeFrame(0x8, b);
  }

  private writeFrame(opcode: number, body: Buffer, cb?: (err?: Error) => void): void {
    const n = body.length;
    const h = Buffer.allocUnsafe(n < 126 ? 2 : n < 65536 ? 4 : 10);
    h[0] = 0x80 | opcode;
    if (n < 126) h[1] = n;
    else if (n < 65536) { h[1] = 126; h.writeUInt16BE(n, 2); }
    else { h[1] = 127; h.writeUInt32BE(Math.floor(n / 2 ** 32), 2); h.writeUInt32BE(n >>> 0, 6); }
    // Header and payload in one write (writev): one TLS record sequence, one syscall.
    this.socket.cork();
    this.socket.write(h);
    this.socket.write(body, cb as ((err?: Error | null) => void) | undefined);
    this.socket.uncork();
  }

  /** 'error' for whoever listens (an EventEmitter without a listener would throw). */
  private report(e: Error): void {
    if (this.listenerCount('error')) this.emit('error', e);
  }

  private onClosed(): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    if (this.msg && this.msg.length === POOLED_MESSAGE) messagePool.give(this.msg);
    this.msg = undefined;
    this.emit('close');
  }

  private fail(code: number, why: string): void {
    if (this.readyState === OPEN) {
      this.readyState = CLOSING;
      this.sendClose(code);
    }
    this.stopped = true;
    this.report(new Error(`WebSocket protocol error: ${why}`));
    this.socket.end();
    // A peer that broke the protocol gets no second chance to close cleanly.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  /** Consumes bytes [0, n) of `buf`; everything kept is copied (the caller reuses `buf`). */
  private parse(buf: Buffer, n: number): void {
    let off = 0;
    while (off < n && !this.stopped) {
      if (this.payloadLeft === 0) {
        // Frame header: 2 bytes, then the extended length and the mask key.
        const need = this.headerLength();
        const take = Math.min(need - this.hdrLen, n - off);
        buf.copy(this.hdr, this.hdrLen, off, off + take);
        this.hdrLen += take;
        off += take;
        if (this.hdrLen < need || this.headerLength() > need) continue;
        if (!this.startFrame()) return;
        if (this.payloadLeft === 0) this.endFrame();
        continue;
      }
      // Payload: unmasked while copied into the message (or control) buffer.
      const k = Math.min(this.payloadLeft, n - off);
      const out = this.opcode >= 0x8 ? this.ctl! : this.msg!;
      const at = this.opcode >= 0x8 ? this.payloadDone : this.msgLen;
      const phase = this.payloadDone & 3;
      const mask = phase === 0 ? this.mask : this.rotateMask(phase);
      unmaskInto(buf.subarray(off, off + k), mask, out, at, k);
      off += k;
      this.payloadLeft -= k;
      this.payloadDone += k;
      if (this.opcode < 0x8) this.msgLen += k;
      if (this.payloadLeft === 0) this.endFrame();
    }
  }

  /** Header bytes needed, from what has arrived of it. */
  private headerLength(): number {
    // Unmasked (refused in startFrame): no mask key to wait for.
    if (this.hdrLen < 2 || !(this.hdr[1]! & 0x80)) return 2;
    const len7 = this.hdr[1]! & 0x7f;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + 4;
  }

  private rotateMask(phase: number): Buffer {
    for (let i = 0; i < 4; i++) this.rotated[i] = this.mask[(i + phase) & 3]!;
    return this.rotated;
  }

  /** A complete header: checks it and prepares the payload's destination; false after a protocol error. */
  private startFrame(): boolean {
    const b0 = this.hdr[0]!, b1 = this.hdr[1]!;
    if (b0 & 0x70) { this.fail(1002, 'reserved bits set (no extension was negotiated)'); return false; }
    if (!(b1 & 0x80)) { this.fail(1002, 'client frames must be masked'); return false; }
    const opcode = b0 & 0x0f;
    const len7 = b1 & 0x7f;
    let len = len7;
    let m = 2;
    if (len7 === 126) { len = this.hdr.readUInt16BE(2); m = 4; }
    else if (len7 === 127) { len = this.hdr.readUInt32BE(2) * 2 ** 32 + this.hdr.readUInt32BE(6); m = 10; }
    this.hdr.copy(this.mask, 0, m, m + 4);
    this.fin = (b0 & 0x80) !== 0;
    this.payloadLeft = len;
    this.payloadDone = 0;
    this.hdrLen = 0;
    if (opcode >= 0x8) {
      if (len > 125 || !this.fin) { this.fail(1002, 'invalid control frame'); return false; }
      if (opcode !== 0x8 && opcode !== 0x9 && opcode !== 0xa) { this.fail(1002, `unknown opcode ${opcode}`); return false; }
      this.opcode = opcode;
      this.ctl = Buffer.alloc(len);
      return true;
    }
    if (opcode === 0x0) {
      if (!this.msg) { this.fail(1002, 'continuation frame without a message'); return false; }
    } else if (opcode === 0x1 || opcode === 0x2) {
      if (this.msg) { this.fail(1002, 'new message before the last one ended'); return false; }
      this.msgBinary = opcode === 0x2;
      this.msgLen = 0;
      this.msg = len <= POOLED_MESSAGE ? messagePool.take() : Buffer.allocUnsafeSlow(len);
    } else { this.fail(1002, `unknown opcode ${opcode}`); return false; }
    this.opcode = opcode;
    if (this.msgLen + len > MAX_MESSAGE) { this.fail(1009, 'message too big'); return false; }
    if (this.msgLen + len > this.msg!.length) {
      // A fragmented message outgrew its buffer.
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.msgLen + len, this.msg!.length * 2));
      this.msg!.copy(bigger, 0, 0, this.msgLen);
      if (this.msg!.length === POOLED_MESSAGE) messagePool.give(this.msg!);
      this.msg = bigger;
    }
    return true;
  }

  private endFrame(): void {
    if (this.opcode >= 0x8) {
      const payload = this.ctl!;
      this.ctl = undefined;
      if (this.opcode === 0x9) { if (this.readyState === OPEN) this.writeFrame(0xa, payload); }
      else if (this.opcode === 0x8) this.onCloseFrame(payload);
      return;
    }
    if (!this.fin) return;
    const m = this.msg!;
    this.msg = undefined;
    const data = m.length === POOLED_MESSAGE ? messagePool.lend(m.subarray(0, this.msgLen)) : m.subarray(0, this.msgLen);
    if (this.readyState === OPEN) this.emit('message', data, this.msgBinary);
  }

  private onCloseFrame(payload: Buffer): void {
    const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    this.stopped = true;
    if (this.readyState === OPEN) {
      this.readyState = CLOSING;
      // Echo the code, as RFC 6455 5.5.1 asks (1005: none given, so none sent back).
      this.sendClose(code === 1005 ? 1000 : code);
    }
    this.socket.end();
  }
}
