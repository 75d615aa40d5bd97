// ?watch=true: a stream of JSON watch events fed from the resource's watch cache.
import { performance } from 'node:perf_hooks';
import { errors, statusError } from '../../api/errors.js';
import { compileSelectors } from '../selectors.js';
import { WatchCacheError, eventLine, lineFor, type CacheEntry, type CacheWatcher, type CacheEvent, type EventType } from '../watch-cache.js';
import { tableFor, partialMeta, type HandlerContext } from './context.js';
import type { Obj } from '../objects.js';

/** Interval of BOOKMARK events when allowWatchBookmarks is set (upstream: about a minute). */
export let BOOKMARK_INTERVAL_MS = 15_000;
export function setBookmarkInterval(ms: number): void { BOOKMARK_INTERVAL_MS = ms; }

// Writes are gathered per watcher: at most one write per FLUSH_MS while events keep
// coming, at once after a quiet spell. At hundreds of events a second, one TLS write per
// event and watcher was the server's biggest cost (writev: a TLS record and a loopback
// send each), while 20 ms of coalescing is small next to the 100 ms a watcher may take.
const FLUSH_MS = 20;
// Flow control: a watcher whose connection holds more than this many unsent bytes stops
// taking events; when the socket drains it catches up from the watch cache's ring of
// recent events, which all watchers share. So a slow client costs at most this much
// buffered output, not a copy of every event it has not read yet. One that falls so far
// behind that the ring no longer holds its next event is closed (upstream also ends
// unresponsive watchers); its client resumes from the last resourceVersion it saw, or
// relists on 410.
const MAX_BUFFERED = 64 * 1024;
// Catch-up (initial events and ring replays) writes in pieces of this size.
const CATCH_UP_WRITE = 32 * 1024;

// Watchers share what they write. The fan-out hands every watcher of a resource the same line
// strings at the same moment, so watchers that flush together (at once after a quiet spell,
// or in the shared delayed round below) mostly hold the very same lines: those write one
// joined string instead of one each. Joining flattens the lines into a new string; per
// watcher that was most of the server's heap allocation under a burst (100 watchers x 500
// events/s x ~2 KB), which made scavenges frequent and promoted short-lived request objects
// into the old generation.
type FlushRound = Map<string, { lines: string[]; joined: string }[]>;
/** Joined strings of the flushes of this turn of the event loop (dropped at its check phase). */
let turnJoins: FlushRound | undefined;
function currentJoins(): FlushRound {
  if (!turnJoins) {
    turnJoins = new Map();
    setImmediate(() => { turnJoins = undefined; });
  }
  return turnJoins;
}
/** Watchers that flushed within FLUSH_MS wait for one shared timer, so they flush together. */
const delayedFlushes = new Set<() => void>();
let delayedRound = false;
function flushLater(flush: () => void, wait: number): void {
  delayedFlushes.add(flush);
  if (delayedRound) return;
  delayedRound = true;
  setTimeout(() => {
    delayedRound = false;
    const due = [...delayedFlushes];
    delayedFlushes.clear();
    for (const f of due) f();
  }, wait);
}

/** `lines` joined, shared with the watchers of this round that have the very same lines. */
export function joinedLines(round: FlushRound, lines: string[]): string {
  const same = round.get(lines[0]!);
  for (const c of same ?? []) {
    if (c.lines.length === lines.length && c.lines.every((l, i) => l === lines[i])) return c.joined;
  }
  const joined = lines.join('');
  if (same) same.push({ lines, joined }); else round.set(lines[0]!, [{ lines, joined }]);
  return joined;
}

export async function serveWatch(ctx: HandlerContext): Promise<void> {
  const { store, query, res, req, info } = ctx;
  const filter = compileSelectors(store.info, query.get('labelSelector'), query.get('fieldSelector'));
  const rvStr = query.get('resourceVersion') ?? '';
  const bookmarks = query.get('allowWatchBookmarks') === 'true';
  const sendInitial = query.get('sendInitialEvents');
  const timeoutQ = query.get('timeoutSeconds');
  const timeoutSec = timeoutQ ? Number(timeoutQ) : 1800 * (1 + Math.random());
  if (!Number.isFinite(timeoutSec) || timeoutSec < 0) throw errors.badRequest(`timeoutSeconds: Invalid value: "${timeoutQ}"`);
  let fromRV: number | undefined;
  if (rvStr !== '' && rvStr !== '0') {
    fromRV = Number(rvStr);
    if (!Number.isInteger(fromRV) || fromRV < 0) throw errors.badRequest(`resourceVersion: Invalid value: "${rvStr}": must be a non-negative integer`);
  }
  if (sendInitial !== null && query.get('resourceVersionMatch') !== 'NotOlderThan') {
    throw errors.invalid('ListOptions', 'meta.k8s.io', '', [{ type: 'Forbidden', field: 'sendInitialEvents', detail: 'sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan' }]);
  }
  const initial = sendInitial === 'true' || (sendInitial === null && (rvStr === '' || rvStr === '0'));
  const cache = store.cache;
  await cache.ready();
  if (rvStr === '' || (sendInitial === 'true' && fromRV !== undefined)) {
    // A consistent start: the cache must have caught up with the store (or the requested RV).
    const want = fromRV ?? await store.ds.currentRevision();
    if (!(await cache.waitFor(want, 3000))) {
      throw statusError(504, 'Timeout', `Too large resource version: ${want}, current: ${cache.revision}`, { retryAfterSeconds: 1 });
    }
  }

  const out = ctx.out;
  const asTable = out.format === 'table';
  let headersSent = false;
  /** Lines not written yet (live: until the next flush round; catch-up: until CATCH_UP_WRITE bytes). */
  let pending: string[] = [];
  let pendingBytes = 0;
  let scheduled = false;
  let lastFlush = 0;
  let ended = false;
  let lastRV = fromRV ?? 0;
  let tableHeaderSent = false;
  /** Over MAX_BUFFERED: live events are skipped, to be caught up from the ring on 'drain'. */
  let behind = false;
  /** Initial events (sendInitialEvents / no resourceVersion) not written yet, sent before anything live. */
  let initialLeft: CacheEntry[] = [];
  let initialEndBookmark = false;

  const takePending = (round?: FlushRound): string => {
    const out = round ? joinedLines(round, pending) : pending.join('');
    pending = [];
    pendingBytes = 0;
    return out;
  };
  const flush = (): void => {
    scheduled = false;
    lastFlush = performance.now();
    if (ended || !pending.length) return;
    res.write(takePending(currentJoins()));
    if (res.writableLength > MAX_BUFFERED) behind = true;
  };
  const send = (line: string): void => {
    pending.push(line);
    pendingBytes += line.length;
    if (scheduled) return;
    scheduled = true;
    const wait = lastFlush + FLUSH_MS - performance.now();
    if (wait > 0) flushLater(flush, wait);
    else setImmediate(flush);
  };
  const convert = (type: string, o: Obj): string => {
    if (asTable) {
      const t = tableFor(ctx, [o], out.version, undefined, tableHeaderSent);
      tableHeaderSent = true;
      return eventLine(type, JSON.stringify(t));
    }
    return eventLine(type, JSON.stringify(out.format === 'partial' ? partialMeta(o, out.version) : o));
  };
  const sendEntry = (type: EventType, raw: string, ev?: CacheEvent): void => {
    // Shared storage in another version (events.k8s.io over core Events): this watcher's own line.
    if (store.codec) { raw = store.outRaw(raw); ev = undefined; }
    if (out.format === 'json') send(ev ? lineFor(ev, type) : eventLine(type, raw));
    else send(convert(type, JSON.parse(raw) as Obj));
  };
  const bookmark = (rv: number, extra?: Record<string, string>): void => {
    const apiVersion = store.info.group ? `${store.info.group}/${store.info.version}` : store.info.version;
    const meta: Obj = { resourceVersion: String(rv) };
    if (extra) meta.annotations = extra;
    send(eventLine('BOOKMARK', JSON.stringify({ kind: store.info.kind, apiVersion, metadata: meta })));
  };

  const keyPrefix = info.namespace && store.info.namespaced ? store.listPrefix(info.namespace) : '';
  let bookmarkTimer: NodeJS.Timeout | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;
  let replaying = false;
  let catchUpScheduled = false;
  const watcher: CacheWatcher = {
    filter,
    keyPrefix,
    onEvent(type, ev) {
      if (ev.rv <= lastRV) return;
      if (behind && !replaying) {
        // Normally 'drain' resumes it; this covers a socket that emptied without one.
        if (!catchUpScheduled && res.writableLength <= MAX_BUFFERED / 2) { catchUpScheduled = true; setImmediate(catchUp); }
        return;
      }
      lastRV = ev.rv;
      // Replayed events are not memoized on the ring's entries (the ring keeps no lines).
      sendEntry(type, ev.cur.raw, replaying ? undefined : ev);
    },
    onBookmark() { /* periodic bookmarks are timer-driven */ },
    terminate(reason) {
      if (reason === 'compacted') {
        send(eventLine('ERROR', JSON.stringify(statusError(410, 'Expired', `too old resource version: ${lastRV} (${cache.revision})`).status)));
      }
      finish(reason);
    },
  };

  /** Writes what catch-up gathered; false when the socket is full again (wait for 'drain'). */
  const writeCaughtUp = (): boolean => {
    if (pending.length) res.write(takePending());
    return res.writableLength <= MAX_BUFFERED;
  };

  /**
   * Sends what this watcher has not got yet, in order: the initial events left, the
   * initial-events-end bookmark, then the ring's events after lastRV, then live again.
   * Stops (still behind) when the socket fills up; 'drain' calls it again.
   */
  function catchUp(): void {
    catchUpScheduled = false;
    if (ended) return;
    behind = true;
    while (initialLeft.length) {
      const batch = initialLeft.splice(0, 256);
      for (const e of batch) sendEntry('ADDED', e.raw);
      if (pendingBytes >= CATCH_UP_WRITE && !writeCaughtUp()) return;
    }
    if (initialEndBookmark) { initialEndBookmark = false; bookmark(lastRV, { 'k8s.io/initial-events-end': 'true' }); }
    for (;;) {
      const evs = cache.eventsAfter(lastRV);
      if (!evs) { writeCaughtUp(); finish('watcher too slow: fell behind the watch cache'); return; }
      if (!evs.length) break;
      replaying = true;
      try {
        for (const ev of evs) {
          cache.replayTo(watcher, [ev]);
          // Filtered-out events still move this watcher on.
          lastRV = Math.max(lastRV, ev.rv);
          if (pendingBytes >= CATCH_UP_WRITE && !writeCaughtUp()) return;
        }
      } finally {
        replaying = false;
      }
    }
    if (!writeCaughtUp()) return;
    behind = false;
  }

  function finish(_why: string): void {
    if (ended) return;
    if (pending.length && !res.writableEnded) res.write(takePending());
    ended = true;
    cache.removeWatcher(watcher);
    clearInterval(bookmarkTimer);
    clearTimeout(timeoutTimer);
    if (!res.writableEnded) res.end();
  }

  const startHeaders = (): void => {
    if (headersSent) return;
    headersSent = true;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
  };

  let reg;
  try {
    reg = cache.addWatcher(watcher, fromRV, initial);
  } catch (e) {
    if (e instanceof WatchCacheError) {
      // Upstream answers a too-old watch with 200 and one ERROR event.
      startHeaders();
      res.end(eventLine('ERROR', JSON.stringify(statusError(410, 'Expired', e.message).status)));
      return;
    }
    throw e;
  }
  startHeaders();
  req.on('close', () => finish('client closed'));
  res.on('error', () => finish('write error'));
  res.on('drain', () => { if (behind) catchUp(); });
  if (initial) {
    initialLeft = reg.initialEntries;
    lastRV = Math.max(lastRV, reg.revision);
    initialEndBookmark = sendInitial === 'true';
    catchUp();
  } else {
    // From the requested revision (reg.replay: the ring's events after it), or from now.
    if (fromRV === undefined) lastRV = reg.revision;
    catchUp();
  }
  // A bookmark promises every event up to its revision was sent: not while behind.
  if (bookmarks) bookmarkTimer = setInterval(() => { if (cache.revision > 0 && !behind) bookmark(Math.max(lastRV, cache.revision)); }, BOOKMARK_INTERVAL_MS);
  timeoutTimer = setTimeout(() => finish('timeout'), timeoutSec * 1000);
  if (pending.length) {
    res.write(takePending());
    if (res.writableLength > MAX_BUFFERED) behind = true;
  }
}
