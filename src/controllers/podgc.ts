// Pod garbage collector (upstream pkg/controller/podgc), the parts a cluster needs
// to heal: pods bound to a node that no longer exists are deleted (after checking
// with the API server, as upstream's quarantine), and unscheduled pods that are
// terminating are deleted at once (no kubelet will ever confirm them).
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { R } from '../api/resources.js';
import { objectKey, type Informer } from '../client/types.js';
import { isStatusError } from '../api/errors.js';
import { queueController, type Controller, type ControllerContext, type SyncResult } from './base.js';

/** Upstream waits this long (quarantineTime) before trusting that a node is gone. */
export const QUARANTINE_MS = 40_000;

export function startPodGCController(ctx: ControllerContext): Controller {
  const name = 'podgc';
  const log = ctx.log.child({ controller: name });
  const podInf: Informer<Pod> = ctx.informers.informer<Pod>(R.pods);
  const nodeInf: Informer<Node> = ctx.informers.informer<Node>(R.nodes);
  const podClient = ctx.client.resource<Pod>(R.pods);
  const nodeClient = ctx.client.resource<Node>(R.nodes);
  const queue = ctx.newQueue(name);
  /** Nodes missing from the cache, and since when. */
  const missingSince = new Map<string, number>();
  const quarantine = Math.min(QUARANTINE_MS, ctx.options.nodeMonitorGracePeriodMs);

  const consider = (p: Pod): void => {
    const node = p.spec?.nodeName;
    if (!node) { if (p.metadata?.deletionTimestamp) queue.add(objectKey(p)); return; }
    if (!nodeInf.store.get(node)) queue.add(objectKey(p));
  };
  podInf.addEventHandler({ onAdd: consider, onUpdate: (_o, p) => consider(p) });
  nodeInf.addEventHandler({
    onDelete: (n) => { for (const p of podInf.store.byIndex('nodeName', n.metadata!.name!)) queue.add(objectKey(p)); },
    onAdd: (n) => missingSince.delete(n.metadata!.name!),
  });

  async function sync(key: string): Promise<SyncResult> {
    const pod = podInf.store.get(key);
    if (!pod) return;
    const nodeName = pod.spec?.nodeName;
    if (nodeName) {
      if (nodeInf.store.get(nodeName)) { missingSince.delete(nodeName); return; }
      const since = missingSince.get(nodeName) ?? Date.now();
      missingSince.set(nodeName, since);
      const wait = since + quarantine - Date.now();
      if (wait > 0) return wait + 10;
      try {
        await nodeClient.get(nodeName);
        missingSince.delete(nodeName);
        return; // it exists after all: our cache lags
      } catch (e) {
        if (!isStatusError(e, 'NotFound')) throw e;
      }
    } else if (!pod.metadata?.deletionTimestamp) {
      return;
    }
    try {
      await podClient.delete(pod.metadata!.name!, { namespace: pod.metadata!.namespace!, gracePeriodSeconds: 0, preconditions: { uid: pod.metadata!.uid! } });
      log.info({ pod: key, node: nodeName ?? '' }, nodeName ? 'deleted pod of a node that is gone' : 'deleted terminating unscheduled pod');
    } catch (e) {
      if (!isStatusError(e, 'NotFound') && !isStatusError(e, 'Conflict')) throw e;
    }
    return;
  }

  return queueController(name, ctx, queue, log, sync, 2);
}
