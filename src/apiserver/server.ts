// The API server: HTTPS listener and the request pipeline
// authenticate → authorize → (resource handler: admit → validate → store).
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Datastore } from '../datastore/types.js';
import { errors, isStatusError } from '../api/errors.js';
import { logger } from '../util/log.js';
import { KUBE_VERSION } from '../util/version.js';
import { openapiV2Document, openapiV3Document, openapiV3IndexDocument } from '../api/openapi/schema.js';
import type { ClusterTLS } from './tls.js';
import {
  anonymous, authenticate, authorize, forbiddenMessage, privilegedGroups, x509Authenticator, tokenFileAuthenticator,
  type Authenticator, type Authorizer,
} from './auth.js';
import { findResource, verbsOf } from '../api/resources.js';
import { handleReview } from './handlers/reviews.js';
import { PolicyCache, RBAC_GROUP } from './rbac/policy-cache.js';
import { rbacAuthorizer } from './rbac/authorizer.js';
import { escalationCheck } from './rbac/escalation.js';
import { reconcileBootstrapPolicy } from './rbac/reconcile.js';
import { impersonate } from './impersonation.js';
import { authorizationInfo, parseRequestInfo, type RequestInfo, type ResourceRequestInfo } from './request-info.js';
import { createApiMetrics } from './metrics.js';
import { NodeGraph } from './node/graph.js';
import { NodeGraphPopulator } from './node/populator.js';
import { nodeAuthorizer } from './node/authorizer.js';
import { nodeRestriction } from './node/restriction.js';
import { serviceAccountAdmission, serviceAccountGetter } from './admission/serviceaccount.js';
import { negotiateOutput, parseMediaTypes, writeError, writeRaw, statusOf } from './http.js';
import { Registry } from './registry.js';
import { Discovery } from './discovery.js';
import { handleResource } from './handlers/resource.js';
import type { HandlerContext } from './handlers/context.js';
import { bootstrap } from './bootstrap.js';
import { AllocatorRepair } from './allocator-repair.js';
import { createStreamingProxy, ensureKubeletClientCert } from './proxy/index.js';
import { joinHandler } from './join.js';
import type { Obj } from './objects.js';
import { parseRequestTarget } from './request-target.js';
import { ServiceAccountTokens, serviceAccountTokenAuthenticator, type ObjectLookup } from './serviceaccount-token.js';

const log = logger('apiserver');

export interface ApiServerOptions {
  datastore: Datastore;
  tls: ClusterTLS;
  dataDir: string;
  port: number;
  bindAddress?: string;
  /** The address other components and the `kubernetes` Endpoints use to reach this server. */
  advertiseAddress?: string;
  serviceCIDR?: string;
  nodePortRange?: [number, number];
  /** Bearer token file (upstream --token-auth-file format). */
  tokenFile?: string;
  /** Issuer of service-account tokens (upstream --service-account-issuer); also the accepted audience. */
  serviceAccountIssuer?: string;
  /** upstream --authorization-mode: ['Node', 'RBAC'] (the default) or ['RBAC']. */
  authorizationModes?: AuthorizationMode[];
  /** upstream --disable-admission-plugins: plugins of the default chain not to run. */
  disabledAdmissionPlugins?: AdmissionPlugin[];
}

/** The admission plugins that may be turned off (NamespaceLifecycle always runs). */
export const OPTIONAL_ADMISSION_PLUGINS = ['ServiceAccount', 'NodeRestriction'] as const;
export type AdmissionPlugin = typeof OPTIONAL_ADMISSION_PLUGINS[number];

/** Parses upstream's --disable-admission-plugins list. */
export function parseDisabledAdmissionPlugins(s: string): AdmissionPlugin[] {
  const names = s.split(',').map((m) => m.trim()).filter(Boolean);
  const bad = names.filter((n) => !(OPTIONAL_ADMISSION_PLUGINS as readonly string[]).includes(n));
  if (bad.length) throw new Error(`--disable-admission-plugins: unknown or required plugin(s) ${bad.join(', ')}: may disable ${OPTIONAL_ADMISSION_PLUGINS.join(', ')}`);
  return names as AdmissionPlugin[];
}

export type AuthorizationMode = 'Node' | 'RBAC';

/** Parses upstream's --authorization-mode list; RBAC is required, Node optional and first. */
export function parseAuthorizationModes(s: string): AuthorizationMode[] {
  const modes = s.split(',').map((m) => m.trim()).filter(Boolean);
  const known = new Set(['Node', 'RBAC']);
  const bad = modes.filter((m) => !known.has(m));
  if (bad.length) throw new Error(`--authorization-mode: unsupported mode(s) ${bad.join(', ')}: supported: Node, RBAC`);
  if (!modes.includes('RBAC')) throw new Error('--authorization-mode: RBAC is required');
  return modes.includes('Node') ? ['Node', 'RBAC'] : ['RBAC'];
}

export interface ApiServer {
  url: string;
  port: number;
  registry: Registry;
  /** Authentication links (push more: service-account tokens, bootstrap tokens...). */
  authenticators: Authenticator[];
  /** Authorization links: system:masters, then Node (unless off), then RBAC (upstream's union). */
  authorizers: Authorizer[];
  /** The RBAC roles and bindings as the authorizer sees them. */
  policy: PolicyCache;
  close(): Promise<void>;
}

// Paths anyone may read, as upstream's system:public-info-viewer role allows.
const PUBLIC_PATHS = /^\/(livez|readyz|healthz|version)(\/.*)?$/;

const HEALTH_CHECKS = ['ping', 'log', 'etcd', 'poststarthook/start-apiserver-admission-initializer', 'poststarthook/bootstrap-controller'];

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const bindAddress = opts.bindAddress ?? '0.0.0.0';
  const registry = new Registry(opts.datastore, { serviceCIDR: opts.serviceCIDR ?? '10.43.0.0/16', nodePortRange: opts.nodePortRange });
  const serviceAccountTokens = new ServiceAccountTokens(opts.tls.serviceAccountKey, { issuer: opts.serviceAccountIssuer });
  // Bound tokens name objects by uid: the watch cache answers, the datastore when the cache
  // has not seen the object (created a moment ago) or holds another uid.
  const lookup: ObjectLookup = async (resource, namespace, name, uid) => {
    const store = registry.store('', resource)!;
    const e = store.cache.items.get(store.key(namespace, name));
    const cached = e?.obj;
    if (cached && cached.metadata?.uid === uid) return cached;
    const kv = await store.getKV(namespace, name);
    return kv ? (JSON.parse(kv.value) as Obj) : undefined;
  };
  // Service-account JWTs before the token file: the file's link rejects every bearer token it does not know.
  const authenticators: Authenticator[] = [x509Authenticator(), serviceAccountTokenAuthenticator(serviceAccountTokens, lookup)];
  if (opts.tokenFile) authenticators.push(tokenFileAuthenticator(opts.tokenFile));
  // RBAC decides from the watch caches of the four RBAC kinds; writes of roles and
  // bindings are checked for escalation (admission, before validation).
  const rbacCache = (resource: string) => registry.store(RBAC_GROUP, resource)!.cache;
  const policy = new PolicyCache({
    roles: rbacCache('roles'), clusterRoles: rbacCache('clusterroles'),
    roleBindings: rbacCache('rolebindings'), clusterRoleBindings: rbacCache('clusterrolebindings'),
  });
  // The Node authorizer decides kubelets' requests from a graph of the pods bound to
  // each node, kept from the pods watch cache; NodeRestriction checks what nodes write.
  const nodeAuthorization = (opts.authorizationModes ?? ['Node', 'RBAC']).includes('Node');
  const nodeGraph = new NodeGraph();
  const graphPopulator = nodeAuthorization ? new NodeGraphPopulator(nodeGraph, registry.store('', 'pods')!.cache) : undefined;
  const authorizers: Authorizer[] = [privilegedGroups, ...(nodeAuthorization ? [nodeAuthorizer(nodeGraph)] : []), rbacAuthorizer(policy)];
  // NodeRestriction looks pods and nodes up in the watch cache (the store for one the cache has not seen yet).
  const current = async (resource: 'pods' | 'nodes', namespace: string, name: string): Promise<Obj> => {
    const store = registry.store('', resource)!;
    return store.cache.items.get(store.key(namespace, name))?.obj ?? store.get(namespace, name);
  };
  // Mutating plugins first, as upstream's chain: ServiceAccount defaults and mounts.
  const disabled = new Set(opts.disabledAdmissionPlugins ?? []);
  if (!disabled.has('ServiceAccount')) registry.admission.push(serviceAccountAdmission(serviceAccountGetter(registry.store('', 'serviceaccounts')!)));
  registry.admission.push(escalationCheck(policy, () => authorizers));
  if (!disabled.has('NodeRestriction')) registry.admission.push(nodeRestriction(current));
  // pods/log, exec, attach, portforward and nodes/proxy go to the node's kubelet.
  const streaming = createStreamingProxy({ registry, authenticators, authorizers, ca: opts.tls.ca.certPem, clientCert: () => ensureKubeletClientCert(opts.tls) });
  let port = opts.port;
  let ready = false;
  let advertise = opts.advertiseAddress ?? '127.0.0.1';
  const discovery = new Discovery(() => `${advertise}:${port}`);
  const inflight = new Set<ServerResponse>();
  const metrics = createApiMetrics();
  // Agents fetch their node credentials with the cluster token (before authentication).
  const joinRoute = joinHandler({ dataDir: opts.dataDir, ca: opts.tls.ca });

  async function nonResource(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    const accept = req.headers.accept;
    // Health: plain "ok", or one line per check with ?verbose.
    const h = path.match(/^\/(livez|readyz|healthz)(?:\/(.+))?$/);
    if (h) {
      const ok = h[1] !== 'readyz' || ready;
      if (h[2]) {
        if (!HEALTH_CHECKS.includes(h[2]) && h[2] !== 'ping') { writeRaw(res, 404, '404 page not found\n', 'text/plain; charset=utf-8'); return; }
        writeRaw(res, 200, 'ok', 'text/plain; charset=utf-8');
        return;
      }
      if (query.has('verbose')) {
        const lines = HEALTH_CHECKS.map((c) => `[+]${c} ok`);
        if (h[1] === 'readyz') lines.push(`[${ready ? '+' : '-'}]shutdown ok`);
        writeRaw(res, ok ? 200 : 500, `${lines.join('\n')}\n${h[1]} check ${ok ? 'passed' : 'failed'}\n`, 'text/plain; charset=utf-8');
        return;
      }
      writeRaw(res, ok ? 200 : 500, ok ? 'ok' : `[-]shutdown failed: reason withheld\n${h[1]} check failed\n`, 'text/plain; charset=utf-8');
      return;
    }
    if (path === '/metrics') {
      const stored = [...registry.stores.values()].map((s): [string, number] => [s.info.group ? `${s.info.resource}.${s.info.group}` : s.info.resource, s.cache.items.size]);
      writeRaw(res, 200, metrics.render(stored), 'text/plain; version=0.0.4; charset=utf-8');
      return;
    }
    if (path === '/version' || path === '/version/') {
      writeRaw(res, 200, JSON.stringify({
        major: KUBE_VERSION.major, minor: KUBE_VERSION.minor, gitVersion: KUBE_VERSION.gitVersion,
        gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean', buildDate: '2025-01-01T00:00:00Z',
        goVersion: `node${process.versions.node}`, compiler: 'tsc', platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
      }, null, 2));
      return;
    }
    if (path === '/api' || path === '/apis') {
      for (const mt of parseMediaTypes(accept)) {
        if (mt.params.as === 'APIGroupDiscoveryList' && mt.params.g === 'apidiscovery.k8s.io' && (mt.params.v === 'v2' || mt.params.v === 'v2beta1')) {
          writeRaw(res, 200, discovery.aggregated(path === '/api', mt.params.v), `application/json;g=apidiscovery.k8s.io;v=${mt.params.v};as=APIGroupDiscoveryList`, { Vary: 'Accept' });
          return;
        }
        if (mt.type === 'application/json' && !mt.params.as) break;
      }
      writeRaw(res, 200, path === '/api' ? discovery.apiVersions() : discovery.apiGroupList(), 'application/json', { Vary: 'Accept' });
      return;
    }
    let m;
    if ((m = path.match(/^\/api\/([^/]+)\/?$/))) {
      const doc = discovery.resourceList('', m[1]!);
      if (doc) { writeRaw(res, 200, doc); return; }
    } else if ((m = path.match(/^\/apis\/([^/]+)\/?$/))) {
      const doc = discovery.apiGroupDoc(m[1]!);
      if (doc) { writeRaw(res, 200, doc); return; }
    } else if ((m = path.match(/^\/apis\/([^/]+)\/([^/]+)\/?$/))) {
      const doc = discovery.resourceList(m[1]!, m[2]!);
      if (doc) { writeRaw(res, 200, doc); return; }
    } else if (path === '/openapi/v2') {
      const types = parseMediaTypes(accept);
      if (types.length && !types.some((t) => t.type === 'application/json' || t.type === '*/*' || t.type === 'application/*')) {
        writeRaw(res, 406, JSON.stringify(statusOf(errors.badRequest('only application/json is served')))); return;
      }
      const doc = openapiV2Document();
      if (req.headers['if-none-match'] === doc.etag) { res.writeHead(304, { ETag: doc.etag }); res.end(); return; }
      writeRaw(res, 200, doc.bytes, 'application/json', { ETag: doc.etag });
      return;
    } else if (path === '/openapi/v3' || path === '/openapi/v3/') {
      writeRaw(res, 200, openapiV3IndexDocument().bytes);
      return;
    } else if ((m = path.match(/^\/openapi\/v3\/(.+)$/))) {
      const doc = openapiV3Document(m[1]!);
      if (doc) {
        const hash = query.get('hash');
        if (hash && hash !== doc.hash) {
          // An outdated hash: redirect to the current document, as upstream does.
          res.writeHead(301, { Location: `/openapi/v3/${m[1]}?hash=${doc.hash}` });
          res.end();
          return;
        }
        const cache = hash ? 'public, immutable' : 'no-cache, private';
        writeRaw(res, 200, doc.bytes, 'application/json', { ETag: doc.etag, 'Cache-Control': cache, Expires: hash ? new Date(Date.now() + 365 * 864e5).toUTCString() : '0' });
        return;
      }
    }
    if (path === '/' ) {
      writeRaw(res, 200, JSON.stringify({ paths: ['/api', '/api/v1', '/apis', '/healthz', '/livez', '/openapi/v2', '/openapi/v3', '/readyz', '/version'] }, null, 2));
      return;
    }
    writeRaw(res, 404, JSON.stringify(statusOf(notFoundPath())));
  }

  async function resource(req: IncomingMessage, res: ServerResponse, info: ResourceRequestInfo, query: URLSearchParams, user: HandlerContext['user']): Promise<void> {
    if (!discovery.served(info.group, info.version)) throw notFoundPath();
    const review = findResource(info.group, info.resource);
    if (review?.virtual && review.version === info.version) {
      if (review.namespaced !== !!info.namespace) throw notFoundPath();
      return handleReview(req, res, review, info, user, { authorizers, policy });
    }
    const store = registry.store(info.group, info.resource);
    if (!store || store.info.version !== info.version) throw notFoundPath();
    // Scope checks: namespaced resources by name need a namespace; cluster-scoped ones must not have one.
    if (store.info.namespaced && !info.namespace && (info.name || info.verb === 'create' || info.verb === 'deletecollection' && false)) throw notFoundPath();
    if (!store.info.namespaced && info.namespace && info.resource !== 'namespaces') throw notFoundPath();
    if (info.verb === 'deletecollection' && !info.subresource && !verbsOf(store.info).includes('deletecollection')) throw errors.methodNotAllowed();
    const ctx: HandlerContext = {
      req, res, query, info: info.resource === 'namespaces' ? { ...info, namespace: '' } : info,
      user, registry, store, out: negotiateOutput(req.headers.accept), warnings: [], serviceAccountTokens,
    };
    if (info.resource === 'namespaces' && !info.name && info.namespace) ctx.info.name = info.namespace;
    await handleResource(ctx);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    inflight.add(res);
    let user = anonymous;
    let path = '';
    let info: RequestInfo | undefined;
    let query: URLSearchParams | undefined;
    // Long-running requests (watches, streams) are not in flight in upstream's sense.
    const longRunning = /[?&]watch=(true|1)|\/watch\/|\/(exec|attach|portforward|proxy|log)(\?|$)/.test(req.url ?? '');
    const mutating = req.method !== 'GET' && req.method !== 'HEAD';
    if (!longRunning) metrics.inflight(mutating, 1);
    try {
      const target = parseRequestTarget(req.url);
      path = target.path;
      query = target.query;
      if (await joinRoute(req, res, path)) return;
      const authed = await authenticate(authenticators, req);
      if (!authed && !PUBLIC_PATHS.test(path)) throw errors.unauthorized();
      if (authed) user = await impersonate(req, authed, authorizers);
      // Most requests are not the kubelet proxy's: decided without a promise.
      if (streaming.serves(path) && await streaming.handle(req, res, user)) return;
      info = parseRequestInfo(req.method ?? 'GET', path, query);
      const attrs = authorizationInfo(info, query);
      const d = await authorize(authorizers, user, attrs);
      if (!d.allowed) {
        throw errors.forbidden(forbiddenMessage(user, attrs, d.reason), attrs.isResourceRequest ? { group: attrs.group, resource: attrs.resource, name: attrs.name || undefined } : undefined);
      }
      if (!info.isResourceRequest) await nonResource(req, res, path, query);
      else await resource(req, res, info, query, user);
    } catch (e) {
      if (!isStatusError(e)) log.error({ err: e instanceof Error ? e.stack : String(e), method: req.method, path }, 'request failed');
      if (!res.headersSent) writeError(res, e);
      else if (!res.writableEnded) res.end();
      // Drain what the client still sends so the connection can be reused.
      req.resume();
    } finally {
      inflight.delete(res);
      const ms = performance.now() - t0;
      if (!longRunning) metrics.inflight(mutating, -1);
      metrics.observe({
        method: req.method ?? 'GET', info, code: res.statusCode, seconds: ms / 1000, longRunning,
        dryRun: query?.get('dryRun') === 'All', applyPatch: (req.headers['content-type'] ?? '').startsWith('application/apply-patch'),
      });
      if (ms > 1000 && !(req.url ?? '').includes('watch')) log.warn({ method: req.method, path, ms: Math.round(ms), user: user.name }, 'slow request');
      else log.debug({ method: req.method, url: req.url, code: res.statusCode, ms, user: user.name }, 'request');
    }
  }

  const server: Server = createServer({
    cert: opts.tls.serving.certPem,
    key: opts.tls.serving.keyPem,
    ca: opts.tls.ca.certPem,
    requestCert: true,
    rejectUnauthorized: false,
    ALPNProtocols: ['http/1.1'],
    keepAliveTimeout: 60_000,
    // Watches are long-lived: no request timeout.
    requestTimeout: 0,
  }, (req, res) => { void handle(req, res); });
  server.on('clientError', (err, socket) => {
    log.debug({ err: err.message }, 'client error');
    socket.destroy();
  });
  server.on('upgrade', streaming.upgrade);
  server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake failed'));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, bindAddress, () => { server.off('error', reject); resolve(); });
  });
  port = (server.address() as AddressInfo).port;
  if (!opts.advertiseAddress && bindAddress !== '0.0.0.0' && bindAddress !== '::') advertise = bindAddress;
  const host = bindAddress === '0.0.0.0' || bindAddress === '::' ? '127.0.0.1' : bindAddress;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;

  await registry.start();
  const endpointReconciler = await bootstrap(registry, { advertiseAddress: advertise, port });
  await reconcileBootstrapPolicy(registry, { nodeAuthorizer: nodeAuthorization });
  // Ready only once the authorizer sees the policy just written: components starting
  // next (kubelets as system:nodes) must not meet a 403 from a cache a moment behind.
  await Promise.all(['roles', 'clusterroles', 'rolebindings', 'clusterrolebindings'].map(async (r) => {
    const cache = rbacCache(r);
    const { kvs } = await opts.datastore.range(cache.prefix, { prefix: true });
    await cache.waitFor(Math.max(0, ...kvs.map((kv) => kv.modRevision)), 5000);
  }));
  await graphPopulator?.ready();
  // Allocations leaked by a crash between allocating and writing a Service are released.
  const repair = new AllocatorRepair(opts.datastore, registry.alloc, { servicesPrefix: registry.store('', 'services')!.prefix });
  repair.start();
  ready = true;
  log.info({ url, ms: Math.round(performance.now()) }, 'API server ready');

  return {
    url, port, registry, authenticators, authorizers, policy,
    async close() {
      ready = false;
      // Leave the `kubernetes` Service's endpoints first (upstream RemoveEndpoints), while the datastore is up.
      await endpointReconciler.stop().catch((err: Error) => log.warn({ err: err.message }, 'removing this server from the kubernetes endpoints failed'));
      await repair.stop();
      policy.close();
      graphPopulator?.close();
      registry.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections?.();
        for (const r of inflight) if (!r.writableEnded) r.end();
        setTimeout(() => { server.closeAllConnections?.(); resolve(); }, 1000).unref();
      });
    },
  };
}

function notFoundPath(): Error {
  const e = errors.notFound({ group: '', resource: '' });
  e.status.message = 'the server could not find the requested resource';
  e.status.details = {};
  return e;
}
