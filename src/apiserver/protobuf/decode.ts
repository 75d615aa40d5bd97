// Decoding of application/vnd.kubernetes.protobuf request bodies. kubectl's typed
// clients (create configmap/namespace/deployment/secret...) send protobuf and do not
// fall back to JSON, so the server must read it. Responses are always JSON (clients
// accept it). The message layouts come from descriptors.json (see generate.ts).
import protobuf from 'protobufjs';
import { errors } from '../../api/errors.js';
import { resolveRef } from '../../api/openapi/schema.js';
// Imported (not read from disk next to the module) so that tsc copies it into dist/.
import descriptors from './descriptors.json' with { type: 'json' };

// Non-pointer Go fields with omitempty that protobuf carries even when zero; their JSON omits them.
const omitZero = new Set([
  'generation', 'stdin', 'stdinOnce', 'tty', 'hostNetwork', 'hostPID', 'hostIPC', 'minReadySeconds', 'paused',
  'readOnly', 'allowPrivilegeEscalation', 'unschedulable', 'immutable', 'hostPort', 'deletionGracePeriodSeconds',
]);

// Proto field names that differ from the JSON names (BoundObjectReference's `uID` is `uid` in JSON).
const jsonNames: Record<string, string> = { uID: 'uid' };

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';

let root: protobuf.Root | undefined;
function types(): protobuf.Root {
  // Built on the first protobuf request only: keeps startup fast.
  return (root ??= protobuf.Root.fromJSON(descriptors as protobuf.INamespace));
}

const groupPackages: Record<string, string> = {
  '': 'k8s.io.api.core', apps: 'k8s.io.api.apps', 'networking.k8s.io': 'k8s.io.api.networking',
  'discovery.k8s.io': 'k8s.io.api.discovery', 'coordination.k8s.io': 'k8s.io.api.coordination',
  'events.k8s.io': 'k8s.io.api.events', autoscaling: 'k8s.io.api.autoscaling', policy: 'k8s.io.api.policy',
  'authentication.k8s.io': 'k8s.io.api.authentication', 'authorization.k8s.io': 'k8s.io.api.authorization',
  'rbac.authorization.k8s.io': 'k8s.io.api.rbac', batch: 'k8s.io.api.batch',
};

function typeFor(apiVersion: string, kind: string): protobuf.Type | undefined {
  const [g, v] = apiVersion.includes('/') ? apiVersion.split('/') as [string, string] : ['', apiVersion];
  const pkg = g === 'meta.k8s.io' ? META : groupPackages[g] ? `${groupPackages[g]}.${v}` : undefined;
  if (!pkg) return undefined;
  try { return types().lookupType(`${pkg}.${kind}`); } catch { return undefined; }
}

// Go structs embedded with `json:",inline"` (IngressRule's IngressRuleValue, Volume's
// VolumeSource, Probe's ProbeHandler, the LocalObjectReference of key selectors...) are a
// field of their own in protobuf but their fields sit in the parent in JSON. They are the
// message fields the parent's OpenAPI schema has no property for, whose own fields it has
// (a field newer than the schema is neither).
const inlineCache = new Map<string, ReadonlySet<string>>();
function inlineFields(type: protobuf.Type): ReadonlySet<string> {
  let set = inlineCache.get(type.fullName);
  if (!set) {
    const props = resolveRef(type.fullName.replace(/^\.?k8s\.io\./, 'io.k8s.'))?.properties ?? {};
    set = new Set(type.fieldsArray
      .filter((f) => !f.repeated && !f.map && f.resolvedType instanceof protobuf.Type && !(f.name in props) && !((jsonNames[f.name] ?? '') in props)
        && (f.resolvedType as protobuf.Type).fieldsArray.some((g) => g.name in props))
      .map((f) => f.name));
    inlineCache.set(type.fullName, set);
  }
  return set;
}

function rfc3339(seconds: number, nanos = 0, micro = false): string {
  const d = new Date(seconds * 1000);
  const base = d.toISOString().slice(0, 19);
  return micro ? `${base}.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z` : `${base}Z`;
}

/** Protobuf message → the JSON form Go's encoder would give (well-known Kubernetes types converted). */
function toJSON(type: protobuf.Type, msg: Record<string, unknown>): unknown {
  const name = type.fullName.replace(/^\./, '');
  switch (name) {
    case `${META}.Time`: return num(msg.seconds) || num(msg.nanos) ? rfc3339(num(msg.seconds)) : undefined;
    case `${META}.MicroTime`: return num(msg.seconds) || num(msg.nanos) ? rfc3339(num(msg.seconds), num(msg.nanos), true) : undefined;
    case `${META}.Duration`: return `${num(msg.duration) / 1e9}s`;
    case 'k8s.io.apimachinery.pkg.util.intstr.IntOrString': return Number(msg.type ?? 0) === 1 ? String(msg.strVal ?? '') : Number(msg.intVal ?? 0);
    case 'k8s.io.apimachinery.pkg.api.resource.Quantity': return msg.string;
    case 'k8s.io.apimachinery.pkg.runtime.RawExtension': {
      const raw = msg.raw as Uint8Array | undefined;
      return raw && raw.length ? JSON.parse(Buffer.from(raw).toString('utf8')) : undefined;
    }
  }
  const out: Record<string, unknown> = {};
  const inline = inlineFields(type);
  for (const f of type.fieldsArray) {
    // Only what was on the wire: decoded messages inherit proto defaults from their prototype.
    if (!Object.prototype.hasOwnProperty.call(msg, f.name)) continue;
    const v = msg[f.name];
    if (v === undefined || v === null) continue;
    const conv = (x: unknown): unknown => {
      if (f.resolvedType instanceof protobuf.Type) return toJSON(f.resolvedType, x as Record<string, unknown>);
      if (x instanceof Uint8Array) return Buffer.from(x).toString('base64');
      if (typeof x === 'object' && x !== null && 'low' in x) return (x as unknown as { toNumber(): number }).toNumber();
      return x;
    };
    let j: unknown;
    if (f.map) {
      const m: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) m[k] = conv(x);
      j = m;
    } else if (f.repeated) {
      j = (v as unknown[]).map(conv);
    } else {
      j = conv(v);
    }
    // Go's JSON omits empty values (omitempty); non-pointer fields always travel in protobuf.
    if (j === undefined || j === '' || (Array.isArray(j) && !j.length)) continue;
    if (typeof j === 'object' && j !== null && !Array.isArray(j) && !Object.keys(j).length) continue;
    if ((j === 0 || j === false) && omitZero.has(f.name)) continue;
    if (inline.has(f.name) && typeof j === 'object' && j !== null) Object.assign(out, j);
    else out[jsonNames[f.name] ?? f.name] = j;
  }
  return out;
}

/** Decode a k8s protobuf envelope (magic + runtime.Unknown) into a JSON object. */
export function decodeProtobuf(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw errors.badRequest('provided protobuf is missing the k8s magic prefix');
  const t = types();
  let unknown: Record<string, unknown>;
  try {
    unknown = t.lookupType('k8s.io.apimachinery.pkg.runtime.Unknown').decode(body.subarray(4)) as unknown as Record<string, unknown>;
  } catch (e) {
    throw errors.badRequest(`error decoding protobuf envelope: ${(e as Error).message}`);
  }
  const tm = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const type = typeFor(tm.apiVersion ?? '', tm.kind ?? '');
  if (!type) throw errors.unsupportedMediaType(`application/vnd.kubernetes.protobuf (no protobuf decoder for ${tm.apiVersion}, Kind=${tm.kind})`);
  let msg: Record<string, unknown>;
  try {
    msg = type.decode((unknown.raw as Uint8Array | undefined) ?? new Uint8Array()) as unknown as Record<string, unknown>;
  } catch (e) {
    throw errors.badRequest(`error decoding ${tm.kind}: ${(e as Error).message}`);
  }
  const obj = toJSON(type, msg) as Record<string, unknown>;
  return { apiVersion: tm.apiVersion, kind: tm.kind, ...obj };
}

function num(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'object' && 'toNumber' in (v as object)) return (v as { toNumber(): number }).toNumber();
  return Number(v);
}
