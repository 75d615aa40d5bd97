// The iptables rules of kube-proxy's iptables mode, in chains of our own (JOTASU-* by
// default; each instance can have its own prefix, see chainNames).
// A pure function from (service ports, endpoints) to the full contents of every chain
// we own in the nat and filter tables; iptables.ts turns two such states into one
// iptables-restore transaction.
//
// Packet paths (as upstream):
//   nat PREROUTING/OUTPUT -> JOTASU-SERVICES -> JOTASU-SVC-<h> (cluster IP)
//        -> JOTASU-SEP-<h> (DNAT to one endpoint, chosen with -m statistic)
//   JOTASU-SERVICES (dst local) -> JOTASU-NODEPORTS -> JOTASU-EXT-<h> -> SVC/SVL
//   JOTASU-SVL-<h>: node-local endpoints only (internal/externalTrafficPolicy Local)
//   nat POSTROUTING -> JOTASU-POSTROUTING: MASQUERADE what JOTASU-MARK-MASQ marked
//   filter: JOTASU-SERVICES / JOTASU-EXTERNAL-SERVICES REJECT (or DROP) new
//   connections to services without usable endpoints, so clients fail at once.
import { createHash } from 'node:crypto';
import { categorize, type EndpointInfo, type ServicePortInfo } from './model.js';

/**
 * The names of one proxy instance's chains. Every chain starts with "<prefix>-", so
 * proxies with different prefixes (test clusters sharing a host, two clusters on one
 * machine) never touch each other's chains or jump rules. A prefix is 1-10 letters,
 * digits or underscores (no "-": "A-" must not also match "A-B-..."); the per-service
 * hash is shortened for long prefixes to stay within iptables' 28-character names.
 */
export interface ChainNames {
  prefix: string;
  SERVICES: string;
  EXTERNAL_SERVICES: string;
  NODEPORTS: string;
  POSTROUTING: string;
  MARK_MASQ: string;
  FORWARD: string;
  /** Jump rules from the built-in chains into ours: [table, builtin chain, rule args]. */
  jumps: readonly (readonly [Table, string, string])[];
  svc(sp: ServicePortInfo): string;
  svl(sp: ServicePortInfo): string;
  ext(sp: ServicePortInfo): string;
  sep(sp: ServicePortInfo, ep: EndpointInfo): string;
}

export const DEFAULT_CHAIN_PREFIX = 'JOTASU';
const MAX_CHAIN = 28;

export function validChainPrefix(prefix: string): boolean {
  return /^[A-Za-z0-9_]{1,10}$/.test(prefix);
}

const namesCache = new Map<string, ChainNames>();

export function chainNames(prefix = DEFAULT_CHAIN_PREFIX): ChainNames {
  const cached = namesCache.get(prefix);
  if (cached) return cached;
  if (!validChainPrefix(prefix)) throw new Error(`invalid iptables chain prefix ${JSON.stringify(prefix)}: 1-10 letters, digits or _`);
  const p = `${prefix}-`;
  // "<prefix>-SEP-<hash>" must fit.
  const hashLen = Math.min(16, MAX_CHAIN - p.length - 4);
  const h = (s: string): string => chainHash(s).slice(0, hashLen);
  const SERVICES = `${p}SERVICES`, POSTROUTING = `${p}POSTROUTING`, EXTERNAL_SERVICES = `${p}EXTERNAL-SERVICES`, FORWARD = `${p}FORWARD`;
  // The prefix is in the comments too, so `iptables -L` tells the instances apart.
  const tag = prefix === DEFAULT_CHAIN_PREFIX ? 'jotasu' : `jotasu ${prefix}`;
  const n: ChainNames = {
    prefix, SERVICES, EXTERNAL_SERVICES, NODEPORTS: `${p}NODEPORTS`, POSTROUTING, MARK_MASQ: `${p}MARK-MASQ`, FORWARD,
    jumps: [
      ['nat', 'PREROUTING', `-m comment --comment "${tag} service portals" -j ${SERVICES}`],
      ['nat', 'OUTPUT', `-m comment --comment "${tag} service portals" -j ${SERVICES}`],
      ['nat', 'POSTROUTING', `-m comment --comment "${tag} postrouting rules" -j ${POSTROUTING}`],
      ['filter', 'INPUT', `-m conntrack --ctstate NEW -m comment --comment "${tag} externally-visible service portals" -j ${EXTERNAL_SERVICES}`],
      ['filter', 'OUTPUT', `-m conntrack --ctstate NEW -m comment --comment "${tag} service portals" -j ${SERVICES}`],
      ['filter', 'FORWARD', `-m comment --comment "${tag} forwarding rules" -j ${FORWARD}`],
    ],
    svc: (sp) => `${p}SVC-${h(sp.name + sp.protocol)}`,
    svl: (sp) => `${p}SVL-${h(sp.name + sp.protocol)}`,
    ext: (sp) => `${p}EXT-${h(sp.name + sp.protocol)}`,
    sep: (sp, ep) => `${p}SEP-${h(`${sp.name}${sp.protocol}${ep.ip}:${ep.port}`)}`,
  };
  namesCache.set(prefix, n);
  return n;
}

const DEFAULT_NAMES = chainNames();
/** The default instance's names (JOTASU-*). */
export const CHAIN_PREFIX = `${DEFAULT_CHAIN_PREFIX}-`;
export const SERVICES = DEFAULT_NAMES.SERVICES;
export const EXTERNAL_SERVICES = DEFAULT_NAMES.EXTERNAL_SERVICES;
export const NODEPORTS = DEFAULT_NAMES.NODEPORTS;
export const POSTROUTING = DEFAULT_NAMES.POSTROUTING;
export const MARK_MASQ = DEFAULT_NAMES.MARK_MASQ;
export const FORWARD = DEFAULT_NAMES.FORWARD;

export interface RuleConfig {
  /** Pod network; traffic from outside it to a cluster IP is masqueraded. Empty: masquerade all. */
  clusterCIDR: string;
  /** Firewall mark bit for "masquerade this", upstream's 0x4000 (bit 14). */
  masqMark?: string;
  /** This instance's chain prefix (default JOTASU). */
  chainPrefix?: string;
  /**
   * NodePorts on 127.0.0.1 too (kube-proxy's --iptables-localhost-nodeports); needs
   * net.ipv4.conf.all.route_localnet=1, which the proxy then sets (see proxier.ts).
   */
  localhostNodePorts?: boolean;
}

export type Table = 'nat' | 'filter';
/** Chain name -> rules (the arguments after "-A <chain>"), for every chain we own. */
export type Chains = Map<string, string[]>;
export interface RuleSet { nat: Chains; filter: Chains }

export const JUMPS = DEFAULT_NAMES.jumps;

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const hashCache = new Map<string, string>();

/** 16 base32 characters of sha256, as upstream names its per-service chains. */
export function chainHash(s: string): string {
  let h = hashCache.get(s);
  if (h) return h;
  const d = createHash('sha256').update(s).digest();
  let out = '', bits = 0, val = 0;
  for (let i = 0; out.length < 16; i++) {
    val = (val << 8) | d[i]!;
    bits += 8;
    while (bits >= 5 && out.length < 16) { out += B32[(val >>> (bits - 5)) & 31]; bits -= 5; }
    val &= (1 << bits) - 1;
  }
  if (hashCache.size > 200_000) hashCache.clear();
  hashCache.set(s, out);
  return out;
}

export const svcChain = DEFAULT_NAMES.svc;
export const svlChain = DEFAULT_NAMES.svl;
export const extChain = DEFAULT_NAMES.ext;
export const sepChain = DEFAULT_NAMES.sep;

const proto = (sp: ServicePortInfo): string => sp.protocol.toLowerCase();
const comment = (s: string): string => `-m comment --comment "${s.replace(/"/g, '')}"`;

/** Every rule of every chain we own, for these services and endpoints. */
export function buildRules(services: ServicePortInfo[], endpoints: Map<string, EndpointInfo[]>, cfg: RuleConfig): RuleSet {
  const mark = cfg.masqMark ?? '0x4000';
  const { SERVICES, EXTERNAL_SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ, FORWARD, svc: svcChain, svl: svlChain, ext: extChain, sep: sepChain } = chainNames(cfg.chainPrefix);
  const nat: Chains = new Map();
  const filter: Chains = new Map();
  const natServices: string[] = [];
  const nodePorts: string[] = [];
  const fServices: string[] = [];
  const fExternal: string[] = [];
  nat.set(SERVICES, natServices);
  nat.set(NODEPORTS, nodePorts);
  nat.set(MARK_MASQ, [`-j MARK --or-mark ${mark}`]);
  nat.set(POSTROUTING, [
    `-m mark ! --mark ${mark}/${mark} -j RETURN`,
    // Clear the mark so that a re-traversal (e.g. through a tunnel) is not masqueraded twice.
    `-j MARK --xor-mark ${mark}`,
    `${comment('jotasu service traffic requiring SNAT')} -j MASQUERADE --random-fully`,
  ]);
  filter.set(SERVICES, fServices);
  filter.set(EXTERNAL_SERVICES, fExternal);
  // route_localnet lets packets from outside reach 127/8: drop those not DNATed by us
  // (upstream's KUBE-FIREWALL rule, CVE-2020-8558). Only new connections come here.
  if (cfg.localhostNodePorts) fExternal.push(`${comment('block incoming localnet connections')} ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m conntrack ! --ctstate DNAT -j DROP`);
  filter.set(FORWARD, [
    `-m conntrack --ctstate NEW -j ${SERVICES}`,
    `-m conntrack --ctstate NEW -j ${EXTERNAL_SERVICES}`,
    `${comment('jotasu forwarding rules')} -m mark --mark ${mark}/${mark} -j ACCEPT`,
    `${comment('jotasu forwarding conntrack rule')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  ]);

  const sorted = [...services].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.protocol < b.protocol ? -1 : 1));
  for (const sp of sorted) {
    const eps = endpoints.get(sp.name) ?? [];
    const { cluster, local, all, hasAny } = categorize(sp, eps);
    const p = proto(sp);
    const dport = `-p ${p} -m ${p} --dport`;
    const svc = svcChain(sp), svl = svlChain(sp), ext = extChain(sp);

    // Endpoint chains: hairpin masquerade, then DNAT (recording the client for affinity).
    for (const ep of all) {
      const sep = sepChain(sp, ep);
      const recent = sp.affinitySeconds ? ` -m recent --name ${sep} --mask 255.255.255.255 --rsource --set` : '';
      nat.set(sep, [
        `${comment(sp.name)} -s ${ep.ip}/32 -j ${MARK_MASQ}`,
        `${comment(sp.name)} -p ${p}${recent} -m ${p} -j DNAT --to-destination ${ep.ip}:${ep.port}`,
      ]);
    }
    const balance = (chain: string, list: EndpointInfo[], head: string[]): void => {
      const rules = [...head];
      if (sp.affinitySeconds) {
        for (const ep of list) {
          const sep = sepChain(sp, ep);
          rules.push(`${comment(`${sp.name} -> ${ep.ip}:${ep.port}`)} -m recent --name ${sep} --mask 255.255.255.255 --rsource --rcheck --seconds ${sp.affinitySeconds} --reap -j ${sep}`);
        }
      }
      const n = list.length;
      list.forEach((ep, i) => {
        const stat = i < n - 1 ? ` -m statistic --mode random --probability ${(1 / (n - i)).toFixed(10)}` : '';
        rules.push(`${comment(`${sp.name} -> ${ep.ip}:${ep.port}`)}${stat} -j ${sepChain(sp, ep)}`);
      });
      nat.set(chain, rules);
    };
    if (cluster.length) {
      // Traffic to the cluster IP from outside the pod network (the node itself, other
      // hosts) is masqueraded, so that replies come back through this node.
      const masq = cfg.clusterCIDR
        ? `${comment(`${sp.name} cluster IP`)} ! -s ${cfg.clusterCIDR} -d ${sp.clusterIP}/32 ${dport} ${sp.port} -j ${MARK_MASQ}`
        : `${comment(`${sp.name} cluster IP`)} -d ${sp.clusterIP}/32 ${dport} ${sp.port} -j ${MARK_MASQ}`;
      balance(svc, cluster, [masq]);
    }
    if (local.length) balance(svl, local, []);

    // Where the cluster IP leads: all endpoints, or node-local ones for internalTrafficPolicy Local.
    const internal = sp.internalLocal ? local : cluster;
    const internalTarget = sp.internalLocal ? svl : svc;
    const cipMatch = `-d ${sp.clusterIP}/32 ${dport} ${sp.port}`;
    if (internal.length) natServices.push(`${comment(`${sp.name} cluster IP`)} ${cipMatch} -j ${internalTarget}`);
    else fServices.push(`${comment(`${sp.name} has no ${hasAny ? 'local ' : ''}endpoints`)} ${cipMatch} -j ${hasAny ? 'DROP' : 'REJECT'}`);

    // External entry (NodePort, external IPs) goes through the EXT chain.
    const externalUsable = sp.externalLocal ? local.length > 0 || cluster.length > 0 : cluster.length > 0;
    const hasExternal = sp.nodePort !== undefined || sp.externalIPs.length > 0;
    if (hasExternal && externalUsable) {
      if (sp.externalLocal) {
        const rules: string[] = [];
        if (cluster.length) rules.push(
          // Pods and the node itself reaching a NodePort keep cluster-wide semantics (as upstream).
          ...(cfg.clusterCIDR ? [`${comment('pod traffic for external destinations')} -s ${cfg.clusterCIDR} -j ${svc}`] : []),
          `${comment('masquerade LOCAL traffic for external destinations')} -m addrtype --src-type LOCAL -j ${MARK_MASQ}`,
          `${comment('route LOCAL traffic for external destinations')} -m addrtype --src-type LOCAL -j ${svc}`,
        );
        // Everyone else keeps their source address and reaches only this node's endpoints.
        if (local.length) rules.push(`-j ${svl}`);
        nat.set(ext, rules);
      } else {
        nat.set(ext, [
          `${comment('masquerade traffic for external destinations')} -j ${MARK_MASQ}`,
          `-j ${svc}`,
        ]);
      }
      if (sp.nodePort !== undefined) nodePorts.push(`${comment(`${sp.name} node port`)} -p ${p} -m ${p} --dport ${sp.nodePort} -j ${ext}`);
      for (const ip of sp.externalIPs) natServices.push(`${comment(`${sp.name} external IP`)} -d ${ip}/32 ${dport} ${sp.port} -j ${ext}`);
    }
    // Nothing to send external traffic to: reject (no endpoints) or drop (none local).
    const externalNone = sp.externalLocal ? local.length === 0 : cluster.length === 0;
    if (hasExternal && externalNone) {
      const target = hasAny ? 'DROP' : 'REJECT';
      const why = comment(`${sp.name} has no ${hasAny ? 'local ' : ''}endpoints`);
      if (sp.nodePort !== undefined) fExternal.push(`${why} -m addrtype --dst-type LOCAL -p ${p} -m ${p} --dport ${sp.nodePort} -j ${target}`);
      for (const ip of sp.externalIPs) fExternal.push(`${why} -d ${ip}/32 ${dport} ${sp.port} -j ${target}`);
    }
  }
  // Last: anything to a local address may be a NodePort. Loopback only when asked for:
  // DNAT from 127.0.0.1 needs route_localnet, a host-wide setting.
  const loopback = cfg.localhostNodePorts ? '' : ' ! -d 127.0.0.0/8';
  natServices.push(`${comment('jotasu service nodeports; NOTE: this must be the last rule in this chain')} -m addrtype --dst-type LOCAL${loopback} -j ${NODEPORTS}`);
  return { nat, filter };
}
