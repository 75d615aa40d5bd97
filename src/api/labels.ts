// Label selectors, as k8s.io/apimachinery/pkg/labels: the string syntax of
// `?labelSelector=` / `kubectl -l`, and the structured meta/v1 LabelSelector that
// Deployments, ReplicaSets and Services carry. Parse errors use upstream's wording
// because kubectl prints them as the server sends them.
import type { LabelSelector as MetaLabelSelector } from 'kubernetes-types/meta/v1.js';
import { errors, fieldErrorDetail, type FieldError } from './errors.js';
import { isQualifiedName, isValidLabelValue } from './validation/names.js';

export type LabelOperator = 'in' | 'notin' | '=' | '==' | '!=' | 'exists' | '!' | 'gt' | 'lt';

export interface Requirement {
  key: string;
  operator: LabelOperator;
  /** Sorted and de-duplicated, as upstream's string set. */
  values: string[];
}

export interface LabelSelector {
  matches(labels?: Record<string, string>): boolean;
  /** True for the selector that selects everything (no requirements). */
  empty(): boolean;
  toString(): string;
  /** The requirements, sorted by key; empty for everything and for nothing. */
  readonly requirements: readonly Requirement[];
  /** If the selector pins `key` to one value (`key=v`, `key in (v)`), that value. */
  exactValue?(key: string): string | undefined;
}

class ParseError extends Error {}

function fieldErrorString(e: FieldError): string { return `${e.field}: ${fieldErrorDetail(e)}`; }

/** Aggregate of field errors, printed as upstream's utilerrors aggregate. */
function aggregate(errs: FieldError[]): string {
  const msgs = [...new Set(errs.map(fieldErrorString))];
  return msgs.length === 1 ? msgs[0]! : `[${msgs.join(', ')}]`;
}

function keyError(key: string, field: string): FieldError | undefined {
  const msgs = isQualifiedName(key);
  return msgs.length ? { type: 'Invalid', field, value: key, detail: msgs.join('; ') } : undefined;
}

/**
 * upstream NewRequirement: validates key, value count for the operator, and every
 * value. `path` is the field path prefix ('' = none, which upstream prints as
 * nothing for children: "key", "values[0][k]").
 */
export function newRequirement(key: string, operator: LabelOperator, values: string[], path = ''): Requirement {
  const errs: FieldError[] = [];
  const p = (s: string): string => (path ? `${path}.${s}` : s);
  const ke = keyError(key, p('key'));
  if (ke) errs.push(ke);
  const valuePath = p('values');
  switch (operator) {
    case 'in': case 'notin':
      if (values.length === 0) errs.push({ type: 'Invalid', field: valuePath, value: values, detail: "for 'in', 'notin' operators, values set can't be empty" });
      break;
    case '=': case '==': case '!=':
      if (values.length !== 1) errs.push({ type: 'Invalid', field: valuePath, value: values, detail: 'exact-match compatibility requires one single value' });
      break;
    case 'exists': case '!':
      if (values.length !== 0) errs.push({ type: 'Invalid', field: valuePath, value: values, detail: 'values set must be empty for exists and does not exist' });
      break;
    case 'gt': case 'lt':
      if (values.length !== 1) errs.push({ type: 'Invalid', field: valuePath, value: values, detail: "for 'Gt', 'Lt' operators, exactly one value is required" });
      values.forEach((v, i) => {
        if (!/^[+-]?\d+$/.test(v) || !fitsInt64(v)) errs.push({ type: 'Invalid', field: `${valuePath}[${i}]`, value: v, detail: "for 'Gt', 'Lt' operators, the value must be an integer" });
      });
      break;
    default:
      errs.push({ type: 'NotSupported', field: p('operator'), value: operator, allowed: ['in', 'notin', '=', '==', '!=', 'gt', 'lt', 'exists', '!'] });
  }
  values.forEach((v, i) => {
    const msgs = isValidLabelValue(v);
    if (msgs.length) errs.push({ type: 'Invalid', field: `${valuePath}[${i}][${key}]`, value: v, detail: msgs.join('; ') });
  });
  if (errs.length) throw new ParseError(aggregate(errs));
  return { key, operator, values: [...new Set(values)].sort() };
}

function fitsInt64(v: string): boolean {
  try { const n = BigInt(v); return n >= -(2n ** 63n) && n < 2n ** 63n; } catch { return false; }
}

function matchesRequirement(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const val = has ? labels[r.key]! : undefined;
  switch (r.operator) {
    case 'in': case '=': case '==':
      return has && r.values.includes(val!);
    case 'notin': case '!=':
      return !has || !r.values.includes(val!);
    case 'exists': return has;
    case '!': return !has;
    case 'gt': case 'lt': {
      if (!has || !/^[+-]?\d+$/.test(val!) || !fitsInt64(val!)) return false;
      if (r.values.length !== 1) return false;
      const a = BigInt(val!), b = BigInt(r.values[0]!);
      return r.operator === 'gt' ? a > b : a < b;
    }
  }
}

function requirementString(r: Requirement): string {
  const vals = r.values;
  switch (r.operator) {
    case 'exists': return r.key;
    case '!': return `!${r.key}`;
    case '=': return `${r.key}=${vals[0] ?? ''}`;
    case '==': return `${r.key}==${vals[0] ?? ''}`;
    case '!=': return `${r.key}!=${vals[0] ?? ''}`;
    case 'in': return `${r.key} in (${vals.join(',')})`;
    case 'notin': return `${r.key} notin (${vals.join(',')})`;
    case 'gt': return `${r.key}>${vals[0] ?? ''}`;
    case 'lt': return `${r.key}<${vals[0] ?? ''}`;
  }
}

class RequirementsSelector implements LabelSelector {
  readonly requirements: readonly Requirement[];
  constructor(reqs: Requirement[]) {
    // Stable sort by key, as upstream sorts for deterministic output.
    this.requirements = [...reqs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
  matches(labels?: Record<string, string>): boolean {
    const l = labels ?? {};
    return this.requirements.every((r) => matchesRequirement(r, l));
  }
  empty(): boolean { return this.requirements.length === 0; }
  toString(): string { return this.requirements.map(requirementString).join(','); }
  exactValue(key: string): string | undefined {
    for (const r of this.requirements) {
      if (r.key !== key) continue;
      if ((r.operator === '=' || r.operator === '==' || r.operator === 'in') && r.values.length === 1) return r.values[0];
    }
    return undefined;
  }
}

class NothingSelector implements LabelSelector {
  readonly requirements: readonly Requirement[] = [];
  matches(): boolean { return false; }
  empty(): boolean { return false; }
  toString(): string { return ''; }
  exactValue(): string | undefined { return undefined; }
}

/** Selects every object (labels.Everything()). */
export function everything(): LabelSelector { return new RequirementsSelector([]); }
/** Selects no object (labels.Nothing()); what a nil meta/v1 selector means. */
export function nothing(): LabelSelector { return new NothingSelector(); }

/** A selector of `key=value` for every pair (labels.SelectorFromSet), unvalidated. */
export function selectorFromSet(set: Record<string, string> | undefined): LabelSelector {
  return new RequirementsSelector(Object.entries(set ?? {}).map(([key, v]) => ({ key, operator: '=', values: [v] })));
}

// ---------------------------------------------------------------- lexer/parser

type Tok = 'id' | 'eos' | 'error' | ')' | ',' | '!' | '==' | '=' | '>' | '<' | '!=' | '(' | 'in' | 'notin';
interface Item { tok: Tok; lit: string }

const symbolTokens: Record<string, Tok> = { ')': ')', ',': ',', '!': '!', '==': '==', '=': '=', '>': '>', '<': '<', '!=': '!=', '(': '(' };
const isWhitespace = (c: string): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isSpecial = (c: string): boolean => '=!(),><'.includes(c);

function lex(s: string): Item[] {
  const items: Item[] = [];
  let pos = 0;
  for (;;) {
    while (pos < s.length && isWhitespace(s[pos]!)) pos++;
    if (pos >= s.length) { items.push({ tok: 'eos', lit: '' }); return items; }
    if (isSpecial(s[pos]!)) {
      // Longest run of symbol characters that still forms a known symbol.
      let buf = '';
      let last: Item | undefined;
      while (pos < s.length && isSpecial(s[pos]!)) {
        buf += s[pos]!;
        const t = symbolTokens[buf];
        if (t) { last = { tok: t, lit: buf }; pos++; }
        else if (last) break;
        else pos++;
      }
      if (!last) { items.push({ tok: 'error', lit: `error expected: keyword found '${buf}'` }); return items; }
      items.push(last);
    } else {
      let buf = '';
      while (pos < s.length && !isSpecial(s[pos]!) && !isWhitespace(s[pos]!)) buf += s[pos++]!;
      items.push({ tok: buf === 'in' ? 'in' : buf === 'notin' ? 'notin' : 'id', lit: buf });
    }
  }
}

class Parser {
  private pos = 0;
  constructor(private readonly items: Item[]) {}
  // In the Values context the keywords `in`/`notin` are plain identifiers.
  lookahead(values: boolean): Item {
    const it = this.items[Math.min(this.pos, this.items.length - 1)]!;
    return values && (it.tok === 'in' || it.tok === 'notin') ? { tok: 'id', lit: it.lit } : it;
  }
  consume(values: boolean): Item {
    const it = this.lookahead(values);
    if (this.pos < this.items.length - 1) this.pos++;
    else this.pos = this.items.length; // past the end: keep returning the last (eos/error)
    return it;
  }

  parse(): Requirement[] {
    const reqs: Requirement[] = [];
    for (;;) {
      const { tok, lit } = this.lookahead(true);
      if (tok === 'id' || tok === '!') {
        try { reqs.push(this.parseRequirement()); } catch (e) {
          if (e instanceof ParseError) throw new ParseError(`unable to parse requirement: ${e.message}`);
          throw e;
        }
        const t = this.consume(true);
        if (t.tok === 'eos') return reqs;
        if (t.tok === ',') {
          const t2 = this.lookahead(true);
          if (t2.tok !== 'id' && t2.tok !== '!') throw new ParseError(`found '${t2.lit}', expected: identifier after ','`);
        } else {
          throw new ParseError(`found '${t.lit}', expected: ',' or 'end of string'`);
        }
      } else if (tok === 'eos') {
        return reqs;
      } else {
        throw new ParseError(`found '${lit}', expected: !, identifier, or 'end of string'`);
      }
    }
  }

  private parseRequirement(): Requirement {
    let op: LabelOperator | undefined;
    let t = this.consume(true);
    if (t.tok === '!') { op = '!'; t = this.consume(true); }
    if (t.tok !== 'id') throw new ParseError(`found '${t.lit}', expected: identifier`);
    const key = t.lit;
    const ke = keyError(key, '<nil>'); // upstream validates with a nil path here
    if (ke) throw new ParseError(fieldErrorString(ke));
    const next = this.lookahead(true).tok;
    if (next === 'eos' || next === ',') { if (op !== '!') op = 'exists'; }
    if (op === 'exists' || op === '!') return newRequirement(key, op, []);

    const o = this.consume(false);
    const ops: Partial<Record<Tok, LabelOperator>> = { 'in': 'in', '=': '=', '==': '==', '>': 'gt', '<': 'lt', 'notin': 'notin', '!=': '!=' };
    op = ops[o.tok];
    if (!op) throw new ParseError(`found '${o.lit}', expected: in, notin, =, ==, !=, gt, lt`);
    const values = op === 'in' || op === 'notin' ? this.parseValues() : this.parseExactValue();
    return newRequirement(key, op, [...values].sort());
  }

  private parseValues(): Set<string> {
    const t = this.consume(true);
    if (t.tok !== '(') throw new ParseError(`found '${t.lit}' expected: '('`);
    const la = this.lookahead(true);
    if (la.tok === 'id' || la.tok === ',') {
      const s = this.parseIdentifiersList();
      if (this.consume(true).tok !== ')') throw new ParseError(`found '${la.lit}', expected: ')'`);
      return s;
    }
    if (la.tok === ')') { this.consume(true); return new Set(['']); }
    throw new ParseError(`found '${la.lit}', expected: ',', ')' or identifier`);
  }

  private parseIdentifiersList(): Set<string> {
    const s = new Set<string>();
    for (;;) {
      const t = this.consume(true);
      if (t.tok === 'id') {
        s.add(t.lit);
        const t2 = this.lookahead(true);
        if (t2.tok === ',') continue;
        if (t2.tok === ')') return s;
        throw new ParseError(`found '${t2.lit}', expected: ',' or ')'`);
      } else if (t.tok === ',') {
        // "(,", ",)" and ",," each stand for an empty value.
        if (s.size === 0) s.add('');
        const t2 = this.lookahead(true);
        if (t2.tok === ')') { s.add(''); return s; }
        if (t2.tok === ',') s.add('');
      } else {
        throw new ParseError(`found '${t.lit}', expected: ',', or identifier`);
      }
    }
  }

  private parseExactValue(): Set<string> {
    const la = this.lookahead(true);
    if (la.tok === 'eos' || la.tok === ',') return new Set(['']);
    const t = this.consume(true);
    if (t.tok === 'id') return new Set([t.lit]);
    throw new ParseError(`found '${t.lit}', expected: identifier`);
  }
}

/** Parse the selector string syntax (labels.Parse); throws a 400 BadRequest StatusError. */
export function parseLabelSelector(s: string): LabelSelector {
  try {
    return new RequirementsSelector(new Parser(lex(s)).parse());
  } catch (e) {
    if (e instanceof ParseError) throw errors.badRequest(e.message);
    throw e;
  }
}

/** As parseLabelSelector, but returns the error message instead of throwing. */
export function tryParseLabelSelector(s: string): LabelSelector | string {
  try { return new RequirementsSelector(new Parser(lex(s)).parse()); } catch (e) {
    if (e instanceof ParseError) return e.message;
    throw e;
  }
}

/**
 * metav1.LabelSelectorAsSelector: undefined/null selects nothing, `{}` selects
 * everything. Invalid keys, values or operators throw a 400 BadRequest.
 */
export function labelSelectorFromObject(sel?: MetaLabelSelector | null): LabelSelector {
  if (sel === undefined || sel === null) return nothing();
  const ml = sel.matchLabels ?? {};
  const me = sel.matchExpressions ?? [];
  if (Object.keys(ml).length + me.length === 0) return everything();
  try {
    const reqs: Requirement[] = [];
    for (const [k, v] of Object.entries(ml)) reqs.push(newRequirement(k, '=', [v]));
    for (const expr of me) {
      const ops: Record<string, LabelOperator> = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' };
      const op = ops[expr.operator];
      if (!op) throw new ParseError(`${JSON.stringify(expr.operator)} is not a valid label selector operator`);
      reqs.push(newRequirement(expr.key, op, [...(expr.values ?? [])]));
    }
    return new RequirementsSelector(reqs);
  } catch (e) {
    if (e instanceof ParseError) throw errors.badRequest(e.message);
    throw e;
  }
}
