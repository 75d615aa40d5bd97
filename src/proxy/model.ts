// What the proxy programs, independent of iptables: per service port its addresses
// and policies, per service port its endpoints (from EndpointSlices). Pure functions
// of the informer caches (upstream pkg/proxy ServicePortMap / EndpointsMap).
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface ServicePortInfo {
  /** "namespace/name:portName" (portName may be empty), upstream's ServicePortName. */
  name: string;
  namespace: string;
  service: string;
  portName: string;
  protocol: Protocol;
  clusterIP: string;
  port: number;
  nodePort?: number;
  externalIPs: string[];
  /** Seconds of ClientIP affinity, or 0 for none. */
  affinitySeconds: number;
  externalLocal: boolean;
  internalLocal: boolean;
}

export interface EndpointInfo {
  ip: string;
  port: number;
  /** On this node (for the Local traffic policies). */
  local: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

const isIPv4 = (s: string | undefined): s is string => !!s && /^\d+\.\d+\.\d+\.\d+$/.test(s);

/** The service ports the proxy handles: ClusterIP/NodePort/LoadBalancer services with an IPv4 cluster IP. */
export function servicePorts(svc: Service): ServicePortInfo[] {
  const spec = svc.spec;
  if (!spec || spec.type === 'ExternalName') return [];
  const clusterIP = spec.clusterIP;
  if (!isIPv4(clusterIP)) return []; // headless ("None") or not allocated yet
  const ns = svc.metadata?.namespace ?? 'default';
  const name = svc.metadata?.name ?? '';
  const affinity = spec.sessionAffinity === 'ClientIP'
    ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800) : 0;
  const external = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
  return (spec.ports ?? []).map((p) => ({
    name: `${ns}/${name}:${p.name ?? ''}`,
    namespace: ns,
    service: name,
    portName: p.name ?? '',
    protocol: (p.protocol ?? 'TCP') as Protocol,
    clusterIP,
    port: p.port,
    nodePort: external && p.nodePort ? p.nodePort : undefined,
    externalIPs: (spec.externalIPs ?? []).filter(isIPv4),
    affinitySeconds: affinity,
    externalLocal: (external || (spec.externalIPs?.length ?? 0) > 0) && spec.externalTrafficPolicy === 'Local',
    internalLocal: spec.internalTrafficPolicy === 'Local',
  }));
}

/**
 * Endpoints of every service port, keyed by ServicePortName, merged over all slices of
 * each service. The slice port's name is what matches the service port's name: the
 * EndpointSlice controller already resolved named targetPorts per pod.
 */
export function endpointsMap(slices: Iterable<EndpointSlice>, nodeName: string): Map<string, EndpointInfo[]> {
  const out = new Map<string, EndpointInfo[]>();
  const seen = new Set<string>();
  for (const s of slices) {
    if (s.addressType !== 'IPv4') continue;
    const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!svc) continue;
    const ns = s.metadata?.namespace ?? 'default';
    for (const p of s.ports ?? []) {
      if (p.port === undefined || p.port === null) continue;
      const key = `${ns}/${svc}:${p.name ?? ''}`;
      let list = out.get(key);
      if (!list) out.set(key, (list = []));
      for (const e of s.endpoints ?? []) {
        const ip = e.addresses?.[0];
        if (!isIPv4(ip)) continue;
        const id = `${key}|${ip}:${p.port}|${p.protocol ?? 'TCP'}`;
        if (seen.has(id)) continue; // the same endpoint in two slices (mid-update)
        seen.add(id);
        const c = e.conditions ?? {};
        list.push({
          ip, port: p.port,
          local: !!e.nodeName && e.nodeName === nodeName,
          // Unset conditions mean true, as upstream documents.
          ready: c.ready !== false,
          serving: c.serving ?? c.ready !== false,
          terminating: c.terminating === true,
        });
      }
    }
  }
  for (const list of out.values()) list.sort((a, b) => ipNum(a.ip) - ipNum(b.ip) || a.port - b.port);
  return out;
}

export function ipNum(ip: string): number {
  const p = ip.split('.');
  return ((Number(p[0]) << 24) >>> 0) + (Number(p[1]) << 16) + (Number(p[2]) << 8) + Number(p[3]);
}

/**
 * The endpoints traffic may go to, upstream's CategorizeEndpoints: ready ones; when a
 * Local policy has no ready local endpoint, serving-and-terminating local ones (so a
 * rolling update does not black-hole traffic).
 */
export function categorize(sp: ServicePortInfo, eps: EndpointInfo[]): { cluster: EndpointInfo[]; local: EndpointInfo[]; all: EndpointInfo[]; hasAny: boolean } {
  let cluster = eps.filter((e) => e.ready);
  if (!cluster.length) cluster = eps.filter((e) => e.serving && e.terminating);
  let local: EndpointInfo[] = [];
  if (sp.internalLocal || sp.externalLocal) {
    local = eps.filter((e) => e.local && e.ready);
    if (!local.length) local = eps.filter((e) => e.local && e.serving && e.terminating);
  }
  const all = [...new Set([...cluster, ...local])];
  return { cluster, local, all, hasAny: eps.some((e) => e.ready || (e.serving && e.terminating)) };
}
