// The kubelet's HTTPS server (port 10250 upstream): container logs, exec, attach,
// port-forward, /healthz and /pods. Only the API server may call it: the client
// certificate must chain to the cluster CA and name the API server's kubelet-client user.
// The API server passes upgrade requests through untouched, so the streaming protocols
// (WebSocket channels, SPDY port-forward plain or tunnelled in a WebSocket, port-forward
// over WebSocket channels for client libraries) are spoken here, end to end with the client.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { Socket, type AddressInfo } from 'node:net';
import { constants as fsConstants, openSync } from 'node:fs';
import type { PassThrough } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { RuntimeService } from '../../runtime/cri.js';
import { REMOTECOMMAND_PROTOCOLS, PORTFORWARD_TUNNEL_PROTOCOL, PORTFORWARD_PROTOCOL, errorStatus } from '../../api/remotecommand/protocol.js';
import { SpdySession, type SpdyTransport } from '../../api/remotecommand/spdy.js';
import { execInContainer, type RuncLocation } from '../../runtime/streaming/exec.js';
import { readContainerLog } from '../../runtime/streaming/logs.js';
import { nsenterDialer, type PodDialer } from '../../runtime/streaming/portforward.js';
import { HttpError, resolveContainer, requireRunning, findSandbox, type PodSource, type ResolvedContainer } from './resolve.js';
import { remoteCommandSession, statusForExit, type StreamFlags } from './remotecommand.js';
import { servePortForward } from './portforward.js';
import { serveChannelPortForward, parsePortForwardPorts, choosePortForwardProtocol, PORTFORWARD_BINARY_PROTOCOL, PORTFORWARD_BASE64_PROTOCOL } from './portforward-ws.js';
import { logger } from '../../util/log.js';

const log = logger('kubelet-server');

export const DEFAULT_KUBELET_PORT = 10250;
/** Client certificate users allowed in (upstream names of the API server's kubelet client). */
export const DEFAULT_ALLOWED_USERS = ['kube-apiserver-kubelet-client', 'system:kube-apiserver'];

export interface KubeletServerOptions {
  runtime: RuntimeService;
  /** runc state dir and binary, for exec. */
  runc: RuncLocation;
  /** Serving certificate (signed by the cluster CA) and the CA that signs client certificates. */
  tls: { cert: string; key: string; clientCA: string };
  port?: number;
  address?: string;
  allowedUsers?: string[];
  pods?: PodSource;
  dialer?: PodDialer;
}

export interface KubeletServer {
  port: number;
  close(): Promise<void>;
}

type Route =
  | { kind: 'logs'; ns: string; pod: string; container: string }
  | { kind: 'exec' | 'attach'; ns: string; pod: string; uid?: string; container: string }
  | { kind: 'portForward'; ns: string; pod: string; uid?: string }
  | { kind: 'healthz' } | { kind: 'pods' };

export function parseRoute(path: string): Route | undefined {
  const p = path.split('/').filter(Boolean).map(decodeURIComponent);
  switch (p[0]) {
    case 'containerLogs': return p.length === 4 ? { kind: 'logs', ns: p[1]!, pod: p[2]!, container: p[3]! } : undefined;
    case 'exec': case 'attach':
      if (p.length === 4) return { kind: p[0], ns: p[1]!, pod: p[2]!, container: p[3]! };
      if (p.length === 5) return { kind: p[0], ns: p[1]!, pod: p[2]!, uid: p[3]!, container: p[4]! };
      return undefined;
    case 'portForward':
      if (p.length === 3) return { kind: 'portForward', ns: p[1]!, pod: p[2]! };
      if (p.length === 4) return { kind: 'portForward', ns: p[1]!, pod: p[2]!, uid: p[3]! };
      return undefined;
    case 'healthz': return p.length === 1 ? { kind: 'healthz' } : undefined;
    case 'pods': return p.length === 1 ? { kind: 'pods' } : undefined;
    default: return undefined;
  }
}

/**
 * The SPDY tunnel (KEP-4006) as a transport: the WebSocket's binary messages are a byte
 * stream, in whatever pieces the peer chose (kubectl sends a frame's header and payload as
 * two messages); each frame we send goes as one message.
 */
function tunnelTransport(ws: WebSocket): SpdyTransport {
  return {
    send: (data, done) => ws.send(data, () => done()),
    get queued() { return ws.bufferedAmount; },
    pause: () => ws.pause(),
    resume: () => ws.resume(),
    end: () => ws.close(1000),
    destroy: () => ws.terminate(),
    start(data, closed) {
      ws.on('message', (d: Buffer, isBinary: boolean) => { if (isBinary) data(d); });
      ws.on('close', closed);
      ws.on('error', closed);
    },
  };
}

/** Stand-in token for the tunnelling subprotocol inside ws (see the port-forward upgrade). */
const TUNNEL_TOKEN = 'jotasu-spdy-portforward-tunnel';

const truthy = (v: string | null) => v !== null && v !== 'false' && v !== '0';

/** Who is calling; throws 401/403 unless it is the API server. */
function authorize(req: IncomingMessage, allowed: string[]): void {
  const sock = req.socket as TLSSocket;
  const cert = sock.getPeerCertificate?.();
  if (!cert || !cert.subject || !sock.authorized) throw new HttpError(401, 'Unauthorized');
  const cn = (cert.subject as unknown as Record<string, string | string[]>).CN;
  const user = Array.isArray(cn) ? cn[0] : cn;
  if (!user || !allowed.includes(user)) {
    throw new HttpError(403, `Forbidden (user=${user ?? ''}, verb=${(req.method ?? 'get').toLowerCase()}, resource=nodes, subresource=proxy)`);
  }
}

function sendError(res: ServerResponse, e: unknown): void {
  const code = e instanceof HttpError ? e.code : 500;
  const msg = e instanceof Error ? e.message : String(e);
  if (!(e instanceof HttpError)) log.warn({ err: msg }, 'kubelet server request failed');
  if (res.headersSent) { res.end(); return; }
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end(`${msg}\n`);
}

/** An HTTP error on a socket that was about to be upgraded. */
function socketError(socket: Duplex, e: unknown): void {
  const code = e instanceof HttpError ? e.code : 500;
  const msg = `${e instanceof Error ? e.message : String(e)}\n`;
  const reason = ({ 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' } as Record<number, string>)[code] ?? 'Internal Server Error';
  if (!(e instanceof HttpError)) log.warn({ err: msg.trim() }, 'kubelet server upgrade failed');
  socket.end(`HTTP/1.1 ${code} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(msg)}\r\nConnection: close\r\n\r\n${msg}`);
}

function sinceMs(q: URLSearchParams): number | undefined {
  const t = q.get('sinceTime');
  if (t) {
    const ms = Date.parse(t);
    if (Number.isNaN(ms)) throw new HttpError(400, `invalid sinceTime "${t}"`);
    return ms;
  }
  const s = q.get('sinceSeconds');
  if (s) {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new HttpError(400, 'sinceSeconds must be a positive integer');
    return Date.now() - n * 1000;
  }
  return undefined;
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new HttpError(400, `${name} must be a non-negative integer`);
  return n;
}

export async function startKubeletServer(o: KubeletServerOptions): Promise<KubeletServer> {
  const allowed = o.allowedUsers ?? DEFAULT_ALLOWED_USERS;
  const dialer = o.dialer ?? nsenterDialer();
  const rt = o.runtime;
  /** Subprotocols chosen before the handshake (channel port-forward; false = none). */
  const chosenProtocol = new WeakMap<IncomingMessage, string | false>();
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
    handleProtocols: (offered, req) => {
      const chosen = chosenProtocol.get(req);
      if (chosen !== undefined) return chosen;
      if (offered.has(TUNNEL_TOKEN)) return PORTFORWARD_TUNNEL_PROTOCOL;
      for (const p of REMOTECOMMAND_PROTOCOLS) if (offered.has(p)) return p;
      return false;
    },
  });
  const live = new Set<{ destroy(): void }>();

  const isRunning = (id: string) => async () => (await rt.containerStatus(id).catch(() => undefined))?.state === 'CONTAINER_RUNNING';

  async function serveLogs(req: IncomingMessage, res: ServerResponse, r: Extract<Route, { kind: 'logs' }>, q: URLSearchParams): Promise<void> {
    const rc = await resolveContainer(rt, o.pods, r.ns, r.pod, r.container, { previous: truthy(q.get('previous')) });
    const follow = truthy(q.get('follow')) && !truthy(q.get('previous'));
    const opts = {
      follow, timestamps: truthy(q.get('timestamps')), tailLines: intParam(q, 'tailLines'),
      limitBytes: intParam(q, 'limitBytes'), sinceMs: sinceMs(q), isRunning: isRunning(rc.id),
    };
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
    // Send the headers now: a follow on a quiet container must not look hung.
    res.flushHeaders();
    await readContainerLog(rc.status.logPath, res, { ...opts, signal: ac.signal });
    res.end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      authorize(req, allowed);
      const url = new URL(req.url ?? '/', 'https://kubelet');
      const r = parseRoute(url.pathname);
      if (!r) throw new HttpError(404, '404 page not found');
      switch (r.kind) {
        case 'healthz': res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok'); return;
        case 'pods': {
          const body = JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: o.pods?.listPods() ?? [] });
          res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
          return;
        }
        case 'logs': if (req.method !== 'GET') throw new HttpError(405, 'method not allowed'); await serveLogs(req, res, r, url.searchParams); return;
        default: throw new HttpError(400, `${r.kind} needs a WebSocket (or SPDY) upgrade`);
      }
    } catch (e) {
      sendError(res, e);
    }
  }

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    try {
      authorize(req, allowed);
      const url = new URL(req.url ?? '/', 'https://kubelet');
      const r = parseRoute(url.pathname);
      if (!r || (r.kind !== 'exec' && r.kind !== 'attach' && r.kind !== 'portForward')) throw new HttpError(404, '404 page not found');
      const q = url.searchParams;
      const upg = String(req.headers.upgrade ?? '').toLowerCase();
      if (r.kind === 'portForward') {
        const sb = await findSandbox(rt, r.ns, r.pod, r.uid);
        const uid = r.uid ?? o.pods?.getPod(r.ns, r.pod)?.metadata?.uid ?? '';
        const target = { netns: sb.netns, ip: sb.ip, pod: r.pod, uid };
        const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
        if (upg === 'websocket' && !offered.includes(PORTFORWARD_TUNNEL_PROTOCOL)) {
          // Port-forward with WebSocket channels (client libraries): ports from the query.
          const ports = parsePortForwardPorts(q);
          const protocol = choosePortForwardProtocol(offered);
          if (protocol === undefined) throw new HttpError(403, `requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${PORTFORWARD_BINARY_PROTOCOL} ${PORTFORWARD_BASE64_PROTOCOL}]`);
          chosenProtocol.set(req, protocol || false);
          wss.handleUpgrade(req, socket, head, (ws) => serveChannelPortForward(ws, ports, target, dialer));
          return;
        }
        if (upg === 'websocket') {
          // ws rejects "SPDY/3.1+portforward.k8s.io" ('/' is not a token character, though
          // gorilla/websocket in kubectl sends it): offer it to ws under a token name.
          req.headers['sec-websocket-protocol'] = offered.map((p) => (p === PORTFORWARD_TUNNEL_PROTOCOL ? TUNNEL_TOKEN : p)).join(', ');
          wss.handleUpgrade(req, socket, head, (ws) => {
            if (ws.protocol !== PORTFORWARD_TUNNEL_PROTOCOL) { ws.close(1002, 'port-forward needs the SPDY tunnelling subprotocol'); return; }
            startSpdyPortForward(tunnelTransport(ws), target);
          });
          return;
        }
        if (upg.startsWith('spdy/3.1')) {
          // Plain SPDY upgrade (kubectl's fallback, or old clients).
          socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${PORTFORWARD_PROTOCOL}\r\n\r\n`);
          if (head.length) socket.unshift(head);
          startSpdyPortForward(socket, target);
          return;
        }
        throw new HttpError(400, 'port-forward needs a WebSocket or SPDY/3.1 upgrade');
      }
      if (upg !== 'websocket') throw new HttpError(400, `${r.kind}: only WebSocket streaming (v5.channel.k8s.io, v4.channel.k8s.io) is supported`);
      const flags: StreamFlags = { stdin: truthy(q.get('stdin')), stdout: truthy(q.get('stdout')), stderr: truthy(q.get('stderr')), tty: truthy(q.get('tty')) };
      if (!flags.stdin && !flags.stdout && !flags.stderr) throw new HttpError(400, 'you must specify at least 1 of stdin, stdout, stderr');
      const rc = await resolveContainer(rt, o.pods, r.ns, r.pod, r.container, { uid: r.uid });
      requireRunning(rc, r.container, r.pod);
      const cmd = q.getAll('command');
      if (r.kind === 'exec' && !cmd.length) throw new HttpError(400, 'you must specify at least one command for the container');
      wss.handleUpgrade(req, socket, head, (ws) => {
        if (r.kind === 'exec') void runExec(ws, rc.id, cmd, flags);
        else void runAttach(ws, rc, flags);
      });
    } catch (e) {
      socketError(socket, e);
    }
  }

  function startSpdyPortForward(transport: Duplex | SpdyTransport, target: { netns?: string; ip?: string; pod: string; uid: string }): void {
    const session = new SpdySession(transport);
    live.add(transport);
    session.on('close', () => live.delete(transport));
    servePortForward(session, target, dialer);
  }

  async function runExec(ws: WebSocket, id: string, cmd: string[], flags: StreamFlags): Promise<void> {
    const s = remoteCommandSession(ws, flags);
    try {
      const h = execInContainer(o.runc, { containerId: id, cmd, tty: flags.tty, stdin: s.stdin, stdout: s.stdout, stderr: s.stderr, signal: s.signal });
      s.onResize((size) => h.resize(size));
      const code = await h.done;
      s.finish(statusForExit(cmd, code));
    } catch (e) {
      s.finish(errorStatus(`error executing command in container: ${(e as Error).message}`));
    }
  }

  /**
   * Attach. The shim owns the container's stdout/stderr, so output comes from its log:
   * what the container writes from now on. stdin goes to the FIFO the shim keeps for a
   * container created with stdin: true. As containerd's attach: stdin for a container
   * without stdin is dropped; when the client's stdin ends, a stdinOnce container gets EOF
   * (the shim closes its stdin once the last writer goes) and the session lasts until it
   * exits, while for any other container the session ends there. No tty: the runtime
   * refuses tty: true containers at start (it has no console socket).
   */
  async function runAttach(ws: WebSocket, rc: ResolvedContainer, flags: StreamFlags): Promise<void> {
    const s = remoteCommandSession(ws, flags);
    const output = new AbortController();
    s.signal.addEventListener('abort', () => output.abort(), { once: true });
    try {
      const tasks: Promise<void>[] = [];
      const readers = (s.stdout ? 1 : 0) + (!flags.tty && s.stderr ? 1 : 0);
      let opened = 0;
      let positioned!: () => void;
      const ready = new Promise<void>((r) => { positioned = r; });
      if (!readers) positioned();
      const onOpen = () => { if (++opened === readers) positioned(); };
      const common = { follow: true, tailLines: 0, isRunning: isRunning(rc.id), signal: output.signal, onOpen };
      if (flags.tty && s.stdout) tasks.push(readContainerLog(rc.status.logPath, s.stdout, common));
      else {
        if (s.stdout) tasks.push(readContainerLog(rc.status.logPath, s.stdout, { ...common, stream: 'stdout' }));
        if (s.stderr) tasks.push(readContainerLog(rc.status.logPath, s.stderr, { ...common, stream: 'stderr' }));
      }
      if (s.stdin) {
        // Only once the readers hold their start position: the answer to this input must not fall before it.
        const relay = relayStdin(s.stdin, rc, ready, () => output.abort());
        if (!readers) tasks.push(relay);
      }
      await Promise.all(tasks);
      s.finish(statusForExit([], 0));
    } catch (e) {
      s.finish(errorStatus(`error attaching to container: ${(e as Error).message}`));
    }
  }

  /** Copies attach's stdin into the container's stdin FIFO; calls endSession when it ends (not stdinOnce). */
  async function relayStdin(stdin: PassThrough, rc: ResolvedContainer, ready: Promise<void>, endSession: () => void): Promise<void> {
    const path = await Promise.resolve(rt.stdinPath?.(rc.id)).catch(() => undefined);
    if (!path) {
      log.debug({ container: rc.id }, 'attach: the container has no stdin; input dropped');
      stdin.resume();
      return;
    }
    await ready;
    let fd: number;
    try {
      // Non-blocking: with no reader (the shim just exited) this fails at once instead of hanging.
      fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    } catch (e) {
      log.debug({ container: rc.id, err: (e as Error).message }, 'attach: stdin FIFO not open; input dropped');
      stdin.resume();
      return;
    }
    // A net.Socket over the FIFO: libuv waits for room (EAGAIN) and pipe() carries back-pressure to the WebSocket.
    const fifo = new Socket({ fd, readable: false, writable: true });
    let clientEnded = false;
    stdin.once('end', () => { clientEnded = true; });
    await new Promise<void>((resolve) => {
      fifo.on('error', (e) => {
        // EPIPE: the shim is gone with the container; the rest of the input has nowhere to go.
        log.debug({ container: rc.id, err: e.message }, 'attach: stdin FIFO closed');
        stdin.unpipe(fifo);
        stdin.resume();
      });
      fifo.on('close', () => resolve());
      stdin.pipe(fifo);
    });
    if (clientEnded && !rc.spec?.stdinOnce) endSession();
  }

  const server: Server = createServer({
    cert: o.tls.cert, key: o.tls.key, ca: o.tls.clientCA,
    requestCert: true, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'],
    requestTimeout: 0,
  }, (req, res) => { void handle(req, res); });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => { void upgrade(req, socket, head); });
  server.on('clientError', (_e, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? DEFAULT_KUBELET_PORT, o.address ?? '0.0.0.0', () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ port }, 'kubelet server listening');
  return {
    port,
    async close() {
      for (const c of wss.clients) c.terminate();
      for (const t of live) t.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

