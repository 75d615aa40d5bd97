// PodTopologySpread: DoNotSchedule constraints filter nodes whose domain would exceed
// maxSkew over the least loaded domain; ScheduleAnyway constraints, or, when a pod has
// none at all, the system default constraints over its "siblings" (pods selected by
// its Services and owner), score nodes with fewer matching pods higher.
import type { Pod, TopologySpreadConstraint } from 'kubernetes-types/core/v1.js';
import { MAX_NODE_SCORE, OK, SKIP, unresolvable, unschedulable, type FilterPlugin, type Handle, type ScorePlugin } from '../framework.js';
import { compileLabelSelector } from '../labels.js';
import type { NodeInfo, PodInfo } from '../nodeinfo.js';
import { requiredNodeMatcher } from './nodeaffinity.js';

export const ERR_CONSTRAINTS = "node(s) didn't match pod topology spread constraints";
export const ERR_MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)";

export const HOSTNAME = 'kubernetes.io/hostname';
export const ZONE = 'topology.kubernetes.io/zone';

interface Constraint {
  key: string;
  maxSkew: number;
  minDomains: number;
  /** Selects counted pods, namespace included. */
  selects: (pi: PodInfo) => boolean;
  selfMatch: boolean;
}

function compile(pod: PodInfo, c: TopologySpreadConstraint): Constraint {
  const extra: Record<string, string> = {};
  for (const k of c.matchLabelKeys ?? []) {
    const v = pod.labels?.[k];
    if (v !== undefined) extra[k] = v;
  }
  const sel = compileLabelSelector(c.labelSelector, extra);
  const ns = pod.namespace;
  return {
    key: c.topologyKey,
    maxSkew: c.maxSkew,
    minDomains: c.minDomains ?? 1,
    selects: (pi) => pi.namespace === ns && !pi.terminating && sel(pi.labels),
    selfMatch: sel(pod.labels),
  };
}

function constraintsOf(pod: Pod, when: 'DoNotSchedule' | 'ScheduleAnyway'): TopologySpreadConstraint[] {
  return (pod.spec?.topologySpreadConstraints ?? []).filter((c) => c.whenUnsatisfiable === when);
}

function hasAllKeys(node: NodeInfo, cs: Constraint[]): boolean {
  return cs.every((c) => node.labels?.[c.key] !== undefined);
}

function countOn(node: NodeInfo, c: Constraint): number {
  let n = 0;
  for (const pi of node.pods.values()) if (c.selects(pi)) n++;
  return n;
}

interface FilterState {
  constraints: Constraint[];
  /** per constraint: value -> matching pods */
  counts: Map<string, number>[];
  /** per constraint: the minimum over its domains */
  min: number[];
}

const FSTATE = 'PodTopologySpread/filter';
const SSTATE = 'PodTopologySpread/score';

export const podTopologySpreadFilter: FilterPlugin = {
  name: 'PodTopologySpread',
  preFilter(state, pod, h: Handle) {
    const cs = constraintsOf(pod.pod, 'DoNotSchedule').map((c) => compile(pod, c));
    // No DoNotSchedule constraint: skip the filter, as upstream's PreFilter does.
    if (cs.length === 0) { state.set(FSTATE, undefined); return SKIP; }
    const eligible = requiredNodeMatcher(pod.pod);
    const counts = cs.map(() => new Map<string, number>());
    for (const node of h.cache.nodeList) {
      if (!eligible(node) || !hasAllKeys(node, cs)) continue;
      cs.forEach((c, i) => {
        const v = node.labels![c.key]!;
        counts[i]!.set(v, (counts[i]!.get(v) ?? 0) + countOn(node, c));
      });
    }
    const min = cs.map((c, i) => {
      const m = counts[i]!;
      // Fewer domains than minDomains: the missing ones count as empty.
      if (m.size < c.minDomains) return 0;
      let lo = Infinity;
      for (const n of m.values()) if (n < lo) lo = n;
      return lo === Infinity ? 0 : lo;
    });
    state.set(FSTATE, { constraints: cs, counts, min } satisfies FilterState);
    return OK;
  },
  filter(state, _pod, node) {
    const st = state.get(FSTATE) as FilterState | undefined;
    if (!st) return OK;
    for (let i = 0; i < st.constraints.length; i++) {
      const c = st.constraints[i]!;
      const v = node.labels?.[c.key];
      if (v === undefined) return unresolvable(ERR_MISSING_LABEL);
      const skew = (st.counts[i]!.get(v) ?? 0) + (c.selfMatch ? 1 : 0) - st.min[i]!;
      if (skew > c.maxSkew) return unschedulable(ERR_CONSTRAINTS);
    }
    return OK;
  },
};

interface ScoreState {
  constraints: Constraint[];
  ignored: Set<NodeInfo>;
  /** per constraint (non-hostname keys): value -> matching pods */
  counts: Map<string, number>[];
  weights: number[];
}

export const podTopologySpreadScore: ScorePlugin = {
  name: 'PodTopologySpread',
  weight: 2,
  preScore(state, pod, nodes, h) {
    let cs: Constraint[];
    const systemDefaulted = !(pod.pod.spec?.topologySpreadConstraints?.length);
    if (!systemDefaulted) {
      cs = constraintsOf(pod.pod, 'ScheduleAnyway').map((c) => compile(pod, c));
    } else {
      const sel = h.defaultSpreadSelector(pod.pod);
      if (!sel) return SKIP;
      const ns = pod.namespace;
      const selects = (pi: PodInfo) => pi.namespace === ns && !pi.terminating && sel(pi);
      cs = [
        { key: HOSTNAME, maxSkew: 3, minDomains: 1, selects, selfMatch: true },
        { key: ZONE, maxSkew: 5, minDomains: 1, selects, selfMatch: true },
      ];
    }
    if (cs.length === 0) return SKIP;
    const ignored = new Set<NodeInfo>();
    if (!systemDefaulted) for (const n of nodes) if (!hasAllKeys(n, cs)) ignored.add(n);
    // Domains are those of the feasible nodes; pods are counted on every eligible node.
    const counts = cs.map(() => new Map<string, number>());
    const sizes = cs.map(() => new Set<string>());
    for (const n of nodes) {
      if (ignored.has(n)) continue;
      cs.forEach((c, i) => {
        const v = n.labels?.[c.key];
        if (v === undefined || c.key === HOSTNAME) return;
        sizes[i]!.add(v);
        counts[i]!.set(v, 0);
      });
    }
    if (cs.some((c) => c.key !== HOSTNAME)) {
      const eligible = requiredNodeMatcher(pod.pod);
      for (const n of h.cache.nodeList) {
        if (!eligible(n) || (!systemDefaulted && !hasAllKeys(n, cs))) continue;
        cs.forEach((c, i) => {
          if (c.key === HOSTNAME) return;
          const v = n.labels?.[c.key];
          if (v === undefined || !counts[i]!.has(v)) return;
          counts[i]!.set(v, counts[i]!.get(v)! + countOn(n, c));
        });
      }
    }
    const weights = cs.map((c, i) => Math.log((c.key === HOSTNAME ? nodes.length - ignored.size : sizes[i]!.size) + 2));
    state.set(SSTATE, { constraints: cs, ignored, counts, weights } satisfies ScoreState);
    return OK;
  },
  score(state, _pod, node) {
    const st = state.get(SSTATE) as ScoreState;
    if (st.ignored.has(node)) return -1;
    let s = 0;
    st.constraints.forEach((c, i) => {
      const v = node.labels?.[c.key];
      if (v === undefined) return;
      const cnt = c.key === HOSTNAME ? countOn(node, c) : st.counts[i]!.get(v) ?? 0;
      s += cnt * st.weights[i]! + (c.maxSkew - 1);
    });
    return Math.round(s);
  },
  normalize(state, _pod, scores, nodes) {
    const st = state.get(SSTATE) as ScoreState;
    let min = Infinity, max = 0;
    for (let i = 0; i < scores.length; i++) {
      if (st.ignored.has(nodes[i]!)) continue;
      const s = scores[i]!;
      if (s < min) min = s;
      if (s > max) max = s;
    }
    for (let i = 0; i < scores.length; i++) {
      if (st.ignored.has(nodes[i]!)) { scores[i] = 0; continue; }
      scores[i] = max === 0 ? MAX_NODE_SCORE : Math.trunc((MAX_NODE_SCORE * (max + min - scores[i]!)) / max);
    }
  },
};
