// The scheduler's view of the cluster: one NodeInfo per node with the pods bound to
// it, kept up to date incrementally from informer events, plus pods we "assumed"
// (bound by us, not yet seen bound through the watch) so that the next cycle already
// counts their requests. Scheduling cycles run synchronously on this one thread, so
// the cache itself is the snapshot: nothing can change it in the middle of a cycle.
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { NodeInfo, PodInfo, podKey } from './nodeinfo.js';

interface PodState {
  info: PodInfo;
  nodeName: string;
  assumed: boolean;
}

export class SchedulerCache {
  private readonly nodes = new Map<string, NodeInfo>();
  /** Nodes that exist (not just holders of pods of a deleted or not yet seen node), in a stable order. */
  private list: NodeInfo[] = [];
  private readonly listed = new Set<NodeInfo>();
  private readonly podStates = new Map<string, PodState>();
  /** Bumped when the node list changes, so that users of nodeList can reuse derived data. */
  listGeneration = 0;

  get nodeList(): readonly NodeInfo[] { return this.list; }
  nodeCount(): number { return this.list.length; }
  getNode(name: string): NodeInfo | undefined {
    const ni = this.nodes.get(name);
    return ni && this.listed.has(ni) ? ni : undefined;
  }
  /** Pods with any (anti-)affinity, and with required anti-affinity: most clusters have none, so plugins can skip whole passes. */
  podsWithAffinity = 0;
  podsWithRequiredAntiAffinity = 0;

  /** Nodes holding any pod with (anti-)affinity. */
  nodesWithAffinityPods(): NodeInfo[] {
    if (this.podsWithAffinity === 0) return [];
    return this.list.filter((ni) => ni.podsWithAffinity > 0);
  }

  addNode(node: Node): void {
    const name = node.metadata?.name ?? '';
    const ni = this.nodes.get(name);
    if (ni) {
      ni.setNode(node);
      if (!this.listed.has(ni)) { this.list.push(ni); this.listed.add(ni); this.listGeneration++; }
    } else {
      const n = new NodeInfo(node);
      this.nodes.set(name, n);
      this.list.push(n);
      this.listed.add(n);
      this.listGeneration++;
    }
  }

  updateNode(node: Node): void { this.addNode(node); }

  removeNode(name: string): void {
    const ni = this.nodes.get(name);
    if (!ni) return;
    this.list = this.list.filter((n) => n !== ni);
    this.listed.delete(ni);
    this.listGeneration++;
    // Keep the holder while pods still point at the node; they leave through pod deletes.
    if (ni.pods.size === 0) this.nodes.delete(name);
  }

  private holder(nodeName: string): NodeInfo {
    let ni = this.nodes.get(nodeName);
    if (!ni) {
      ni = new NodeInfo({ metadata: { name: nodeName } });
      this.nodes.set(nodeName, ni);
    }
    return ni;
  }

  private place(info: PodInfo, nodeName: string, assumed: boolean): void {
    this.unplace(info.key);
    this.holder(nodeName).addPod(info);
    this.podStates.set(info.key, { info, nodeName, assumed });
    if (info.hasAffinity) this.podsWithAffinity++;
    if (info.requiredAntiAffinity.length) this.podsWithRequiredAntiAffinity++;
  }

  private unplace(key: string): void {
    const st = this.podStates.get(key);
    if (!st) return;
    const ni = this.nodes.get(st.nodeName);
    ni?.removePod(key);
    if (st.info.hasAffinity) this.podsWithAffinity--;
    if (st.info.requiredAntiAffinity.length) this.podsWithRequiredAntiAffinity--;
    if (ni && ni.pods.size === 0 && !this.listed.has(ni)) this.nodes.delete(st.nodeName);
    this.podStates.delete(key);
  }

  isAssumed(key: string): boolean { return this.podStates.get(key)?.assumed ?? false; }
  hasPod(key: string): boolean { return this.podStates.has(key); }

  /** Count the pod on nodeName from now on, before the API has seen the binding. `computed`: the cycle's PodInfo of this pod. */
  assumePod(pod: Pod, nodeName: string, computed?: PodInfo): PodInfo {
    const bound: Pod = { ...pod, spec: { ...pod.spec!, nodeName } };
    const info = new PodInfo(bound, computed?.pod === pod ? computed : undefined);
    this.place(info, nodeName, true);
    return info;
  }

  /** The binding failed: stop counting the assumed pod. */
  forgetPod(key: string): void {
    if (this.podStates.get(key)?.assumed) this.unplace(key);
  }

  /** An assigned, non-terminal pod seen through the informer (confirms an assumed one). */
  addOrUpdatePod(pod: Pod): void {
    const nodeName = pod.spec?.nodeName;
    if (!nodeName) return;
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') {
      this.unplace(podKey(pod));
      return;
    }
    this.place(new PodInfo(pod), nodeName, false);
  }

  removePod(pod: Pod): void { this.unplace(podKey(pod)); }

  podCount(): number { return this.podStates.size; }
}
