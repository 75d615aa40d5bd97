// Endpoints and EndpointSlice controllers (upstream pkg/controller/endpoint and
// pkg/controller/endpointslice): for every Service with a selector, the addresses of
// the matching pods, with the named targetPort resolved per pod.
import type { Endpoints, EndpointAddress, EndpointPort, EndpointSubset, Node, Pod, Service, ServicePort } from 'kubernetes-types/core/v1.js';
import type { Endpoint, EndpointSlice, EndpointPort as SlicePort } from 'kubernetes-types/discovery/v1.js';
import { R } from '../api/resources.js';
import { Indexes, objectKey, type Informer, type WorkQueue } from '../client/types.js';
import { isStatusError } from '../api/errors.js';
import { isPodReady } from '../api/pods.js';
import { mapSelectorMatches } from './util/selector.js';
import { canonicalJson } from './util/hash.js';
import { queueController, type Controller, type ControllerContext, type SyncResult } from './base.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'endpointslice-controller.k8s.io';
export const MAX_ENDPOINTS_PER_SLICE = 100;

/** FindPort: the container port a service port targets on this pod, or undefined. */
export function findPort(pod: Pod, sp: ServicePort): number | undefined {
  const t = sp.targetPort;
  if (t === undefined || t === null || t === '') return sp.port;
  if (typeof t === 'number') return t;
  if (/^\d+$/.test(t)) return Number(t);
  const proto = sp.protocol ?? 'TCP';
  const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always')];
  for (const c of containers) for (const p of c.ports ?? []) {
    if (p.name === t && (p.protocol ?? 'TCP') === proto) return p.containerPort;
  }
  return undefined;
}

/** ShouldPodBeInEndpoints. */
export function shouldPodBeInEndpoints(pod: Pod, includeTerminating: boolean): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Failed' || phase === 'Succeeded') return false;
  if (!pod.status?.podIP) return false;
  if (!includeTerminating && pod.metadata?.deletionTimestamp) return false;
  return true;
}

const isHeadless = (svc: Service): boolean => svc.spec?.clusterIP === 'None';

function shouldSetHostname(pod: Pod, svc: Service): boolean {
  return !!pod.spec?.hostname && pod.spec?.subdomain === svc.metadata?.name && svc.metadata?.namespace === pod.metadata?.namespace;
}

function portKey(ports: { name?: string; port?: number; protocol?: string; appProtocol?: string }[]): string {
  return canonicalJson([...ports].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || (a.port ?? 0) - (b.port ?? 0)));
}

function ipLess(a: string, b: string): number {
  const pa = a.split('.').map(Number), pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d) return d;
  }
  return a.localeCompare(b);
}

/** The Endpoints subsets of a service (upstream syncService + RepackSubsets). */
export function computeEndpointSubsets(svc: Service, pods: Pod[]): EndpointSubset[] {
  const tolerate = !!svc.spec?.publishNotReadyAddresses;
  const groups = new Map<string, { ports: EndpointPort[]; ready: Map<string, EndpointAddress>; notReady: Map<string, EndpointAddress> }>();
  const add = (ports: EndpointPort[], epa: EndpointAddress, ready: boolean): void => {
    const k = portKey(ports);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { ports, ready: new Map(), notReady: new Map() }));
    (ready ? g.ready : g.notReady).set(epa.ip, epa);
  };
  for (const pod of pods) {
    if (!mapSelectorMatches(svc.spec?.selector, pod.metadata?.labels)) continue;
    if (!shouldPodBeInEndpoints(pod, tolerate)) continue;
    const ip = pod.status!.podIP!;
    const epa: EndpointAddress = {
      ip,
      targetRef: { kind: 'Pod', namespace: pod.metadata?.namespace, name: pod.metadata?.name, uid: pod.metadata?.uid },
    };
    if (pod.spec?.nodeName) epa.nodeName = pod.spec.nodeName;
    if (shouldSetHostname(pod, svc)) epa.hostname = pod.spec!.hostname;
    const ready = tolerate || isPodReady(pod);
    const sports = svc.spec?.ports ?? [];
    if (sports.length === 0) {
      if (isHeadless(svc)) add([], epa, ready);
      continue;
    }
    for (const sp of sports) {
      const port = findPort(pod, sp);
      if (port === undefined) continue;
      const epp: EndpointPort = { port, protocol: sp.protocol ?? 'TCP' };
      if (sp.name) epp.name = sp.name;
      if (sp.appProtocol) epp.appProtocol = sp.appProtocol;
      add([epp], epa, ready);
    }
  }
  // Repack: addresses with identical port sets share a subset.
  const byAddr = new Map<string, { ready: Map<string, EndpointAddress>; notReady: Map<string, EndpointAddress>; ports: EndpointPort[] }>();
  // First collect, per address, the ports it serves (ready and not-ready separately).
  const addrPorts = new Map<string, { epa: EndpointAddress; ready: boolean; ports: EndpointPort[] }>();
  for (const g of groups.values()) {
    for (const [ip, epa] of g.ready) {
      const e = addrPorts.get(`r|${ip}`) ?? { epa, ready: true, ports: [] };
      e.ports.push(...g.ports); addrPorts.set(`r|${ip}`, e);
    }
    for (const [ip, epa] of g.notReady) {
      const e = addrPorts.get(`n|${ip}`) ?? { epa, ready: false, ports: [] };
      e.ports.push(...g.ports); addrPorts.set(`n|${ip}`, e);
    }
  }
  for (const e of addrPorts.values()) {
    const ports = [...e.ports].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || a.port - b.port);
    const k = portKey(ports);
    let s = byAddr.get(k);
    if (!s) byAddr.set(k, (s = { ready: new Map(), notReady: new Map(), ports }));
    (e.ready ? s.ready : s.notReady).set(e.epa.ip, e.epa);
  }
  const out: EndpointSubset[] = [];
  for (const k of [...byAddr.keys()].sort()) {
    const s = byAddr.get(k)!;
    for (const ip of s.ready.keys()) s.notReady.delete(ip);
    const sub: EndpointSubset = {};
    if (s.ready.size) sub.addresses = [...s.ready.values()].sort((a, b) => ipLess(a.ip, b.ip));
    if (s.notReady.size) sub.notReadyAddresses = [...s.notReady.values()].sort((a, b) => ipLess(a.ip, b.ip));
    if (s.ports.length) sub.ports = s.ports;
    if (sub.addresses || sub.notReadyAddresses) out.push(sub);
  }
  return out;
}

export interface DesiredSlice { ports: SlicePort[]; endpoints: Endpoint[] }

/** The slices a service should have: endpoints grouped by their port set, chunked by 100. */
export function computeSlices(svc: Service, pods: Pod[], maxPerSlice = MAX_ENDPOINTS_PER_SLICE, zoneOf: (node: string) => string | undefined = () => undefined): DesiredSlice[] {
  const groups = new Map<string, DesiredSlice>();
  for (const pod of pods) {
    if (!mapSelectorMatches(svc.spec?.selector, pod.metadata?.labels)) continue;
    if (!shouldPodBeInEndpoints(pod, true)) continue;
    const ip = pod.status!.podIP!;
    if (ip.includes(':')) continue; // IPv4 slices only
    const ports: SlicePort[] = [];
    for (const sp of svc.spec?.ports ?? []) {
      const port = findPort(pod, sp);
      if (port === undefined) continue;
      const p: SlicePort = { name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP' };
      if (sp.appProtocol) p.appProtocol = sp.appProtocol;
      ports.push(p);
    }
    if ((svc.spec?.ports ?? []).length && !ports.length) continue;
    const serving = isPodReady(pod);
    const terminating = !!pod.metadata?.deletionTimestamp;
    const ep: Endpoint = {
      addresses: [ip],
      conditions: { ready: !!svc.spec?.publishNotReadyAddresses || (serving && !terminating), serving, terminating },
      targetRef: { kind: 'Pod', namespace: pod.metadata?.namespace, name: pod.metadata?.name, uid: pod.metadata?.uid },
    };
    if (pod.spec?.nodeName) {
      ep.nodeName = pod.spec.nodeName;
      const zone = zoneOf(pod.spec.nodeName);
      if (zone) ep.zone = zone;
    }
    if (shouldSetHostname(pod, svc)) ep.hostname = pod.spec!.hostname;
    const k = portKey(ports);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { ports: [...ports].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '')), endpoints: [] }));
    g.endpoints.push(ep);
  }
  const out: DesiredSlice[] = [];
  for (const k of [...groups.keys()].sort()) {
    const g = groups.get(k)!;
    g.endpoints.sort((a, b) => ipLess(a.addresses[0]!, b.addresses[0]!));
    for (let i = 0; i < g.endpoints.length; i += maxPerSlice) out.push({ ports: g.ports, endpoints: g.endpoints.slice(i, i + maxPerSlice) });
  }
  // A service with no endpoints still gets one (empty) slice, as upstream.
  if (!out.length) out.push({ ports: [], endpoints: [] });
  return out;
}

/** Watches services and pods, enqueueing services whose pods changed. */
function serviceQueueing(ctx: ControllerContext, svcInf: Informer<Service>, podInf: Informer<Pod>, queue: WorkQueue<string>): void {
  svcInf.addEventHandler({
    onAdd: (s) => queue.add(objectKey(s)),
    onUpdate: (_o, s) => queue.add(objectKey(s)),
    onDelete: (s) => queue.add(objectKey(s)),
  });
  const servicesOf = (pod: Pod): Service[] => svcInf.store.byIndex(Indexes.namespace, pod.metadata?.namespace ?? '');
  const forPod = (pod: Pod, svcs = servicesOf(pod)): void => {
    for (const s of svcs) {
      if (mapSelectorMatches(s.spec?.selector, pod.metadata?.labels)) queue.add(objectKey(s));
    }
  };
  podInf.addEventHandler({
    onAdd: (p) => forPod(p),
    onUpdate: (o, n) => {
      if (o.metadata?.resourceVersion === n.metadata?.resourceVersion) return;
      // Most pods live where no service is (batch jobs, benchmarks): nothing to compare then.
      const svcs = servicesOf(n);
      if (svcs.length === 0) return;
      forPod(n, svcs);
      if (canonicalJson(o.metadata?.labels ?? {}) !== canonicalJson(n.metadata?.labels ?? {})) forPod(o, svcs);
    },
    onDelete: (p) => forPod(p),
  });
  void ctx;
}

/** Services whose endpoints the controllers keep: with a selector, and not ExternalName (kubernetes#105986). */
function hasSelector(svc: Service): boolean {
  return !!svc.spec?.selector && Object.keys(svc.spec.selector).length > 0 && svc.spec.type !== 'ExternalName';
}

export function startEndpointsController(ctx: ControllerContext): Controller {
  const name = 'endpoints';
  const log = ctx.log.child({ controller: name });
  const svcInf = ctx.informers.informer<Service>(R.services);
  const podInf = ctx.informers.informer<Pod>(R.pods);
  const epInf = ctx.informers.informer<Endpoints>(R.endpoints);
  const queue = ctx.newQueue(name);
  const client = ctx.client.resource<Endpoints>(R.endpoints);
  serviceQueueing(ctx, svcInf, podInf, queue);
  // Endpoints changed or deleted by someone else: put them back.
  epInf.addEventHandler({ onDelete: (e) => queue.add(objectKey(e)) });

  async function sync(key: string): Promise<SyncResult> {
    const svc = svcInf.store.get(key);
    const [ns, svcName] = key.split('/') as [string, string];
    if (!svc) {
      // Service gone: remove its Endpoints (the `kubernetes` service's are the API server's).
      const ep = epInf.store.get(key);
      if (ep && !(ns === 'default' && svcName === 'kubernetes')) {
        try { await client.delete(svcName, { namespace: ns }); } catch (e) { if (!isStatusError(e, 'NotFound')) throw e; }
      }
      return;
    }
    if (!hasSelector(svc)) return;
    const subsets = computeEndpointSubsets(svc, podInf.store.byIndex(Indexes.namespace, ns));
    const labels: Record<string, string> = { ...(svc.metadata?.labels ?? {}) };
    if (isHeadless(svc)) labels['service.kubernetes.io/headless'] = '';
    const cur = epInf.store.get(key);
    if (cur && canonicalJson(cur.subsets ?? []) === canonicalJson(subsets) && canonicalJson(cur.metadata?.labels ?? {}) === canonicalJson(labels)) return;
    const obj: Endpoints = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: svcName, namespace: ns, labels }, subsets };
    if (cur) {
      await client.update({ ...obj, metadata: { ...cur.metadata, labels } }, { namespace: ns });
    } else {
      try { await client.create(obj, { namespace: ns }); } catch (e) {
        if (isStatusError(e, 'AlreadyExists')) throw e; // the informer will catch up; retry
        if (isStatusError(e, 'Forbidden')) return; // terminating namespace
        throw e;
      }
    }
    return;
  }

  return queueController(name, ctx, queue, log, sync);
}

export function startEndpointSliceController(ctx: ControllerContext): Controller {
  const name = 'endpointslice';
  const log = ctx.log.child({ controller: name });
  const svcInf = ctx.informers.informer<Service>(R.services);
  const podInf = ctx.informers.informer<Pod>(R.pods);
  const sliceInf = ctx.informers.informer<EndpointSlice>(R.endpointslices);
  const nodeInf = ctx.informers.informer<Node>(R.nodes);
  const zoneOf = (n: string): string | undefined => nodeInf.store.get(n)?.metadata?.labels?.['topology.kubernetes.io/zone'];
  sliceInf.addIndexer('service', (s) => {
    const l = s.metadata?.labels ?? {};
    return l[MANAGED_BY_LABEL] === MANAGED_BY && l[SERVICE_NAME_LABEL] ? [`${s.metadata?.namespace}/${l[SERVICE_NAME_LABEL]}`] : [];
  });
  const queue = ctx.newQueue(name);
  const client = ctx.client.resource<EndpointSlice>(R.endpointslices);
  serviceQueueing(ctx, svcInf, podInf, queue);
  sliceInf.addEventHandler({
    onDelete: (s) => { const k = serviceKeyOf(s); if (k) queue.add(k); },
    onUpdate: (o, n) => { if (o.metadata?.resourceVersion !== n.metadata?.resourceVersion) { const k = serviceKeyOf(n); if (k) queue.add(k); } },
  });
  function serviceKeyOf(s: EndpointSlice): string | undefined {
    const l = s.metadata?.labels ?? {};
    return l[MANAGED_BY_LABEL] === MANAGED_BY && l[SERVICE_NAME_LABEL] ? `${s.metadata?.namespace}/${l[SERVICE_NAME_LABEL]}` : undefined;
  }

  async function sync(key: string): Promise<SyncResult> {
    const [ns, svcName] = key.split('/') as [string, string];
    const svc = svcInf.store.get(key);
    const existing = sliceInf.store.byIndex('service', key).filter((s) => !s.metadata?.deletionTimestamp)
      .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
    const del = async (s: EndpointSlice): Promise<void> => {
      try { await client.delete(s.metadata!.name!, { namespace: ns }); } catch (e) { if (!isStatusError(e, 'NotFound')) throw e; }
    };
    if (!svc || !hasSelector(svc)) {
      for (const s of existing) await del(s);
      return;
    }
    const desired = computeSlices(svc, podInf.store.byIndex(Indexes.namespace, ns), MAX_ENDPOINTS_PER_SLICE, zoneOf);
    const labels: Record<string, string> = { ...(svc.metadata?.labels ?? {}), [SERVICE_NAME_LABEL]: svcName, [MANAGED_BY_LABEL]: MANAGED_BY };
    if (isHeadless(svc)) labels['service.kubernetes.io/headless'] = '';
    const ownerRef = { apiVersion: 'v1', kind: 'Service', name: svcName, uid: svc.metadata!.uid!, controller: true, blockOwnerDeletion: true };
    // Reuse existing slices with the same port set, in name order.
    const pool = new Map<string, EndpointSlice[]>();
    for (const s of existing) {
      const k = portKey(s.ports ?? []);
      pool.set(k, [...(pool.get(k) ?? []), s]);
    }
    const creates: EndpointSlice[] = [];
    for (const want of desired) {
      const k = portKey(want.ports);
      const reuse = pool.get(k)?.shift();
      if (reuse) {
        const same = canonicalJson(reuse.endpoints ?? []) === canonicalJson(want.endpoints)
          && canonicalJson(reuse.metadata?.labels ?? {}) === canonicalJson(labels) && reuse.addressType === 'IPv4';
        if (!same) {
          await client.update({ ...reuse, metadata: { ...reuse.metadata, labels }, endpoints: want.endpoints, ports: want.ports }, { namespace: ns });
        }
        continue;
      }
      creates.push({
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: { generateName: `${svcName}-`, namespace: ns, labels, ownerReferences: [ownerRef] },
        addressType: 'IPv4', endpoints: want.endpoints, ports: want.ports,
      });
    }
    for (const s of creates) {
      try { await client.create(s, { namespace: ns }); } catch (e) { if (isStatusError(e, 'Forbidden')) return; throw e; }
    }
    for (const rest of pool.values()) for (const s of rest) await del(s);
    return;
  }

  return queueController(name, ctx, queue, log, sync);
}
