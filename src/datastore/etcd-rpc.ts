// The etcd v3 calls the datastore makes (KV Range/Txn/Compact, Lease Grant/Revoke, the
// Watch stream) through @grpc/grpc-js, with etcd's .proto files (as the `etcd3`
// package ships them) compiled by protobufjs.
//
// grpc-js is used directly, not through etcd3's wrapper (its pool, retry and
// circuit-breaker policies, a promise per builder call): one grpc-js Client per etcd
// member, generic calls by method path with our own (de)serialisers, and channel
// options that switch off what the datastore does not use (channelz bookkeeping,
// grpc-js retries: the datastore decides itself which failed writes are safe to retry).
//
// Members: calls go to the member that answered last, and move to the next one when a
// member cannot be reached (it is then skipped for a second). grpc-js keeps each
// member's connection, reconnects it (with a short backoff: etcd restarts are
// expected) and pings it while calls or watches are open, so a member that died
// without closing TCP is noticed and its watch streams end.
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import type * as etcd from 'etcd3';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

const root = new protobuf.Root();
root.loadSync(require.resolve('etcd3/proto/rpc.proto'), { keepCase: true });

/** Decoded as @grpc/proto-loader does for etcd3 (int64 as strings: lease ids exceed 2^53), so etcd3's typings apply. */
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, oneofs: true };

export interface RpcMethod<Req = object, Res = unknown> {
  path: string;
  /** A Buffer is taken as an already encoded request (messages the datastore sends again and again). */
  serialize: (req: Req | Buffer) => Buffer;
  deserialize: (buf: Buffer) => Res;
}

function method<Req extends object, Res>(service: string, name: string, req: string, res: string): RpcMethod<Req, Res> {
  const reqType = root.lookupType(`etcdserverpb.${req}`);
  const resType = root.lookupType(`etcdserverpb.${res}`);
  return {
    path: `/etcdserverpb.${service}/${name}`,
    serialize: (r) => (Buffer.isBuffer(r) ? r : (reqType.encode(reqType.fromObject(r)).finish() as Buffer)),
    deserialize: (b) => resType.toObject(resType.decode(b), TO_OBJECT) as Res,
  };
}

export const RPC = {
  range: method<etcd.IRangeRequest, etcd.IRangeResponse>('KV', 'Range', 'RangeRequest', 'RangeResponse'),
  txn: method<etcd.ITxnRequest, etcd.ITxnResponse>('KV', 'Txn', 'TxnRequest', 'TxnResponse'),
  /** Not used by the datastore (writes are Txns); bench:datastore's baseline is a plain Put. */
  put: method<etcd.IPutRequest, etcd.IPutResponse>('KV', 'Put', 'PutRequest', 'PutResponse'),
  compact: method<etcd.ICompactionRequest, etcd.ICompactionResponse>('KV', 'Compact', 'CompactionRequest', 'CompactionResponse'),
  leaseGrant: method<etcd.ILeaseGrantRequest, etcd.ILeaseGrantResponse>('Lease', 'LeaseGrant', 'LeaseGrantRequest', 'LeaseGrantResponse'),
  leaseRevoke: method<etcd.ILeaseRevokeRequest, etcd.ILeaseRevokeResponse>('Lease', 'LeaseRevoke', 'LeaseRevokeRequest', 'LeaseRevokeResponse'),
  watch: method<etcd.IWatchRequest, etcd.IWatchResponse>('Watch', 'Watch', 'WatchRequest', 'WatchResponse'),
};

const txnRequest = root.lookupType('etcdserverpb.TxnRequest');
const compareTarget = root.lookupEnum('etcdserverpb.Compare.CompareTarget').values;
const compareResult = root.lookupEnum('etcdserverpb.Compare.CompareResult').values;

/**
 * A Txn request encoded without protobufjs' fromObject, which converts every field of
 * every write (int64s into Long objects, enum names into numbers) before encoding: the
 * encoder takes numbers, strings of int64s and Buffers as they are, so only the
 * compares' enum names are mapped here. The same bytes as RPC.txn.serialize.
 */
export function encodeTxn(req: etcd.ITxnRequest): Buffer {
  const compare = req.compare?.map((c) => ({
    ...c,
    target: typeof c.target === 'string' ? compareTarget[c.target] : c.target,
    result: typeof c.result === 'string' ? compareResult[c.result] : c.result,
  }));
  return txnRequest.encode(compare ? { ...req, compare } : req).finish() as Buffer;
}

/** Encodes a request once, for messages sent unchanged many times (RPC methods take the Buffer as is). */
export function encode<Req extends object>(m: RpcMethod<Req, unknown>, req: Req): Buffer {
  return m.serialize(req);
}

/** gRPC status codes the datastore tells apart. */
export const GrpcCode = grpc.status;

/** A call that failed with a gRPC status (from etcd, or from grpc-js when the transport broke mid-call). */
export class GrpcError extends Error {
  override name = 'GrpcError';
  constructor(readonly code: number, readonly details: string, readonly path: string, readonly endpoint: string) {
    super(`etcd ${endpoint} ${path}: ${details} (grpc status ${grpc.status[code] ?? code})`);
  }
}

/**
 * The call failed before etcd could have seen it (no connection, stream refused by a
 * member going away): safe to retry even for a write.
 */
export class NotSentError extends Error {
  override name = 'NotSentError';
}

/**
 * grpc-js statuses that it produces itself before any byte of the request reached a
 * server (grpc-js reports no "progress" to callers, so its own messages are the
 * signal; the datastore also only sends on members whose channel is READY). Anything
 * else may have reached etcd.
 */
const NOT_SENT_DETAILS = [
  /^No connection established/, // picked while the member's channel is in TRANSIENT_FAILURE
  /^Failed to start HTTP\/2 stream/, // the session closed between pick and stream
  /^Channel closed before call started/,
  /^Stream refused by server/, // REFUSED_STREAM, also streams beyond a GOAWAY's last id
];

function notSentStatus(err: grpc.StatusObject): boolean {
  return (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.INTERNAL) && NOT_SENT_DETAILS.some((re) => re.test(err.details ?? ''));
}

export interface EtcdRpcOptions {
  /** Client URLs (http:// or https://). */
  endpoints: string[];
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  dialTimeoutMs?: number;
  keepaliveMs?: number;
  keepaliveTimeoutMs?: number;
}

/** A bidirectional stream of protobuf messages (the Watch service). */
export interface RpcStream<Req, Res> {
  write(req: Req | Buffer): boolean;
  on(ev: 'data', fn: (res: Res) => void): RpcStream<Req, Res>;
  on(ev: 'error', fn: (err: Error) => void): RpcStream<Req, Res>;
  on(ev: 'end', fn: () => void): RpcStream<Req, Res>;
  cancel(): void;
}

function channelOptions(o: EtcdRpcOptions): grpc.ClientOptions {
  return {
    'grpc.enable_channelz': 0,
    // No transparent or policy retries: a failed call comes back to the datastore, which
    // knows whether it was a read or a write and which member to try next.
    'grpc.enable_retries': 0,
    // Each datastore its own connections (not shared with another client of the same member).
    'grpc.use_local_subchannel_pool': 1,
    // Notice a member that died without closing TCP; etcd refuses pings more often than
    // every 5 s (--grpc-keepalive-min-time) and without streams, so only while calls are open.
    'grpc.keepalive_time_ms': o.keepaliveMs ?? 10_000,
    'grpc.keepalive_timeout_ms': o.keepaliveTimeoutMs ?? 5_000,
    // An etcd restart takes a second or two: reconnect soon after (grpc-js defaults to 1 s rising to 120 s).
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 2_000,
    // Lists of 10,000 pods are ~15 MB (etcd's own server limit is math.MaxInt32 for responses).
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
    // ... and should not crawl in 64 KB windows.
    'grpc-node.flow_control_window': 32 << 20,
    'grpc.primary_user_agent': 'jotasu-etcd',
  };
}

class Member {
  readonly client: grpc.Client;
  readonly channel: grpc.Channel;
  /** Skipped until then after it could not be reached. */
  downUntil = 0;

  constructor(readonly url: string, opts: EtcdRpcOptions) {
    const u = new URL(url);
    const creds = u.protocol === 'https:' ? grpc.credentials.createSsl(opts.ca ?? null, opts.key ?? null, opts.cert ?? null) : grpc.credentials.createInsecure();
    this.client = new grpc.Client(u.host, creds, channelOptions(opts));
    this.channel = this.client.getChannel() as grpc.Channel;
  }

  get ready(): boolean {
    return this.channel.getConnectivityState(false) === grpc.connectivityState.READY;
  }

  /**
   * Connects (or waits for grpc-js' reconnect): true once READY, false as soon as the
   * attempt failed (TRANSIENT_FAILURE: refused, TLS handshake failed...); rejects with
   * NotSentError if neither happened within `timeoutMs` (a member that does not answer).
   */
  connect(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        let state: grpc.connectivityState;
        try {
          state = this.channel.getConnectivityState(true);
        } catch {
          return reject(new NotSentError(`etcd ${this.url}: client closed`));
        }
        if (state === grpc.connectivityState.READY) return resolve(true);
        if (state === grpc.connectivityState.TRANSIENT_FAILURE) return resolve(false);
        if (state === grpc.connectivityState.SHUTDOWN) return reject(new NotSentError(`etcd ${this.url}: client closed`));
        this.channel.watchConnectivityState(state, deadline, (err) => {
          if (err) reject(new NotSentError(`etcd ${this.url}: no connection within ${timeoutMs} ms (${grpc.connectivityState[state]})`));
          else check();
        });
      };
      check();
    });
  }
}

export class EtcdRpc {
  private readonly members: Member[];
  /** The member calls go to first (the last one that answered). */
  private current = 0;
  private closed = false;
  private readonly dialTimeoutMs: number;
  /** Cancels the open streams, called on close(). */
  private readonly streams = new Set<() => void>();

  constructor(opts: EtcdRpcOptions) {
    if (!opts.endpoints.length) throw new Error('etcd: no endpoints');
    this.dialTimeoutMs = opts.dialTimeoutMs ?? 3000;
    this.members = opts.endpoints.map((u) => new Member(u, opts));
  }

  /**
   * A connected member: the current one, else the next reachable one. If none is
   * reachable, one whose connection attempt failed: grpc-js fails calls there at once,
   * with the reason ("No connection established. Last error: ..."), as not sent.
   */
  private async member(): Promise<Member> {
    if (this.closed) throw new NotSentError('etcd client closed');
    const now = Date.now();
    let lastErr: Error | undefined;
    let failed: Member | undefined;
    for (let i = 0; i < this.members.length; i++) {
      const idx = (this.current + i) % this.members.length;
      const m = this.members[idx]!;
      if (m.downUntil > now && this.members.length > 1) continue;
      try {
        if (m.ready || (await m.connect(this.dialTimeoutMs))) {
          if (this.closed) throw new NotSentError('etcd client closed');
          this.current = idx;
          return m;
        }
        failed ??= m;
      } catch (err) {
        lastErr = err as Error;
      }
      m.downUntil = Date.now() + 1000;
    }
    if (failed && !this.closed) return failed;
    throw lastErr ?? new NotSentError(`etcd ${this.members.map((e) => e.url).join(',')}: every member was skipped after failing a moment ago`);
  }

  private failure(m: Member, path: string, err: grpc.StatusObject): Error {
    if (notSentStatus(err)) return new NotSentError(`etcd ${m.url} ${path}: ${err.details}`);
    return new GrpcError(err.code, err.details, path, m.url);
  }

  /** One unary call. Rejects with GrpcError or NotSentError. */
  unary<Req extends object, Res>(m: RpcMethod<Req, Res>, req: Req | Buffer): Promise<Res> {
    const cur = this.members[this.current]!;
    // The common case without an extra await: the current member is connected.
    if (!this.closed && cur.ready) return this.call(cur, m, req);
    return this.member().then((mem) => this.call(mem, m, req));
  }

  /**
   * A unary call on the member's grpc-js channel, through Channel.createCall (the
   * interface a Client drives): Client.makeUnaryRequest adds an intercepting-call
   * wrapper, an event emitter and a captured stack per call, ~40-60 µs of CPU here,
   * for nothing the datastore uses. The layers below (resolver, load balancer,
   * subchannel, HTTP/2 transport, filters) are grpc-js' own.
   */
  private call<Req extends object, Res>(mem: Member, m: RpcMethod<Req, Res>, req: Req | Buffer): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const body = m.serialize(req);
      let call: ReturnType<grpc.Channel['createCall']>;
      try {
        call = mem.channel.createCall(m.path, Infinity, undefined, null, null);
      } catch (err) {
        return reject(new NotSentError(`etcd ${mem.url} ${m.path}: ${(err as Error).message}`));
      }
      let res: Res | undefined;
      let got = false;
      let parseError: Error | undefined;
      call.start(new grpc.Metadata(), {
        onReceiveMetadata: () => undefined,
        onReceiveMessage: (msg: Buffer) => {
          try {
            res = m.deserialize(msg);
            got = true;
          } catch (err) {
            parseError = new GrpcError(grpc.status.INTERNAL, `undecodable response: ${(err as Error).message}`, m.path, mem.url);
            call.cancelWithStatus(grpc.status.INTERNAL, parseError.message);
          }
        },
        onReceiveStatus: (st) => {
          if (parseError) reject(parseError);
          else if (st.code !== grpc.status.OK) reject(this.failure(mem, m.path, st));
          else if (!got) reject(new GrpcError(grpc.status.UNIMPLEMENTED, 'no response message', m.path, mem.url));
          else resolve(res!);
        },
      });
      call.sendMessageWithContext({}, body);
      call.halfClose();
      call.startRead();
    });
  }

  /**
   * Opens a bidirectional stream (Watch) on a reachable member, on the channel's
   * createCall as unary calls are: Client.makeBidiStreamRequest adds an intercepting
   * call and an object-mode Duplex stream, which cost every watch event a push through
   * Readable and its listeners. grpc-js' RetryingCall (below createCall) keeps writes in
   * order, so they need no queue here; one message is read at a time (startRead after each).
   */
  async stream<Req extends object, Res>(m: RpcMethod<Req, Res>): Promise<RpcStream<Req, Res>> {
    const mem = await this.member();
    let call: ReturnType<grpc.Channel['createCall']>;
    try {
      call = mem.channel.createCall(m.path, Infinity, undefined, null, null);
    } catch (err) {
      throw new NotSentError(`etcd ${mem.url} ${m.path}: ${(err as Error).message}`);
    }
    let done = false;
    const onData: ((res: Res) => void)[] = [];
    const onError: ((err: Error) => void)[] = [];
    const onEnd: (() => void)[] = [];
    const cancel = (): void => call.cancelWithStatus(grpc.status.CANCELLED, 'Cancelled on client');
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      this.streams.delete(cancel);
      if (err) for (const f of onError) f(err);
      else for (const f of onEnd) f();
    };
    this.streams.add(cancel);
    call.start(new grpc.Metadata(), {
      onReceiveMetadata: () => undefined,
      onReceiveMessage: (msg: Buffer) => {
        if (done) return;
        let res: Res;
        try {
          res = m.deserialize(msg);
        } catch (err) {
          const e = new GrpcError(grpc.status.INTERNAL, `undecodable response: ${(err as Error).message}`, m.path, mem.url);
          finish(e);
          call.cancelWithStatus(grpc.status.INTERNAL, e.message);
          return;
        }
        for (const f of onData) f(res);
        if (!done) call.startRead();
      },
      onReceiveStatus: (st) => {
        // The server closed the stream with status OK (etcd does not, but a proxy could).
        if (st.code === grpc.status.OK) finish();
        else finish(this.failure(mem, m.path, st));
      },
    });
    call.startRead();
    const api: RpcStream<Req, Res> = {
      write: (req) => {
        if (done) return false;
        call.sendMessageWithContext({}, m.serialize(req));
        return true;
      },
      on(ev: 'data' | 'error' | 'end', fn: never) {
        (ev === 'data' ? onData : ev === 'error' ? onError : onEnd).push(fn);
        return api;
      },
      cancel: () => {
        done = true;
        this.streams.delete(cancel);
        cancel();
      },
    };
    return api;
  }

  close(): void {
    this.closed = true;
    for (const cancel of this.streams) cancel();
    this.streams.clear();
    for (const m of this.members) m.client.close();
  }
}
