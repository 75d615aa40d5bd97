// Cluster DNS answers (the Kubernetes DNS specification, as CoreDNS' kubernetes
// plugin implements it) from Services and EndpointSlices:
//   <svc>.<ns>.svc.<zone>               A: cluster IP; headless: one A per ready endpoint;
//                                      ExternalName: CNAME
//   <host>.<svc>.<ns>.svc.<zone>        A: a headless endpoint (hostname or dashed IP)
//   _<port>._<proto>.<svc>.<ns>.svc...  SRV for named ports
//   a-b-c-d.<ns>.pod.<zone>             A (CoreDNS "pods insecure")
//   d.c.b.a.in-addr.arpa                PTR for cluster IPs and endpoint IPs
// A name that exists with no record of the asked type is NODATA (NOERROR, empty);
// one that does not exist is NXDOMAIN. Pure: the server feeds it lookups.
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';

export interface RR {
  name: string;
  type: 'A' | 'SRV' | 'PTR' | 'CNAME' | 'SOA';
  ttl: number;
  data: string | { priority: number; weight: number; port: number; target: string } | Record<string, string | number>;
}

export type Rcode = 'NOERROR' | 'NXDOMAIN' | 'REFUSED';

export interface Answer { rcode: Rcode; answers: RR[]; additionals: RR[]; authoritative: boolean }

export interface Lookup {
  service(namespace: string, name: string): Service | undefined;
  slices(namespace: string, service: string): EndpointSlice[];
  hasNamespace(namespace: string): boolean;
  /** IP -> names for PTR (cluster IPs and endpoint IPs). */
  reverse(ip: string): string[];
}

export const TTL = 5;

const dashed = (ip: string): string => ip.replace(/\./g, '-');
const isIPv4 = (s: string): boolean => /^\d+\.\d+\.\d+\.\d+$/.test(s);

export function soa(zone: string): RR {
  return {
    name: zone, type: 'SOA', ttl: TTL,
    data: { mname: `ns.dns.${zone}`, rname: `hostmaster.${zone}`, serial: Math.floor(Date.now() / 1000), refresh: 7200, retry: 1800, expire: 86400, minimum: TTL },
  };
}

/** Ready endpoints (addresses with hostnames) of a service, over all its slices. */
export function readyEndpoints(slices: EndpointSlice[]): { ip: string; hostname?: string; ports: { name: string; port: number; protocol: string }[] }[] {
  const out = new Map<string, { ip: string; hostname?: string; ports: { name: string; port: number; protocol: string }[] }>();
  for (const s of slices) {
    if (s.addressType !== 'IPv4') continue;
    const ports = (s.ports ?? []).filter((p) => p.port !== undefined).map((p) => ({ name: p.name ?? '', port: p.port!, protocol: p.protocol ?? 'TCP' }));
    for (const e of s.endpoints ?? []) {
      if (e.conditions?.ready === false) continue;
      for (const ip of e.addresses ?? []) {
        const cur = out.get(ip);
        if (cur) cur.ports.push(...ports);
        else out.set(ip, { ip, hostname: e.hostname, ports: [...ports] });
      }
    }
  }
  return [...out.values()];
}

export class Resolver {
  readonly zone: string;
  constructor(zone: string, private readonly db: Lookup) { this.zone = zone.toLowerCase().replace(/\.$/, ''); }

  /** Is the name ours to answer (the cluster zone or the reverse zone)? */
  inZone(name: string): boolean {
    const n = name.toLowerCase().replace(/\.$/, '');
    return n === this.zone || n.endsWith('.' + this.zone) || n.endsWith('.in-addr.arpa');
  }

  resolve(qname: string, qtype: string): Answer {
    const name = qname.toLowerCase().replace(/\.$/, '');
    if (name.endsWith('.in-addr.arpa')) return this.ptr(name, qtype);
    if (!(name === this.zone || name.endsWith('.' + this.zone))) return { rcode: 'REFUSED', answers: [], additionals: [], authoritative: false };
    const labels = name === this.zone ? [] : name.slice(0, -(this.zone.length + 1)).split('.');
    const found = this.records(labels, name);
    if (!found) return this.nx();
    if (qtype === 'SOA' && labels.length === 0) return this.ok([soa(this.zone)]);
    const answers = found.rrs.filter((r) => qtype === 'ANY' || r.type === qtype || r.type === 'CNAME');
    return this.ok(answers, answers.length ? found.extra : []);
  }

  private ok(answers: RR[], additionals: RR[] = []): Answer {
    return { rcode: 'NOERROR', answers, additionals, authoritative: true };
  }
  private nx(): Answer { return { rcode: 'NXDOMAIN', answers: [], additionals: [], authoritative: true }; }

  /** Every record at `name`, or undefined when the name does not exist. */
  private records(l: string[], name: string): { rrs: RR[]; extra: RR[] } | undefined {
    const none = { rrs: [], extra: [] };
    const n = l.length;
    if (n === 0) return none; // the zone apex
    const kind = l[n - 1];
    if (kind === 'svc') {
      if (n === 1) return none;
      const ns = l[n - 2]!;
      if (n === 2) return this.db.hasNamespace(ns) ? none : undefined;
      const svcName = l[n - 3]!;
      const svc = this.db.service(ns, svcName);
      if (!svc) return undefined;
      const base = `${svcName}.${ns}.svc.${this.zone}`;
      if (n === 3) return this.serviceRecords(svc, base);
      if (n === 4) return this.endpointRecord(svc, base, l[0]!, name);
      if (n === 5 && l[0]!.startsWith('_') && l[1]!.startsWith('_')) return this.srv(svc, base, l[0]!.slice(1), l[1]!.slice(1), name);
      return undefined;
    }
    if (kind === 'pod') {
      if (n === 1) return none;
      if (n === 2) return this.db.hasNamespace(l[0]!) ? none : undefined;
      if (n !== 3) return undefined;
      const ip = l[0]!.replace(/-/g, '.');
      if (!isIPv4(ip) || ip.split('.').some((o) => Number(o) > 255)) return undefined;
      return { rrs: [{ name, type: 'A', ttl: TTL, data: ip }], extra: [] };
    }
    return undefined;
  }

  private serviceRecords(svc: Service, base: string): { rrs: RR[]; extra: RR[] } {
    const spec = svc.spec ?? {};
    if (spec.type === 'ExternalName' && spec.externalName) {
      return { rrs: [{ name: base, type: 'CNAME', ttl: TTL, data: spec.externalName.replace(/\.$/, '') }], extra: [] };
    }
    const rrs: RR[] = [];
    const extra: RR[] = [];
    if (spec.clusterIP === 'None') {
      for (const ep of readyEndpoints(this.db.slices(svc.metadata!.namespace!, svc.metadata!.name!))) {
        rrs.push({ name: base, type: 'A', ttl: TTL, data: ep.ip });
        for (const p of ep.ports) {
          const target = `${ep.hostname ?? dashed(ep.ip)}.${base}`;
          rrs.push({ name: base, type: 'SRV', ttl: TTL, data: { priority: 0, weight: 100, port: p.port, target } });
          extra.push({ name: target, type: 'A', ttl: TTL, data: ep.ip });
        }
      }
    } else if (spec.clusterIP) {
      rrs.push({ name: base, type: 'A', ttl: TTL, data: spec.clusterIP });
      for (const p of spec.ports ?? []) rrs.push({ name: base, type: 'SRV', ttl: TTL, data: { priority: 0, weight: 100, port: p.port, target: base } });
      if (spec.ports?.length) extra.push({ name: base, type: 'A', ttl: TTL, data: spec.clusterIP });
    }
    return { rrs, extra };
  }

  private endpointRecord(svc: Service, base: string, host: string, name: string): { rrs: RR[]; extra: RR[] } | undefined {
    if (svc.spec?.clusterIP !== 'None') return undefined;
    const eps = readyEndpoints(this.db.slices(svc.metadata!.namespace!, svc.metadata!.name!));
    const rrs: RR[] = eps.filter((e) => (e.hostname ?? dashed(e.ip)) === host || dashed(e.ip) === host)
      .map((e) => ({ name, type: 'A' as const, ttl: TTL, data: e.ip }));
    return rrs.length ? { rrs, extra: [] } : undefined;
  }

  private srv(svc: Service, base: string, port: string, proto: string, name: string): { rrs: RR[]; extra: RR[] } | undefined {
    const spec = svc.spec ?? {};
    const sp = (spec.ports ?? []).find((p) => p.name && p.name.toLowerCase() === port && (p.protocol ?? 'TCP').toLowerCase() === proto);
    if (!sp) return undefined;
    const rrs: RR[] = [], extra: RR[] = [];
    if (spec.clusterIP === 'None') {
      for (const ep of readyEndpoints(this.db.slices(svc.metadata!.namespace!, svc.metadata!.name!))) {
        const p = ep.ports.find((x) => x.name === sp.name && x.protocol === (sp.protocol ?? 'TCP'));
        if (!p) continue;
        const target = `${ep.hostname ?? dashed(ep.ip)}.${base}`;
        rrs.push({ name, type: 'SRV', ttl: TTL, data: { priority: 0, weight: 100, port: p.port, target } });
        extra.push({ name: target, type: 'A', ttl: TTL, data: ep.ip });
      }
    } else if (spec.clusterIP) {
      rrs.push({ name, type: 'SRV', ttl: TTL, data: { priority: 0, weight: 100, port: sp.port, target: base } });
      extra.push({ name: base, type: 'A', ttl: TTL, data: spec.clusterIP });
    }
    return { rrs, extra };
  }

  private ptr(name: string, qtype: string): Answer {
    const parts = name.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4) {
      return parts.length < 4 && parts.every((p) => /^\d+$/.test(p)) ? this.ok([]) : this.nx();
    }
    const ip = parts.reverse().join('.');
    const names = this.db.reverse(ip);
    if (!names.length) return this.nx();
    if (qtype !== 'PTR' && qtype !== 'ANY') return this.ok([]);
    return this.ok(names.map((n) => ({ name, type: 'PTR', ttl: TTL, data: n })));
  }
}

/** Reverse names for every cluster IP and ready endpoint (CoreDNS' PTR semantics). */
export function buildReverse(zone: string, services: Service[], slicesOf: (ns: string, svc: string) => EndpointSlice[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (ip: string, n: string): void => { const l = out.get(ip); if (l) { if (!l.includes(n)) l.push(n); } else out.set(ip, [n]); };
  for (const s of services) {
    const ns = s.metadata?.namespace ?? '', name = s.metadata?.name ?? '';
    const base = `${name}.${ns}.svc.${zone}`;
    const cip = s.spec?.clusterIP;
    if (cip && cip !== 'None') add(cip, base);
    for (const ep of readyEndpoints(slicesOf(ns, name))) add(ep.ip, `${ep.hostname ?? dashed(ep.ip)}.${base}`);
  }
  return out;
}
