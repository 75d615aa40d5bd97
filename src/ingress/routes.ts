// The routing table of the ingress controller, compiled from every Ingress of our
// class (networking.k8s.io/v1 semantics) so that a request costs a map lookup and a
// short scan: exact hosts in a Map, `*.` wildcards matching exactly one label,
// rules without a host last; per host, Exact paths in a Map and Prefix paths sorted
// longest first (element-wise: /foo matches /foo and /foo/bar, not /foobar). Equal
// lengths: Exact beats Prefix. Nothing matches: the oldest Ingress' defaultBackend,
// else 404. Backends resolve service port -> endpoints once per rebuild.
import type { Ingress, IngressBackend, IngressClass } from 'kubernetes-types/networking/v1.js';
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';

export const CONTROLLER_NAME = 'jotasu.io/ingress-controller';
export const CLASS_NAME = 'jotasu';
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';

/** A resolved backend: the Service's ready endpoints for the referenced port. */
export interface Backend {
  /** "namespace/service:port" for logs and errors. */
  id: string;
  /** "ip:port" targets; empty: 503. */
  targets: { host: string; port: number }[];
  /** Round-robin cursor. */
  next: number;
  /** Why there are no targets (service or port missing, no ready endpoints). */
  problem?: string;
}

interface PathRule { path: string; exact: boolean; segs: number; backend: Backend }
interface HostRules { exact: Map<string, Backend>; prefixes: PathRule[] }

export interface RouteTable {
  hosts: Map<string, HostRules>;
  /** "*.example.com" is stored as "example.com". */
  wildcards: Map<string, HostRules>;
  anyHost?: HostRules;
  defaultBackend?: Backend;
  /** host -> secret key "namespace/name" for TLS. */
  tls: Map<string, string>;
  /** Wildcard TLS hosts, stored like wildcards. */
  tlsWildcards: Map<string, string>;
}

export type BackendResolver = (namespace: string, b: IngressBackend) => Backend;

/** Is this Ingress ours? Its class is ours, or it names none and ours is the default class. */
export function isOurs(ing: Ingress, classes: IngressClass[]): boolean {
  const cls = ing.spec?.ingressClassName ?? ing.metadata?.annotations?.['kubernetes.io/ingress.class'];
  if (cls) {
    const c = classes.find((x) => x.metadata?.name === cls);
    return cls === CLASS_NAME || c?.spec?.controller === CONTROLLER_NAME;
  }
  const defaults = classes.filter((c) => c.metadata?.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true');
  return defaults.some((c) => c.spec?.controller === CONTROLLER_NAME);
}

const segCount = (p: string): number => p.split('/').filter(Boolean).length;

/** Builds the table; older Ingresses win conflicts (same host + path), as most controllers do. */
export function compileRoutes(ingresses: Ingress[], resolve: BackendResolver): RouteTable {
  const t: RouteTable = { hosts: new Map(), wildcards: new Map(), tls: new Map(), tlsWildcards: new Map() };
  const sorted = [...ingresses].sort((a, b) =>
    (a.metadata?.creationTimestamp ?? '').localeCompare(b.metadata?.creationTimestamp ?? '')
    || `${a.metadata?.namespace}/${a.metadata?.name}`.localeCompare(`${b.metadata?.namespace}/${b.metadata?.name}`));
  const rulesFor = (host: string | undefined): HostRules => {
    const fresh = (): HostRules => ({ exact: new Map(), prefixes: [] });
    if (!host) return (t.anyHost ??= fresh());
    const h = host.toLowerCase();
    const [map, key] = h.startsWith('*.') ? [t.wildcards, h.slice(2)] : [t.hosts, h];
    let r = map.get(key);
    if (!r) map.set(key, (r = fresh()));
    return r;
  };
  for (const ing of sorted) {
    const ns = ing.metadata?.namespace ?? 'default';
    const spec = ing.spec ?? {};
    if (spec.defaultBackend && !t.defaultBackend) t.defaultBackend = resolve(ns, spec.defaultBackend);
    for (const tls of spec.tls ?? []) {
      if (!tls.secretName) continue;
      for (const h of tls.hosts ?? []) {
        const l = h.toLowerCase();
        const [map, key] = l.startsWith('*.') ? [t.tlsWildcards, l.slice(2)] : [t.tls, l];
        if (!map.has(key)) map.set(key, `${ns}/${tls.secretName}`);
      }
    }
    for (const rule of spec.rules ?? []) {
      const hr = rulesFor(rule.host);
      for (const p of rule.http?.paths ?? []) {
        const backend = resolve(ns, p.backend);
        const path = p.path || '/';
        if (p.pathType === 'Exact') {
          if (!hr.exact.has(path)) hr.exact.set(path, backend);
        } else {
          // Prefix and ImplementationSpecific (treated as Prefix); a trailing slash is ignored.
          const norm = path === '/' ? '/' : path.replace(/\/+$/, '');
          if (!hr.prefixes.some((x) => x.path === norm)) hr.prefixes.push({ path: norm, exact: false, segs: segCount(norm), backend });
        }
      }
    }
  }
  const order = (r: HostRules): void => { r.prefixes.sort((a, b) => b.segs - a.segs || b.path.length - a.path.length); };
  for (const r of t.hosts.values()) order(r);
  for (const r of t.wildcards.values()) order(r);
  if (t.anyHost) order(t.anyHost);
  return t;
}

/** Does the Prefix rule `prefix` match request path `path` element-wise? */
export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 47 /* / */;
}

function matchPath(r: HostRules, path: string): Backend | undefined {
  const exact = r.exact.get(path);
  if (exact) {
    // Exact wins unless a longer prefix matches (longest match first, Exact on ties).
    const segs = segCount(path);
    for (const p of r.prefixes) {
      if (p.segs <= segs) break;
      if (prefixMatches(p.path, path)) return p.backend;
    }
    return exact;
  }
  for (const p of r.prefixes) if (prefixMatches(p.path, path)) return p.backend;
  return undefined;
}

/** The backend for a request, or undefined (404). `host` lower-case without port. */
export function route(t: RouteTable, host: string, path: string): Backend | undefined {
  const hr = t.hosts.get(host);
  if (hr) { const b = matchPath(hr, path); if (b) return b; }
  const dot = host.indexOf('.');
  if (dot > 0 && t.wildcards.size) {
    const wr = t.wildcards.get(host.slice(dot + 1));
    if (wr) { const b = matchPath(wr, path); if (b) return b; }
  }
  if (t.anyHost) { const b = matchPath(t.anyHost, path); if (b) return b; }
  return t.defaultBackend;
}

/** The TLS secret for an SNI name. */
export function tlsSecretFor(t: RouteTable, servername: string): string | undefined {
  const h = servername.toLowerCase();
  const exact = t.tls.get(h);
  if (exact) return exact;
  const dot = h.indexOf('.');
  return dot > 0 ? t.tlsWildcards.get(h.slice(dot + 1)) : undefined;
}

/**
 * Resolves a service backend to ready endpoints: the service port (by number or
 * name) gives the port name, the EndpointSlice port of that name the target port
 * (named targetPorts were resolved per pod by the EndpointSlice controller).
 */
export function makeBackendResolver(
  service: (ns: string, name: string) => Service | undefined,
  slices: (ns: string, name: string) => EndpointSlice[],
): BackendResolver {
  const cache = new Map<string, Backend>();
  return (ns, b) => {
    const s = b.service;
    const portRef = s?.port?.number ?? s?.port?.name ?? '';
    const id = `${ns}/${s?.name ?? '?'}:${portRef}`;
    const hit = cache.get(id);
    if (hit) return hit;
    const be: Backend = { id, targets: [], next: 0 };
    cache.set(id, be);
    if (!s?.name) { be.problem = 'resource backends are not supported'; return be; }
    const svc = service(ns, s.name);
    if (!svc) { be.problem = `service ${ns}/${s.name} not found`; return be; }
    const sp = (svc.spec?.ports ?? []).find((p) => (s.port?.number !== undefined ? p.port === s.port.number : p.name === s.port?.name));
    if (!sp) { be.problem = `service ${ns}/${s.name} has no port ${portRef}`; return be; }
    if (svc.spec?.type === 'ExternalName' && svc.spec.externalName) {
      be.targets.push({ host: svc.spec.externalName, port: sp.port });
      return be;
    }
    const want = sp.name ?? '';
    const seen = new Set<string>();
    for (const sl of slices(ns, s.name)) {
      if (sl.addressType !== 'IPv4') continue;
      const port = (sl.ports ?? []).find((p) => (p.name ?? '') === want && (p.protocol ?? 'TCP') === 'TCP')?.port;
      if (port === undefined || port === null) continue;
      for (const e of sl.endpoints ?? []) {
        if (e.conditions?.ready === false) continue;
        const ip = e.addresses?.[0];
        if (!ip || seen.has(`${ip}:${port}`)) continue;
        seen.add(`${ip}:${port}`);
        be.targets.push({ host: ip, port });
      }
    }
    be.targets.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.port - b.port));
    if (!be.targets.length) be.problem = `service ${ns}/${s.name} has no ready endpoints`;
    return be;
  };
}
