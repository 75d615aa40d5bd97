// What exists from the first start: the system namespaces, and the `kubernetes`
// Service (first service IP) whose Endpoints/EndpointSlice list every live API server
// (upstream's bootstrap controller and lease endpoint reconciler: endpoint-reconciler.ts).
import { isStatusError } from '../api/errors.js';
import type { Registry } from './registry.js';
import type { StrategyContext } from './strategies/types.js';
import type { Obj } from './objects.js';
import { logger } from '../util/log.js';
import { EndpointReconciler, type EndpointReconcilerOptions } from './endpoint-reconciler.js';

const log = logger('apiserver.bootstrap');

export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** The server itself, writing its own objects (bootstrap, reconciled RBAC policy). */
export const serverContext: StrategyContext = { user: { name: 'system:apiserver', groups: ['system:masters'] }, dryRun: false, subresource: '' };

/** Creates the object unless it exists (and, with `reconcile`, updates it to what that returns). */
export async function ensure(registry: Registry, group: string, resource: string, ns: string, obj: Obj, reconcile?: (cur: Obj) => Obj | undefined): Promise<void> {
  const store = registry.store(group, resource)!;
  try {
    const cur = await store.get(ns, obj.metadata!.name);
    const next = reconcile?.(cur);
    if (next) await store.update(ns, obj.metadata!.name, serverContext, () => next);
  } catch (e) {
    if (!isStatusError(e, 'NotFound')) throw e;
    try {
      await store.create(ns, obj, serverContext);
    } catch (e2) {
      if (!isStatusError(e2, 'AlreadyExists')) throw e2; // another API server won the race
    }
  }
}

/** Creates what must exist and starts the endpoint reconciler, which the caller stops on shutdown. */
export async function bootstrap(registry: Registry, opts: { advertiseAddress: string; port: number; endpointReconciler?: EndpointReconcilerOptions }): Promise<EndpointReconciler> {
  for (const name of SYSTEM_NAMESPACES) {
    await ensure(registry, '', 'namespaces', '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
  const ip = registry.alloc.apiServiceIP;
  await ensure(registry, '', 'services', 'default', {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: { type: 'ClusterIP', clusterIP: ip, ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: opts.port }], sessionAffinity: 'None' },
  });
  // Endpoints and EndpointSlice: every live API server, through the master leases.
  const endpoints = new EndpointReconciler(registry, { ip: opts.advertiseAddress, port: opts.port }, opts.endpointReconciler);
  await endpoints.start();
  log.debug({ serviceIP: ip, endpoint: `${opts.advertiseAddress}:${opts.port}` }, 'bootstrap objects in place');
  return endpoints;
}
