// The ingress' HTTP/1.1 front end for the common request: no body, on a plain or TLS
// keep-alive connection. It parses request heads itself and answers with a single
// write, without node:http's per-request IncomingMessage/ServerResponse streams (a
// bare node:http server costs ~6 µs of CPU per request more than a socket that does
// this; a proxied request took ~32 µs). Whatever it does not handle — a body, Upgrade,
// Expect, a target not in origin form, HTTP other than 1.0/1.1, a malformed or
// oversized head — moves the connection, from that request on, to the node:http
// server whose connection listener this front took over, which then serves it as it
// always did (streamed bodies, upgrades, 400 and 431 answers).
import http from 'node:http';
import type https from 'node:https';
import type net from 'node:net';
import { HEADER_LINE, droppedFromRequest, forwardedLines } from './headers.js';

/** What serving one request needs of the client side (this front, or node:http's ServerResponse). */
export interface Responder {
  /** Told when the client can take more (after body() said false) or went away. */
  client: ResponderClient | undefined;
  readonly headSent: boolean;
  /** `length`: Content-Length, -1 unknown (then chunked, or close-delimited for HTTP/1.0). */
  head(status: number, reason: string, headers: string[], length: number, hasDate: boolean): void;
  /** False: the client is slow; client.resume() follows on drain. */
  body(chunk: Buffer): boolean;
  end(): void;
  /** A plain-text answer from the ingress itself (404, 502, 503). */
  reply(status: number, text: string): void;
  /** Gives up on the response (its head was sent; the connection must go). */
  abort(): void;
}

export interface ResponderClient { resume(): void; abort(): void }

/** Serves one request; `upstreamHead` is its head as it goes to the backend (request line to blank line). */
export type FrontHandler = (res: FrontConn, method: string, url: string, host: string, upstreamHead: string) => void;

/** node:http's limit on a request head (--max-http-header-size default). */
const MAX_HEAD = 16 * 1024;
/** Pipelined bytes buffered while a response is under way before reading pauses. */
const MAX_PIPELINED = 64 * 1024;
const REQUEST_LINE = /^([A-Z]+) (\/[!-~]*) HTTP\/1\.([01])$/;
const CLOSE = 'Connection: close\r\n\r\n';
/**
 * Requests served on one connection before it is closed (with Connection: close on the
 * last response, so no client request is lost), as nginx's keepalive_requests default.
 * Besides bounding a connection's life, this spreads long-lived keep-alive connections
 * over the worker processes: a reconnecting client lands on whichever worker accepts
 * first, most often the less busy one (workers share the listening socket; Node 20
 * has no SO_REUSEPORT, and the kernel hands a burst of new connections to the worker
 * that wakes first).
 */
export const MAX_REQUESTS_PER_CONNECTION = 1000;

let dateTick = -1;
let dateText = '';
/** The IMF-fixdate of this second (what node:http sends too). */
function httpDate(): string {
  const now = Date.now();
  const tick = Math.floor(now / 1000);
  if (tick !== dateTick) { dateTick = tick; dateText = new Date(now).toUTCString(); }
  return dateText;
}

/** Takes over `server`'s connection listener; gives connections back to it when needed. */
export class FrontServer {
  private readonly conns = new Set<FrontConn>();
  private readonly nodeListener: (sock: net.Socket) => void;
  private readonly sweeper: NodeJS.Timeout;
  /** Seconds since start (the idle clock; a counter costs nothing per request). */
  tick = 0;
  draining = false;
  readonly keepAliveLines: string;

  constructor(readonly server: http.Server | https.Server, readonly secure: boolean, readonly handler: FrontHandler) {
    const event = secure ? 'secureConnection' : 'connection';
    const own = server.listeners(event);
    if (own.length !== 1) throw new Error(`ingress front: expected node:http's own ${event} listener, found ${own.length}`);
    this.nodeListener = own[0] as (sock: net.Socket) => void;
    server.removeListener(event, this.nodeListener);
    server.on(event, (sock: net.Socket) => {
      if (this.draining) { sock.destroy(); return; }
      this.conns.add(new FrontConn(this, sock));
    });
    this.keepAliveLines = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(server.keepAliveTimeout / 1000)}\r\n\r\n`;
    this.sweeper = setInterval(() => this.sweep(), 1000).unref();
  }

  /** node:http serves this connection from now on, starting with `rest` (unparsed bytes). */
  handOff(c: FrontConn, rest: Buffer | undefined, ended: boolean): void {
    this.conns.delete(c);
    this.nodeListener.call(this.server, c.sock);
    // node:http reads the socket itself from here; what we had read is fed to it first.
    if (rest?.length) c.sock.emit('data', rest);
    if (ended) c.sock.emit('end');
  }

  forget(c: FrontConn): void { this.conns.delete(c); }

  /** Idle keep-alive connections past keepAliveTimeout close; heads unfinished after headersTimeout get a 408. */
  private sweep(): void {
    this.tick++;
    const idle = Math.ceil(this.server.keepAliveTimeout / 1000);
    const head = Math.ceil(this.server.headersTimeout / 1000);
    for (const c of this.conns) c.expire(this.tick, idle, head);
  }

  /** Stops keep-alive: idle connections close now, busy ones after their response. */
  closeIdle(): void {
    this.draining = true;
    for (const c of this.conns) c.closeIfIdle();
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.closeIdle();
  }
}

export class FrontConn implements Responder {
  client: ResponderClient | undefined;
  headSent = false;
  /** Unparsed bytes (a partial head, or pipelined requests). */
  private buf: Buffer | undefined;
  private busy = false;
  private parsing = false;
  private paused = false;
  /** The client sent FIN: finish what is under way, then close. */
  private ended = false;
  private since: number;
  private keepAlive = true;
  private served = 0;
  private v11 = true;
  private isHead = false;
  private chunked = false;
  private pendingHead: string | undefined;
  private readonly fwdBefore: string;
  private readonly fwdAfter: string;
  private readonly onData = (d: Buffer): void => this.data(d);
  private readonly onEnd = (): void => { this.ended = true; if (!this.busy) this.sock.end(); };
  private readonly onError = (): void => { this.sock.destroy(); };
  private readonly onClose = (): void => {
    this.front.forget(this);
    const c = this.client;
    this.client = undefined;
    c?.abort();
  };
  private readonly onDrain = (): void => { this.client?.resume(); };

  constructor(private readonly front: FrontServer, readonly sock: net.Socket) {
    this.since = front.tick;
    const f = forwardedLines(sock.remoteAddress?.replace(/^::ffff:/, '') ?? '', front.secure, sock.localPort ?? (front.secure ? 443 : 80));
    this.fwdBefore = f.before;
    this.fwdAfter = f.after;
    sock.on('data', this.onData);
    sock.on('end', this.onEnd);
    sock.on('error', this.onError);
    sock.on('close', this.onClose);
    sock.on('drain', this.onDrain);
  }

  expire(tick: number, idleTicks: number, headTicks: number): void {
    if (this.busy) return;
    if (!this.buf) { if (tick - this.since > idleTicks) this.sock.destroy(); return; }
    if (tick - this.since > headTicks) this.sock.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
  }

  closeIfIdle(): void { if (!this.busy) this.sock.destroy(); }

  private data(d: Buffer): void {
    if (!this.buf && !this.busy) this.since = this.front.tick; // a head starts: the headers clock runs
    this.buf = this.buf ? Buffer.concat([this.buf, d]) : d;
    if (this.busy) {
      if (this.buf.length > MAX_PIPELINED && !this.paused) { this.paused = true; this.sock.pause(); }
      return;
    }
    this.parse();
  }

  private parse(): void {
    this.parsing = true;
    while (!this.busy && this.buf) {
      const b = this.buf;
      const end = b.indexOf('\r\n\r\n', 0, 'latin1');
      if (end < 0 || end > MAX_HEAD) {
        if (end > MAX_HEAD || b.length > MAX_HEAD) return this.handOff();
        break;
      }
      if (!this.request(b.toString('latin1', 0, end), end + 4 < b.length ? b.subarray(end + 4) : undefined)) return this.handOff();
    }
    this.parsing = false;
    if (!this.busy && this.ended && !this.sock.destroyed) this.sock.end();
  }

  private handOff(): void {
    this.parsing = false;
    const s = this.sock;
    s.off('data', this.onData);
    s.off('end', this.onEnd);
    s.off('error', this.onError);
    s.off('close', this.onClose);
    s.off('drain', this.onDrain);
    if (this.paused) s.resume();
    const rest = this.buf;
    this.buf = undefined;
    this.front.handOff(this, rest, this.ended);
  }

  /** Serves the request whose head is `text` (unless it is one for node:http: false); `rest` follows it. */
  private request(text: string, rest: Buffer | undefined): boolean {
    const lines = text.split('\r\n');
    const m = REQUEST_LINE.exec(lines[0]!);
    if (!m) return false;
    const method = m[1]!;
    const url = m[2]!;
    const v11 = m[3] === '1';
    let host: string | undefined;
    let close = false;
    let keepAlive = false;
    let fwd = '';
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i]!;
      // "Content-Length : 5" or a bare LF must not slip past us: node:http judges those.
      if (!HEADER_LINE.test(l)) return false;
      const c = l.indexOf(':');
      const k = l.slice(0, c).toLowerCase();
      switch (k) {
        case 'host':
          if (host !== undefined) return false;
          host = l.slice(c + 1).trim();
          break;
        case 'content-length':
          if (l.slice(c + 1).trim() !== '0') return false;
          break;
        case 'transfer-encoding': case 'upgrade': case 'expect':
          return false;
        case 'connection': {
          const v = l.slice(c + 1).toLowerCase();
          if (v.includes('upgrade')) return false;
          if (/(?:^|[\s,])close(?:$|[\s,])/.test(v)) close = true;
          if (/(?:^|[\s,])keep-alive(?:$|[\s,])/.test(v)) keepAlive = true;
          continue;
        }
      }
      if (droppedFromRequest(k)) continue;
      fwd += `${l}\r\n`;
    }
    if (host === undefined) {
      if (v11) return false; // node:http answers 400
      host = '';
    }
    this.buf = rest;
    this.busy = true;
    this.v11 = v11;
    this.keepAlive = (v11 ? !close : keepAlive && !close) && ++this.served < MAX_REQUESTS_PER_CONNECTION;
    this.isHead = method === 'HEAD';
    this.headSent = false;
    this.chunked = false;
    this.pendingHead = undefined;
    this.front.handler(this, method, url, host, `${method} ${url} HTTP/1.1\r\n${fwd}${this.fwdBefore}${host}${this.fwdAfter}\r\n`);
    return true;
  }

  head(status: number, reason: string, headers: string[], length: number, hasDate: boolean): void {
    this.headSent = true;
    let h = `HTTP/1.1 ${status} ${reason}\r\n`;
    for (let i = 0; i < headers.length; i += 2) h += `${headers[i]}: ${headers[i + 1]}\r\n`;
    if (!hasDate) h += `Date: ${httpDate()}\r\n`;
    if (length < 0 && !(this.isHead || status === 204 || status === 304)) {
      if (this.v11) { this.chunked = true; h += 'Transfer-Encoding: chunked\r\n'; } else this.keepAlive = false;
    }
    if (this.front.draining) this.keepAlive = false;
    // Written with the first piece of the body, in one write.
    this.pendingHead = h + (this.keepAlive ? this.front.keepAliveLines : CLOSE);
  }

  body(chunk: Buffer): boolean {
    const s = this.sock;
    if (s.destroyed) return true;
    const pre = this.chunked ? `${this.pendingHead ?? ''}${chunk.length.toString(16)}\r\n` : this.pendingHead ?? '';
    this.pendingHead = undefined;
    const post = this.chunked ? 2 : 0;
    // One write: the head (until the first piece), chunk framing, and a copy of the piece
    // (it lives in the upstream pool's read buffer, which the next read overwrites).
    const out = Buffer.allocUnsafe(pre.length + chunk.length + post);
    out.write(pre, 0, 'latin1');
    chunk.copy(out, pre.length);
    if (post) out.write('\r\n', pre.length + chunk.length, 'latin1');
    return s.write(out);
  }

  end(): void {
    const h = this.pendingHead;
    this.pendingHead = undefined;
    if (!this.sock.destroyed) {
      if (h !== undefined) this.sock.write(this.chunked ? `${h}0\r\n\r\n` : h, 'latin1');
      else if (this.chunked) this.sock.write('0\r\n\r\n', 'latin1');
    }
    this.done();
  }

  reply(status: number, text: string): void {
    if (this.headSent) { this.abort(); return; }
    this.headSent = true;
    if (this.front.draining) this.keepAlive = false;
    const body = Buffer.from(text);
    const h = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nDate: ${httpDate()}\r\n${this.keepAlive ? this.front.keepAliveLines : CLOSE}`;
    if (!this.sock.destroyed) this.sock.write(this.isHead ? h : h + text);
    this.done();
  }

  abort(): void {
    this.client = undefined;
    this.sock.destroy();
  }

  /** The response is complete: close, or go on with the next request. */
  private done(): void {
    this.client = undefined;
    this.busy = false;
    if (!this.keepAlive || this.front.draining) { this.sock.end(); return; }
    this.since = this.front.tick;
    if (this.paused) { this.paused = false; this.sock.resume(); }
    if (!this.parsing) this.parse(); // else the parse loop under way goes on with the next request
  }
}
