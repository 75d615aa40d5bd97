// ControllerRefManager (upstream pkg/controller/controller_ref_manager.go): a
// controller claims the objects matching its selector: it keeps those it owns and
// still matches, adopts matching orphans, and releases owned ones that stopped matching.
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import type { KubeObject, ResourceClient } from '../../client/types.js';
import { isStatusError } from '../../api/errors.js';
import { getControllerOf } from '../../api/owners.js';

export interface ClaimParams<T extends KubeObject> {
  owner: KubeObject;
  controllerRef: OwnerReference;
  matches(obj: T): boolean;
  client: ResourceClient<T>;
  /** Re-read the owner from the API once before the first adoption; false → do not adopt. */
  canAdopt(): Promise<boolean>;
}

export interface ClaimDecision { adopt: boolean; release: boolean; claimed: boolean }

/** The decision for one object, without side effects. */
export function claimDecision(obj: KubeObject, ownerUid: string, ownerDeleting: boolean, matches: boolean): ClaimDecision {
  const ref = getControllerOf(obj);
  if (ref) {
    if (ref.uid !== ownerUid) return { adopt: false, release: false, claimed: false };
    if (matches) return { adopt: false, release: false, claimed: true };
    if (ownerDeleting) return { adopt: false, release: false, claimed: false };
    return { adopt: false, release: true, claimed: false };
  }
  if (ownerDeleting || !matches || obj.metadata?.deletionTimestamp) return { adopt: false, release: false, claimed: false };
  return { adopt: true, release: false, claimed: true };
}

function jsonPatchRefs(obj: KubeObject, refs: OwnerReference[]): unknown[] {
  return [
    { op: 'test', path: '/metadata/uid', value: obj.metadata?.uid },
    refs.length
      ? { op: obj.metadata?.ownerReferences ? 'replace' : 'add', path: '/metadata/ownerReferences', value: refs }
      : { op: 'remove', path: '/metadata/ownerReferences' },
  ];
}

export async function claimObjects<T extends KubeObject>(objs: T[], p: ClaimParams<T>): Promise<T[]> {
  const ownerUid = p.owner.metadata?.uid ?? '';
  const deleting = !!p.owner.metadata?.deletionTimestamp;
  const claimed: T[] = [];
  let adoptable: boolean | undefined;
  const errors: unknown[] = [];
  for (const obj of objs) {
    const d = claimDecision(obj, ownerUid, deleting, p.matches(obj));
    const ns = obj.metadata?.namespace;
    try {
      if (d.adopt) {
        adoptable ??= await p.canAdopt();
        if (!adoptable) continue;
        const refs = [...(obj.metadata?.ownerReferences ?? []), p.controllerRef];
        const updated = await p.client.patch(obj.metadata!.name!, 'json', jsonPatchRefs(obj, refs), { namespace: ns });
        claimed.push(updated);
      } else if (d.release) {
        const refs = (obj.metadata?.ownerReferences ?? []).filter((r) => r.uid !== ownerUid);
        await p.client.patch(obj.metadata!.name!, 'json', jsonPatchRefs(obj, refs), { namespace: ns });
      } else if (d.claimed) {
        claimed.push(obj);
      }
    } catch (e) {
      // Gone, or changed under us (uid test failed): the informer will tell us.
      if (isStatusError(e, 'NotFound') || isStatusError(e, 'Invalid') || isStatusError(e, 'Conflict') || (isStatusError(e) && e.code === 422)) continue;
      errors.push(e);
    }
  }
  if (errors.length) throw errors[0];
  return claimed;
}
