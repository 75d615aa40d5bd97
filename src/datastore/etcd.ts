// The real-etcd datastore (etcd v3 API through @grpc/grpc-js: etcd-rpc.ts).
//
// Writes are single transactions, as kube-apiserver does them:
//   create: txn(create_revision(key) == 0 → put, else → get)
//   update: txn(mod_revision(key) == X → put, else → get)
//   delete: txn(mod_revision(key) == X, or version > 0 → delete, else → get)
// TTLs are leases, shared between writes of the same TTL for a short window so that a
// burst of Events does not create a lease each. Compaction records the compacted
// revision in `compact_rev_key` (kube-apiserver's key) so every API server can answer
// compactedRevision() and refuse watches at or below it.
//
// Watches use one gRPC watch stream each (not a shared, multiplexed watcher such as
// etcd3's, which advances its resume point to the creation header even for a watch
// still replaying history, so a reconnect can skip events). A lost stream is re-created from the last delivered
// revision + 1; events at or below it are dropped, so nothing arrives twice or out of order.
import { readFileSync } from 'node:fs';
import type {
  IKeyValue,
  IRangeRequest,
  IRangeResponse,
  IRequestOp,
  ITxnRequest,
  ITxnResponse,
  IWatchRequest,
  IWatchResponse,
} from 'etcd3';
import { logger } from '../util/log.js';
import { EtcdRpc, encode, encodeTxn, GrpcCode, GrpcError, NotSentError, RPC, type RpcStream } from './etcd-rpc.js';
import { prefixEndBytes } from './keys.js';
import { fetchEtcdVersion, progressNotifyIsOrdered } from './etcd-version.js';
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

const log = logger('datastore', { backend: 'etcd' });

export interface EtcdDatastoreOptions {
  /** Client URLs, e.g. ['http://127.0.0.1:2379']. */
  endpoints: string[];
  /**
   * Prepended to every key on the wire, like etcd's --namespace. Keys given to the
   * Datastore are full keys (the API server adds '/registry/'), so the default is ''.
   */
  prefix?: string;
  /** PEM contents or file paths (k3s: --datastore-cafile/--datastore-certfile/--datastore-keyfile). */
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** How long a watch keeps trying to re-establish a lost stream before onError (default 5 min). */
  watchRetryMs?: number;
  /** How long a read, or a write that surely did not reach etcd, is retried while etcd is unreachable (default 10 s). */
  retryMs?: number;
}

type WatchStream = RpcStream<IWatchRequest, IWatchResponse>;

/** Errors after which etcd certainly did not apply the request, so even a write may be retried. */
function notSent(err: unknown): boolean {
  return err instanceof NotSentError;
}

/**
 * Errors worth retrying for a read: etcd unreachable or unavailable for now (grpc-js
 * reports a dropped connection as UNAVAILABLE, a stream reset as INTERNAL "Received
 * RST_STREAM ...").
 */
function transient(err: unknown): boolean {
  if (err instanceof NotSentError) return true;
  if (!(err instanceof GrpcError)) return false;
  if (err.code === GrpcCode.UNAVAILABLE || err.code === GrpcCode.DEADLINE_EXCEEDED) return true;
  return err.code === GrpcCode.INTERNAL && err.details.startsWith('Received RST_STREAM');
}

/** What a failed write's error means for its outcome, for the message the API server reports. */
function writeOutcome(err: unknown): string {
  if (notSent(err)) return ' (not sent: no etcd member could be reached)';
  if (err instanceof GrpcError && !transient(err) && err.code !== GrpcCode.UNKNOWN && err.code !== GrpcCode.CANCELLED) return ' (refused by etcd)';
  return ' (the write may have reached etcd)';
}

function isCompacted(err: unknown): boolean {
  return err instanceof Error && /required revision has been compacted/.test(err.message);
}
function isFuture(err: unknown): boolean {
  return err instanceof Error && /required revision is a future revision/.test(err.message);
}

function pem(v: string | Buffer | undefined): Buffer | undefined {
  if (v === undefined) return undefined;
  if (Buffer.isBuffer(v)) return v;
  return v.includes('-----BEGIN') ? Buffer.from(v) : readFileSync(v);
}

/** The watch stream's progress request (always the same message). */
const PROGRESS_REQUEST = encode(RPC.watch, { progress_request: {} });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface LeaseEntry {
  id: Promise<string>;
  ttl: number;
  grantedAt: number;
  /** Granted lease TTL (ttl + reuse window). */
  leaseTtl: number;
}

export class EtcdDatastore implements Datastore {
  readonly rpc: EtcdRpc;
  private readonly prefix: string;
  private readonly prefixBuf: Buffer;
  private readonly compactKey: Buffer;
  /** Range requests sent again and again (revision probes, compact_rev_key reads), encoded once. */
  private readonly countCompactKeyReq: Buffer;
  private readonly getCompactKeyReq: Buffer;
  private readonly retryMs: number;
  readonly watchRetryMs: number;
  private closed = false;
  readonly watches = new Set<EtcdWatch>();
  private readonly leases = new Map<number, LeaseEntry>();
  /** Requested TTL by lease id, to report ttlSeconds for keys this server wrote. */
  private readonly leaseTtls = new Map<string, { ttl: number; expires: number }>();

  constructor(readonly opts: EtcdDatastoreOptions) {
    if (!opts.endpoints.length) throw new Error('etcd datastore: no endpoints');
    this.prefix = opts.prefix ?? '';
    this.prefixBuf = Buffer.from(this.prefix);
    this.compactKey = Buffer.from(this.prefix + 'compact_rev_key');
    this.countCompactKeyReq = encode(RPC.range, { key: this.compactKey, count_only: true });
    this.getCompactKeyReq = encode(RPC.range, { key: this.compactKey });
    this.retryMs = opts.retryMs ?? 10_000;
    this.watchRetryMs = opts.watchRetryMs ?? 5 * 60_000;
    this.rpc = new EtcdRpc({
      endpoints: opts.endpoints,
      ca: pem(opts.ca),
      cert: pem(opts.cert),
      key: pem(opts.key),
      dialTimeoutMs: 3000,
      // Keepalive notices a dead member (and its watch streams) without waiting for TCP.
      keepaliveMs: 10_000,
      keepaliveTimeoutMs: 5_000,
    });
  }

  private enc(key: string): Buffer {
    return Buffer.from(this.prefix + key);
  }

  private toKv(kv: IKeyValue): KeyValue {
    const out: KeyValue = {
      key: kv.key.subarray(this.prefixBuf.length).toString(),
      value: kv.value.toString(),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
    };
    if (kv.lease && kv.lease !== '0') {
      const t = this.leaseTtls.get(kv.lease);
      if (t) out.ttlSeconds = t.ttl;
    }
    return out;
  }

  /**
   * Runs an etcd call, retrying while etcd is unreachable: reads always, writes only when
   * the error proves the request never left (a retried CAS that had applied would
   * report a false conflict).
   */
  private async call<T>(what: string, write: boolean, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.retryMs;
    let delay = 50;
    for (;;) {
      if (this.closed) throw new Error(`etcd datastore: ${what} after close`);
      try {
        return await fn();
      } catch (err) {
        const retriable = write ? notSent(err) : transient(err);
        if (!retriable || Date.now() + delay > deadline) {
          if (isCompacted(err) || isFuture(err)) throw err;
          throw new Error(`etcd ${what}: ${(err as Error).message}${write ? writeOutcome(err) : ''}`, { cause: err });
        }
        await sleep(delay);
        delay = Math.min(delay * 2, 1000);
      }
    }
  }

  async currentRevision(): Promise<number> {
    const res = await this.call('current revision', false, () => this.range_(this.countCompactKeyReq));
    return Number(res.header.revision);
  }

  private async readCompactKey(): Promise<{ value: number; modRevision: number; revision: number }> {
    const res = await this.call('read compact_rev_key', false, () => this.range_(this.getCompactKeyReq));
    const kv = res.kvs[0];
    return {
      value: kv ? Number(kv.value.toString()) || 0 : 0,
      modRevision: kv ? Number(kv.mod_revision) : 0,
      revision: Number(res.header.revision),
    };
  }

  async compactedRevision(): Promise<number> {
    return (await this.readCompactKey()).value;
  }

  /** Turns etcd's revision errors into the contract's typed errors. */
  private async revisionError(err: unknown, revision: number): Promise<never> {
    if (isCompacted(err)) throw new CompactedError(revision, await this.compactedRevision().catch(() => 0));
    if (isFuture(err)) throw new FutureRevisionError(revision, await this.currentRevision().catch(() => 0));
    throw err;
  }

  async get(key: string, opts: { revision?: number } = {}): Promise<KeyValue | undefined> {
    const req: IRangeRequest = { key: this.enc(key) };
    if (opts.revision) req.revision = opts.revision;
    try {
      const res = await this.call(`get ${key}`, false, () => this.range_(req));
      return res.kvs[0] ? this.toKv(res.kvs[0]) : undefined;
    } catch (err) {
      return this.revisionError(err, opts.revision ?? 0);
    }
  }

  async range(key: string, opts: RangeOptions = {}): Promise<RangeResult> {
    const whole: IRangeRequest = { key: this.enc(key) };
    if (opts.prefix) whole.range_end = prefixEndBytes(this.enc(key));
    if (opts.revision) whole.revision = opts.revision;
    const page: IRangeRequest = { ...whole };
    if (opts.prefix && opts.fromKey !== undefined && opts.fromKey > key) page.key = this.enc(opts.fromKey);
    if (opts.limit && opts.limit > 0) page.limit = opts.limit;
    try {
      if (opts.countOnly) {
        const res = await this.call(`count ${key}`, false, () => this.range_({ ...whole, count_only: true }));
        return { kvs: [], more: false, count: Number(res.count), revision: opts.revision || Number(res.header.revision) };
      }
      if (page.key === whole.key) {
        const res = await this.call(`range ${key}`, false, () => this.range_(page));
        return { kvs: res.kvs.map((kv) => this.toKv(kv)), more: res.more, count: Number(res.count), revision: opts.revision || Number(res.header.revision) };
      }
      // Paging from fromKey: the page and the whole range's count in one txn, at one revision.
      const res = await this.call(`range ${key} from ${opts.fromKey}`, false, () =>
        this.txn_({ success: [{ request_range: page }, { request_range: { ...whole, count_only: true } }] }),
      );
      const p = res.responses[0]!.response_range;
      const c = res.responses[1]!.response_range;
      return { kvs: p.kvs.map((kv) => this.toKv(kv)), more: p.more, count: Number(c.count), revision: opts.revision || Number(res.header.revision) };
    } catch (err) {
      return this.revisionError(err, opts.revision ?? 0);
    }
  }

  /** A lease for `ttl` seconds, reused for a short window (5% of the TTL, at most 60 s) like kube-apiserver. */
  private async lease(ttl: number): Promise<string> {
    const now = Date.now();
    const window = Math.min(60, Math.floor(ttl * 0.05));
    const cached = this.leases.get(ttl);
    if (cached && window > 0 && now - cached.grantedAt < window * 1000) return cached.id;
    const leaseTtl = ttl + window;
    const entry: LeaseEntry = {
      ttl,
      grantedAt: now,
      leaseTtl,
      id: this.call(`grant lease of ${leaseTtl}s`, true, () => this.rpc.unary(RPC.leaseGrant, { TTL: leaseTtl })).then((r) => {
        this.leaseTtls.set(r.ID, { ttl, expires: now + leaseTtl * 1000 });
        return r.ID;
      }),
    };
    entry.id.catch(() => this.leases.delete(ttl));
    this.leases.set(ttl, entry);
    // Forget expired leases so the map stays small.
    if (this.leaseTtls.size > 1000) for (const [id, t] of this.leaseTtls) if (t.expires < now) this.leaseTtls.delete(id);
    return entry.id;
  }

  private range_(req: IRangeRequest | Buffer): Promise<IRangeResponse> {
    return this.rpc.unary(RPC.range, req);
  }

  private txn_(req: ITxnRequest): Promise<ITxnResponse> {
    return this.rpc.unary(RPC.txn, req);
  }

  private async txn(what: string, compare: ITxnRequest['compare'], success: IRequestOp[], key: Buffer): Promise<ITxnResponse> {
    const req = encodeTxn({ compare, success, failure: [{ request_range: { key } }] });
    return this.call(what, true, () => this.rpc.unary(RPC.txn, req));
  }

  private failed(res: ITxnResponse): WriteResult {
    const kv = res.responses[0]?.response_range?.kvs[0];
    const revision = Number(res.header.revision);
    return kv ? { succeeded: false, revision, current: this.toKv(kv) } : { succeeded: false, revision };
  }

  async create(key: string, value: string, opts: WriteOptions = {}): Promise<WriteResult> {
    const k = this.enc(key);
    const ttl = opts.ttlSeconds && opts.ttlSeconds > 0 ? Math.ceil(opts.ttlSeconds) : 0;
    const lease = ttl ? await this.lease(ttl) : undefined;
    const res = await this.txn(
      `create ${key}`,
      [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
      [{ request_put: { key: k, value: Buffer.from(value), lease } }],
      k,
    );
    if (!res.succeeded) return this.failed(res);
    const revision = Number(res.header.revision);
    const kv: KeyValue = { key, value, createRevision: revision, modRevision: revision, version: 1 };
    if (ttl) kv.ttlSeconds = ttl;
    return { succeeded: true, revision, kv };
  }

  async update(key: string, value: string, expectedModRevision: number, opts: WriteOptions = {}): Promise<WriteResult> {
    const k = this.enc(key);
    const ttl = opts.ttlSeconds && opts.ttlSeconds > 0 ? Math.ceil(opts.ttlSeconds) : 0;
    const lease = ttl ? await this.lease(ttl) : undefined;
    const res = await this.txn(
      `update ${key}`,
      [{ key: k, target: 'Mod', result: 'Equal', mod_revision: expectedModRevision }],
      [{ request_put: { key: k, value: Buffer.from(value), lease, prev_kv: true } }],
      k,
    );
    if (!res.succeeded) return this.failed(res);
    const revision = Number(res.header.revision);
    const prev = res.responses[0]!.response_put.prev_kv;
    const prevKv = prev ? this.toKv(prev) : undefined;
    const kv: KeyValue = {
      key,
      value,
      createRevision: prevKv?.createRevision ?? revision,
      modRevision: revision,
      version: (prevKv?.version ?? 0) + 1,
    };
    if (ttl) kv.ttlSeconds = ttl;
    return prevKv ? { succeeded: true, revision, kv, prevKv } : { succeeded: true, revision, kv };
  }

  async delete(key: string, expectedModRevision?: number): Promise<WriteResult> {
    const k = this.enc(key);
    const res = await this.txn(
      `delete ${key}`,
      [
        expectedModRevision !== undefined
          ? { key: k, target: 'Mod', result: 'Equal', mod_revision: expectedModRevision }
          : { key: k, target: 'Version', result: 'Greater', version: 0 },
      ],
      [{ request_delete_range: { key: k, prev_kv: true } }],
      k,
    );
    if (!res.succeeded) return this.failed(res);
    const revision = Number(res.header.revision);
    const prev = res.responses[0]!.response_delete_range.prev_kvs[0];
    const kv: KeyValue = { key, value: '', createRevision: 0, modRevision: revision, version: 0 };
    return prev ? { succeeded: true, revision, kv, prevKv: this.toKv(prev) } : { succeeded: true, revision, kv };
  }

  async compact(revision: number): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await this.readCompactKey();
      if (revision > cur.revision) throw new FutureRevisionError(revision, cur.revision);
      if (revision <= cur.value) return;
      // Record first, guarded by the key's mod revision, so concurrent API servers agree.
      const res = await this.call('record compaction', true, () =>
        this.txn_({
          compare: [{ key: this.compactKey, target: 'Mod', result: 'Equal', mod_revision: cur.modRevision }],
          success: [{ request_put: { key: this.compactKey, value: Buffer.from(String(revision)) } }],
        }),
      );
      if (!res.succeeded) continue;
      try {
        await this.call(`compact ${revision}`, false, () => this.rpc.unary(RPC.compact, { revision }));
      } catch (err) {
        if (!isCompacted(err) && !isCompacted((err as Error).cause)) throw err;
      }
      return;
    }
    throw new Error(`etcd compact ${revision}: compact_rev_key kept changing under concurrent compactions`);
  }

  /** Opens a watch stream on a reachable member (see the header for why one per watch). */
  openWatchStream(): Promise<WatchStream> {
    return this.rpc.stream(RPC.watch);
  }

  watch(key: string, opts: WatchOptions): Watch {
    const w = new EtcdWatch(this, key, this.enc(key), opts.prefix ? prefixEndBytes(this.enc(key)) : undefined, opts);
    if (this.closed) {
      setImmediate(() => w.fail(new Error('etcd datastore: watch after close')));
      return w;
    }
    this.watches.add(w);
    void w.connect();
    return w;
  }

  decodeEvent(ev: IWatchResponse['events'][number]): WatchEvent {
    const out: WatchEvent =
      ev.type === 'Delete'
        ? { type: 'DELETE', kv: { key: ev.kv.key.subarray(this.prefixBuf.length).toString(), value: '', createRevision: 0, modRevision: Number(ev.kv.mod_revision), version: 0 } }
        : { type: 'PUT', kv: this.toKv(ev.kv) };
    if (ev.prev_kv) out.prevKv = this.toKv(ev.prev_kv);
    return out;
  }

  private progressOrdered: Promise<boolean> | undefined;

  /** Asks the members' /version once (the first that answers); false when none does. */
  progressNotifyIsOrdered(): Promise<boolean> {
    this.progressOrdered ??= (async () => {
      const tls = { ca: pem(this.opts.ca), cert: pem(this.opts.cert), key: pem(this.opts.key) };
      for (const endpoint of this.opts.endpoints) {
        try {
          const version = await fetchEtcdVersion(endpoint, tls);
          const ordered = progressNotifyIsOrdered(version);
          if (!ordered) log.info({ endpoint, version }, 'etcd before v3.4.25/v3.5.8 (etcd#15220): consistent lists are read from etcd, not the watch cache');
          return ordered;
        } catch (err) {
          log.warn({ endpoint, err: (err as Error).message }, 'could not read the etcd version');
        }
      }
      return false;
    })();
    return this.progressOrdered;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watches]) w.fail(new Error('etcd datastore: closed'));
    this.rpc.close();
  }
}

class EtcdWatch implements Watch {
  /** The next revision to deliver; 0 until a "from now" watch learns its start from etcd. */
  nextRev: number;
  private stream: WatchStream | undefined;
  private closed = false;
  private failingSince = 0;
  private backoff = 100;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ds: EtcdDatastore,
    private readonly key: string,
    private readonly wireKey: Buffer,
    private readonly rangeEnd: Buffer | undefined,
    private readonly opts: WatchOptions,
  ) {
    this.nextRev = opts.startRevision && opts.startRevision > 0 ? opts.startRevision : 0;
  }

  async connect(): Promise<void> {
    this.timer = undefined;
    if (this.closed) return;
    try {
      if (this.nextRev > 0) {
        // The contract refuses a start at or below the compacted revision; etcd itself
        // would accept a start exactly at it (with prevKv possibly missing).
        const compacted = await this.ds.compactedRevision();
        if (this.closed) return;
        if (this.nextRev <= compacted) return this.fail(new CompactedError(this.nextRev, compacted));
      }
      const stream = await this.ds.openWatchStream();
      if (this.closed) {
        stream.on('error', () => undefined);
        stream.cancel();
        return;
      }
      this.stream = stream;
      stream.on('data', (res) => this.onData(stream, res));
      stream.on('error', (err) => this.lost(stream, err));
      stream.on('end', () => this.lost(stream, new Error('stream ended')));
      const create: NonNullable<IWatchRequest['create_request']> = { key: this.wireKey, prev_kv: true, progress_notify: true };
      if (this.rangeEnd) create.range_end = this.rangeEnd;
      if (this.nextRev > 0) create.start_revision = this.nextRev;
      stream.write({ create_request: create });
    } catch (err) {
      this.lost(undefined, err as Error);
    }
  }

  requestProgress(): void {
    // etcd answers with a progress notification (no events) once the watch is in sync.
    if (this.stream && !this.closed && this.nextRev > 0) this.stream.write(PROGRESS_REQUEST);
  }

  private onData(stream: WatchStream, res: IWatchResponse): void {
    if (stream !== this.stream || this.closed) return;
    if (res.canceled) {
      const compactRev = Number(res.compact_revision);
      if (compactRev > 0) return this.fail(new CompactedError(this.nextRev, compactRev));
      return this.fail(new Error(`etcd canceled the watch on ${this.key}: ${res.cancel_reason || 'no reason given'}`));
    }
    this.failingSince = 0;
    this.backoff = 100;
    if (res.created) {
      // A "from now" watch starts after the revision etcd had when it registered it.
      if (this.nextRev === 0) this.nextRev = Number(res.header.revision) + 1;
      return;
    }
    if (res.events.length === 0) {
      // Progress notification: etcd sends these only to watchers that are in sync.
      const rev = Number(res.header.revision);
      if (this.nextRev > 0) this.nextRev = Math.max(this.nextRev, rev + 1);
      this.opts.onProgress?.(rev);
      return;
    }
    const out: WatchEvent[] = [];
    for (const ev of res.events) {
      // After a reconnect etcd replays from nextRev; anything older was delivered already.
      if (Number(ev.kv.mod_revision) < this.nextRev) continue;
      out.push(this.ds.decodeEvent(ev));
    }
    if (out.length === 0) return;
    this.nextRev = out[out.length - 1]!.kv.modRevision + 1;
    try {
      this.opts.onEvents(out);
    } catch (err) {
      log.error({ err, key: this.key }, 'watch consumer threw; closing the watch');
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private lost(stream: WatchStream | undefined, err: Error): void {
    if (this.closed || (stream && stream !== this.stream)) return;
    if (stream) {
      this.stream = undefined;
      try {
        stream.cancel();
      } catch {
        // already gone
      }
    }
    const now = Date.now();
    if (!this.failingSince) this.failingSince = now;
    if (now - this.failingSince > this.ds.watchRetryMs) {
      return this.fail(new Error(`etcd watch on ${this.key} lost for ${Math.round((now - this.failingSince) / 1000)} s: ${err.message}`, { cause: err }));
    }
    log.debug({ key: this.key, nextRev: this.nextRev, err: err.message }, 'etcd watch stream lost; resuming');
    this.timer = setTimeout(() => void this.connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 2000);
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

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ds.watches.delete(this);
    if (this.timer) clearTimeout(this.timer);
    const s = this.stream;
    this.stream = undefined;
    if (s) {
      try {
        s.cancel();
      } catch {
        // already gone
      }
    }
  }
}

export async function openEtcdDatastore(opts: EtcdDatastoreOptions): Promise<Datastore> {
  const ds = new EtcdDatastore(opts);
  try {
    // Fail early with a clear message if no endpoint answers.
    await ds.currentRevision();
  } catch (err) {
    await ds.close();
    throw new Error(`etcd datastore ${opts.endpoints.join(',')}: ${(err as Error).message}`, { cause: err });
  }
  return ds;
}
