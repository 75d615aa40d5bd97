// The proxy's two ways of programming the kernel, as kube-proxy's --proxy-mode:
// "iptables" (chains of our own in the host's nat/filter tables, iptables-restore) and
// "nftables" (a table of our own, nft -f). Both take the same service ports and
// endpoints and keep the same semantics; the proxier does not care which one runs.
import type { EndpointInfo, ServicePortInfo } from './model.js';
import type { Exec } from './exec.js';
import { Iptables, type Backend } from './iptables.js';
import { buildRules } from './rules.js';
import { Nftables, nftAvailable } from './nftables.js';
import { buildNftRules } from './nft-rules.js';

export type ProxyMode = 'iptables' | 'nftables';
export const PROXY_MODES: readonly ProxyMode[] = ['iptables', 'nftables'];

export function parseProxyMode(s: string | undefined): ProxyMode | undefined {
  if (s === undefined || s === '' || s === 'auto') return undefined;
  if (s === 'iptables' || s === 'nftables') return s;
  throw new Error(`--proxy-mode: unknown mode ${JSON.stringify(s)} (iptables or nftables)`);
}

/** nftables where `nft` works on this host (binary, kernel support, privilege), else iptables. */
export async function defaultProxyMode(exec: Exec): Promise<ProxyMode> {
  return (await nftAvailable(exec)) ? 'nftables' : 'iptables';
}

export interface WriteResult {
  /** Objects written: chains declared (iptables) or chains, elements and sets changed (nftables). */
  changes: number;
  bytes: number;
  /** Write again after this long (nftables: flushed chains waiting to be deleted). */
  retryInMs?: number;
}

export interface RuleWriter {
  readonly mode: ProxyMode;
  write(ports: ServicePortInfo[], eps: Map<string, EndpointInfo[]>, cfg: { clusterCIDR: string }): Promise<WriteResult>;
  /** Forget what was written: the next write rewrites everything. */
  invalidate(): void;
  /** Removes everything this instance created in the kernel. */
  cleanup(): Promise<Record<string, number>>;
}

export function createRuleWriter(mode: ProxyMode, exec: Exec, o: { chainPrefix?: string; iptablesBackend?: Backend; localhostNodePorts?: boolean } = {}): RuleWriter {
  if (mode === 'nftables') {
    const nft = new Nftables(exec, o.chainPrefix);
    return {
      mode,
      write: async (ports, eps, cfg) => nft.apply(buildNftRules(ports, eps, cfg)),
      invalidate: () => nft.invalidate(),
      cleanup: () => nft.cleanup(),
    };
  }
  const ipt = new Iptables(exec, o.iptablesBackend, o.chainPrefix);
  return {
    mode,
    write: async (ports, eps, cfg) => {
      const { chains, bytes } = await ipt.apply(buildRules(ports, eps, { clusterCIDR: cfg.clusterCIDR, chainPrefix: o.chainPrefix, localhostNodePorts: o.localhostNodePorts }));
      return { changes: chains, bytes };
    },
    invalidate: () => ipt.invalidate(),
    cleanup: () => ipt.cleanup(),
  };
}

/**
 * `jotasu proxy --cleanup`: whatever any mode of this prefix left behind (a previous run
 * may have used another mode or iptables backend). Returns what was removed, and the
 * errors of tools that exist but failed (a tool that is not installed is no error).
 */
export async function cleanupAllModes(exec: Exec, chainPrefix?: string): Promise<{ removed: { what: string; counts: Record<string, number> }[]; errors: string[] }> {
  const removed: { what: string; counts: Record<string, number> }[] = [];
  const errors: string[] = [];
  const attempt = async (what: string, fn: () => Promise<Record<string, number>>): Promise<void> => {
    try {
      const counts = await fn();
      if (Object.values(counts).some((n) => n > 0)) removed.push({ what, counts });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') errors.push(`${what}: ${(e as Error).message}`);
    }
  };
  await attempt('iptables (nft)', () => new Iptables(exec, 'nft', chainPrefix).cleanup());
  // Legacy tables exist only once something used them; merely looking would create them
  // (and make every iptables-nft call on the host warn about them).
  if (await legacyTablesExist(exec)) await attempt('iptables (legacy)', () => new Iptables(exec, 'legacy', chainPrefix).cleanup());
  if (await nftAvailable(exec)) await attempt('nftables', () => new Nftables(exec, chainPrefix).cleanup());
  return { removed, errors };
}

async function legacyTablesExist(exec: Exec): Promise<boolean> {
  try {
    const r = await exec('cat', ['/proc/net/ip_tables_names']);
    return r.code === 0 && r.stdout.trim() !== '';
  } catch { return false; }
}

/**
 * What the other mode of this prefix left behind (a run before a mode switch): both
 * would otherwise steer the same traffic. kube-proxy does the same at startup.
 */
export async function cleanupOtherMode(mode: ProxyMode, exec: Exec, o: { chainPrefix?: string; iptablesBackend?: Backend } = {}): Promise<Record<string, number>> {
  if (mode === 'nftables') return new Iptables(exec, o.iptablesBackend, o.chainPrefix).cleanup();
  if (!await nftAvailable(exec)) return {};
  return new Nftables(exec, o.chainPrefix).cleanup();
}
