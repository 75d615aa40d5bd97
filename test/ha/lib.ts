// Helpers for the HA tests: one real etcd (Debian's etcd-server) and several real
// `jotasu server --disable-agent` processes on it, sharing the CA through --token.
// stop() ends everything and removes every temp dir, also after a failed test.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdProcess } from '../../src/datastore/etcd-process.js';
import { startCluster, type Cluster } from '../lib/cluster.js';
import { createClientFromKubeconfig, type JotasuApiClient } from '../../src/client/rest.js';
import { R } from '../../src/api/resources.js';
import { isStatusError } from '../../src/api/errors.js';
import type { KubeObject, WatchEvent, WatchHandle, ResourceClient } from '../../src/client/types.js';

/**
 * Creates a namespace (if missing) and waits for the root CA publisher's kube-root-ca.crt in
 * it: the ConfigMap every namespace gets, so that the tests' watches, taken afterwards, see
 * their own writes only.
 */
export async function ensureNamespace(c: JotasuApiClient, name: string): Promise<void> {
  try {
    await c.resource(R.namespaces).create({ metadata: { name } });
  } catch (e) {
    if (!isStatusError(e, 'AlreadyExists')) throw e;
  }
  await waitFor(async () => !!(await c.resource(R.configmaps).get('kube-root-ca.crt', { namespace: name }).catch(() => undefined)), `kube-root-ca.crt in ${name}`, 30_000);
}

export interface HA {
  etcd: EtcdProcess;
  /** A client straight to etcd, to check what really got stored. */
  etcdClient: Etcd3;
  token: string;
  servers: Cluster[];
  /** Starts one more server on the same etcd and token. */
  addServer(extraArgs?: string[]): Promise<Cluster>;
  /** A client of `server` made from server 0's kubeconfig: one kubeconfig for all (shared CA). */
  client(server: Cluster, opts?: { qps?: number }): JotasuApiClient;
  stop(): Promise<void>;
}

export async function startHA(n: number, opts: { args?: string[]; env?: Record<string, string> } = {}): Promise<HA> {
  const etcd = await startEtcd({ name: 'ha' });
  const token = randomBytes(16).toString('hex');
  const servers: Cluster[] = [];
  const clients: JotasuApiClient[] = [];
  let etcdClient: Etcd3 | undefined;
  const addServer = async (extra: string[] = []): Promise<Cluster> => {
    const c = await startCluster({
      args: ['--datastore-endpoint', etcd.endpoint, '--token', token, ...(opts.args ?? []), ...extra],
      env: opts.env,
    });
    servers.push(c);
    return c;
  };
  const stop = async (): Promise<void> => {
    for (const c of clients) c.close();
    etcdClient?.close();
    await Promise.allSettled(servers.map((s) => s.stop()));
    await etcd.stop();
  };
  try {
    // The first server publishes the CA; the others then fetch it (they would also
    // agree if started together: the bootstrap key is create-if-absent).
    await addServer();
    await Promise.all(Array.from({ length: n - 1 }, () => addServer()));
    etcdClient = new Etcd3({ hosts: [etcd.endpoint] });
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    etcd, etcdClient, token, servers, addServer, stop,
    client(server, o = {}) {
      const c = createClientFromKubeconfig(servers[0]!.kubeconfig, { server: server.url, qps: o.qps ?? 0 });
      clients.push(c);
      return c;
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (await cond()) return;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

export interface Recorded { type: string; name: string; rv: number; code?: number; reason?: string }

/** A raw watch stream (what kubectl get -w reads), recording every event it receives. */
export function recordWatch<T extends KubeObject>(rc: ResourceClient<T>, opts: { namespace: string; resourceVersion?: string }): { events: Recorded[]; handle: WatchHandle } {
  const events: Recorded[] = [];
  const handle = rc.watch({ namespace: opts.namespace, resourceVersion: opts.resourceVersion, allowWatchBookmarks: false }, (e: WatchEvent<T>) => {
    const o = e.object as KubeObject & { code?: number; reason?: string };
    events.push({ type: e.type, name: o.metadata?.name ?? '', rv: Number(o.metadata?.resourceVersion ?? 0), code: o.code, reason: o.reason });
  });
  return { events, handle };
}

/** Asserts strictly increasing resourceVersions (no duplicate, no reordering); returns the problem or ''. */
export function orderProblem(evs: Recorded[]): string {
  for (let i = 1; i < evs.length; i++) {
    if (evs[i]!.rv <= evs[i - 1]!.rv) return `event ${i} (${evs[i]!.type} ${evs[i]!.name} rv ${evs[i]!.rv}) after rv ${evs[i - 1]!.rv}`;
  }
  return '';
}

/** `kubectl get -w` through `server`, its output lines collected as they come. */
export function kubectlWatch(server: { kubeconfig: string }, args: string[]): { lines: string[]; stderr: () => string; stop: () => Promise<void> } {
  const lines: string[] = [];
  let buf = '';
  let err = '';
  const k = spawn('kubectl', ['get', '-w', ...args], { env: { ...process.env, KUBECONFIG: server.kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
  k.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts.filter(Boolean));
  });
  k.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<void>((r) => k.once('close', () => r()));
  return {
    lines,
    stderr: () => err,
    stop: async () => {
      if (k.exitCode === null && k.signalCode === null) k.kill('SIGKILL');
      await exited;
    },
  };
}

/** What `kubectlWatch` prints per event with WATCH_FORMAT: "TYPE name rv". */
export const WATCH_FORMAT = ['--output-watch-events', '-o', 'jsonpath={.type} {.object.metadata.name} {.object.metadata.resourceVersion}{"\\n"}'];
