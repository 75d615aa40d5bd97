// ServiceAccount controller (upstream pkg/controller/serviceaccount): every active
// namespace has a `default` ServiceAccount; recreated if deleted.
import type { Namespace, ServiceAccount } from 'kubernetes-types/core/v1.js';
import { R } from '../api/resources.js';
import { isStatusError } from '../api/errors.js';
import { queueController, type Controller, type ControllerContext, type SyncResult } from './base.js';

export const DEFAULT_SERVICE_ACCOUNTS = ['default'];

export function startServiceAccountController(ctx: ControllerContext): Controller {
  const name = 'serviceaccount';
  const log = ctx.log.child({ controller: name });
  const nsInf = ctx.informers.informer<Namespace>(R.namespaces);
  const saInf = ctx.informers.informer<ServiceAccount>(R.serviceaccounts);
  const queue = ctx.newQueue(name);
  const client = ctx.client.resource<ServiceAccount>(R.serviceaccounts);
  nsInf.addEventHandler({ onAdd: (n) => queue.add(n.metadata!.name!), onUpdate: (_o, n) => queue.add(n.metadata!.name!) });
  saInf.addEventHandler({ onDelete: (sa) => { if (DEFAULT_SERVICE_ACCOUNTS.includes(sa.metadata!.name!)) queue.add(sa.metadata!.namespace!); } });

  async function sync(nsName: string): Promise<SyncResult> {
    const ns = nsInf.store.get(nsName);
    if (!ns || ns.metadata?.deletionTimestamp || ns.status?.phase === 'Terminating') return;
    for (const sa of DEFAULT_SERVICE_ACCOUNTS) {
      if (saInf.store.get(`${nsName}/${sa}`)) continue;
      try {
        await client.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: nsName } }, { namespace: nsName });
      } catch (e) {
        if (isStatusError(e, 'AlreadyExists') || isStatusError(e, 'NotFound')) continue;
        if (isStatusError(e, 'Forbidden')) return; // namespace terminating
        throw e;
      }
    }
    return;
  }

  return queueController(name, ctx, queue, log, sync);
}
