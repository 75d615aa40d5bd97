// ReplicaSet controller (upstream pkg/controller/replicaset): keeps spec.replicas
// active pods matching the selector, owned through a controller reference.
import type { ReplicaSet, ReplicaSetCondition, ReplicaSetStatus } from 'kubernetes-types/apps/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { R } from '../api/resources.js';
import { omitZero } from '../api/omit-zero.js';
import { Indexes, objectKey, type Informer, type WorkQueue } from '../client/types.js';
import { isStatusError } from '../api/errors.js';
import { getControllerOf, newControllerRef } from '../api/owners.js';
import { isPodActive, isPodAvailable, isPodReady } from '../api/pods.js';
import { Expectations } from './util/expectations.js';
import { selectorMatches } from './util/selector.js';
import { podFromTemplate, podsToDelete, slowStartBatch } from './util/pods.js';
import { claimObjects } from './util/claim.js';
import { errMessage, nowTime, queueController, withKind, type Controller, type ControllerContext, type Recorder, type SyncResult } from './base.js';

/** Upstream BurstReplicas: at most this many creates or deletes per sync. */
export const BURST_REPLICAS = 500;

export function computeReplicaSetStatus(rs: ReplicaSet, pods: Pod[], manageErr: { reason: string; message: string } | undefined, now = Date.now()): ReplicaSetStatus {
  const templateLabels = rs.spec?.template?.metadata?.labels ?? {};
  const minReady = rs.spec?.minReadySeconds ?? 0;
  let fully = 0, ready = 0, available = 0;
  for (const p of pods) {
    const labels = p.metadata?.labels ?? {};
    if (Object.entries(templateLabels).every(([k, v]) => labels[k] === v)) fully++;
    if (isPodReady(p)) {
      ready++;
      if (isPodAvailable(p, minReady, now)) available++;
    }
  }
  const status: ReplicaSetStatus = {
    replicas: pods.length,
    fullyLabeledReplicas: fully,
    readyReplicas: ready,
    availableReplicas: available,
    observedGeneration: rs.metadata?.generation ?? 0,
  };
  // As upstream's JSON: all omitempty but replicas, which is there even when 0.
  omitZero(status, ['fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration']);
  let conditions: ReplicaSetCondition[] = [...(rs.status?.conditions ?? [])];
  const failure = conditions.find((c) => c.type === 'ReplicaFailure');
  if (manageErr && !failure) {
    conditions.push({ type: 'ReplicaFailure', status: 'True', reason: manageErr.reason, message: manageErr.message, lastTransitionTime: nowTime(now) });
  } else if (!manageErr && failure) {
    conditions = conditions.filter((c) => c.type !== 'ReplicaFailure');
  }
  if (conditions.length) status.conditions = conditions;
  return status;
}

function statusEqual(x: ReplicaSetStatus | undefined, b: ReplicaSetStatus): boolean {
  const a: Partial<ReplicaSetStatus> = x ?? {};
  // A missing counter is a zero (omitempty).
  const counters = ['replicas', 'fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration'] as const;
  return counters.every((k) => (a[k] ?? 0) === (b[k] ?? 0))
    && JSON.stringify(a.conditions ?? []) === JSON.stringify(b.conditions ?? []);
}

export function startReplicaSetController(ctx: ControllerContext): Controller {
  const name = 'replicaset';
  const log = ctx.log.child({ controller: name });
  const rsInf: Informer<ReplicaSet> = ctx.informers.informer<ReplicaSet>(R.replicasets);
  const podInf: Informer<Pod> = ctx.informers.informer<Pod>(R.pods);
  const queue: WorkQueue<string> = ctx.newQueue(name);
  const expectations = new Expectations();
  const recorder: Recorder = ctx.recorder('replicaset-controller');
  const rsClient = ctx.client.resource<ReplicaSet>(R.replicasets);
  const podClient = ctx.client.resource<Pod>(R.pods);

  const enqueue = (rs: ReplicaSet): void => queue.add(objectKey(rs));

  /** The ReplicaSet a controller reference points at, if it exists with that uid. */
  const resolveRef = (ns: string | undefined, pod: Pod): ReplicaSet | undefined => {
    const ref = getControllerOf(pod);
    if (!ref || ref.kind !== 'ReplicaSet') return undefined;
    const rs = rsInf.store.get(`${ns}/${ref.name}`);
    return rs && rs.metadata?.uid === ref.uid ? rs : undefined;
  };
  const matchingRSs = (pod: Pod): ReplicaSet[] =>
    rsInf.store.byIndex(Indexes.namespace, pod.metadata?.namespace ?? '')
      .filter((rs) => selectorMatches(rs.spec?.selector, pod.metadata?.labels));

  rsInf.addEventHandler({
    onAdd: enqueue,
    onUpdate: (_o, n) => enqueue(n),
    onDelete: (rs) => { expectations.delete(objectKey(rs)); enqueue(rs); },
  });

  podInf.addEventHandler({
    onAdd: (pod) => {
      const ns = pod.metadata?.namespace;
      if (pod.metadata?.deletionTimestamp) { onPodDelete(pod); return; }
      if (getControllerOf(pod)) {
        const rs = resolveRef(ns, pod);
        if (!rs) return;
        expectations.creationObserved(objectKey(rs));
        enqueue(rs);
        return;
      }
      for (const rs of matchingRSs(pod)) enqueue(rs);
    },
    onUpdate: (oldPod, pod) => {
      if (oldPod.metadata?.resourceVersion === pod.metadata?.resourceVersion) return;
      const labelsChanged = JSON.stringify(oldPod.metadata?.labels ?? {}) !== JSON.stringify(pod.metadata?.labels ?? {});
      if (pod.metadata?.deletionTimestamp) {
        // Graceful deletion started: count it as observed now so that the replacement is created at once.
        onPodDelete(pod);
        if (labelsChanged) { const o = resolveRef(oldPod.metadata?.namespace, oldPod); if (o) enqueue(o); }
        return;
      }
      const oldRef = getControllerOf(oldPod), curRef = getControllerOf(pod);
      if (oldRef && oldRef.uid !== curRef?.uid) { const o = resolveRef(oldPod.metadata?.namespace, oldPod); if (o) enqueue(o); }
      if (curRef) {
        const rs = resolveRef(pod.metadata?.namespace, pod);
        if (!rs) return;
        enqueue(rs);
        const minReady = rs.spec?.minReadySeconds ?? 0;
        if (minReady > 0 && !isPodReady(oldPod) && isPodReady(pod)) queue.addAfter(objectKey(rs), minReady * 1000 + 100);
        return;
      }
      if (labelsChanged || oldRef) for (const rs of matchingRSs(pod)) enqueue(rs);
    },
    onDelete: (pod) => onPodDelete(pod),
  });

  function onPodDelete(pod: Pod): void {
    const rs = resolveRef(pod.metadata?.namespace, pod);
    if (!rs) return;
    const key = objectKey(rs);
    expectations.deletionObserved(key, objectKey(pod));
    enqueue(rs);
  }

  async function manageReplicas(rs: ReplicaSet, active: Pod[], related: Pod[]): Promise<{ reason: string; message: string } | undefined> {
    const key = objectKey(rs);
    const ns = rs.metadata!.namespace!;
    const want = rs.spec?.replicas ?? 1;
    let diff = active.length - want;
    if (diff < 0) {
      diff = Math.min(-diff, BURST_REPLICAS);
      expectations.expectCreations(key, diff);
      const ref = newControllerRef(rs, 'apps/v1', 'ReplicaSet');
      const { successes, error } = await slowStartBatch(diff, 1, async () => {
        const pod = podFromTemplate(rs.spec?.template, ns, rs.metadata!.name!, ref);
        try {
          const created = await podClient.create(pod, { namespace: ns });
          recorder.event(withKind(rs, R.replicasets), 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata?.name}`);
        } catch (e) {
          // A terminating namespace refuses every create: nothing to do, not an error (as upstream).
          if (isStatusError(e, 'Forbidden') && /being terminated/.test(errMessage(e))) {
            expectations.lowerCreations(key, 1);
            return;
          }
          recorder.event(withKind(rs, R.replicasets), 'Warning', 'FailedCreate', `Error creating: ${errMessage(e)}`);
          throw e;
        }
      });
      const skipped = diff - successes;
      if (skipped > 0) expectations.lowerCreations(key, skipped);
      if (error !== undefined) return { reason: 'FailedCreate', message: errMessage(error) };
      return undefined;
    }
    if (diff > 0) {
      diff = Math.min(diff, BURST_REPLICAS);
      const victims = podsToDelete(active, related, diff);
      expectations.expectDeletions(key, victims.map(objectKey));
      let firstErr: unknown;
      await Promise.all(victims.map(async (p) => {
        try {
          await podClient.delete(p.metadata!.name!, { namespace: ns });
          recorder.event(withKind(rs, R.replicasets), 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata?.name}`);
        } catch (e) {
          expectations.deletionObserved(key, objectKey(p));
          if (isStatusError(e, 'NotFound')) return;
          recorder.event(withKind(rs, R.replicasets), 'Warning', 'FailedDelete', `Error deleting: ${errMessage(e)}`);
          firstErr ??= e;
        }
      }));
      if (firstErr !== undefined) return { reason: 'FailedDelete', message: errMessage(firstErr) };
    }
    return undefined;
  }

  async function sync(key: string): Promise<SyncResult> {
    const cached = rsInf.store.get(key);
    if (!cached) { expectations.delete(key); return; }
    const rs = structuredClone(cached);
    const ns = rs.metadata!.namespace!;
    const needsSync = expectations.satisfied(key);
    const all = podInf.store.byIndex(Indexes.namespace, ns);
    const active = all.filter(isPodActive);
    const owned = await claimObjects<Pod>(active, {
      owner: rs,
      controllerRef: newControllerRef(rs, 'apps/v1', 'ReplicaSet'),
      matches: (p) => selectorMatches(rs.spec?.selector, p.metadata?.labels),
      client: podClient,
      canAdopt: async () => {
        const fresh = await rsClient.get(rs.metadata!.name!, { namespace: ns });
        return fresh.metadata?.uid === rs.metadata?.uid && !fresh.metadata?.deletionTimestamp;
      },
    });
    let manageErr: { reason: string; message: string } | undefined;
    if (needsSync && !rs.metadata?.deletionTimestamp) {
      manageErr = await manageReplicas(rs, owned, active);
    }
    // Pods we deleted no longer count: neither those whose deletion the cache has not shown
    // yet nor those it showed while we were deleting (`owned` is from before). Upstream counts
    // them until a later sync; a status that still called them available let the deployment
    // controller, reacting to this very status write, scale old ReplicaSets down further than
    // maxUnavailable allows.
    const deleting = expectations.pendingDeletions(key);
    const counted = owned.filter((p) => {
      const k = objectKey(p);
      const cur = podInf.store.get(k);
      return !deleting.has(k) && cur !== undefined && isPodActive(cur);
    });
    const status = computeReplicaSetStatus(rs, counted, manageErr);
    let latest = rs;
    if (!statusEqual(rs.status, status)) {
      latest = await updateStatus(rs, status);
    }
    const minReady = latest.spec?.minReadySeconds ?? 0;
    if (manageErr) throw new Error(manageErr.message);
    if (minReady > 0 && (status.readyReplicas ?? 0) === (latest.spec?.replicas ?? 1) && (status.availableReplicas ?? 0) !== (status.readyReplicas ?? 0)) {
      return minReady * 1000;
    }
    return undefined;
  }

  async function updateStatus(rs: ReplicaSet, status: ReplicaSetStatus): Promise<ReplicaSet> {
    const ns = rs.metadata!.namespace!;
    let obj = rs;
    for (let i = 0; ; i++) {
      try {
        return await rsClient.updateStatus({ ...obj, status }, { namespace: ns });
      } catch (e) {
        if (isStatusError(e, 'NotFound')) return rs;
        if (!isStatusError(e, 'Conflict') || i >= 1) throw e;
        obj = await rsClient.get(rs.metadata!.name!, { namespace: ns });
        if (obj.metadata?.uid !== rs.metadata?.uid) return rs;
        status.observedGeneration = Math.min(status.observedGeneration ?? 0, obj.metadata?.generation ?? 0);
      }
    }
  }

  return queueController(name, ctx, queue, log, sync);
}

