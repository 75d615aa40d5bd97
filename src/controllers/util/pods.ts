// Controller-side pod helpers: the deletion ranking of upstream's ActivePodsWithRanks,
// slow-start batches, and the pod a controller creates from a template.
import type { Pod, PodTemplateSpec } from 'kubernetes-types/core/v1.js';
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import { getPodCondition, isPodReady, isPodActive } from '../../api/pods.js';

const phaseOrdinal: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function phaseOrd(p: Pod): number {
  return phaseOrdinal[p.status?.phase ?? ''] ?? 0;
}

function deletionCost(p: Pod): number {
  const v = p.metadata?.annotations?.['controller.kubernetes.io/pod-deletion-cost'];
  const n = v === undefined ? 0 : Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : 0;
}

function time(t: string | undefined): number | undefined {
  if (!t) return undefined;
  const n = Date.parse(t);
  return Number.isNaN(n) ? undefined : n;
}

/** "t1 is after t2, or t1 is zero": zero/newer sorts first. */
function afterOrZero(t1: number | undefined, t2: number | undefined): boolean {
  if (t1 === undefined || t2 === undefined) return t1 === undefined;
  return t1 > t2;
}

function maxRestarts(p: Pod): number {
  let m = 0;
  for (const s of p.status?.containerStatuses ?? []) m = Math.max(m, s.restartCount ?? 0);
  return m;
}

/**
 * Compare two pods for deletion: negative when `a` should be deleted before `b`.
 * Unassigned < assigned; Pending < Unknown < Running; not ready < ready; lower
 * pod-deletion-cost first; more related pods on the same node first; ready for
 * less time first; more restarts first; newer first.
 */
export function compareForDeletion(a: Pod, rankA: number, b: Pod, rankB: number): number {
  const na = a.spec?.nodeName ?? '', nb = b.spec?.nodeName ?? '';
  if (na !== nb && (na === '' || nb === '')) return na === '' ? -1 : 1;
  if (phaseOrd(a) !== phaseOrd(b)) return phaseOrd(a) - phaseOrd(b);
  const ra = isPodReady(a), rb = isPodReady(b);
  if (ra !== rb) return ra ? 1 : -1;
  const ca = deletionCost(a), cb = deletionCost(b);
  if (ca !== cb) return ca - cb;
  if (rankA !== rankB) return rankB - rankA;
  if (ra && rb) {
    const ta = time(getPodCondition(a, 'Ready')?.lastTransitionTime);
    const tb = time(getPodCondition(b, 'Ready')?.lastTransitionTime);
    if (ta !== tb) return afterOrZero(ta, tb) ? -1 : 1;
  }
  const xa = maxRestarts(a), xb = maxRestarts(b);
  if (xa !== xb) return xb - xa;
  const cta = time(a.metadata?.creationTimestamp), ctb = time(b.metadata?.creationTimestamp);
  if (cta !== ctb) return afterOrZero(cta, ctb) ? -1 : 1;
  return 0;
}

/**
 * Upstream getPodsToDelete: the `diff` pods to delete out of `filtered`, ranked by how
 * many `related` active pods share their node (doubled-up pods go first).
 */
export function podsToDelete(filtered: Pod[], related: Pod[], diff: number): Pod[] {
  if (diff >= filtered.length) return [...filtered];
  const onNode = new Map<string, number>();
  for (const p of related) {
    if (!isPodActive(p) || !p.spec?.nodeName) continue;
    onNode.set(p.spec.nodeName, (onNode.get(p.spec.nodeName) ?? 0) + 1);
  }
  const ranked = filtered.map((p) => ({ p, rank: p.spec?.nodeName ? onNode.get(p.spec.nodeName) ?? 0 : 0 }));
  ranked.sort((x, y) => compareForDeletion(x.p, x.rank, y.p, y.rank));
  return ranked.slice(0, diff).map((x) => x.p);
}

/**
 * Run `fn` count times in batches of 1, 2, 4, ... (upstream slowStartBatch); stop after
 * the first batch with a failure. Returns the number of successes and the first error.
 */
export async function slowStartBatch(count: number, initialBatchSize: number, fn: () => Promise<void>): Promise<{ successes: number; error?: unknown }> {
  let remaining = count;
  let successes = 0;
  for (let batch = Math.min(remaining, initialBatchSize); batch > 0; batch = Math.min(2 * batch, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: batch }, () => fn()));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    successes += batch - failed.length;
    if (failed.length) return { successes, error: failed[0]!.reason };
    remaining -= batch;
  }
  return { successes };
}

/** The pod a controller creates from its template (upstream GetPodFromTemplate). */
export function podFromTemplate(template: PodTemplateSpec | undefined, namespace: string, prefix: string, controllerRef: OwnerReference): Pod {
  const t = template ?? {};
  const meta = t.metadata ?? {};
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace,
      generateName: `${prefix}-`,
      labels: { ...(meta.labels ?? {}) },
      ownerReferences: [controllerRef],
    },
    spec: structuredClone(t.spec ?? { containers: [] }),
  };
  if (meta.annotations && Object.keys(meta.annotations).length) pod.metadata!.annotations = { ...meta.annotations };
  if (meta.finalizers?.length) pod.metadata!.finalizers = [...meta.finalizers];
  return pod;
}
