// Checking a decoded JSON object against its kind's schema, the way kube-apiserver's
// Go decoder (sigs.k8s.io/json) sees it: fields the Go struct does not have
// ("unknown fields", which fieldValidation=Strict rejects, Warn reports and Ignore
// drops), and values of the wrong JSON type, which fail decoding whatever the
// fieldValidation (upstream answers 400 "... cannot be handled as a Pod: json: cannot
// unmarshal string into Go struct field ...").
import type { SchemaNode } from './types.js';
import { deref, definitionNameForKind } from './schema.js';

export interface FieldCheck {
  /** Unknown fields in document order, as upstream prints them: "spec.containers[0].imagePullPolicyy". */
  unknown: string[];
  /** The first wrong-typed value, as Go's decoder reports it (only the first, as Go does). */
  typeError?: TypeError;
}

export interface TypeError {
  /** Where, with indices: "spec.replicas", "spec.template.spec.containers[0].ports[0].containerPort". */
  path: string;
  /** Go's text: 'json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32'. */
  message: string;
}

const QUANTITY_RE = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const QUANTITY_ERR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';

function refName(node: SchemaNode): string | undefined {
  const ref = node.$ref ?? (node.allOf?.length === 1 ? node.allOf[0]!.$ref : undefined);
  return ref?.replace(/^#\/(components\/schemas|definitions)\//, '');
}

/** Go's reflect name of a field's type: int32, []v1.Container, map[string]string, intstr.IntOrString. */
function goType(node: SchemaNode): string {
  const name = refName(node);
  if (name) {
    const parts = name.split('.');
    return `${parts[parts.length - 2]}.${parts[parts.length - 1]}`;
  }
  switch (node.type) {
    case 'array': return `[]${node.items ? goType(node.items) : 'interface {}'}`;
    case 'object':
      return typeof node.additionalProperties === 'object' ? `map[string]${goType(node.additionalProperties)}` : 'map[string]interface {}';
    case 'integer': return node.format === 'int64' ? 'int64' : 'int32';
    case 'number': return 'float64';
    case 'boolean': return 'bool';
    default: return 'string';
  }
}

function jsonKind(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

interface Ctx {
  unknown: string[];
  typeError?: TypeError;
  prune: boolean;
  /**
   * Where the walk is: pieces of the printed path ("spec", ".containers", "[0]"), and
   * the field names from the root (Go's error context has no indices). Kept as stacks
   * and joined only for a report, as most objects have nothing to report.
   */
  path: string[];
  stack: string[];
}

function isFreeForm(s: SchemaNode): boolean {
  return s['x-kubernetes-preserve-unknown-fields'] === true || (s.type === 'object' && !s.properties && s.additionalProperties === undefined);
}

/** A schema node's definition name and resolved node, worked out once per node (the schema is fixed). */
interface Resolved { name: string | undefined; s: SchemaNode; structName: string | undefined }
const resolvedCache = new WeakMap<SchemaNode, Resolved>();
function resolved(node: SchemaNode): Resolved {
  let r = resolvedCache.get(node);
  if (!r) {
    const name = refName(node);
    r = { name, s: deref(node) ?? {}, structName: name ? name.split('.').pop()! : undefined };
    resolvedCache.set(node, r);
  }
  return r;
}

function fail(node: SchemaNode, struct: string, what: string, ctx: Ctx): void {
  if (ctx.typeError) return;
  ctx.typeError = { path: ctx.path.join(''), message: `json: cannot unmarshal ${what} into Go struct field ${struct}.${ctx.stack.join('.')} of type ${goType(node)}` };
}

/** Walk value against node. `struct` is the Go struct whose field this is. */
function walk(node: SchemaNode, value: unknown, struct: string, ctx: Ctx): void {
  if (value === null || value === undefined) return; // null decodes to the zero value
  const { name, s, structName } = resolved(node);
  if (name === INT_OR_STRING || s.format === 'int-or-string' && name !== QUANTITY) {
    if (typeof value === 'string') return;
    if (typeof value === 'number' && Number.isInteger(value) && value >= -2147483648 && value <= 2147483647) return;
    // IntOrString.UnmarshalJSON decodes non-strings into an int32 itself.
    if (!ctx.typeError) ctx.typeError = { path: ctx.path.join(''), message: `json: cannot unmarshal ${typeof value === 'number' ? `number ${value}` : jsonKind(value)} into Go value of type int32` };
    return;
  }
  if (name === QUANTITY) {
    const text = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
    if (!QUANTITY_RE.test(text.trim()) && !ctx.typeError) ctx.typeError = { path: ctx.path.join(''), message: QUANTITY_ERR };
    return;
  }
  switch (s.type) {
    case 'string':
      if (typeof value !== 'string') fail(node, struct, jsonKind(value), ctx);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') fail(node, struct, jsonKind(value), ctx);
      return;
    case 'integer': {
      if (typeof value !== 'number') { fail(node, struct, jsonKind(value), ctx); return; }
      const max = s.format === 'int64' ? Number.MAX_SAFE_INTEGER : 2147483647;
      if (!Number.isInteger(value) || Math.abs(value) > max + 1) fail(node, struct, `number ${value}`, ctx);
      return;
    }
    case 'number':
      if (typeof value !== 'number') fail(node, struct, jsonKind(value), ctx);
      return;
    case 'array': {
      if (!Array.isArray(value)) { fail(node, struct, jsonKind(value), ctx); return; }
      const items = s.items;
      if (!items) return;
      for (let i = 0; i < value.length; i++) {
        ctx.path.push(`[${i}]`);
        walk(items, value[i], struct, ctx);
        ctx.path.pop();
      }
      return;
    }
    default: break; // object (or untyped)
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    if (s.type === 'object' || s.properties) fail(node, struct, jsonKind(value), ctx);
    return;
  }
  const obj = value as Record<string, unknown>;
  if (s.properties) {
    const childStruct = structName ?? struct;
    const top = ctx.path.length === 0;
    for (const key of Object.keys(obj)) {
      const child = s.properties[key];
      ctx.path.push(top ? key : `.${key}`);
      if (!child) {
        ctx.unknown.push(ctx.path.join(''));
        if (ctx.prune) delete obj[key];
      } else {
        ctx.stack.push(key);
        walk(child, obj[key], childStruct, ctx);
        ctx.stack.pop();
      }
      ctx.path.pop();
    }
    return;
  }
  if (typeof s.additionalProperties === 'object') {
    const ap = s.additionalProperties;
    // Go's error context names the map field, not the key.
    for (const key of Object.keys(obj)) {
      ctx.path.push(`.${key}`);
      walk(ap, obj[key], struct, ctx);
      ctx.path.pop();
    }
    return;
  }
  if (isFreeForm(s)) return;
}

/** The root node per definition, one object so that resolved() remembers it. */
const rootNodes = new Map<string, SchemaNode>();
function rootNode(defName: string): SchemaNode {
  let n = rootNodes.get(defName);
  if (!n) rootNodes.set(defName, (n = { $ref: `#/components/schemas/${defName}` }));
  return n;
}

function check(group: string, version: string, kind: string, obj: unknown, prune: boolean): FieldCheck {
  const defName = definitionNameForKind(group, version, kind);
  const ctx: Ctx = { unknown: [], prune, path: [], stack: [] };
  if (!defName) return { unknown: [] }; // unknown kinds (custom resources) are not checked here
  walk(rootNode(defName), obj, kind, ctx);
  return ctx.typeError ? { unknown: ctx.unknown, typeError: ctx.typeError } : { unknown: ctx.unknown };
}

/** Unknown fields and the first type error of obj, read against the kind's schema. */
export function checkFields(group: string, version: string, kind: string, obj: unknown): FieldCheck {
  return check(group, version, kind, obj, false);
}

/** Paths of the fields obj has that the kind does not, e.g. "spec.containers[0].imagePullPolicyy". */
export function findUnknownFields(group: string, version: string, kind: string, obj: unknown): string[] {
  return check(group, version, kind, obj, false).unknown;
}

/** Type errors (at most one, the first, as Go's decoder returns). */
export function findTypeErrors(group: string, version: string, kind: string, obj: unknown): TypeError[] {
  const t = check(group, version, kind, obj, false).typeError;
  return t ? [t] : [];
}

/**
 * Remove unknown fields from obj (what decoding into the Go struct does under
 * fieldValidation=Ignore/Warn) and return their paths.
 */
export function pruneUnknownFields(group: string, version: string, kind: string, obj: unknown): string[] {
  return check(group, version, kind, obj, true).unknown;
}

/** 'strict decoding error: unknown field "spec.foo", unknown field "spec.bar"' */
export function strictDecodingMessage(unknown: string[]): string {
  return `strict decoding error: ${unknown.map((u) => `unknown field "${u}"`).join(', ')}`;
}

/** One Warning header text per field under fieldValidation=Warn: 'unknown field "spec.foo"'. */
export function unknownFieldWarning(path: string): string {
  return `unknown field "${path}"`;
}

/** 'Pod in version "v1" cannot be handled as a Pod: <detail>', the 400 message upstream gives for undecodable bodies. */
export function decodeErrorMessage(kind: string, version: string, detail: string): string {
  return `${kind} in version "${version}" cannot be handled as a ${kind}: ${detail}`;
}
