// InterPodAffinity: required pod affinity / anti-affinity of the incoming pod and the
// required anti-affinity of pods already placed (filter); preferred terms of both
// sides (score). Counts are per topology pair (topologyKey=value of the node an
// existing pod runs on), computed once per cycle in the pre-passes.
import { MAX_NODE_SCORE, OK, SKIP, unresolvable, unschedulable, type FilterPlugin, type Handle, type ScorePlugin } from '../framework.js';
import type { AffinityTerm, NamespaceLabels, NodeInfo, PodInfo } from '../nodeinfo.js';

export const ERR_AFFINITY = "node(s) didn't match pod affinity rules";
export const ERR_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules";
export const ERR_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules";

/** topologyKey -> value -> count */
type PairCounts = Map<string, Map<string, number>>;

function bump(m: PairCounts, node: NodeInfo, key: string, by: number): void {
  const v = node.labels?.[key];
  if (v === undefined) return;
  let inner = m.get(key);
  if (!inner) m.set(key, (inner = new Map()));
  inner.set(v, (inner.get(v) ?? 0) + by);
}

function countAt(m: PairCounts, node: NodeInfo, key: string): number {
  const v = node.labels?.[key];
  return v === undefined ? 0 : m.get(key)?.get(v) ?? 0;
}

function matchesAll(terms: AffinityTerm[], pi: PodInfo, nsLabels: NamespaceLabels): boolean {
  return terms.every((t) => t.matches(pi.namespace, pi.labels, nsLabels));
}

interface FilterState {
  existingAnti: PairCounts;
  affinity: PairCounts;
  anti: PairCounts;
  affinityEmpty: boolean;
  selfMatch: boolean;
}

const FSTATE = 'InterPodAffinity/filter';
const SSTATE = 'InterPodAffinity/score';

export const interPodAffinityFilter: FilterPlugin = {
  name: 'InterPodAffinity',
  preFilter(state, pod, h: Handle) {
    const existingAnti: PairCounts = new Map();
    const affinity: PairCounts = new Map();
    const anti: PairCounts = new Map();
    const wantsOwn = pod.requiredAffinity.length > 0 || pod.requiredAntiAffinity.length > 0;
    const existing = h.cache.podsWithRequiredAntiAffinity > 0;
    // No required terms on either side: skip the filter, as upstream's PreFilter does.
    if (!wantsOwn && !existing) { state.delete(FSTATE); return SKIP; }
    for (const node of (wantsOwn || existing) ? h.cache.nodeList : []) {
      if (node.podsWithRequiredAntiAffinity > 0) {
        for (const ex of node.pods.values()) {
          for (const t of ex.requiredAntiAffinity) {
            if (t.matches(pod.namespace, pod.labels, h.nsLabels)) bump(existingAnti, node, t.topologyKey, 1);
          }
        }
      }
      if (!wantsOwn) continue;
      for (const ex of node.pods.values()) {
        if (ex.terminating) continue;
        if (pod.requiredAffinity.length && matchesAll(pod.requiredAffinity, ex, h.nsLabels)) {
          for (const t of pod.requiredAffinity) bump(affinity, node, t.topologyKey, 1);
        }
        for (const t of pod.requiredAntiAffinity) {
          if (t.matches(ex.namespace, ex.labels, h.nsLabels)) bump(anti, node, t.topologyKey, 1);
        }
      }
    }
    const st: FilterState = {
      existingAnti, affinity, anti,
      affinityEmpty: affinity.size === 0,
      selfMatch: matchesAll(pod.requiredAffinity, pod, h.nsLabels),
    };
    state.set(FSTATE, st);
    return OK;
  },
  filter(state, pod, node) {
    const st = state.get(FSTATE) as FilterState | undefined;
    if (!st) return OK;
    if (pod.requiredAffinity.length) {
      let podsExist = true;
      for (const t of pod.requiredAffinity) {
        if (node.labels?.[t.topologyKey] === undefined) return unresolvable(ERR_AFFINITY);
        if (countAt(st.affinity, node, t.topologyKey) <= 0) podsExist = false;
      }
      // The first pod of a group whose affinity selects itself must be able to start it.
      if (!podsExist && !(st.affinityEmpty && st.selfMatch)) return unresolvable(ERR_AFFINITY);
    }
    for (const t of pod.requiredAntiAffinity) {
      if (countAt(st.anti, node, t.topologyKey) > 0) return unschedulable(ERR_ANTI_AFFINITY);
    }
    for (const key of st.existingAnti.keys()) {
      if (countAt(st.existingAnti, node, key) > 0) return unschedulable(ERR_EXISTING_ANTI_AFFINITY);
    }
    return OK;
  },
};

export const interPodAffinityScore: ScorePlugin = {
  name: 'InterPodAffinity',
  weight: 2,
  preScore(state, pod, _nodes, h) {
    const hasPreferred = pod.preferredAffinity.length > 0 || pod.preferredAntiAffinity.length > 0;
    const scores: PairCounts = new Map();
    const nodes = hasPreferred ? h.cache.nodeList : h.cache.nodesWithAffinityPods();
    for (const node of nodes) {
      for (const ex of node.pods.values()) {
        for (const t of pod.preferredAffinity) if (t.matches(ex.namespace, ex.labels, h.nsLabels)) bump(scores, node, t.topologyKey, t.weight);
        for (const t of pod.preferredAntiAffinity) if (t.matches(ex.namespace, ex.labels, h.nsLabels)) bump(scores, node, t.topologyKey, -t.weight);
        if (!ex.hasAffinity) continue;
        // Existing pods' required affinity counts with upstream's hardPodAffinityWeight (1).
        for (const t of ex.requiredAffinity) if (t.matches(pod.namespace, pod.labels, h.nsLabels)) bump(scores, node, t.topologyKey, 1);
        for (const t of ex.preferredAffinity) if (t.matches(pod.namespace, pod.labels, h.nsLabels)) bump(scores, node, t.topologyKey, t.weight);
        for (const t of ex.preferredAntiAffinity) if (t.matches(pod.namespace, pod.labels, h.nsLabels)) bump(scores, node, t.topologyKey, -t.weight);
      }
    }
    if (scores.size === 0) return SKIP;
    state.set(SSTATE, scores);
    return OK;
  },
  score(state, _pod, node) {
    const scores = state.get(SSTATE) as PairCounts;
    let s = 0;
    for (const key of scores.keys()) s += countAt(scores, node, key);
    return s;
  },
  normalize(_s, _p, scores) {
    let min = Infinity, max = -Infinity;
    for (const s of scores) { if (s < min) min = s; if (s > max) max = s; }
    const diff = max - min;
    for (let i = 0; i < scores.length; i++) scores[i] = diff > 0 ? Math.trunc((MAX_NODE_SCORE * (scores[i]! - min)) / diff) : 0;
  },
};
