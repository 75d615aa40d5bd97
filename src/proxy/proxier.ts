// The proxy: informers on Services and EndpointSlices; every change schedules a
// rate-limited sync (at most one per minSyncIntervalMs, coalescing bursts) that
// computes the full desired rule set and writes what changed in one transaction.
import type { Node, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { R } from '../api/resources.js';
import { createInformerFactory } from '../client/informer.js';
import type { ApiClient, InformerFactory, Informer } from '../client/types.js';
import { logger } from '../util/log.js';
import { endpointsMap, servicePorts, type EndpointInfo, type ServicePortInfo } from './model.js';
import { buildRules } from './rules.js';
import { Iptables, makeExec, type Backend, type Exec } from './iptables.js';

export interface ProxyOptions {
  client: ApiClient;
  /** Share an informer factory with other in-process components; else one is made (and started). */
  informers?: InformerFactory;
  nodeName: string;
  /**
   * Pod network, to tell pod traffic from the rest (masqueraded). Undefined: this
   * node's spec.podCIDR (upstream's detect-local-mode NodeCIDR); until known, all
   * service traffic is masqueraded.
   */
  clusterCIDR?: string;
  /** Run iptables/conntrack through this (tests: inside a network namespace). */
  exec?: Exec;
  /** iptables backend; default: whatever the host's `iptables` is. */
  backend?: Backend;
  minSyncIntervalMs?: number;
  /** Rewrite every chain this often, repairing anything changed behind our back. */
  fullSyncPeriodMs?: number;
  /** Prefix of every chain this proxy owns (default JOTASU); one per proxy sharing a host's tables. */
  chainPrefix?: string;
  /** Remove every rule and chain on stop (default true). */
  cleanupOnStop?: boolean;
}

export interface RunningProxy {
  /** Resolves after a sync that saw every change made before the call. */
  syncNow(): Promise<void>;
  stats(): { syncs: number; lastSyncMs: number; lastChains: number; services: number };
  stop(): Promise<void>;
}

export async function startProxy(o: ProxyOptions): Promise<RunningProxy> {
  const log = logger('proxy', { node: o.nodeName, ...(o.chainPrefix ? { chainPrefix: o.chainPrefix } : {}) });
  const exec = o.exec ?? makeExec();
  const ipt = new Iptables(exec, o.backend, o.chainPrefix);
  const minInterval = o.minSyncIntervalMs ?? 100;
  const ownFactory = !o.informers;
  const factory = o.informers ?? createInformerFactory(o.client);
  const svcInf: Informer<Service> = factory.informer<Service>(R.services);
  const sliceInf: Informer<EndpointSlice> = factory.informer<EndpointSlice>(R.endpointslices);
  const nodeInf: Informer<Node> | undefined = o.clusterCIDR === undefined
    ? factory.informer<Node>(R.nodes, { fieldSelector: `metadata.name=${o.nodeName}` }) : undefined;
  const localCIDR = (): string => o.clusterCIDR ?? nodeInf?.store.get(o.nodeName)?.spec?.podCIDR ?? '';

  let stopped = false;
  let dirty = true;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastSyncAt = 0;
  const st = { syncs: 0, lastSyncMs: 0, lastChains: 0, services: 0 };
  let waiters: (() => void)[] = [];
  let prevUdp = new Map<string, { clusterIP: string; eps: Set<string> }>();

  const schedule = (): void => {
    dirty = true;
    if (stopped || running || timer) return;
    const wait = Math.max(0, lastSyncAt + minInterval - Date.now());
    timer = setTimeout(() => { timer = undefined; kick(); }, wait);
  };
  const kick = (): void => {
    if (running || stopped) return;
    running = (async () => {
      while (dirty && !stopped) {
        dirty = false;
        const ws = waiters;
        waiters = [];
        lastSyncAt = Date.now();
        try {
          await syncOnce();
        } catch (e) {
          log.error({ err: (e as Error).message }, 'sync failed; retrying');
          ipt.invalidate();
          dirty = true;
          waiters.push(...ws);
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        for (const w of ws) w();
      }
    })().finally(() => { running = undefined; if (dirty) schedule(); });
  };

  async function syncOnce(): Promise<void> {
    const t0 = performance.now();
    const ports: ServicePortInfo[] = [];
    for (const s of svcInf.store.list()) ports.push(...servicePorts(s));
    const eps = endpointsMap(sliceInf.store.list(), o.nodeName);
    const rs = buildRules(ports, eps, { clusterCIDR: localCIDR(), chainPrefix: o.chainPrefix });
    const { chains, bytes } = await ipt.apply(rs);
    await clearStaleUdp(ports, eps);
    st.syncs++;
    st.lastSyncMs = performance.now() - t0;
    st.lastChains = chains;
    st.services = ports.length;
    log.debug({ ms: Math.round(st.lastSyncMs), chains, bytes, servicePorts: ports.length }, 'synced rules');
  }

  // UDP has no connection end: conntrack keeps steering a client to a removed endpoint
  // (or past a REJECT that became a DNAT) until its entries are deleted, as upstream does.
  async function clearStaleUdp(ports: ServicePortInfo[], eps: Map<string, EndpointInfo[]>): Promise<void> {
    const next = new Map<string, { clusterIP: string; eps: Set<string> }>();
    for (const sp of ports) {
      if (sp.protocol !== 'UDP') continue;
      next.set(sp.name, { clusterIP: sp.clusterIP, eps: new Set((eps.get(sp.name) ?? []).filter((e) => e.ready).map((e) => e.ip)) });
    }
    const jobs: string[][] = [];
    for (const [name, n] of next) {
      const p = prevUdp.get(name);
      if (!p) continue;
      if (p.eps.size === 0 && n.eps.size > 0) jobs.push(['-D', '-p', 'udp', '--orig-dst', n.clusterIP]);
      for (const ip of p.eps) if (!n.eps.has(ip)) jobs.push(['-D', '-p', 'udp', '--orig-dst', p.clusterIP, '--dst-nat', ip]);
    }
    prevUdp = next;
    for (const args of jobs) {
      try { await exec('conntrack', args); } catch { /* conntrack missing: nothing to clear */ }
    }
  }

  const handlers = { onAdd: schedule, onUpdate: (a: unknown, b: unknown) => { if (a !== b) schedule(); }, onDelete: schedule };
  svcInf.addEventHandler(handlers);
  sliceInf.addEventHandler(handlers);
  nodeInf?.addEventHandler({ onAdd: schedule, onUpdate: (a, b) => { if (a.spec?.podCIDR !== b.spec?.podCIDR) schedule(); } });
  if (ownFactory) factory.start();
  await factory.waitForSync();
  const full = setInterval(() => { ipt.invalidate(); schedule(); }, o.fullSyncPeriodMs ?? 3_600_000);
  full.unref();
  schedule();
  await new Promise<void>((r) => { waiters.push(r); });
  log.info({ servicePorts: st.services, ms: Math.round(st.lastSyncMs) }, 'proxy rules programmed');

  return {
    syncNow: () => new Promise<void>((r) => { waiters.push(r); schedule(); }),
    stats: () => ({ ...st }),
    async stop() {
      stopped = true;
      clearInterval(full);
      if (timer) clearTimeout(timer);
      if (ownFactory) factory.stop();
      await running;
      for (const w of waiters) w();
      if (o.cleanupOnStop !== false) {
        const r = await ipt.cleanup();
        log.info(r, 'proxy rules removed');
      }
    },
  };
}
