// Periodic compaction of the datastore's history, as kube-apiserver does it
// (apiserver/pkg/storage/etcd3/compact.go): every interval, compact up to the revision
// that was current one interval ago, so about one interval of history stays for
// watches and consistent pages; the first compaction comes after two intervals.
//
// Several API servers share one etcd. Upstream elects "the compactor of this round"
// with a CAS on compact_rev_key's version; we use its value (the compacted revision,
// which both backends keep: compactedRevision()) as the same logical clock:
// - if it has not moved since our last tick, nobody compacted: it is our turn;
// - if it moved, another server is compacting: remember the new value and wait.
// So one live server compacts each round; when it dies, another notices within two
// intervals. Two servers that tick together both compact, which is harmless: the
// backend records the compaction with a CAS (etcd.ts) and never goes backwards.
//
// Every tick also tells the watch caches the compacted revision, so a watch from an
// older resourceVersion gets 410 Gone on every server alike, as it would from etcd.
import type { Datastore } from '../datastore/types.js';
import { logger } from '../util/log.js';

const log = logger('apiserver.compactor');

export const DEFAULT_COMPACTION_INTERVAL_MS = 5 * 60_000;

export interface CompactorOptions {
  datastore: Datastore;
  /** 0 disables compaction (upstream: --etcd-compaction-interval=0). */
  intervalMs: number;
  /** Called with the compacted revision after every tick that learned it (0 until the first compaction). */
  onCompacted?: (revision: number) => void;
}

export interface Compactor {
  /** One round now (tests); the timer keeps running. */
  tick(): Promise<void>;
  stop(): void;
}

export function startCompactor(opts: CompactorOptions): Compactor {
  const ds = opts.datastore;
  /** The compacted revision seen at our previous tick; undefined before the first. */
  let seen: number | undefined;
  /** The current revision at our previous tick: what we compact to when it is our turn. */
  let candidate = 0;
  let running: Promise<void> | undefined;
  let stopped = false;

  async function round(): Promise<void> {
    let compacted = await ds.compactedRevision();
    if (seen !== undefined && compacted === seen && candidate > compacted) {
      const t0 = performance.now();
      await ds.compact(candidate);
      compacted = await ds.compactedRevision();
      log.info({ revision: candidate, ms: Math.round(performance.now() - t0) }, 'compacted');
    }
    seen = compacted;
    if (compacted > 0) opts.onCompacted?.(compacted);
    candidate = await ds.currentRevision();
  }

  function tick(): Promise<void> {
    // Never two rounds at once (a slow compaction and the next timer).
    running ??= round()
      .catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'compaction round failed'))
      .finally(() => { running = undefined; });
    return running;
  }

  const timer = opts.intervalMs > 0 ? setInterval(() => { if (!stopped) void tick(); }, opts.intervalMs) : undefined;
  timer?.unref();
  return {
    tick,
    stop() {
      stopped = true;
      if (timer) clearInterval(timer);
    },
  };
}
