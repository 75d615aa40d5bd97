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
import { makeExec, type Exec } from './exec.js';
import type { Backend } from './iptables.js';
import { cleanupOtherMode, createRuleWriter, defaultProxyMode, type ProxyMode } from './mode.js';

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
  /** Run nft/iptables/conntrack through this (tests: inside a network namespace). */
  exec?: Exec;
  /** How the kernel is programmed (kube-proxy's --proxy-mode); default: nftables where `nft` works, else iptables. */
  mode?: ProxyMode;
  /** iptables mode's backend; default: whatever the host's `iptables` is. */
  backend?: Backend;
  minSyncIntervalMs?: number;
  /** Rewrite every chain this often, repairing anything changed behind our back. */
  fullSyncPeriodMs?: number;
  /**
   * Prefix of every iptables chain this proxy owns, and of its nftables table
   * ("<prefix>-proxy"); default JOTASU. One per proxy sharing a host.
   */
  chainPrefix?: string;
  /**
   * iptables mode: NodePorts on 127.0.0.1 as well (kube-proxy's
   * --iptables-localhost-nodeports), setting net.ipv4.conf.all.route_localnet=1 (a
   * host-wide setting, left set on exit as upstream does). nftables mode has no
   * localhost NodePorts, as upstream's.
   */
  localhostNodePorts?: boolean;
  /** Remove every rule, chain and table on stop (default true). */
  cleanupOnStop?: boolean;
}

export interface RunningProxy {
  /** Resolves after a sync that saw every change made before the call. */
  syncNow(): Promise<void>;
  readonly mode: ProxyMode;
  stats(): { syncs: number; lastSyncMs: number; lastChanges: number; services: number };
  stop(): Promise<void>;
}

export async function startProxy(o: ProxyOptions): Promise<RunningProxy> {
  const exec = o.exec ?? makeExec();
  const mode = o.mode ?? await defaultProxyMode(exec);
  const log = logger('proxy', { node: o.nodeName, mode, ...(o.chainPrefix ? { chainPrefix: o.chainPrefix } : {}) });
  const localhostNodePorts = !!o.localhostNodePorts && mode === 'iptables';
  if (o.localhostNodePorts && !localhostNodePorts) log.warn('NodePorts on localhost exist in iptables mode only; ignored');
  if (localhostNodePorts) {
    const r = await exec('sysctl', ['-qw', 'net.ipv4.conf.all.route_localnet=1']);
    if (r.code !== 0) throw new Error(`localhost NodePorts: sysctl net.ipv4.conf.all.route_localnet=1: ${r.stderr.trim()}`);
  }
  const writer = createRuleWriter(mode, exec, { chainPrefix: o.chainPrefix, iptablesBackend: o.backend, localhostNodePorts });
  try {
    const removed = await cleanupOtherMode(mode, exec, { chainPrefix: o.chainPrefix, iptablesBackend: o.backend });
    if (Object.values(removed).some((n) => n > 0)) log.info(removed, 'removed rules the other proxy mode left behind');
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'could not check for rules of the other proxy mode');
  }
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
  let retryTimer: NodeJS.Timeout | undefined;
  let lastSyncAt = 0;
  const st = { syncs: 0, lastSyncMs: 0, lastChanges: 0, services: 0 };
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
          writer.invalidate();
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
    const { changes, bytes, retryInMs } = await writer.write(ports, eps, { clusterCIDR: localCIDR() });
    await clearStaleUdp(ports, eps);
    st.syncs++;
    st.lastSyncMs = performance.now() - t0;
    st.lastChanges = changes;
    st.services = ports.length;
    // Housekeeping left for later (nftables: deleting flushed chains): one more sync then.
    if (retryInMs !== undefined && !retryTimer) {
      retryTimer = setTimeout(() => { retryTimer = undefined; schedule(); }, retryInMs);
      retryTimer.unref();
    }
    log.debug({ ms: Math.round(st.lastSyncMs), changes, bytes, servicePorts: ports.length }, 'synced rules');
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
  const full = setInterval(() => { writer.invalidate(); schedule(); }, o.fullSyncPeriodMs ?? 3_600_000);
  full.unref();
  schedule();
  await new Promise<void>((r) => { waiters.push(r); });
  log.info({ servicePorts: st.services, ms: Math.round(st.lastSyncMs) }, 'proxy rules programmed');

  return {
    mode,
    syncNow: () => new Promise<void>((r) => { waiters.push(r); schedule(); }),
    stats: () => ({ ...st }),
    async stop() {
      stopped = true;
      clearInterval(full);
      if (timer) clearTimeout(timer);
      if (retryTimer) clearTimeout(retryTimer);
      if (ownFactory) factory.stop();
      await running;
      for (const w of waiters) w();
      if (o.cleanupOnStop !== false) {
        const r = await writer.cleanup();
        log.info(r, 'proxy rules removed');
      }
    },
  };
}
