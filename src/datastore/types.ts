// The datastore contract: etcd v3 semantics, implemented by the embedded SQLite
// backend and by real etcd. Only src/apiserver/ uses it (DESIGN.md, rule 1).
//
// Semantics follow etcd v3:
// - one global, strictly increasing revision; every successful write bumps it by one;
// - each key has createRevision (revision of its creation), modRevision (revision of
//   its last write) and version (number of writes since creation);
// - a watch from revision R delivers every event with modRevision >= R, in revision
//   order, each exactly once; R at or below the compacted revision fails with
//   CompactedError (the API server answers 410 Gone).

export interface KeyValue {
  key: string;
  /** The stored bytes as UTF-8 text (the API server stores JSON). Empty for deletions. */
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  /** Lease/TTL in seconds the key was written with, if any (Events use one hour). */
  ttlSeconds?: number;
}

export interface RangeOptions {
  /** Treat the key as a prefix and return every key that starts with it. */
  prefix?: boolean;
  /** Read as of this revision (0 or absent: the current revision). */
  revision?: number;
  /** At most this many keys (0 or absent: no limit). `more` says whether more exist. */
  limit?: number;
  /** For paging within a prefix: start at this key (inclusive) instead of at the prefix. */
  fromKey?: string;
  /** Return only the count, not the keys. */
  countOnly?: boolean;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** True when `limit` cut the result short. */
  more: boolean;
  /** Number of keys in the whole range (ignoring limit and fromKey). */
  count: number;
  /** The revision the read was served at. */
  revision: number;
}

export type WriteResult =
  /** The write happened at `revision`; `kv` is the new value (the tombstone for a delete), `prevKv` the old one. */
  | { succeeded: true; revision: number; kv: KeyValue; prevKv?: KeyValue }
  /** The condition failed; `current` is what the key holds now (absent if it does not exist). */
  | { succeeded: false; revision: number; current?: KeyValue };

export interface WriteOptions {
  /** Expire the key this many seconds after the write (etcd: a lease). */
  ttlSeconds?: number;
}

export type WatchEventType = 'PUT' | 'DELETE';

export interface WatchEvent {
  type: WatchEventType;
  /** For PUT the new value; for DELETE the key with modRevision = the deletion's revision and an empty value. */
  kv: KeyValue;
  /** The value before this event (always present for DELETE and for PUT of an existing key). */
  prevKv?: KeyValue;
}

export interface WatchOptions {
  prefix?: boolean;
  /** Deliver events with modRevision >= startRevision. 0 or absent: only events after now. */
  startRevision?: number;
  /** Called with batches of events in revision order. */
  onEvents: (events: WatchEvent[]) => void;
  /** Called once if the watch ends abnormally (CompactedError, lost connection...). No more events follow. */
  onError: (err: Error) => void;
  /** Called after the backend has caught up to at least this revision with nothing to report (for bookmarks). */
  onProgress?: (revision: number) => void;
}

export interface Watch {
  close(): void;
  /**
   * Asks for an onProgress soon, at a revision up to which every event of this watch has
   * been delivered (etcd: a progress_request on the watch stream). A watch cache uses it
   * to learn it is fresh when its keys were not written lately while others were. May be
   * ignored while the watch is catching up (etcd answers only synced watches).
   */
  requestProgress(): void;
}

export interface Datastore {
  /** The newest revision. */
  currentRevision(): Promise<number>;
  /** The revision up to which history was compacted (0 if never). */
  compactedRevision(): Promise<number>;
  get(key: string, opts?: { revision?: number }): Promise<KeyValue | undefined>;
  range(key: string, opts?: RangeOptions): Promise<RangeResult>;
  /** Create the key only if it does not exist. */
  create(key: string, value: string, opts?: WriteOptions): Promise<WriteResult>;
  /** Replace the key only if its modRevision is still `expectedModRevision`. */
  update(key: string, value: string, expectedModRevision: number, opts?: WriteOptions): Promise<WriteResult>;
  /** Delete the key, only if its modRevision is `expectedModRevision` when given. */
  delete(key: string, expectedModRevision?: number): Promise<WriteResult>;
  /** Start a watch. Errors starting it (e.g. CompactedError) are reported through onError. */
  watch(key: string, opts: WatchOptions): Watch;
  /** Drop history at or before `revision` (older revisions become unreadable and unwatchable). */
  compact(revision: number): Promise<void>;
  /**
   * Whether a watch's progress notifications always follow the events they cover, so that
   * a watch cache may serve consistent reads once one reaches the current revision
   * (etcd before v3.4.25 / v3.5.8: no).
   */
  progressNotifyIsOrdered(): Promise<boolean>;
  close(): Promise<void>;
}

/** A read or watch asked for a revision that compaction removed (etcd: mvcc: required revision has been compacted). */
export class CompactedError extends Error {
  constructor(
    readonly requestedRevision: number,
    readonly compactRevision: number,
  ) {
    super(`mvcc: required revision ${requestedRevision} has been compacted (compacted up to ${compactRevision})`);
    this.name = 'CompactedError';
  }
}

/** A read asked for a revision newer than the store has (etcd: mvcc: required revision is a future revision). */
export class FutureRevisionError extends Error {
  constructor(readonly requestedRevision: number, readonly currentRevision: number) {
    super(`mvcc: required revision ${requestedRevision} is a future revision (current ${currentRevision})`);
    this.name = 'FutureRevisionError';
  }
}
