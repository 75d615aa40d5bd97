// NodeResourcesFit (filter: requests against allocatable minus what bound pods
// request; score: LeastAllocated) and NodeResourcesBalancedAllocation (score: cpu and
// memory used in similar fractions). Scoring uses cpu and memory with weight 1 each,
// as upstream's defaults; LeastAllocated counts pods without requests at upstream's
// non-zero defaults (100m, 200Mi) so that they still spread, BalancedAllocation
// uses actual requests.
import { MAX_NODE_SCORE, OK, unschedulable, type FilterPlugin, type ScorePlugin } from '../framework.js';

export const noderesourcesFit: FilterPlugin = {
  name: 'NodeResourcesFit',
  filter(_s, pod, node) {
    const alloc = node.allocatable;
    const used = node.requested;
    const req = pod.requests;
    // Fast path (the common case at scale): everything fits, no allocation.
    const tooMany = node.pods.size + 1 > alloc.allowedPodNumber;
    const cpu = req.milliCPU > 0 && req.milliCPU > alloc.milliCPU - used.milliCPU;
    const mem = req.memory > 0 && req.memory > alloc.memory - used.memory;
    const eph = req.ephemeralStorage > 0 && req.ephemeralStorage > alloc.ephemeralStorage - used.ephemeralStorage;
    if (!tooMany && !cpu && !mem && !eph && req.scalar.size === 0) return OK;
    const reasons: string[] = [];
    if (tooMany) reasons.push('Too many pods');
    if (cpu) reasons.push('Insufficient cpu');
    if (mem) reasons.push('Insufficient memory');
    if (eph) reasons.push('Insufficient ephemeral-storage');
    for (const [name, v] of req.scalar) {
      if (v > 0 && v > (alloc.scalar.get(name) ?? 0) - (used.scalar.get(name) ?? 0)) reasons.push(`Insufficient ${name}`);
    }
    return reasons.length ? unschedulable(...reasons) : OK;
  },
};

function leastRequested(requested: number, capacity: number): number {
  if (capacity === 0 || requested > capacity) return 0;
  return Math.trunc(((capacity - requested) * MAX_NODE_SCORE) / capacity);
}

export const leastAllocated: ScorePlugin = {
  name: 'NodeResourcesFit',
  weight: 1,
  score(_s, pod, node) {
    const a = node.allocatable;
    let sum = 0, weights = 0;
    if (a.milliCPU > 0) { sum += leastRequested(node.nonZeroRequested.milliCPU + pod.nonZeroRequests.milliCPU, a.milliCPU); weights++; }
    if (a.memory > 0) { sum += leastRequested(node.nonZeroRequested.memory + pod.nonZeroRequests.memory, a.memory); weights++; }
    return weights ? Math.trunc(sum / weights) : 0;
  },
};

export const balancedAllocation: ScorePlugin = {
  name: 'NodeResourcesBalancedAllocation',
  weight: 1,
  score(_s, pod, node) {
    const a = node.allocatable;
    // With one of the two resources unknown there is nothing to balance (std 0).
    if (!(a.milliCPU > 0 && a.memory > 0)) return MAX_NODE_SCORE;
    const cpu = Math.min(1, (node.requested.milliCPU + pod.requests.milliCPU) / a.milliCPU);
    const mem = Math.min(1, (node.requested.memory + pod.requests.memory) / a.memory);
    return Math.trunc((1 - Math.abs((cpu - mem) / 2)) * MAX_NODE_SCORE);
  },
};
