// Turns a request path and method into upstream's RequestInfo (k8s.io/apiserver
// pkg/endpoints/request): verb, group, version, namespace, resource, name, subresource.
// Authorization and routing both read it.
import { parseFieldSelector } from '../api/fields.js';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection' | 'connect';

export interface ResourceRequestInfo {
  isResourceRequest: true;
  path: string;
  verb: Verb;
  /** 'api' or 'apis'. */
  prefix: 'api' | 'apis';
  group: string;
  version: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
}

export interface NonResourceRequestInfo {
  isResourceRequest: false;
  path: string;
  /** Lowercase HTTP method: get, post, ... */
  verb: string;
}

export type RequestInfo = ResourceRequestInfo | NonResourceRequestInfo;

// Subresources of a namespace that must not be read as a resource name.
const namespaceSubresources = new Set(['status', 'finalize']);

export function parseRequestInfo(method: string, path: string, query: URLSearchParams): RequestInfo {
  const nonResource: NonResourceRequestInfo = { isResourceRequest: false, path, verb: method.toLowerCase() };
  const parts = path.split('/').filter((p) => p !== '').map(decodeURIComponent);
  if (parts.length === 0) return nonResource;
  let rest: string[];
  let group = '', version = '';
  const prefix = parts[0];
  if (prefix === 'api') {
    if (parts.length < 3) return nonResource; // /api, /api/v1 are discovery
    version = parts[1]!;
    rest = parts.slice(2);
  } else if (prefix === 'apis') {
    if (parts.length < 4) return nonResource; // /apis, /apis/g, /apis/g/v
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  } else {
    return nonResource;
  }
  let watchPath = false;
  if (rest[0] === 'watch') { watchPath = true; rest = rest.slice(1); }
  let namespace = '';
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1]!;
    if (rest.length > 2 && !namespaceSubresources.has(rest[2]!)) rest = rest.slice(2);
  }
  const resource = rest[0] ?? '';
  const name = rest[1] ?? '';
  const subresource = rest[2] ?? '';
  if (rest.length > 3) return nonResource;
  if (!resource) return nonResource;
  let verb: Verb;
  switch (method) {
    case 'GET': case 'HEAD': {
      const w = query.get('watch');
      const isWatch = watchPath || w === 'true' || w === '1';
      verb = isWatch ? 'watch' : name ? 'get' : 'list';
      break;
    }
    case 'POST': verb = 'create'; break;
    case 'PUT': verb = 'update'; break;
    case 'PATCH': verb = 'patch'; break;
    case 'DELETE': verb = name ? 'delete' : 'deletecollection'; break;
    default: verb = 'connect';
  }
  // /api/v1/namespaces/x is the namespace x itself: its "namespace" is x, as upstream.
  return { isResourceRequest: true, path, verb, prefix, group, version, namespace, resource, subresource, name };
}

/** What the authorizers see of a resource request: its RequestInfo and the field selector of a list or watch. */
export type AuthorizationInfo = RequestInfo & { fieldSelector?: string };

/**
 * A list or watch selecting one object by metadata.name is authorized as a request for
 * that name (upstream RequestInfoFactory, for RBAC resourceNames and the Node
 * authorizer), and carries its field selector. Routing keeps the plain RequestInfo.
 */
export function authorizationInfo(info: RequestInfo, query: URLSearchParams): AuthorizationInfo {
  if (!info.isResourceRequest || (info.verb !== 'list' && info.verb !== 'watch')) return info;
  const fieldSelector = query.get('fieldSelector');
  if (!fieldSelector) return info;
  let name = info.name;
  if (!name) {
    try {
      const n = parseFieldSelector(fieldSelector).exactValue('metadata.name');
      // Only a name that could be a path segment (upstream IsValidPathSegmentName).
      if (n && n !== '.' && n !== '..' && !/[/%]/.test(n)) name = n;
    } catch { /* a bad selector is the list handler's 400 */ }
  }
  return { ...info, name, fieldSelector };
}
