// The pure decisions of the Deployment controller: how big each ReplicaSet should
// be next (upstream rolling.go, recreate.go, sync.go scale()). They take and return
// plain numbers so that they can be tested without a cluster.
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import {
  availableReplicaCount, byCreation, maxSurge, maxUnavailable, newRSNewReplicas, replicaCount,
  replicasOf, specReplicas, MaxReplicasAnnotation, DesiredReplicasAnnotation,
} from './util.js';

/** A resize of one ReplicaSet (by name) to `replicas`. */
export interface Resize { rs: ReplicaSet; replicas: number; op?: 'up' | 'down' }

const active = (rss: (ReplicaSet | undefined)[]): ReplicaSet[] => rss.filter((r): r is ReplicaSet => !!r && specReplicas(r) > 0);

/** reconcileNewReplicaSet: the new RS's next size, or undefined when it stays. */
export function planNewReplicaSet(d: Deployment, allRSs: ReplicaSet[], newRS: ReplicaSet): number | undefined {
  const want = replicasOf(d);
  const cur = specReplicas(newRS);
  if (cur === want) return undefined;
  if (cur > want) return want;
  const n = newRSNewReplicas(d, allRSs, newRS);
  return n === cur ? undefined : n;
}

/**
 * reconcileOldReplicaSets: scale down old ReplicaSets, first their unhealthy replicas
 * (cleanupUnhealthyReplicas), then available ones while staying above minAvailable.
 */
export function planOldReplicaSets(d: Deployment, allRSs: ReplicaSet[], oldRSs: ReplicaSet[], newRS: ReplicaSet): Resize[] {
  const olds = active(oldRSs).map((rs) => ({ rs, replicas: specReplicas(rs) }));
  if (olds.reduce((n, o) => n + o.replicas, 0) === 0) return [];
  const allPods = replicaCount(allRSs);
  const minAvailable = replicasOf(d) - maxUnavailable(d);
  const newUnavailable = specReplicas(newRS) - (newRS.status?.availableReplicas ?? 0);
  const maxScaledDown = allPods - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return [];
  olds.sort((a, b) => byCreation(a.rs, b.rs));

  // cleanupUnhealthyReplicas
  let cleaned = 0;
  for (const o of olds) {
    if (cleaned >= maxScaledDown) break;
    if (o.replicas === 0) continue;
    const avail = o.rs.status?.availableReplicas ?? 0;
    if (o.replicas === avail) continue;
    const n = Math.min(maxScaledDown - cleaned, o.replicas - avail);
    if (n <= 0) continue;
    o.replicas -= n;
    cleaned += n;
  }

  // scaleDownOldReplicaSetsForRollingUpdate (availability counts do not change by cleanup)
  const available = availableReplicaCount([...oldRSs, newRS]);
  if (available > minAvailable) {
    const total = available - minAvailable;
    let scaled = 0;
    for (const o of olds) {
      if (scaled >= total) break;
      if (o.replicas === 0) continue;
      const n = Math.min(o.replicas, total - scaled);
      o.replicas -= n;
      scaled += n;
    }
  }
  return olds.filter((o) => o.replicas !== specReplicas(o.rs)).map((o) => ({ rs: o.rs, replicas: o.replicas, op: 'down' as const }));
}

/** IsSaturated: the new RS has all replicas, desired annotation and availability. */
export function isSaturated(d: Deployment, rs: ReplicaSet | undefined): boolean {
  if (!rs) return false;
  const desired = Number.parseInt(rs.metadata?.annotations?.[DesiredReplicasAnnotation] ?? '', 10);
  const r = replicasOf(d);
  return specReplicas(rs) === r && desired === r && (rs.status?.availableReplicas ?? 0) === r;
}

/** isScalingEvent: an active ReplicaSet's desired-replicas annotation disagrees with the Deployment. */
export function isScalingEvent(d: Deployment, rss: ReplicaSet[]): boolean {
  for (const rs of active(rss)) {
    const v = rs.metadata?.annotations?.[DesiredReplicasAnnotation];
    if (v === undefined) continue;
    if (Number.parseInt(v, 10) !== replicasOf(d)) return true;
  }
  return false;
}

function created(rs: ReplicaSet): number { return Date.parse(rs.metadata?.creationTimestamp ?? '') || 0; }

/** scale(): resize for a changed spec.replicas, proportionally during a rollout. */
export function planScale(d: Deployment, newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): Resize[] {
  const want = replicasOf(d);
  // FindActiveOrLatest
  const olds = [...oldRSs].sort(byCreation);
  const act = active([...olds, newRS]);
  let single: ReplicaSet | undefined;
  if (act.length === 0) single = newRS ?? olds[olds.length - 1];
  else if (act.length === 1) single = act[0];
  if (act.length <= 1) {
    if (!single || specReplicas(single) === want) return [];
    return [{ rs: single, replicas: want, op: specReplicas(single) < want ? 'up' : 'down' }];
  }
  if (isSaturated(d, newRS)) {
    return active(oldRSs).map((rs) => ({ rs, replicas: 0, op: 'down' as const }));
  }
  if ((d.spec?.strategy?.type ?? 'RollingUpdate') !== 'RollingUpdate') return [];
  const all = act;
  const allReplicas = replicaCount(all);
  const allowed = want > 0 ? want + maxSurge(d) : 0;
  const toAdd = allowed - allReplicas;
  let op: 'up' | 'down' | undefined;
  if (toAdd > 0) {
    all.sort((a, b) => specReplicas(b) - specReplicas(a) || created(b) - created(a)); // BySizeNewer
    op = 'up';
  } else if (toAdd < 0) {
    all.sort((a, b) => specReplicas(b) - specReplicas(a) || created(a) - created(b)); // BySizeOlder
    op = 'down';
  }
  const sizes = new Map<ReplicaSet, number>();
  let added = 0;
  for (const rs of all) {
    if (toAdd !== 0) {
      const p = proportion(rs, d, toAdd, added);
      sizes.set(rs, specReplicas(rs) + p);
      added += p;
    } else sizes.set(rs, specReplicas(rs));
  }
  const out: Resize[] = [];
  all.forEach((rs, i) => {
    let size = sizes.get(rs)!;
    if (i === 0 && toAdd !== 0) size = Math.max(0, size + (toAdd - added));
    if (size !== specReplicas(rs)) out.push({ rs, replicas: size, op });
  });
  return out;
}

/** Go's integer.RoundToInt32 (math.Round: half away from zero). */
function round(x: number): number { return x < 0 ? -Math.round(-x) : Math.round(x); }

function proportion(rs: ReplicaSet, d: Deployment, toAdd: number, added: number): number {
  if (specReplicas(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  const fraction = rsFraction(rs, d);
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

function rsFraction(rs: ReplicaSet, d: Deployment): number {
  if (replicasOf(d) === 0) return -specReplicas(rs);
  const deploymentReplicas = replicasOf(d) + maxSurge(d);
  const ann = Number.parseInt(rs.metadata?.annotations?.[MaxReplicasAnnotation] ?? '', 10);
  const annotated = Number.isFinite(ann) ? ann : d.status?.replicas ?? 0;
  if (!annotated) return 0;
  return round((specReplicas(rs) * deploymentReplicas) / annotated) - specReplicas(rs);
}
