// Repair of the ClusterIP and NodePort allocations (upstream: the repair controllers
// of pkg/registry/core/service/{ipallocator,portallocator}/controller). A crash between
// allocating and writing the Service leaves a key nobody uses; a Service restored or
// written without its key leaves an address that could be handed out twice. Each pass:
// - claims the keys of addresses Services use but that have no key;
// - releases keys no Service uses, once they were unused on `passesBeforeRelease`
//   passes spanning at least `graceMs`, so an allocation whose Service write is still
//   in flight is never taken back. Releases are compare-and-delete on the key's
//   modRevision: a key claimed again meanwhile is left alone.
import type { Datastore } from '../datastore/types.js';
import type { Allocators } from './allocators.js';
import { SERVICE_IPS_PREFIX, NODE_PORTS_PREFIX } from './allocators.js';
import { logger } from '../util/log.js';

const log = logger('apiserver.allocator-repair');

export interface RepairOptions {
  /** The key prefix of stored Services. */
  servicesPrefix: string;
  /** How often a pass runs (upstream: 3 min). */
  intervalMs?: number;
  /** How long a key must stay unused before it is released. */
  graceMs?: number;
  /** And on how many consecutive passes (upstream: numRepairsBeforeLeakCleanup = 3). */
  passesBeforeRelease?: number;
  now?: () => number;
}

export interface RepairResult { released: string[]; claimed: string[] }

export class AllocatorRepair {
  /** Unused keys: when first seen unused, how many passes since, and at which modRevision. */
  private readonly leaks = new Map<string, { since: number; passes: number; modRevision: number }>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(private readonly ds: Datastore, private readonly alloc: Allocators, private readonly opts: RepairOptions) {}

  start(): void {
    const every = this.opts.intervalMs ?? 180_000;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.runOnce()
        .catch((e: Error) => log.warn({ err: e.message }, 'allocator repair pass failed'))
        .finally(() => { this.running = undefined; });
    }, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass; exported for tests. */
  async runOnce(): Promise<RepairResult> {
    const now = (this.opts.now ?? Date.now)();
    const grace = this.opts.graceMs ?? 60_000;
    const passes = this.opts.passesBeforeRelease ?? 3;
    // Keys first, Services second: a Service written in between is seen, so its key is not taken for a leak.
    const [ips, ports] = await Promise.all([
      this.ds.range(SERVICE_IPS_PREFIX, { prefix: true }),
      this.ds.range(NODE_PORTS_PREFIX, { prefix: true }),
    ]);
    const services = await this.ds.range(this.opts.servicesPrefix, { prefix: true });
    const used = new Map<string, string>(); // allocation key -> owner
    for (const kv of services.kvs) {
      let svc: { metadata?: { namespace?: string; name?: string }; spec?: { clusterIP?: string; clusterIPs?: string[]; ports?: { nodePort?: number }[] } };
      try { svc = JSON.parse(kv.value); } catch { continue; }
      const owner = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
      for (const ip of new Set([svc.spec?.clusterIP, ...(svc.spec?.clusterIPs ?? [])])) {
        if (ip && ip !== 'None' && this.alloc.serviceCIDR.contains(ip)) used.set(this.alloc.ipKey(ip), owner);
      }
      const [lo, hi] = this.alloc.nodePortRange;
      for (const p of svc.spec?.ports ?? []) {
        if (p.nodePort && p.nodePort >= lo && p.nodePort <= hi) used.set(this.alloc.portKey(p.nodePort), owner);
      }
    }
    const result: RepairResult = { released: [], claimed: [] };
    const existing = new Set<string>();
    for (const kv of [...ips.kvs, ...ports.kvs]) {
      existing.add(kv.key);
      if (used.has(kv.key)) { this.leaks.delete(kv.key); continue; }
      const l = this.leaks.get(kv.key);
      if (!l || l.modRevision !== kv.modRevision) {
        // Newly unused (or claimed again since): start counting.
        this.leaks.set(kv.key, { since: now, passes: 1, modRevision: kv.modRevision });
        continue;
      }
      l.passes++;
      if (l.passes < passes || now - l.since < grace) continue;
      const r = await this.ds.delete(kv.key, kv.modRevision);
      this.leaks.delete(kv.key);
      if (r.succeeded) {
        result.released.push(kv.key);
        log.info({ key: kv.key, owner: kv.value }, 'released an allocation no Service uses');
      }
    }
    for (const k of this.leaks.keys()) if (!existing.has(k)) this.leaks.delete(k);
    for (const [key, owner] of used) {
      if (existing.has(key)) continue;
      const r = await this.ds.create(key, owner);
      if (r.succeeded) {
        result.claimed.push(key);
        log.warn({ key, owner }, 'a Service used an address that was not allocated; allocated it');
      }
    }
    return result;
  }
}
