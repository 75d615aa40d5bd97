// events.k8s.io/v1 Event <-> core/v1 Event, field by field as upstream's
// pkg/apis/events/v1 conversion (both are views of one internal type, stored once).
/* eslint-disable @typescript-eslint/no-explicit-any */
type Obj = Record<string, any>;

// [events.k8s.io/v1 field, core/v1 field]
const FIELDS: [string, string][] = [
  ['regarding', 'involvedObject'],
  ['note', 'message'],
  ['reportingController', 'reportingComponent'],
  ['reportingInstance', 'reportingInstance'],
  ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'],
  ['eventTime', 'eventTime'],
  ['series', 'series'],
  ['action', 'action'],
  ['reason', 'reason'],
  ['related', 'related'],
  ['type', 'type'],
];

export const CORE_EVENT = { apiVersion: 'v1', kind: 'Event' };
export const EVENTS_V1_EVENT = { apiVersion: 'events.k8s.io/v1', kind: 'Event' };

function convert(o: Obj, to: { apiVersion: string; kind: string }, from: 0 | 1): Obj {
  const out: Obj = { apiVersion: to.apiVersion, kind: to.kind, metadata: o.metadata };
  const known = new Set(['apiVersion', 'kind', 'metadata']);
  for (const pair of FIELDS) {
    const src = pair[from];
    const dst = pair[1 - from]!;
    known.add(src);
    if (o[src] !== undefined) out[dst] = o[src];
  }
  // Nothing else belongs to an Event; keep unknown extras rather than lose data silently.
  for (const k of Object.keys(o)) if (!known.has(k)) out[k] = o[k];
  return out;
}

export function isEventsV1(o: Obj): boolean { return o.apiVersion === EVENTS_V1_EVENT.apiVersion; }

/** core/v1 (or already events.k8s.io/v1) -> events.k8s.io/v1. */
export function toEventsV1(o: Obj): Obj {
  return isEventsV1(o) ? o : convert(o, EVENTS_V1_EVENT, 1);
}

/** events.k8s.io/v1 (or already core/v1) -> core/v1. */
export function toCoreEvent(o: Obj): Obj {
  return isEventsV1(o) ? convert(o, CORE_EVENT, 0) : o;
}
