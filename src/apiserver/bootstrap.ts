// What exists from the first start: the system namespaces, and the `kubernetes`
// Service (first service IP) with Endpoints/EndpointSlice pointing at this server
// (upstream's bootstrap controller).
import { isStatusError } from '../api/errors.js';
import type { Registry } from './registry.js';
import type { StrategyContext } from './strategies/types.js';
import type { Obj } from './objects.js';
import { deepEqual } from './objects.js';
import { logger } from '../util/log.js';

const log = logger('apiserver.bootstrap');

export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** The server itself, writing its own objects (bootstrap, reconciled RBAC policy). */
export const serverContext: StrategyContext = { user: { name: 'system:apiserver', groups: ['system:masters'] }, dryRun: false, subresource: '' };

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

export async function bootstrap(registry: Registry, opts: { advertiseAddress: string; port: number }): Promise<void> {
  for (const name of SYSTEM_NAMESPACES) {
    await ensure(registry, '', 'namespaces', '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
  const ip = registry.alloc.apiServiceIP;
  await ensure(registry, '', 'services', 'default', {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: { type: 'ClusterIP', clusterIP: ip, ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: opts.port }], sessionAffinity: 'None' },
  });
  const subsets = [{ addresses: [{ ip: opts.advertiseAddress }], ports: [{ name: 'https', port: opts.port, protocol: 'TCP' }] }];
  await ensure(registry, '', 'endpoints', 'default', {
    apiVersion: 'v1', kind: 'Endpoints',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
    subsets,
  }, (cur) => {
    if (deepEqual(cur.subsets, subsets)) return undefined;
    const next = structuredClone(cur);
    next.subsets = subsets;
    delete next.metadata!.resourceVersion;
    return next;
  });
  const endpoints = [{ addresses: [opts.advertiseAddress], conditions: { ready: true } }];
  const ports = [{ name: 'https', port: opts.port, protocol: 'TCP' }];
  await ensure(registry, 'discovery.k8s.io', 'endpointslices', 'default', {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { 'kubernetes.io/service-name': 'kubernetes', 'endpointslice.kubernetes.io/managed-by': 'endpointslicemirroring-controller.k8s.io' } },
    addressType: 'IPv4', endpoints, ports,
  }, (cur) => {
    if (deepEqual(cur.endpoints, endpoints) && deepEqual(cur.ports, ports)) return undefined;
    const next = structuredClone(cur);
    next.endpoints = endpoints;
    next.ports = ports;
    delete next.metadata!.resourceVersion;
    return next;
  });
  log.debug({ serviceIP: ip, endpoint: `${opts.advertiseAddress}:${opts.port}` }, 'bootstrap objects in place');
}
