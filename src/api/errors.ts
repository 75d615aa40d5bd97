// Kubernetes `Status` errors, shared by the API server (which sends them) and the
// client (which receives them). Reasons, codes and messages follow
// k8s.io/apimachinery/pkg/api/errors so that kubectl prints what it prints upstream.
import type { Status, StatusCause } from 'kubernetes-types/meta/v1.js';

export type StatusReason =
  | 'BadRequest' | 'Unauthorized' | 'Forbidden' | 'NotFound' | 'AlreadyExists' | 'Conflict'
  | 'Gone' | 'Invalid' | 'MethodNotAllowed' | 'NotAcceptable' | 'UnsupportedMediaType'
  | 'RequestEntityTooLarge' | 'TooManyRequests' | 'Timeout' | 'ServerTimeout' | 'Expired'
  | 'InternalError' | 'ServiceUnavailable' | '';

export interface ResourceRef {
  /** API group ('' for core). */
  group: string;
  /** Plural resource name, e.g. 'pods'. */
  resource: string;
  name?: string;
}

export class StatusError extends Error {
  constructor(readonly status: Status) {
    super(status.message ?? status.reason ?? 'error');
    this.name = 'StatusError';
  }
  get code(): number { return this.status.code ?? 500; }
  get reason(): StatusReason { return (this.status.reason ?? '') as StatusReason; }
}

export function isStatusError(e: unknown, reason?: StatusReason): e is StatusError {
  return e instanceof StatusError && (reason === undefined || e.reason === reason);
}

function qualified(ref: ResourceRef): string {
  return ref.group ? `${ref.resource}.${ref.group}` : ref.resource;
}

export function statusError(code: number, reason: StatusReason, message: string, details?: Status['details']): StatusError {
  return new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code });
}

function details(ref: ResourceRef, causes?: StatusCause[]): Status['details'] {
  const d: NonNullable<Status['details']> = { kind: ref.resource };
  if (ref.name !== undefined) d.name = ref.name;
  if (ref.group) d.group = ref.group;
  if (causes?.length) d.causes = causes;
  return d;
}

export const errors = {
  notFound(ref: ResourceRef): StatusError {
    return statusError(404, 'NotFound', `${qualified(ref)} "${ref.name ?? ''}" not found`, details(ref));
  },
  alreadyExists(ref: ResourceRef): StatusError {
    return statusError(409, 'AlreadyExists', `${qualified(ref)} "${ref.name ?? ''}" already exists`, details(ref));
  },
  conflict(ref: ResourceRef, why: string): StatusError {
    return statusError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(ref)} "${ref.name ?? ''}": ${why}`, details(ref));
  },
  /** 422 with one cause per field error; kind is the object's Kind (e.g. "Pod"). */
  invalid(kind: string, group: string, name: string, causes: FieldError[]): StatusError {
    const list = causes.map(fieldErrorText).join(', ');
    // Upstream names the GroupKind: `Deployment.apps "x" is invalid`.
    const gk = group ? `${kind}.${group}` : kind;
    const msg = causes.length === 1
      ? `${gk} "${name}" is invalid: ${list}`
      : `${gk} "${name}" is invalid: [${list}]`;
    return statusError(422, 'Invalid', msg, {
      name, kind, ...(group ? { group } : {}),
      causes: causes.map((c) => ({ reason: causeType(c.type), message: fieldErrorDetail(c), field: c.field })),
    });
  },
  badRequest(message: string): StatusError { return statusError(400, 'BadRequest', message); },
  unauthorized(message = 'Unauthorized'): StatusError { return statusError(401, 'Unauthorized', message); },
  forbidden(message: string, ref?: ResourceRef): StatusError { return statusError(403, 'Forbidden', message, ref && details(ref)); },
  gone(message: string): StatusError { return statusError(410, 'Expired', message); },
  methodNotSupported(ref: ResourceRef, verb: string): StatusError {
    return statusError(405, 'MethodNotAllowed', `${verb} is not supported on resources of kind "${qualified(ref)}"`, details(ref));
  },
  /** A verb the resource does not serve at all (upstream registers no route for it). */
  methodNotAllowed(): StatusError { return statusError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'); },
  unsupportedMediaType(contentType: string): StatusError {
    return statusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got ${contentType})`);
  },
  tooLarge(message: string): StatusError { return statusError(413, 'RequestEntityTooLarge', message); },
  internal(message: string): StatusError { return statusError(500, 'InternalError', `Internal error occurred: ${message}`); },
  unavailable(message: string): StatusError { return statusError(503, 'ServiceUnavailable', message); },
  timeout(message: string): StatusError { return statusError(504, 'Timeout', message); },
};

/** One field error, as k8s.io/apimachinery/pkg/util/validation/field.Error. */
export interface FieldError {
  type: 'Required' | 'Invalid' | 'Duplicate' | 'NotSupported' | 'Forbidden' | 'TooLong' | 'TooMany' | 'NotFound' | 'ValueNotFound' | 'UnknownField' | 'InternalError';
  /** Dotted path, e.g. "spec.containers[0].name". */
  field: string;
  value?: unknown;
  detail?: string;
  /** For NotSupported: the allowed values. */
  allowed?: string[];
}

/** field.ErrorType values as they appear in StatusCause.reason ("FieldValueRequired", ...). */
function causeType(t: FieldError['type']): string {
  if (t === 'InternalError') return 'InternalError';
  if (t === 'ValueNotFound') return 'FieldValueNotFound';
  if (t === 'UnknownField') return 'FieldValueUnknown';
  return `FieldValue${t}`;
}

const typeText: Record<FieldError['type'], string> = {
  Required: 'Required value', Invalid: 'Invalid value', Duplicate: 'Duplicate value',
  NotSupported: 'Unsupported value', Forbidden: 'Forbidden', TooLong: 'Too long',
  TooMany: 'Too many', NotFound: 'Not found', ValueNotFound: 'Not found',
  UnknownField: 'Unknown field', InternalError: 'Internal error',
};

/** The value as Go's field.Error prints it (%q for strings, %#v for string maps and slices). */
function showValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return `[]string{${v.map((x) => JSON.stringify(x)).join(', ')}}`;
  if (typeof v === 'object' && Object.values(v).every((x) => typeof x === 'string')) {
    const keys = Object.keys(v).sort();
    return `map[string]string{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify((v as Record<string, string>)[k])}`).join(', ')}}`;
  }
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The cause's message: what upstream puts in StatusCause.message. */
export function fieldErrorDetail(e: FieldError): string {
  const withValue = e.type === 'Invalid' || e.type === 'Duplicate' || e.type === 'NotSupported' || e.type === 'NotFound';
  let s = typeText[e.type];
  if (withValue && e.value !== undefined) s += `: ${showValue(e.value)}`;
  if (e.type === 'NotSupported' && e.allowed?.length) s += `: supported values: ${e.allowed.map((a) => `"${a}"`).join(', ')}`;
  else if (e.detail) s += `: ${e.detail}`;
  return s;
}

/** "spec.containers[0].name: Required value" as in the aggregate message. */
export function fieldErrorText(e: FieldError): string {
  return `${e.field}: ${fieldErrorDetail(e)}`;
}
