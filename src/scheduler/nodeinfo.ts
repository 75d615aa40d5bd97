// Precomputed views of pods and nodes: everything a filter or score needs per pod is
// computed once when the pod enters the cache, not once per node per cycle.
import type { Node, Pod, PodAffinityTerm, Taint } from 'kubernetes-types/core/v1.js';
import { compileLabelSelector, type LabelMatcher, type Labels } from './labels.js';
import { addResource, emptyResource, nodeAllocatable, podRequests, type Resource } from './resources.js';

export interface HostPort { ip: string; protocol: string; port: number }

export interface AffinityTerm {
  topologyKey: string;
  /** Does the term select this (namespace, labels)? nsLabels resolves a namespace's labels. */
  matches(namespace: string, labels: Labels, nsLabels: NamespaceLabels): boolean;
}
export interface WeightedAffinityTerm extends AffinityTerm { weight: number }

export type NamespaceLabels = (namespace: string) => Labels;

export function podKey(pod: Pod): string {
  return `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

function compileTerm(pod: Pod, t: PodAffinityTerm): AffinityTerm {
  const own = pod.metadata?.namespace ?? 'default';
  // matchLabelKeys / mismatchLabelKeys (1.29+) merge the pod's own label values in.
  const extra: Record<string, string> = {};
  for (const k of t.matchLabelKeys ?? []) {
    const v = pod.metadata?.labels?.[k];
    if (v !== undefined) extra[k] = v;
  }
  const selector: LabelMatcher = compileLabelSelector(t.labelSelector, extra);
  const mismatch = (t.mismatchLabelKeys ?? []).flatMap((k) => {
    const v = pod.metadata?.labels?.[k];
    return v === undefined ? [] : [[k, v] as const];
  });
  const sel: LabelMatcher = mismatch.length
    ? (l) => selector(l) && mismatch.every(([k, v]) => l?.[k] !== v)
    : selector;
  const names = new Set(t.namespaces ?? []);
  const nsSel = t.namespaceSelector ? compileLabelSelector(t.namespaceSelector) : undefined;
  if (!nsSel && names.size === 0) names.add(own);
  return {
    topologyKey: t.topologyKey,
    matches(namespace, labels, nsLabels) {
      if (!names.has(namespace) && !(nsSel && nsSel(nsLabels(namespace)))) return false;
      return sel(labels);
    },
  };
}

export class PodInfo {
  readonly key: string;
  readonly namespace: string;
  readonly labels: Labels;
  readonly requests: Resource;
  readonly nonZeroRequests: Resource;
  readonly hostPorts: HostPort[];
  readonly requiredAffinity: AffinityTerm[];
  readonly requiredAntiAffinity: AffinityTerm[];
  readonly preferredAffinity: WeightedAffinityTerm[];
  readonly preferredAntiAffinity: WeightedAffinityTerm[];
  readonly terminating: boolean;

  /**
   * `same`: a PodInfo of this pod with the same spec and labels (the scheduling cycle's,
   * when the cache assumes the pod on its node): its derived fields are reused.
   */
  constructor(readonly pod: Pod, same?: PodInfo) {
    if (same) {
      // Same fields in the same order as below: one object shape for the cache's loops.
      this.key = same.key;
      this.namespace = same.namespace;
      this.labels = same.labels;
      this.requests = same.requests;
      this.nonZeroRequests = same.nonZeroRequests;
      this.terminating = same.terminating;
      this.hostPorts = same.hostPorts;
      this.requiredAffinity = same.requiredAffinity;
      this.requiredAntiAffinity = same.requiredAntiAffinity;
      this.preferredAffinity = same.preferredAffinity;
      this.preferredAntiAffinity = same.preferredAntiAffinity;
      return;
    }
    this.key = podKey(pod);
    this.namespace = pod.metadata?.namespace ?? 'default';
    this.labels = pod.metadata?.labels;
    this.requests = podRequests(pod);
    this.nonZeroRequests = podRequests(pod, true);
    this.terminating = !!pod.metadata?.deletionTimestamp;
    this.hostPorts = [];
    for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
      for (const p of c.ports ?? []) {
        if (!p.hostPort || p.hostPort <= 0) continue;
        this.hostPorts.push({ ip: p.hostIP || '0.0.0.0', protocol: p.protocol || 'TCP', port: p.hostPort });
      }
    }
    const a = pod.spec?.affinity;
    this.requiredAffinity = (a?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((t) => compileTerm(pod, t));
    this.requiredAntiAffinity = (a?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((t) => compileTerm(pod, t));
    this.preferredAffinity = (a?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
      .map((w) => ({ ...compileTerm(pod, w.podAffinityTerm), weight: w.weight }));
    this.preferredAntiAffinity = (a?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
      .map((w) => ({ ...compileTerm(pod, w.podAffinityTerm), weight: w.weight }));
  }

  get hasAffinity(): boolean {
    return this.requiredAffinity.length + this.requiredAntiAffinity.length + this.preferredAffinity.length + this.preferredAntiAffinity.length > 0;
  }
}

export type ReadyState = 'True' | 'False' | 'Unknown';

export class NodeInfo {
  node!: Node;
  name!: string;
  labels: Labels;
  allocatable!: Resource;
  taints: Taint[] = [];
  unschedulable = false;
  ready: ReadyState = 'Unknown';
  readonly requested: Resource = emptyResource();
  readonly nonZeroRequested: Resource = emptyResource();
  readonly pods = new Map<string, PodInfo>();
  /** Pods here with any (anti-)affinity: only they matter to the inter-pod affinity plugin. */
  podsWithAffinity = 0;
  podsWithRequiredAntiAffinity = 0;
  usedPorts: HostPort[] = [];
  /** Bumped on every change, for cheap change detection by callers. */
  generation = 0;

  constructor(node: Node) {
    this.setNode(node);
  }

  setNode(node: Node): void {
    this.node = node;
    this.name = node.metadata?.name ?? '';
    this.labels = node.metadata?.labels;
    this.allocatable = nodeAllocatable(node);
    this.taints = node.spec?.taints ?? [];
    this.unschedulable = !!node.spec?.unschedulable;
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    this.ready = (ready?.status as ReadyState | undefined) ?? 'Unknown';
    this.generation++;
  }

  addPod(pi: PodInfo): void {
    if (this.pods.has(pi.key)) this.removePod(pi.key);
    this.pods.set(pi.key, pi);
    addResource(this.requested, pi.requests, 1);
    addResource(this.nonZeroRequested, pi.nonZeroRequests, 1);
    if (pi.hasAffinity) this.podsWithAffinity++;
    if (pi.requiredAntiAffinity.length) this.podsWithRequiredAntiAffinity++;
    if (pi.hostPorts.length) this.usedPorts = this.usedPorts.concat(pi.hostPorts);
    this.generation++;
  }

  removePod(key: string): PodInfo | undefined {
    const pi = this.pods.get(key);
    if (!pi) return undefined;
    this.pods.delete(key);
    addResource(this.requested, pi.requests, -1);
    addResource(this.nonZeroRequested, pi.nonZeroRequests, -1);
    if (pi.hasAffinity) this.podsWithAffinity--;
    if (pi.requiredAntiAffinity.length) this.podsWithRequiredAntiAffinity--;
    if (pi.hostPorts.length) this.usedPorts = this.usedPorts.filter((p) => !pi.hostPorts.includes(p));
    this.generation++;
    return pi;
  }
}
