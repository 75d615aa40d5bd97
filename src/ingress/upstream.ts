// The ingress' upstream client for requests without a body (most of the traffic):
// keep-alive connections per endpoint on plain net sockets and a small HTTP/1.1
// response parser. http.request + Agent cost about 35 µs of CPU per request (two
// thirds of the proxy's time, measured against nginx on the same backends); this
// costs a write, a read and a few slices. Requests with bodies keep using
// http.request (see proxy.ts). The response head is parsed strictly: anything
// malformed is a 502 and the connection is dropped, never reused.
import net from 'node:net';
import { HEADER_LINE, HOP_BY_HOP } from './headers.js';

export interface Exchange {
  /**
   * Response head: the end-to-end headers as a flat [name, value, ...] array as received
   * (hop-by-hop ones, Transfer-Encoding among them, removed); `length`: the body's
   * Content-Length, -1 when it is chunked or runs until the connection closes;
   * `hasDate`: a Date header is among them.
   */
  onHead(status: number, reason: string, headers: string[], length: number, hasDate: boolean): void;
  /**
   * A piece of the (de-chunked) body; false: the consumer is full, wait for resume().
   * The bytes are in the pool's read buffer, valid only during the call: copy to keep.
   */
  onBody(chunk: Buffer): boolean;
  onEnd(): void;
  /**
   * The exchange failed. `retryable`: nothing of the response arrived and either the
   * connection never opened or it was a reused idle connection the backend had closed.
   */
  onError(err: NodeJS.ErrnoException, retryable: boolean): void;
}

const MAX_HEAD = 64 * 1024;
const IDLE_MS = 60_000;
const MAX_IDLE_PER_TARGET = 256;
const CONNECT_RETRYABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'CONNECT_TIMEOUT']);

// Header names worth lower-casing, by length: hop-by-hop ones, Content-Length, Date.
const NOTABLE_LENGTH = new Set([...HOP_BY_HOP, 'content-length', 'date'].map((n) => n.length));

const enum S { Idle, Head, Length, ChunkSize, ChunkData, ChunkCrlf, Trailers, UntilClose }

function err(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

class Conn implements UpstreamRequest {
  readonly sock: net.Socket;
  x: Exchange | undefined;
  state = S.Idle;
  head: Buffer | undefined;
  remaining = 0;
  keepAlive = true;
  noBody = false;
  /** Bytes of this exchange's response seen so far (0: the backend said nothing yet). */
  seen = 0;
  reused = false;
  connected = false;
  lastUsed = 0;
  timer: NodeJS.Timeout | undefined;
  /** Unparsed tail of a chunk-size or trailer line. */
  line = '';

  constructor(readonly pool: UpstreamPool, readonly key: string, host: string, port: number, connectTimeoutMs: number) {
    // Reads land in the pool's one buffer (no allocation per read, no stream bookkeeping)
    // and are parsed at once; pause()/resume() still start and stop reading.
    this.sock = net.connect({ host, port, noDelay: true, onread: { buffer: pool.readBuffer, callback: (n: number, b: Uint8Array) => { this.data((b as Buffer).subarray(0, n)); return true; } } });
    this.timer = setTimeout(() => this.sock.destroy(err('CONNECT_TIMEOUT', 'connect timeout')), connectTimeoutMs);
    this.sock.once('connect', () => { this.connected = true; clearTimeout(this.timer); });
    this.sock.on('error', (e) => this.fail(e as NodeJS.ErrnoException));
    this.sock.on('end', () => {
      if (this.state === S.UntilClose) this.finish(false);
      else this.fail(err('ECONNRESET', 'upstream closed the connection'));
    });
    this.sock.on('close', () => { clearTimeout(this.timer); this.fail(err('ECONNRESET', 'upstream connection closed')); this.pool.drop(this); });
  }

  start(x: Exchange, head: string, noBody: boolean): void {
    this.x = x;
    this.state = S.Head;
    this.seen = 0;
    this.noBody = noBody;
    this.keepAlive = true;
    this.sock.write(head, 'latin1');
  }

  private fail(e: NodeJS.ErrnoException): void {
    const x = this.x;
    if (!x) return;
    this.x = undefined;
    this.state = S.Idle;
    const retryable = this.seen === 0 && (this.reused ? true : !this.connected && CONNECT_RETRYABLE.has(e.code ?? ''));
    this.sock.destroy();
    x.onError(e, retryable);
  }

  private finish(reuse: boolean): void {
    const x = this.x!;
    this.x = undefined;
    this.state = S.Idle;
    this.head = undefined;
    if (reuse && this.keepAlive) this.pool.release(this);
    else this.sock.destroy();
    x.onEnd();
  }

  private data(d: Buffer): void {
    if (!this.x) { this.sock.destroy(); return; } // unsolicited bytes: not trustworthy for reuse
    this.seen += d.length;
    let off = 0;
    while (off < d.length && this.x) {
      switch (this.state) {
        case S.Head: {
          const buf = this.head ? Buffer.concat([this.head, d.subarray(off)]) : d.subarray(off);
          const end = buf.indexOf('\r\n\r\n', 0, 'latin1');
          if (end < 0) {
            if (buf.length > MAX_HEAD) return this.fail(err('EPROTO', 'upstream response head too large'));
            this.head = Buffer.from(buf); // copy: d is the shared read buffer
            return;
          }
          const consumedBefore = this.head ? this.head.length : 0;
          this.head = undefined;
          off += end + 4 - consumedBefore;
          if (!this.parseHead(buf.toString('latin1', 0, end))) return;
          break;
        }
        case S.Length: {
          const n = Math.min(this.remaining, d.length - off);
          const piece = d.subarray(off, off + n);
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            if (off < d.length) this.keepAlive = false; // more bytes than announced
            this.emit(piece);
            if (this.x) this.finish(true);
            return;
          }
          this.emit(piece);
          break;
        }
        case S.UntilClose:
          this.emit(off === 0 ? d : d.subarray(off));
          return;
        case S.ChunkSize:
        case S.Trailers: {
          const nl = d.indexOf(10, off);
          if (nl < 0) {
            this.line += d.toString('latin1', off);
            if (this.line.length > 4096) return this.fail(err('EPROTO', 'bad chunked encoding from upstream'));
            return;
          }
          const line = (this.line + d.toString('latin1', off, nl)).replace(/\r$/, '');
          this.line = '';
          off = nl + 1;
          if (this.state === S.Trailers) {
            if (line === '') { this.finish(off === d.length); return; }
            break; // trailers are dropped, like most proxies do
          }
          const semi = line.indexOf(';');
          const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
          if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) return this.fail(err('EPROTO', 'bad chunked encoding from upstream'));
          this.remaining = parseInt(hex, 16);
          this.state = this.remaining === 0 ? S.Trailers : S.ChunkData;
          break;
        }
        case S.ChunkData: {
          const n = Math.min(this.remaining, d.length - off);
          const piece = d.subarray(off, off + n);
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) { this.state = S.ChunkCrlf; this.remaining = 2; }
          this.emit(piece);
          break;
        }
        case S.ChunkCrlf: {
          // The CRLF after chunk data (may be split across reads).
          const c = d[off++]!;
          if (c !== (this.remaining === 2 ? 13 : 10)) return this.fail(err('EPROTO', 'bad chunked encoding from upstream'));
          if (--this.remaining === 0) this.state = S.ChunkSize;
          break;
        }
        default:
          this.sock.destroy();
          return;
      }
    }
  }

  private emit(piece: Buffer): void {
    if (!piece.length) return;
    if (!this.x!.onBody(piece)) this.sock.pause();
  }

  resume(x: Exchange): void { if (this.x === x) this.sock.resume(); }

  /** Parses the status line and headers; sets up body framing. False: failed (handled). */
  private parseHead(text: string): boolean {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/.exec(lines[0]!);
    if (!m) { this.fail(err('EPROTO', 'malformed upstream status line')); return false; }
    const status = Number(m[2]);
    const headers: string[] = [];
    let length = -1;
    let chunked = false;
    let te = false;
    let conn = '';
    let hasDate = false;
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i]!;
      // No obs-fold, no whitespace before the colon, no control characters (node:http's writeHead would throw on some).
      if (!HEADER_LINE.test(l)) { this.fail(err('EPROTO', 'malformed upstream header')); return false; }
      const c = l.indexOf(':');
      const name = l.slice(0, c);
      const value = l.slice(c + 1).trim();
      const k = NOTABLE_LENGTH.has(name.length) ? name.toLowerCase() : '';
      if (k === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (length >= 0 && length !== Number(value))) { this.fail(err('EPROTO', 'bad upstream Content-Length')); return false; }
        length = Number(value);
      } else if (k === 'transfer-encoding') {
        te = true;
        chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
      } else if (k === 'connection') conn = value.toLowerCase();
      else if (k === 'date') hasDate = true;
      if (k && HOP_BY_HOP.has(k)) continue;
      headers.push(name, value);
    }
    if (m[1] === '0' ? !/\bkeep-alive\b/.test(conn) : /\bclose\b/.test(conn)) this.keepAlive = false;
    if (status >= 100 && status < 200) {
      // 100 Continue / 103 Early Hints: skip, the real head follows. 101 was not asked for.
      if (status === 101) { this.fail(err('EPROTO', 'unexpected 101 from upstream')); return false; }
      return true;
    }
    // Transfer-Encoding overrides Content-Length (RFC 9112 6.3): do not pass on a length the body will not have.
    if (te && length >= 0) for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i]!.toLowerCase() === 'content-length') headers.splice(i, 2);
    this.x!.onHead(status, m[3] ?? '', headers, te ? -1 : length, hasDate);
    if (!this.x) return false;
    if (this.noBody || status === 204 || status === 304) { this.finish(true); return false; }
    if (te) {
      if (chunked) { this.state = S.ChunkSize; return true; }
      this.keepAlive = false;
      this.state = S.UntilClose;
      return true;
    }
    if (length === 0) { this.finish(true); return false; }
    if (length > 0) { this.state = S.Length; this.remaining = length; return true; }
    this.keepAlive = false;
    this.state = S.UntilClose;
    return true;
  }

  /** Abandons the exchange (the client went away): the connection cannot be reused. */
  abort(x: Exchange): void {
    if (this.x !== x) return;
    this.x = undefined;
    this.sock.destroy();
  }
}

/** An exchange under way; both calls are no-ops once it is over. */
export interface UpstreamRequest { abort(x: Exchange): void; resume(x: Exchange): void }

/** Keep-alive connections per "host:port", most recently used first. */
export class UpstreamPool {
  /** Where every connection of this pool reads into (one read is handled before the next). */
  readonly readBuffer = Buffer.allocUnsafeSlow(64 * 1024);
  private readonly idle = new Map<string, Conn[]>();
  private readonly all = new Set<Conn>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly connectTimeoutMs = 3000) {
    this.sweeper = setInterval(() => this.sweep(), 10_000).unref();
  }

  /** Sends `head` (request line, headers, blank line) to host:port and reports the response to x. */
  request(host: string, port: number, head: string, noBody: boolean, x: Exchange): UpstreamRequest {
    const key = `${host}:${port}`;
    const list = this.idle.get(key);
    let c: Conn | undefined;
    while (list?.length) {
      const cand = list.pop()!;
      if (!cand.sock.destroyed && cand.sock.readyState === 'open') { c = cand; break; }
    }
    if (c) c.reused = true;
    else {
      c = new Conn(this, key, host, port, this.connectTimeoutMs);
      this.all.add(c);
    }
    c.start(x, head, noBody);
    return c;
  }

  release(c: Conn): void {
    c.lastUsed = Date.now();
    c.sock.resume(); // the last consumer may have paused it
    let list = this.idle.get(c.key);
    if (!list) this.idle.set(c.key, (list = []));
    if (list.length >= MAX_IDLE_PER_TARGET) { c.sock.destroy(); return; }
    list.push(c);
  }

  drop(c: Conn): void {
    this.all.delete(c);
    const list = this.idle.get(c.key);
    if (!list) return;
    const i = list.indexOf(c);
    if (i >= 0) list.splice(i, 1);
    if (!list.length) this.idle.delete(c.key);
  }

  private sweep(): void {
    const old = Date.now() - IDLE_MS;
    for (const list of this.idle.values()) for (const c of list) if (c.lastUsed < old) c.sock.destroy();
  }

  destroy(): void {
    clearInterval(this.sweeper);
    for (const c of this.all) c.sock.destroy();
    this.all.clear();
    this.idle.clear();
  }
}
