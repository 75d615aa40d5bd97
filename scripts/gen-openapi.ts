// Generates src/api/openapi/definitions.json: OpenAPI schema definitions, named as
// upstream's (io.k8s.api.core.v1.Pod, ...), from the declarations in
// `kubernetes-types`, which carry upstream's field docs and required-ness. What the
// .d.ts files cannot say (integer widths, patch strategies, list and map types) comes
// from the table in src/api/openapi/patch-metadata.ts.
//
// Run: npm run gen:openapi
import ts from 'typescript';
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SchemaNode } from '../src/api/openapi/types.js';
import { patchMetadata, extraGVKs, extraDefinitions } from '../src/api/openapi/patch-metadata.js';

const require = createRequire(import.meta.url);
const typesRoot = path.dirname(require.resolve('kubernetes-types/package.json'));
const here = path.dirname(fileURLToPath(import.meta.url));
const outFile = path.join(here, '..', 'src', 'api', 'openapi', 'definitions.json');

// kubernetes-types file (without .d.ts) -> upstream definition name prefix.
const modules: Record<string, string> = {
  'core/v1': 'io.k8s.api.core.v1',
  'apps/v1': 'io.k8s.api.apps.v1',
  'batch/v1': 'io.k8s.api.batch.v1',
  'networking/v1': 'io.k8s.api.networking.v1',
  'discovery/v1': 'io.k8s.api.discovery.v1',
  'coordination/v1': 'io.k8s.api.coordination.v1',
  'events/v1': 'io.k8s.api.events.v1',
  'policy/v1': 'io.k8s.api.policy.v1',
  'autoscaling/v1': 'io.k8s.api.autoscaling.v1',
  'rbac/v1': 'io.k8s.api.rbac.v1',
  'authorization/v1': 'io.k8s.api.authorization.v1',
  'authentication/v1': 'io.k8s.api.authentication.v1',
  'meta/v1': 'io.k8s.apimachinery.pkg.apis.meta.v1',
  'api/resource': 'io.k8s.apimachinery.pkg.api.resource',
  'runtime': 'io.k8s.apimachinery.pkg.runtime',
  'version': 'io.k8s.apimachinery.pkg.version',
};

const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
const REF = '#/components/schemas/';

const files = Object.keys(modules).map((m) => path.join(typesRoot, `${m}.d.ts`));
const program = ts.createProgram(files, { noEmit: true, strict: true, skipLibCheck: true });
const checker = program.getTypeChecker();

function prefixOf(file: ts.SourceFile): string | undefined {
  const rel = path.relative(typesRoot, file.fileName).replace(/\\/g, '/').replace(/\.d\.ts$/, '');
  return modules[rel];
}

function docOf(node: ts.Node): string | undefined {
  const sym = (node as { name?: ts.Node }).name ? checker.getSymbolAtLocation((node as unknown as { name: ts.Node }).name) : undefined;
  if (!sym) return undefined;
  const text = ts.displayPartsToString(sym.getDocumentationComment(checker)).trim();
  return text || undefined;
}

/** The definition name a type reference points at, following imports. */
function refName(tn: ts.TypeReferenceNode): string | undefined {
  let sym = checker.getSymbolAtLocation(tn.typeName);
  if (sym && sym.flags & ts.SymbolFlags.Alias) sym = checker.getAliasedSymbol(sym);
  const decl = sym?.declarations?.[0];
  if (!decl) return undefined;
  const prefix = prefixOf(decl.getSourceFile());
  return prefix ? `${prefix}.${sym!.name}` : undefined;
}

const definitions: Record<string, SchemaNode> = {};

function schemaOfType(tn: ts.TypeNode): SchemaNode {
  switch (tn.kind) {
    case ts.SyntaxKind.StringKeyword: return { type: 'string' };
    case ts.SyntaxKind.NumberKeyword: return { type: 'integer', format: 'int32' };
    case ts.SyntaxKind.BooleanKeyword: return { type: 'boolean' };
    case ts.SyntaxKind.AnyKeyword:
    case ts.SyntaxKind.UnknownKeyword: return { type: 'object' };
  }
  if (ts.isLiteralTypeNode(tn)) return { type: 'string' }; // apiVersion?: "v1", kind?: "Pod"
  if (ts.isArrayTypeNode(tn)) return { type: 'array', items: schemaOfType(tn.elementType) };
  if (ts.isUnionTypeNode(tn)) {
    const kinds = tn.types.map((t) => t.kind).sort();
    if (kinds.length === 2 && kinds.includes(ts.SyntaxKind.NumberKeyword) && kinds.includes(ts.SyntaxKind.StringKeyword)) {
      return { $ref: REF + INT_OR_STRING };
    }
    if (tn.types.every((t) => ts.isLiteralTypeNode(t))) return { type: 'string' };
    throw new Error(`unsupported union ${tn.getText()}`);
  }
  if (ts.isTypeLiteralNode(tn)) {
    const idx = tn.members.find(ts.isIndexSignatureDeclaration);
    if (idx && tn.members.length === 1) return { type: 'object', additionalProperties: schemaOfType(idx.type) };
    if (tn.members.length === 0) return { type: 'object' };
    throw new Error(`unsupported type literal ${tn.getText()}`);
  }
  if (ts.isTypeReferenceNode(tn)) {
    const name = tn.typeName.getText();
    if (name === 'Array' && tn.typeArguments?.length === 1) return { type: 'array', items: schemaOfType(tn.typeArguments[0]!) };
    if (name === 'Record' && tn.typeArguments?.length === 2) return { type: 'object', additionalProperties: schemaOfType(tn.typeArguments[1]!) };
    const full = refName(tn);
    if (!full) throw new Error(`unresolved reference ${name}`);
    return { $ref: REF + full };
  }
  throw new Error(`unsupported type node ${ts.SyntaxKind[tn.kind]}: ${tn.getText()}`);
}

function gvkFromLiterals(decl: ts.InterfaceDeclaration): SchemaNode['x-kubernetes-group-version-kind'] {
  let apiVersion: string | undefined;
  let kind: string | undefined;
  for (const m of decl.members) {
    if (!ts.isPropertySignature(m) || !m.type || !ts.isLiteralTypeNode(m.type) || !ts.isStringLiteral(m.type.literal)) continue;
    if (m.name.getText() === 'apiVersion') apiVersion = m.type.literal.text;
    if (m.name.getText() === 'kind') kind = m.type.literal.text;
  }
  if (!apiVersion || !kind) return undefined;
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') as [string, string] : ['', apiVersion];
  return [{ group, version, kind }];
}

function applyFieldMeta(defName: string, prop: string, s: SchemaNode): void {
  const meta = patchMetadata[defName]?.fields?.[prop];
  if (!meta) return;
  if (meta.format) {
    // int64 / double: the .d.ts only says "number".
    const target = s.type === 'array' && s.items ? s.items : s;
    if (meta.format === 'double') target.type = 'number';
    target.format = meta.format;
  }
  if (meta.patchStrategy) s['x-kubernetes-patch-strategy'] = meta.patchStrategy;
  if (meta.mergeKey) s['x-kubernetes-patch-merge-key'] = meta.mergeKey;
  if (meta.listType) s['x-kubernetes-list-type'] = meta.listType;
  if (meta.listMapKeys) s['x-kubernetes-list-map-keys'] = [...meta.listMapKeys];
  if (meta.mapType) s['x-kubernetes-map-type'] = meta.mapType;
}

for (const sf of program.getSourceFiles()) {
  const prefix = prefixOf(sf);
  if (!prefix) continue;
  for (const st of sf.statements) {
    if (ts.isInterfaceDeclaration(st)) {
      const defName = `${prefix}.${st.name.text}`;
      const def: SchemaNode = { type: 'object' };
      const description = docOf(st);
      if (description) def.description = description;
      const properties: Record<string, SchemaNode> = {};
      const required: string[] = [];
      for (const m of st.members) {
        if (!ts.isPropertySignature(m) || !m.type) continue;
        const name = m.name.getText().replace(/^"|"$/g, '');
        const s = schemaOfType(m.type);
        const d = docOf(m);
        // Description first, as upstream documents list it.
        const node: SchemaNode = d ? { description: d, ...s } : s;
        applyFieldMeta(defName, name, node);
        properties[name] = node;
        if (!m.questionToken) required.push(name);
      }
      if (Object.keys(properties).length) def.properties = properties;
      if (required.length) def.required = required.sort();
      const gvk = extraGVKs[defName] ?? gvkFromLiterals(st);
      if (gvk) def['x-kubernetes-group-version-kind'] = gvk;
      const mapType = patchMetadata[defName]?.mapType;
      if (mapType) def['x-kubernetes-map-type'] = mapType;
      definitions[defName] = def;
    } else if (ts.isTypeAliasDeclaration(st)) {
      const defName = `${prefix}.${st.name.text}`;
      const description = docOf(st);
      const base: SchemaNode = description ? { description } : {};
      // The aliases kubernetes-types has are all strings on the wire.
      if (st.name.text === 'Time' || st.name.text === 'MicroTime') definitions[defName] = { ...base, type: 'string', format: 'date-time' };
      else if (st.name.text === 'Quantity') definitions[defName] = { ...base, type: 'string', format: 'int-or-string', 'x-kubernetes-int-or-string': true };
      else definitions[defName] = { ...base, ...schemaOfType(st.type) };
    }
  }
}

// Free-form JSON (RawExtension, FieldsV1): the interfaces are empty but any object is fine.
for (const n of ['io.k8s.apimachinery.pkg.runtime.RawExtension', 'io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1', 'io.k8s.apimachinery.pkg.apis.meta.v1.Patch']) {
  if (definitions[n]) definitions[n]['x-kubernetes-preserve-unknown-fields'] = true;
}
definitions[INT_OR_STRING] = {
  description: 'IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to have, for example, a JSON field that can accept a name or number.',
  type: 'string', format: 'int-or-string', 'x-kubernetes-int-or-string': true,
};
Object.assign(definitions, extraDefinitions);

// Every $ref must resolve.
const missing = new Set<string>();
(function check(v: unknown): void {
  if (Array.isArray(v)) { v.forEach(check); return; }
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string' && !definitions[x.slice(REF.length)]) missing.add(x);
      else check(x);
    }
  }
})(definitions);
if (missing.size) throw new Error(`unresolved references: ${[...missing].join(', ')}`);

const sorted = Object.fromEntries(Object.keys(definitions).sort().map((k) => [k, definitions[k]]));
writeFileSync(outFile, JSON.stringify(sorted, null, 1) + '\n');
console.log(`wrote ${Object.keys(sorted).length} definitions to ${path.relative(process.cwd(), outFile)}`);
