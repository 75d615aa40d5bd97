// Event recorder (client-go's tools/record): components report what they did as
// core/v1 Events. Recording never blocks the caller: events go to a bounded queue
// (dropped when full, as upstream) and are written in the background.
// Identical events (same object, type, reason, message, source) are aggregated:
// the first is created, later ones bump `count` and `lastTimestamp` with a patch,
// as upstream's EventCorrelator does. A per-object token bucket (burst 25, then one
// per 5 minutes) stops a hot loop from flooding the API server, also as upstream.
// Writes may have their own rate limit (qps/burst): upstream components write events
// through a separate clientset with its own limiter (kube-scheduler: 50 QPS, burst
// 100), so a burst of Scheduled events waits, and beyond the queue is dropped,
// instead of competing with bindings.
import type { Event, ObjectReference } from 'kubernetes-types/core/v1.js';
import { R } from '../api/resources.js';
import { isStatusError } from '../api/errors.js';
import { logger } from '../util/log.js';
import { createTokenBucket } from './ratelimit.js';
import type { ApiClient, KubeObject } from './types.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  /** Record an event about `obj` (which must carry kind and metadata.name). Never throws, never waits. */
  event(obj: KubeObject | ObjectReference, type: EventType, reason: string, message: string): void;
  /** Resolves when everything queued so far was written (tests, shutdown). */
  flush(): Promise<void>;
  /** Stop accepting events; resolves after the queue is written. */
  shutdown(): Promise<void>;
}

export interface EventRecorderOptions {
  component: string;
  /** Node or host name, reported as source.host and reportingInstance. */
  host?: string;
  /** Bounded queue length (default 1000, as upstream's broadcaster). */
  maxQueue?: number;
  /** Concurrent writes (default 4); events about one object stay in order. */
  concurrency?: number;
  /** Spam filter: burst and refill interval per object (default 25, 300 s). 0 disables. */
  spamBurst?: number;
  spamRefillMs?: number;
  /** Event writes per second after `burst` (default: unlimited, the client's own limiter only). */
  qps?: number;
  burst?: number;
}

const MAX_MESSAGE = 1024; // upstream truncates event messages to 1 KiB
const CACHE_SIZE = 4096; // upstream's LRU of aggregated events

function refOf(obj: KubeObject | ObjectReference): ObjectReference {
  if ('metadata' in obj && obj.metadata) {
    const m = obj.metadata;
    return { apiVersion: obj.apiVersion, kind: obj.kind, namespace: m.namespace, name: m.name, uid: m.uid, resourceVersion: m.resourceVersion };
  }
  return obj as ObjectReference;
}

/** Event name as client-go makes it: "<object name>.<nanoseconds in hex>". */
function eventName(objName: string, t: number, seq: number): string {
  const ns = BigInt(t) * 1_000_000n + BigInt(seq % 1_000_000);
  return `${objName}.${ns.toString(16)}`;
}

interface Pending { ref: ObjectReference; type: EventType; reason: string; message: string; at: number }
interface Aggregate { name: string; namespace: string; count: number; firstTimestamp: string }

export function createEventRecorder(client: ApiClient, opts: EventRecorderOptions): EventRecorder {
  const log = logger('events', { reporter: opts.component });
  const events = client.resource<Event>(R.events);
  const maxQueue = opts.maxQueue ?? 1000;
  const concurrency = opts.concurrency ?? 4;
  const spamBurst = opts.spamBurst ?? 25;
  const spamRefill = opts.spamRefillMs ?? 300_000;
  const limiter = createTokenBucket(opts.qps ?? 0, opts.burst ?? Math.max(1, Math.ceil(opts.qps ?? 1)));
  const queue: Pending[] = [];
  const aggregates = new Map<string, Aggregate>(); // insertion order = LRU order
  const busyKeys = new Set<string>(); // objects with a write in flight: keeps per-object order
  const buckets = new Map<string, { tokens: number; at: number }>();
  let inFlight = 0;
  let closed = false;
  let seq = 0;
  let idleWaiters: Array<() => void> = [];

  const objKey = (r: ObjectReference): string => `${r.kind}/${r.namespace ?? ''}/${r.name}/${r.uid ?? ''}`;

  function allowed(r: ObjectReference, now: number): boolean {
    if (!spamBurst) return true;
    const k = `${objKey(r)}`;
    let b = buckets.get(k);
    if (!b) {
      b = { tokens: spamBurst, at: now };
      buckets.set(k, b);
      if (buckets.size > CACHE_SIZE) buckets.delete(buckets.keys().next().value!);
    }
    b.tokens = Math.min(spamBurst, b.tokens + (now - b.at) / spamRefill);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  function pump(): void {
    while (inFlight < concurrency) {
      const i = queue.findIndex((p) => !busyKeys.has(objKey(p.ref)));
      if (i < 0) break;
      const p = queue.splice(i, 1)[0]!;
      const k = objKey(p.ref);
      busyKeys.add(k);
      inFlight++;
      void write(p).finally(() => {
        busyKeys.delete(k);
        inFlight--;
        pump();
      });
    }
    if (inFlight === 0 && queue.length === 0) for (const w of idleWaiters.splice(0)) w();
  }

  async function write(p: Pending): Promise<void> {
    // Only writers in flight (at most `concurrency`) wait here, so a wait is short; once
    // shutting down the queue is written unpaced, or a full queue would hold up the exit.
    if (!closed) await limiter.acquire();
    const namespace = p.ref.namespace || 'default'; // events about cluster-scoped objects live in "default", as upstream
    const aggKey = `${objKey(p.ref)}|${p.type}|${p.reason}|${p.message}`;
    const ts = new Date(p.at).toISOString().replace(/\.\d{3}Z$/, 'Z'); // metav1.Time has second precision
    const agg = aggregates.get(aggKey);
    if (agg) {
      try {
        await events.patch(agg.name, 'merge', { count: agg.count + 1, lastTimestamp: ts }, { namespace: agg.namespace });
        agg.count++;
        aggregates.delete(aggKey);
        aggregates.set(aggKey, agg); // most recently used
        return;
      } catch (e) {
        if (!isStatusError(e, 'NotFound')) {
          log.warn({ err: (e as Error).message, reason: p.reason }, 'could not update event');
          return;
        }
        aggregates.delete(aggKey); // expired or deleted: create it again
      }
    }
    const name = eventName(p.ref.name ?? 'unknown', p.at, seq++);
    const ev: Event = {
      apiVersion: 'v1', kind: 'Event',
      metadata: { name, namespace },
      involvedObject: p.ref,
      reason: p.reason,
      message: p.message,
      type: p.type,
      source: { component: opts.component, ...(opts.host ? { host: opts.host } : {}) },
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
      reportingComponent: opts.component,
      reportingInstance: opts.host ?? '',
    };
    try {
      await events.create(ev, { namespace });
      aggregates.set(aggKey, { name, namespace, count: 1, firstTimestamp: ts });
      if (aggregates.size > CACHE_SIZE) aggregates.delete(aggregates.keys().next().value!);
    } catch (e) {
      // The object's namespace may be terminating or gone; events are best effort.
      log.warn({ err: (e as Error).message, reason: p.reason, object: `${p.ref.kind}/${p.ref.name}` }, 'could not create event');
    }
  }

  return {
    event(obj, type, reason, message): void {
      if (closed) return;
      const ref = refOf(obj);
      if (!ref.kind || !ref.name) {
        log.warn({ reason, ref }, 'event about an object without kind or name dropped');
        return;
      }
      const now = Date.now();
      if (!allowed(ref, now)) return;
      if (queue.length >= maxQueue) {
        log.warn({ reason }, 'event queue full; event dropped');
        return;
      }
      const msg = message.length > MAX_MESSAGE ? message.slice(0, MAX_MESSAGE) : message;
      queue.push({ ref, type, reason, message: msg, at: now });
      pump();
    },
    flush(): Promise<void> {
      if (inFlight === 0 && queue.length === 0) return Promise.resolve();
      return new Promise((r) => idleWaiters.push(r));
    },
    async shutdown(): Promise<void> {
      closed = true;
      await this.flush();
      idleWaiters = [];
    },
  };
}
