// Garbage collector (upstream pkg/controller/garbagecollector): follows
// ownerReferences (by uid) across every built-in resource:
// - background: a dependent whose owners are all gone is deleted;
// - foreground: an owner being deleted with the `foregroundDeletion` finalizer first
//   sees its dependents deleted, then loses the finalizer once no dependent with
//   blockOwnerDeletion is left;
// - orphan: an owner being deleted with the `orphan` finalizer has its references
//   removed from its dependents, then loses the finalizer.
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import { storedResources, findKind, type ResourceInfo } from '../api/resources.js';
import { objectKey, type Informer, type KubeObject } from '../client/types.js';
import { isStatusError } from '../api/errors.js';
import { runWorkers, type Controller, type ControllerContext, type SyncResult } from './base.js';

export const FinalizerForeground = 'foregroundDeletion';
export const FinalizerOrphan = 'orphan';

/** Resources the collector watches: every built-in one but events. */
export function monitoredResources(): ResourceInfo[] {
  return storedResources.filter((r) => r.resource !== 'events');
}

const resId = (r: ResourceInfo): string => `${r.group}/${r.resource}`;

export type OwnerState = 'solid' | 'dangling' | 'waiting';

/** What to do with a dependent given the state of each of its owners (upstream attemptToDeleteItem). */
export function decideDependent(owners: { ref: OwnerReference; state: OwnerState }[], hasDependents: boolean):
  { action: 'none' } | { action: 'patch'; remove: string[]; unblock: string[] } | { action: 'delete'; policy?: 'Foreground' | 'Background' } {
  if (!owners.length) return { action: 'none' };
  const solid = owners.filter((o) => o.state === 'solid');
  const dangling = owners.filter((o) => o.state === 'dangling');
  const waiting = owners.filter((o) => o.state === 'waiting');
  if (solid.length) {
    const unblock = waiting.filter((o) => o.ref.blockOwnerDeletion).map((o) => o.ref.uid);
    if (!dangling.length && !unblock.length) return { action: 'none' };
    return { action: 'patch', remove: dangling.map((o) => o.ref.uid), unblock };
  }
  if (waiting.length && hasDependents) return { action: 'delete', policy: 'Foreground' };
  return { action: 'delete' };
}

export function startGarbageCollector(ctx: ControllerContext): Controller {
  const name = 'garbagecollector';
  const log = ctx.log.child({ controller: name });
  const resources = monitoredResources();
  const informers = new Map<string, { info: ResourceInfo; inf: Informer<KubeObject> }>();
  const queue = ctx.newQueue(name);

  const ownerUids = (o: KubeObject): string[] => (o.metadata?.ownerReferences ?? []).map((r) => r.uid);
  const itemKey = (info: ResourceInfo, o: KubeObject): string => `${resId(info)}|${objectKey(o)}`;

  /** Objects anywhere whose ownerReferences name this uid. */
  const dependentsOf = (uid: string): { info: ResourceInfo; obj: KubeObject }[] => {
    const out: { info: ResourceInfo; obj: KubeObject }[] = [];
    for (const { info, inf } of informers.values()) for (const obj of inf.store.byIndex('gcOwnerUid', uid)) out.push({ info, obj });
    return out;
  };
  const byUid = (uid: string): { info: ResourceInfo; obj: KubeObject } | undefined => {
    for (const { info, inf } of informers.values()) {
      const o = inf.store.byIndex('gcUid', uid)[0];
      if (o) return { info, obj: o };
    }
    return undefined;
  };
  const inForeground = (o: KubeObject): boolean => !!o.metadata?.deletionTimestamp && !!o.metadata.finalizers?.includes(FinalizerForeground);
  const inOrphan = (o: KubeObject): boolean => !!o.metadata?.deletionTimestamp && !!o.metadata.finalizers?.includes(FinalizerOrphan);

  const enqueueOwnersInDeletion = (o: KubeObject): void => {
    for (const uid of ownerUids(o)) {
      const owner = byUid(uid);
      if (owner && (inForeground(owner.obj) || inOrphan(owner.obj))) queue.add(itemKey(owner.info, owner.obj));
    }
  };

  for (const info of resources) {
    const inf = ctx.informers.informer<KubeObject>(info);
    inf.addIndexer('gcOwnerUid', ownerUids);
    inf.addIndexer('gcUid', (o) => (o.metadata?.uid ? [o.metadata.uid] : []));
    informers.set(resId(info), { info, inf });
    inf.addEventHandler({
      onAdd: (o) => {
        if (o.metadata?.ownerReferences?.length || inForeground(o) || inOrphan(o)) queue.add(itemKey(info, o));
      },
      onUpdate: (old, o) => {
        if (old.metadata?.resourceVersion === o.metadata?.resourceVersion) return;
        const refsChanged = JSON.stringify(old.metadata?.ownerReferences ?? []) !== JSON.stringify(o.metadata?.ownerReferences ?? []);
        const deletionChanged = !!old.metadata?.deletionTimestamp !== !!o.metadata?.deletionTimestamp
          || JSON.stringify(old.metadata?.finalizers ?? []) !== JSON.stringify(o.metadata?.finalizers ?? []);
        if (refsChanged || deletionChanged) queue.add(itemKey(info, o));
        if (deletionChanged && (inForeground(o) || inOrphan(o))) {
          for (const d of dependentsOf(o.metadata!.uid!)) queue.add(itemKey(d.info, d.obj));
        }
        if (refsChanged) enqueueOwnersInDeletion(old);
      },
      onDelete: (o) => {
        const uid = o.metadata?.uid;
        if (uid) for (const d of dependentsOf(uid)) queue.add(itemKey(d.info, d.obj));
        enqueueOwnersInDeletion(o);
      },
    });
  }

  /** Is the owner there (same uid)? Cache first, then the API server (informers lag). */
  async function ownerState(dep: KubeObject, depInfo: ResourceInfo, ref: OwnerReference): Promise<OwnerState | 'unknown'> {
    const info = findKind(ref.apiVersion, ref.kind);
    if (!info) return 'unknown';
    if (info.namespaced && !depInfo.namespaced) return 'unknown';
    const ns = info.namespaced ? dep.metadata?.namespace : undefined;
    const cached = byUid(ref.uid);
    let owner: KubeObject | undefined = cached?.obj;
    if (!owner) {
      try {
        const live = await ctx.client.resource<KubeObject>(info).get(ref.name, { namespace: ns });
        if (live.metadata?.uid === ref.uid) owner = live;
      } catch (e) {
        if (!isStatusError(e, 'NotFound')) throw e;
      }
    }
    if (!owner) return 'dangling';
    return inForeground(owner) ? 'waiting' : 'solid';
  }

  async function processDependent(info: ResourceInfo, obj: KubeObject): Promise<void> {
    const refs = obj.metadata?.ownerReferences ?? [];
    // Being deleted already: nothing to decide (its own foreground/orphan handling is in sync).
    if (!refs.length || obj.metadata?.deletionTimestamp) return;
    const owners: { ref: OwnerReference; state: OwnerState }[] = [];
    for (const ref of refs) {
      const s = await ownerState(obj, info, ref);
      if (s === 'unknown') return; // an owner we cannot resolve: keep the object
      owners.push({ ref, state: s });
    }
    const hasDependents = dependentsOf(obj.metadata!.uid!).length > 0;
    const d = decideDependent(owners, hasDependents);
    const rc = ctx.client.resource<KubeObject>(info);
    const ns = obj.metadata?.namespace;
    if (d.action === 'patch') {
      const newRefs = refs.filter((r) => !d.remove.includes(r.uid))
        .map((r) => (d.unblock.includes(r.uid) ? { ...r, blockOwnerDeletion: false } : r));
      await rc.patch(obj.metadata!.name!, 'json', [
        { op: 'test', path: '/metadata/uid', value: obj.metadata!.uid },
        newRefs.length ? { op: 'replace', path: '/metadata/ownerReferences', value: newRefs } : { op: 'remove', path: '/metadata/ownerReferences' },
      ], { namespace: ns });
      log.debug({ object: itemKey(info, obj), removed: d.remove }, 'removed dangling owner references');
    } else if (d.action === 'delete') {
      if (obj.metadata?.deletionTimestamp) return;
      let policy: 'Orphan' | 'Foreground' | 'Background' | undefined = d.policy;
      if (!policy) {
        if (obj.metadata?.finalizers?.includes(FinalizerOrphan)) policy = 'Orphan';
        else if (obj.metadata?.finalizers?.includes(FinalizerForeground)) policy = 'Foreground';
        else policy = 'Background';
      }
      try {
        // The decision was made on the informer's copy: a newer version (its references removed by an
        // orphaning owner meanwhile) must not be deleted, so the resourceVersion is a precondition too.
        await rc.delete(obj.metadata!.name!, { namespace: ns, propagationPolicy: policy, preconditions: { uid: obj.metadata!.uid!, resourceVersion: obj.metadata!.resourceVersion } });
        log.info({ object: itemKey(info, obj), policy }, 'deleted object whose owners are gone');
      } catch (e) {
        if (!isStatusError(e, 'NotFound') && !isStatusError(e, 'Conflict')) throw e;
      }
    }
  }

  async function removeFinalizer(info: ResourceInfo, obj: KubeObject, finalizer: string): Promise<void> {
    const rc = ctx.client.resource<KubeObject>(info);
    const fins = obj.metadata?.finalizers ?? [];
    const idx = fins.indexOf(finalizer);
    if (idx < 0) return;
    try {
      await rc.patch(obj.metadata!.name!, 'json', [
        { op: 'test', path: '/metadata/uid', value: obj.metadata!.uid },
        { op: 'test', path: `/metadata/finalizers/${idx}`, value: finalizer },
        { op: 'remove', path: `/metadata/finalizers/${idx}` },
      ], { namespace: obj.metadata?.namespace });
    } catch (e) {
      if (isStatusError(e, 'NotFound')) return;
      throw e;
    }
  }

  async function sync(key: string): Promise<SyncResult> {
    const [rid, okey] = key.split('|') as [string, string];
    const entry = informers.get(rid);
    if (!entry) return;
    const obj = entry.inf.store.get(okey);
    if (!obj) return;
    const uid = obj.metadata!.uid!;
    if (inOrphan(obj)) {
      // Orphan the dependents, then let the owner go.
      for (const d of dependentsOf(uid)) {
        const refs = (d.obj.metadata?.ownerReferences ?? []).filter((r) => r.uid !== uid);
        try {
          await ctx.client.resource<KubeObject>(d.info).patch(d.obj.metadata!.name!, 'json', [
            { op: 'test', path: '/metadata/uid', value: d.obj.metadata!.uid },
            refs.length ? { op: 'replace', path: '/metadata/ownerReferences', value: refs } : { op: 'remove', path: '/metadata/ownerReferences' },
          ], { namespace: d.obj.metadata?.namespace });
        } catch (e) {
          if (!isStatusError(e, 'NotFound') && !isStatusError(e, 'Invalid') && !(isStatusError(e) && e.code === 422)) throw e;
        }
      }
      await removeFinalizer(entry.info, obj, FinalizerOrphan);
      return;
    }
    if (inForeground(obj)) {
      const deps = dependentsOf(uid);
      // Dependents not yet being deleted are deleted (processDependent sees this owner as "waiting").
      for (const d of deps) if (!d.obj.metadata?.deletionTimestamp) await processDependent(d.info, d.obj);
      const blocking = deps.filter((d) => d.obj.metadata?.ownerReferences?.some((r) => r.uid === uid && r.blockOwnerDeletion));
      if (blocking.length) return 2000; // informers will tell us when they go; this is a safety net
      await removeFinalizer(entry.info, obj, FinalizerForeground);
      return;
    }
    if (obj.metadata?.ownerReferences?.length) await processDependent(entry.info, obj);
    return;
  }

  return {
    name,
    run: async (workers) => {
      ctx.signal.addEventListener('abort', () => queue.shutDown(), { once: true });
      // Objects already in the caches: check all with owners or pending finalizers once.
      for (const { info, inf } of informers.values()) {
        for (const o of inf.store.list()) if (o.metadata?.ownerReferences?.length || inForeground(o) || inOrphan(o)) queue.add(itemKey(info, o));
      }
      await runWorkers(name, queue, workers, log, sync);
    },
  };
}

