// The Node authorizer's graph (upstream plugin/pkg/auth/authorizer/node/graph.go): which
// objects each node may read because a pod bound to it references them.
//
//   node <- pod <- secret | configmap | serviceaccount
//
// Upstream keeps a general directed graph and walks it per request (with a destination
// index on wide vertices). Here every edge ends two hops from a node, so the walk is
// folded into a reference count per (object, node) in one flat map: adding or removing a
// pod touches only its own references, and a decision is one map lookup, whatever the
// cluster size.
import type { Pod } from 'kubernetes-types/core/v1.js';
import { MIRROR_POD_ANNOTATION, visitPodConfigMapNames, visitPodSecretNames } from '../../api/pods.js';

/** The kinds of objects a node reaches through its pods (upstream's vertex types that apply here). */
export type VertexType = 'secret' | 'configmap' | 'serviceaccount';

interface PodEdges {
  node: string;
  /** reachKey() of each object the pod references, once each. */
  refs: string[];
}

/** One key per (object, node): cheaper in memory than a map of nodes per object. */
const reachKey = (type: VertexType, namespace: string, name: string, node: string): string => `${type}\u0000${namespace}\u0000${name}\u0000${node}`;

/** The objects a pod bound to a node gives that node access to (upstream Graph.AddPod). */
export function podReferences(pod: Pod): { type: VertexType; name: string }[] {
  // A node must never gain access to other objects through a pod it created itself
  // (NodeRestriction allows nodes to create mirror pods only, without references): defence in depth.
  if (pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION] !== undefined) return [];
  const out: { type: VertexType; name: string }[] = [];
  // The pod may get tokens for its service account (TokenRequest), whether or not it mounts one.
  if (pod.spec?.serviceAccountName) out.push({ type: 'serviceaccount', name: pod.spec.serviceAccountName });
  visitPodSecretNames(pod, (name) => { out.push({ type: 'secret', name }); });
  visitPodConfigMapNames(pod, (name) => { out.push({ type: 'configmap', name }); });
  return out;
}

export class NodeGraph {
  /** "namespace/name" of each pod bound to a node. */
  private pods = new Map<string, PodEdges>();
  /** reachKey -> number of the node's pods referencing the object. */
  private reach = new Map<string, number>();

  /** Adds or replaces a pod; an unbound pod (no spec.nodeName) gives nobody anything. */
  setPod(pod: Pod): void {
    const ns = pod.metadata?.namespace ?? '';
    const key = `${ns}/${pod.metadata?.name ?? ''}`;
    const node = pod.spec?.nodeName;
    if (!node) { this.deletePod(key); return; }
    const refs = [...new Set(podReferences(pod).map((r) => reachKey(r.type, ns, r.name, node)))];
    const old = this.pods.get(key);
    if (old) this.unlink(old);
    this.pods.set(key, { node, refs });
    for (const r of refs) this.reach.set(r, (this.reach.get(r) ?? 0) + 1);
  }

  /** Removes a pod by "namespace/name". */
  deletePod(key: string): void {
    const old = this.pods.get(key);
    if (!old) return;
    this.pods.delete(key);
    this.unlink(old);
  }

  private unlink(e: PodEdges): void {
    for (const r of e.refs) {
      const n = this.reach.get(r) ?? 0;
      if (n > 1) this.reach.set(r, n - 1);
      else this.reach.delete(r);
    }
  }

  /** The node a pod is bound to, when the graph knows the pod. */
  podNode(namespace: string, name: string): string | undefined {
    return this.pods.get(`${namespace}/${name}`)?.node;
  }

  /** Whether some pod bound to `node` references the object (upstream hasPathFrom). */
  reaches(node: string, type: VertexType, namespace: string, name: string): boolean {
    return this.reach.has(reachKey(type, namespace, name, node));
  }

  /** Replaces the whole graph (after the pods cache was rebuilt). */
  reset(pods: Iterable<Pod>): void {
    this.pods = new Map();
    this.reach = new Map();
    for (const p of pods) this.setPod(p);
  }

  /** Pods, and (object, node) pairs. */
  get size(): { pods: number; edges: number } {
    return { pods: this.pods.size, edges: this.reach.size };
  }
}
