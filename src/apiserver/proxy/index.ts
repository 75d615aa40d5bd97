// The API server's side of logs, exec, attach, port-forward and nodes/proxy (and of
// pods/proxy and services/proxy, which go to the pod itself: resource-proxy.ts): check the
// caller's rights, find the pod's node, and relay to that node's kubelet (HTTPS with the
// API server's kubelet-client certificate, the kubelet's certificate verified against
// the cluster CA).
//
// pods/log is an ordinary streamed GET. exec/attach/portforward are connection upgrades
// (WebSocket, or SPDY for older clients): after our checks the upgrade request is sent on
// to the kubelet and then bytes are piped both ways untouched, as upstream's
// UpgradeAwareHandler does. The kubelet speaks the streaming protocols end to end with
// the client, so nothing is decoded or re-framed here (relay.ts).
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { OnReadOpts } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Pod, Node } from 'kubernetes-types/core/v1.js';
import type { Status } from 'kubernetes-types/meta/v1.js';
import { errors, isStatusError, statusError } from '../../api/errors.js';
import { authenticate, authorize, forbiddenMessage, anonymous, type Authenticator, type Authorizer, type UserInfo } from '../auth.js';
import type { ResourceRequestInfo, Verb } from '../request-info.js';
import type { Registry } from '../registry.js';
import type { KeyPair } from '../tls.js';
import { statusOf, writeError } from '../http.js';
import { validateContainer, checkContainerState, kubeletLocation, type KubeletLocation } from './location.js';
import { logger } from '../../util/log.js';
import { relayBothWays, relayOnRead } from './relay.js';
import { parseResourceProxyPath, relayHttp, resourceLocation, type ResourceProxyTarget } from './resource-proxy.js';

const log = logger('apiserver-proxy');

export interface StreamingProxyOptions {
  registry: Registry;
  authenticators: Authenticator[];
  authorizers: Authorizer[];
  /** Cluster CA (verifies kubelets) and the API server's kubelet-client certificate. */
  ca: string;
  clientCert: KeyPair | (() => Promise<KeyPair>);
}

export interface StreamingProxy {
  /** Whether a (non-upgrade) request path is ours: pods/log, nodes/proxy, pods/proxy, services/proxy. */
  serves(pathname: string): boolean;
  /** Serves a non-upgrade request if it is ours (pods/log, nodes/proxy); false otherwise. `url`: the request's, parsed once by the caller. */
  handle(req: IncomingMessage, res: ServerResponse, user: UserInfo, url?: URL): Promise<boolean>;
  /** The API server's 'upgrade' listener: exec, attach, portforward, nodes/proxy. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

type Target =
  | { kind: 'pod'; ns: string; name: string; sub: 'log' | 'exec' | 'attach' | 'portforward' }
  | { kind: 'node'; name: string; rest: string };

function parseTarget(path: string): Target | undefined {
  let m = path.match(/^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(log|exec|attach|portforward)\/?$/);
  if (m) return { kind: 'pod', ns: decodeURIComponent(m[1]!), name: decodeURIComponent(m[2]!), sub: m[3] as 'log' };
  m = path.match(/^\/api\/v1\/nodes\/([^/]+)\/proxy(\/.*)?$/);
  if (m) return { kind: 'node', name: decodeURIComponent(m[1]!), rest: m[2] ?? '/' };
  return undefined;
}

function verbOf(method: string | undefined): Verb {
  switch (method) {
    case 'GET': case 'HEAD': return 'get';
    case 'POST': return 'create';
    case 'PUT': return 'update';
    case 'PATCH': return 'patch';
    case 'DELETE': return 'delete';
    default: return 'connect';
  }
}

function requestInfo(t: Target, method: string | undefined, path: string): ResourceRequestInfo {
  const base = { isResourceRequest: true as const, path, verb: verbOf(method), prefix: 'api' as const, group: '', version: 'v1' };
  return t.kind === 'pod'
    ? { ...base, namespace: t.ns, resource: 'pods', name: t.name, subresource: t.sub }
    : { ...base, namespace: '', resource: 'nodes', name: t.name, subresource: 'proxy' };
}

const HOP_BY_HOP = new Set(['host', 'authorization', 'proxy-authorization', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'impersonate-user', 'impersonate-group']);

/** A Status as an HTTP response written on a raw socket (before any upgrade happened). */
function socketStatus(socket: Duplex, st: Status): void {
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', ...st });
  const code = st.code ?? 500;
  socket.end(`HTTP/1.1 ${code} ${code === 400 ? 'Bad Request' : code === 401 ? 'Unauthorized' : code === 403 ? 'Forbidden' : code === 404 ? 'Not Found' : 'Error'}\r\n`
    + `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export function createStreamingProxy(o: StreamingProxyOptions): StreamingProxy {
  let certP: Promise<KeyPair> | undefined;
  const clientCert = () => (certP ??= typeof o.clientCert === 'function' ? o.clientCert() : Promise.resolve(o.clientCert));

  async function check(user: UserInfo, t: Target, req: IncomingMessage, path: string): Promise<void> {
    await checkInfo(user, requestInfo(t, req.method, path));
  }

  async function checkInfo(user: UserInfo, info: ResourceRequestInfo): Promise<void> {
    const d = await authorize(o.authorizers, user, info);
    if (!d.allowed) throw errors.forbidden(forbiddenMessage(user, info, d.reason), { group: '', resource: info.resource, name: info.name });
  }

  async function getNode(name: string): Promise<Node> {
    return await o.registry.store('', 'nodes')!.get('', name) as Node;
  }

  /** Resolves the kubelet path for a target; undefined = nothing to stream (pod not on a node). */
  async function locate(t: Target, q: URLSearchParams, upgrade: boolean): Promise<{ loc: KubeletLocation; path: string } | undefined> {
    if (t.kind === 'node') {
      const node = await getNode(t.name);
      return { loc: kubeletLocation(node), path: t.rest + (q.size ? `?${q}` : '') };
    }
    const pod = await o.registry.store('', 'pods')!.get(t.ns, t.name) as Pod;
    const nodeName = pod.spec?.nodeName;
    const kq = new URLSearchParams(q);
    kq.delete('container');
    let path: string;
    if (t.sub === 'portforward') {
      if (!nodeName) throw errors.badRequest(`pod ${t.name} does not have a host assigned`);
      path = `/portForward/${encodeURIComponent(t.ns)}/${encodeURIComponent(t.name)}`;
      // The client's `ports` reach the kubelet as one `port` list (upstream's streamParams);
      // the kubelet checks them (WebSocket channel port-forward; SPDY names ports per stream).
      const ports = kq.getAll('ports');
      kq.delete('ports');
      if (ports.length) kq.set('port', ports.join(','));
    } else {
      const container = validateContainer(pod, q.get('container'));
      if (!nodeName) {
        if (t.sub === 'log') return undefined;
        throw errors.badRequest(`pod ${t.name} does not have a host assigned`);
      }
      const previous = q.get('previous') === 'true' || q.get('previous') === '1';
      checkContainerState(pod, container, { previous: t.sub === 'log' && previous, exec: t.sub !== 'log' });
      const verb = t.sub === 'log' ? 'containerLogs' : t.sub;
      path = `/${verb}/${encodeURIComponent(t.ns)}/${encodeURIComponent(t.name)}/${encodeURIComponent(container)}`;
    }
    if (!upgrade && t.sub !== 'log') throw errors.badRequest(`${t.sub} requires a connection upgrade (WebSocket or SPDY)`);
    const node = await getNode(nodeName);
    return { loc: kubeletLocation(node), path: path + (kq.size ? `?${kq}` : '') };
  }

  /** pods/proxy, services/proxy: HTTP to the pod or a service endpoint (resource-proxy.ts). */
  async function handleResourceProxy(req: IncomingMessage, res: ServerResponse, user: UserInfo, t: ResourceProxyTarget, path: string): Promise<void> {
    try {
      // As upstream's RequestInfo: the verb of the method, the name segment as it is (`name:port`).
      await checkInfo(user, {
        isResourceRequest: true, path, verb: verbOf(req.method), prefix: 'api', group: '', version: 'v1',
        namespace: t.ns, resource: t.kind === 'pod' ? 'pods' : 'services', name: t.id, subresource: 'proxy',
      });
      await relayHttp(req, res, t, await resourceLocation(o.registry, t));
    } catch (e) {
      if (!isStatusError(e)) log.warn({ err: (e as Error).message, path }, 'resource proxy request failed');
      if (!res.headersSent) writeError(res, e); else res.end();
      req.resume();
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse, user: UserInfo, parsed?: URL): Promise<boolean> {
    const url = parsed ?? new URL(req.url ?? '/', 'https://localhost');
    const rp = parseResourceProxyPath(url.pathname);
    if (rp) { await handleResourceProxy(req, res, user, rp, url.pathname); return true; }
    const t = parseTarget(url.pathname);
    if (!t) return false;
    try {
      await check(user, t, req, url.pathname);
      if (t.kind === 'pod' && t.sub === 'log' && req.method !== 'GET') throw errors.methodNotSupported({ group: '', resource: 'pods/log' }, req.method?.toLowerCase() ?? '');
      const where = await locate(t, url.searchParams, false);
      if (!where) { res.writeHead(200, { 'Content-Type': 'text/plain' }).end(); return true; }
      const cert = await clientCert();
      await new Promise<void>((resolve) => {
        const up = httpsRequest({
          host: where.loc.host, port: where.loc.port, path: where.path, method: req.method,
          ca: o.ca, cert: cert.certPem, key: cert.keyPem,
          headers: { accept: req.headers.accept ?? '*/*', ...(req.headers['content-type'] ? { 'content-type': req.headers['content-type'] } : {}) },
        }, (ur) => {
          const code = ur.statusCode ?? 502;
          if (t.kind === 'pod' && code >= 300) {
            // The kubelet answers in plain text; clients expect a Status.
            const chunks: Buffer[] = [];
            ur.on('data', (c: Buffer) => chunks.push(c));
            ur.on('end', () => {
              const msg = Buffer.concat(chunks).toString().trim();
              writeError(res, statusError(code, code === 404 ? 'NotFound' : code === 400 ? 'BadRequest' : 'InternalError', msg || `the server responded with the status code ${code}`));
              resolve();
            });
            return;
          }
          res.writeHead(code, { 'Content-Type': ur.headers['content-type'] ?? 'text/plain', 'Cache-Control': 'no-cache, private' });
          res.flushHeaders();
          ur.pipe(res);
          ur.on('end', resolve);
          ur.on('error', () => { res.destroy(); resolve(); });
        });
        up.on('error', (e) => {
          if (!res.headersSent) writeError(res, errors.unavailable(`error trying to reach service: ${e.message}`));
          else res.destroy();
          resolve();
        });
        // A client that goes away (kubectl logs -f, Ctrl-C) ends the kubelet request too.
        res.on('close', () => up.destroy());
        if (req.method === 'GET' || req.method === 'HEAD') up.end(); else req.pipe(up);
      });
    } catch (e) {
      if (!isStatusError(e)) log.warn({ err: (e as Error).message, path: url.pathname }, 'proxy request failed');
      if (!res.headersSent) writeError(res, e); else res.end();
    }
    return true;
  }

  async function doUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const t = parseTarget(url.pathname);
    try {
      if (!t) throw Object.assign(errors.notFound({ group: '', resource: '' }), {});
      const user = (await authenticate(o.authenticators, req)) ?? anonymous;
      if (user === anonymous) throw errors.unauthorized();
      await check(user, t, req, url.pathname);
      const where = await locate(t, url.searchParams, true);
      if (!where) throw errors.badRequest('nothing to connect to');
      const cert = await clientCert();
      // The kubelet's records are read into pooled slabs and written to the client from there.
      const fromKubelet = relayOnRead(socket);
      const up: TLSSocket = tlsConnect({
        host: where.loc.host, port: where.loc.port, ca: o.ca, cert: cert.certPem, key: cert.keyPem,
        servername: /^[\d.]+$|:/.test(where.loc.host) ? undefined : where.loc.host, ALPNProtocols: ['http/1.1'],
        // Documented for tls.connect (a client socket of its own), missing from @types/node.
        onread: fromKubelet,
      } as ConnectionOptions & { onread: OnReadOpts });
      await new Promise<void>((resolve, reject) => {
        up.once('secureConnect', resolve);
        up.once('error', reject);
      }).catch((e: Error) => { up.destroy(); throw errors.unavailable(`error dialing backend: ${e.message}`); });
      let head1 = `${req.method} ${where.path} HTTP/1.1\r\nHost: ${where.loc.host}:${where.loc.port}\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const k = req.rawHeaders[i]!;
        if (HOP_BY_HOP.has(k.toLowerCase())) continue;
        head1 += `${k}: ${req.rawHeaders[i + 1]}\r\n`;
      }
      up.write(`${head1}\r\n`);
      if (head.length) up.write(head);
      up.setNoDelay(true);
      (socket as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
      log.debug({ path: where.path, clientCipher: (socket as Partial<TLSSocket>).getCipher?.().standardName, kubeletCipher: up.getCipher().standardName }, 'upgrade relayed');
      // From here on: bytes both ways; either side closing closes the other (relay.ts).
      relayBothWays(socket, up, fromKubelet);
    } catch (e) {
      if (!isStatusError(e)) log.warn({ err: (e as Error).message, path: url.pathname }, 'proxy upgrade failed');
      socketStatus(socket, statusOf(e));
    }
  }

  return {
    serves: (pathname) => parseTarget(pathname) !== undefined || parseResourceProxyPath(pathname) !== undefined,
    handle,
    upgrade(req, socket, head) {
      socket.on('error', () => undefined);
      void doUpgrade(req, socket, head);
    },
  };
}

export { ensureKubeletClientCert } from './client-cert.js';
