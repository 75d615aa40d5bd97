// One scheduling decision (upstream's schedulePod): pre-filter, filter the nodes
// (stopping once enough feasible nodes are found, starting where the previous cycle
// stopped, so that big clusters are sampled evenly), score, pick the best at random
// among ties. Synchronous: it reads the cache as a consistent snapshot. As in upstream's
// framework, a filter whose pre-filter returns Skip (nothing to check for this pod: no
// node selector, no spreading constraints, no host ports...) is left out of the cycle's
// per-node loop, which is where the time goes with 1,000 nodes.
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Code, FitError, NO_NODES_AVAILABLE, preemptionMessage, type CycleState, type FilterPlugin, type Handle, type Status } from './framework.js';
import { PodInfo, type NodeInfo } from './nodeinfo.js';
import type { Profile } from './profile.js';

const MIN_FEASIBLE_NODES = 100;
const MIN_FEASIBLE_PERCENTAGE = 5;

/** How many feasible nodes to find before scoring (upstream's adaptive percentageOfNodesToScore). */
export function numFeasibleNodesToFind(numAllNodes: number, percentage = 0): number {
  if (numAllNodes < MIN_FEASIBLE_NODES) return numAllNodes;
  let p = percentage;
  if (p <= 0) p = Math.max(MIN_FEASIBLE_PERCENTAGE, 50 - Math.trunc(numAllNodes / 125));
  if (p >= 100) return numAllNodes;
  return Math.max(MIN_FEASIBLE_NODES, Math.trunc((numAllNodes * p) / 100));
}

export class NoNodesError extends Error {
  constructor() { super(NO_NODES_AVAILABLE); this.name = 'NoNodesError'; }
}

export interface ScheduleResult {
  node: string;
  /** The pod's precomputed view, for the cache to reuse when it assumes the pod. */
  podInfo: PodInfo;
  evaluatedNodes: number;
  feasibleNodes: number;
}

export class Algorithm {
  private nextStartNodeIndex = 0;

  constructor(
    private readonly profile: Profile,
    private readonly handle: Handle,
    private readonly percentageOfNodesToScore = 0,
    private readonly random: () => number = Math.random,
  ) {}

  /** Returns the chosen node, or throws FitError / NoNodesError. */
  schedule(pod: Pod): ScheduleResult {
    const nodes = this.handle.cache.nodeList;
    if (nodes.length === 0) throw new NoNodesError();
    const pi = new PodInfo(pod);
    const state: CycleState = new Map();

    const active: FilterPlugin[] = [];
    for (const f of this.profile.filters) {
      if (!f.preFilter) { active.push(f); continue; }
      const st = f.preFilter(state, pi, this.handle);
      if (st.code === Code.Skip) continue;
      if (st.code === Code.Success) { active.push(f); continue; }
      const statuses = new Map<string, Status>();
      const withPlugin = { ...st, plugin: f.name };
      for (const n of nodes) statuses.set(n.name, withPlugin);
      throw new FitError(nodes.length, statuses, st.reasons.join(', '), preemptionMessage(pod, nodes.length, statuses));
    }

    const { feasible, statuses, evaluated } = this.findFeasible(state, pi, nodes, active);
    if (feasible.length === 0) {
      throw new FitError(nodes.length, statuses, '', preemptionMessage(pod, nodes.length, statuses));
    }
    if (feasible.length === 1) return { node: feasible[0]!.name, podInfo: pi, evaluatedNodes: evaluated, feasibleNodes: 1 };
    const totals = this.prioritize(state, pi, feasible);
    return { node: this.selectHost(feasible, totals), podInfo: pi, evaluatedNodes: evaluated, feasibleNodes: feasible.length };
  }

  private findFeasible(state: CycleState, pi: PodInfo, nodes: readonly NodeInfo[], filters: readonly FilterPlugin[]) {
    const n = nodes.length;
    const want = numFeasibleNodesToFind(n, this.percentageOfNodesToScore);
    const feasible: NodeInfo[] = [];
    const statuses = new Map<string, Status>();
    const start = this.nextStartNodeIndex % n;
    let processed = 0;
    for (; processed < n && feasible.length < want; processed++) {
      const node = nodes[(start + processed) % n]!;
      let failed: Status | undefined;
      for (const f of filters) {
        const st = f.filter(state, pi, node);
        if (st.code !== Code.Success) { failed = { ...st, plugin: f.name }; break; }
      }
      if (failed) statuses.set(node.name, failed);
      else feasible.push(node);
    }
    this.nextStartNodeIndex = (start + processed) % n;
    return { feasible, statuses, evaluated: processed };
  }

  private prioritize(state: CycleState, pi: PodInfo, nodes: NodeInfo[]): number[] {
    const totals = new Array<number>(nodes.length).fill(0);
    const scores = new Array<number>(nodes.length);
    for (const p of this.profile.scores) {
      if (p.preScore && p.preScore(state, pi, nodes, this.handle).code === Code.Skip) continue;
      for (let i = 0; i < nodes.length; i++) scores[i] = p.score(state, pi, nodes[i]!);
      p.normalize?.(state, pi, scores, nodes);
      for (let i = 0; i < nodes.length; i++) totals[i]! += scores[i]! * p.weight;
    }
    return totals;
  }

  /** Highest total wins; ties are broken uniformly at random (reservoir sampling). */
  private selectHost(nodes: NodeInfo[], totals: number[]): string {
    let best = 0, ties = 1;
    for (let i = 1; i < nodes.length; i++) {
      if (totals[i]! > totals[best]!) { best = i; ties = 1; }
      else if (totals[i] === totals[best]) {
        ties++;
        if (this.random() * ties < 1) best = i;
      }
    }
    return nodes[best]!.name;
  }
}
