// User impersonation (kubectl --as/--as-group/--as-uid; upstream
// k8s.io/apiserver/pkg/endpoints/filters/impersonation.go): the caller must be allowed
// to `impersonate` each requested user, service account, group, uid and extra value;
// the request then runs as that user.
import type { IncomingMessage } from 'node:http';
import { errors } from '../api/errors.js';
import { authorize, forbiddenMessage, type Attributes, type Authorizer, type UserInfo } from './auth.js';

const SA_PREFIX = 'system:serviceaccount:';

function headerValues(req: IncomingMessage, name: string): string[] {
  const v = req.headers[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** The impersonated user, or the caller when no Impersonate-* header is present. */
export async function impersonate(req: IncomingMessage, user: UserInfo, authorizers: Authorizer[]): Promise<UserInfo> {
  const names = headerValues(req, 'impersonate-user');
  const groups = headerValues(req, 'impersonate-group');
  const uids = headerValues(req, 'impersonate-uid');
  const extraHeaders = Object.keys(req.headers).filter((h) => h.startsWith('impersonate-extra-'));
  if (!names.length && !groups.length && !uids.length && !extraHeaders.length) return user;
  if (names.length !== 1) throw errors.badRequest('requested impersonation of groups, uid or extra without impersonating a user');
  if (uids.length > 1) throw errors.badRequest('only one uid may be impersonated');
  const name = names[0]!;
  const checks: Attributes[] = [];
  const res = (resource: string, resName: string, o: { group?: string; namespace?: string; subresource?: string } = {}): Attributes =>
    ({ isResourceRequest: true, verb: 'impersonate', group: o.group ?? '', resource, subresource: o.subresource ?? '', namespace: o.namespace ?? '', name: resName });
  const saGroups: string[] = [];
  if (name.startsWith(SA_PREFIX) && name.split(':').length === 4) {
    const [, , ns, sa] = name.split(':') as [string, string, string, string];
    checks.push(res('serviceaccounts', sa, { namespace: ns }));
    if (!groups.length) saGroups.push('system:serviceaccounts', `system:serviceaccounts:${ns}`);
  } else {
    checks.push(res('users', name));
  }
  for (const g of groups) checks.push(res('groups', g));
  for (const u of uids) checks.push(res('uids', u, { group: 'authentication.k8s.io' }));
  const extra: Record<string, string[]> = {};
  for (const h of extraHeaders) {
    const key = decodeURIComponent(h.slice('impersonate-extra-'.length)).toLowerCase();
    for (const v of headerValues(req, h)) {
      checks.push(res('userextras', v, { group: 'authentication.k8s.io', subresource: key }));
      (extra[key] ??= []).push(v);
    }
  }
  for (const a of checks) {
    const d = await authorize(authorizers, user, a);
    if (!d.allowed) throw errors.forbidden(forbiddenMessage(user, a, d.reason), a.isResourceRequest ? { group: a.group, resource: a.resource, name: a.name } : undefined);
  }
  const all = [...groups, ...saGroups];
  // Everyone impersonated is authenticated, except the anonymous user.
  if (name === 'system:anonymous') { if (!all.includes('system:unauthenticated')) all.push('system:unauthenticated'); }
  else if (!all.includes('system:authenticated')) all.push('system:authenticated');
  return { name, groups: all, ...(uids[0] ? { uid: uids[0] } : {}), ...(extraHeaders.length ? { extra } : {}) };
}
