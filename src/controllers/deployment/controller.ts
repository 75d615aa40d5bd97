// Deployment controller (upstream pkg/controller/deployment): manages ReplicaSets
// named <deployment>-<pod-template-hash>, rolling updates, Recreate, revisions,
// pause/resume, progress conditions and history cleanup.
import { omitZero } from '../../api/omit-zero.js';
import type { Deployment, DeploymentStatus, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { R } from '../../api/resources.js';
import { Indexes, objectKey, type Informer, type WorkQueue } from '../../client/types.js';
import { isStatusError } from '../../api/errors.js';
import { getControllerOf, isControlledBy, newControllerRef } from '../../api/owners.js';
import { claimObjects } from '../util/claim.js';
import { computeHash } from '../util/hash.js';
import { isEmptySelector, selectorMatches } from '../util/selector.js';
import { errMessage, queueController, withKind, type Controller, type ControllerContext, type SyncResult } from '../base.js';
import {
  actualReplicaCount, availableReplicaCount, DefaultLabelKey, deploymentComplete, deploymentProgressing,
  deploymentTimedOut, equalIgnoreHash, findNewReplicaSet, findOldReplicaSets, getCondition, maxRevision,
  maxSurge, maxUnavailable, newCondition, readyReplicaCount, removeCondition, replicaCount, replicasOf,
  replicasAnnotationsNeedUpdate, revisionOf, RevisionAnnotation, setCondition, setNewReplicaSetAnnotations,
  setReplicasAnnotations, specReplicas, byCreation,
} from './util.js';
import { isScalingEvent, planNewReplicaSet, planOldReplicaSets, planScale } from './plan.js';

export function calculateStatus(d: Deployment, allRSs: ReplicaSet[], newRS: ReplicaSet | undefined): DeploymentStatus {
  const available = availableReplicaCount(allRSs);
  const total = replicaCount(allRSs);
  const status: DeploymentStatus = {
    observedGeneration: d.metadata?.generation ?? 0,
    replicas: actualReplicaCount(allRSs),
    updatedReplicas: actualReplicaCount([newRS]),
    readyReplicas: readyReplicaCount(allRSs),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, total - available),
  };
  // Upstream's DeploymentStatus counters are all omitempty: a zero is no field.
  omitZero(status, ['observedGeneration', 'replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas']);
  if (d.status?.collisionCount !== undefined) status.collisionCount = d.status.collisionCount;
  status.conditions = (d.status?.conditions ?? []).map((c) => ({ ...c }));
  if (available >= replicasOf(d) - maxUnavailable(d)) {
    setCondition(status, newCondition('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.'));
  } else {
    setCondition(status, newCondition('Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.'));
  }
  return status;
}

const hasProgressDeadline = (d: Deployment): boolean => {
  const s = d.spec?.progressDeadlineSeconds;
  return s !== undefined && s !== null && s < 2147483647;
};

/** The Deployment's next status with progress conditions (upstream syncRolloutStatus), pure. */
export function rolloutStatus(d: Deployment, allRSs: ReplicaSet[], newRS: ReplicaSet | undefined, now = Date.now()): DeploymentStatus {
  const s = calculateStatus(d, allRSs, newRS);
  if (!hasProgressDeadline(d)) removeCondition(s, 'Progressing');
  const cur = getCondition(d.status, 'Progressing');
  const complete = (s.replicas ?? 0) === (s.updatedReplicas ?? 0) && cur?.reason === 'NewReplicaSetAvailable';
  if (hasProgressDeadline(d) && !complete) {
    const what = newRS ? `ReplicaSet "${newRS.metadata?.name}"` : `Deployment "${d.metadata?.name}"`;
    if (deploymentComplete(d, s)) {
      setCondition(s, newCondition('Progressing', 'True', 'NewReplicaSetAvailable', `${what} has successfully progressed.`, new Date(now)));
    } else if (deploymentProgressing(d, s)) {
      const c = newCondition('Progressing', 'True', 'ReplicaSetUpdated', `${what} is progressing.`, new Date(now));
      if (cur) {
        if (cur.status === 'True') c.lastTransitionTime = cur.lastTransitionTime;
        removeCondition(s, 'Progressing');
      }
      setCondition(s, c);
    } else if (deploymentTimedOut(d, s, now)) {
      setCondition(s, newCondition('Progressing', 'False', 'ProgressDeadlineExceeded', `${what} has timed out progressing.`, new Date(now)));
    }
  }
  const failures = [...allRSs].filter((rs) => rs !== newRS).concat(newRS ? [newRS] : [])
    .flatMap((rs) => rs.status?.conditions ?? []).filter((c) => c.type === 'ReplicaFailure' && c.status === 'True');
  if (failures.length) {
    const f = failures[failures.length - 1]!;
    setCondition(s, { type: 'ReplicaFailure', status: f.status, reason: f.reason, message: f.message, lastTransitionTime: f.lastTransitionTime, lastUpdateTime: f.lastTransitionTime });
  } else removeCondition(s, 'ReplicaFailure');
  return s;
}

/** Compare two statuses ignoring lastUpdateTime of unchanged conditions. */
function statusEqual(a: DeploymentStatus | undefined, b: DeploymentStatus): boolean {
  return JSON.stringify(normalize(a ?? {})) === JSON.stringify(normalize(b));
}
function normalize(s: DeploymentStatus): unknown {
  return {
    observedGeneration: s.observedGeneration ?? 0, replicas: s.replicas ?? 0, updatedReplicas: s.updatedReplicas ?? 0,
    readyReplicas: s.readyReplicas ?? 0, availableReplicas: s.availableReplicas ?? 0, unavailableReplicas: s.unavailableReplicas ?? 0,
    collisionCount: s.collisionCount ?? null,
    conditions: [...(s.conditions ?? [])].sort((x, y) => x.type.localeCompare(y.type))
      .map((c) => [c.type, c.status, c.reason ?? '', c.message ?? '', c.lastUpdateTime ?? '', c.lastTransitionTime ?? '']),
  };
}

export function startDeploymentController(ctx: ControllerContext): Controller {
  const name = 'deployment';
  const log = ctx.log.child({ controller: name });
  const dInf: Informer<Deployment> = ctx.informers.informer<Deployment>(R.deployments);
  const rsInf: Informer<ReplicaSet> = ctx.informers.informer<ReplicaSet>(R.replicasets);
  const podInf: Informer<Pod> = ctx.informers.informer<Pod>(R.pods);
  const queue: WorkQueue<string> = ctx.newQueue(name);
  const recorder = ctx.recorder('deployment-controller');
  const dClient = ctx.client.resource<Deployment>(R.deployments);
  const rsClient = ctx.client.resource<ReplicaSet>(R.replicasets);

  const enqueue = (d: Deployment): void => queue.add(objectKey(d));
  const ownerOf = (rs: ReplicaSet): Deployment | undefined => {
    const ref = getControllerOf(rs);
    if (!ref || ref.kind !== 'Deployment') return undefined;
    const d = dInf.store.get(`${rs.metadata?.namespace}/${ref.name}`);
    return d && d.metadata?.uid === ref.uid ? d : undefined;
  };
  const matchingDeployments = (rs: ReplicaSet): Deployment[] =>
    dInf.store.byIndex(Indexes.namespace, rs.metadata?.namespace ?? '')
      .filter((d) => !isEmptySelector(d.spec?.selector) && selectorMatches(d.spec?.selector, rs.metadata?.labels));

  dInf.addEventHandler({ onAdd: enqueue, onUpdate: (_o, n) => enqueue(n), onDelete: enqueue });
  const onRS = (rs: ReplicaSet): void => {
    const d = ownerOf(rs);
    if (d) enqueue(d);
    else if (!getControllerOf(rs)) for (const x of matchingDeployments(rs)) enqueue(x);
  };
  rsInf.addEventHandler({
    onAdd: onRS,
    onUpdate: (o, n) => {
      if (o.metadata?.resourceVersion === n.metadata?.resourceVersion) return;
      const od = ownerOf(o);
      if (od && getControllerOf(n)?.uid !== od.metadata?.uid) enqueue(od);
      onRS(n);
    },
    onDelete: onRS,
  });
  // Recreate waits for the old pods to be gone.
  podInf.addEventHandler({
    onDelete: (pod) => {
      const ref = getControllerOf(pod);
      if (!ref || ref.kind !== 'ReplicaSet') return;
      const rs = rsInf.store.get(`${pod.metadata?.namespace}/${ref.name}`);
      if (!rs || rs.metadata?.uid !== ref.uid) return;
      const d = ownerOf(rs);
      if (d?.spec?.strategy?.type === 'Recreate') enqueue(d);
    },
  });

  // ---- writes ----------------------------------------------------------------------

  async function updateStatus(d: Deployment, status: DeploymentStatus): Promise<Deployment> {
    const updated = await dClient.updateStatus({ ...d, status }, { namespace: d.metadata!.namespace! });
    return updated;
  }

  async function scaleRS(rs: ReplicaSet, replicas: number, d: Deployment, op?: 'up' | 'down'): Promise<ReplicaSet> {
    const cur = specReplicas(rs);
    const sizeChange = cur !== replicas;
    const annChange = replicasAnnotationsNeedUpdate(rs, replicasOf(d), replicasOf(d) + maxSurge(d));
    if (!sizeChange && !annChange) return rs;
    const copy = structuredClone(rs);
    copy.spec = { ...copy.spec!, replicas };
    setReplicasAnnotations(copy, replicasOf(d), replicasOf(d) + maxSurge(d));
    const updated = await rsClient.update(copy, { namespace: rs.metadata!.namespace! });
    if (sizeChange) {
      const dir = op ?? (replicas > cur ? 'up' : 'down');
      recorder.event(withKind(d, R.deployments), 'Normal', 'ScalingReplicaSet', `Scaled ${dir} replica set ${rs.metadata?.name} from ${cur} to ${replicas}`);
    }
    return updated;
  }

  async function setDeploymentRevision(d: Deployment, revision: string): Promise<Deployment> {
    if (d.metadata?.annotations?.[RevisionAnnotation] === revision) return d;
    // The resourceVersion makes the patch conditional, as upstream's Update is: a sync working
    // from a stale cache must fail here (and retry) rather than come away with a fresh
    // resourceVersion on its stale status, which its next status write would then put over
    // the newer one (a NewReplicaSetCreated condition lost to an old NewReplicaSetAvailable).
    const updated = await dClient.patch(d.metadata!.name!, 'merge', {
      metadata: { resourceVersion: d.metadata?.resourceVersion, annotations: { [RevisionAnnotation]: revision } },
    }, { namespace: d.metadata!.namespace! });
    // Keep our status view (it matches that resourceVersion); take metadata from the server.
    return { ...d, metadata: updated.metadata };
  }

  // ---- the new ReplicaSet ----------------------------------------------------------

  interface RSState { d: Deployment; newRS: ReplicaSet | undefined; oldRSs: ReplicaSet[] }

  async function getAllReplicaSetsAndSyncRevision(d: Deployment, rsList: ReplicaSet[], create: boolean): Promise<RSState> {
    const existing = findNewReplicaSet(d, rsList);
    const { allOld } = findOldReplicaSets(existing, rsList);
    const newRevision = String(maxRevision(allOld) + 1);
    const ns = d.metadata!.namespace!;

    if (existing) {
      const copy = structuredClone(existing);
      const annChanged = setNewReplicaSetAnnotations(d, copy, newRevision, true);
      const minReadyChanged = (copy.spec?.minReadySeconds ?? 0) !== (d.spec?.minReadySeconds ?? 0);
      let rs = existing;
      if (annChanged || minReadyChanged) {
        copy.spec = { ...copy.spec!, minReadySeconds: d.spec?.minReadySeconds ?? 0 };
        rs = await rsClient.update(copy, { namespace: ns });
      }
      d = await setDeploymentRevision(d, rs.metadata?.annotations?.[RevisionAnnotation] ?? newRevision);
      if (hasProgressDeadline(d) && !getCondition(d.status, 'Progressing')) {
        const status = structuredClone(d.status ?? {});
        setCondition(status, newCondition('Progressing', 'True', 'FoundNewReplicaSet', `Found new replica set "${rs.metadata?.name}"`));
        d = await updateStatus(d, status);
      }
      return { d, newRS: rs, oldRSs: allOld };
    }
    if (!create) return { d, newRS: undefined, oldRSs: allOld };

    const hash = computeHash(d.spec?.template, d.status?.collisionCount);
    const template = structuredClone(d.spec!.template);
    template.metadata ??= {};
    template.metadata.labels = { ...(template.metadata.labels ?? {}), [DefaultLabelKey]: hash };
    const selector = structuredClone(d.spec!.selector);
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [DefaultLabelKey]: hash };
    const rsName = `${d.metadata!.name}-${hash}`;
    const newRS: ReplicaSet = {
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: {
        name: rsName, namespace: ns,
        ownerReferences: [newControllerRef(d, 'apps/v1', 'Deployment')],
        labels: { ...template.metadata.labels },
      },
      spec: { replicas: 0, minReadySeconds: d.spec?.minReadySeconds ?? 0, selector, template },
    };
    const allRSs = [...allOld, newRS];
    const replicas = (() => { try { return planNewReplicaSet(d, allRSs, newRS) ?? 0; } catch { return 0; } })();
    newRS.spec!.replicas = replicas;
    setNewReplicaSetAnnotations(d, newRS, newRevision, false);

    let created: ReplicaSet;
    let alreadyExists = false;
    try {
      created = await rsClient.create(newRS, { namespace: ns });
    } catch (e) {
      if (isStatusError(e, 'AlreadyExists')) {
        const rs = rsInf.store.get(`${ns}/${rsName}`) ?? await rsClient.get(rsName, { namespace: ns });
        if (isControlledBy(rs, d) && equalIgnoreHash(rs.spec?.template, d.spec?.template)) {
          created = rs;
          alreadyExists = true;
        } else {
          // A hash collision: bump collisionCount so that the next hash differs.
          const status = structuredClone(d.status ?? {});
          status.collisionCount = (status.collisionCount ?? 0) + 1;
          await updateStatus(d, status);
          log.info({ deployment: objectKey(d), collisionCount: status.collisionCount }, 'hash collision');
          throw new Error(`replica set ${rsName} exists and is not ours: collision`);
        }
      } else {
        if (hasProgressDeadline(d)) {
          const msg = `Failed to create new replica set "${rsName}": ${errMessage(e)}`;
          const status = structuredClone(d.status ?? {});
          setCondition(status, newCondition('Progressing', 'False', 'ReplicaSetCreateError', msg));
          recorder.event(withKind(d, R.deployments), 'Warning', 'ReplicaSetCreateError', msg);
          await updateStatus(d, status).catch(() => undefined);
        }
        throw e;
      }
    }
    if (!alreadyExists && replicas > 0) {
      recorder.event(withKind(d, R.deployments), 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${rsName} from 0 to ${replicas}`);
    }
    d = await setDeploymentRevision(d, newRevision);
    if (!alreadyExists && hasProgressDeadline(d)) {
      const status = structuredClone(d.status ?? {});
      setCondition(status, newCondition('Progressing', 'True', 'NewReplicaSetCreated', `Created new replica set "${rsName}"`));
      d = await updateStatus(d, status);
    }
    return { d, newRS: created, oldRSs: allOld };
  }

  // ---- strategies ------------------------------------------------------------------

  async function syncRolloutStatus(d: Deployment, allRSs: ReplicaSet[], newRS: ReplicaSet | undefined): Promise<SyncResult> {
    const s = rolloutStatus(d, allRSs, newRS);
    if (!statusEqual(d.status, s)) {
      d = await updateStatus(d, s);
    }
    // requeueStuckDeployment
    const c = getCondition(s, 'Progressing');
    if (hasProgressDeadline(d) && c?.status === 'True' && c.reason !== 'NewReplicaSetAvailable' && !deploymentComplete(d, s)) {
      const at = Date.parse(c.lastUpdateTime ?? '') + (d.spec!.progressDeadlineSeconds! * 1000);
      if (Number.isFinite(at)) return Math.max(1000, at - Date.now() + 1000);
    }
    return undefined;
  }

  async function syncStatusOnly(d: Deployment, rsList: ReplicaSet[]): Promise<void> {
    const st = await getAllReplicaSetsAndSyncRevision(d, rsList, false);
    const all = [...st.oldRSs, ...(st.newRS ? [st.newRS] : [])];
    const s = calculateStatus(st.d, all, st.newRS);
    if (!statusEqual(st.d.status, s)) await updateStatus(st.d, s);
  }

  async function cleanup(d: Deployment, oldRSs: ReplicaSet[]): Promise<void> {
    const limit = d.spec?.revisionHistoryLimit;
    if (limit === undefined || limit === null) return;
    const cleanable = oldRSs.filter((rs) => !rs.metadata?.deletionTimestamp);
    const diff = cleanable.length - limit;
    if (diff <= 0) return;
    cleanable.sort((a, b) => revisionOf(a) - revisionOf(b) || byCreation(a, b));
    for (const rs of cleanable.slice(0, diff)) {
      if ((rs.status?.replicas ?? 0) !== 0 || specReplicas(rs) !== 0 || (rs.metadata?.generation ?? 0) > (rs.status?.observedGeneration ?? 0)) continue;
      try {
        await rsClient.delete(rs.metadata!.name!, { namespace: rs.metadata!.namespace!, preconditions: { uid: rs.metadata!.uid! } });
      } catch (e) {
        if (!isStatusError(e, 'NotFound') && !isStatusError(e, 'Conflict')) throw e;
      }
    }
  }

  /** Paused or scaling: resize only, then status. */
  async function scaleSync(d: Deployment, rsList: ReplicaSet[]): Promise<SyncResult> {
    const st = await getAllReplicaSetsAndSyncRevision(d, rsList, false);
    d = st.d;
    let { newRS, oldRSs } = st;
    for (const r of planScale(d, newRS, oldRSs)) {
      const updated = await scaleRS(r.rs, r.replicas, d, r.op);
      if (newRS && r.rs.metadata?.uid === newRS.metadata?.uid) newRS = updated;
      oldRSs = oldRSs.map((o) => (o.metadata?.uid === updated.metadata?.uid ? updated : o));
    }
    if (d.spec?.paused) await cleanup(d, oldRSs);
    const all = [...oldRSs, ...(newRS ? [newRS] : [])];
    const s = calculateStatus(d, all, newRS);
    if (!statusEqual(d.status, s)) await updateStatus(d, s);
    return undefined;
  }

  async function rolloutRolling(d: Deployment, rsList: ReplicaSet[]): Promise<SyncResult> {
    const st = await getAllReplicaSetsAndSyncRevision(d, rsList, true);
    d = st.d;
    let newRS = st.newRS!;
    let oldRSs = st.oldRSs;
    const all = (): ReplicaSet[] => [...oldRSs, newRS];
    const n = planNewReplicaSet(d, all(), newRS);
    if (n !== undefined) {
      newRS = await scaleRS(newRS, n, d);
      return syncRolloutStatus(d, all(), newRS);
    }
    const downs = planOldReplicaSets(d, all(), oldRSs, newRS);
    if (downs.length) {
      for (const r of downs) {
        const updated = await scaleRS(r.rs, r.replicas, d, 'down');
        oldRSs = oldRSs.map((o) => (o.metadata?.uid === updated.metadata?.uid ? updated : o));
      }
      return syncRolloutStatus(d, all(), newRS);
    }
    if (deploymentComplete(d, d.status ?? {})) await cleanup(d, oldRSs);
    return syncRolloutStatus(d, all(), newRS);
  }

  async function rolloutRecreate(d: Deployment, rsList: ReplicaSet[], pods: Map<string, Pod[]>): Promise<SyncResult> {
    let st = await getAllReplicaSetsAndSyncRevision(d, rsList, false);
    d = st.d;
    let { newRS, oldRSs } = st;
    const all = (): ReplicaSet[] => [...oldRSs, ...(newRS ? [newRS] : [])];
    let scaledDown = false;
    for (const rs of oldRSs.filter((r) => specReplicas(r) > 0)) {
      const updated = await scaleRS(rs, 0, d, 'down');
      oldRSs = oldRSs.map((o) => (o.metadata?.uid === updated.metadata?.uid ? updated : o));
      scaledDown = true;
    }
    if (scaledDown) return syncRolloutStatus(d, all(), newRS);
    // oldPodsRunning
    const oldRunning = actualReplicaCount(oldRSs) > 0 || [...pods.entries()].some(([uid, ps]) =>
      uid !== newRS?.metadata?.uid && ps.some((p) => p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded'));
    if (oldRunning) return syncRolloutStatus(d, all(), newRS);
    if (!newRS) {
      st = await getAllReplicaSetsAndSyncRevision(d, rsList, true);
      d = st.d; newRS = st.newRS; oldRSs = st.oldRSs;
    }
    if (newRS && specReplicas(newRS) !== replicasOf(d)) newRS = await scaleRS(newRS, replicasOf(d), d, 'up');
    if (deploymentComplete(d, d.status ?? {})) await cleanup(d, oldRSs);
    return syncRolloutStatus(d, all(), newRS);
  }

  // ---- sync ------------------------------------------------------------------------

  async function sync(key: string): Promise<SyncResult> {
    const cached = dInf.store.get(key);
    if (!cached) return;
    let d = structuredClone(cached);
    const ns = d.metadata!.namespace!;
    if (isEmptySelector(d.spec?.selector)) {
      recorder.event(withKind(d, R.deployments), 'Warning', 'SelectingAll', 'This deployment is selecting all pods. A non-empty selector is required.');
      if ((d.status?.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) {
        await updateStatus(d, { ...(d.status ?? {}), observedGeneration: d.metadata?.generation ?? 0 });
      }
      return;
    }
    const candidates = rsInf.store.byIndex(Indexes.namespace, ns);
    const rsList = await claimObjects<ReplicaSet>(candidates, {
      owner: d,
      controllerRef: newControllerRef(d, 'apps/v1', 'Deployment'),
      matches: (rs) => selectorMatches(d.spec?.selector, rs.metadata?.labels),
      client: rsClient,
      canAdopt: async () => {
        const fresh = await dClient.get(d.metadata!.name!, { namespace: ns });
        return fresh.metadata?.uid === d.metadata?.uid && !fresh.metadata?.deletionTimestamp;
      },
    });
    if (d.metadata?.deletionTimestamp) { await syncStatusOnly(d, rsList); return; }

    // checkPausedConditions
    if (hasProgressDeadline(d)) {
      const c = getCondition(d.status, 'Progressing');
      const pausedCond = c?.reason === 'DeploymentPaused';
      let nc;
      if (d.spec?.paused && !pausedCond) nc = newCondition('Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused');
      else if (!d.spec?.paused && pausedCond) nc = newCondition('Progressing', 'Unknown', 'DeploymentResumed', 'Deployment is resumed');
      if (nc) {
        const status = structuredClone(d.status ?? {});
        setCondition(status, nc);
        d = await updateStatus(d, status);
      }
    }
    if (d.spec?.paused) return scaleSync(d, rsList);
    if (isScalingEvent(d, rsList)) return scaleSync(d, rsList);
    if (d.spec?.strategy?.type === 'Recreate') {
      const pods = new Map<string, Pod[]>();
      for (const rs of rsList) pods.set(rs.metadata!.uid!, podInf.store.byIndex(Indexes.owner, `${ns}/${rs.metadata!.uid}`));
      return rolloutRecreate(d, rsList, pods);
    }
    return rolloutRolling(d, rsList);
  }

  return queueController(name, ctx, queue, log, sync);
}
