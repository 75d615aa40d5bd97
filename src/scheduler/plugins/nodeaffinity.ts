// NodeAffinity: nodeSelector and required node affinity (filter), preferred node
// affinity weights (score).
import type { Pod } from 'kubernetes-types/core/v1.js';
import { OK, SKIP, defaultNormalize, unresolvable, type FilterPlugin, type ScorePlugin } from '../framework.js';
import { compileMapSelector, compileNodeSelector, compileNodeSelectorTerm, type NodeFields, type NodeMatcher } from '../labels.js';

export const ERR_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector";

/** The pod's hard node constraints as one matcher (also used by topology spreading). */
export function requiredNodeMatcher(pod: Pod): NodeMatcher {
  const sel = pod.spec?.nodeSelector;
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  const bySelector = sel && Object.keys(sel).length ? compileMapSelector(sel) : undefined;
  const byAffinity = terms ? compileNodeSelector(terms) : undefined;
  if (!bySelector && !byAffinity) return () => true;
  return (n: NodeFields) => (!bySelector || bySelector(n.labels)) && (!byAffinity || byAffinity(n));
}

const FSTATE = 'NodeAffinity/filter';
const SSTATE = 'NodeAffinity/score';

export const nodeAffinityFilter: FilterPlugin = {
  name: 'NodeAffinity',
  preFilter(state, pod) {
    // Nothing required of the node: skip the filter, as upstream's PreFilter does.
    const spec = pod.pod.spec;
    const hasSelector = !!spec?.nodeSelector && Object.keys(spec.nodeSelector).length > 0;
    if (!hasSelector && !spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution) return SKIP;
    state.set(FSTATE, requiredNodeMatcher(pod.pod));
    return OK;
  },
  filter(state, _pod, node) {
    const m = state.get(FSTATE) as NodeMatcher | undefined;
    return !m || m(node) ? OK : unresolvable(ERR_NODE_AFFINITY);
  },
};

export const nodeAffinityScore: ScorePlugin = {
  name: 'NodeAffinity',
  weight: 2,
  preScore(state, pod) {
    const prefs = pod.pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    if (prefs.length === 0) return SKIP;
    state.set(SSTATE, prefs.map((p) => ({ weight: p.weight, match: compileNodeSelectorTerm(p.preference) })));
    return OK;
  },
  score(state, _pod, node) {
    let s = 0;
    for (const p of state.get(SSTATE) as { weight: number; match: NodeMatcher }[]) if (p.weight && p.match(node)) s += p.weight;
    return s;
  },
  normalize(_s, _p, scores) { defaultNormalize(scores, false); },
};
