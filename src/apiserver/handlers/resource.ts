// Verbs on a resource: get, list, create, update, patch, delete, deletecollection,
// and the subresources status, scale, binding, eviction, finalize and token.
import { errors, isStatusError } from '../../api/errors.js';
import { apiVersionOf } from '../../api/resources.js';
import { decodeErrorMessage, strictDecodingMessage, unknownFieldWarning } from '../../api/openapi/fields.js';
import { labelSelectorFromObject } from '../../api/labels.js';
import { applyJsonPatch } from '../../api/patch/json-patch.js';
import { applyMergePatch } from '../../api/patch/merge-patch.js';
import { applyStrategicMergePatch } from '../../api/patch/strategic-merge-patch.js';
import { schemaForKind, resolveRef } from '../../api/openapi/schema.js';
import { readBody, decodeBody, successStatus } from '../http.js';
import type { Obj } from '../objects.js';
import { nowRFC3339 } from '../objects.js';
import type { DeleteOpts } from '../store.js';
import type { StrategyContext } from '../strategies/types.js';
import { compileSelectors } from '../selectors.js';
import * as machinery from '../machinery.js';
import { writeObject, writeList, type HandlerContext } from './context.js';
import { serveWatch } from './watch.js';
import { recordManagedFields, serverSideApply } from '../managed-fields.js';
import { tokenRequest } from './token.js';

function dryRunOf(ctx: HandlerContext): boolean {
  const all = ctx.query.getAll('dryRun');
  for (const v of all) {
    if (v !== 'All') throw errors.badRequest(`dryRun: Unsupported value: "${v}": supported values: "All"`);
  }
  return all.length > 0;
}

function strategyCtx(ctx: HandlerContext, subresource = ctx.info.subresource): StrategyContext {
  return { user: ctx.user, dryRun: dryRunOf(ctx), subresource };
}

type FieldValidation = 'Strict' | 'Warn' | 'Ignore';
function fieldValidationOf(ctx: HandlerContext): FieldValidation {
  const v = ctx.query.get('fieldValidation') ?? 'Warn';
  if (v !== 'Strict' && v !== 'Warn' && v !== 'Ignore') {
    throw errors.badRequest(`fieldValidation: Unsupported value: "${v}": supported values: "Ignore", "Strict", "Warn"`);
  }
  return v;
}

/** Decode against the kind's schema as upstream's decoder would: type errors are 400s, unknown fields per fieldValidation. */
function checkDecoded(ctx: HandlerContext, obj: Obj, isPatch = false): void {
  const info = ctx.store.info;
  const check = machinery.checkSchema(info, obj);
  if (check.typeError) throw errors.badRequest(decodeErrorMessage(info.kind, info.version, check.typeError.message));
  if (!check.unknown.length) return;
  const fv = fieldValidationOf(ctx);
  if (fv === 'Strict') {
    const msg = strictDecodingMessage(check.unknown);
    throw errors.badRequest(isPatch ? msg : decodeErrorMessage(info.kind, info.version, msg));
  }
  if (fv === 'Warn') for (const u of check.unknown) ctx.warnings.push(unknownFieldWarning(u));
  machinery.pruneUnknown(info, obj);
}

async function readObject(ctx: HandlerContext): Promise<Obj> {
  const body = await readBody(ctx.req);
  const obj = decodeBody(body, ctx.req.headers['content-type']);
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw errors.badRequest(`Object 'Kind' is missing in '${body.toString('utf8').slice(0, 200)}'`);
  }
  return obj as Obj;
}

/** apiVersion/kind of a body must be those of the endpoint (or absent). */
function checkTypeMeta(ctx: HandlerContext, obj: Obj, kind = ctx.store.info.kind, apiVersion = apiVersionOf(ctx.store.info)): void {
  if (obj.kind !== undefined && obj.kind !== kind) {
    throw errors.badRequest(`${obj.kind} in version "${String(obj.apiVersion ?? '').split('/').pop()}" cannot be handled as a ${kind}: no kind "${obj.kind}" is registered for version "${obj.apiVersion ?? ''}" in scheme "k8s.io/kubernetes/pkg/api/legacyscheme/scheme.go:30"`);
  }
  if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersion) {
    // A body is in the endpoint's own version; versions sharing storage (Events) are converted by the store.
    throw errors.badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${apiVersion})`);
  }
}

function fieldManagerOf(ctx: HandlerContext, required = false): string {
  const fm = ctx.query.get('fieldManager');
  if (fm) {
    if (fm.length > 128) throw errors.invalid('PatchOptions', 'meta.k8s.io', '', [{ type: 'TooLong', field: 'fieldManager', detail: 'may not be more than 128 characters' }]);
    return fm;
  }
  if (required) {
    throw errors.invalid('PatchOptions', 'meta.k8s.io', '', [{ type: 'Required', field: 'fieldManager', detail: 'is required for apply patch' }]);
  }
  // Upstream: the User-Agent's first word.
  const ua = String(ctx.req.headers['user-agent'] ?? 'unknown');
  return ua.split('/')[0]!.slice(0, 128) || 'unknown';
}

// ------------------------------------------------------------------ get / list

async function get(ctx: HandlerContext): Promise<void> {
  const { info, store } = ctx;
  const { raw } = await store.getRaw(info.namespace, info.name);
  writeObject(ctx, 200, raw);
}

async function list(ctx: HandlerContext): Promise<void> {
  const q = ctx.query;
  const filter = compileSelectors(ctx.store.info, q.get('labelSelector'), q.get('fieldSelector'));
  const limit = q.get('limit') ? Number(q.get('limit')) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw errors.badRequest(`limit: Invalid value: "${q.get('limit')}"`);
  const r = await ctx.store.list(ctx.info.namespace, {
    filter, limit, continueToken: q.get('continue') ?? undefined,
    resourceVersion: q.get('resourceVersion') ?? undefined,
    resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined,
  });
  await writeList(ctx, r.raws, { resourceVersion: String(r.revision), continue: r.continueToken, remainingItemCount: r.remainingItemCount });
}

// ------------------------------------------------------------------ create

async function create(ctx: HandlerContext): Promise<void> {
  const { info, store } = ctx;
  const obj = await readObject(ctx);
  checkTypeMeta(ctx, obj);
  checkDecoded(ctx, obj);
  const m = (obj.metadata ??= {});
  if (info.namespace && store.info.namespaced) {
    if (m.namespace && m.namespace !== info.namespace) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
  } else if (store.info.namespaced) {
    throw errors.methodNotSupported({ group: info.group, resource: info.resource }, 'create');
  }
  if (m.resourceVersion) throw errors.badRequest('resourceVersion should not be set on objects to be created');
  const sctx = strategyCtx(ctx);
  recordManagedFields(store.info, obj, undefined, fieldManagerOf(ctx), 'Update');
  const r = await store.create(info.namespace, obj, sctx);
  writeObject(ctx, 201, r.raw, r.obj);
}

// ------------------------------------------------------------------ update

async function update(ctx: HandlerContext): Promise<void> {
  const { info, store } = ctx;
  const obj = await readObject(ctx);
  checkTypeMeta(ctx, obj);
  checkDecoded(ctx, obj);
  const m = (obj.metadata ??= {});
  if (m.name !== undefined && m.name !== info.name) {
    throw errors.badRequest(`the name of the object (${m.name}) does not match the name on the URL (${info.name})`);
  }
  if (store.info.namespaced && m.namespace && m.namespace !== info.namespace) {
    throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  const sctx = strategyCtx(ctx);
  const manager = fieldManagerOf(ctx);
  const r = await store.update(info.namespace, info.name, sctx, (cur) => {
    const next = structuredClone(obj);
    recordManagedFields(store.info, next, cur, manager, 'Update', info.subresource);
    return next;
  });
  writeObject(ctx, r.created ? 201 : 200, r.raw, r.obj);
}

// ------------------------------------------------------------------ patch

const patchTypes = new Set([
  'application/json-patch+json', 'application/merge-patch+json',
  'application/strategic-merge-patch+json', 'application/apply-patch+yaml', 'application/apply-patch+cbor',
]);

async function patch(ctx: HandlerContext): Promise<void> {
  const { info, store } = ctx;
  const ct = String(ctx.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (!patchTypes.has(ct) || ct === 'application/apply-patch+cbor') {
    throw errors.unsupportedMediaType(ct);
  }
  const body = await readBody(ctx.req);
  let p: unknown;
  if (ct === 'application/apply-patch+yaml') {
    p = decodeBody(body, 'application/yaml');
  } else {
    try { p = JSON.parse(body.toString('utf8')); } catch (e) { throw errors.badRequest(`error decoding patch: ${(e as Error).message}`); }
  }
  const sctx = strategyCtx(ctx);
  const isApply = ct === 'application/apply-patch+yaml';
  const manager = fieldManagerOf(ctx, isApply);
  const force = ctx.query.get('force') === 'true';
  if (!isApply && ctx.query.has('force')) throw errors.badRequest('force: Invalid value: true: may not be specified for non-apply patch');
  if (isApply) {
    if (p === null || typeof p !== 'object' || Array.isArray(p)) throw errors.badRequest('error decoding YAML: the apply patch must be an object');
    checkTypeMeta(ctx, p as Obj);
  }
  const r = await store.update(info.namespace, info.name, sctx, (cur) => {
    let next: Obj;
    if (isApply) {
      next = serverSideApply(store.info, cur, p as Obj, manager, force, info.subresource);
    } else {
      if (!cur) throw errors.notFound(store.ref(info.name));
      // The patch functions leave `cur` as it is (the merge patch shares what it does not change).
      const base = cur;
      switch (ct) {
        case 'application/json-patch+json': next = applyJsonPatch(base, p) as Obj; break;
        case 'application/merge-patch+json': next = applyMergePatch(base, p) as Obj; break;
        default: next = applyStrategicMergePatch(base, p, schemaForKind(store.info.group, store.info.version, store.info.kind), resolveRef) as Obj;
      }
      recordManagedFields(store.info, next, cur, manager, 'Update', info.subresource);
    }
    checkDecoded(ctx, next, true);
    // The resourceVersion of a patch result is a precondition only when the patch changed it.
    if (cur && next.metadata?.resourceVersion === cur.metadata?.resourceVersion && !patchSetsRV(p)) delete next.metadata!.resourceVersion;
    return next;
  }, { allowCreate: isApply && !info.subresource });
  writeObject(ctx, r.created ? 201 : 200, r.raw, r.obj);
}

function patchSetsRV(p: unknown): boolean {
  if (Array.isArray(p)) return p.some((op) => typeof op?.path === 'string' && op.path === '/metadata/resourceVersion');
  return !!(p && typeof p === 'object' && (p as Obj).metadata?.resourceVersion);
}

// ------------------------------------------------------------------ delete

async function deleteOptionsOf(ctx: HandlerContext): Promise<DeleteOpts> {
  const body = await readBody(ctx.req);
  let o: Obj = {};
  if (body.length && body.toString('utf8').trim()) {
    const d = decodeBody(body, ctx.req.headers['content-type']);
    if (d && typeof d === 'object') o = d as Obj;
  }
  const q = ctx.query;
  if (q.has('gracePeriodSeconds')) o.gracePeriodSeconds = Number(q.get('gracePeriodSeconds'));
  if (q.has('propagationPolicy')) o.propagationPolicy = q.get('propagationPolicy');
  if (q.has('orphanDependents')) o.orphanDependents = q.get('orphanDependents') === 'true';
  if (Array.isArray(o.dryRun) && o.dryRun.length) ctx.query.append('dryRun', String(o.dryRun[0]));
  if (o.propagationPolicy && !['Orphan', 'Background', 'Foreground'].includes(o.propagationPolicy)) {
    throw errors.invalid('DeleteOptions', 'meta.k8s.io', '', [{ type: 'NotSupported', field: 'propagationPolicy', value: o.propagationPolicy, allowed: ['Foreground', 'Background', 'Orphan', 'nil'] }]);
  }
  if (o.orphanDependents !== undefined && o.propagationPolicy) {
    throw errors.invalid('DeleteOptions', 'meta.k8s.io', '', [{ type: 'Invalid', field: 'propagationPolicy', value: o.propagationPolicy, detail: 'orphanDependents and deletionPropagation cannot be both set' }]);
  }
  if (o.gracePeriodSeconds !== undefined && (!Number.isInteger(o.gracePeriodSeconds) || o.gracePeriodSeconds < 0)) {
    if (o.gracePeriodSeconds < 0) o.gracePeriodSeconds = 1; // upstream: negative means "immediately-ish" (1 s)
    else throw errors.badRequest(`gracePeriodSeconds: Invalid value: ${o.gracePeriodSeconds}`);
  }
  const warning = ctx.store.strategy.defaultPropagationWarning;
  if (warning && !o.propagationPolicy && o.orphanDependents === undefined) ctx.warnings.push(warning);
  return o as DeleteOpts;
}

async function del(ctx: HandlerContext): Promise<void> {
  const { info, store } = ctx;
  const opts = await deleteOptionsOf(ctx);
  const r = await store.delete(info.namespace, info.name, opts, strategyCtx(ctx));
  if (r.deleted && !store.strategy.returnDeletedObject) {
    writeObject(ctx, 200, undefined, successStatus({
      name: info.name, ...(store.info.group ? { group: store.info.group } : {}), kind: store.info.resource, uid: r.obj.metadata?.uid,
    }) as Obj);
    return;
  }
  const code = !r.deleted && opts.propagationPolicy === 'Foreground' ? 202 : 200;
  writeObject(ctx, code, undefined, r.obj);
}

async function deleteCollection(ctx: HandlerContext): Promise<void> {
  const { info, store } = ctx;
  const opts = await deleteOptionsOf(ctx);
  const filter = compileSelectors(store.info, ctx.query.get('labelSelector'), ctx.query.get('fieldSelector'));
  const listed = await store.list(info.namespace, { filter });
  const sctx = strategyCtx(ctx);
  const deleted: Obj[] = [];
  for (const raw of listed.raws) {
    const o = JSON.parse(raw) as Obj;
    try {
      const r = await store.delete(o.metadata?.namespace ?? '', o.metadata!.name, opts, sctx);
      deleted.push(r.obj);
    } catch (e) {
      if (!isStatusError(e, 'NotFound')) throw e;
    }
  }
  await writeList(ctx, deleted.map((o) => JSON.stringify(o)), { resourceVersion: String(listed.revision) });
}

// ------------------------------------------------------------------ subresources

function scaleOf(o: Obj): Obj {
  let selector = '';
  try { selector = labelSelectorFromObject(o.spec?.selector).toString(); } catch { selector = ''; }
  return {
    kind: 'Scale', apiVersion: 'autoscaling/v1',
    metadata: {
      name: o.metadata?.name, namespace: o.metadata?.namespace, uid: o.metadata?.uid,
      resourceVersion: o.metadata?.resourceVersion, creationTimestamp: o.metadata?.creationTimestamp,
    },
    spec: { replicas: o.spec?.replicas ?? 0 },
    status: { replicas: o.status?.replicas ?? 0, selector },
  };
}

async function scale(ctx: HandlerContext): Promise<void> {
  const { info, store } = ctx;
  if (ctx.info.verb === 'get') {
    writeObject(ctx, 200, undefined, scaleOf(await store.get(info.namespace, info.name)));
    return;
  }
  if (ctx.info.verb !== 'update' && ctx.info.verb !== 'patch') throw errors.methodNotSupported({ group: info.group, resource: `${info.resource}/scale` }, ctx.info.verb);
  const ct = String(ctx.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const body = await readBody(ctx.req);
  const sctx = strategyCtx(ctx, '');
  const manager = fieldManagerOf(ctx, ct === 'application/apply-patch+yaml');
  const r = await store.update(info.namespace, info.name, sctx, (cur) => {
    if (!cur) throw errors.notFound(store.ref(info.name));
    const before = scaleOf(cur);
    let s: Obj;
    if (ctx.info.verb === 'update') {
      s = decodeBody(body, ct) as Obj;
      if (s?.metadata?.resourceVersion && s.metadata.resourceVersion !== cur.metadata?.resourceVersion) {
        throw errors.conflict(store.ref(info.name), 'the object has been modified; please apply your changes to the latest version and try again');
      }
    } else {
      const p = ct === 'application/apply-patch+yaml' ? decodeBody(body, 'application/yaml') : JSON.parse(body.toString('utf8'));
      if (ct === 'application/json-patch+json') s = applyJsonPatch(before, p) as Obj;
      else s = applyMergePatch(before, p) as Obj;
    }
    const replicas = s?.spec?.replicas;
    if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 0)) {
      throw errors.invalid('Scale', 'autoscaling', info.name, [{ type: 'Invalid', field: 'spec.replicas', value: replicas, detail: 'must be greater than or equal to 0' }]);
    }
    const next = structuredClone(cur);
    next.spec = { ...(next.spec ?? {}), replicas: replicas ?? 0 };
    delete next.metadata!.resourceVersion;
    recordManagedFields(store.info, next, cur, manager, 'Update', 'scale');
    return next;
  });
  writeObject(ctx, 200, undefined, scaleOf(r.obj));
}

async function binding(ctx: HandlerContext): Promise<void> {
  const { info, store } = ctx;
  const b = await readObject(ctx);
  const target = b.target?.name;
  if (!target) throw errors.invalid('Binding', '', info.name, [{ type: 'Required', field: 'target.name', detail: '' }]);
  if (b.metadata?.name && b.metadata.name !== info.name) {
    throw errors.badRequest(`the name of the object (${b.metadata.name}) does not match the name on the URL (${info.name})`);
  }
  await store.update(info.namespace, info.name, strategyCtx(ctx, 'binding'), (cur) => {
    if (!cur) throw errors.notFound(store.ref(info.name));
    if (b.metadata?.uid && b.metadata.uid !== cur.metadata?.uid) {
      throw errors.conflict(store.ref(info.name), `Precondition failed: UID in precondition: ${b.metadata.uid}, UID in object meta: ${cur.metadata?.uid}`);
    }
    if (cur.metadata?.deletionTimestamp) throw errors.conflict(store.ref(info.name), 'pod is being deleted, cannot be assigned to a host');
    if (cur.spec?.nodeName) throw errors.conflict(store.ref(info.name), `pod ${info.name} is already assigned to node "${cur.spec.nodeName}"`);
    const next = cur; // the store's own copy, for this write only
    next.spec.nodeName = target;
    const conds: Obj[] = (next.status ??= {}).conditions ??= [];
    const c = { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: nowRFC3339() };
    const i = conds.findIndex((x) => x.type === 'PodScheduled');
    if (i >= 0) conds[i] = c; else conds.push(c);
    if (b.metadata?.annotations) next.metadata!.annotations = { ...(next.metadata!.annotations ?? {}), ...b.metadata.annotations };
    delete next.metadata!.resourceVersion;
    return next;
  });
  writeObject(ctx, 201, undefined, successStatus(undefined) as Obj);
}

async function eviction(ctx: HandlerContext): Promise<void> {
  const { info, store } = ctx;
  const ev = await readObject(ctx);
  const opts: DeleteOpts = ev.deleteOptions ?? {};
  // Admission sees the subresource (NodeRestriction: a node evicts only pods it runs).
  await store.delete(info.namespace, info.name, opts, strategyCtx(ctx, 'eviction'));
  writeObject(ctx, 201, undefined, successStatus(undefined) as Obj);
}

async function finalize(ctx: HandlerContext): Promise<void> {
  const { info, store } = ctx;
  const obj = await readObject(ctx);
  const sctx = strategyCtx(ctx, 'finalize');
  const r = await store.update('', info.name, sctx, (cur) => {
    if (!cur) throw errors.notFound(store.ref(info.name));
    if (obj.metadata?.resourceVersion && obj.metadata.resourceVersion !== cur.metadata?.resourceVersion) {
      throw errors.conflict(store.ref(info.name), 'the object has been modified; please apply your changes to the latest version and try again');
    }
    const next = structuredClone(cur);
    next.spec = { ...(next.spec ?? {}), finalizers: obj.spec?.finalizers ?? [] };
    if (!next.spec.finalizers.length) delete next.spec.finalizers;
    delete next.metadata!.resourceVersion;
    return next;
  });
  writeObject(ctx, 200, r.raw, r.obj);
}

// ------------------------------------------------------------------ dispatch

export async function handleResource(ctx: HandlerContext): Promise<void> {
  const { info } = ctx;
  const sub = info.subresource;
  const ref = { group: info.group, resource: sub ? `${info.resource}/${sub}` : info.resource };
  if (sub) {
    if (!ctx.store.info.subresources.includes(sub)) throw errors.notFound({ group: info.group, resource: info.resource, name: info.name });
    switch (sub) {
      case 'status':
        if (info.verb === 'get') return get(ctx);
        if (info.verb === 'update') return update(ctx);
        if (info.verb === 'patch') return patch(ctx);
        break;
      case 'scale': return scale(ctx);
      case 'binding': if (info.verb === 'create') return binding(ctx); break;
      case 'eviction': if (info.verb === 'create') return eviction(ctx); break;
      case 'finalize': if (info.verb === 'update') return finalize(ctx); break;
      case 'token': if (info.verb === 'create') return tokenRequest(ctx); break;
      default:
        throw errors.methodNotSupported(ref, info.verb);
    }
    throw errors.methodNotSupported(ref, info.verb);
  }
  switch (info.verb) {
    case 'get': return get(ctx);
    case 'list': return list(ctx);
    case 'watch': return serveWatch(ctx);
    case 'create': if (info.name) break; return create(ctx);
    case 'update': return update(ctx);
    case 'patch': return patch(ctx);
    case 'delete': return del(ctx);
    case 'deletecollection': return deleteCollection(ctx);
  }
  throw errors.methodNotSupported(ref, info.verb);
}
