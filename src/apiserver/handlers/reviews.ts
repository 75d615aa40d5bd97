// The create-only reviews (nothing is stored; the answer is the response body):
// authorization.k8s.io/v1 SelfSubjectAccessReview (`kubectl auth can-i`),
// SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectRulesReview
// (`kubectl auth can-i --list`) and authentication.k8s.io/v1 SelfSubjectReview
// (`kubectl auth whoami`), as upstream's pkg/registry/authorization/* REST.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  NonResourceAttributes, ResourceAttributes, SelfSubjectRulesReview, SubjectAccessReview, SubjectAccessReviewSpec,
} from 'kubernetes-types/authorization/v1.js';
import type { PolicyRule } from 'kubernetes-types/rbac/v1.js';
import { errors, type FieldError } from '../../api/errors.js';
import { readBody, decodeBody, writeRaw } from '../http.js';
import { authorize, type Attributes, type Authorizer, type UserInfo } from '../auth.js';
import type { ResourceRequestInfo } from '../request-info.js';
import type { ResourceInfo } from '../../api/resources.js';
import type { PolicyCache } from '../rbac/policy-cache.js';

export interface ReviewDeps {
  authorizers: Authorizer[];
  /** Rules per subject (SelfSubjectRulesReview); absent: every request is allowed and rules are '*'. */
  policy?: PolicyCache;
}

type Body = Record<string, unknown> & { metadata?: Record<string, unknown>; spec?: Record<string, unknown> };

function invalid(r: ResourceInfo, errs: FieldError[]): Error {
  return errors.invalid(r.kind, r.group, '', errs);
}

async function readReview(req: IncomingMessage, r: ResourceInfo): Promise<Body> {
  const body = await readBody(req);
  const obj = decodeBody(body, req.headers['content-type']) as Body | null;
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw errors.badRequest(`the body of a ${r.kind} must be an object`);
  const apiVersion = `${r.group}/${r.version}`;
  if ((obj.kind !== undefined && obj.kind !== r.kind) || (obj.apiVersion !== undefined && obj.apiVersion !== apiVersion)) {
    throw errors.badRequest(`${String(obj.kind)} in version "${String(obj.apiVersion ?? '').split('/').pop()}" cannot be handled as a ${r.kind}`);
  }
  if (obj.spec !== undefined && (obj.spec === null || typeof obj.spec !== 'object' || Array.isArray(obj.spec))) {
    throw errors.badRequest(`${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: spec must be an object`);
  }
  return obj;
}

/** upstream: the metadata of an access review must be empty (creationTimestamp: null is). */
function metadataErrors(obj: Body): FieldError[] {
  const m = obj.metadata ?? {};
  const set = Object.entries(m).filter(([k, v]) => !(k === 'creationTimestamp' && v === null) && v !== undefined);
  return set.length ? [{ type: 'Invalid', field: 'metadata', value: m, detail: 'must be empty' }] : [];
}

function attributesOf(spec: { resourceAttributes?: ResourceAttributes; nonResourceAttributes?: NonResourceAttributes }): Attributes {
  const ra = spec.resourceAttributes;
  if (ra) {
    return {
      isResourceRequest: true, verb: ra.verb ?? '', group: ra.group ?? '', resource: ra.resource ?? '',
      subresource: ra.subresource ?? '', namespace: ra.namespace ?? '', name: ra.name ?? '',
    };
  }
  const na = spec.nonResourceAttributes ?? {};
  return { isResourceRequest: false, verb: na.verb ?? '', path: na.path ?? '' };
}

function specErrors(spec: { resourceAttributes?: unknown; nonResourceAttributes?: unknown }): FieldError[] {
  if (spec.resourceAttributes && spec.nonResourceAttributes) {
    return [{ type: 'Invalid', field: 'spec.nonResourceAttributes', value: spec.nonResourceAttributes, detail: 'cannot be specified in combination with resourceAttributes' }];
  }
  if (!spec.resourceAttributes && !spec.nonResourceAttributes) {
    return [{ type: 'Invalid', field: 'spec.resourceAttributes', value: null, detail: 'exactly one of nonResourceAttributes or resourceAttributes must be specified' }];
  }
  return [];
}

async function accessStatus(deps: ReviewDeps, user: UserInfo, attrs: Attributes): Promise<SubjectAccessReview['status']> {
  const d = await authorize(deps.authorizers, user, attrs);
  return { allowed: d.allowed, ...(d.denied ? { denied: true } : {}), ...(d.reason ? { reason: d.reason } : {}) };
}

function userOfSpec(spec: SubjectAccessReviewSpec): UserInfo {
  return { name: spec.user ?? '', uid: spec.uid, groups: spec.groups ?? [], extra: spec.extra };
}

function respond(res: ServerResponse, r: ResourceInfo, obj: Body, extra: Record<string, unknown>): void {
  const out = { kind: r.kind, apiVersion: `${r.group}/${r.version}`, metadata: { ...(obj.metadata ?? {}), creationTimestamp: null }, ...extra };
  writeRaw(res, 201, JSON.stringify(out), 'application/json');
}

/** ResourceRules and NonResourceRules of a rules review, from the PolicyRules the user holds. */
export function rulesReviewStatus(rules: PolicyRule[], errs: string[]): SelfSubjectRulesReview['status'] {
  const resourceRules = rules.filter((p) => p.resources?.length).map((p) => ({
    verbs: p.verbs, ...(p.apiGroups ? { apiGroups: p.apiGroups } : {}), resources: p.resources, ...(p.resourceNames?.length ? { resourceNames: p.resourceNames } : {}),
  }));
  const nonResourceRules = rules.filter((p) => p.nonResourceURLs?.length).map((p) => ({ verbs: p.verbs, nonResourceURLs: p.nonResourceURLs }));
  return {
    resourceRules, nonResourceRules, incomplete: errs.length > 0,
    ...(errs.length ? { evaluationError: errs.length === 1 ? errs[0] : `[${errs.join(', ')}]` } : {}),
  };
}

export async function handleReview(req: IncomingMessage, res: ServerResponse, r: ResourceInfo, info: ResourceRequestInfo, user: UserInfo, deps: ReviewDeps): Promise<void> {
  if (info.verb !== 'create' || info.name || info.subresource) throw errors.methodNotSupported({ group: r.group, resource: r.resource }, info.verb);
  if (r.namespaced && !info.namespace) throw errors.methodNotSupported({ group: r.group, resource: r.resource }, info.verb);
  const obj = await readReview(req, r);
  const spec = (obj.spec ?? {}) as Record<string, unknown>;
  switch (r.kind) {
    case 'SelfSubjectReview': {
      const userInfo = { username: user.name, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups, ...(user.extra ? { extra: user.extra } : {}) };
      respond(res, r, obj, { status: { userInfo } });
      return;
    }
    case 'SelfSubjectAccessReview': {
      const errs = [...metadataErrors(obj), ...specErrors(spec)];
      if (errs.length) throw invalid(r, errs);
      respond(res, r, obj, { spec, status: await accessStatus(deps, user, attributesOf(spec)) });
      return;
    }
    case 'SubjectAccessReview':
    case 'LocalSubjectAccessReview': {
      const local = r.kind === 'LocalSubjectAccessReview';
      const s = spec as SubjectAccessReviewSpec;
      const errs = [...(local ? [] : metadataErrors(obj)), ...specErrors(s)];
      if (!s.user && !s.groups?.length) errs.push({ type: 'Invalid', field: 'spec.user', value: s.user ?? '', detail: 'at least one of user or group must be specified' });
      if (local && s.nonResourceAttributes) errs.push({ type: 'Invalid', field: 'spec.nonResourceAttributes', value: s.nonResourceAttributes, detail: 'disallowed on this kind of request' });
      if (errs.length) throw invalid(r, errs);
      if (local) {
        const ra = s.resourceAttributes!;
        if (ra.namespace && ra.namespace !== info.namespace) throw errors.badRequest(`spec.resourceAttributes.namespace must match namespace: ${info.namespace}`);
        ra.namespace = info.namespace;
        obj.metadata = { ...(obj.metadata ?? {}), namespace: info.namespace };
      }
      respond(res, r, obj, { spec: s, status: await accessStatus(deps, userOfSpec(s), attributesOf(s)) });
      return;
    }
    case 'SelfSubjectRulesReview': {
      const ns = typeof spec.namespace === 'string' ? spec.namespace : '';
      if (!ns) throw errors.badRequest('no namespace on request');
      const status = deps.policy
        ? (() => { const got = deps.policy.rulesFor(user, ns); return rulesReviewStatus(got.rules, got.errors); })()
        : rulesReviewStatus([{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, { verbs: ['*'], nonResourceURLs: ['*'] }], []);
      respond(res, r, obj, { spec, status });
      return;
    }
  }
  throw errors.methodNotSupported({ group: r.group, resource: r.resource }, info.verb);
}
