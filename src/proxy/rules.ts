// The iptables rules of kube-proxy's iptables mode, in chains of our own (JOTASU-*).
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

export const CHAIN_PREFIX = 'JOTASU-';
export const SERVICES = 'JOTASU-SERVICES';
export const EXTERNAL_SERVICES = 'JOTASU-EXTERNAL-SERVICES';
export const NODEPORTS = 'JOTASU-NODEPORTS';
export const POSTROUTING = 'JOTASU-POSTROUTING';
export const MARK_MASQ = 'JOTASU-MARK-MASQ';
export const FORWARD = 'JOTASU-FORWARD';

export interface RuleConfig {
  /** Pod network; traffic from outside it to a cluster IP is masqueraded. Empty: masquerade all. */
  clusterCIDR: string;
  /** Firewall mark bit for "masquerade this", upstream's 0x4000 (bit 14). */
  masqMark?: string;
}

export type Table = 'nat' | 'filter';
/** Chain name -> rules (the arguments after "-A <chain>"), for every chain we own. */
export type Chains = Map<string, string[]>;
export interface RuleSet { nat: Chains; filter: Chains }

/** Jump rules from the built-in chains into ours: [table, builtin chain, rule args]. */
export const JUMPS: readonly (readonly [Table, string, string])[] = [
  ['nat', 'PREROUTING', `-m comment --comment "jotasu service portals" -j ${SERVICES}`],
  ['nat', 'OUTPUT', `-m comment --comment "jotasu service portals" -j ${SERVICES}`],
  ['nat', 'POSTROUTING', `-m comment --comment "jotasu postrouting rules" -j ${POSTROUTING}`],
  ['filter', 'INPUT', `-m conntrack --ctstate NEW -m comment --comment "jotasu externally-visible service portals" -j ${EXTERNAL_SERVICES}`],
  ['filter', 'OUTPUT', `-m conntrack --ctstate NEW -m comment --comment "jotasu service portals" -j ${SERVICES}`],
  ['filter', 'FORWARD', `-m comment --comment "jotasu forwarding rules" -j ${FORWARD}`],
];

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

export const svcChain = (sp: ServicePortInfo): string => `JOTASU-SVC-${chainHash(sp.name + sp.protocol)}`;
export const svlChain = (sp: ServicePortInfo): string => `JOTASU-SVL-${chainHash(sp.name + sp.protocol)}`;
export const extChain = (sp: ServicePortInfo): string => `JOTASU-EXT-${chainHash(sp.name + sp.protocol)}`;
export const sepChain = (sp: ServicePortInfo, ep: EndpointInfo): string =>
  `JOTASU-SEP-${chainHash(`${sp.name}${sp.protocol}${ep.ip}:${ep.port}`)}`;

const proto = (sp: ServicePortInfo): string => sp.protocol.toLowerCase();
const comment = (s: string): string => `-m comment --comment "${s.replace(/"/g, '')}"`;

/** Every rule of every chain we own, for these services and endpoints. */
export function buildRules(services: ServicePortInfo[], endpoints: Map<string, EndpointInfo[]>, cfg: RuleConfig): RuleSet {
  const mark = cfg.masqMark ?? '0x4000';
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
  // Last: anything to a local address may be a NodePort. Loopback is left out: DNAT
  // from 127.0.0.1 would need route_localnet, a host-wide setting we do not change.
  natServices.push(`${comment('jotasu service nodeports; NOTE: this must be the last rule in this chain')} -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j ${NODEPORTS}`);
  return { nat, filter };
}
