// Resource arithmetic for scheduling: what a pod requests and what a node offers, as
// plain numbers (millicores, bytes, counts). Follows upstream's
// resourcehelper.PodRequests: containers (and restartable init "sidecar" containers)
// add up, each ordinary init container runs alone beside the sidecars started
// before it, the pod needs the larger of the two, plus spec.overhead.
import type { Container, Node, Pod } from 'kubernetes-types/core/v1.js';

type ResourceList = Record<string, string | number>;
import { quantityMilliValue, quantityValue } from '../api/quantity.js';

export interface Resource {
  milliCPU: number;
  memory: number;
  ephemeralStorage: number;
  /** Only meaningful for node allocatable. */
  allowedPodNumber: number;
  /** Extended resources, hugepages-*, attachable-volumes-*: integer values. */
  scalar: Map<string, number>;
}

export function emptyResource(): Resource {
  return { milliCPU: 0, memory: 0, ephemeralStorage: 0, allowedPodNumber: 0, scalar: new Map() };
}

/** Upstream's defaults used for scoring pods that request nothing (non-zero requests). */
export const DEFAULT_MILLI_CPU_REQUEST = 100;
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;

function safeMilli(q: unknown): number {
  try { return quantityMilliValue(q as string); } catch { return 0; }
}
function safeValue(q: unknown): number {
  try { return quantityValue(q as string); } catch { return 0; }
}

export function resourceFromList(list: ResourceList | undefined): Resource {
  const r = emptyResource();
  if (!list) return r;
  for (const [name, q] of Object.entries(list)) {
    switch (name) {
      case 'cpu': r.milliCPU = safeMilli(q); break;
      case 'memory': r.memory = safeValue(q); break;
      case 'ephemeral-storage': r.ephemeralStorage = safeValue(q); break;
      case 'pods': r.allowedPodNumber = safeValue(q); break;
      default: r.scalar.set(name, safeValue(q));
    }
  }
  return r;
}

function addInto(a: Resource, b: Resource): void {
  a.milliCPU += b.milliCPU;
  a.memory += b.memory;
  a.ephemeralStorage += b.ephemeralStorage;
  for (const [k, v] of b.scalar) a.scalar.set(k, (a.scalar.get(k) ?? 0) + v);
}

function maxInto(a: Resource, b: Resource): void {
  a.milliCPU = Math.max(a.milliCPU, b.milliCPU);
  a.memory = Math.max(a.memory, b.memory);
  a.ephemeralStorage = Math.max(a.ephemeralStorage, b.ephemeralStorage);
  for (const [k, v] of b.scalar) a.scalar.set(k, Math.max(a.scalar.get(k) ?? 0, v));
}

function copy(r: Resource): Resource {
  return { ...r, scalar: new Map(r.scalar) };
}

function containerRequests(c: Container, nonZero: boolean): Resource {
  // Requests default to limits when only limits are set (API defaulting does this
  // upstream; apply it here too in case the object was not defaulted).
  const list = { ...(c.resources?.limits ?? {}), ...(c.resources?.requests ?? {}) };
  const r = resourceFromList(list);
  if (nonZero) {
    if (list.cpu === undefined) r.milliCPU = DEFAULT_MILLI_CPU_REQUEST;
    if (list.memory === undefined) r.memory = DEFAULT_MEMORY_REQUEST;
  }
  return r;
}

/** The pod's effective requests; with nonZero, unset cpu/memory count as upstream's scoring defaults. */
export function podRequests(pod: Pod, nonZero = false): Resource {
  const spec = pod.spec;
  const total = emptyResource();
  if (!spec) return total;
  for (const c of spec.containers ?? []) addInto(total, containerRequests(c, nonZero));
  const sidecars = emptyResource();
  const initMax = emptyResource();
  for (const c of spec.initContainers ?? []) {
    const r = containerRequests(c, nonZero);
    if (c.restartPolicy === 'Always') {
      addInto(sidecars, r);
      // A sidecar keeps running: it counts towards the steady state too.
      addInto(total, r);
      maxInto(initMax, sidecars);
    } else {
      const during = copy(r);
      addInto(during, sidecars);
      maxInto(initMax, during);
    }
  }
  maxInto(total, initMax);
  if (spec.overhead) addInto(total, resourceFromList(spec.overhead));
  return total;
}

export function nodeAllocatable(node: Node): Resource {
  return resourceFromList(node.status?.allocatable ?? node.status?.capacity);
}

export function addResource(a: Resource, b: Resource, sign: 1 | -1): void {
  a.milliCPU += sign * b.milliCPU;
  a.memory += sign * b.memory;
  a.ephemeralStorage += sign * b.ephemeralStorage;
  for (const [k, v] of b.scalar) a.scalar.set(k, (a.scalar.get(k) ?? 0) + sign * v);
}
