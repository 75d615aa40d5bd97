// SIMULATED NODES, a scale-test tool (like kwok): registers Nodes that run nothing.
// Each keeps its Lease in kube-node-lease renewed, reports pods bound to it as
// Running and Ready (fake pod IPs, no containers), and deletes pods that are being
// deleted, as a kubelet would once their containers stopped. It exists to test the
// scheduler and the controllers at scale; real nodes come from the kubelet.
import type { Node, Pod, PodCondition, Taint } from 'kubernetes-types/core/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import { R } from '../api/resources.js';
import { isStatusError } from '../api/errors.js';
import { createInformerFactory } from '../client/informer.js';
import { createWorkQueue } from '../client/workqueue.js';
import { microTime } from '../client/leader.js';
import { Indexes, objectKey, type ApiClient, type Informer, type InformerFactory, type ResourceClient } from '../client/types.js';
import { logger } from '../util/log.js';

export const SIM_LABEL = 'jotasu.io/simulated';
export const SIM_ANNOTATION = 'jotasu.io/simulated-node';
const LEASE_NAMESPACE = 'kube-node-lease';

export interface SimNodesOptions {
  client: ApiClient;
  count: number;
  namePrefix?: string;
  /** Index of the first node (names are prefix + index). */
  startIndex?: number;
  cpu?: string;
  memory?: string;
  pods?: string;
  ephemeralStorage?: string;
  labels?: Record<string, string>;
  taints?: Taint[];
  /** Lease renewal period (default 10 s, as the kubelet). */
  renewIntervalMs?: number;
  leaseDurationSeconds?: number;
  /** Shared informers (started by their owner); otherwise the sim runs its own. */
  informers?: InformerFactory;
  /** Concurrent API writes for pod status and registration (default 32). */
  concurrency?: number;
}

export interface SimNodes {
  readonly nodeNames: readonly string[];
  /** Stop renewing the node's Lease and stop acting on its pods: a dead kubelet. */
  stopHeartbeat(name: string): void;
  /** Bring it back: renew now, report Ready, catch up on its pods. */
  resumeHeartbeat(name: string): void;
  stop(opts?: { deleteNodes?: boolean }): Promise<void>;
}

function nowTime(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Fake addresses: node i has host IP 198.18.x.y (the benchmarking range) and pods in 100.64+.x.0/24. */
function hostIP(i: number): string {
  return `198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}`;
}
function podSubnet(i: number, podCIDR?: string): string {
  const m = podCIDR && /^(\d+\.\d+\.\d+)\.0\/24$/.exec(podCIDR);
  if (m) return m[1]!;
  return `100.${64 + ((i >> 8) & 63)}.${i & 255}`;
}

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

function readyConditions(): Node['status'] {
  const t = nowTime();
  const c = (type: string, status: string, reason: string, message: string) =>
    ({ type, status, reason, message, lastHeartbeatTime: t, lastTransitionTime: t });
  return {
    conditions: [
      c('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      c('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      c('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      c('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status (simulated node)'),
    ],
  };
}

export async function startSimNodes(opts: SimNodesOptions): Promise<SimNodes> {
  const log = logger('sim-nodes');
  const prefix = opts.namePrefix ?? 'sim-node-';
  const start = opts.startIndex ?? 0;
  const concurrency = opts.concurrency ?? 32;
  const renewMs = opts.renewIntervalMs ?? 10_000;
  const leaseSeconds = opts.leaseDurationSeconds ?? 40;
  const nodesApi: ResourceClient<Node> = opts.client.resource<Node>(R.nodes);
  const leasesApi: ResourceClient<Lease> = opts.client.resource<Lease>(R.leases);
  const podsApi: ResourceClient<Pod> = opts.client.resource<Pod>(R.pods);

  const names = Array.from({ length: opts.count }, (_, i) => `${prefix}${start + i}`);
  const index = new Map(names.map((n, i) => [n, start + i]));
  const stopped = new Set<string>();
  const leases = new Map<string, Lease>();
  const podIPs = new Map<string, string>();
  const nextIP = new Map<string, number>();
  let closed = false;

  const capacity = {
    cpu: opts.cpu ?? '32', memory: opts.memory ?? '256Gi', pods: opts.pods ?? '110',
    'ephemeral-storage': opts.ephemeralStorage ?? '1Ti',
  };

  function nodeObject(name: string): Node {
    const i = index.get(name)!;
    return {
      apiVersion: 'v1', kind: 'Node',
      metadata: {
        name,
        labels: {
          'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64',
          type: 'sim', [SIM_LABEL]: 'true', ...(opts.labels ?? {}),
        },
        annotations: { [SIM_ANNOTATION]: 'true: scale-test node from `jotasu sim nodes`; it runs no containers' },
      },
      spec: { ...(opts.taints?.length ? { taints: opts.taints } : {}) },
      status: {
        capacity, allocatable: capacity,
        ...readyConditions(),
        addresses: [{ type: 'InternalIP', address: hostIP(i) }, { type: 'Hostname', address: name }],
        daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
        nodeInfo: {
          machineID: `sim-${i}`, systemUUID: `sim-${i}`, bootID: `sim-${i}`,
          kernelVersion: 'simulated', osImage: 'jotasu simulated node', containerRuntimeVersion: 'sim://0',
          kubeletVersion: 'v1.32.0-jotasu-sim', kubeProxyVersion: 'v1.32.0-jotasu-sim',
          operatingSystem: 'linux', architecture: 'amd64',
        },
      },
    };
  }

  async function register(name: string): Promise<void> {
    let node: Node;
    try {
      node = await nodesApi.create(nodeObject(name));
    } catch (e) {
      if (!isStatusError(e, 'AlreadyExists')) throw e;
      node = await nodesApi.get(name);
    }
    // The API server may drop status on create, and a reused node may be stale: report it.
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status !== 'True' || !node.status?.allocatable) await reportReady(name);
    await renew(name);
  }

  async function reportReady(name: string): Promise<void> {
    const want = nodeObject(name).status!;
    await nodesApi.patch(name, 'merge', { status: { capacity: want.capacity, allocatable: want.allocatable, conditions: want.conditions, addresses: want.addresses, nodeInfo: want.nodeInfo, daemonEndpoints: want.daemonEndpoints } }, { subresource: 'status' });
  }

  async function renew(name: string): Promise<void> {
    const now = microTime();
    const cur = leases.get(name);
    try {
      if (!cur) {
        const spec = { holderIdentity: name, leaseDurationSeconds: leaseSeconds, renewTime: now };
        try {
          leases.set(name, await leasesApi.create({
            apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
            metadata: { name, namespace: LEASE_NAMESPACE },
            spec,
          }, { namespace: LEASE_NAMESPACE }));
        } catch (e) {
          if (!isStatusError(e, 'AlreadyExists')) throw e;
          const got = await leasesApi.get(name, { namespace: LEASE_NAMESPACE });
          leases.set(name, await leasesApi.update({ ...got, spec: { ...got.spec, ...spec } }));
        }
        return;
      }
      leases.set(name, await leasesApi.update({ ...cur, spec: { ...cur.spec, holderIdentity: name, renewTime: now } }));
    } catch (e) {
      // Stale copy (someone else wrote it) or gone: start over from the server next time.
      leases.delete(name);
      if (!isStatusError(e, 'Conflict') && !isStatusError(e, 'NotFound')) log.warn({ node: name, err: (e as Error).message }, 'lease renewal failed');
    }
  }

  // Registration. The API server normally creates kube-node-lease; make sure of it.
  await opts.client.resource(R.namespaces)
    .create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: LEASE_NAMESPACE } })
    .catch((e: unknown) => { if (!isStatusError(e, 'AlreadyExists')) log.warn({ err: (e as Error).message }, 'could not create kube-node-lease'); });
  await pool(names, concurrency, register);
  log.info({ count: names.length, prefix }, 'simulated nodes registered');

  // Heartbeats: each node renews once per period, spread evenly over it, in small
  // batches from one ticker so that 1,000 nodes cost ~100 writes/s without bursts.
  const TICK_MS = 100;
  const slots = Math.max(1, Math.round(renewMs / TICK_MS));
  let tick = 0;
  let renewing = 0;
  const heartbeat = setInterval(() => {
    const slot = tick++ % slots;
    for (let i = slot; i < names.length; i += slots) {
      const name = names[i]!;
      if (stopped.has(name) || renewing > concurrency * 4) continue;
      renewing++;
      void renew(name).finally(() => { renewing--; });
      repairNode(name);
    }
  }, TICK_MS);
  heartbeat.unref();

  // Pods: one shared pod informer, indexed by node name.
  const ownInformers = !opts.informers;
  const informers = opts.informers ?? createInformerFactory(opts.client, { trimManagedFields: true });
  const podInformer: Informer<Pod> = informers.informer<Pod>(R.pods);
  const nodeInformer: Informer<Node> = informers.informer<Node>(R.nodes);
  const work = createWorkQueue<string>({ name: 'sim-pods', baseDelayMs: 100, maxDelayMs: 10_000 });

  const mine = (p: Pod): boolean => {
    const n = p.spec?.nodeName;
    return !!n && index.has(n) && !stopped.has(n);
  };
  const consider = (p: Pod): void => { if (!closed && mine(p)) work.add(objectKey(p)); };
  podInformer.addEventHandler({
    onAdd: consider,
    onUpdate: (_o, p) => consider(p),
    onDelete: (p) => { podIPs.delete(objectKey(p)); },
  });
  if (ownInformers) informers.start();

  /** After a missed heartbeat the node lifecycle controller marks the node Unknown; a live kubelet puts it back. */
  function repairNode(name: string): void {
    const n = nodeInformer.store.get(name);
    if (!n) return;
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status === 'True') return;
    void reportReady(name).catch((e: unknown) => log.warn({ node: name, err: (e as Error).message }, 'could not report node ready'));
  }

  function podIP(p: Pod): string {
    const key = objectKey(p);
    let ip = podIPs.get(key);
    if (ip) return ip;
    const nodeName = p.spec!.nodeName!;
    const n = (nextIP.get(nodeName) ?? 0) % 253 + 1;
    nextIP.set(nodeName, n);
    const node = nodeInformer.store.get(nodeName);
    ip = `${podSubnet(index.get(nodeName)!, node?.spec?.podCIDR)}.${n + 1}`;
    podIPs.set(key, ip);
    return ip;
  }

  function isReported(p: Pod): boolean {
    return p.status?.phase === 'Running' && !!p.status.podIP && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  }

  async function sync(key: string): Promise<void> {
    const p = podInformer.store.get(key);
    if (!p || !mine(p)) return;
    const { name, namespace, uid } = p.metadata ?? {};
    if (p.metadata?.deletionTimestamp) {
      try {
        await podsApi.delete(name!, { namespace, gracePeriodSeconds: 0, preconditions: { uid } });
      } catch (e) {
        if (!isStatusError(e, 'NotFound') && !isStatusError(e, 'Conflict')) throw e;
      }
      return;
    }
    if (isReported(p) || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') return;
    const t = nowTime();
    const cond = (type: string): PodCondition => ({ type, status: 'True', lastProbeTime: null as unknown as string, lastTransitionTime: t });
    const node = nodeInformer.store.get(p.spec!.nodeName!);
    const hip = node?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? hostIP(index.get(p.spec!.nodeName!)!);
    const ip = podIP(p);
    const running = { running: { startedAt: t } };
    const status = {
      phase: 'Running',
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(cond),
      hostIP: hip, hostIPs: [{ ip: hip }],
      podIP: ip, podIPs: [{ ip }],
      startTime: p.status?.startTime ?? t,
      initContainerStatuses: (p.spec?.initContainers ?? []).map((c) => ({
        name: c.name, image: c.image, imageID: `sim://${c.image}`, containerID: `sim://${uid}/${c.name}`,
        restartCount: 0,
        ...(c.restartPolicy === 'Always'
          ? { ready: true, started: true, state: running }
          : { ready: true, started: false, state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: t, finishedAt: t } } }),
      })),
      containerStatuses: (p.spec?.containers ?? []).map((c) => ({
        name: c.name, image: c.image, imageID: `sim://${c.image}`, containerID: `sim://${uid}/${c.name}`,
        ready: true, started: true, restartCount: 0, state: running,
      })),
    };
    try {
      await podsApi.patch(name!, 'merge', { metadata: { uid }, status }, { namespace, subresource: 'status' });
    } catch (e) {
      if (isStatusError(e, 'NotFound')) return;
      throw e;
    }
  }

  const workers = Array.from({ length: concurrency }, async () => {
    for (;;) {
      const key = await work.get();
      if (key === undefined) return;
      try {
        await sync(key);
        work.forget(key);
      } catch (e) {
        log.warn({ pod: key, err: (e as Error).message }, 'simulated pod sync failed; retrying');
        work.addRateLimited(key);
      } finally {
        work.done(key);
      }
    }
  });

  return {
    nodeNames: names,
    stopHeartbeat(name) {
      stopped.add(name);
    },
    resumeHeartbeat(name) {
      if (!stopped.delete(name)) return;
      void renew(name);
      repairNode(name);
      for (const p of podInformer.store.byIndex(Indexes.nodeName, name)) consider(p);
    },
    async stop(o = {}) {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      work.shutDown();
      await Promise.all(workers);
      if (ownInformers) informers.stop();
      if (o.deleteNodes) {
        await pool(names, concurrency, async (name) => {
          await nodesApi.delete(name).catch(() => undefined);
          await leasesApi.delete(name, { namespace: LEASE_NAMESPACE }).catch(() => undefined);
        });
      }
    },
  };
}
