// Writes rule sets to the kernel with `iptables-restore --noflush`: one atomic
// transaction per table and sync, touching only this instance's <prefix>-* chains (declaring a chain in
// restore input flushes it; -X deletes it). Only chains whose rules changed since the
// last write are rewritten, so an endpoint change costs a few chains, not all of them.
import type { Exec } from './exec.js';
// Its old home: makeExec moved to exec.js (both modes use it).
export { makeExec, type Exec, type ExecResult } from './exec.js';
import { chainNames, type ChainNames, type Chains, type RuleSet, type Table } from './rules.js';

/** What was last written: chain -> its rules joined, per table. */
export type Written = Record<Table, Map<string, string>>;

const TABLES: Table[] = ['nat', 'filter'];

/**
 * The iptables-restore input turning `prev` into `next`: changed and new chains are
 * declared (which flushes them) and refilled, chains no longer wanted are deleted.
 * With prev undefined for a table every chain is rewritten.
 */
export function restoreInput(prev: Written | undefined, next: RuleSet): { text: string; chains: number; written: Written } {
  const written: Written = { nat: new Map(), filter: new Map() };
  const parts: string[] = [];
  let chains = 0;
  for (const t of TABLES) {
    const want: Chains = next[t];
    const old = prev?.[t];
    const decl: string[] = [], rules: string[] = [], del: string[] = [];
    for (const [chain, list] of want) {
      const body = list.join('\n');
      written[t].set(chain, body);
      if (old && old.get(chain) === body) continue;
      decl.push(`:${chain} - [0:0]`);
      for (const r of list) rules.push(`-A ${chain} ${r}`);
    }
    if (old) for (const chain of old.keys()) {
      if (want.has(chain)) continue;
      decl.push(`:${chain} - [0:0]`); // flush first: it may still reference others being deleted
      del.push(`-X ${chain}`);
    }
    if (!decl.length) continue;
    chains += decl.length;
    parts.push(`*${t}`, ...decl, ...rules, ...del, 'COMMIT');
  }
  return { text: parts.length ? parts.join('\n') + '\n' : '', chains, written };
}

/** Our chains (those named "<prefix>-...") that exist in the kernel, per table (from iptables-save). */
export function parseOwnChains(save: string, prefix = chainNames().prefix): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let table = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) { table = line.slice(1).trim(); continue; }
    if (line.startsWith(`:${prefix}-`)) {
      const name = line.slice(1).split(' ')[0]!;
      (out.get(table) ?? out.set(table, []).get(table)!).push(name);
    }
  }
  return out;
}

export type Backend = 'nft' | 'legacy';

/** The host's iptables backend, as `iptables --version` reports it ("(nf_tables)" or "(legacy)"). */
export async function detectBackend(exec: Exec): Promise<Backend> {
  const r = await exec('iptables', ['--version']);
  return /legacy/.test(r.stdout) ? 'legacy' : 'nft';
}

export class Iptables {
  private written?: Written;
  private readonly bin: { restore: string; save: string; iptables: string };
  readonly names: ChainNames;

  /**
   * Uses the backend the host's `iptables` uses unless told (mixing both on one host is
   * legal but confusing). Owns only the chains and jumps of `chainPrefix` (default JOTASU).
   */
  constructor(private readonly exec: Exec, backend?: Backend, chainPrefix?: string) {
    this.names = chainNames(chainPrefix);
    const sfx = backend ? `-${backend}` : '';
    this.bin = { restore: `iptables${sfx}-restore`, save: `iptables${sfx}-save`, iptables: `iptables${sfx}` };
  }

  /** Forget what was written: the next apply rewrites every chain (periodic full sync, or after an error). */
  invalidate(): void { this.written = undefined; }

  /** Writes the rule set; returns how many chains were declared. */
  async apply(next: RuleSet): Promise<{ chains: number; bytes: number }> {
    let prev = this.written;
    const full = !prev;
    if (!prev) {
      // Unknown kernel state: treat every existing chain of ours as stale or changed.
      prev = { nat: new Map(), filter: new Map() };
      const existing = await this.ownChains();
      for (const t of TABLES) for (const c of existing.get(t) ?? []) prev[t].set(c, '\0unknown');
    }
    const { text, chains, written } = restoreInput(prev, next);
    if (text) {
      const r = await this.exec(this.bin.restore, ['-w', '5', '--noflush'], text);
      if (r.code !== 0) {
        this.written = undefined;
        throw new Error(`iptables-restore failed (${r.code}): ${r.stderr.trim()}${lineHint(r.stderr, text)}`);
      }
    }
    this.written = written;
    // Checking the jumps costs one iptables run each: only on full syncs (start, periodic, after errors).
    if (full) await this.ensureJumps();
    return { chains, bytes: text.length };
  }

  /** One jump from each built-in chain into ours, inserted first (as kube-proxy does). */
  async ensureJumps(): Promise<void> {
    for (const [table, chain, rule] of this.names.jumps) {
      const args = splitArgs(rule);
      const check = await this.exec(this.bin.iptables, ['-w', '5', '-t', table, '-C', chain, ...args]);
      if (check.code === 0) continue;
      const ins = await this.exec(this.bin.iptables, ['-w', '5', '-t', table, '-I', chain, '1', ...args]);
      if (ins.code !== 0) throw new Error(`iptables -t ${table} -I ${chain}: ${ins.stderr.trim()}`);
    }
  }

  async ownChains(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const t of TABLES) {
      const r = await this.exec(this.bin.save, ['-t', t]);
      if (r.code !== 0) continue;
      for (const [k, v] of parseOwnChains(r.stdout, this.names.prefix)) out.set(k, v);
    }
    return out;
  }

  /** Removes our jump rules and every <prefix>-* chain; nothing else (other instances' chains stay). */
  async cleanup(): Promise<{ jumps: number; chains: number }> {
    let jumps = 0;
    for (const [table, chain, rule] of this.names.jumps) {
      const args = splitArgs(rule);
      // Delete every copy (a crashed run may have left duplicates).
      for (let i = 0; i < 100; i++) {
        const r = await this.exec(this.bin.iptables, ['-w', '5', '-t', table, '-D', chain, ...args]);
        if (r.code !== 0) break;
        jumps++;
      }
    }
    const existing = await this.ownChains();
    let chains = 0;
    const parts: string[] = [];
    for (const t of TABLES) {
      const list = existing.get(t) ?? [];
      if (!list.length) continue;
      chains += list.length;
      parts.push(`*${t}`, ...list.map((c) => `:${c} - [0:0]`), ...list.map((c) => `-X ${c}`), 'COMMIT');
    }
    if (parts.length) {
      const r = await this.exec(this.bin.restore, ['-w', '5', '--noflush'], parts.join('\n') + '\n');
      if (r.code !== 0) throw new Error(`iptables-restore (cleanup) failed: ${r.stderr.trim()}`);
    }
    this.written = undefined;
    return { jumps, chains };
  }
}

/** Splits a rule written for restore input into argv (double quotes group words). */
export function splitArgs(rule: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(rule); m; m = re.exec(rule)) out.push(m[1] ?? m[2]!);
  return out;
}

function lineHint(stderr: string, text: string): string {
  const m = /line:? (\d+)/i.exec(stderr);
  if (!m) return '';
  return ` [line ${m[1]}: ${text.split('\n')[Number(m[1]) - 1] ?? ''}]`;
}
