// ?watch=true: a stream of JSON watch events fed from the resource's watch cache.
import { performance } from 'node:perf_hooks';
import { errors, statusError } from '../../api/errors.js';
import { compileSelectors } from '../selectors.js';
import { WatchCacheError, eventLine, lineFor, type CacheWatcher, type CacheEvent, type EventType } from '../watch-cache.js';
import { tableFor, partialMeta, type HandlerContext } from './context.js';
import type { Obj } from '../objects.js';

/** Interval of BOOKMARK events when allowWatchBookmarks is set (upstream: about a minute). */
export let BOOKMARK_INTERVAL_MS = 15_000;
export function setBookmarkInterval(ms: number): void { BOOKMARK_INTERVAL_MS = ms; }

// Writes are gathered per watcher: at most one write per FLUSH_MS while events keep
// coming, at once after a quiet spell. At hundreds of events a second, one TLS write per
// event and watcher was the server's biggest cost (writev: a TLS record and a loopback
// send each), while 20 ms of coalescing is small next to the 100 ms a watcher may take.
const MAX_BUFFERED = 32 * 1024 * 1024;
const FLUSH_MS = 20;

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
  let pending = '';
  let scheduled = false;
  let ended = false;
  let lastRV = fromRV ?? 0;
  let tableHeaderSent = false;

  let lastFlush = 0;
  const flush = (): void => {
    scheduled = false;
    lastFlush = performance.now();
    if (ended || !pending) return;
    res.write(pending);
    pending = '';
    if (res.writableLength > MAX_BUFFERED) finish('watcher too slow');
  };
  const send = (line: string): void => {
    pending += line;
    if (scheduled) return;
    scheduled = true;
    const wait = lastFlush + FLUSH_MS - performance.now();
    if (wait > 0) setTimeout(flush, wait);
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
  const watcher: CacheWatcher = {
    filter,
    keyPrefix,
    onEvent(type, ev) {
      if (ev.rv <= lastRV) return;
      lastRV = ev.rv;
      sendEntry(type, ev.cur.raw, ev);
    },
    onBookmark() { /* periodic bookmarks are timer-driven */ },
    terminate(reason) {
      if (reason === 'compacted') {
        send(eventLine('ERROR', JSON.stringify(statusError(410, 'Expired', `too old resource version: ${lastRV} (${cache.revision})`).status)));
      }
      finish(reason);
    },
  };

  function finish(_why: string): void {
    if (ended) return;
    if (pending && !res.writableEnded) { res.write(pending); pending = ''; }
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
  if (initial) {
    for (const e of reg.initialEntries) sendEntry('ADDED', e.raw);
    lastRV = Math.max(lastRV, reg.revision);
    if (sendInitial === 'true') bookmark(reg.revision, { 'k8s.io/initial-events-end': 'true' });
  } else {
    const from = lastRV;
    lastRV = from;
    cache.replayTo(watcher, reg.replay);
  }
  if (bookmarks) bookmarkTimer = setInterval(() => { if (cache.revision > 0) bookmark(Math.max(lastRV, cache.revision)); }, BOOKMARK_INTERVAL_MS);
  timeoutTimer = setTimeout(() => finish('timeout'), timeoutSec * 1000);
  if (pending) flush();
}
