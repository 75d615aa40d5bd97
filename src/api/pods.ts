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

type AnyContainer = NonNullable<NonNullable<Pod['spec']>['containers']>[number];

function allContainers(pod: Pod): AnyContainer[] {
  const s = pod.spec;
  if (!s) return [];
  return [...(s.initContainers ?? []), ...(s.containers ?? []), ...((s.ephemeralContainers ?? []) as AnyContainer[])];
}

/**
 * Every Secret name a pod references (upstream VisitPodSecretNames over all containers):
 * image pull secrets, env and envFrom of every container, and the volume sources that
 * name a secret. `visit` returns false to stop early. What the node authorizer grants a
 * node, and what the kubelet watches.
 */
export function visitPodSecretNames(pod: Pod, visit: (name: string) => boolean | void): boolean {
  const v = (name: string | undefined): boolean => !name || visit(name) !== false;
  for (const r of pod.spec?.imagePullSecrets ?? []) if (!v(r.name)) return false;
  for (const c of allContainers(pod)) {
    for (const e of c.envFrom ?? []) if (!v(e.secretRef?.name)) return false;
    for (const e of c.env ?? []) if (!v(e.valueFrom?.secretKeyRef?.name)) return false;
  }
  for (const vol of pod.spec?.volumes ?? []) {
    const names = [
      vol.secret?.secretName, vol.azureFile?.secretName, vol.cephfs?.secretRef?.name, vol.cinder?.secretRef?.name,
      vol.flexVolume?.secretRef?.name, vol.rbd?.secretRef?.name, vol.scaleIO?.secretRef?.name, vol.iscsi?.secretRef?.name,
      vol.storageos?.secretRef?.name, vol.csi?.nodePublishSecretRef?.name,
      ...(vol.projected?.sources ?? []).map((s) => s.secret?.name),
    ];
    for (const n of names) if (!v(n)) return false;
  }
  return true;
}

/** Every ConfigMap name a pod references (upstream VisitPodConfigmapNames over all containers). */
export function visitPodConfigMapNames(pod: Pod, visit: (name: string) => boolean | void): boolean {
  const v = (name: string | undefined): boolean => !name || visit(name) !== false;
  for (const c of allContainers(pod)) {
    for (const e of c.envFrom ?? []) if (!v(e.configMapRef?.name)) return false;
    for (const e of c.env ?? []) if (!v(e.valueFrom?.configMapKeyRef?.name)) return false;
  }
  for (const vol of pod.spec?.volumes ?? []) {
    if (!v(vol.configMap?.name)) return false;
    for (const s of vol.projected?.sources ?? []) if (!v(s.configMap?.name)) return false;
  }
  return true;
}

/** The ConfigMap in every namespace holding the cluster CA (`ca.crt`) that pods' kube-api-access volumes project. */
export const ROOT_CA_CONFIGMAP_NAME = 'kube-root-ca.crt';

/** A pod the kubelet created for a static pod (upstream's config.mirror annotation). */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';
