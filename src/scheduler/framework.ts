// The scheduling framework's contracts (after pkg/scheduler/framework): filter plugins
// say whether a node can take the pod, score plugins rank the nodes that can; each
// may precompute per-cycle state in a pre-pass. A cycle's state lives in CycleState.
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { NodeInfo, PodInfo, NamespaceLabels } from './nodeinfo.js';
import type { SchedulerCache } from './cache.js';

export const MAX_NODE_SCORE = 100;

export enum Code {
  Success = 0,
  /** The node cannot take the pod now; preempting pods there might help. */
  Unschedulable = 1,
  /** No change of pods on the node would help (taints, selectors...). */
  UnschedulableAndUnresolvable = 2,
  /** Skip: the plugin has nothing to say for this pod (pre-passes only). */
  Skip = 3,
}

export interface Status {
  code: Code;
  reasons: string[];
  plugin?: string;
}

export const OK: Status = { code: Code.Success, reasons: [] };
export const SKIP: Status = { code: Code.Skip, reasons: [] };

export function unschedulable(...reasons: string[]): Status {
  return { code: Code.Unschedulable, reasons };
}
export function unresolvable(...reasons: string[]): Status {
  return { code: Code.UnschedulableAndUnresolvable, reasons };
}

/** Per-cycle scratch space keyed by plugin name. */
export type CycleState = Map<string, unknown>;

/** What plugins may look at besides the node: the whole cluster view. */
export interface Handle {
  cache: SchedulerCache;
  nsLabels: NamespaceLabels;
  /** Label sets that select the pod's "siblings" for default spreading (services, owner). */
  defaultSpreadSelector(pod: Pod): ((pi: PodInfo) => boolean) | undefined;
}

export interface FilterPlugin {
  readonly name: string;
  /** Runs once per cycle; a failure applies to every node. */
  preFilter?(state: CycleState, pod: PodInfo, h: Handle): Status;
  filter(state: CycleState, pod: PodInfo, node: NodeInfo): Status;
}

export interface ScorePlugin {
  readonly name: string;
  readonly weight: number;
  /** Runs once per cycle with the feasible nodes; SKIP leaves the plugin out. */
  preScore?(state: CycleState, pod: PodInfo, nodes: NodeInfo[], h: Handle): Status;
  score(state: CycleState, pod: PodInfo, node: NodeInfo): number;
  /** Rescale raw scores to 0..MAX_NODE_SCORE in place. */
  normalize?(state: CycleState, pod: PodInfo, scores: number[], nodes: NodeInfo[]): void;
}

/**
 * DefaultNormalizeScore: scale so that the highest score becomes MAX_NODE_SCORE;
 * reverse flips it (higher raw value, lower score).
 */
export function defaultNormalize(scores: number[], reverse: boolean): void {
  let max = 0;
  for (const s of scores) if (s > max) max = s;
  if (max === 0) {
    if (reverse) scores.fill(MAX_NODE_SCORE);
    return;
  }
  for (let i = 0; i < scores.length; i++) {
    let s = Math.trunc((MAX_NODE_SCORE * scores[i]!) / max);
    if (reverse) s = MAX_NODE_SCORE - s;
    scores[i] = s;
  }
}

/** Why no node fit, per node, rendered like upstream's FitError. */
export class FitError extends Error {
  constructor(
    readonly numAllNodes: number,
    readonly nodeStatuses: Map<string, Status>,
    readonly preFilterMsg: string,
    readonly postFilterMsg: string,
  ) {
    super(fitErrorMessage(numAllNodes, nodeStatuses, preFilterMsg, postFilterMsg));
    this.name = 'FitError';
  }

  /** Plugins that rejected the pod somewhere: the events that may help it depend on them. */
  plugins(): Set<string> {
    const s = new Set<string>();
    for (const st of this.nodeStatuses.values()) if (st.plugin) s.add(st.plugin);
    return s;
  }
}

export const NO_NODES_AVAILABLE = 'no nodes available to schedule pods';

function histogram(statuses: Iterable<string[]>): string {
  const counts = new Map<string, number>();
  for (const reasons of statuses) for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
  // Upstream sorts the "count reason" strings themselves.
  return [...counts].map(([r, n]) => `${n} ${r}`).sort().join(', ');
}

export function fitErrorMessage(numAllNodes: number, statuses: Map<string, Status>, preFilterMsg: string, postFilterMsg: string): string {
  let msg = `0/${numAllNodes} nodes are available:`;
  if (preFilterMsg) msg += ` ${preFilterMsg}.`;
  else {
    const h = histogram([...statuses.values()].map((s) => s.reasons));
    if (h) msg += ` ${h}.`;
  }
  // The post-filter (preemption) message brings its own full stop.
  if (postFilterMsg) msg += ` ${postFilterMsg}`;
  return msg;
}

/**
 * What upstream's DefaultPreemption reports when it finds no victims. jotasu does not
 * preempt; with every pod at the same priority upstream finds no victims either, so
 * the message is the same: nodes rejected for unresolvable reasons are "not helpful",
 * the others had no lower-priority pods to evict.
 */
export function preemptionMessage(pod: Pod, numAllNodes: number, statuses: Map<string, Status>): string {
  if (pod.spec?.preemptionPolicy === 'Never') return 'preemption: not eligible due to preemptionPolicy=Never.';
  const per = [...statuses.values()].map((s) =>
    s.code === Code.UnschedulableAndUnresolvable ? ['Preemption is not helpful for scheduling'] : ['No preemption victims found for incoming pod']);
  return `preemption: 0/${numAllNodes} nodes are available: ${histogram(per)}.`;
}
