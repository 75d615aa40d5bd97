// The scheduling queue, after upstream's PriorityQueue: activeQ (by priority, then
// arrival), backoffQ (pods waiting out 1 s→10 s exponential backoff) and the
// unschedulable set (pods no node could take, parked until a cluster event that may
// help them: a node appears or changes, a bound pod leaves...). Pods rejected while a
// move request happened during their cycle go to backoff instead of being parked, so
// that no event is lost.
import type { Pod } from 'kubernetes-types/core/v1.js';
import { KeyedHeap } from './heap.js';
import { podKey } from './nodeinfo.js';

export interface QueuedPod {
  pod: Pod;
  key: string;
  /** When it last entered a queue; orders pods of equal priority. */
  timestamp: number;
  /** First time it was popped; the start of its scheduling latency. */
  initialAttemptTimestamp?: number;
  attempts: number;
  /** Plugins that rejected it in its last attempt; events move it only if one of them may now pass. */
  unschedulablePlugins: Set<string>;
  /** The scheduling cycle in which it was last popped. */
  cycle: number;
}

export interface QueueOptions {
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Parked pods are retried anyway after this long (upstream: 5 minutes). */
  maxUnschedulableMs?: number;
  now?: () => number;
}

function priority(p: Pod): number { return p.spec?.priority ?? 0; }

function specChanged(a: Pod, b: Pod): boolean {
  // Status writes (our own PodScheduled condition) must not un-park a pod.
  return JSON.stringify(a.spec) !== JSON.stringify(b.spec)
    || JSON.stringify(a.metadata?.labels) !== JSON.stringify(b.metadata?.labels)
    || JSON.stringify(a.metadata?.annotations) !== JSON.stringify(b.metadata?.annotations);
}

export class SchedulingQueue {
  private readonly active = new KeyedHeap<QueuedPod>((q) => q.key, (a, b) => {
    const pa = priority(a.pod), pb = priority(b.pod);
    return pa !== pb ? pa > pb : a.timestamp < b.timestamp;
  });
  private readonly backoff = new KeyedHeap<QueuedPod>((q) => q.key, (a, b) => this.backoffExpiry(a) < this.backoffExpiry(b));
  private readonly unschedulable = new Map<string, QueuedPod>();
  /** Popped pods whose attempt has not ended yet; holds their newest object. */
  private readonly inFlight = new Map<string, { pod: Pod | undefined }>();
  private waiters: ((q: QueuedPod | undefined) => void)[] = [];
  private schedulingCycle = 0;
  private moveRequestCycle = -1;
  private closed = false;
  private backoffTimer: NodeJS.Timeout | undefined;
  private backoffTimerAt = Infinity;
  private readonly flushTimer: NodeJS.Timeout;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxUnschedulableMs: number;
  private readonly now: () => number;

  constructor(opts: QueueOptions = {}) {
    this.initialBackoffMs = opts.initialBackoffMs ?? 1000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.maxUnschedulableMs = opts.maxUnschedulableMs ?? 5 * 60_000;
    this.now = opts.now ?? Date.now;
    this.flushTimer = setInterval(() => this.flushUnschedulableLeftover(), 30_000);
    this.flushTimer.unref();
  }

  backoffDuration(q: QueuedPod): number {
    let d = this.initialBackoffMs;
    for (let i = 1; i < q.attempts && d < this.maxBackoffMs; i++) d *= 2;
    return Math.min(d, this.maxBackoffMs);
  }

  backoffExpiry(q: QueuedPod): number {
    return q.timestamp + this.backoffDuration(q);
  }

  /** A new pending pod. */
  add(pod: Pod): void {
    const key = podKey(pod);
    if (this.inFlight.has(key)) { this.inFlight.get(key)!.pod = pod; return; }
    if (this.active.has(key) || this.backoff.has(key) || this.unschedulable.has(key)) { this.update(pod, pod); return; }
    this.pushActive({ pod, key, timestamp: this.now(), attempts: 0, unschedulablePlugins: new Set(), cycle: -1 });
  }

  update(oldPod: Pod, pod: Pod): void {
    const key = podKey(pod);
    const fl = this.inFlight.get(key);
    if (fl) { fl.pod = pod; return; }
    const a = this.active.get(key) ?? this.backoff.get(key);
    if (a) { a.pod = pod; (this.active.has(key) ? this.active : this.backoff).push(a); return; }
    const u = this.unschedulable.get(key);
    if (u) {
      u.pod = pod;
      if (specChanged(oldPod, pod)) {
        this.unschedulable.delete(key);
        this.requeue(u);
      }
      return;
    }
    this.add(pod);
  }

  delete(pod: Pod): void {
    const key = podKey(pod);
    const fl = this.inFlight.get(key);
    if (fl) fl.pod = undefined;
    this.active.delete(key);
    this.backoff.delete(key);
    this.unschedulable.delete(key);
  }

  /** The next pod to schedule; waits while the active queue is empty; undefined once closed. */
  pop(): Promise<QueuedPod | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    const q = this.active.pop();
    if (q) return Promise.resolve(this.startAttempt(q));
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private startAttempt(q: QueuedPod): QueuedPod {
    q.attempts++;
    q.cycle = ++this.schedulingCycle;
    q.initialAttemptTimestamp ??= this.now();
    this.inFlight.set(q.key, { pod: q.pod });
    return q;
  }

  /** The attempt ended (bound, assumed or failed): forget in-flight state. */
  done(key: string): void { this.inFlight.delete(key); }

  /**
   * Put back a pod that could not be scheduled. `plugins` are those that rejected it
   * (empty for errors: these always go to backoff).
   */
  addUnschedulable(q: QueuedPod, plugins: Iterable<string>, isError = false): void {
    const fl = this.inFlight.get(q.key);
    this.inFlight.delete(q.key);
    if (fl && fl.pod === undefined) return; // deleted meanwhile
    if (fl?.pod) q.pod = fl.pod;
    if (this.active.has(q.key) || this.backoff.has(q.key) || this.unschedulable.has(q.key)) return;
    q.unschedulablePlugins = new Set(plugins);
    q.timestamp = this.now();
    if (isError || this.moveRequestCycle >= q.cycle) this.pushBackoff(q);
    else this.unschedulable.set(q.key, q);
  }

  /**
   * A cluster event happened. Parked pods that `mayHelp` (by their rejecting plugins)
   * move to backoff or active. Also makes pods currently in flight skip parking.
   */
  moveAll(mayHelp: (q: QueuedPod) => boolean = () => true): void {
    for (const [key, q] of this.unschedulable) {
      // Gated pods only move when their own spec changes (update()).
      if (q.unschedulablePlugins.has('SchedulingGates')) continue;
      if (q.unschedulablePlugins.size > 0 && !mayHelp(q)) continue;
      this.unschedulable.delete(key);
      this.requeue(q);
    }
    this.moveRequestCycle = this.schedulingCycle;
  }

  private requeue(q: QueuedPod): void {
    if (this.backoffExpiry(q) > this.now()) this.pushBackoff(q);
    else this.pushActive(q);
  }

  private pushActive(q: QueuedPod): void {
    const w = this.waiters.shift();
    if (w) { w(this.startAttempt(q)); return; }
    this.active.push(q);
  }

  private pushBackoff(q: QueuedPod): void {
    this.backoff.push(q);
    this.armBackoffTimer();
  }

  private armBackoffTimer(): void {
    const head = this.backoff.peek();
    if (!head || this.closed) return;
    const at = this.backoffExpiry(head);
    if (this.backoffTimer && at >= this.backoffTimerAt) return;
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.backoffTimerAt = at;
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      this.backoffTimerAt = Infinity;
      this.flushBackoffCompleted();
    }, Math.max(0, at - this.now()));
  }

  flushBackoffCompleted(): void {
    const now = this.now();
    for (let head = this.backoff.peek(); head && this.backoffExpiry(head) <= now; head = this.backoff.peek()) {
      this.backoff.pop();
      this.pushActive(head);
    }
    this.armBackoffTimer();
  }

  flushUnschedulableLeftover(): void {
    const now = this.now();
    for (const [key, q] of this.unschedulable) {
      if (now - q.timestamp < this.maxUnschedulableMs || q.unschedulablePlugins.has('SchedulingGates')) continue;
      this.unschedulable.delete(key);
      this.requeue(q);
    }
  }

  lengths(): { active: number; backoff: number; unschedulable: number; inFlight: number } {
    return { active: this.active.size, backoff: this.backoff.size, unschedulable: this.unschedulable.size, inFlight: this.inFlight.size };
  }

  has(key: string): boolean {
    return this.active.has(key) || this.backoff.has(key) || this.unschedulable.has(key) || this.inFlight.has(key);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.flushTimer);
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
