// pod-template-hash as upstream's controller.ComputeHash: FNV-32a over the pod
// template (upstream hashes a deep print of the Go struct; we hash canonical JSON
// with sorted keys), then the collision count as 8 little-endian bytes, and the
// decimal sum encoded with the "safe" alphabet of k8s.io/apimachinery/pkg/util/rand.
import type { PodTemplateSpec } from 'kubernetes-types/core/v1.js';

const SAFE_ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

export function fnv32a(data: Uint8Array, h = 0x811c9dc5): number {
  for (const b of data) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** rand.SafeEncodeString: each byte mapped into an alphabet without vowels and look-alikes. */
export function safeEncodeString(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) out += SAFE_ALPHANUMS[b % SAFE_ALPHANUMS.length];
  return out;
}

/**
 * JSON with object keys sorted, and members that are null, undefined, {} or [] dropped
 * (after their own members were): what a Go struct decodes the same way, e.g. the
 * `"creationTimestamp": null` and `"resources": {}` kubectl sends back on rollout undo.
 * A stable serialisation for hashing and comparing templates.
 */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(normalize(v)) ?? 'null';
}

function normalize(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : normalize(x)));
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o).sort()) {
    const n = normalize(o[k]);
    if (n === undefined || n === null) continue;
    if (typeof n === 'object' && (Array.isArray(n) ? n.length === 0 : Object.keys(n).length === 0)) continue;
    out[k] = n;
  }
  return out;
}

export function computeHash(template: PodTemplateSpec | undefined, collisionCount?: number): string {
  let h = fnv32a(Buffer.from(canonicalJson(template ?? {}), 'utf8'));
  if (collisionCount !== undefined && collisionCount !== null) {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(collisionCount >>> 0, 0);
    h = fnv32a(b, h);
  }
  return safeEncodeString(String(h));
}
