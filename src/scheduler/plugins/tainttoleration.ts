// TaintToleration: NoSchedule/NoExecute taints must be tolerated (filter); fewer
// untolerated PreferNoSchedule taints score higher. A node whose Ready condition is
// not True counts as carrying the not-ready/unreachable NoSchedule taint even before
// the node lifecycle controller has put it there, so that pods never land on it.
import type { Taint, Toleration } from 'kubernetes-types/core/v1.js';
import { OK, SKIP, defaultNormalize, unresolvable, type FilterPlugin, type ScorePlugin } from '../framework.js';
import type { NodeInfo } from '../nodeinfo.js';

export function tolerates(t: Toleration, taint: Pick<Taint, 'key' | 'value' | 'effect'>): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  switch (t.operator ?? 'Equal') {
    case 'Equal': return (t.value ?? '') === (taint.value ?? '');
    case 'Exists': return true;
    default: return false;
  }
}

export const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';

export function effectiveTaints(node: NodeInfo): Taint[] {
  if (node.ready === 'True') return node.taints;
  const key = node.ready === 'Unknown' && node.node.status?.conditions?.length ? UNREACHABLE_TAINT : NOT_READY_TAINT;
  if (node.taints.some((t) => t.key === key && t.effect === 'NoSchedule')) return node.taints;
  return [...node.taints, { key, effect: 'NoSchedule' }];
}

export const taintTolerationFilter: FilterPlugin = {
  name: 'TaintToleration',
  filter(_s, pod, node) {
    const tols = pod.pod.spec?.tolerations ?? [];
    for (const taint of effectiveTaints(node)) {
      if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
      if (tols.some((t) => tolerates(t, taint))) continue;
      return unresolvable(`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`);
    }
    return OK;
  },
};

const STATE = 'TaintToleration';

export const taintTolerationScore: ScorePlugin = {
  name: 'TaintToleration',
  weight: 3,
  preScore(state, pod, nodes) {
    // No feasible node has a taint: every node scores the same, which cannot change the
    // choice; skip the per-node pass.
    if (!nodes.some((n) => n.taints.length > 0)) return SKIP;
    const tols = (pod.pod.spec?.tolerations ?? []).filter((t) => !t.effect || t.effect === 'PreferNoSchedule');
    state.set(STATE, tols);
    return OK;
  },
  score(state, _pod, node) {
    const tols = state.get(STATE) as Toleration[];
    let n = 0;
    for (const taint of node.taints) {
      if (taint.effect === 'PreferNoSchedule' && !tols.some((t) => tolerates(t, taint))) n++;
    }
    return n;
  },
  normalize(_s, _p, scores) { defaultNormalize(scores, true); },
};
