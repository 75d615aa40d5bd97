// Stored object bytes. Objects are stored as JSON without metadata.resourceVersion
// (it is the key's modRevision, as in kube-apiserver), with apiVersion, kind and
// metadata first, so the resourceVersion can be spliced into the raw bytes when
// serving instead of parsing and re-serialising every object.

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Obj = Record<string, any> & { metadata?: Record<string, any> };

/** JSON for the datastore: apiVersion, kind, metadata first; no resourceVersion. */
export function serialize(obj: Obj): string {
  const { apiVersion, kind, metadata, ...rest } = obj;
  const meta = { ...(metadata ?? {}) };
  delete meta.resourceVersion;
  return JSON.stringify({ apiVersion, kind, metadata: meta, ...rest });
}

const META = '"metadata":{';

/** Insert "resourceVersion":"rv" into the top-level metadata of serialized JSON. */
export function injectRV(raw: string, rv: number | string): string {
  const i = raw.indexOf(META);
  if (i < 0) return raw;
  const at = i + META.length;
  const sep = raw.charCodeAt(at) === 125 /* } */ ? '' : ',';
  return `${raw.slice(0, at)}"resourceVersion":"${rv}"${sep}${raw.slice(at)}`;
}

/** Parse stored bytes and set the resourceVersion (for code paths that need the object). */
export function parseStored(raw: string, rv: number): Obj {
  const o = JSON.parse(raw) as Obj;
  o.metadata ??= {};
  o.metadata.resourceVersion = String(rv);
  return o;
}

export function deepClone<T>(v: T): T {
  return v === undefined ? v : JSON.parse(JSON.stringify(v)) as T;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ka = Object.keys(a as object).filter((k) => (a as any)[k] !== undefined);
  const kb = Object.keys(b as object).filter((k) => (b as any)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as any)[k], (b as any)[k]));
}

let lastSecond = -1;
let lastText = '';

/** RFC 3339 without fractional seconds, as metav1.Time serialises. */
export function nowRFC3339(d?: Date): string {
  if (d) return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  // Every write asks for the time (creationTimestamp, managedFields): formatted once a second.
  const sec = Math.floor(Date.now() / 1000);
  if (sec !== lastSecond) {
    lastText = new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    lastSecond = sec;
  }
  return lastText;
}
