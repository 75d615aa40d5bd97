// The default profile: the plugins kube-scheduler enables by default that jotasu
// implements, in upstream's order, with upstream's score weights.
import type { FilterPlugin, ScorePlugin } from './framework.js';
import { nodeUnschedulable, nodeName, nodePorts } from './plugins/simple.js';
import { taintTolerationFilter, taintTolerationScore } from './plugins/tainttoleration.js';
import { nodeAffinityFilter, nodeAffinityScore } from './plugins/nodeaffinity.js';
import { noderesourcesFit, leastAllocated, balancedAllocation } from './plugins/noderesources.js';
import { podTopologySpreadFilter, podTopologySpreadScore } from './plugins/podtopologyspread.js';
import { interPodAffinityFilter, interPodAffinityScore } from './plugins/interpodaffinity.js';

export interface Profile {
  schedulerName: string;
  filters: FilterPlugin[];
  scores: ScorePlugin[];
}

export function defaultProfile(): Profile {
  return {
    schedulerName: 'default-scheduler',
    filters: [
      nodeUnschedulable,
      nodeName,
      taintTolerationFilter,
      nodeAffinityFilter,
      nodePorts,
      noderesourcesFit,
      podTopologySpreadFilter,
      interPodAffinityFilter,
    ],
    scores: [
      taintTolerationScore,
      nodeAffinityScore,
      podTopologySpreadScore,
      interPodAffinityScore,
      leastAllocated,
      balancedAllocation,
    ],
  };
}
