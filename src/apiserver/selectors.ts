// Label and field selectors applied to stored objects. Each resource declares which
// fields are selectable (upstream's per-kind field label conversion funcs); an
// unsupported field is a 400 `field label not supported: x`.
import { errors } from '../api/errors.js';
import type { ResourceInfo } from '../api/resources.js';
import type { Attrs } from './watch-cache.js';
import type { Obj } from './objects.js';
import { parseLabelSelector } from '../api/labels.js';
import { parseFieldSelector, type FieldSelector } from '../api/fields.js';

type FieldGetter = (o: Obj) => string | undefined;

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

// Per-kind selectable fields beyond metadata.name and metadata.namespace.
const kindFields: Record<string, Record<string, FieldGetter>> = {
  Pod: {
    'spec.nodeName': (o) => str(o.spec?.nodeName),
    'spec.restartPolicy': (o) => str(o.spec?.restartPolicy),
    'spec.schedulerName': (o) => str(o.spec?.schedulerName),
    'spec.serviceAccountName': (o) => str(o.spec?.serviceAccountName),
    'spec.hostNetwork': (o) => String(o.spec?.hostNetwork === true),
    'status.phase': (o) => str(o.status?.phase),
    'status.podIP': (o) => str(o.status?.podIP),
    'status.nominatedNodeName': (o) => str(o.status?.nominatedNodeName),
  },
  Event: {
    'involvedObject.kind': (o) => str(o.involvedObject?.kind),
    'involvedObject.namespace': (o) => str(o.involvedObject?.namespace),
    'involvedObject.name': (o) => str(o.involvedObject?.name),
    'involvedObject.uid': (o) => str(o.involvedObject?.uid),
    'involvedObject.apiVersion': (o) => str(o.involvedObject?.apiVersion),
    'involvedObject.resourceVersion': (o) => str(o.involvedObject?.resourceVersion),
    'involvedObject.fieldPath': (o) => str(o.involvedObject?.fieldPath),
    reason: (o) => str(o.reason),
    reportingComponent: (o) => str(o.reportingComponent),
    source: (o) => str(o.source?.component),
    type: (o) => str(o.type),
  },
  Secret: { type: (o) => str(o.type) },
  Service: { 'spec.clusterIP': (o) => str(o.spec?.clusterIP), 'spec.type': (o) => str(o.spec?.type) },
  Node: { 'spec.unschedulable': (o) => String(o.spec?.unschedulable === true) },
  Namespace: { 'status.phase': (o) => str(o.status?.phase) },
  ReplicaSet: { 'status.replicas': (o) => str(o.status?.replicas ?? 0) },
  Job: { 'status.successful': (o) => str(o.status?.succeeded ?? 0) },
};

export function fieldGetters(info: ResourceInfo): Record<string, FieldGetter> {
  return {
    'metadata.name': (o) => str(o.metadata?.name),
    ...(info.namespaced ? { 'metadata.namespace': (o: Obj) => str(o.metadata?.namespace) } : {}),
    ...(kindFields[info.kind] ?? {}),
  };
}

/** The attrs function a resource's watch cache uses. */
export function attrsFunc(info: ResourceInfo): (o: Obj) => Attrs {
  const getters = Object.entries(fieldGetters(info));
  return (o) => {
    const fields: Record<string, string> = {};
    for (const [k, g] of getters) fields[k] = g(o) ?? '';
    return { labels: (o.metadata?.labels as Record<string, string> | undefined) ?? {}, fields };
  };
}

/** Parses a field selector and checks each field is selectable on this resource. */
export function compileFieldSelector(info: ResourceInfo, s: string): FieldSelector {
  const fs = parseFieldSelector(s);
  const supported = fieldGetters(info);
  for (const r of fs.requirements) {
    if (!(r.field in supported)) throw errors.badRequest(`field label not supported: ${r.field}`);
  }
  return fs;
}

/** A predicate over attrs, or undefined when nothing is selected against. */
export function compileSelectors(info: ResourceInfo, labelSelector?: string | null, fieldSelector?: string | null): ((a: Attrs) => boolean) | undefined {
  const ls = labelSelector?.trim() ? parseLabelSelector(labelSelector) : undefined;
  const l = ls && !ls.empty() ? (labels: Record<string, string>) => ls.matches(labels) : undefined;
  const fs = fieldSelector?.trim() ? compileFieldSelector(info, fieldSelector) : undefined;
  const f = fs && !fs.empty() ? (fields: Record<string, string>) => fs.matches(fields) : undefined;
  if (!l && !f) return undefined;
  return (a) => (!l || l(a.labels)) && (!f || f(a.fields));
}
