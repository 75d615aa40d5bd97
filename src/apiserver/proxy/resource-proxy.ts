// pods/proxy and services/proxy: HTTP requests relayed by the API server to a pod's IP, or
// to one endpoint of a service, as upstream's ProxyREST does (pkg/registry/core/pod and
// service ResourceLocation). The name segment is `[scheme:]name[:port]`; for a pod without
// a port, its first declared container port; for a service, the port by number or name
// (none: the unnamed port), the endpoint picked at random among the ready addresses.
// Only plain HTTP here (https: 400), and no rewriting of links in HTML bodies.
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Endpoints, Pod, Service } from 'kubernetes-types/core/v1.js';
import { errors } from '../../api/errors.js';
import type { Registry } from '../registry.js';

export interface ResourceProxyTarget {
  kind: 'pod' | 'service';
  ns: string;
  /** The raw name segment (`[scheme:]name[:port]`): what authorization sees, as upstream's RequestInfo. */
  id: string;
  /** What follows `/proxy`: '' or '/...'. */
  rest: string;
}

const PROXY_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/(pods|services)\/([^/]+)\/proxy(\/.*)?$/;

export function parseResourceProxyPath(path: string): ResourceProxyTarget | undefined {
  const m = path.match(PROXY_PATH);
  if (!m) return undefined;
  return { kind: m[2] === 'pods' ? 'pod' : 'service', ns: decodeURIComponent(m[1]!), id: decodeURIComponent(m[3]!), rest: m[4] ?? '' };
}

/** upstream's SplitSchemeNamePort: `name`, `name:port` or `scheme:name:port`; scheme http, https or empty. */
export function splitSchemeNamePort(id: string): { scheme: string; name: string; port: string } | undefined {
  const parts = id.split(':');
  const [scheme, name, port] = parts.length === 1 ? ['', parts[0]!, ''] : parts.length === 2 ? ['', parts[0]!, parts[1]!]
    : parts.length === 3 ? [parts[0]!, parts[1]!, parts[2]!] : ['', '', ''];
  if (!name || !['', 'http', 'https'].includes(scheme)) return undefined;
  return { scheme, name, port };
}

/** host:port to send the request to. */
export async function resourceLocation(registry: Registry, t: ResourceProxyTarget): Promise<{ host: string; port: number }> {
  const parts = splitSchemeNamePort(t.id);
  if (!parts) throw errors.badRequest(`invalid ${t.kind} request "${t.id}"`);
  if (parts.scheme === 'https') throw errors.badRequest(`https is not supported by the ${t.kind} proxy of this server, only http`);
  const loc = t.kind === 'pod' ? await podLocation(registry, t.ns, parts.name, parts.port) : await serviceLocation(registry, t.ns, parts.name, parts.port, t.id);
  return loc;
}

async function podLocation(registry: Registry, ns: string, name: string, port: string): Promise<{ host: string; port: number }> {
  const pod = await registry.store('', 'pods')!.get(ns, name) as Pod;
  if (!port) {
    const declared = pod.spec?.containers?.find((c) => c.ports?.length)?.ports?.[0]?.containerPort;
    if (declared) port = String(declared);
  }
  const ip = pod.status?.podIP;
  // upstream's IsProxyableIP: a pod without an IP has no address to go to.
  if (!ip) throw errors.badRequest('address not allowed');
  return { host: ip, port: portNumber(port || '80') };
}

async function serviceLocation(registry: Registry, ns: string, name: string, port: string, id: string): Promise<{ host: string; port: number }> {
  let portName = port;
  if (/^\d+$/.test(port)) {
    // A port number stands for the service port of that number (its name is what endpoints carry).
    const svc = await registry.store('', 'services')!.get(ns, name) as Service;
    const sp = svc.spec?.ports?.find((p) => p.port === Number(port));
    if (!sp) throw errors.unavailable(`no service port ${port} found for service "${name}"`);
    portName = sp.name ?? '';
  }
  const eps = await registry.store('', 'endpoints')!.get(ns, name) as Endpoints;
  const subsets = eps.subsets ?? [];
  if (!subsets.length) throw errors.unavailable(`no endpoints available for service "${name}"`);
  const start = Math.floor(Math.random() * subsets.length);
  for (let i = 0; i < subsets.length; i++) {
    const ss = subsets[(start + i) % subsets.length]!;
    const addrs = ss.addresses ?? [];
    const p = ss.ports?.find((x) => (x.name ?? '') === portName);
    if (!addrs.length || !p) continue;
    return { host: addrs[Math.floor(Math.random() * addrs.length)]!.ip, port: p.port };
  }
  throw errors.unavailable(`no endpoints available for service "${id}"`);
}

function portNumber(p: string): number {
  const n = /^\d+$/.test(p) ? Number(p) : NaN;
  if (!(n >= 1 && n <= 65535)) throw errors.badRequest(`invalid port "${p}"`);
  return n;
}

/** Request headers not passed on: the connection's own and our credentials. */
const DROPPED_REQUEST = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'authorization', 'proxy-authorization', 'impersonate-user', 'impersonate-group', 'impersonate-uid']);
/** Response headers not passed back (Node frames the body itself). */
const DROPPED_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate']);

/**
 * Relays the request to host:port. `.../proxy` without a slash is redirected to `.../proxy/`
 * for GET (as upstream, so that relative links in the page resolve under the proxy).
 * Resolves once the response is complete; rejects (nothing written yet) when the target
 * cannot be reached.
 */
export function relayHttp(req: IncomingMessage, res: ServerResponse, t: ResourceProxyTarget, to: { host: string; port: number }): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (!t.rest && (req.method === 'GET' || req.method === 'HEAD')) {
    res.writeHead(301, { Location: `${url.pathname}/${url.search}` }).end();
    return Promise.resolve();
  }
  const headers: OutgoingHttpHeaders = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i]!;
    if (DROPPED_REQUEST.has(k.toLowerCase())) continue;
    const prev = headers[k];
    headers[k] = prev === undefined ? req.rawHeaders[i + 1]! : `${prev}, ${req.rawHeaders[i + 1]}`;
  }
  headers.host = `${to.host.includes(':') ? `[${to.host}]` : to.host}:${to.port}`;
  return new Promise<void>((resolve, reject) => {
    const up = httpRequest({ host: to.host, port: to.port, method: req.method, path: (t.rest || '/') + url.search, headers }, (ur) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(ur.headers)) if (v !== undefined && !DROPPED_RESPONSE.has(k)) out[k] = v;
      res.writeHead(ur.statusCode ?? 502, out);
      ur.pipe(res);
      ur.on('end', () => resolve());
      ur.on('error', () => { res.destroy(); resolve(); });
    });
    up.on('error', (e) => {
      if (!res.headersSent) reject(errors.unavailable(`error trying to reach service: ${e.message}`));
      else { res.destroy(); resolve(); }
    });
    res.on('close', () => { if (!res.writableFinished) up.destroy(); });
    if (req.method === 'GET' || req.method === 'HEAD') { up.end(); req.resume(); } else req.pipe(up);
  });
}
