// The REST client every component uses to reach the API server (client-go's rest +
// typed clients in one): paths from ResourceInfo, JSON bodies, the four patch
// content types, Status errors, client-side rate limiting, and watch streams.
// Connections: one TLS context per client (parsing the CA, certificate and key once,
// not per connection), a bounded pool of kept-alive connections for requests (a
// burst waits for a free connection instead of opening, and handshaking, new ones),
// and watches on an agent of their own, since each holds its connection for minutes.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Status } from 'kubernetes-types/meta/v1.js';
import { StatusError, statusError, type StatusReason } from '../api/errors.js';
import { apiVersionOf, type ResourceInfo } from '../api/resources.js';
import { VERSION } from '../util/version.js';
import { loadKubeconfig } from './kubeconfig.js';
import { NdjsonParser } from './ndjson.js';
import { createTokenBucket } from './ratelimit.js';
import type {
  ApiClient, ClientConfig, DeleteOptions, KubeObject, ListOptions, ObjectList, PatchOptions, PatchType,
  ResourceClient, WatchEvent, WatchHandle, WatchOptions, WriteOptions,
} from './types.js';

/** Defaults when ClientConfig leaves qps/burst unset: above kubectl's 5/10 so that tests and tools are not throttled into slowness; components pass their own. */
export const DEFAULT_QPS = 50;
export const DEFAULT_BURST = 100;
/** Non-watch requests fail after this long without a response (client-go has none; a hung server must not hang a controller forever). */
const REQUEST_TIMEOUT_MS = 60_000;
/** How many times a 429/5xx with Retry-After is retried, as client-go's maxRetries. */
const MAX_RETRIES = 10;
/** Connections for non-watch requests when ClientConfig.maxConnections is unset; all of them are kept alive. */
export const DEFAULT_MAX_CONNECTIONS = 64;

export const patchContentTypes: Record<PatchType, string> = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

type RawResponse = { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer };
type RequestOpts = { body?: unknown; contentType?: string; accept?: string; query?: Record<string, string> };

/** Reason and message for a non-Status error reply, as apimachinery's NewGenericServerResponse. */
function reasonFor(code: number): { reason: StatusReason; message: string } {
  switch (code) {
    case 400: return { reason: 'BadRequest', message: 'the server rejected our request for an unknown reason' };
    case 401: return { reason: 'Unauthorized', message: 'the server has asked for the client to provide credentials' };
    case 403: return { reason: 'Forbidden', message: 'the server does not allow access to the requested resource' };
    case 404: return { reason: 'NotFound', message: 'the server could not find the requested resource' };
    case 405: return { reason: 'MethodNotAllowed', message: 'the server does not allow this method on the requested resource' };
    case 406: return { reason: 'NotAcceptable', message: 'the server was unable to respond with a content type that the client supports' };
    case 409: return { reason: 'Conflict', message: 'the server reported a conflict' };
    case 410: return { reason: 'Expired', message: 'the server has asked for the client to retry with a newer resource version' };
    case 413: return { reason: 'RequestEntityTooLarge', message: 'the server has rejected the request because it is too large' };
    case 415: return { reason: 'UnsupportedMediaType', message: 'the server is unable to handle the content type of the request' };
    case 422: return { reason: 'Invalid', message: 'the server rejected our request due to an error in our request' };
    case 429: return { reason: 'TooManyRequests', message: 'the server has received too many requests and has asked us to try again later' };
    case 503: return { reason: 'ServiceUnavailable', message: 'the server is currently unable to handle the request' };
    case 504: return { reason: 'Timeout', message: 'the server was unable to return a response in the time allotted, but may still be processing the request' };
    default:
      if (code >= 500) return { reason: 'InternalError', message: 'an error on the server has prevented the request from succeeding' };
      return { reason: '', message: `the server responded with the status code ${code} but did not return more information` };
  }
}

/** Turn an error reply into a StatusError: the server's Status when it sent one, else a synthesized one. */
export function errorFromResponse(status: number, body: Buffer, what: string): StatusError {
  try {
    const s = JSON.parse(body.toString('utf8')) as Status;
    if (s && s.kind === 'Status') return new StatusError({ ...s, code: s.code ?? status });
  } catch { /* not JSON: fall through */ }
  const { reason, message } = reasonFor(status);
  const text = body.toString('utf8').trim().slice(0, 500);
  return statusError(status, reason, text ? `${message} (${what}): ${text}` : `${message} (${what})`);
}

/** The Status a watch reports for a transport failure (connection refused, reset). */
function transportStatus(err: Error, what: string): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code: 503, reason: 'ServiceUnavailable', message: `${what}: ${err.message}` };
}

function wrapTransport(err: Error, what: string): Error {
  const e = new Error(`${what}: ${err.message}`, { cause: err });
  (e as Error & { code?: unknown }).code = (err as Error & { code?: unknown }).code;
  return e;
}

/** Path of a resource collection or object: /api/v1/namespaces/ns/pods/name/status. */
export function resourcePath(info: ResourceInfo, namespace: string | undefined, name?: string, subresource?: string): string {
  let p = info.group ? `/apis/${info.group}/${info.version}` : `/api/${info.version}`;
  if (info.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${info.resource}`;
  if (name !== undefined) {
    if (!name) throw new Error(`${info.resource}: empty name`);
    p += `/${encodeURIComponent(name)}`;
    if (subresource) p += `/${subresource}`;
  }
  return p;
}

function listQuery(o: ListOptions | undefined, q: Record<string, string>): Record<string, string> {
  if (!o) return q;
  if (o.labelSelector) q.labelSelector = o.labelSelector;
  if (o.fieldSelector) q.fieldSelector = o.fieldSelector;
  if (o.limit !== undefined) q.limit = String(o.limit);
  if (o.continue) q.continue = o.continue;
  if (o.resourceVersion !== undefined) q.resourceVersion = o.resourceVersion;
  if (o.resourceVersionMatch) q.resourceVersionMatch = o.resourceVersionMatch;
  return q;
}

function writeQuery(o: WriteOptions | undefined, q: Record<string, string> = {}): Record<string, string> {
  if (o?.dryRun) q.dryRun = 'All';
  if (o?.fieldManager) q.fieldManager = o.fieldManager;
  return q;
}

function deleteBody(o: DeleteOptions | undefined): Record<string, unknown> {
  const b: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1' };
  if (o?.gracePeriodSeconds !== undefined) b.gracePeriodSeconds = o.gracePeriodSeconds;
  if (o?.propagationPolicy) b.propagationPolicy = o.propagationPolicy;
  if (o?.preconditions) b.preconditions = o.preconditions;
  if (o?.dryRun) b.dryRun = ['All'];
  return b;
}

function deleteQuery(o: DeleteOptions | undefined, q: Record<string, string> = {}): Record<string, string> {
  // Sent in the body too (as client-go does); the query form is what kubectl users know.
  if (o?.gracePeriodSeconds !== undefined) q.gracePeriodSeconds = String(o.gracePeriodSeconds);
  if (o?.propagationPolicy) q.propagationPolicy = o.propagationPolicy;
  if (o?.dryRun) q.dryRun = 'All';
  return q;
}

export interface JotasuApiClient extends ApiClient {
  readonly config: ClientConfig;
}

export function createClient(config: ClientConfig): JotasuApiClient {
  const base = new URL(config.server);
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new Error(`server ${config.server}: unsupported scheme ${base.protocol}`);
  const basePath = base.pathname.replace(/\/+$/, '');
  const isHttps = base.protocol === 'https:';
  // Requests share a bounded pool whose connections all stay alive (client-go keeps 25
  // idle per host; a component here may have ~64 bindings or status writes in flight).
  const maxConnections = config.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const secureContext = isHttps ? tls.createSecureContext({ ca: config.caData, cert: config.certData, key: config.keyData }) : undefined;
  const newAgent = (maxSockets: number, maxFreeSockets: number): http.Agent => {
    const o = { keepAlive: true, maxSockets, maxFreeSockets, scheduling: 'lifo' as const };
    return isHttps ? new https.Agent({ ...o, secureContext, rejectUnauthorized: !config.insecureSkipTLSVerify }) : new http.Agent(o);
  };
  const agent = newAgent(maxConnections, maxConnections);
  // Watches: no cap (each holds a socket for minutes); a few kept for the next watch.
  const watchAgent = newAgent(Infinity, 16);
  const limiter = createTokenBucket(config.qps ?? DEFAULT_QPS, config.burst ?? DEFAULT_BURST);
  const userAgent = config.userAgent ?? `jotasu/${VERSION}`;
  let closed = false;

  function buildUrl(path: string, query?: Record<string, string>): string {
    const qs = query && Object.keys(query).length ? `?${new URLSearchParams(query).toString()}` : '';
    return `${basePath}${path}${qs}`;
  }

  function headersFor(opts: RequestOpts, bodyBuf: Buffer | undefined): http.OutgoingHttpHeaders {
    const h: http.OutgoingHttpHeaders = { 'User-Agent': userAgent, Accept: opts.accept ?? 'application/json' };
    if (config.token) h.Authorization = `Bearer ${config.token}`;
    if (bodyBuf) {
      h['Content-Type'] = opts.contentType ?? 'application/json';
      h['Content-Length'] = bodyBuf.length;
    }
    return h;
  }

  function encodeBody(body: unknown): Buffer | undefined {
    if (body === undefined) return undefined;
    if (Buffer.isBuffer(body)) return body;
    if (typeof body === 'string') return Buffer.from(body);
    return Buffer.from(JSON.stringify(body));
  }

  function sendOnce(method: string, path: string, opts: RequestOpts): Promise<RawResponse> {
    const bodyBuf = encodeBody(opts.body);
    const what = `${method} ${path}`;
    return new Promise((resolve, reject) => {
      const req = (isHttps ? https : http).request({
        protocol: base.protocol, hostname: base.hostname, port: base.port || (isHttps ? 443 : 80),
        method, path: buildUrl(path, opts.query), agent, headers: headersFor(opts, bodyBuf),
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (e) => reject(wrapTransport(e, what)));
        res.on('aborted', () => reject(new Error(`${what}: response aborted`)));
      });
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`timed out after ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', (e) => reject(wrapTransport(e, what)));
      req.end(bodyBuf);
    });
  }

  async function request(method: string, path: string, opts: RequestOpts = {}): Promise<RawResponse> {
    if (closed) throw new Error(`${method} ${path}: client closed`);
    for (let attempt = 0; ; attempt++) {
      await limiter.acquire();
      const res = await sendOnce(method, path, opts);
      // The server asks us to come back later (429, or 5xx with Retry-After): retry like client-go.
      const retryAfter = Number(res.headers['retry-after']);
      if ((res.status === 429 || res.status >= 500) && retryAfter > 0 && attempt < MAX_RETRIES && !closed) {
        await new Promise((r) => setTimeout(r, Math.min(retryAfter, 10) * 1000));
        continue;
      }
      return res;
    }
  }

  /** A request whose 2xx reply is JSON; anything else becomes a StatusError. */
  async function json<R>(method: string, path: string, opts: RequestOpts = {}): Promise<R> {
    const res = await request(method, path, opts);
    if (res.status < 200 || res.status > 299) throw errorFromResponse(res.status, res.body, `${method} ${path}`);
    if (res.body.length === 0) return undefined as R;
    try {
      return JSON.parse(res.body.toString('utf8')) as R;
    } catch (e) {
      throw new Error(`${method} ${path}: invalid JSON in reply: ${(e as Error).message}`);
    }
  }

  function watch<T extends KubeObject>(path: string, query: Record<string, string>, onEvent: (e: WatchEvent<T>) => void): WatchHandle {
    const what = `watch ${path}`;
    let stopped = false;
    let req: http.ClientRequest | undefined;
    let finish!: () => void;
    const done = new Promise<void>((r) => { finish = r; });
    let ended = false;
    const end = (err?: Status): void => {
      if (ended) return;
      ended = true;
      if (err && !stopped) {
        try { onEvent({ type: 'ERROR', object: err }); } catch { /* handler errors are the handler's */ }
      }
      finish();
    };
    const deliver = (v: unknown): void => {
      if (stopped) return;
      const e = v as WatchEvent<T>;
      if (!e || typeof e.type !== 'string' || e.object === undefined) throw new Error(`malformed watch event: ${JSON.stringify(v).slice(0, 200)}`);
      onEvent(e);
    };
    void (async () => {
      if (closed) return end(transportStatus(new Error('client closed'), what));
      await limiter.acquire();
      if (stopped) return end();
      req = (isHttps ? https : http).request({
        protocol: base.protocol, hostname: base.hostname, port: base.port || (isHttps ? 443 : 80),
        method: 'GET', path: buildUrl(path, query), agent: watchAgent, headers: headersFor({}, undefined),
      }, (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          // An error reply (410 for a too old resourceVersion, 403, 5xx): report it as an ERROR event.
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => end(errorFromResponse(status, Buffer.concat(chunks), what).status));
          res.on('error', (e) => end(transportStatus(e, what)));
          return;
        }
        const parser = new NdjsonParser(deliver);
        res.on('data', (c: Buffer) => {
          try {
            parser.push(c);
          } catch (e) {
            end(transportStatus(e as Error, what));
            req?.destroy();
          }
        });
        res.on('end', () => {
          try { parser.end(); } catch (e) { return end(transportStatus(e as Error, what)); }
          end();
        });
        res.on('aborted', () => end(transportStatus(new Error('stream aborted'), what)));
        res.on('error', (e) => end(transportStatus(e, what)));
        res.on('close', () => end(res.complete ? undefined : transportStatus(new Error('stream closed'), what)));
      });
      req.on('error', (e) => end(transportStatus(e, what)));
      // A server that vanished without closing the connection would leave the watch
      // silent forever; past its own timeout (plus slack) we give up on it.
      const t = Number(query.timeoutSeconds);
      if (t > 0) req.setTimeout((t + 30) * 1000, () => req?.destroy(new Error(`no data for ${t + 30} s`)));
      req.end();
    })();
    return {
      close(): void {
        if (stopped) return;
        stopped = true;
        req?.destroy();
        end();
      },
      done,
    };
  }

  function resource<T extends KubeObject>(info: ResourceInfo): ResourceClient<T> {
    const apiVersion = apiVersionOf(info);
    const needNs = (ns: string | undefined, verb: string, name?: string): string | undefined => {
      if (info.namespaced && !ns) throw new Error(`${verb} ${info.resource}${name ? ` "${name}"` : ''}: namespace required`);
      return info.namespaced ? ns : undefined;
    };
    // List items come without kind/apiVersion on the wire; fill them so that callers (event recorder, owner refs) can rely on them.
    const typed = (o: T): T => {
      if (o && typeof o === 'object' && !o.kind) { o.kind = info.kind; o.apiVersion = apiVersion; }
      return o;
    };
    const rc: ResourceClient<T> = {
      info,
      get: async (name, opts) => json<T>('GET', resourcePath(info, needNs(opts?.namespace, 'get', name), name)),
      list: async (opts) => {
        const l = await json<ObjectList<T>>('GET', resourcePath(info, info.namespaced ? opts?.namespace : undefined), { query: listQuery(opts, {}) });
        l.items = (l.items ?? []).map(typed);
        l.metadata = l.metadata ?? {};
        return l;
      },
      create: async (obj, opts) => {
        const ns = needNs(opts?.namespace ?? obj.metadata?.namespace, 'create');
        return json<T>('POST', resourcePath(info, ns), { body: { apiVersion, kind: info.kind, ...obj }, query: writeQuery(opts) });
      },
      update: async (obj, opts) => {
        const name = obj.metadata?.name ?? '';
        const ns = needNs(opts?.namespace ?? obj.metadata?.namespace, 'update', name);
        return json<T>('PUT', resourcePath(info, ns, name, opts?.subresource), { body: { apiVersion, kind: info.kind, ...obj }, query: writeQuery(opts) });
      },
      updateStatus: async (obj, opts) => rc.update(obj, { ...opts, subresource: 'status' }),
      patch: async (name, type, patch, opts) => {
        const ns = needNs(opts?.namespace, 'patch', name);
        const q = writeQuery(opts);
        if (type === 'apply') {
          if (!opts?.fieldManager) throw new Error(`apply ${info.resource} "${name}": fieldManager is required for server-side apply`);
          if (opts.force) q.force = 'true';
        }
        return json<T>('PATCH', resourcePath(info, ns, name, opts?.subresource), { body: patch, contentType: patchContentTypes[type], query: q });
      },
      delete: async (name, opts) => {
        const ns = needNs(opts?.namespace, 'delete', name);
        return json<T | Status>('DELETE', resourcePath(info, ns, name), { body: deleteBody(opts), query: deleteQuery(opts) });
      },
      deleteCollection: async (opts) => {
        const ns = info.namespaced ? opts?.namespace : undefined;
        await json<unknown>('DELETE', resourcePath(info, ns), { body: deleteBody(opts), query: deleteQuery(opts, listQuery(opts, {})) });
      },
      createSubresource: async <R>(name: string, subresource: string, body: unknown, opts?: WriteOptions) => {
        const ns = needNs(opts?.namespace, `create ${subresource} for`, name);
        return json<R>('POST', resourcePath(info, ns, name, subresource), { body, query: writeQuery(opts) });
      },
      watch: (opts: WatchOptions, onEvent: (e: WatchEvent<T>) => void) => {
        const q = listQuery(opts, { watch: 'true' });
        if (opts.allowWatchBookmarks) q.allowWatchBookmarks = 'true';
        if (opts.timeoutSeconds !== undefined) q.timeoutSeconds = String(opts.timeoutSeconds);
        const path = resourcePath(info, info.namespaced ? opts.namespace : undefined);
        return watch<T>(path, q, (e) => {
          if (e.type !== 'ERROR' && e.type !== 'BOOKMARK') typed(e.object as T);
          onEvent(e);
        });
      },
    };
    return rc;
  }

  return {
    config,
    resource,
    request: (method, path, opts) => request(method, path, opts ?? {}),
    close(): void {
      closed = true;
      agent.destroy();
      watchAgent.destroy();
    },
  };
}

/** A client from a kubeconfig file (default: $KUBECONFIG or ~/.kube/config), with extra settings on top. */
export function createClientFromKubeconfig(path?: string, overrides: Partial<ClientConfig> & { context?: string } = {}): JotasuApiClient {
  const { context, ...rest } = overrides;
  const cfg = loadKubeconfig(path, context);
  return createClient({ ...cfg, ...rest });
}
