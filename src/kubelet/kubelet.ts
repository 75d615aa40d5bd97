// The kubelet: registers the node, keeps its Lease and status, and runs the pods bound
// to it through the CRI runtime. Pods come from a shared informer filtered by
// spec.nodeName; each pod has a PodWorker. A small PLEG (upstream's generic pod
// lifecycle event generator: relist the runtime every second, wake the workers of
// pods whose containers changed state) notices exits; housekeeping removes sandboxes
// and volumes of pods the API no longer has. Starting over a previous kubelet's
// state adopts the running containers: the runtime keeps its state on disk and the
// workers find their containers by the pod-uid label.
import type { ConfigMap, Node, Pod, Secret, Service } from 'kubernetes-types/core/v1.js';
import type { TokenRequest } from 'kubernetes-types/authentication/v1.js';
import { rmdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { R } from '../api/resources.js';
import { createInformerFactory, type JotasuInformerFactory } from '../client/informer.js';
import { createEventRecorder, type EventRecorder } from '../client/events.js';
import type { ApiClient } from '../client/types.js';
import type { CriRuntime } from '../runtime/cri.js';
import { markStart } from '../runtime/start-trace.js';
import { logger } from '../util/log.js';
import { Backoff } from './backoff.js';
import { LABEL_POD_UID } from './container-config.js';
import { ImageManager } from './images.js';
import { NodeLease } from './lease.js';
import { NodeStatusManager, defaultNodeIP } from './node-status.js';
import { PodWorker, type KubeletContext } from './pod-worker.js';
import { ProbeManager } from './probes.js';
import { ReferencedObjects, podConfigMapNames, podSecretNames } from './referenced-objects.js';
import { VolumeManager } from './volumes/index.js';

const log = logger('kubelet');

export interface KubeletOptions {
  client: ApiClient;
  nodeName: string;
  dataDir: string;
  /** Builds the runtime once the node's pod CIDR is known (the CNI config needs it). */
  runtime(podCIDR: string): Promise<CriRuntime>;
  nodeIP?: string;
  clusterDNS?: string[];
  clusterDomain?: string;
  /** Used when the node has no spec.podCIDR (no node IPAM controller): upstream's --pod-cidr. */
  podCIDR?: string;
  labels?: Record<string, string>;
  /** Port of the kubelet's HTTPS server, advertised in status.daemonEndpoints. */
  kubeletPort?: number;
  /** Relist period of the PLEG (default 1 s). */
  plegPeriodMs?: number;
  leaseRenewMs?: number;
  statusPeriodMs?: number;
}

export interface Kubelet {
  readonly nodeName: string;
  /** Resolves once the runtime is up and pods are being run. */
  readonly ready: Promise<void>;
  runtime(): CriRuntime | undefined;
  /** The pods bound to this node (informer cache): the kubelet server's pod source. */
  pod(namespace: string, name: string): Pod | undefined;
  pods(): Pod[];
  /** Stops the agent; with drain, every pod's containers, sandboxes and volumes are removed first. */
  stop(opts?: { drain?: boolean; drainGraceSeconds?: number }): Promise<void>;
}

export async function startKubelet(o: KubeletOptions): Promise<Kubelet> {
  const nodeName = o.nodeName;
  const nodeIP = o.nodeIP ?? defaultNodeIP();
  const informers: JotasuInformerFactory = createInformerFactory(o.client);
  const pods = informers.informer<Pod>(R.pods, { fieldSelector: `spec.nodeName=${nodeName}` });
  const nodeInf = informers.informer<Node>(R.nodes, { fieldSelector: `metadata.name=${nodeName}` });
  // ConfigMaps and Secrets: a watch per object the pods here reference (the Node
  // authorizer refuses a node anything else); services cluster-wide for service links.
  const configMaps = new ReferencedObjects<ConfigMap>(o.client, R.configmaps, podConfigMapNames, (obj) => refKick('configMap')(obj));
  const secrets = new ReferencedObjects<Secret>(o.client, R.secrets, podSecretNames, (obj) => refKick('secret')(obj));
  const refsWaited = new Set<string>();
  const services = informers.informer<Service>(R.services);
  const recorder: EventRecorder = createEventRecorder(o.client, { component: 'kubelet', host: nodeName });

  let runtime: CriRuntime | undefined;
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => { readyResolve = r; });
  const workers = new Map<string, PodWorker>();
  let stopping = false;
  let starting = false;

  const nodeStatus = new NodeStatusManager(o.client, { nodeName, dataDir: o.dataDir, nodeIP, labels: o.labels, kubeletPort: o.kubeletPort }, () => runtime
    ? { ready: true }
    : { ready: false, message: 'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized' });
  const node = await nodeStatus.register();
  const lease = new NodeLease({ client: o.client, node, renewIntervalMs: o.leaseRenewMs });
  lease.start();

  const volumes = new VolumeManager(join(o.dataDir, 'agent'), {
    configMap: (ns, n) => configMaps.get(ns, n),
    secret: (ns, n) => secrets.get(ns, n),
    nodeAllocatable: nodeStatus.info ? { cpu: String(nodeStatus.info.cpu), memory: String(nodeStatus.info.memoryBytes) } : undefined,
    serviceAccountToken: async (pod, audience, exp) => {
      const sa = pod.spec?.serviceAccountName ?? 'default';
      const body: TokenRequest = {
        apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
        spec: { audiences: audience ? [audience] : [], expirationSeconds: exp,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name, uid: pod.metadata?.uid } },
      };
      const tr = await o.client.resource(R.serviceaccounts).createSubresource<TokenRequest>(sa, 'token', body, { namespace: pod.metadata?.namespace });
      return { token: tr.status?.token ?? '', expirationTimestamp: tr.status?.expirationTimestamp };
    },
  }, { onTokenRefreshDue: (uid) => kick(uid), mounter: () => runtime });

  const crashBackoff = new Backoff();
  let images: ImageManager | undefined;
  let probes: ProbeManager | undefined;

  const kick = (uid: string, delay = 0) => workers.get(uid)?.kick(delay);

  function ctx(): KubeletContext {
    return {
      client: o.client, runtime: runtime!, images: images!, volumes, probes: probes!, recorder, crashBackoff, log,
      nodeName, nodeIP, dataDir: o.dataDir, clusterDNS: o.clusterDNS ?? ['10.43.0.10'], clusterDomain: o.clusterDomain ?? 'cluster.local',
      memoryCapacity: nodeStatus.info.memoryBytes,
      node: () => nodeInf.store.get(nodeName),
      configMap: (ns, n) => configMaps.get(ns, n),
      secret: (ns, n) => secrets.get(ns, n),
      services: () => services.store.list(),
      admittedPods: (except) => [...workers.values()].filter((w) => w.uid !== except && w.isAdmitted).map((w) => w.pod),
      forget: (uid) => { workers.delete(uid); },
    };
  }

  // A pod starts once the ConfigMaps and Secrets it references are listed (their watches
  // start here), or after 5 s, to report what is missing; onPod runs again then.
  function refsListed(pod: Pod, uid: string): boolean {
    const listed = Promise.all([configMaps.register(pod), secrets.register(pod)]);
    if ((configMaps.synced(uid) && secrets.synced(uid)) || refsWaited.has(uid)) return true;
    refsWaited.add(uid);
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    void Promise.race([listed, new Promise((r) => setTimeout(r, 5000).unref())]).then(() => {
      const cur = pods.store.get(key);
      if (cur?.metadata?.uid === uid) onPod(cur);
    });
    return false;
  }

  function onPod(pod: Pod): void {
    if (!runtime || stopping) return;
    const uid = pod.metadata?.uid;
    if (!uid || !refsListed(pod, uid)) return;
    let w = workers.get(uid);
    if (!w) {
      // A pod that is terminal and has nothing on the node needs no worker.
      w = new PodWorker(ctx(), pod);
      workers.set(uid, w);
      markStart(uid, 'watch');
    }
    w.update(pod);
  }

  pods.addEventHandler({
    onAdd: onPod,
    // Status-only changes (mostly our own writes) need no sync, as upstream's pod config source.
    onUpdate: (old, pod) => { if (specChanged(old, pod)) onPod(pod); else workers.get(pod.metadata?.uid ?? '')?.observe(pod); },
    onDelete: (pod) => {
      const uid = pod.metadata?.uid ?? '';
      workers.get(uid)?.remove();
      configMaps.unregister(uid);
      secrets.unregister(uid);
      refsWaited.delete(uid);
    },
  });
  // A changed ConfigMap/Secret reaches env (next start) and volumes (now) of the pods using it.
  const refKick = (kind: 'configMap' | 'secret') => (obj: ConfigMap | Secret) => {
    const ns = obj.metadata?.namespace;
    const name = obj.metadata?.name;
    for (const w of workers.values()) {
      if (w.pod.metadata?.namespace !== ns) continue;
      if (JSON.stringify(w.pod.spec ?? {}).includes(`"${name}"`)) w.kick();
      void kind;
    }
  };
  nodeInf.addEventHandler({ onAdd: () => void maybeStartRuntime(), onUpdate: () => void maybeStartRuntime() });

  informers.start();
  await informers.waitForSync();

  async function maybeStartRuntime(): Promise<void> {
    if (runtime || starting || stopping) return;
    const cidr = nodeInf.store.get(nodeName)?.spec?.podCIDR ?? o.podCIDR;
    if (!cidr) return;
    starting = true;
    try {
      const rt = await o.runtime(cidr);
      images = new ImageManager(rt);
      probes = new ProbeManager(rt, {
        onChange: (uid) => kick(uid),
        onFailure: (pod, c, kind, output) => {
          const k = kind === 'liveness' ? 'Liveness' : kind === 'readiness' ? 'Readiness' : 'Startup';
          const i = (pod.spec?.containers ?? []).findIndex((x) => x.name === c.name);
          void i;
          recorder.event({ apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name, namespace: pod.metadata?.namespace, uid: pod.metadata?.uid, fieldPath: `spec.containers{${c.name}}` },
            'Warning', 'Unhealthy', `${k} probe failed: ${output}`);
        },
      });
      runtime = rt;
      log.info({ node: nodeName, podCIDR: cidr }, 'runtime ready; running pods');
      await nodeStatus.sync(true).catch((e: Error) => log.warn({ err: e.message }, 'node status'));
      for (const p of pods.store.list()) onPod(p);
      await housekeeping();
      readyResolve();
    } catch (e) {
      log.error({ err: (e as Error).stack }, 'starting the runtime failed; retrying');
      setTimeout(() => void maybeStartRuntime(), 5000).unref();
    } finally {
      starting = false;
    }
  }
  await maybeStartRuntime();
  if (!runtime) log.info({ node: nodeName }, 'waiting for the node\'s podCIDR');

  // PLEG: relist containers; wake pods whose container states changed.
  let lastStates = new Map<string, string>();
  let plegBusy = false;
  const pleg = setInterval(async () => {
    if (!runtime || plegBusy || stopping) return;
    plegBusy = true;
    try {
      const now = new Map<string, string>();
      for (const c of await runtime.listContainers()) now.set(c.id, `${c.labels[LABEL_POD_UID]}|${c.state}`);
      const changed = new Set<string>();
      for (const [id, v] of now) if (lastStates.get(id) !== v) changed.add(v.split('|')[0]!);
      for (const [id, v] of lastStates) if (!now.has(id)) changed.add(v.split('|')[0]!);
      lastStates = now;
      for (const uid of changed) kick(uid);
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'PLEG relist failed');
    } finally {
      plegBusy = false;
    }
  }, o.plegPeriodMs ?? 1000);

  // Orphans: sandboxes and volume dirs of pods the API does not have (and no worker owns).
  async function housekeeping(): Promise<void> {
    if (!runtime || stopping || !pods.hasSynced()) return;
    const known = new Set(pods.store.list().map((p) => p.metadata?.uid));
    for (const s of await runtime.listPodSandbox()) {
      const uid = s.labels[LABEL_POD_UID];
      if (!uid || known.has(uid) || workers.has(uid)) continue;
      log.info({ sandbox: s.id.slice(0, 12), pod: `${s.metadata.namespace}/${s.metadata.name}` }, 'removing orphaned sandbox');
      await runtime.stopPodSandbox(s.id).catch(() => undefined);
      await runtime.removePodSandbox(s.id).catch((e: Error) => log.warn({ err: e.message }, 'removing orphaned sandbox'));
    }
    for (const uid of await volumes.podUIDs()) {
      if (!known.has(uid) && !workers.has(uid)) await volumes.tearDown(uid).catch((e: Error) => log.warn({ err: e.message }, 'removing orphaned pod dir'));
    }
    crashBackoff.gc();
  }
  const hk = setInterval(() => { void housekeeping().catch((e: Error) => log.warn({ err: e.message }, 'housekeeping')); }, 10_000);
  const statusTimer = setInterval(() => { void nodeStatus.sync().catch((e: Error) => log.warn({ err: e.message }, 'node status update failed')); }, o.statusPeriodMs ?? 10_000);

  return {
    nodeName,
    ready,
    runtime: () => runtime,
    pod: (ns, name) => pods.store.get(`${ns}/${name}`),
    pods: () => pods.store.list(),
    async stop(opts = {}) {
      stopping = true;
      clearInterval(pleg);
      clearInterval(hk);
      clearInterval(statusTimer);
      lease.stop();
      volumes.close();
      informers.stop();
      configMaps.stop();
      secrets.stop();
      for (const w of workers.values()) w.stop();
      probes?.stopAll();
      await Promise.all([...workers.values()].map((w) => w.whenIdle()));
      if (opts.drain && runtime) {
        const rt = runtime;
        const grace = opts.drainGraceSeconds ?? 5;
        await Promise.all([...workers.values()].map((w) => w.kill(grace, false).catch((e: Error) => log.warn({ pod: w.uid, err: e.message }, 'drain'))));
        // Anything else the runtime still has (orphans, half-created sandboxes).
        for (const s of await rt.listPodSandbox()) {
          await rt.stopPodSandbox(s.id).catch(() => undefined);
          await rt.removePodSandbox(s.id).catch((e: Error) => log.warn({ err: e.message }, 'drain: removing sandbox'));
        }
        for (const c of await rt.listContainers()) await rt.removeContainer(c.id).catch(() => undefined);
        for (const uid of await volumes.podUIDs()) await volumes.tearDown(uid).catch(() => undefined);
        await drainHostState(rt).catch((e: Error) => log.warn({ err: e.message }, 'drain: host state'));
        log.info({ node: nodeName }, 'drained');
      }
      await recorder.shutdown().catch(() => undefined);
      workers.clear();
    },
  };
}

/** After draining: the runtime's bridge and its root cgroup go too (nothing uses them any more). */
async function drainHostState(rt: CriRuntime): Promise<void> {
  const r = rt as unknown as { opts?: { bridge?: string; cgroupRoot?: string } };
  const bridge = r.opts?.bridge;
  if (bridge) {
    const { execFile } = await import('node:child_process');
    await new Promise<void>((res) => execFile('ip', ['link', 'del', bridge], () => res()));
  }
  const root = r.opts?.cgroupRoot;
  if (root) {
    const base = '/sys/fs/cgroup';
    const dirs = existsSync(join(base, 'cgroup.controllers')) ? [base] : (await import('node:fs/promises')).readdir(base).then((d) => d.map((x) => join(base, x)));
    for (const d of await dirs) await rmdir(join(d, root)).catch(() => undefined);
  }
}


/** A RuntimeService that forwards to the runtime once it exists (the kubelet server starts before it). */
export function lazyRuntime(get: () => CriRuntime | undefined): CriRuntime {
  return new Proxy({} as CriRuntime, {
    get(_t, prop) {
      return (...args: unknown[]) => {
        const rt = get();
        if (!rt) return Promise.reject(new Error('container runtime is not ready yet'));
        const fn = (rt as unknown as Record<string | symbol, unknown>)[prop];
        if (typeof fn !== 'function') return Promise.reject(new Error(`runtime has no ${String(prop)}`));
        return (fn as (...a: unknown[]) => unknown).apply(rt, args);
      };
    },
  });
}

/** Anything besides status and bookkeeping metadata changed. */
function specChanged(a: Pod, b: Pod): boolean {
  const strip = (p: Pod) => JSON.stringify({ spec: p.spec, labels: p.metadata?.labels, annotations: p.metadata?.annotations,
    deletionTimestamp: p.metadata?.deletionTimestamp, deletionGracePeriodSeconds: p.metadata?.deletionGracePeriodSeconds, uid: p.metadata?.uid });
  return strip(a) !== strip(b);
}
