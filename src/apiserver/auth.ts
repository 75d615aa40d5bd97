// Authentication and authorization as chains of links. Each authenticator either
// recognises the request (returns a user), rejects it (throws 401) or passes
// (undefined) to the next. Authorizers form upstream's union: the first link that
// allows or denies decides; one with no opinion passes to the next (privileged
// groups, then RBAC: src/apiserver/rbac/).
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import { errors } from '../api/errors.js';
import type { RequestInfo } from './request-info.js';

export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export type Authenticator = (req: IncomingMessage) => UserInfo | undefined | Promise<UserInfo | undefined>;

/**
 * What an authorizer decides on (upstream authorizer.Attributes). A RequestInfo is one;
 * checks the server makes itself (bind, escalate, access reviews) build their own.
 */
export type Attributes =
  | {
    isResourceRequest: true; verb: string; group: string; resource: string; subresource: string; namespace: string; name: string; path?: string;
    /** The request's field selector (list and watch), for authorizers that decide on it (the Node authorizer). */
    fieldSelector?: string;
  }
  | { isResourceRequest: false; verb: string; path: string };

/** allowed; denied: refused outright (no later link asked); neither: no opinion. */
export interface Decision { allowed: boolean; denied?: boolean; reason?: string }
export type Authorizer = (user: UserInfo, attrs: Attributes) => Decision | Promise<Decision>;

export const anonymous: UserInfo = { name: 'system:anonymous', groups: ['system:unauthenticated'] };

function withAuthenticated(u: UserInfo): UserInfo {
  return u.groups.includes('system:authenticated') ? u : { ...u, groups: [...u.groups, 'system:authenticated'] };
}

/** Client certificates verified against the cluster CA (the TLS layer checks the chain): CN → user, O → groups. */
export function x509Authenticator(): Authenticator {
  // The certificate cannot change on a connection: decode it once per socket, not per request.
  const bySocket = new WeakMap<object, UserInfo | null>();
  return (req) => {
    const sock = req.socket as TLSSocket;
    if (typeof sock.getPeerCertificate !== 'function') return undefined;
    const known = bySocket.get(sock);
    if (known !== undefined) return known ?? undefined;
    const u = userOfCert(sock);
    bySocket.set(sock, u ?? null);
    return u;
  };
}

function userOfCert(sock: TLSSocket): UserInfo | undefined {
  const cert = sock.getPeerCertificate();
  if (!cert || !cert.subject) return undefined;
  if (!sock.authorized) throw errors.unauthorized();
  const subj = cert.subject as unknown as Record<string, string | string[] | undefined>;
  const cn = subj.CN;
  const o = subj.O;
  const name = Array.isArray(cn) ? cn[0] : cn;
  if (!name) throw errors.unauthorized();
  const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
  return withAuthenticated({ name, groups });
}

interface TokenEntry { token: Buffer; user: UserInfo }

/**
 * Static bearer tokens, upstream's --token-auth-file format: `token,user,uid,"group1,group2"` per line.
 * The file is re-read when it changes on disk (cheap mtime check at most once a second).
 */
export function tokenFileAuthenticator(path: string): Authenticator & { add(token: string, user: UserInfo): void } {
  let entries: TokenEntry[] = [];
  const added: TokenEntry[] = [];
  let loadedAt = 0;
  async function reload(): Promise<void> {
    if (Date.now() - loadedAt < 1000) return;
    loadedAt = Date.now();
    if (!existsSync(path)) { entries = []; return; }
    const text = await readFile(path, 'utf8');
    entries = [];
    for (const line of text.split('\n')) {
      if (!line.trim() || line.startsWith('#')) continue;
      const m = line.match(/^([^,]+),([^,]+),([^,]*)(?:,"?([^"]*)"?)?/);
      if (!m) continue;
      entries.push({ token: Buffer.from(m[1]!), user: { name: m[2]!, uid: m[3] || undefined, groups: m[4] ? m[4].split(',').filter(Boolean) : [] } });
    }
  }
  const fn = (async (req: IncomingMessage) => {
    const h = req.headers.authorization;
    if (!h || !/^bearer /i.test(h)) return undefined;
    const tok = Buffer.from(h.slice(7).trim());
    await reload();
    for (const e of [...added, ...entries]) {
      if (e.token.length === tok.length && timingSafeEqual(e.token, tok)) return withAuthenticated(e.user);
    }
    throw errors.unauthorized();
  }) as Authenticator & { add(token: string, user: UserInfo): void };
  fn.add = (token, user) => { added.push({ token: Buffer.from(token), user }); };
  return fn;
}

/** Run the chain; the first link that knows the request decides. */
export async function authenticate(chain: Authenticator[], req: IncomingMessage): Promise<UserInfo | undefined> {
  for (const link of chain) {
    const u = await link(req);
    if (u) return u;
  }
  return undefined;
}

/** Every request allowed (tests of other parts, upstream's AlwaysAllow mode). */
export const alwaysAllow: Authorizer = () => ({ allowed: true });

/** upstream's privileged-groups authorizer: members of system:masters may do everything, whatever RBAC holds. */
export const PRIVILEGED_GROUP = 'system:masters';
export const privilegedGroups: Authorizer = (user) => (user.groups.includes(PRIVILEGED_GROUP) ? { allowed: true } : { allowed: false });

/** upstream's union authorizer: the first allow or deny decides; reasons of the links without an opinion are kept. */
export async function authorize(chain: Authorizer[], user: UserInfo, attrs: Attributes): Promise<Decision> {
  let reasons: string[] | undefined;
  for (const link of chain) {
    const d = await link(user, attrs);
    if (d.allowed || d.denied) return d;
    if (d.reason) (reasons ??= []).push(d.reason);
  }
  return reasons ? { allowed: false, reason: reasons.join('\n') } : { allowed: false };
}

/** Upstream's 403 wording for a denied request. */
export function forbiddenMessage(user: UserInfo, info: Attributes | RequestInfo, reason?: string): string {
  if (!info.isResourceRequest) return `forbidden: User "${user.name}" cannot ${info.verb} path "${info.path}"${reason ? `: ${reason}` : ''}`;
  const res = info.group ? `${info.resource}.${info.group}` : info.resource;
  const sub = info.subresource ? `/${info.subresource}` : '';
  const scope = info.namespace ? `in the namespace "${info.namespace}"` : 'at the cluster scope';
  return `${res}${info.name ? ` "${info.name}"` : ''} is forbidden: User "${user.name}" cannot ${info.verb} resource "${info.resource}${sub}" in API group "${info.group}" ${scope}${reason ? `: ${reason}` : ''}`;
}
