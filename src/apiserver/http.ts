// Request/response plumbing: bodies (with the 3 MiB limit), content negotiation,
// and writing objects and Status errors the way kube-apiserver does.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYAML } from 'yaml';
import { errors, StatusError, isStatusError } from '../api/errors.js';
import type { Status } from 'kubernetes-types/meta/v1.js';
import { decodeProtobuf } from './protobuf/decode.js';

export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/**
 * The request body (at most MAX_BODY_BYTES). Read with 'data'/'end' listeners rather than
 * `for await`: the async iterator costs a promise and its bookkeeping per chunk, on every write.
 */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) return Promise.reject(errors.tooLarge('Request entity too large: limit is 3145728'));
  // Nothing else reads a request body before its handler; an ended one was empty.
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: Error): void => {
      req.off('data', onData); req.off('end', onEnd); req.off('error', onError); req.off('close', onClose);
      if (err) reject(err); else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > MAX_BODY_BYTES) { req.pause(); done(errors.tooLarge('Request entity too large: limit is 3145728')); return; }
      chunks.push(c);
    };
    const onEnd = (): void => done();
    const onError = (err: Error): void => done(err);
    // A client that goes away mid-body: 'close' without 'end'.
    const onClose = (): void => { if (!req.complete) done(new Error('the client closed the connection before the request body was complete')); };
    req.on('data', onData); req.on('end', onEnd); req.on('error', onError); req.on('close', onClose);
  });
}

export interface MediaType { type: string; params: Record<string, string> }

export function parseMediaTypes(header: string | undefined): MediaType[] {
  if (!header) return [];
  const out: MediaType[] = [];
  for (const part of header.split(',')) {
    const [t, ...ps] = part.split(';').map((s) => s.trim());
    if (!t) continue;
    const params: Record<string, string> = {};
    for (const p of ps) {
      const i = p.indexOf('=');
      if (i > 0) params[p.slice(0, i).trim().toLowerCase()] = p.slice(i + 1).trim().replace(/^"|"$/g, '');
    }
    out.push({ type: t.toLowerCase(), params });
  }
  return out;
}

/** What the client wants back for a resource request. */
export type OutputKind =
  | { format: 'json' | 'yaml' }
  | { format: 'table'; version: 'v1' | 'v1beta1' }
  | { format: 'partial'; list: boolean; version: 'v1' | 'v1beta1' };

function isJsonish(t: string): boolean { return t === 'application/json' || t === '*/*' || t === 'application/*'; }

/** Picks the first acceptable media type; protobuf is skipped (not served), 406 when nothing fits. */
export function negotiateOutput(accept: string | undefined): OutputKind {
  const types = parseMediaTypes(accept);
  if (!types.length) return { format: 'json' };
  for (const mt of types) {
    const as = mt.params.as;
    if (as) {
      if (mt.type !== 'application/json') continue;
      const g = mt.params.g, v = mt.params.v;
      if (g !== 'meta.k8s.io' || (v !== 'v1' && v !== 'v1beta1')) continue;
      if (as === 'Table') return { format: 'table', version: v };
      if (as === 'PartialObjectMetadata') return { format: 'partial', list: false, version: v };
      if (as === 'PartialObjectMetadataList') return { format: 'partial', list: true, version: v };
      continue;
    }
    if (isJsonish(mt.type)) return { format: 'json' };
    if (mt.type === 'application/yaml') return { format: 'yaml' };
  }
  throw notAcceptable();
}

export function notAcceptable(): StatusError {
  const e = errors.badRequest('only the following media types are accepted: application/json, application/yaml');
  e.status.code = 406;
  e.status.reason = 'NotAcceptable';
  return e;
}

/** Parses a JSON or YAML request body into a plain object. */
export function decodeBody(body: Buffer, contentType: string | undefined, what = 'object'): unknown {
  const ct = (contentType ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  const text = body.toString('utf8');
  if (ct === 'application/vnd.kubernetes.protobuf') return decodeProtobuf(body);
  if (ct === 'application/yaml' || ct === 'application/apply-patch+yaml' || ct === 'text/yaml') {
    try {
      return parseYAML(text, { strict: true, uniqueKeys: true, maxAliasCount: 100 });
    } catch (e) {
      throw errors.badRequest(`error converting YAML to JSON: yaml: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (ct !== 'application/json' && !ct.endsWith('+json') && ct !== '*/*' && ct !== '') throw errors.unsupportedMediaType(ct);
  if (!text.trim()) throw errors.badRequest(`${what}: request body is empty`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw errors.badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
  }
}

export function writeRaw(res: ServerResponse, code: number, body: string | Buffer, contentType = 'application/json', extra?: Record<string, string | string[]>): void {
  if (res.headersSent) { res.end(); return; }
  const headers: Record<string, string | string[] | number> = {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-cache, private',
    ...extra,
  };
  res.writeHead(code, headers);
  res.end(body);
}

/** Pieces of a streamed body are joined into writes of about this many bytes. */
const STREAM_CHUNK_BYTES = 64 * 1024;

/**
 * Writes a body made of many pieces (a list's items) in writes of about 64 KiB, chunked
 * (no Content-Length, as upstream's large lists), waiting for the socket to drain when its
 * buffer is full. A 10,000-pod list as one string is ~15 MB, turned into a ~15 MB Buffer and
 * ~15 MB of TLS records at once: large objects that stayed in the server's RSS after the
 * response until the next full GC, for every large list served.
 */
export async function writeStreamed(res: ServerResponse, code: number, pieces: Iterable<string>, contentType = 'application/json', extra?: Record<string, string | string[]>): Promise<void> {
  if (res.headersSent) { res.end(); return; }
  res.writeHead(code, { 'Content-Type': contentType, 'Cache-Control': 'no-cache, private', ...extra });
  let chunk = '';
  for (const piece of pieces) {
    chunk += piece;
    if (chunk.length < STREAM_CHUNK_BYTES) continue;
    const more = res.write(chunk);
    chunk = '';
    if (!more && !(await drained(res))) return;
  }
  res.end(chunk);
}

/** Resolves true once `res` can take more, false when the client went away instead. */
function drained(res: ServerResponse): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => { res.off('drain', onDrain); res.off('close', onClose); resolve(ok); };
    const onDrain = (): void => done(true);
    const onClose = (): void => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

export function writeJSON(res: ServerResponse, code: number, obj: unknown, extra?: Record<string, string | string[]>): void {
  writeRaw(res, code, JSON.stringify(obj), 'application/json', extra);
}

export function statusOf(err: unknown): Status {
  if (isStatusError(err)) return err.status;
  return errors.internal(err instanceof Error ? err.message : String(err)).status;
}

export function writeError(res: ServerResponse, err: unknown): void {
  const st = statusOf(err);
  writeJSON(res, st.code ?? 500, st);
}

/** A Status for successful deletes, as upstream returns them. */
export function successStatus(details: Status['details']): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details };
}
