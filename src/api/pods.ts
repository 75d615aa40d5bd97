// Pod helpers shared by the controllers, the scheduler and the kubelet: conditions,
// readiness and availability as k8s.io/kubernetes/pkg/api/v1/pod defines them.
import type { Pod, PodCondition } from 'kubernetes-types/core/v1.js';

export function getPodCondition(pod: Pod, type: string): PodCondition | undefined {
  return pod.status?.conditions?.find((c) => c.type === type);
}

/** The pod's Ready condition is True. */
export function isPodReady(pod: Pod): boolean {
  return getPodCondition(pod, 'Ready')?.status === 'True';
}

/**
 * Ready for at least minReadySeconds (upstream IsPodAvailable): ready, and either
 * minReadySeconds is 0 or the Ready condition turned True that long ago.
 */
export function isPodAvailable(pod: Pod, minReadySeconds: number, now: number = Date.now()): boolean {
  const c = getPodCondition(pod, 'Ready');
  if (c?.status !== 'True') return false;
  if (!minReadySeconds) return true;
  if (!c.lastTransitionTime) return false;
  return Date.parse(c.lastTransitionTime) + minReadySeconds * 1000 <= now;
}

/** Not terminated and not being deleted (upstream controller.IsPodActive). */
export function isPodActive(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && !pod.metadata?.deletionTimestamp;
}

/** Terminated: phase Succeeded or Failed. */
export function isPodTerminal(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}
