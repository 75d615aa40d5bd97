// Pod admission on the node (upstream pkg/kubelet/lifecycle/predicate.go): a pod whose
// host ports are taken by another pod here, or that does not fit the node's
// allocatable resources, is rejected with phase Failed and upstream's reason/message.
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { quantityMilliValue, quantityValue } from '../api/quantity.js';

export interface Rejection { reason: string; message: string }

function hostPorts(pod: Pod): string[] {
  const out: string[] = [];
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
    for (const p of c.ports ?? []) if (p.hostPort) out.push(`${p.protocol ?? 'TCP'}/${p.hostIP || '0.0.0.0'}/${p.hostPort}`);
  }
  return out;
}

function conflicts(a: string, b: string): boolean {
  const [pa, ia, na] = a.split('/');
  const [pb, ib, nb] = b.split('/');
  return pa === pb && na === nb && (ia === ib || ia === '0.0.0.0' || ib === '0.0.0.0');
}

/**
 * By pod object (the informer's copies are never modified in place): admitting each pod
 * of a burst summed the requests of every pod admitted before it, parsing their
 * quantities again each time (O(pods^2) parses; ~75 ms of a 50-pod burst's agent profile).
 */
const requestsOf = new WeakMap<Pod, { cpu: number; memory: number }>();
const hostPortsOf = new WeakMap<Pod, string[]>();

function memo<T>(m: WeakMap<Pod, T>, pod: Pod, f: (p: Pod) => T): T {
  let v = m.get(pod);
  if (v === undefined) { v = f(pod); m.set(pod, v); }
  return v;
}

/** Effective requests: max(sum of containers, max of init containers) (upstream PodRequests). */
export function podRequests(pod: Pod): { cpu: number; memory: number } {
  return memo(requestsOf, pod, computeRequests);
}

function computeRequests(pod: Pod): { cpu: number; memory: number } {
  let cpu = 0, memory = 0;
  for (const c of pod.spec?.containers ?? []) {
    cpu += quantityMilliValue(c.resources?.requests?.cpu ?? 0);
    memory += quantityValue(c.resources?.requests?.memory ?? 0);
  }
  for (const c of pod.spec?.initContainers ?? []) {
    cpu = Math.max(cpu, quantityMilliValue(c.resources?.requests?.cpu ?? 0));
    memory = Math.max(memory, quantityValue(c.resources?.requests?.memory ?? 0));
  }
  return { cpu, memory };
}

/** Checks `pod` against the pods already admitted on this node. */
export function admit(pod: Pod, admitted: Pod[], node: Node | undefined): Rejection | undefined {
  const used = admitted.flatMap((p) => memo(hostPortsOf, p, hostPorts));
  for (const hp of hostPorts(pod)) {
    if (used.some((u) => conflicts(u, hp))) {
      return { reason: 'NodePorts', message: 'Pod was rejected: Predicate NodePorts failed: node(s) didn\'t have free ports for the requested pod ports' };
    }
  }
  const alloc = node?.status?.allocatable;
  if (!alloc) return undefined;
  const want = podRequests(pod);
  const have = admitted.map(podRequests).reduce((a, b) => ({ cpu: a.cpu + b.cpu, memory: a.memory + b.memory }), { cpu: 0, memory: 0 });
  const pods = Number(alloc.pods ?? 110);
  if (admitted.length + 1 > pods) {
    return { reason: 'OutOfpods', message: `Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: ${admitted.length}, capacity: ${pods}` };
  }
  const capCPU = quantityMilliValue(alloc.cpu ?? 0);
  if (want.cpu && have.cpu + want.cpu > capCPU) {
    return { reason: 'OutOfcpu', message: `Pod was rejected: Node didn't have enough resource: cpu, requested: ${want.cpu}, used: ${have.cpu}, capacity: ${capCPU}` };
  }
  const capMem = quantityValue(alloc.memory ?? 0);
  if (want.memory && have.memory + want.memory > capMem) {
    return { reason: 'OutOfmemory', message: `Pod was rejected: Node didn't have enough resource: memory, requested: ${want.memory}, used: ${have.memory}, capacity: ${capMem}` };
  }
  return undefined;
}
