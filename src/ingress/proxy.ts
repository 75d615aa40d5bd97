// The ingress data path: an HTTP/HTTPS reverse proxy over a RouteTable that can be
// swapped at any time (requests in flight keep the backend they picked). Streams
// bodies both ways without buffering, pools upstream connections (keep-alive),
// retries requests without a body on connect failure at the next endpoint, passes
// WebSocket/Upgrade through, and says clearly why it could not proxy (404/502/503).
// Requests without a body (most of the traffic) take the fast way: front.ts on the
// client side, upstream.ts on the backend side; the rest goes through node:http.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { route, tlsSecretFor, type Backend, type RouteTable } from './routes.js';
import type { Logger } from '../util/log.js';
import { UpstreamPool, type Exchange, type UpstreamRequest } from './upstream.js';
import { FrontServer, MAX_REQUESTS_PER_CONNECTION, type FrontConn, type Responder, type ResponderClient } from './front.js';
import { HOP_BY_HOP, droppedFromRequest } from './headers.js';

export interface IngressProxyOptions {
  log: Logger;
  /** SecureContext for a TLS secret key ("ns/name"), or undefined. */
  secureContext(secretKey: string): tls.SecureContext | undefined;
  /** Certificate for names without a matching TLS secret. */
  defaultCert: { certPem: string; keyPem: string };
  /** How long to wait for an upstream connection before trying the next (ms). */
  connectTimeoutMs?: number;
}

const RETRYABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'CONNECT_TIMEOUT']);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export class IngressProxy {
  private table: RouteTable = { hosts: new Map(), wildcards: new Map(), tls: new Map(), tlsWildcards: new Map() };
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1024, maxFreeSockets: 256, scheduling: 'lifo', noDelay: true });
  readonly pool: UpstreamPool;
  /** Requests (and upgrades) received, for worker statistics. */
  requests = 0;
  readonly servers: net.Server[] = [];
  private readonly fronts: FrontServer[] = [];
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly o: IngressProxyOptions) {
    this.pool = new UpstreamPool(o.connectTimeoutMs ?? 3000);
  }

  setTable(t: RouteTable): void { this.table = t; }

  async listen(host: string, httpPort: number, httpsPort?: number): Promise<{ http: number; https?: number }> {
    const h = http.createServer({ keepAlive: true } as http.ServerOptions, (req, res) => this.handle(req, res, false));
    h.on('upgrade', (req, sock, head) => this.upgrade(req, sock as net.Socket, head, false));
    h.keepAliveTimeout = 65_000;
    h.maxRequestsPerSocket = MAX_REQUESTS_PER_CONNECTION;
    this.fronts.push(new FrontServer(h, false, this.serveFront));
    this.track(h);
    const out: { http: number; https?: number } = { http: await listenOn(h, host, httpPort) };
    this.servers.push(h);
    if (httpsPort !== undefined) {
      const s = https.createServer({
        cert: this.o.defaultCert.certPem, key: this.o.defaultCert.keyPem,
        SNICallback: (name, cb) => {
          const key = tlsSecretFor(this.table, name);
          cb(null, (key && this.o.secureContext(key)) || undefined);
        },
      }, (req, res) => this.handle(req, res, true));
      s.on('upgrade', (req, sock, head) => this.upgrade(req, sock as net.Socket, head, true));
      s.keepAliveTimeout = 65_000;
      s.maxRequestsPerSocket = MAX_REQUESTS_PER_CONNECTION;
      this.fronts.push(new FrontServer(s, true, this.serveFront));
      this.track(s);
      out.https = await listenOn(s, host, httpsPort);
      this.servers.push(s);
    }
    return out;
  }

  /** Stops accepting, lets requests in flight finish for up to graceMs, then closes everything. */
  async close(graceMs = 5000): Promise<void> {
    await Promise.all(this.servers.map(async (s) => {
      const hs = s as http.Server;
      const closed = new Promise<void>((r) => s.close(() => r()));
      hs.closeIdleConnections();
      for (const f of this.fronts) f.closeIdle();
      // Upgraded and stuck connections are not in the server's own lists: destroy ours.
      const timer = setTimeout(() => { hs.closeAllConnections(); for (const c of this.sockets) c.destroy(); }, graceMs);
      const idle = setInterval(() => { hs.closeIdleConnections(); for (const f of this.fronts) f.closeIdle(); }, 100);
      await closed;
      clearTimeout(timer);
      clearInterval(idle);
    }));
    for (const f of this.fronts) f.stop();
    this.agent.destroy();
    this.pool.destroy();
  }

  private track(s: net.Server): void {
    s.on(s instanceof https.Server ? 'secureConnection' : 'connection', (c: net.Socket) => {
      this.sockets.add(c);
      c.once('close', () => this.sockets.delete(c));
    });
  }

  /** A request without a body, from the front end. */
  private readonly serveFront = (res: FrontConn, method: string, url: string, host: string, upstreamHead: string): void => {
    this.requests++;
    const q = url.indexOf('?');
    const b = route(this.table, hostOnly(host), q < 0 ? url : url.slice(0, q));
    if (!b) return res.reply(404, NOT_FOUND);
    if (!b.targets.length) return res.reply(503, unavailable(b));
    const f = new Forward(this, res, b, upstreamHead, method === 'HEAD', IDEMPOTENT.has(method) ? 3 : 1);
    res.client = f;
    f.send();
  };

  private handle(req: http.IncomingMessage, res: http.ServerResponse, secure: boolean): void {
    this.requests++;
    // One pass over rawHeaders gives the routing inputs and the forwarded headers
    // (req.headers would build a second, lower-cased object per request).
    const f = scanHeaders(req, secure);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const b = route(this.table, hostOnly(f.host), q < 0 ? url : url.slice(0, q));
    if (!b) return reply(res, 404, NOT_FOUND);
    if (!b.targets.length) return reply(res, 503, unavailable(b));
    // A request without a body can be replayed on another endpoint if the connection fails.
    const canRetry = f.bodyless && IDEMPOTENT.has(req.method ?? 'GET');
    let attempts = canRetry ? 3 : 1;
    if (f.bodyless) return this.fast(req, res, b, url, f.headers, attempts);
    const tryOnce = (): void => {
      const t = pick(b);
      let connected = false;
      let timer: NodeJS.Timeout | undefined;
      // Flat header array: no per-header setHeader validation in http.request.
      const up = http.request({ host: t.host, port: t.port, method: req.method, path: url, headers: f.headers, agent: this.agent, setHost: false });
      up.on('socket', (s: net.Socket) => {
        // A pooled socket is already connected: no connect timer for it.
        if (!s.connecting) { connected = true; return; }
        timer = setTimeout(() => { if (!connected) up.destroy(Object.assign(new Error('connect timeout'), { code: 'CONNECT_TIMEOUT' })); }, this.o.connectTimeoutMs ?? 3000);
        s.once('connect', () => { connected = true; clearTimeout(timer); });
      });
      up.on('response', (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.statusMessage, stripHop(ur.rawHeaders));
        // By hand rather than pipe(): pipe's listener bookkeeping costs more than the copy for small bodies.
        ur.on('data', (c: Buffer) => { if (!res.write(c)) { ur.pause(); res.once('drain', () => ur.resume()); } });
        ur.on('end', () => res.end());
        ur.on('error', () => res.destroy());
      });
      up.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (res.headersSent) { res.destroy(); return; }
        // A reused keep-alive socket the backend had closed: the request never reached it.
        const stale = e.code === 'ECONNRESET' && (up as unknown as { reusedSocket?: boolean }).reusedSocket;
        if (canRetry && (stale || (!connected && RETRYABLE.has(e.code ?? ''))) && --attempts > 0) return tryOnce();
        // Drain what is left of the request body so the client connection can go on.
        req.unpipe(up);
        req.resume();
        this.o.log.debug({ backend: b.id, target: `${t.host}:${t.port}`, err: e.code ?? e.message }, 'upstream failed');
        reply(res, 502, `502 Bad Gateway: backend ${b.id} at ${t.host}:${t.port} failed: ${e.code ?? e.message}\n`);
      });
      res.on('close', () => { if (!res.writableFinished) up.destroy(); });
      if (f.bodyless) up.end(); else req.pipe(up);
    };
    tryOnce();
  }

  /** Requests without a body that came through node:http: its response, our upstream pool (upstream.ts). */
  private fast(req: http.IncomingMessage, res: http.ServerResponse, b: Backend, url: string, headers: string[], attempts: number): void {
    let head = `${req.method} ${url} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    head += '\r\n';
    const out = new NodeResponder(res);
    const f = new Forward(this, out, b, head, req.method === 'HEAD', attempts);
    out.client = f;
    f.send();
  }

  /** An upstream exchange failed for good: logged at debug, a 502 naming the backend and the reason. */
  failed(out: Responder, b: Backend, t: { host: string; port: number }, e: NodeJS.ErrnoException): void {
    this.o.log.debug({ backend: b.id, target: `${t.host}:${t.port}`, err: e.code ?? e.message }, 'upstream failed');
    out.reply(502, `502 Bad Gateway: backend ${b.id} at ${t.host}:${t.port} failed: ${e.code ?? e.message}\n`);
  }

  private upgrade(req: http.IncomingMessage, sock: net.Socket, head: Buffer, secure: boolean): void {
    this.requests++;
    sock.on('error', () => sock.destroy());
    const f = scanHeaders(req, secure);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const b = route(this.table, hostOnly(f.host), q < 0 ? url : url.slice(0, q));
    if (!b || !b.targets.length) {
      const code = b ? 503 : 404;
      sock.end(`HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    const t = pick(b);
    const up = net.connect(t.port, t.host);
    up.on('error', () => {
      if (!sock.destroyed) sock.end(`HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      up.destroy();
    });
    up.on('connect', () => {
      let s = `${req.method} ${url} HTTP/1.1\r\n`;
      for (let i = 0; i < f.headers.length; i += 2) s += `${f.headers[i]}: ${f.headers[i + 1]}\r\n`;
      // Upgrade needs its hop-by-hop headers.
      s += `Connection: ${req.headers.connection ?? 'Upgrade'}\r\n`;
      if (req.headers.upgrade) s += `Upgrade: ${req.headers.upgrade}\r\n`;
      up.write(s + '\r\n');
      if (head.length) up.write(head);
      up.pipe(sock);
      sock.pipe(up);
    });
    sock.on('close', () => up.destroy());
    up.on('close', () => sock.destroy());
    // HTTP server sockets are half-open capable: once either side finishes, give the
    // other a moment to flush, then close the tunnel (as nginx does for upgrades).
    const finish = (other: net.Socket) => () => { other.end(); setTimeout(() => other.destroy(), 1000).unref(); };
    sock.on('end', finish(up));
    up.on('end', finish(sock));
  }
}

const NOT_FOUND = 'default backend - 404\n';
const unavailable = (b: Backend): string => `503 Service Unavailable: ${b.problem ?? 'no endpoints'}\n`;

/** The next target of a backend, round-robin. */
function pick(b: Backend): { host: string; port: number } {
  const t = b.targets[b.next % b.targets.length]!;
  b.next = (b.next + 1) % 1_000_000_007;
  return t;
}

/**
 * One request without a body on its way to a backend through the upstream pool: tries
 * up to `attempts` targets while the failure is retryable, relays the response to `out`.
 */
class Forward implements Exchange, ResponderClient {
  private up: UpstreamRequest | undefined;
  private target: { host: string; port: number } | undefined;

  constructor(private readonly p: IngressProxy, private readonly out: Responder, private readonly b: Backend,
    private readonly head: string, private readonly noBody: boolean, private attempts: number) {}

  send(): void {
    const t = (this.target = pick(this.b));
    this.up = this.p.pool.request(t.host, t.port, this.head, this.noBody, this);
  }

  onHead(status: number, reason: string, headers: string[], length: number, hasDate: boolean): void { this.out.head(status, reason, headers, length, hasDate); }
  onBody(chunk: Buffer): boolean { return this.out.body(chunk); }
  onEnd(): void { this.up = undefined; this.out.end(); }
  onError(e: NodeJS.ErrnoException, retryable: boolean): void {
    this.up = undefined;
    if (this.out.headSent) return this.out.abort();
    if (retryable && --this.attempts > 0) return this.send();
    this.p.failed(this.out, this.b, this.target!, e);
  }

  resume(): void { this.up?.resume(this); }
  abort(): void {
    const up = this.up;
    this.up = undefined;
    up?.abort(this);
  }
}

/** A node:http response as a Responder (requests without a body on connections the front end handed over). */
class NodeResponder implements Responder {
  client: ResponderClient | undefined;

  constructor(private readonly res: http.ServerResponse) {
    res.on('close', () => { if (!res.writableFinished) this.client?.abort(); });
  }

  get headSent(): boolean { return this.res.headersSent; }
  // Content-Length is among the headers when the backend sent one; node:http picks the framing.
  head(status: number, reason: string, headers: string[]): void { this.res.writeHead(status, reason, headers); }
  body(chunk: Buffer): boolean {
    if (this.res.write(Buffer.from(chunk))) return true; // a copy: chunk is the pool's read buffer
    this.res.once('drain', () => this.client?.resume());
    return false;
  }
  end(): void { this.res.end(); }
  reply(status: number, text: string): void { reply(this.res, status, text); }
  abort(): void { this.res.destroy(); }
}

function listenOn(s: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, host, () => { s.off('error', reject); resolve((s.address() as net.AddressInfo).port); });
  });
}

export function hostOnly(h: string): string {
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1).toLowerCase();
  const c = h.indexOf(':');
  return (c < 0 ? h : h.slice(0, c)).toLowerCase();
}

interface Scanned { host: string; bodyless: boolean; headers: string[] }

/** The request's Host, whether it has a body, and its end-to-end headers plus X-Forwarded-*, as a flat [name, value, ...] array. */
function scanHeaders(req: http.IncomingMessage, secure: boolean): Scanned {
  const raw = req.rawHeaders;
  const headers: string[] = [];
  let host: string | undefined;
  let bodyless = true;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const k = name.toLowerCase();
    if (k === 'host') host ??= raw[i + 1]!;
    else if (k === 'content-length') { if (raw[i + 1] !== '0') bodyless = false; }
    else if (k === 'transfer-encoding') bodyless = false;
    if (droppedFromRequest(k)) continue;
    headers.push(name, raw[i + 1]!);
  }
  host ??= '';
  const sock = req.socket as net.Socket & { [FWD]?: [string, string] };
  // Per connection, not per request: the peer and local port do not change.
  let c = sock[FWD];
  if (!c) c = sock[FWD] = [sock.remoteAddress?.replace(/^::ffff:/, '') ?? '', String(sock.localPort ?? (secure ? 443 : 80))];
  // As ingress-nginx by default: we are the edge, so client-sent X-Forwarded-* are replaced.
  headers.push('X-Forwarded-For', c[0], 'X-Real-IP', c[0], 'X-Forwarded-Proto', secure ? 'https' : 'http', 'X-Forwarded-Host', host, 'X-Forwarded-Port', c[1]);
  return { host, bodyless, headers };
}
const FWD = Symbol('forwarded');

function stripHop(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

function reply(res: http.ServerResponse, code: number, body: string): void {
  if (res.headersSent) { res.destroy(); return; }
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
