// Rate-limited work queue with client-go's workqueue semantics:
// - an item is queued at most once (dirty set); adding it again while queued is a no-op;
// - an item being processed is never handed to a second worker; if it is added while
//   processing, it is queued again when done() is called;
// - FIFO order; addAfter keeps the earliest deadline of an item waiting;
// - addRateLimited waits baseDelay * 2^requeues (capped at maxDelay) per item, forget resets it;
// - after shutDown, add is ignored, get drains what is queued and then returns undefined.
import type { WorkQueue } from './types.js';

export interface WorkQueueOptions {
  name?: string;
  /** First backoff of addRateLimited (client-go: 5 ms). */
  baseDelayMs?: number;
  /** Backoff cap (client-go: 1000 s). */
  maxDelayMs?: number;
}

export interface RateLimitedWorkQueue<K> extends WorkQueue<K> {
  readonly name: string;
  /** True once shutDown was called. */
  shuttingDown(): boolean;
  /** Resolves when nothing is queued or processing (tests, graceful stop). */
  drained(): Promise<void>;
}

export function createWorkQueue<K = string>(opts: WorkQueueOptions = {}): RateLimitedWorkQueue<K> {
  const name = opts.name ?? 'queue';
  const baseDelay = opts.baseDelayMs ?? 5;
  const maxDelay = opts.maxDelayMs ?? 1_000_000;

  // Array with a moving head: O(1) dequeue without shifting.
  let queue: K[] = [];
  let head = 0;
  const dirty = new Set<K>();
  const processing = new Set<K>();
  const waiters: Array<(k: K | undefined) => void> = [];
  const delayed = new Map<K, { at: number; timer: NodeJS.Timeout }>();
  const failures = new Map<K, number>();
  const drainWaiters: Array<() => void> = [];
  let shutting = false;

  const qlen = (): number => queue.length - head;

  function checkDrained(): void {
    if (qlen() === 0 && processing.size === 0 && drainWaiters.length) {
      for (const w of drainWaiters.splice(0)) w();
    }
  }

  function pop(): K {
    const item = queue[head]!;
    queue[head] = undefined as K;
    head++;
    if (head > 1024 && head * 2 > queue.length) { queue = queue.slice(head); head = 0; }
    dirty.delete(item);
    processing.add(item);
    return item;
  }

  /** Enqueue without the shutdown check (re-queue on done). */
  function push(item: K): void {
    const w = waiters.shift();
    if (w) {
      dirty.delete(item);
      processing.add(item);
      w(item);
    } else queue.push(item);
  }

  function add(item: K): void {
    if (shutting || dirty.has(item)) return;
    dirty.add(item);
    if (processing.has(item)) return; // re-queued by done()
    push(item);
  }

  function addAfter(item: K, delayMs: number): void {
    if (shutting) return;
    if (delayMs <= 0) return add(item);
    const at = Date.now() + delayMs;
    const prev = delayed.get(item);
    if (prev) {
      if (prev.at <= at) return; // the earlier deadline wins
      clearTimeout(prev.timer);
    }
    const timer = setTimeout(() => {
      delayed.delete(item);
      add(item);
    }, delayMs);
    delayed.set(item, { at, timer });
  }

  return {
    name,
    add,
    addAfter,
    addRateLimited(item: K): void {
      const n = failures.get(item) ?? 0;
      failures.set(item, n + 1);
      // 2^n overflows to Infinity long before it matters; the cap keeps it finite.
      addAfter(item, Math.min(maxDelay, baseDelay * 2 ** n));
    },
    forget(item: K): void {
      failures.delete(item);
    },
    numRequeues(item: K): number {
      return failures.get(item) ?? 0;
    },
    get(): Promise<K | undefined> {
      if (qlen() > 0) return Promise.resolve(pop());
      if (shutting) return Promise.resolve(undefined);
      return new Promise((r) => waiters.push(r));
    },
    done(item: K): void {
      processing.delete(item);
      if (dirty.has(item)) push(item);
      checkDrained();
    },
    len(): number {
      return qlen();
    },
    shutDown(): void {
      if (shutting) return;
      shutting = true;
      for (const d of delayed.values()) clearTimeout(d.timer);
      delayed.clear();
      for (const w of waiters.splice(0)) w(undefined);
    },
    shuttingDown: () => shutting,
    drained(): Promise<void> {
      if (qlen() === 0 && processing.size === 0) return Promise.resolve();
      return new Promise((r) => drainWaiters.push(r));
    },
  };
}
