// Owner-reference helpers (k8s.io/apimachinery metav1.GetControllerOf and friends).
import type { ObjectMeta, OwnerReference } from 'kubernetes-types/meta/v1.js';

interface HasMeta { apiVersion?: string; kind?: string; metadata?: ObjectMeta }

/** The ownerReference with controller=true, if any. */
export function getControllerOf(obj: HasMeta): OwnerReference | undefined {
  return obj.metadata?.ownerReferences?.find((r) => r.controller === true);
}

/** A controller reference to `owner` (controller=true, blockOwnerDeletion=true). */
export function newControllerRef(owner: HasMeta, apiVersion: string, kind: string): OwnerReference {
  return {
    apiVersion, kind,
    name: owner.metadata?.name ?? '',
    uid: owner.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function isControlledBy(obj: HasMeta, owner: HasMeta): boolean {
  const ref = getControllerOf(obj);
  return !!ref && !!owner.metadata?.uid && ref.uid === owner.metadata.uid;
}
