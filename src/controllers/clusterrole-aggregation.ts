// ClusterRole aggregation controller (upstream pkg/controller/clusterroleaggregation):
// a ClusterRole with an aggregationRule gets the union of the rules of every other
// ClusterRole its selectors match (admin ⊇ edit ⊇ view through the
// rbac.authorization.k8s.io/aggregate-to-* labels). Any ClusterRole change requeues
// every aggregated one.
import type { ClusterRole, PolicyRule } from 'kubernetes-types/rbac/v1.js';
import { R } from '../api/resources.js';
import { isStatusError } from '../api/errors.js';
import { labelSelectorFromObject } from '../api/labels.js';
import { queueController, type Controller, type ControllerContext, type SyncResult } from './base.js';

function ruleKey(r: PolicyRule): string {
  return JSON.stringify([r.verbs ?? [], r.apiGroups ?? [], r.resources ?? [], r.resourceNames ?? [], r.nonResourceURLs ?? []]);
}

/** The rules an aggregated role should have: matching roles by name, each rule once, in order of first appearance. */
export function aggregatedRules(role: ClusterRole, all: ClusterRole[]): PolicyRule[] {
  const out: PolicyRule[] = [];
  const seen = new Set<string>();
  const sorted = [...all].sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1));
  for (const sel of role.aggregationRule?.clusterRoleSelectors ?? []) {
    let selector;
    try { selector = labelSelectorFromObject(sel); } catch { continue; }
    for (const other of sorted) {
      if (other.metadata?.name === role.metadata?.name || !selector.matches(other.metadata?.labels ?? {})) continue;
      for (const r of other.rules ?? []) {
        const k = ruleKey(r);
        if (!seen.has(k)) { seen.add(k); out.push(r); }
      }
    }
  }
  return out;
}

export function startClusterRoleAggregationController(ctx: ControllerContext): Controller {
  const name = 'clusterrole-aggregation';
  const log = ctx.log.child({ controller: name });
  const inf = ctx.informers.informer<ClusterRole>(R.clusterroles);
  const queue = ctx.newQueue(name);
  const client = ctx.client.resource<ClusterRole>(R.clusterroles);
  const enqueueAggregated = (): void => {
    for (const r of inf.store.list()) if (r.aggregationRule) queue.add(r.metadata!.name!);
  };
  inf.addEventHandler({ onAdd: enqueueAggregated, onUpdate: enqueueAggregated, onDelete: enqueueAggregated });

  async function sync(roleName: string): Promise<SyncResult> {
    const role = inf.store.get(roleName);
    if (!role?.aggregationRule) return;
    const rules = aggregatedRules(role, inf.store.list());
    if (JSON.stringify((role.rules ?? []).map(ruleKey)) === JSON.stringify(rules.map(ruleKey))) return;
    try {
      await client.update({ ...role, rules });
    } catch (e) {
      if (isStatusError(e, 'NotFound')) return;
      throw e; // conflicts are retried with the newer copy
    }
    log.debug({ role: roleName, rules: rules.length }, 'aggregated rules updated');
    return;
  }

  return queueController(name, ctx, queue, log, sync, 1);
}
