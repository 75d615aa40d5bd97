// The client-side contracts every component builds on (controllers, scheduler,
// kubelet, proxy, ingress, DNS). Implementations live beside this file:
//   rest.ts        createClient(kubeconfig) -> ApiClient
//   kubeconfig.ts  loadKubeconfig(path) -> ClientConfig
//   informer.ts    InformerFactory
//   workqueue.ts   WorkQueue
//   leader.ts      LeaderElector
import type { ObjectMeta, ListMeta, Status } from 'kubernetes-types/meta/v1.js';
import type { ResourceInfo } from '../api/resources.js';

/** Any API object. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

export interface ObjectList<T extends KubeObject> {
  apiVersion?: string;
  kind?: string;
  metadata: ListMeta;
  items: T[];
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: 'Exact' | 'NotOlderThan';
}

export interface WatchOptions extends ListOptions {
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent<T extends KubeObject> {
  type: WatchEventType;
  /** The object; for ERROR a Status. */
  object: T | Status;
}

export interface WatchHandle {
  close(): void;
  /** Resolves when the stream ends: closed by us, by the server (timeout), or on error. */
  done: Promise<void>;
}

export interface WriteOptions {
  namespace?: string;
  dryRun?: boolean;
  fieldManager?: string;
}

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export interface PatchOptions extends WriteOptions {
  subresource?: string;
  /** Server-side apply: take ownership of conflicting fields. */
  force?: boolean;
}

export interface DeleteOptions {
  namespace?: string;
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

/** Calls on one resource type. Errors are StatusError (src/api/errors.ts). */
export interface ResourceClient<T extends KubeObject> {
  readonly info: ResourceInfo;
  get(name: string, opts?: { namespace?: string }): Promise<T>;
  list(opts?: ListOptions): Promise<ObjectList<T>>;
  create(obj: T, opts?: WriteOptions): Promise<T>;
  /** PUT; uses metadata.resourceVersion for optimistic concurrency (409 when stale). */
  update(obj: T, opts?: WriteOptions & { subresource?: string }): Promise<T>;
  updateStatus(obj: T, opts?: WriteOptions): Promise<T>;
  patch(name: string, type: PatchType, patch: unknown, opts?: PatchOptions): Promise<T>;
  /** Returns the object while it is still terminating (finalizers, grace), else the final Status/object. */
  delete(name: string, opts?: DeleteOptions): Promise<T | Status>;
  deleteCollection(opts?: ListOptions & DeleteOptions): Promise<void>;
  /** POST to a subresource, e.g. ('binding', body) or ('eviction', body). */
  createSubresource<R = unknown>(name: string, subresource: string, body: unknown, opts?: WriteOptions): Promise<R>;
  watch(opts: WatchOptions, onEvent: (e: WatchEvent<T>) => void): WatchHandle;
}

export interface ApiClient {
  resource<T extends KubeObject>(info: ResourceInfo): ResourceClient<T>;
  /** Raw request for paths outside the resource model (discovery, /version, logs...). */
  request(method: string, path: string, opts?: { body?: unknown; contentType?: string; accept?: string; query?: Record<string, string> }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>;
  close(): void;
}

/** Resolved connection settings (from a kubeconfig or flags). */
export interface ClientConfig {
  server: string;
  caData?: Buffer;
  certData?: Buffer;
  keyData?: Buffer;
  token?: string;
  insecureSkipTLSVerify?: boolean;
  /** Sent as User-Agent, e.g. "jotasu-scheduler/v0.1.0". */
  userAgent?: string;
  /** Client-side rate limit (requests per second, burst); upstream defaults are 5/10 for kubectl, higher for components. */
  qps?: number;
  burst?: number;
  /** Kept-alive connections for non-watch requests (default 64); more requests at once wait for one. */
  maxConnections?: number;
}

/** The local cache of an informer. Keys are "namespace/name" or "name" for cluster-scoped objects. */
export interface Store<T extends KubeObject> {
  get(key: string): T | undefined;
  list(): T[];
  keys(): string[];
  /** Objects whose index function returned `value` for index `indexName`. */
  byIndex(indexName: string, value: string): T[];
}

export interface EventHandlers<T extends KubeObject> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  /** `obj` is the last known state (it may be a tombstone if the delete was missed during a relist). */
  onDelete?(obj: T): void;
}

export type IndexFunc<T extends KubeObject> = (obj: T) => string[];

/** Standard index names every informer has. */
export const Indexes = {
  namespace: 'namespace',
  nodeName: 'nodeName', // pods: spec.nodeName
  owner: 'owner', // "namespace/ownerUID" for each controller ownerReference's uid
} as const;

/** What addEventHandler returns: removes the handler (client-go's RemoveEventHandler). */
export interface EventHandlerRegistration { remove(): void }

export interface Informer<T extends KubeObject> {
  readonly store: Store<T>;
  addEventHandler(h: EventHandlers<T>): EventHandlerRegistration;
  addIndexer(name: string, fn: IndexFunc<T>): void;
  hasSynced(): boolean;
  /** The newest resourceVersion seen. */
  lastSyncResourceVersion(): string;
}

export interface InformerFactory {
  /** One shared informer per (resource, namespace, selectors). */
  informer<T extends KubeObject>(info: ResourceInfo, opts?: { namespace?: string; labelSelector?: string; fieldSelector?: string }): Informer<T>;
  start(): void;
  waitForSync(signal?: AbortSignal): Promise<void>;
  stop(): void;
}

/** Rate-limited work queue (client-go workqueue semantics). */
export interface WorkQueue<K = string> {
  add(item: K): void;
  addAfter(item: K, delayMs: number): void;
  /** Re-add with per-item exponential backoff. */
  addRateLimited(item: K): void;
  /** Reset the item's backoff. */
  forget(item: K): void;
  numRequeues(item: K): number;
  /** Resolves with the next item, or undefined once shut down. */
  get(): Promise<K | undefined>;
  /** Must be called after processing an item got from get(). */
  done(item: K): void;
  len(): number;
  shutDown(): void;
}

export interface LeaderElectionConfig {
  client: ApiClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number; // 15
  renewDeadlineSeconds?: number; // 10
  retryPeriodSeconds?: number; // 2
  onStartedLeading(signal: AbortSignal): void;
  onStoppedLeading(): void;
}

/** Key of an object in an informer store: "namespace/name" or "name". */
export function objectKey(obj: KubeObject): string {
  const m = obj.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name}` : `${m.name}`;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
