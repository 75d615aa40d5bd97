// The API machinery the server calls from src/api/ (defaults, validation, tables,
// schema checks, managed fields), behind one small surface so the handlers don't
// care which module provides what.
import type { ResourceInfo } from '../api/resources.js';
import type { FieldError } from '../api/errors.js';
import { checkFields, pruneUnknownFields } from '../api/openapi/fields.js';
import { validateObject } from '../api/validation/index.js';
import { validateStatusUpdate } from '../api/validation/status.js';
import type { Obj } from './objects.js';
import { applyDefaults } from '../api/defaults/index.js';
import { toTable } from '../api/tables/index.js';

export function defaults(info: ResourceInfo, obj: Obj): void {
  applyDefaults(info.group, info.version, info.kind, obj);
}

/**
 * Upstream's strategy Validate / ValidateUpdate: the whole object on create and on
 * updates through the main endpoint (and /scale, which writes the main object);
 * metadata and status only on /status updates.
 */
export function validate(info: ResourceInfo, obj: Obj, old: Obj | undefined, subresource = ''): FieldError[] {
  if (old && subresource === 'status') return validateStatusUpdate(info.group, info.version, info.kind, obj, old);
  return validateObject(info.group, info.version, info.kind, obj, old);
}

export interface SchemaCheck { unknown: string[]; typeError?: { path: string; message: string } }

export function checkSchema(info: ResourceInfo, obj: Obj): SchemaCheck {
  return checkFields(info.group, info.version, info.kind, obj);
}

export function pruneUnknown(info: ResourceInfo, obj: Obj): void {
  pruneUnknownFields(info.group, info.version, info.kind, obj);
}

/** The Table for kubectl get (per-kind printers from src/api/tables). */
export function toTableOf(info: ResourceInfo, objs: Obj[], now: Date, includeObject: 'None' | 'Metadata' | 'Object'): Obj {
  return toTable(info.group, info.version, info.kind, objs, now, includeObject) as unknown as Obj;
}
