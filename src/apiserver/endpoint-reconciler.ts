// The `kubernetes` Service's Endpoints and EndpointSlice list every live API server,
// as upstream's lease endpoint reconciler does (kube-apiserver's default,
// --endpoint-reconciler-type=lease; pkg/controlplane/reconcilers/lease.go):
//
// - every server keeps a key under /registry/masterleases/ written with a TTL of 15 s
//   (an etcd lease; on SQLite the backend's TTL) and rewrites it every 10 s, upstream's
//   DefaultEndpointReconcilerTTL and DefaultEndpointReconcilerInterval;
// - after each renewal it lists the keys and sets the Endpoints/EndpointSlice to the
//   servers found there; a server that dies stops renewing, its key expires, and the
//   next reconcile of any survivor drops it (within TTL + interval, at most 25 s);
// - on a clean shutdown a server deletes its own key and reconciles once more.
//
// One difference, for servers that share an IP (several on one host): upstream keys a
// lease by IP alone and writes its own port into one subset, because all its servers
// serve the same port. Here the key is IP:port (`[ip]:port` for IPv6) and the value
// (an Endpoints object, as upstream stores) also carries the port, so servers that
// differ only by port are separate entries. Addresses are grouped by port: one
// Endpoints subset per port, and one EndpointSlice per port (and address family): the
// first keeps upstream's name `kubernetes`, the others are `kubernetes-<port>` (or
// `kubernetes-ipv6[-<port>]`); slices of groups that are gone are deleted. With one
// port, as in every usual cluster, the objects are exactly upstream's.
import { isIPv6 } from 'node:net';
import type { EndpointPort, EndpointSubset, Endpoints } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { isStatusError } from '../api/errors.js';
import type { Datastore } from '../datastore/types.js';
import { logger } from '../util/log.js';
import type { Obj } from './objects.js';
import type { Registry } from './registry.js';
import { REGISTRY_ROOT } from './store.js';
import type { StrategyContext } from './strategies/types.js';

const log = logger('apiserver.endpoints');

export const MASTER_LEASES_PREFIX = `${REGISTRY_ROOT}masterleases/`;
/** Upstream's DefaultEndpointReconcilerTTL. */
export const MASTER_LEASE_TTL_SECONDS = 15;
/** Upstream's DefaultEndpointReconcilerInterval. */
export const RECONCILE_INTERVAL_MS = 10_000;

const SERVICE = 'kubernetes';
const NAMESPACE = 'default';
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const SKIP_MIRROR_LABEL = 'endpointslice.kubernetes.io/skip-mirror';

export interface ApiServerAddress {
  ip: string;
  port: number;
}

const ctx: StrategyContext = { user: { name: 'system:apiserver', groups: ['system:masters'] }, dryRun: false, subresource: '' };

export function leaseKey(a: ApiServerAddress): string {
  return `${MASTER_LEASES_PREFIX}${isIPv6(a.ip) ? `[${a.ip}]` : a.ip}:${a.port}`;
}

/** The lease value: an Endpoints object as upstream stores there, plus the port. */
function leaseValue(a: ApiServerAddress, generation: number): string {
  const ep: Endpoints = {
    kind: 'Endpoints',
    apiVersion: 'v1',
    metadata: { name: a.ip, generation },
    subsets: [{ addresses: [{ ip: a.ip }], ports: [{ name: 'https', port: a.port, protocol: 'TCP' }] }],
  };
  return JSON.stringify(ep);
}

/** The servers that hold a lease; `defaultPort` for values without a port (upstream's format). */
export function parseLeases(values: string[], defaultPort: number): ApiServerAddress[] {
  const out: ApiServerAddress[] = [];
  for (const v of values) {
    try {
      const ep = JSON.parse(v) as Endpoints;
      const ip = ep.subsets?.[0]?.addresses?.[0]?.ip;
      if (!ip) continue;
      out.push({ ip, port: ep.subsets?.[0]?.ports?.[0]?.port ?? defaultPort });
    } catch {
      // not ours to interpret
    }
  }
  return out;
}

interface Group {
  port: number;
  ipv6: boolean;
  ips: string[];
}

/** Addresses grouped by (port, family), IPs sorted and unique, groups by family then port. */
export function groupServers(servers: ApiServerAddress[]): Group[] {
  const groups = new Map<string, Group>();
  for (const s of servers) {
    const ipv6 = isIPv6(s.ip);
    const k = `${ipv6 ? 6 : 4}/${s.port}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { port: s.port, ipv6, ips: [] }));
    if (!g.ips.includes(s.ip)) g.ips.push(s.ip);
  }
  for (const g of groups.values()) g.ips.sort();
  return [...groups.values()].sort((a, b) => Number(a.ipv6) - Number(b.ipv6) || a.port - b.port);
}

function ports(port: number): EndpointPort[] {
  return [{ name: 'https', port, protocol: 'TCP' }];
}

export function desiredSubsets(groups: Group[]): EndpointSubset[] {
  return groups.map((g) => ({ addresses: g.ips.map((ip) => ({ ip })), ports: ports(g.port) }));
}

/** The EndpointSlices for the groups: name → slice. */
export function desiredSlices(groups: Group[]): Map<string, EndpointSlice> {
  const out = new Map<string, EndpointSlice>();
  const firstPort: Record<string, number> = {};
  for (const g of groups) {
    const family = g.ipv6 ? 'ipv6' : 'ipv4';
    firstPort[family] ??= g.port;
    // The first group of the primary family keeps upstream's name.
    const base = g.ipv6 ? `${SERVICE}-ipv6` : SERVICE;
    const name = g.port === firstPort[family] ? base : `${base}-${g.port}`;
    out.set(name, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name, namespace: NAMESPACE, labels: { [SERVICE_NAME_LABEL]: SERVICE } },
      addressType: g.ipv6 ? 'IPv6' : 'IPv4',
      endpoints: g.ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
      ports: ports(g.port),
    });
  }
  return out;
}

export interface EndpointReconcilerOptions {
  intervalMs?: number;
  ttlSeconds?: number;
}

export class EndpointReconciler {
  private readonly ds: Datastore;
  private readonly key: string;
  private readonly intervalMs: number;
  private readonly ttlSeconds: number;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private generation = 0;

  constructor(private readonly registry: Registry, readonly self: ApiServerAddress, opts: EndpointReconcilerOptions = {}) {
    this.ds = registry.ds;
    this.key = leaseKey(self);
    this.intervalMs = opts.intervalMs ?? RECONCILE_INTERVAL_MS;
    this.ttlSeconds = opts.ttlSeconds ?? MASTER_LEASE_TTL_SECONDS;
  }

  /** Renews the lease and reconciles now, then every interval. */
  async start(): Promise<void> {
    await this.serialized(() => this.renewAndReconcile());
    this.timer = setInterval(() => {
      void this.serialized(() => this.renewAndReconcile()).catch((err: Error) =>
        log.warn({ err: err.message, self: this.key }, 'reconciling the kubernetes service endpoints failed; retrying next interval'),
      );
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops renewing, removes this server's lease and reconciles without it (upstream RemoveEndpoints). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.serialized(async () => {
      if (this.stopped) return;
      this.stopped = true;
      const kv = await this.ds.get(this.key);
      if (kv) await this.ds.delete(this.key, kv.modRevision);
      await this.reconcile();
    });
  }

  private serialized(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async renewAndReconcile(): Promise<void> {
    if (this.stopped) return;
    await this.renew();
    await this.reconcile();
  }

  /** Writes this server's lease key with a fresh TTL (a CAS loop: create, else update). */
  private async renew(): Promise<void> {
    const opts = { ttlSeconds: this.ttlSeconds };
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await this.ds.get(this.key);
      const value = leaseValue(this.self, ++this.generation);
      const res = cur ? await this.ds.update(this.key, value, cur.modRevision, opts) : await this.ds.create(this.key, value, opts);
      if (res.succeeded) return;
    }
    throw new Error(`master lease ${this.key}: kept changing under concurrent writes`);
  }

  /** The servers that hold a lease now, as a comparable key and their groups. */
  private async listServers(): Promise<{ key: string; groups: Group[] }> {
    const res = await this.ds.range(MASTER_LEASES_PREFIX, { prefix: true });
    const groups = groupServers(parseLeases(res.kvs.map((kv) => kv.value), this.self.port));
    return { key: JSON.stringify(groups), groups };
  }

  private async reconcile(): Promise<void> {
    let cur = await this.listServers();
    // Another server may add or remove its lease while we write (a peer stopping cleanly
    // reconciles at the same moment): our write, made from the older list, could land
    // after its and re-add it until the next interval. So list again after writing and
    // write again if the set changed meanwhile.
    for (let attempt = 0; attempt < 3; attempt++) {
      // As upstream: no lease at all (not even ours) means something is wrong; leave the endpoints be.
      if (cur.groups.length === 0) {
        if (!this.stopped) throw new Error('no API server leases listed in storage; refusing to erase all endpoints of the kubernetes service');
        return;
      }
      await this.syncEndpoints(desiredSubsets(cur.groups));
      await this.syncSlices(desiredSlices(cur.groups));
      const after = await this.listServers();
      if (after.key === cur.key) return;
      cur = after;
    }
  }

  private async syncEndpoints(subsets: EndpointSubset[]): Promise<void> {
    const store = this.registry.store('', 'endpoints')!;
    await store.update(NAMESPACE, SERVICE, ctx, (cur) => {
      const next = (cur ? structuredClone(cur) : { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: SERVICE, namespace: NAMESPACE } }) as Obj;
      next.metadata!.labels = { ...(next.metadata!.labels ?? {}), [SKIP_MIRROR_LABEL]: 'true' };
      next.subsets = subsets;
      delete next.metadata!.resourceVersion;
      return next;
    }, { allowCreate: true });
  }

  private async syncSlices(want: Map<string, EndpointSlice>): Promise<void> {
    const store = this.registry.store('discovery.k8s.io', 'endpointslices')!;
    for (const [name, slice] of want) {
      await store.update(NAMESPACE, name, ctx, (cur) => {
        if (!cur) return structuredClone(slice) as Obj;
        const next = structuredClone(cur);
        next.metadata!.labels = slice.metadata!.labels;
        next.addressType = slice.addressType;
        next.endpoints = slice.endpoints;
        next.ports = slice.ports;
        delete next.metadata!.resourceVersion;
        return next;
      }, { allowCreate: true });
    }
    // Slices of groups that are gone (a port no server serves any more).
    const list = await store.list(NAMESPACE, { filter: (a) => a.labels[SERVICE_NAME_LABEL] === SERVICE });
    for (const raw of list.raws) {
      const name = (JSON.parse(raw) as Obj).metadata?.name as string;
      if (want.has(name)) continue;
      try {
        await store.delete(NAMESPACE, name, {}, ctx);
      } catch (e) {
        if (!isStatusError(e, 'NotFound')) throw e;
      }
    }
  }
}
