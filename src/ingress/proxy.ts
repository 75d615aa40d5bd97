// The ingress data path: an HTTP/HTTPS reverse proxy over a RouteTable that can be
// swapped at any time (requests in flight keep the backend they picked). Streams
// bodies both ways without buffering, pools upstream connections (keep-alive),
// retries requests without a body on connect failure at the next endpoint, passes
// WebSocket/Upgrade through, and says clearly why it could not proxy (404/502/503).
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { route, tlsSecretFor, type Backend, type RouteTable } from './routes.js';
import type { Logger } from '../util/log.js';

export interface IngressProxyOptions {
  log: Logger;
  /** SecureContext for a TLS secret key ("ns/name"), or undefined. */
  secureContext(secretKey: string): tls.SecureContext | undefined;
  /** Certificate for names without a matching TLS secret. */
  defaultCert: { certPem: string; keyPem: string };
  /** How long to wait for an upstream connection before trying the next (ms). */
  connectTimeoutMs?: number;
}

// Hop-by-hop headers are never forwarded (RFC 9110 7.6.1).
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);
const RETRYABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'CONNECT_TIMEOUT']);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export class IngressProxy {
  private table: RouteTable = { hosts: new Map(), wildcards: new Map(), tls: new Map(), tlsWildcards: new Map() };
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1024, maxFreeSockets: 256, scheduling: 'lifo' });
  readonly servers: net.Server[] = [];
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly o: IngressProxyOptions) {}

  setTable(t: RouteTable): void { this.table = t; }

  async listen(host: string, httpPort: number, httpsPort?: number): Promise<{ http: number; https?: number }> {
    const h = http.createServer({ keepAlive: true } as http.ServerOptions, (req, res) => this.handle(req, res, false));
    h.on('upgrade', (req, sock, head) => this.upgrade(req, sock as net.Socket, head, false));
    h.keepAliveTimeout = 65_000;
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
      // Upgraded and stuck connections are not in the server's own lists: destroy ours.
      const timer = setTimeout(() => { hs.closeAllConnections(); for (const c of this.sockets) c.destroy(); }, graceMs);
      const idle = setInterval(() => hs.closeIdleConnections(), 100);
      await closed;
      clearTimeout(timer);
      clearInterval(idle);
    }));
    this.agent.destroy();
  }

  private track(s: net.Server): void {
    s.on(s instanceof https.Server ? 'secureConnection' : 'connection', (c: net.Socket) => {
      this.sockets.add(c);
      c.once('close', () => this.sockets.delete(c));
    });
  }

  private pick(b: Backend): { host: string; port: number } {
    const t = b.targets[b.next % b.targets.length]!;
    b.next = (b.next + 1) % 1_000_000_007;
    return t;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, secure: boolean): void {
    const hostHeader = req.headers.host ?? '';
    const host = hostOnly(hostHeader);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const b = route(this.table, host, path);
    if (!b) return reply(res, 404, 'default backend - 404\n');
    if (!b.targets.length) return reply(res, 503, `503 Service Unavailable: ${b.problem ?? 'no endpoints'}\n`);
    const headers = forwardHeaders(req, hostHeader, secure);
    // A request without a body can be replayed on another endpoint if the connection fails.
    const bodyless = !req.headers['transfer-encoding'] && (req.headers['content-length'] === undefined || req.headers['content-length'] === '0');
    const canRetry = bodyless && IDEMPOTENT.has(req.method ?? 'GET');
    let attempts = canRetry ? 3 : 1;
    const tryOnce = (): void => {
      const t = this.pick(b);
      let connected = false;
      const up = http.request({ host: t.host, port: t.port, method: req.method, path: url, headers, agent: this.agent, setHost: false });
      const timer = setTimeout(() => { if (!connected) up.destroy(Object.assign(new Error('connect timeout'), { code: 'CONNECT_TIMEOUT' })); }, this.o.connectTimeoutMs ?? 3000);
      up.on('socket', (s: net.Socket) => {
        if (!s.connecting) { connected = true; clearTimeout(timer); return; }
        s.once('connect', () => { connected = true; clearTimeout(timer); });
      });
      up.on('response', (ur) => {
        clearTimeout(timer);
        res.writeHead(ur.statusCode ?? 502, ur.statusMessage, stripHop(ur.rawHeaders));
        ur.pipe(res);
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
      if (bodyless) up.end(); else req.pipe(up);
    };
    tryOnce();
  }

  private upgrade(req: http.IncomingMessage, sock: net.Socket, head: Buffer, secure: boolean): void {
    sock.on('error', () => sock.destroy());
    const hostHeader = req.headers.host ?? '';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const b = route(this.table, hostOnly(hostHeader), q < 0 ? url : url.slice(0, q));
    if (!b || !b.targets.length) {
      const code = b ? 503 : 404;
      sock.end(`HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    const t = this.pick(b);
    const up = net.connect(t.port, t.host);
    up.on('error', () => {
      if (!sock.destroyed) sock.end(`HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      up.destroy();
    });
    up.on('connect', () => {
      const headers = forwardHeaders(req, hostHeader, secure);
      // Upgrade needs its hop-by-hop headers.
      headers['connection'] = req.headers.connection ?? 'Upgrade';
      if (req.headers.upgrade) headers['upgrade'] = req.headers.upgrade;
      let s = `${req.method} ${url} HTTP/1.1\r\n`;
      for (const [k, v] of Object.entries(headers)) {
        if (v === undefined) continue;
        for (const x of Array.isArray(v) ? v : [v]) s += `${k}: ${x}\r\n`;
      }
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

function forwardHeaders(req: http.IncomingMessage, hostHeader: string, secure: boolean): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (HOP.has(k) || k.startsWith('x-forwarded-') || k === 'x-real-ip') continue;
    const prev = out[k];
    out[k] = prev === undefined ? raw[i + 1]! : Array.isArray(prev) ? [...prev, raw[i + 1]!] : k === 'cookie' ? `${prev}; ${raw[i + 1]}` : [String(prev), raw[i + 1]!];
  }
  const client = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
  // As ingress-nginx by default: we are the edge, so client-sent X-Forwarded-* are replaced.
  out['x-forwarded-for'] = client;
  out['x-real-ip'] = client;
  out['x-forwarded-proto'] = secure ? 'https' : 'http';
  out['x-forwarded-host'] = hostHeader;
  out['x-forwarded-port'] = String(req.socket.localPort ?? (secure ? 443 : 80));
  return out;
}

function stripHop(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

function reply(res: http.ServerResponse, code: number, body: string): void {
  if (res.headersSent) { res.destroy(); return; }
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
