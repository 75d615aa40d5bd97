// Field selectors, as k8s.io/apimachinery/pkg/fields: `a=b,c!=d` over flattened
// field values such as metadata.name or spec.nodeName. Values escape `\`, `,` and
// `=` with a backslash. Which fields a resource supports is the API server's
// business ("field label not supported"); this module only parses and matches.
import { errors } from './errors.js';

export interface FieldRequirement { field: string; op: '=' | '!='; value: string }

export interface FieldSelector {
  /** Sorted as upstream sorts the terms; `==` is normalised to `=`. */
  readonly requirements: readonly FieldRequirement[];
  /** Missing fields compare as the empty string, as upstream's fields.Set. */
  matches(fields: Record<string, string>): boolean;
  /** The value an `f=v` term pins the field to, so the server can use an index. */
  exactValue(field: string): string | undefined;
  empty(): boolean;
  toString(): string;
}

/** Escapes a value for use in a field selector (fields.EscapeValue). */
export function escapeFieldValue(s: string): string {
  return s.replace(/[\\,=]/g, (c) => '\\' + c);
}

class FieldSelectorError extends Error {}

/** fields.UnescapeValue: only `\\`, `\,` and `\=` are valid escapes; bare `,`/`=` are errors. */
export function unescapeFieldValue(s: string): string {
  if (!/[\\,=]/.test(s)) return s;
  let out = '';
  let inSlash = false;
  for (const c of s) {
    if (inSlash) {
      if (c === '\\' || c === ',' || c === '=') out += c;
      else throw new FieldSelectorError(`invalid field selector: invalid escape sequence: \\${c}`);
      inSlash = false;
      continue;
    }
    if (c === '\\') inSlash = true;
    // Upstream formats the rune with %v, which prints its code point.
    else if (c === ',' || c === '=') throw new FieldSelectorError(`invalid field selector: unescaped character in value: ${c.codePointAt(0)}`);
    else out += c;
  }
  if (inSlash) throw new FieldSelectorError('invalid field selector: invalid escape sequence: \\');
  return out;
}

/** Splits on commas that are not escaped. */
function splitTerms(s: string): string[] {
  if (s.length === 0) return [];
  const terms: string[] = [];
  let start = 0;
  let inSlash = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inSlash) inSlash = false;
    else if (c === '\\') inSlash = true;
    else if (c === ',') { terms.push(s.slice(start, i)); start = i + 1; }
  }
  terms.push(s.slice(start));
  return terms;
}

/** The first operator (`!=`, `==`, `=`, tried in that order at each position). */
function splitTerm(term: string): [string, '=' | '==' | '!=', string] | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of ['!=', '==', '='] as const) {
      if (term.startsWith(op, i)) return [term.slice(0, i), op, term.slice(i + op.length)];
    }
  }
  return undefined;
}

class Selector implements FieldSelector {
  constructor(readonly requirements: readonly FieldRequirement[]) {}
  matches(fields: Record<string, string>): boolean {
    return this.requirements.every((r) => {
      const v = fields[r.field] ?? '';
      return r.op === '=' ? v === r.value : v !== r.value;
    });
  }
  exactValue(field: string): string | undefined {
    return this.requirements.find((r) => r.field === field && r.op === '=')?.value;
  }
  empty(): boolean { return this.requirements.length === 0; }
  toString(): string {
    return this.requirements.map((r) => `${r.field}${r.op}${escapeFieldValue(r.value)}`).join(',');
  }
}

function parse(s: string): FieldSelector {
  // Upstream sorts the raw terms before parsing them.
  const parts = splitTerms(s).sort();
  const reqs: FieldRequirement[] = [];
  for (const part of parts) {
    if (part === '') continue;
    const t = splitTerm(part);
    if (!t) throw new FieldSelectorError(`invalid selector: '${s}'; can't understand '${part}'`);
    const [field, op, rhs] = t;
    reqs.push({ field, op: op === '!=' ? '!=' : '=', value: unescapeFieldValue(rhs) });
  }
  return new Selector(reqs);
}

/** Parse `?fieldSelector=`; throws a 400 BadRequest StatusError on bad syntax. */
export function parseFieldSelector(s: string): FieldSelector {
  try { return parse(s); } catch (e) {
    if (e instanceof FieldSelectorError) throw errors.badRequest(e.message);
    throw e;
  }
}

/** A selector of `field=value` terms (fields.SelectorFromSet). */
export function fieldSelectorFromSet(set: Record<string, string>): FieldSelector {
  return new Selector(Object.keys(set).sort().map((field) => ({ field, op: '=' as const, value: set[field]! })));
}

export function everythingFields(): FieldSelector { return new Selector([]); }
