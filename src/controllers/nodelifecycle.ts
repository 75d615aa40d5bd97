// Node lifecycle controller (upstream pkg/controller/nodelifecycle) with its
// NoExecute taint manager (pkg/controller/tainteviction):
// - a node whose Lease (kube-node-lease) and Ready heartbeat have not moved for the
//   grace period gets its conditions set to Unknown ("Kubelet stopped posting node status.");
// - Ready=Unknown → node.kubernetes.io/unreachable taints, Ready=False → not-ready taints
//   (NoExecute and NoSchedule); Ready=True → neither;
// - pods on an unreachable node are marked not ready;
// - pods on a node with NoExecute taints they do not tolerate are deleted, at once or
//   after their tolerationSeconds.
import type { Node, NodeCondition, Pod, Taint, Toleration } from 'kubernetes-types/core/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import { R } from '../api/resources.js';
import { Indexes, objectKey, type Informer } from '../client/types.js';
import { isStatusError } from '../api/errors.js';
import { getPodCondition, isPodTerminal } from '../api/pods.js';
import { errMessage, nowTime, runWorkers, withKind, type Controller, type ControllerContext, type SyncResult } from './base.js';

export const TaintUnreachable = 'node.kubernetes.io/unreachable';
export const TaintNotReady = 'node.kubernetes.io/not-ready';
export const TaintUnschedulable = 'node.kubernetes.io/unschedulable';
const DEFAULT_TOLERATION_SECONDS = 300;

/** The taints a node should have for its Ready condition (the controller's own keys only). */
export function desiredConditionTaints(node: Node, now: string): Taint[] {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  const out: Taint[] = [];
  if (!ready || ready.status === 'Unknown') {
    if (ready) { // a node that never reported is only unreachable once we marked it so
      out.push({ key: TaintUnreachable, effect: 'NoExecute', timeAdded: now }, { key: TaintUnreachable, effect: 'NoSchedule' });
    }
  } else if (ready.status === 'False') {
    out.push({ key: TaintNotReady, effect: 'NoExecute', timeAdded: now }, { key: TaintNotReady, effect: 'NoSchedule' });
  }
  if (node.spec?.unschedulable) out.push({ key: TaintUnschedulable, effect: 'NoSchedule' });
  return out;
}

const ownKeys = new Set([TaintUnreachable, TaintNotReady, TaintUnschedulable]);
const taintId = (t: Taint): string => `${t.key}:${t.effect}`;

/** The node's taints with the controller's own ones reconciled, or undefined when nothing changes. */
export function reconcileTaints(node: Node, now: string): Taint[] | undefined {
  const cur = node.spec?.taints ?? [];
  const want = desiredConditionTaints(node, now);
  const wantIds = new Set(want.map(taintId));
  const kept = cur.filter((t) => !ownKeys.has(t.key) || wantIds.has(taintId(t)));
  const have = new Set(kept.map(taintId));
  const added = want.filter((t) => !have.has(taintId(t)));
  if (!added.length && kept.length === cur.length) return undefined;
  return [...kept, ...added];
}

/** Toleration.ToleratesTaint. */
export function tolerates(tol: Toleration, taint: Taint): boolean {
  if (tol.effect && tol.effect !== taint.effect) return false;
  if (tol.key && tol.key !== taint.key) return false;
  switch (tol.operator ?? 'Equal') {
    case 'Exists': return true;
    case 'Equal': return (tol.value ?? '') === (taint.value ?? '') && (!!tol.key || false);
    default: return false;
  }
}

/**
 * When a pod on a node with these NoExecute taints must go: 'now', 'never', or the
 * number of seconds its tolerations allow from the taint's timeAdded.
 * `defaultSeconds` replaces the API server's default 300 s tolerations (tests).
 */
export function evictionDelay(taints: Taint[], tolerations: Toleration[], defaultSeconds = DEFAULT_TOLERATION_SECONDS): 'now' | 'never' | number {
  const noExec = taints.filter((t) => t.effect === 'NoExecute');
  if (!noExec.length) return 'never';
  let min = Infinity;
  for (const t of noExec) {
    const matching = tolerations.filter((tol) => tolerates(tol, t));
    if (!matching.length) return 'now';
    // As upstream getMinTolerationTime: the shortest tolerationSeconds of all used tolerations.
    for (const tol of matching) {
      if (tol.tolerationSeconds === undefined || tol.tolerationSeconds === null) continue;
      let s = tol.tolerationSeconds;
      if (s === DEFAULT_TOLERATION_SECONDS && (t.key === TaintUnreachable || t.key === TaintNotReady)) s = defaultSeconds;
      min = Math.min(min, Math.max(0, s));
    }
  }
  return min === Infinity ? 'never' : min;
}

interface Health { probe: number; heartbeat?: string; renew?: string }

export function startNodeLifecycleController(ctx: ControllerContext): Controller {
  const name = 'nodelifecycle';
  const log = ctx.log.child({ controller: name });
  const nodeInf: Informer<Node> = ctx.informers.informer<Node>(R.nodes);
  // The cluster-wide Lease informer, as upstream: the one the garbage collector watches too (a
  // kube-node-lease-scoped one would be a second watch of every node's heartbeat).
  const leaseInf: Informer<Lease> = ctx.informers.informer<Lease>(R.leases);
  const podInf: Informer<Pod> = ctx.informers.informer<Pod>(R.pods);
  const nodeClient = ctx.client.resource<Node>(R.nodes);
  const podClient = ctx.client.resource<Pod>(R.pods);
  const recorder = ctx.recorder('node-controller');
  const evictRecorder = ctx.recorder('taint-eviction-controller');
  const nodeQueue = ctx.newQueue('nodelifecycle');
  const podQueue = ctx.newQueue('tainteviction');
  const health = new Map<string, Health>();
  const grace = ctx.options.nodeMonitorGracePeriodMs;

  const observe = (nodeName: string): Health => {
    const node = nodeInf.store.get(nodeName);
    const lease = leaseInf.store.get(`kube-node-lease/${nodeName}`);
    const hb = node?.status?.conditions?.find((c) => c.type === 'Ready')?.lastHeartbeatTime;
    const renew = lease?.spec?.renewTime as unknown as string | undefined;
    let h = health.get(nodeName);
    if (!h) { h = { probe: Date.now(), heartbeat: hb, renew }; health.set(nodeName, h); return h; }
    if (hb !== h.heartbeat || renew !== h.renew) { h.probe = Date.now(); h.heartbeat = hb; h.renew = renew; }
    return h;
  };

  const enqueuePodsOn = (nodeName: string): void => {
    for (const p of podInf.store.byIndex(Indexes.nodeName, nodeName)) podQueue.add(objectKey(p));
  };
  nodeInf.addEventHandler({
    onAdd: (n) => { observe(n.metadata!.name!); nodeQueue.add(n.metadata!.name!); enqueuePodsOn(n.metadata!.name!); },
    onUpdate: (o, n) => {
      observe(n.metadata!.name!);
      nodeQueue.add(n.metadata!.name!);
      if (JSON.stringify(o.spec?.taints ?? []) !== JSON.stringify(n.spec?.taints ?? [])) enqueuePodsOn(n.metadata!.name!);
    },
    onDelete: (n) => { health.delete(n.metadata!.name!); },
  });
  const nodeLease = (l: Lease): boolean => l.metadata?.namespace === 'kube-node-lease' && !!nodeInf.store.get(l.metadata.name!);
  leaseInf.addEventHandler({
    onAdd: (l) => { if (nodeLease(l)) observe(l.metadata!.name!); },
    onUpdate: (_o, l) => { if (nodeLease(l)) observe(l.metadata!.name!); },
  });
  podInf.addEventHandler({
    onAdd: (p) => { if (p.spec?.nodeName) podQueue.add(objectKey(p)); },
    onUpdate: (o, p) => {
      if (p.spec?.nodeName && (o.spec?.nodeName !== p.spec.nodeName || !sameTolerations(o.spec?.tolerations, p.spec?.tolerations))) podQueue.add(objectKey(p));
    },
  });

  /** monitorNodeHealth for one node: Unknown after the grace period, then taints and pods. */
  async function syncNode(nodeName: string): Promise<SyncResult> {
    const cached = nodeInf.store.get(nodeName);
    if (!cached) return;
    let node = cached;
    const h = observe(nodeName);
    const now = Date.now();
    const overdue = now - h.probe > grace;
    if (overdue) {
      const conds = structuredClone(node.status?.conditions ?? []);
      let changed = false;
      const t = nowTime(now);
      const types = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];
      for (const type of types) {
        const c = conds.find((x) => x.type === type);
        if (!c) {
          conds.push({ type, status: 'Unknown', reason: 'NodeStatusNeverUpdated', message: 'Kubelet never posted node status.', lastHeartbeatTime: t, lastTransitionTime: t } as NodeCondition);
          changed = true;
        } else if (c.status !== 'Unknown') {
          c.status = 'Unknown'; c.reason = 'NodeStatusUnknown'; c.message = 'Kubelet stopped posting node status.'; c.lastTransitionTime = t;
          changed = true;
        }
      }
      if (changed) {
        const wasReady = node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
        node = await nodeClient.updateStatus({ ...node, status: { ...node.status, conditions: conds } });
        // Our own write must not count as a heartbeat.
        const hh = health.get(nodeName);
        if (hh) hh.heartbeat = node.status?.conditions?.find((c) => c.type === 'Ready')?.lastHeartbeatTime;
        log.info({ node: nodeName }, 'node stopped posting status: Ready=Unknown');
        if (wasReady) recorder.event(withKind(node, R.nodes), 'Normal', 'NodeNotReady', `Node ${nodeName} status is now: NodeNotReady`);
      }
    }
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    // Taints follow the Ready condition.
    const taints = reconcileTaints(node, nowTime(now));
    if (taints) {
      node = await nodeClient.patch(nodeName, 'merge', { spec: { taints } });
    }
    if (ready?.status === 'Unknown' || ready?.status === 'False') await markPodsNotReady(node);
    // Look again once the grace period could have run out.
    return overdue ? undefined : Math.max(100, h.probe + grace - now + 50);
  }

  /** MarkPodsNotReady: pods on a node that is not ready get Ready=False. */
  async function markPodsNotReady(node: Node): Promise<void> {
    for (const pod of podInf.store.byIndex(Indexes.nodeName, node.metadata!.name!)) {
      if (isPodTerminal(pod)) continue;
      const c = getPodCondition(pod, 'Ready');
      if (!c || c.status === 'False') continue;
      const conds = (pod.status?.conditions ?? []).map((x) => (x.type === 'Ready' ? { ...x, status: 'False', lastTransitionTime: nowTime() } : x));
      try {
        await podClient.updateStatus({ ...pod, status: { ...pod.status, conditions: conds } }, { namespace: pod.metadata!.namespace! });
        recorder.event(withKind(pod, R.pods), 'Warning', 'NodeNotReady', 'Node is not ready');
      } catch (e) {
        if (!isStatusError(e, 'NotFound') && !isStatusError(e, 'Conflict')) log.warn({ pod: objectKey(pod), err: errMessage(e) }, 'mark pod not ready');
      }
    }
  }

  /** Taint manager: evict the pod when its tolerations run out. */
  async function syncPod(key: string): Promise<SyncResult> {
    const pod = podInf.store.get(key);
    if (!pod || !pod.spec?.nodeName || pod.metadata?.deletionTimestamp || isPodTerminal(pod)) return;
    const node = nodeInf.store.get(pod.spec.nodeName);
    if (!node) return;
    const taints = (node.spec?.taints ?? []).filter((t) => t.effect === 'NoExecute');
    const delay = evictionDelay(taints, pod.spec.tolerations ?? [], ctx.options.podEvictionTimeoutSeconds);
    if (delay === 'never') return;
    if (delay !== 'now') {
      const since = Math.max(...taints.map((t) => Date.parse((t.timeAdded as unknown as string) ?? '') || Date.now()));
      const due = since + delay * 1000;
      if (due > Date.now()) return due - Date.now() + 10;
    }
    try {
      evictRecorder.event(withKind(pod, R.pods), 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${key}`);
      await podClient.delete(pod.metadata!.name!, { namespace: pod.metadata!.namespace!, preconditions: { uid: pod.metadata!.uid! } });
    } catch (e) {
      if (!isStatusError(e, 'NotFound') && !isStatusError(e, 'Conflict')) throw e;
    }
    return;
  }

  return {
    name,
    run: async (workers) => {
      const period = ctx.options.nodeMonitorPeriodMs;
      const timer = setInterval(() => { for (const k of nodeInf.store.keys()) nodeQueue.add(k); }, period);
      timer.unref();
      ctx.signal.addEventListener('abort', () => { clearInterval(timer); nodeQueue.shutDown(); podQueue.shutDown(); }, { once: true });
      await Promise.all([
        runWorkers(name, nodeQueue, 1, log, syncNode),
        runWorkers('tainteviction', podQueue, workers, log, syncPod),
      ]);
    },
  };
}

/** Field by field (every pod carries the default not-ready/unreachable tolerations; this runs on every pod update). */
function sameTolerations(a: Toleration[] | undefined, b: Toleration[] | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  return a.every((t, i) => {
    const u = b[i]!;
    return t.key === u.key && t.operator === u.operator && t.value === u.value && t.effect === u.effect && t.tolerationSeconds === u.tolerationSeconds;
  });
}
