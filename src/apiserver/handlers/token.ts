// POST serviceaccounts/{name}/token: a TokenRequest answered with a signed, optionally
// bound service-account token (upstream pkg/registry/core/serviceaccount/storage/token.go).
import type { TokenRequest } from 'kubernetes-types/authentication/v1.js';
import { errors, type FieldError } from '../../api/errors.js';
import { readBody, decodeBody } from '../http.js';
import { nowRFC3339, type Obj } from '../objects.js';
import {
  EXPIRATION_EXTENSION_SECONDS, WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS, type KubernetesClaim, type Ref,
} from '../serviceaccount-token.js';
import { writeObject, type HandlerContext } from './context.js';

const GROUP = 'authentication.k8s.io';
const MIN_EXPIRATION_SECONDS = 600;
const MAX_EXPIRATION_SECONDS = 2 ** 32;

function invalid(name: string, field: string, value: unknown, detail: string): Error {
  const e: FieldError = { type: 'Invalid', field, value, detail };
  return errors.invalid('TokenRequest', GROUP, name, [e]);
}

export async function tokenRequest(ctx: HandlerContext): Promise<void> {
  const { info, registry } = ctx;
  const tokens = ctx.serviceAccountTokens;
  if (!tokens) throw errors.methodNotSupported({ group: '', resource: 'serviceaccounts/token' }, 'create');
  const body = await readBody(ctx.req);
  const req = decodeBody(body, ctx.req.headers['content-type']) as TokenRequest | null;
  if (!req || typeof req !== 'object' || Array.isArray(req)) throw errors.badRequest('the body of a TokenRequest must be an object');
  if ((req.kind !== undefined && req.kind !== 'TokenRequest') || (req.apiVersion !== undefined && req.apiVersion !== `${GROUP}/v1`)) {
    throw errors.badRequest(`${req.kind} in version "${String(req.apiVersion ?? '').split('/').pop()}" cannot be handled as a TokenRequest`);
  }
  const name = info.name, namespace = info.namespace;
  const spec = (req.spec ??= { audiences: [] });
  if (spec.audiences !== undefined && (!Array.isArray(spec.audiences) || spec.audiences.some((a) => typeof a !== 'string'))) {
    throw errors.badRequest('TokenRequest in version "v1" cannot be handled as a TokenRequest: spec.audiences must be a list of strings');
  }
  const exp = spec.expirationSeconds ?? 3600;
  if (!Number.isInteger(exp)) throw errors.badRequest(`TokenRequest in version "v1" cannot be handled as a TokenRequest: spec.expirationSeconds: ${JSON.stringify(exp)} is not an integer`);
  spec.expirationSeconds = exp;
  if (exp < MIN_EXPIRATION_SECONDS) throw invalid('', 'spec.expirationSeconds', exp, 'may not specify a duration less than 10 minutes');
  if (exp > MAX_EXPIRATION_SECONDS) throw invalid('', 'spec.expirationSeconds', exp, 'may not specify a duration larger than 2^32 seconds');
  if (req.metadata?.name && req.metadata.name !== name) throw invalid(name, 'metadata.name', req.metadata.name, 'must match the service account name if specified');
  if (req.metadata?.namespace && req.metadata.namespace !== namespace) throw invalid(name, 'metadata.namespace', req.metadata.namespace, 'must match the service account namespace if specified');
  // No audiences: the API server's own, so the token authenticates against it.
  if (!spec.audiences?.length) spec.audiences = [...tokens.audiences];

  // Admission sees the TokenRequest as a create of serviceaccounts/token (NodeRestriction:
  // a node's tokens must be bound to a pod it runs).
  const admitted = { ...req, metadata: { ...(req.metadata ?? {}), namespace } } as Obj;
  for (const h of registry.admission) await h('CREATE', ctx.store, admitted, undefined, { user: ctx.user, dryRun: false, subresource: 'token' });
  const sa = await ctx.store.get(namespace, name);
  const claim: KubernetesClaim = { namespace, serviceaccount: { name, uid: sa.metadata!.uid } };
  let pod: Obj | undefined;
  const ref = spec.boundObjectRef;
  if (ref) {
    const kind = ref.kind ?? '';
    const group = (ref.apiVersion ?? '').includes('/') ? ref.apiVersion!.split('/')[0] : '';
    let bound: Obj;
    if (group === '' && kind === 'Pod') {
      bound = pod = await registry.store('', 'pods')!.get(namespace, ref.name ?? '');
      if (pod.spec?.serviceAccountName !== name) {
        throw errors.badRequest(`cannot bind token for serviceaccount "${name}" to pod running with different serviceaccount name.`);
      }
      claim.pod = refOf(pod);
      // Upstream's ServiceAccountTokenPodNodeInfo: the pod's node, when it still exists.
      const nodeName = pod.spec?.nodeName as string | undefined;
      if (nodeName) {
        const node = await registry.store('', 'nodes')!.get('', nodeName).catch(() => undefined);
        if (node) claim.node = refOf(node);
      }
    } else if (group === '' && kind === 'Secret') {
      bound = await registry.store('', 'secrets')!.get(namespace, ref.name ?? '');
      claim.secret = refOf(bound);
    } else if (group === '' && kind === 'Node') {
      bound = await registry.store('', 'nodes')!.get('', ref.name ?? '');
      claim.node = refOf(bound);
    } else {
      throw errors.badRequest(`cannot bind token to object of type ${group ? `${group}/` : ''}${ref.apiVersion?.split('/').pop() ?? ''}, Kind=${kind}`);
    }
    if (ref.uid && ref.uid !== bound.metadata?.uid) {
      throw errors.conflict({ group, resource: kind, name: ref.name }, `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`);
    }
  }
  // The kubelet's 3607 s pod-bound tokens are valid for a year and only warn after 3607 s,
  // as upstream's --service-account-extend-token-expiration (default true).
  let lifetime = exp;
  if (pod && exp === WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS && tokens.isKubeAudiences(spec.audiences)) {
    lifetime = EXPIRATION_EXTENSION_SECONDS;
  }
  const now = new Date();
  if (lifetime !== exp) claim.warnafter = Math.floor(now.getTime() / 1000) + exp;
  const { token } = await tokens.sign(claim, spec.audiences, lifetime, now);
  const out: TokenRequest = {
    kind: 'TokenRequest', apiVersion: `${GROUP}/v1`,
    metadata: { ...(req.metadata ?? {}), name, namespace, creationTimestamp: null as unknown as string },
    spec,
    // The requested expiry, also for extended tokens (as upstream).
    status: { token, expirationTimestamp: nowRFC3339(new Date(now.getTime() + exp * 1000)) },
  };
  writeObject(ctx, 201, undefined, out as Obj);
}

function refOf(o: Obj): Ref {
  return { name: o.metadata!.name as string, uid: o.metadata!.uid as string };
}
