// Builders of in-memory nodes and pods for the scheduler's unit tests.
import type { Node, Pod, Taint } from 'kubernetes-types/core/v1.js';
import { SchedulerCache } from './cache.js';
import type { Handle } from './framework.js';
import { compileMapSelector } from './labels.js';

export interface NodeSpec {
  cpu?: string; memory?: string; pods?: string; extra?: Record<string, string>;
  labels?: Record<string, string>; taints?: Taint[]; unschedulable?: boolean;
  ready?: 'True' | 'False' | 'Unknown';
}

export function makeNode(name: string, s: NodeSpec = {}): Node {
  const alloc = { cpu: s.cpu ?? '4', memory: s.memory ?? '8Gi', pods: s.pods ?? '110', 'ephemeral-storage': '100Gi', ...(s.extra ?? {}) };
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...(s.labels ?? {}) } },
    spec: { taints: s.taints, unschedulable: s.unschedulable },
    status: { capacity: alloc, allocatable: alloc, conditions: [{ type: 'Ready', status: s.ready ?? 'True' }] },
  };
}

export interface PodSpecOpts {
  cpu?: string; memory?: string; extra?: Record<string, string>;
  labels?: Record<string, string>; namespace?: string; nodeName?: string;
  spec?: Partial<NonNullable<Pod['spec']>>;
  owner?: string;
}

export function makePod(name: string, o: PodSpecOpts = {}): Pod {
  const requests: Record<string, string> = { ...(o.extra ?? {}) };
  if (o.cpu) requests.cpu = o.cpu;
  if (o.memory) requests.memory = o.memory;
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name, namespace: o.namespace ?? 'default', uid: `uid-${name}`, labels: o.labels,
      ...(o.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: o.owner, uid: `uid-${o.owner}`, controller: true }] } : {}),
    },
    spec: {
      containers: [{ name: 'c', image: 'nginx', resources: { requests } }],
      nodeName: o.nodeName,
      ...(o.spec ?? {}),
    },
  };
}

/** A handle whose default spreading selects pods by the given label map (like a Service). */
export function makeHandle(cache: SchedulerCache, serviceSelector?: Record<string, string>): Handle {
  const m = serviceSelector ? compileMapSelector(serviceSelector) : undefined;
  return {
    cache,
    nsLabels: () => undefined,
    defaultSpreadSelector: (pod) => (m && m(pod.metadata?.labels) ? (pi) => m(pi.labels) : undefined),
  };
}

export function cacheWith(nodes: Node[], pods: Pod[] = []): SchedulerCache {
  const c = new SchedulerCache();
  for (const n of nodes) c.addNode(n);
  for (const p of pods) c.addOrUpdatePod(p);
  return c;
}
