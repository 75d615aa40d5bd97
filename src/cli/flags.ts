// Flag parsing and process plumbing shared by the `jotasu` subcommands.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Go-style durations as upstream's flags take them: "40s", "5m0s", "1m30s", "500ms",
 * "1h", "0"; a bare number is seconds. Returns milliseconds.
 */
export function parseDuration(s: string): number {
  const text = s.trim();
  if (!text) throw new Error('invalid duration ""');
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = text;
  while (rest) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!m) throw new Error(`invalid duration ${JSON.stringify(s)} (expected e.g. 5m, 30s, 1m30s, 0)`);
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

/** kube-apiserver's --service-node-port-range: "30000-32767" (inclusive), within 1-65535. */
export function parsePortRange(s: string): [number, number] {
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(s);
  const [lo, hi] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!(lo >= 1 && hi <= 65535 && lo <= hi)) throw new Error(`invalid port range ${JSON.stringify(s)} (expected e.g. 30000-32767)`);
  return [lo, hi];
}

/** Commander argParser for a repeatable, comma-separated list flag. */
export function collect(v: string, prev: string[]): string[] {
  return [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];
}

/** A leader-election identity unique across machines (upstream: hostname_uuid; a pid repeats, e.g. PID 1 in every container). */
export function leaderIdentity(): string {
  return `${hostname()}_${randomUUID()}`;
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
