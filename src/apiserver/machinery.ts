// The API machinery the server calls from src/api/ (defaults, validation, tables,
// schema checks, managed fields), behind one small surface so the handlers don't
// care which module provides what.
import type { ResourceInfo } from '../api/resources.js';
import type { FieldError } from '../api/errors.js';
import { checkFields, pruneUnknownFields } from '../api/openapi/fields.js';
import { nameIsDNSSubdomain, nameIsDNSLabel, validateLabels, validateAnnotations } from '../api/validation/names.js';
import type { Obj } from './objects.js';
import { applyDefaults } from '../api/defaults/index.js';
import { toTable } from '../api/tables/index.js';

export function defaults(info: ResourceInfo, obj: Obj): void {
  applyDefaults(info.group, info.version, info.kind, obj);
}

// Kinds whose names must be DNS labels upstream (others: DNS subdomains).
const labelNamed = new Set(['Namespace', 'Service']);

/** metadata checks every kind gets, then the kind's own validation. */
export function validate(info: ResourceInfo, obj: Obj, old?: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const m = obj.metadata ?? {};
  if (!m.name) {
    errs.push({ type: 'Required', field: 'metadata.name', detail: 'name or generateName is required' });
  } else {
    const v = labelNamed.has(info.kind) ? nameIsDNSLabel : nameIsDNSSubdomain;
    for (const msg of v(m.name, false)) errs.push({ type: 'Invalid', field: 'metadata.name', value: m.name, detail: msg });
  }
  errs.push(...validateLabels(m.labels), ...validateAnnotations(m.annotations));
  void old;
  return errs;
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
