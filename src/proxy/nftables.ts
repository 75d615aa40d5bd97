// Writes nftables rule sets with `nft -f -`: one atomic transaction per sync, inside
// our own table only. After the first (full) write, a sync rewrites only the chains
// whose rules changed (add + flush + rules), adds and deletes only the map elements
// and affinity sets that changed; an endpoint change costs a few chains and elements.
//
// Chains that are no longer wanted are flushed at once and deleted in a later sync,
// at least a second later: before Linux 6.2 the kernel releases a map element's
// reference to a chain lazily, and deleting the chain in the same transaction fails
// with EBUSY (upstream kube-proxy does the same).
import type { Exec } from './exec.js';
import { baseChains, isServiceObjectName, NFT_FAMILY, NFT_MAP_NAMES, NFT_MAPS, nftTableName, type NftMapName, type NftRuleSet } from './nft-rules.js';

/** What was last written to the kernel. Chains awaiting deletion are kept with body STALE. */
export interface NftWritten {
  chains: Map<string, string>;
  maps: Record<NftMapName, Map<string, string>>;
  sets: Set<string>;
}

const STALE = '\0stale';
/** How long a flushed chain stays before it is deleted. */
export const STALE_CHAIN_DELAY_MS = 1000;

/** What exists in the kernel in our table (for a full sync over an unknown state). */
export interface NftExisting { chains: string[]; sets: string[] }

export interface NftTransaction {
  text: string;
  /** Chains written (created or rewritten), elements and sets added or deleted, chains flushed or deleted. */
  changes: number;
  written: NftWritten;
  /** Flushed chains -> when they became stale. */
  stale: Map<string, number>;
}

/**
 * The `nft -f` input turning `prev` into `next`. With prev undefined, every object is
 * (re)declared and flushed (a full sync that repairs anything changed behind our back),
 * and `existing` names what else is in the table, to be removed.
 */
export function nftTransaction(table: string, prev: NftWritten | undefined, next: NftRuleSet, stale: Map<string, number>, now: number, existing?: NftExisting): NftTransaction {
  const T = `${NFT_FAMILY} ${table}`;
  const head: string[] = [], decl: string[] = [], flush: string[] = [], rules: string[] = [], delEl: string[] = [], addEl: string[] = [], tail: string[] = [];
  const written: NftWritten = { chains: new Map(), maps: Object.fromEntries(NFT_MAP_NAMES.map((m) => [m, new Map()])) as NftWritten['maps'], sets: new Set(next.sets.keys()) };
  const staleNext = new Map(stale);
  // Full sync: chains that exist get flushed before their rules are written again (all of them when unknown).
  const present = existing && new Set(existing.chains);
  let changes = 0;

  if (!prev) {
    head.push(`add table ${T} { comment "jotasu service proxy"; }`);
    for (const b of baseChains()) {
      head.push(`add chain ${T} ${b.name} { type ${b.type} hook ${b.hook} priority ${b.priority}; }`, `flush chain ${T} ${b.name}`);
      for (const r of b.rules) rules.push(`add rule ${T} ${b.name} ${r}`);
    }
    for (const m of NFT_MAP_NAMES) head.push(`add map ${T} ${m} { type ${NFT_MAPS[m]}; }`, `flush map ${T} ${m}`);
  }
  for (const [set, timeout] of next.sets) {
    // Sets keep their members (the clients' affinity) across syncs; "dynamic" because the
    // kernel adds it anyway once packets update the set, and re-adding must match.
    if (!prev?.sets.has(set)) { decl.push(`add set ${T} ${set} { type ipv4_addr; flags dynamic,timeout; timeout ${timeout}s; }`); changes++; }
  }
  for (const [chain, list] of next.chains) {
    const body = list.join('\n');
    written.chains.set(chain, body);
    staleNext.delete(chain);
    const old = prev?.chains.get(chain);
    if (old === body) continue;
    changes++;
    decl.push(`add chain ${T} ${chain}`);
    if (old !== undefined || (!prev && (!present || present.has(chain)))) flush.push(`flush chain ${T} ${chain}`);
    for (const r of list) rules.push(`add rule ${T} ${chain} ${r}`);
  }
  for (const m of NFT_MAP_NAMES) {
    const want = next.maps[m], old = prev?.maps[m];
    written.maps[m] = want;
    const del: string[] = [], add: string[] = [];
    if (old) for (const [k, v] of old) if (want.get(k) !== v) del.push(k);
    for (const [k, v] of want) if (old?.get(k) !== v) add.push(`${k} : ${v}`);
    if (del.length) delEl.push(`delete element ${T} ${m} { ${del.join(', ')} }`);
    if (add.length) addEl.push(`add element ${T} ${m} { ${add.join(', ')} }`);
    changes += del.length + add.length;
  }
  // Chains no longer wanted: flushed now, deleted once stale long enough.
  const gone = prev ? [...prev.chains.keys()] : (existing?.chains ?? []).filter(isServiceObjectName);
  for (const chain of gone) {
    if (next.chains.has(chain)) continue;
    if (!staleNext.has(chain)) {
      tail.push(`flush chain ${T} ${chain}`);
      staleNext.set(chain, now);
      changes++;
    }
  }
  // Sets no longer wanted go after every flush (the rules using them are gone by then).
  const oldSets = prev ? [...prev.sets] : (existing?.sets ?? []).filter(isServiceObjectName);
  for (const set of oldSets) if (!next.sets.has(set)) { tail.push(`delete set ${T} ${set}`); changes++; }
  for (const [chain, since] of staleNext) {
    if (now - since < STALE_CHAIN_DELAY_MS) { written.chains.set(chain, STALE); continue; }
    tail.push(`delete chain ${T} ${chain}`);
    staleNext.delete(chain);
    changes++;
  }
  const parts = [...head, ...decl, ...flush, ...rules, ...delEl, ...addEl, ...tail];
  return { text: parts.length ? parts.join('\n') + '\n' : '', changes, written, stale: staleNext };
}

// Every kind of expression the rules use, in a transaction the kernel checks (and loads
// the modules for) but never commits: `nft -c` leaves nothing behind.
const PROBE = [
  'add table ip jotasu-probe',
  'add chain ip jotasu-probe pre { type nat hook prerouting priority -100; }',
  'add chain ip jotasu-probe post { type nat hook postrouting priority 100; }',
  'add chain ip jotasu-probe in { type filter hook input priority -110; }',
  'add chain ip jotasu-probe ep',
  'add set ip jotasu-probe aff { type ipv4_addr; flags dynamic,timeout; timeout 10s; }',
  'add map ip jotasu-probe m { type ipv4_addr . inet_proto . inet_service : verdict; }',
  'add rule ip jotasu-probe ep update @aff { ip saddr }',
  'add rule ip jotasu-probe ep meta l4proto tcp dnat to 10.0.0.1:80',
  'add rule ip jotasu-probe pre ip daddr . meta l4proto . th dport vmap @m',
  'add rule ip jotasu-probe pre fib daddr type local numgen random mod 1 vmap { 0 : goto ep }',
  'add rule ip jotasu-probe post mark and 0x4000 == 0 return',
  'add rule ip jotasu-probe post masquerade fully-random',
  'add rule ip jotasu-probe in ct state new reject',
].join('\n') + '\n';

/** Is nftables usable here: the nft binary, a kernel with every feature we use, the privilege? */
export async function nftAvailable(exec: Exec): Promise<boolean> {
  try {
    return (await exec('nft', ['-c', '-f', '-'], PROBE)).code === 0;
  } catch {
    return false; // no nft binary
  }
}

export class Nftables {
  readonly table: string;
  private written?: NftWritten;
  private stale = new Map<string, number>();

  /** Owns the table "ip <chainPrefix>-proxy" and nothing else. */
  constructor(private readonly exec: Exec, chainPrefix?: string) {
    this.table = nftTableName(chainPrefix);
  }

  /** Forget what was written: the next apply rewrites everything (periodic full sync, or after an error). */
  invalidate(): void { this.written = undefined; }

  /**
   * Writes the rule set. `retryInMs`: flushed chains are waiting to be deleted; apply
   * again (with the same or a newer rule set) after that long.
   */
  async apply(next: NftRuleSet): Promise<{ changes: number; bytes: number; retryInMs?: number }> {
    const now = Date.now();
    const existing = this.written ? undefined : await this.listExisting();
    const tx = nftTransaction(this.table, this.written, next, this.stale, now, existing);
    if (tx.text) {
      const r = await this.exec('nft', ['-f', '-'], tx.text);
      if (r.code !== 0) {
        this.written = undefined;
        throw new Error(`nft -f failed (${r.code}): ${r.stderr.trim().split('\n').slice(0, 6).join(' | ')}`);
      }
    }
    this.written = tx.written;
    this.stale = tx.stale;
    const oldest = Math.min(...this.stale.values());
    return { changes: tx.changes, bytes: tx.text.length, ...(this.stale.size ? { retryInMs: Math.max(0, oldest + STALE_CHAIN_DELAY_MS - now) + 50 } : {}) };
  }

  /** Chains and sets (maps included) in our table; empty when the table does not exist. */
  async listExisting(): Promise<NftExisting> {
    const list = async (what: 'chains' | 'sets' | 'maps'): Promise<string[]> => {
      const r = await this.exec('nft', ['-j', '-t', 'list', what, NFT_FAMILY]);
      if (r.code !== 0) throw new Error(`nft list ${what}: ${r.stderr.trim()}`);
      const items = (JSON.parse(r.stdout) as { nftables?: Record<string, { table?: string; name?: string }>[] }).nftables ?? [];
      return items.map((i) => i.chain ?? i.set ?? i.map).filter((o) => o?.table === this.table).map((o) => o!.name!);
    };
    return { chains: await list('chains'), sets: [...await list('sets'), ...await list('maps')] };
  }

  async exists(): Promise<boolean> {
    return (await this.exec('nft', ['list', 'table', NFT_FAMILY, this.table])).code === 0;
  }

  /** Deletes our table (and with it every chain, map and set in it); nothing else. */
  async cleanup(): Promise<{ tables: number }> {
    this.written = undefined;
    this.stale.clear();
    if (!await this.exists()) return { tables: 0 };
    // "add" first makes the delete succeed even if the table vanished meanwhile.
    const T = `${NFT_FAMILY} ${this.table}`;
    const r = await this.exec('nft', ['-f', '-'], `add table ${T}\ndelete table ${T}\n`);
    if (r.code !== 0) throw new Error(`nft delete table ${T}: ${r.stderr.trim()}`);
    return { tables: 1 };
  }
}
