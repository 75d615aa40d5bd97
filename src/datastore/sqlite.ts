// The embedded datastore: etcd v3 semantics on one SQLite file (as k3s does with kine).
//
// Layout (kine-like): `kv` is the log, one row per write, id = revision. A row is the
// key's state after that write (a tombstone for a delete) and points at the row it
// replaced (prev_revision), which gives watch events their prevKv without storing the
// old value twice. `current` maps each live key to its newest row, so reads at the
// current revision are an index range scan instead of kine's "max(id) group by name".
//
// This process is the only writer (the database is opened with an exclusive lock), so
// watch is an in-process fan-out of committed events, plus catch-up from the log for
// watches that start in the past.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { logger } from '../util/log.js';
import { needsPrefixFilter, prefixEnd } from './keys.js';
import {
  CompactedError,
  FutureRevisionError,
  type Datastore,
  type KeyValue,
  type RangeOptions,
  type RangeResult,
  type Watch,
  type WatchEvent,
  type WatchOptions,
  type WriteOptions,
  type WriteResult,
} from './types.js';

const log = logger('datastore', { backend: 'sqlite' });

export interface SqliteDatastoreOptions {
  /**
   * SQLite `synchronous` in WAL mode. Both survive `kill -9` of this process: a commit
   * has been written into the WAL file (the OS page cache) before it is acknowledged, and
   * the kernel keeps it when the process dies. They differ on power loss / kernel crash:
   * 'full' fsyncs the WAL on every commit so an acknowledged write survives that too;
   * 'normal' may lose the last commits (never corrupts). Default 'full', kept off the
   * event loop: SQLite commits with synchronous=NORMAL (a write() into the WAL) and the
   * WAL is fsynced on libuv's thread pool before the writes are acknowledged and their
   * events fanned out. A synchronous fsync per commit (1-3 ms here) stalled every request
   * and watch behind it. Reads may see a committed write a moment before it is durable;
   * no acknowledged write is lost.
   */
  synchronous?: 'full' | 'normal';
  /** How often expired TTL keys are swept (ms). */
  sweepIntervalMs?: number;
  /** How often idle watches get onProgress (ms). */
  progressIntervalMs?: number;
  /** Catch-up reads the log in chunks of this many rows, yielding in between. */
  catchUpChunk?: number;
}

interface Row {
  id: number;
  name: string;
  deleted: number;
  create_revision: number;
  prev_revision: number;
  version: number;
  lease: number | null;
  value: string;
}

interface EventRow extends Row {
  p_value: string | null;
  p_version: number | null;
  p_create_revision: number | null;
  p_lease: number | null;
}

type Op =
  | { kind: 'create'; key: string; value: string; ttl?: number; done?: Done }
  | { kind: 'update'; key: string; value: string; expected: number; ttl?: number; done?: Done }
  | { kind: 'delete'; key: string; expected?: number; done?: Done };

interface Done {
  resolve(r: WriteResult): void;
  reject(e: Error): void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  deleted INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  prev_revision INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER,
  value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_name_id ON kv(name, id);
CREATE TABLE IF NOT EXISTS current (
  name TEXT PRIMARY KEY,
  id INTEGER NOT NULL,
  expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS current_expires ON current(expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
`;

function toKv(r: Row): KeyValue {
  const kv: KeyValue = {
    key: r.name,
    value: r.value,
    createRevision: r.create_revision,
    modRevision: r.id,
    version: r.version,
  };
  if (r.lease != null) kv.ttlSeconds = r.lease;
  return kv;
}

function tombstone(key: string, revision: number): KeyValue {
  // etcd's DELETE event kv: only the key and the deletion's revision.
  return { key, value: '', createRevision: 0, modRevision: revision, version: 0 };
}

function toEvent(r: EventRow): WatchEvent {
  const ev: WatchEvent = { type: r.deleted ? 'DELETE' : 'PUT', kv: r.deleted ? tombstone(r.name, r.id) : toKv(r) };
  if (r.prev_revision && r.p_value != null) {
    const prev: KeyValue = {
      key: r.name,
      value: r.p_value,
      createRevision: r.p_create_revision!,
      modRevision: r.prev_revision,
      version: r.p_version!,
    };
    if (r.p_lease != null) prev.ttlSeconds = r.p_lease;
    ev.prevKv = prev;
  }
  return ev;
}

/** A key or key range as SQL bounds: [start, end) with end undefined = unbounded. */
interface Span {
  start: string;
  end: string | undefined;
  /** Only set when the prefix could not be turned into an upper bound. */
  filter?: string;
}

/** The conditions (on column `name`) and their arguments that select a span of keys. */
function spanWhere(span: Span): { where: string[]; args: unknown[] } {
  const where = ['name >= ?'];
  const args: unknown[] = [span.start];
  if (span.end !== undefined) {
    where.push('name < ?');
    args.push(span.end);
  }
  if (span.filter !== undefined) {
    where.push('substr(name, 1, ?) = ?');
    args.push(span.filter.length, span.filter);
  }
  return { where, args };
}

function spanOf(key: string, prefix: boolean | undefined, fromKey?: string): Span {
  if (!prefix) return { start: key, end: key + '\0' };
  const start = fromKey !== undefined && fromKey > key ? fromKey : key;
  const span: Span = { start, end: prefixEnd(key) };
  if (needsPrefixFilter(key)) span.filter = key;
  return span;
}

class SqliteWatch implements Watch {
  closed = false;
  catchingUp: boolean;
  lastActivity = Date.now();
  constructor(
    readonly key: string,
    readonly prefix: boolean,
    public nextRev: number,
    readonly opts: WatchOptions,
    private readonly owner: SqliteDatastore,
    catchingUp: boolean,
  ) {
    this.catchingUp = catchingUp;
  }
  requestProgress(): void {
    if (this.progressRequested || this.closed) return;
    this.progressRequested = true;
    setImmediate(() => {
      this.progressRequested = false;
      if (!this.closed && !this.catchingUp) this.owner.progressOf(this);
    });
  }
  private progressRequested = false;
  matches(key: string): boolean {
    return this.prefix ? key.startsWith(this.key) : key === this.key;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.owner.watchers.delete(this);
  }
  /** Deliver, shielding the writer from a throwing consumer. */
  deliver(events: WatchEvent[]): void {
    this.nextRev = events[events.length - 1]!.kv.modRevision + 1;
    this.lastActivity = Date.now();
    try {
      this.opts.onEvents(events);
    } catch (err) {
      log.error({ err, key: this.key }, 'watch consumer threw; closing the watch');
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }
  fail(err: Error): void {
    if (this.closed) return;
    this.close();
    try {
      this.opts.onError(err);
    } catch (e) {
      log.error({ err: e, key: this.key }, 'watch onError threw');
    }
  }
}

export class SqliteDatastore implements Datastore {
  readonly watchers = new Set<SqliteWatch>();
  private readonly db: Database.Database;
  private rev: number;
  private compactRev: number;
  private queue: Op[] = [];
  private flushScheduled = false;
  private closed = false;
  /** 'full': commits wait for an fsync of the WAL done off the event loop. */
  private readonly asyncSync: boolean;
  private wal?: FileHandle;
  /** Committed batches waiting for their fsync, oldest first. */
  private unsynced: { ops: Op[]; results: WriteResult[]; events: WatchEvent[] }[] = [];
  private syncing?: Promise<void>;
  /** The newest revision whose events have been fanned out (durable). */
  private visibleRev = 0;
  private compacting = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly stmtCache = new Map<string, Database.Statement>();
  private readonly catchUpChunk: number;
  private readonly applyAll: Database.Transaction<(ops: Op[], results: WriteResult[], events: WatchEvent[]) => void>;

  // Hot-path statements, prepared once.
  private readonly sGetCur: Database.Statement<[string], Row>;
  private readonly sGetAt: Database.Statement<[string, number], Row>;
  private readonly sInsert: Database.Statement;
  private readonly sUpsertCur: Database.Statement;
  private readonly sDelCur: Database.Statement<[string]>;
  private readonly sSetMeta: Database.Statement;
  private readonly sExpired: Database.Statement<[number], { name: string; id: number }>;

  constructor(readonly path: string, opts: SqliteDatastoreOptions = {}) {
    this.catchUpChunk = opts.catchUpChunk ?? 1000;
    // Short busy timeout: with the exclusive lock, waiting only delays the "in use" error.
    this.db = new Database(path, { timeout: 200 });
    try {
      // One writer: the exclusive lock makes a second server on the same data dir fail
      // at once instead of silently missing the other's watch events.
      this.db.pragma('locking_mode = EXCLUSIVE');
      this.db.pragma('journal_mode = WAL');
      this.asyncSync = (opts.synchronous ?? 'full') === 'full';
      this.db.pragma('synchronous = NORMAL');
      // A small page cache: it counts in the server's RSS, while pages of the file stay in the OS
      // page cache anyway (a 10k-pod list from the store costs a few ms more, not 30 MB).
      this.db.pragma('cache_size = -4000');
      this.db.pragma('wal_autocheckpoint = 4000');
      this.db.exec(SCHEMA);
    } catch (err) {
      this.db.close();
      const msg = (err as Error).message;
      throw new Error(
        `sqlite datastore ${path}: ${msg}${/locked|busy/i.test(msg) ? ' (is another jotasu server using this data dir?)' : ''}`,
        { cause: err },
      );
    }
    // Revisions start at 1 like a fresh etcd (Kubernetes treats resourceVersion "0" specially).
    const seq = this.db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'kv'`).get() as { seq: number } | undefined;
    if (!seq) this.db.prepare(`INSERT INTO sqlite_sequence(name, seq) VALUES ('kv', 1)`).run();
    this.rev = seq?.seq ?? 1;
    this.visibleRev = this.rev;
    const c = this.db.prepare(`SELECT value FROM meta WHERE name = 'compact_revision'`).get() as { value: number } | undefined;
    this.compactRev = c?.value ?? 0;

    this.sGetCur = this.db.prepare(`SELECT k.* FROM current c JOIN kv k ON k.id = c.id WHERE c.name = ?`);
    this.sGetAt = this.db.prepare(`SELECT * FROM kv WHERE name = ? AND id <= ? ORDER BY id DESC LIMIT 1`);
    this.sInsert = this.db.prepare(
      `INSERT INTO kv (id, name, deleted, create_revision, prev_revision, version, lease, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.sUpsertCur = this.db.prepare(
      `INSERT INTO current (name, id, expires_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET id = excluded.id, expires_at = excluded.expires_at`,
    );
    this.sDelCur = this.db.prepare(`DELETE FROM current WHERE name = ?`);
    this.sSetMeta = this.db.prepare(`INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value`);
    this.applyAll = this.db.transaction((ops: Op[], results: WriteResult[], events: WatchEvent[]) => {
      for (const op of ops) results.push(this.apply(op, events));
    });
    this.sExpired = this.db.prepare(`SELECT name, id FROM current WHERE expires_at <= ? ORDER BY expires_at LIMIT 500`);

    const sweep = setInterval(() => this.sweepExpired(), opts.sweepIntervalMs ?? 500);
    const progress = setInterval(() => this.notifyProgress(), opts.progressIntervalMs ?? 5000);
    sweep.unref();
    progress.unref();
    this.timers.push(sweep, progress);
    log.debug({ path, revision: this.rev, compacted: this.compactRev }, 'sqlite datastore open');
  }

  private stmt<T = Row>(sql: string): Database.Statement<unknown[], T> {
    let s = this.stmtCache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmtCache.set(sql, s);
    }
    return s as Database.Statement<unknown[], T>;
  }

  private checkOpen(what: string): void {
    if (this.closed) throw new Error(`sqlite datastore ${this.path}: ${what} after close`);
  }

  async currentRevision(): Promise<number> {
    return this.rev;
  }

  async compactedRevision(): Promise<number> {
    return this.compactRev;
  }

  /** Validate a read revision: 0/absent = current; below the compaction or in the future fails. */
  private readRevision(revision: number | undefined): number {
    if (!revision) return this.rev;
    if (revision > this.rev) throw new FutureRevisionError(revision, this.rev);
    // As etcd: the compacted revision itself stays readable (its latest rows are kept).
    if (revision < this.compactRev) throw new CompactedError(revision, this.compactRev);
    return revision;
  }

  async get(key: string, opts: { revision?: number } = {}): Promise<KeyValue | undefined> {
    this.checkOpen('get');
    const rev = this.readRevision(opts.revision);
    const row = rev === this.rev ? this.sGetCur.get(key) : this.sGetAt.get(key, rev);
    return row && !row.deleted ? toKv(row) : undefined;
  }

  async range(key: string, opts: RangeOptions = {}): Promise<RangeResult> {
    this.checkOpen('range');
    const rev = this.readRevision(opts.revision);
    const atHead = rev === this.rev;
    const whole = spanOf(key, opts.prefix);
    const span = spanOf(key, opts.prefix, opts.fromKey);
    const count = this.count(whole, atHead, rev);
    if (opts.countOnly) return { kvs: [], more: false, count, revision: rev };

    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    const { where, args } = spanWhere(span);
    let sql: string;
    if (atHead) {
      sql = `SELECT k.* FROM current c JOIN kv k ON k.id = c.id WHERE ${where.map((w) => 'c.' + w).join(' AND ')} ORDER BY c.name`;
    } else {
      // The newest row of each key at or before rev, skipping keys whose newest row is a tombstone.
      sql =
        `SELECT k.* FROM kv k WHERE ${where.map((w) => 'k.' + w).join(' AND ')} AND k.id <= ? AND k.deleted = 0 ` +
        `AND k.id = (SELECT max(i.id) FROM kv i WHERE i.name = k.name AND i.id <= ?) ORDER BY k.name`;
      args.push(rev, rev);
    }
    sql += ` LIMIT ?`;
    args.push(limit ? limit + 1 : -1);
    const rows = this.stmt(sql).all(...args);
    const more = limit > 0 && rows.length > limit;
    if (more) rows.length = limit;
    return { kvs: rows.map(toKv), more, count, revision: rev };
  }

  private count(span: Span, atHead: boolean, rev: number): number {
    const { where, args } = spanWhere(span);
    let sql: string;
    if (atHead) {
      sql = `SELECT count(*) AS n FROM current WHERE ${where.join(' AND ')}`;
    } else {
      sql =
        `SELECT count(*) AS n FROM kv k WHERE ${where.map((w) => 'k.' + w).join(' AND ')} AND k.id <= ? AND k.deleted = 0 ` +
        `AND k.id = (SELECT max(i.id) FROM kv i WHERE i.name = k.name AND i.id <= ?)`;
      args.push(rev, rev);
    }
    return (this.stmt<{ n: number }>(sql).get(...args) as { n: number }).n;
  }

  create(key: string, value: string, opts: WriteOptions = {}): Promise<WriteResult> {
    return this.enqueue({ kind: 'create', key, value, ttl: opts.ttlSeconds });
  }

  update(key: string, value: string, expectedModRevision: number, opts: WriteOptions = {}): Promise<WriteResult> {
    return this.enqueue({ kind: 'update', key, value, expected: expectedModRevision, ttl: opts.ttlSeconds });
  }

  delete(key: string, expectedModRevision?: number): Promise<WriteResult> {
    return this.enqueue({ kind: 'delete', key, expected: expectedModRevision });
  }

  /**
   * Group commit: every write issued during one event-loop turn goes into one SQLite
   * transaction (one WAL append, one fsync), and is acknowledged only after COMMIT.
   * Each write still gets its own revision and its own compare.
   */
  private enqueue(op: Op): Promise<WriteResult> {
    if (this.closed) return Promise.reject(new Error(`sqlite datastore ${this.path}: ${op.kind} ${op.key} after close`));
    return new Promise<WriteResult>((resolve, reject) => {
      op.done = { resolve, reject };
      this.queue.push(op);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const ops = this.queue;
    if (ops.length === 0) return;
    this.queue = [];
    const startRev = this.rev;
    const results: WriteResult[] = [];
    const events: WatchEvent[] = [];
    try {
      this.applyAll.immediate(ops, results, events);
    } catch (err) {
      this.rev = startRev;
      const e = new Error(`sqlite datastore ${this.path}: commit of ${ops.length} write(s) failed: ${(err as Error).message}`, { cause: err });
      log.error({ err }, 'commit failed');
      for (const op of ops) op.done?.reject(e);
      return;
    }
    if (!this.asyncSync) return this.publish(ops, results, events);
    this.unsynced.push({ ops, results, events });
    this.syncing ??= this.syncLoop();
  }

  private publish(ops: Op[], results: WriteResult[], events: WatchEvent[]): void {
    if (events.length > 0) {
      this.visibleRev = Math.max(this.visibleRev, events[events.length - 1]!.kv.modRevision);
      this.fanOut(events);
    }
    for (let i = 0; i < ops.length; i++) ops[i]!.done?.resolve(results[i]!);
  }

  /** One fsync covers every batch committed before it started; batches are published in order. */
  private async syncLoop(): Promise<void> {
    try {
      while (this.unsynced.length) {
        const batches = this.unsynced;
        this.unsynced = [];
        try {
          this.wal ??= await open(`${this.path}-wal`, 'r');
          await this.wal.sync();
        } catch (err) {
          // The commits are in the WAL but not known durable: fail them, as etcd would not ack.
          log.error({ err }, 'fsync of the WAL failed');
          const e = new Error(`sqlite datastore ${this.path}: fsync failed: ${(err as Error).message}`, { cause: err });
          for (const b of batches) for (const op of b.ops) op.done?.reject(e);
          continue;
        }
        for (const b of batches) this.publish(b.ops, b.results, b.events);
      }
    } finally {
      this.syncing = undefined;
    }
  }

  /** One write inside the open transaction. */
  private apply(op: Op, events: WatchEvent[]): WriteResult {
    const cur = this.sGetCur.get(op.key);
    const curKv = cur ? toKv(cur) : undefined;
    const fail = (): WriteResult => (curKv ? { succeeded: false, revision: this.rev, current: curKv } : { succeeded: false, revision: this.rev });

    if (op.kind === 'delete') {
      if (!cur || (op.expected !== undefined && cur.id !== op.expected)) return fail();
      const rev = ++this.rev;
      this.sInsert.run(rev, op.key, 1, cur.create_revision, cur.id, 0, null, '');
      this.sDelCur.run(op.key);
      const kv = tombstone(op.key, rev);
      events.push({ type: 'DELETE', kv, prevKv: curKv });
      return { succeeded: true, revision: rev, kv, prevKv: curKv };
    }
    if (op.kind === 'create' ? cur !== undefined : !cur || cur.id !== op.expected) return fail();
    const rev = ++this.rev;
    const ttl = op.ttl && op.ttl > 0 ? Math.ceil(op.ttl) : null;
    const createRev = cur ? cur.create_revision : rev;
    const version = cur ? cur.version + 1 : 1;
    this.sInsert.run(rev, op.key, 0, createRev, cur ? cur.id : 0, version, ttl, op.value);
    this.sUpsertCur.run(op.key, rev, ttl ? Date.now() + ttl * 1000 : null);
    const kv: KeyValue = { key: op.key, value: op.value, createRevision: createRev, modRevision: rev, version };
    if (ttl) kv.ttlSeconds = ttl;
    const ev: WatchEvent = { type: 'PUT', kv };
    if (curKv) ev.prevKv = curKv;
    events.push(ev);
    return curKv ? { succeeded: true, revision: rev, kv, prevKv: curKv } : { succeeded: true, revision: rev, kv };
  }

  private fanOut(events: WatchEvent[]): void {
    for (const w of this.watchers) {
      if (w.catchingUp || w.closed) continue;
      let mine: WatchEvent[] | undefined;
      for (const ev of events) {
        if (ev.kv.modRevision >= w.nextRev && w.matches(ev.kv.key)) (mine ??= []).push(ev);
      }
      if (mine) w.deliver(mine);
    }
  }

  watch(key: string, opts: WatchOptions): Watch {
    const start = opts.startRevision && opts.startRevision > 0 ? opts.startRevision : 0;
    const live = start === 0 || start > this.rev;
    const w = new SqliteWatch(key, !!opts.prefix, start || this.rev + 1, opts, this, !live);
    if (this.closed) {
      setImmediate(() => w.fail(new Error(`sqlite datastore ${this.path}: watch after close`)));
      return w;
    }
    this.watchers.add(w);
    if (!live) setImmediate(() => this.catchUp(w));
    return w;
  }

  /**
   * Replays the log from w.nextRev in chunks. Writes may commit between chunks; they
   * are in the log, so we keep reading until a short chunk, and switch the watch to live
   * fan-out in that same synchronous step: no event is missed or delivered twice.
   */
  private catchUp(w: SqliteWatch): void {
    if (w.closed) return;
    if (this.closed) return w.fail(new Error(`sqlite datastore ${this.path}: closed`));
    if (w.nextRev <= this.compactRev) return w.fail(new CompactedError(w.nextRev, this.compactRev));
    let rows: EventRow[];
    try {
      const cols = `SELECT e.*, p.value AS p_value, p.version AS p_version, p.create_revision AS p_create_revision, p.lease AS p_lease FROM kv e LEFT JOIN kv p ON p.id = e.prev_revision`;
      if (!w.prefix) {
        rows = this.stmt<EventRow>(`${cols} WHERE e.name = ? AND e.id >= ? ORDER BY e.id LIMIT ?`).all(w.key, w.nextRev, this.catchUpChunk);
      } else {
        // Unary + keeps the planner on the id order: catch-up is usually a short tail of a long log.
        const end = prefixEnd(w.key);
        rows =
          end === undefined
            ? this.stmt<EventRow>(`${cols} WHERE e.id >= ? ORDER BY e.id LIMIT ?`).all(w.nextRev, this.catchUpChunk)
            : this.stmt<EventRow>(`${cols} WHERE e.id >= ? AND +e.name >= ? AND +e.name < ? ORDER BY e.id LIMIT ?`).all(
                w.nextRev,
                w.key,
                end,
                this.catchUpChunk,
              );
      }
    } catch (err) {
      return w.fail(new Error(`sqlite datastore ${this.path}: watch catch-up of ${w.key} from ${w.nextRev}: ${(err as Error).message}`, { cause: err }));
    }
    const evs = rows.filter((r) => w.matches(r.name)).map(toEvent);
    if (rows.length < this.catchUpChunk) {
      // Caught up: everything committed so far is in `rows`. Go live before yielding.
      w.catchingUp = false;
      if (evs.length) w.deliver(evs);
      if (!w.closed) {
        w.nextRev = Math.max(w.nextRev, this.rev + 1);
        w.opts.onProgress?.(this.rev);
      }
      return;
    }
    if (evs.length) w.deliver(evs);
    else w.nextRev = rows[rows.length - 1]!.id + 1;
    setImmediate(() => this.catchUp(w));
  }

  private notifyProgress(): void {
    const idleSince = Date.now() - 1000;
    for (const w of this.watchers) {
      if (!w.catchingUp && w.lastActivity < idleSince) this.progressOf(w);
    }
  }

  /** onProgress for a live watch: every event up to the fanned-out revision has been delivered to it. */
  progressOf(w: SqliteWatch): void {
    if (w.closed || w.catchingUp || !w.opts.onProgress) return;
    // Only up to what was fanned out: later revisions may still be waiting for their fsync.
    w.nextRev = Math.max(w.nextRev, this.visibleRev + 1);
    try {
      w.opts.onProgress(this.visibleRev);
    } catch (err) {
      log.error({ err }, 'watch onProgress threw');
    }
  }

  /** TTL keys: delete what expired, through the normal write path so watches see DELETE. */
  private sweepExpired(): void {
    if (this.closed) return;
    let rows: { name: string; id: number }[];
    try {
      rows = this.sExpired.all(Date.now());
    } catch (err) {
      log.error({ err }, 'ttl sweep failed');
      return;
    }
    for (const r of rows) {
      this.enqueue({ kind: 'delete', key: r.name, expected: r.id }).catch((err) => log.error({ err, key: r.name }, 'ttl delete failed'));
    }
  }

  /**
   * Drops history before `revision`: every row superseded at or before it, and tombstones
   * at or before it. Each key's newest row at `revision` stays, so reads at `revision`
   * and later, and prevKv of later events, keep working. Runs in chunks of ids so a large
   * compaction does not stall the event loop.
   */
  async compact(revision: number): Promise<void> {
    this.checkOpen('compact');
    if (revision > this.rev) throw new FutureRevisionError(revision, this.rev);
    if (revision <= this.compactRev) return;
    this.compactRev = revision;
    this.sSetMeta.run('compact_revision', revision);
    // Watches still catching up from below the new compaction point can no longer be served.
    for (const w of this.watchers) {
      if (w.catchingUp && w.nextRev <= revision) w.fail(new CompactedError(w.nextRev, revision));
    }
    if (this.compacting) return; // the running loop reads compactRev each chunk
    this.compacting = true;
    try {
      const del = this.db.prepare(
        `DELETE FROM kv WHERE id > ? AND id <= ? AND (deleted = 1 OR EXISTS (SELECT 1 FROM kv n WHERE n.name = kv.name AND n.id > kv.id AND n.id <= ?))`,
      );
      // From the oldest row, not from the previous compaction point: rows kept then (each
      // key's newest) may have been superseded since.
      const minRow = this.db.prepare(`SELECT min(id) AS m FROM kv`).get() as { m: number | null };
      let from = (minRow.m ?? 1) - 1;
      const step = 5000;
      while (from < this.compactRev && !this.closed) {
        const to = Math.min(from + step, this.compactRev);
        del.run(from, to, this.compactRev);
        from = to;
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      this.compacting = false;
    }
  }

  /** One process writes and notifies in order: a progress notification never overtakes an event. */
  progressNotifyIsOrdered(): Promise<boolean> {
    return Promise.resolve(true);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const t of this.timers) clearInterval(t);
    // Commit what is queued before closing: those writes may already be awaited.
    if (this.queue.length) this.flush();
    while (this.syncing) await this.syncing;
    await this.wal?.close().catch(() => undefined);
    this.closed = true;
    for (const w of [...this.watchers]) w.fail(new Error(`sqlite datastore ${this.path}: closed`));
    while (this.compacting) await new Promise((r) => setTimeout(r, 5));
    this.db.close();
  }
}

/** Opens (creating if needed) DATA_DIR/server/db/state.db. */
export async function openSqliteDatastore(dataDir: string, opts: SqliteDatastoreOptions = {}): Promise<Datastore> {
  const dir = join(dataDir, 'server', 'db');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return new SqliteDatastore(join(dir, 'state.db'), opts);
}
