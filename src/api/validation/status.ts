// Validation of /status updates, as upstream's Validate<Kind>StatusUpdate: the
// metadata update rules plus checks of the status itself (the spec cannot change
// through /status, so it is not validated again).
import type { FieldError } from '../errors.js';
import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';
import type { Pod, Node } from 'kubernetes-types/core/v1.js';
import { validateObjectMeta, validateObjectMetaUpdate, validateObject } from './index.js';
import { isDNS1123Subdomain } from './names.js';
import { builtinResources } from '../resources.js';
import { validateJobStatus } from './batch.js';

type Errs = FieldError[];
const GE0 = 'must be greater than or equal to 0';
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function isIP(s: string): boolean { return IPV4.test(s) || (s.includes(':') && /^[0-9a-fA-F:.]+$/.test(s)); }

function nonNegative(errs: Errs, status: Record<string, unknown> | undefined, fields: string[]): void {
  for (const f of fields) {
    const v = status?.[f];
    if (typeof v === 'number' && v < 0) errs.push({ type: 'Invalid', field: `status.${f}`, value: v, detail: GE0 });
  }
}

function podStatus(pod: Pod, old: Pod): Errs {
  const errs: Errs = [];
  const st = pod.status ?? {};
  // The binding sets nodeName; a status update must not move the pod.
  if ((old.spec?.nodeName ?? '') !== (pod.spec?.nodeName ?? '')) {
    errs.push({ type: 'Forbidden', field: 'status.nodeName', detail: 'may not be changed directly' });
  }
  if (st.nominatedNodeName) for (const msg of isDNS1123Subdomain(st.nominatedNodeName)) errs.push({ type: 'Invalid', field: 'status.nominatedNodeName', value: st.nominatedNodeName, detail: msg });
  (st.podIPs ?? []).forEach((p, i) => {
    if (!isIP(p.ip ?? '')) errs.push({ type: 'Invalid', field: `status.podIPs[${i}].ip`, value: p.ip, detail: 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)' });
  });
  if (st.podIP && st.podIPs?.length && st.podIPs[0]!.ip !== st.podIP) {
    errs.push({ type: 'Invalid', field: 'status.podIPs', value: st.podIPs, detail: 'podIPs[0] must match podIP' });
  }
  for (const [field, list] of [['containerStatuses', st.containerStatuses], ['initContainerStatuses', st.initContainerStatuses]] as const) {
    (list ?? []).forEach((cs, i) => {
      if (cs.restartCount < 0) errs.push({ type: 'Invalid', field: `status.${field}[${i}].restartCount`, value: cs.restartCount, detail: GE0 });
    });
  }
  return errs;
}

function replicatedStatus(o: { status?: Record<string, unknown> }, fields: string[]): Errs {
  const errs: Errs = [];
  nonNegative(errs, o.status, ['replicas', 'observedGeneration', ...fields]);
  const st = o.status ?? {};
  const replicas = (st.replicas as number | undefined) ?? 0;
  for (const f of ['readyReplicas', 'availableReplicas']) {
    const v = st[f] as number | undefined;
    if (typeof v === 'number' && v > replicas) errs.push({ type: 'Invalid', field: `status.${f}`, value: v, detail: 'cannot be greater than status.replicas' });
  }
  const ready = (st.readyReplicas as number | undefined) ?? 0;
  if (typeof st.availableReplicas === 'number' && st.availableReplicas > ready) {
    errs.push({ type: 'Invalid', field: 'status.availableReplicas', value: st.availableReplicas, detail: 'cannot be greater than readyReplicas' });
  }
  return errs;
}

const statusValidators: Record<string, (obj: never, old: never) => Errs> = {
  '/v1/Pod': podStatus as never,
  'apps/v1/Deployment': ((d: { status?: Record<string, unknown> }) => replicatedStatus(d, ['updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas', 'collisionCount'])) as never,
  'apps/v1/ReplicaSet': ((r: { status?: Record<string, unknown> }) => replicatedStatus(r, ['fullyLabeledReplicas', 'readyReplicas', 'availableReplicas'])) as never,
  'batch/v1/Job': validateJobStatus as never,
  // Upstream validates a node's status update as a full node update.
  '/v1/Node': ((n: Node, old: Node) => validateObject('', 'v1', 'Node', n, old)) as never,
};

/** Validate a /status update of obj over old. */
export function validateStatusUpdate(group: string, version: string, kind: string, obj: object, old: object): FieldError[] {
  const key = `${group}/${version}/${kind}`;
  if (key === '/v1/Node') return statusValidators[key]!(obj as never, old as never);
  const info = builtinResources.find((r) => r.group === group && r.version === version && r.kind === kind);
  const meta = (obj as { metadata?: ObjectMeta }).metadata;
  const errs: Errs = [
    ...validateObjectMeta(meta, info?.namespaced ?? true),
    ...validateObjectMetaUpdate(meta, (old as { metadata?: ObjectMeta }).metadata),
  ];
  const v = statusValidators[key];
  if (v) errs.push(...v(obj as never, old as never));
  return errs;
}
