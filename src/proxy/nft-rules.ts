// The rules of kube-proxy's nftables mode, in one table of our own ("ip <prefix>-proxy",
// so that proxies with different prefixes share a host without touching each other).
// A pure function from (service ports, endpoints) to the contents of every regular
// chain, verdict map and affinity set; nftables.ts turns two such states into one
// `nft -f -` transaction that touches only what changed.
//
// Packet paths (as upstream's pkg/proxy/nftables):
//   nat-prerouting/nat-output -> services:
//     ip daddr . l4proto . dport vmap @service-ips   (cluster IPs, external IPs)
//     fib daddr type local (not 127/8) l4proto . dport vmap @service-nodeports
//   service-<svc> (cluster policy) / local-<svc> (node-local endpoints): masquerade
//     off-cluster sources, affinity lookups, then `numgen random mod N vmap` picks an
//     endpoint-<svc>__<ip>/<port> chain with equal probability; that chain marks hairpin
//     traffic for masquerade, records the client in affinity-<...> and DNATs.
//   external-<svc>: NodePort/external IP entry, masquerade or Local policy handling.
//   nat-postrouting -> masquerading: masquerade what mark-for-masquerade marked.
//   filter (priority -110, before nat on output): new connections to services without
//     usable endpoints are rejected (none at all) or dropped (none local) through the
//     no-endpoint-* maps, so clients fail at once.
import { chainHash } from './rules.js';
import { categorize, type EndpointInfo, type ServicePortInfo } from './model.js';

export const NFT_FAMILY = 'ip';

/** Our table: one per chain prefix (the same prefix the iptables mode puts on its chains). */
export function nftTableName(prefix = 'JOTASU'): string {
  if (!/^[A-Za-z0-9_]{1,10}$/.test(prefix)) throw new Error(`invalid chain prefix ${JSON.stringify(prefix)}: 1-10 letters, digits or _`);
  return `${prefix}-proxy`;
}

export interface BaseChain { name: string; type: 'nat' | 'filter'; hook: string; priority: number; rules: string[] }

/** The hook chains; created on full syncs, their rules never change. */
export function baseChains(): BaseChain[] {
  // Filtering must see pre-DNAT destinations: before dstnat (-100) on output.
  return [
    { name: 'filter-input', type: 'filter', hook: 'input', priority: -110, rules: ['ct state new jump external-endpoints-check'] },
    { name: 'filter-forward', type: 'filter', hook: 'forward', priority: -110, rules: ['ct state new jump endpoints-check', 'ct state new jump external-endpoints-check'] },
    { name: 'filter-output', type: 'filter', hook: 'output', priority: -110, rules: ['ct state new jump endpoints-check'] },
    { name: 'nat-prerouting', type: 'nat', hook: 'prerouting', priority: -100, rules: ['jump services'] },
    { name: 'nat-output', type: 'nat', hook: 'output', priority: -100, rules: ['jump services'] },
    { name: 'nat-postrouting', type: 'nat', hook: 'postrouting', priority: 100, rules: ['jump masquerading'] },
  ];
}

/** Verdict maps and their key types. */
export const NFT_MAPS = {
  'service-ips': 'ipv4_addr . inet_proto . inet_service : verdict',
  'service-nodeports': 'inet_proto . inet_service : verdict',
  'no-endpoint-services': 'ipv4_addr . inet_proto . inet_service : verdict',
  'no-endpoint-external': 'ipv4_addr . inet_proto . inet_service : verdict',
  'no-endpoint-nodeports': 'inet_proto . inet_service : verdict',
} as const;
export type NftMapName = keyof typeof NFT_MAPS;
export const NFT_MAP_NAMES = Object.keys(NFT_MAPS) as NftMapName[];

export interface NftRuleSet {
  /** Every regular chain (not the base chains) -> its rules, as written after `add rule ip T <chain> `. */
  chains: Map<string, string[]>;
  /** Map -> element key -> verdict. */
  maps: Record<NftMapName, Map<string, string>>;
  /** ClientIP affinity sets -> their timeout in seconds. */
  sets: Map<string, number>;
}

export interface NftRuleConfig {
  /** Pod network; traffic from outside it to a cluster IP is masqueraded. Empty: masquerade all. */
  clusterCIDR: string;
  /** Firewall mark bit for "masquerade this", upstream's 0x4000. */
  masqMark?: string;
}

const MARK_MASQ = 'mark-for-masquerade';
const REJECT = 'goto reject-chain';
/** nftables names may be 256 bytes long; leave room for the longest kind prefix. */
const BASE_MAX = 240;

/**
 * "HASH-namespace/name/protocol/portName": readable, and unique through the hash even
 * when truncated. These characters are all legal in nft identifiers; "/" never occurs
 * in our fixed chain names, which is how stale per-service chains are recognized.
 */
function nameBase(s: string): string {
  const out = `${chainHash(s).slice(0, 8)}-${s}`;
  return out.length > BASE_MAX ? `${out.slice(0, BASE_MAX - 3)}...` : out;
}
const spBase = (sp: ServicePortInfo): string => nameBase(`${sp.namespace}/${sp.service}/${sp.protocol.toLowerCase()}/${sp.portName}`);
const epBase = (sp: ServicePortInfo, ep: EndpointInfo): string =>
  nameBase(`${sp.namespace}/${sp.service}/${sp.protocol.toLowerCase()}/${sp.portName}__${ep.ip}/${ep.port}`);

export const nftServiceChain = (sp: ServicePortInfo): string => `service-${spBase(sp)}`;
export const nftLocalChain = (sp: ServicePortInfo): string => `local-${spBase(sp)}`;
export const nftExternalChain = (sp: ServicePortInfo): string => `external-${spBase(sp)}`;
export const nftEndpointChain = (sp: ServicePortInfo, ep: EndpointInfo): string => `endpoint-${epBase(sp, ep)}`;
/** The timeout is part of the name: a set's timeout cannot change, a new name replaces it. */
export const nftAffinitySet = (sp: ServicePortInfo, ep: EndpointInfo): string => `affinity-${sp.affinitySeconds}-${epBase(sp, ep)}`;

/** Per-service chains (and affinity sets) have a "/" in their names; our fixed ones never do. */
export const isServiceObjectName = (name: string): boolean => name.includes('/');

/** The fixed regular chains, jumped to from the base chains. */
function fixedChains(mark: string): [string, string[]][] {
  return [
    ['services', [
      'ip daddr . meta l4proto . th dport vmap @service-ips',
      // Loopback is left out, as upstream's nftables mode does (DNAT from 127/8 would need route_localnet).
      'fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports',
    ]],
    [MARK_MASQ, [`mark set mark or ${mark}`]],
    ['masquerading', [
      `mark and ${mark} == 0 return`,
      // Clear the mark so that a re-traversal (e.g. through a tunnel) is not masqueraded twice.
      `mark set mark xor ${mark}`,
      'masquerade fully-random',
    ]],
    ['reject-chain', ['reject']],
    ['endpoints-check', ['ip daddr . meta l4proto . th dport vmap @no-endpoint-services']],
    ['external-endpoints-check', [
      'ip daddr . meta l4proto . th dport vmap @no-endpoint-external',
      'fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports',
    ]],
  ];
}

/** Every regular chain, map element and affinity set, for these services and endpoints. */
export function buildNftRules(services: ServicePortInfo[], endpoints: Map<string, EndpointInfo[]>, cfg: NftRuleConfig): NftRuleSet {
  const mark = cfg.masqMark ?? '0x4000';
  const chains = new Map<string, string[]>(fixedChains(mark));
  const maps = Object.fromEntries(NFT_MAP_NAMES.map((m) => [m, new Map<string, string>()])) as Record<NftMapName, Map<string, string>>;
  const sets = new Map<string, number>();
  // Two services claiming one external IP and port: the first (by name) wins, as the
  // first matching rule does in the iptables mode.
  const put = (m: NftMapName, key: string, verdict: string): void => { if (!maps[m].has(key)) maps[m].set(key, verdict); };

  const sorted = [...services].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.protocol < b.protocol ? -1 : 1));
  for (const sp of sorted) {
    const eps = endpoints.get(sp.name) ?? [];
    const { cluster, local, all, hasAny } = categorize(sp, eps);
    const proto = sp.protocol.toLowerCase();
    const svc = nftServiceChain(sp), svl = nftLocalChain(sp), ext = nftExternalChain(sp);

    // Endpoint chains: hairpin masquerade, affinity record, DNAT.
    for (const ep of all) {
      const rules = [`ip saddr ${ep.ip} jump ${MARK_MASQ}`];
      if (sp.affinitySeconds) {
        const set = nftAffinitySet(sp, ep);
        sets.set(set, sp.affinitySeconds);
        rules.push(`update @${set} { ip saddr }`);
      }
      rules.push(`meta l4proto ${proto} dnat to ${ep.ip}:${ep.port}`);
      chains.set(nftEndpointChain(sp, ep), rules);
    }
    const balance = (list: EndpointInfo[], head: string[]): string[] => {
      const rules = [...head];
      if (sp.affinitySeconds) for (const ep of list) rules.push(`ip saddr @${nftAffinitySet(sp, ep)} goto ${nftEndpointChain(sp, ep)}`);
      if (list.length === 1) rules.push(`goto ${nftEndpointChain(sp, list[0]!)}`);
      else rules.push(`numgen random mod ${list.length} vmap { ${list.map((ep, i) => `${i} : goto ${nftEndpointChain(sp, ep)}`).join(', ')} }`);
      return rules;
    };

    // The cluster IP leads to every endpoint, or to the node-local ones for
    // internalTrafficPolicy Local. Traffic to it from outside the pod network (the node
    // itself, other hosts) is masqueraded, so that replies come back through this node.
    const internal = sp.internalLocal ? local : cluster;
    const masq = `ip daddr ${sp.clusterIP} ${proto} dport ${sp.port}${cfg.clusterCIDR ? ` ip saddr != ${cfg.clusterCIDR}` : ''} jump ${MARK_MASQ}`;
    if (cluster.length) chains.set(svc, balance(cluster, sp.internalLocal ? [] : [masq]));
    if (local.length) chains.set(svl, balance(local, sp.internalLocal ? [masq] : []));
    const cipKey = `${sp.clusterIP} . ${proto} . ${sp.port}`;
    if (internal.length) put('service-ips', cipKey, `goto ${sp.internalLocal ? svl : svc}`);
    else put('no-endpoint-services', cipKey, hasAny ? 'drop' : REJECT);

    // External entry (NodePort, external IPs) goes through the external chain.
    const hasExternal = sp.nodePort !== undefined || sp.externalIPs.length > 0;
    if (!hasExternal) continue;
    const externalUsable = sp.externalLocal ? local.length > 0 || cluster.length > 0 : cluster.length > 0;
    if (externalUsable) {
      const rules: string[] = [];
      if (sp.externalLocal) {
        if (cluster.length) rules.push(
          // Pods and the node itself reaching a NodePort keep cluster-wide semantics (as upstream).
          ...(cfg.clusterCIDR ? [`ip saddr ${cfg.clusterCIDR} goto ${svc}`] : []),
          `fib saddr type local jump ${MARK_MASQ}`,
          `fib saddr type local goto ${svc}`,
        );
        // Everyone else keeps their source address and reaches only this node's endpoints.
        if (local.length) rules.push(`goto ${svl}`);
      } else {
        rules.push(`jump ${MARK_MASQ}`, `goto ${svc}`);
      }
      chains.set(ext, rules);
      if (sp.nodePort !== undefined) put('service-nodeports', `${proto} . ${sp.nodePort}`, `goto ${ext}`);
      for (const ip of sp.externalIPs) put('service-ips', `${ip} . ${proto} . ${sp.port}`, `goto ${ext}`);
    }
    // Nothing to send external traffic to: reject (no endpoints) or drop (none local).
    const externalNone = sp.externalLocal ? local.length === 0 : cluster.length === 0;
    if (externalNone) {
      const verdict = hasAny ? 'drop' : REJECT;
      if (sp.nodePort !== undefined) put('no-endpoint-nodeports', `${proto} . ${sp.nodePort}`, verdict);
      for (const ip of sp.externalIPs) put('no-endpoint-external', `${ip} . ${proto} . ${sp.port}`, verdict);
    }
  }
  return { chains, maps, sets };
}
