// What every resource handler receives, and how it writes objects back in the
// negotiated format (JSON, YAML, Table, PartialObjectMetadata).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { stringify as toYAML } from 'yaml';
import type { ResourceRequestInfo } from '../request-info.js';
import type { UserInfo } from '../auth.js';
import type { ResourceStore } from '../store.js';
import type { Registry } from '../registry.js';
import type { ServiceAccountTokens } from '../serviceaccount-token.js';
import { writeRaw, writeStreamed, type OutputKind } from '../http.js';
import type { Obj } from '../objects.js';
import { toTableOf } from '../machinery.js';

export interface HandlerContext {
  req: IncomingMessage;
  res: ServerResponse;
  query: URLSearchParams;
  info: ResourceRequestInfo;
  user: UserInfo;
  registry: Registry;
  store: ResourceStore;
  out: OutputKind;
  /** Warning headers to send (upstream: `299 - "text"`). */
  warnings: string[];
  /** Signs TokenRequests (serviceaccounts/token); absent: the subresource is not served. */
  serviceAccountTokens?: ServiceAccountTokens;
}

export function warningHeaders(ctx: HandlerContext): Record<string, string[]> | undefined {
  if (!ctx.warnings.length) return undefined;
  return { Warning: ctx.warnings.map((w) => `299 - ${JSON.stringify(w)}`) };
}

function partialMeta(o: Obj, version: string): Obj {
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: o.metadata ?? {} };
}

function includeObject(ctx: HandlerContext): 'None' | 'Metadata' | 'Object' {
  const v = ctx.query.get('includeObject');
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

/** The Table for objects, with each row's object as includeObject asks. */
export function tableFor(ctx: HandlerContext, objs: Obj[], version: string, listMeta?: Obj, noHeaders = false): Obj {
  const t = toTableOf(ctx.store.info, objs, new Date(), includeObject(ctx));
  t.apiVersion = `meta.k8s.io/${version}`;
  t.metadata = { ...(t.metadata ?? {}), ...(listMeta ?? {}) };
  if (version !== 'v1') for (const row of (t.rows ?? []) as Obj[]) if (row.object?.apiVersion === 'meta.k8s.io/v1') row.object.apiVersion = `meta.k8s.io/${version}`;
  if (noHeaders) t.columnDefinitions = [];
  return t;
}

function* listPieces(head: string, raws: string[]): Generator<string> {
  yield head;
  for (let i = 0; i < raws.length; i++) yield i ? `,${raws[i]}` : raws[i]!;
  yield ']}';
}

/** Write one object (raw JSON text or parsed) in the negotiated format. */
export function writeObject(ctx: HandlerContext, code: number, raw: string | undefined, obj?: Obj): void {
  const out = ctx.out;
  const headers = warningHeaders(ctx);
  if (out.format === 'json') {
    writeRaw(ctx.res, code, raw ?? JSON.stringify(obj), 'application/json', headers);
    return;
  }
  const o = obj ?? (JSON.parse(raw!) as Obj);
  if (out.format === 'yaml') { writeRaw(ctx.res, code, toYAML(o), 'application/yaml', headers); return; }
  if (out.format === 'table') { writeRaw(ctx.res, code, JSON.stringify(tableFor(ctx, [o], out.version)), 'application/json', headers); return; }
  writeRaw(ctx.res, code, JSON.stringify(partialMeta(o, out.format === 'partial' ? out.version : 'v1')), 'application/json', headers);
}

/** Write a list from raw item texts without re-serialising them (JSON), or converted. */
export async function writeList(ctx: HandlerContext, raws: string[], meta: { resourceVersion: string; continue?: string; remainingItemCount?: number }): Promise<void> {
  const info = ctx.store.info;
  const out = ctx.out;
  const headers = warningHeaders(ctx);
  const listMeta: Obj = { resourceVersion: meta.resourceVersion };
  if (meta.continue) listMeta.continue = meta.continue;
  if (meta.remainingItemCount !== undefined) listMeta.remainingItemCount = meta.remainingItemCount;
  if (out.format === 'json') {
    const apiVersion = info.group ? `${info.group}/${info.version}` : info.version;
    const head = `{"kind":"${info.kind}List","apiVersion":"${apiVersion}","metadata":${JSON.stringify(listMeta)},"items":[`;
    await writeStreamed(ctx.res, 200, listPieces(head, raws), 'application/json', headers);
    return;
  }
  const objs = raws.map((r) => JSON.parse(r) as Obj);
  if (out.format === 'table') { writeRaw(ctx.res, 200, JSON.stringify(tableFor(ctx, objs, out.version, listMeta)), 'application/json', headers); return; }
  if (out.format === 'partial') {
    const list = { kind: 'PartialObjectMetadataList', apiVersion: `meta.k8s.io/${out.version}`, metadata: listMeta, items: objs.map((o) => partialMeta(o, out.version)) };
    writeRaw(ctx.res, 200, JSON.stringify(list), 'application/json', headers);
    return;
  }
  const apiVersion = info.group ? `${info.group}/${info.version}` : info.version;
  writeRaw(ctx.res, 200, toYAML({ kind: `${info.kind}List`, apiVersion, metadata: listMeta, items: objs }), 'application/yaml', headers);
}

export { partialMeta };
