// Per-key exponential back-off as upstream's flowcontrol.Backoff, used for container
// restarts (CrashLoopBackOff) and image pulls (ImagePullBackOff): 10 s doubling to
// 5 min. The first failure is retried at once; the entry is forgotten when it was not
// bumped for 2x the maximum (10 min), which is how upstream "resets after 10 min".
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  now?: () => number;
}

interface Entry { backoffMs: number; lastUpdate: number }

export class Backoff {
  private readonly entries = new Map<string, Entry>();
  readonly initialMs: number;
  readonly maxMs: number;
  private readonly now: () => number;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? 10_000;
    this.maxMs = opts.maxMs ?? 300_000;
    this.now = opts.now ?? Date.now;
  }

  private expired(e: Entry, now: number): boolean {
    return now - e.lastUpdate > 2 * this.maxMs;
  }

  /** Current delay for key (0 when none). */
  get(key: string): number {
    const e = this.entries.get(key);
    return e && !this.expired(e, this.now()) ? e.backoffMs : 0;
  }

  /** True while `eventTime` (e.g. the container's finishedAt) is less than the current delay ago. */
  isInBackOffSince(key: string, eventTime: number): boolean {
    const now = this.now();
    const e = this.entries.get(key);
    if (!e || this.expired(e, now)) return false;
    return now - eventTime < e.backoffMs;
  }

  /** Milliseconds left of the back-off that started at eventTime (0 when none). */
  remaining(key: string, eventTime: number): number {
    const e = this.entries.get(key);
    if (!e || this.expired(e, this.now())) return 0;
    return Math.max(0, eventTime + e.backoffMs - this.now());
  }

  /** Records an attempt: start at the initial delay, or double up to the maximum. */
  next(key: string): void {
    const now = this.now();
    const e = this.entries.get(key);
    if (!e || this.expired(e, now)) this.entries.set(key, { backoffMs: this.initialMs, lastUpdate: now });
    else { e.backoffMs = Math.min(e.backoffMs * 2, this.maxMs); e.lastUpdate = now; }
  }

  reset(key: string): void { this.entries.delete(key); }

  /** Drops every key with the prefix (a pod's entries when it goes away). */
  resetPrefix(prefix: string): void {
    for (const k of this.entries.keys()) if (k.startsWith(prefix)) this.entries.delete(k);
  }

  /** Forget expired entries (housekeeping). */
  gc(): void {
    const now = this.now();
    for (const [k, e] of this.entries) if (this.expired(e, now)) this.entries.delete(k);
  }
}

/** Upstream's wording: "5m0s", "40s", "1m20s". */
export function formatGoDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  const r = s % 60;
  if (m < 60) return `${m}m${r}s`;
  return `${Math.floor(m / 60)}h${m % 60}m${r}s`;
}
