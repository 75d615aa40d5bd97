// Filters that look at one node property: NodeUnschedulable, NodeName, NodePorts.
import type { Toleration } from 'kubernetes-types/core/v1.js';
import { OK, SKIP, unresolvable, unschedulable, type FilterPlugin } from '../framework.js';
import { tolerates } from './tainttoleration.js';

export const ERR_UNSCHEDULABLE = 'node(s) were unschedulable';
export const ERR_NODE_NAME = "node(s) didn't match the requested node name";
export const ERR_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports";

const unschedulableTaint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };

/** spec.unschedulable (kubectl cordon), unless the pod tolerates the unschedulable taint. */
export const nodeUnschedulable: FilterPlugin = {
  name: 'NodeUnschedulable',
  filter(_s, pod, node) {
    if (!node.unschedulable) return OK;
    const tols: Toleration[] = pod.pod.spec?.tolerations ?? [];
    if (tols.some((t) => tolerates(t, unschedulableTaint))) return OK;
    return unresolvable(ERR_UNSCHEDULABLE);
  },
};

export const nodeName: FilterPlugin = {
  name: 'NodeName',
  preFilter(_s, pod) { return pod.pod.spec?.nodeName ? OK : SKIP; },
  filter(_s, pod, node) {
    const want = pod.pod.spec?.nodeName;
    return !want || want === node.name ? OK : unresolvable(ERR_NODE_NAME);
  },
};

/** hostPort conflicts: same protocol and port, and either side binds every address or both the same one. */
export const nodePorts: FilterPlugin = {
  name: 'NodePorts',
  preFilter(_s, pod) { return pod.hostPorts.length ? OK : SKIP; },
  filter(_s, pod, node) {
    if (pod.hostPorts.length === 0 || node.usedPorts.length === 0) return OK;
    for (const want of pod.hostPorts) {
      for (const used of node.usedPorts) {
        if (used.port !== want.port || used.protocol !== want.protocol) continue;
        if (used.ip === want.ip || used.ip === '0.0.0.0' || want.ip === '0.0.0.0') return unschedulable(ERR_NODE_PORTS);
      }
    }
    return OK;
  },
};
