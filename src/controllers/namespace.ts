// Namespace controller (upstream pkg/controller/namespace): a namespace being deleted
// is emptied of every namespaced resource, then its `kubernetes` finalizer is removed
// through the /finalize subresource and it goes away.
import type { Namespace, NamespaceCondition } from 'kubernetes-types/core/v1.js';
import { R, storedResources, type ResourceInfo } from '../api/resources.js';
import type { KubeObject } from '../client/types.js';
import { isStatusError } from '../api/errors.js';
import { errMessage, nowTime, queueController, type Controller, type ControllerContext, type SyncResult } from './base.js';

/** Namespaced resources whose objects a namespace deletion removes (events.k8s.io shares storage with core events). */
export function namespacedResources(): ResourceInfo[] {
  return storedResources.filter((r) => r.namespaced && !(r.group === 'events.k8s.io' && r.resource === 'events'));
}

function cond(type: string, status: 'True' | 'False', reason: string, message: string): NamespaceCondition {
  return { type, status, reason, message, lastTransitionTime: nowTime() };
}

/** The conditions upstream sets while deleting (simplified to the content ones and discovery). */
export function deletionConditions(remaining: Map<string, number>, finalizers: Map<string, number>, failures: string[]): NamespaceCondition[] {
  const out: NamespaceCondition[] = [
    cond('NamespaceDeletionDiscoveryFailure', 'False', 'ResourcesDiscovered', 'All resources successfully discovered'),
    cond('NamespaceDeletionGroupVersionParsingFailure', 'False', 'ParsedGroupVersions', 'All legacy kube types successfully parsed'),
    failures.length
      ? cond('NamespaceDeletionContentFailure', 'True', 'ContentDeletionFailed', `Failed to delete all resource types, ${failures.length} remaining: ${failures.join(', ')}`)
      : cond('NamespaceDeletionContentFailure', 'False', 'ContentDeleted', 'All content successfully deleted, may be waiting on finalization'),
  ];
  if (remaining.size) {
    const msg = [...remaining].sort().map(([r, n]) => `${r} has ${n} resource instances`).join(', ');
    out.push(cond('NamespaceContentRemaining', 'True', 'SomeResourcesRemain', `Some resources are remaining: ${msg}`));
  } else out.push(cond('NamespaceContentRemaining', 'False', 'ContentRemoved', 'All content successfully removed'));
  if (finalizers.size) {
    const msg = [...finalizers].sort().map(([f, n]) => `${f} in ${n} resource instances`).join(', ');
    out.push(cond('NamespaceFinalizersRemaining', 'True', 'SomeFinalizersRemain', `Some content in the namespace has finalizers remaining: ${msg}`));
  } else out.push(cond('NamespaceFinalizersRemaining', 'False', 'ContentHasNoFinalizers', 'All content-preserving finalizers finished'));
  return out;
}

function sameConditions(a: NamespaceCondition[] | undefined, b: NamespaceCondition[]): boolean {
  const k = (cs: NamespaceCondition[]): string => JSON.stringify(cs.map((c) => [c.type, c.status, c.reason, c.message]).sort());
  return k(a ?? []) === k(b);
}

export function startNamespaceController(ctx: ControllerContext): Controller {
  const name = 'namespace';
  const log = ctx.log.child({ controller: name });
  const nsInf = ctx.informers.informer<Namespace>(R.namespaces);
  const queue = ctx.newQueue(name);
  const nsClient = ctx.client.resource<Namespace>(R.namespaces);
  nsInf.addEventHandler({
    onAdd: (n) => { if (n.metadata?.deletionTimestamp) queue.add(n.metadata.name!); },
    onUpdate: (_o, n) => { if (n.metadata?.deletionTimestamp) queue.add(n.metadata.name!); },
  });

  async function sync(nsName: string): Promise<SyncResult> {
    const ns = nsInf.store.get(nsName);
    if (!ns || !ns.metadata?.deletionTimestamp) return;
    let cur: Namespace = ns;
    if (cur.status?.phase !== 'Terminating') {
      try {
        cur = await nsClient.updateStatus({ ...cur, status: { ...cur.status, phase: 'Terminating' } });
      } catch (e) { if (isStatusError(e, 'NotFound')) return; throw e; }
    }
    const remaining = new Map<string, number>();
    const finalizers = new Map<string, number>();
    const failures: string[] = [];
    let minGrace = 0;
    for (const info of namespacedResources()) {
      const rc = ctx.client.resource<KubeObject>(info);
      const label = info.group ? `${info.resource}.${info.group}` : info.resource;
      try {
        const list = await rc.list({ namespace: nsName });
        if (!list.items.length) continue;
        const live = list.items.filter((o) => !o.metadata?.deletionTimestamp);
        if (live.length) {
          try {
            await rc.deleteCollection({ namespace: nsName, propagationPolicy: 'Background' });
          } catch (e) {
            if (!(isStatusError(e, 'MethodNotAllowed') || (isStatusError(e) && e.code === 405))) throw e;
            for (const o of live) {
              try { await rc.delete(o.metadata!.name!, { namespace: nsName, propagationPolicy: 'Background' }); } catch (e2) { if (!isStatusError(e2, 'NotFound')) throw e2; }
            }
          }
        }
        const after = await rc.list({ namespace: nsName });
        if (after.items.length) {
          remaining.set(`${label}.`, after.items.length);
          for (const o of after.items) {
            for (const f of o.metadata?.finalizers ?? []) finalizers.set(f, (finalizers.get(f) ?? 0) + 1);
            const g = (o as { spec?: { terminationGracePeriodSeconds?: number } }).spec?.terminationGracePeriodSeconds;
            if (info.resource === 'pods' && typeof g === 'number') minGrace = Math.max(minGrace, Math.min(g, 30));
          }
        }
      } catch (e) {
        failures.push(`${label}: ${errMessage(e)}`);
      }
    }
    const conditions = deletionConditions(remaining, finalizers, failures);
    if (!sameConditions(cur.status?.conditions, conditions)) {
      try {
        cur = await nsClient.updateStatus({ ...cur, status: { ...cur.status, phase: 'Terminating', conditions } });
      } catch (e) { if (isStatusError(e, 'NotFound')) return; if (!isStatusError(e, 'Conflict')) throw e; }
    }
    if (failures.length) throw new Error(`namespace ${nsName}: ${failures.join('; ')}`);
    if (remaining.size) {
      log.debug({ namespace: nsName, remaining: Object.fromEntries(remaining) }, 'content remaining');
      return Math.max(1000, (minGrace / 2) * 1000);
    }
    // Empty: drop our finalizer.
    const specFinalizers = (cur.spec?.finalizers ?? []).filter((f) => f !== 'kubernetes');
    if ((cur.spec?.finalizers ?? []).length !== specFinalizers.length) {
      try {
        cur = await nsClient.update({ ...cur, spec: { ...cur.spec, finalizers: specFinalizers } }, { subresource: 'finalize' });
      } catch (e) { if (isStatusError(e, 'NotFound')) return; throw e; }
      if ((cur.spec?.finalizers ?? []).includes('kubernetes')) throw new Error(`namespace ${nsName}: /finalize did not remove the kubernetes finalizer`);
    }
    if (!(cur.spec?.finalizers ?? []).length && !(cur.metadata?.finalizers ?? []).length) {
      try { await nsClient.delete(nsName); } catch (e) { if (!isStatusError(e, 'NotFound') && !isStatusError(e, 'Conflict')) throw e; }
    }
    log.info({ namespace: nsName }, 'namespace emptied and finalized');
    return;
  }

  return queueController(name, ctx, queue, log, sync);
}
