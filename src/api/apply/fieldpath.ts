// Field sets as sigs.k8s.io/structured-merge-diff/fieldpath keeps them, and their
// FieldsV1 wire form (managedFields[].fieldsV1). A set is a tree whose edges are
// serialized path elements — `f:name` (field), `k:{"name":"web"}` (map-list item),
// `v:"x"` (set item), `i:0` (index) — and whose nodes may be members ("." on the
// wire when the node also has children).
import { isObject } from '../patch/schema-nav.js';

export class FieldSet {
  member = false;
  readonly children = new Map<string, FieldSet>();

  child(pe: string): FieldSet {
    let c = this.children.get(pe);
    if (!c) { c = new FieldSet(); this.children.set(pe, c); }
    return c;
  }
  get(pe: string): FieldSet | undefined { return this.children.get(pe); }

  insert(path: readonly string[]): void {
    let n: FieldSet = this;
    for (const pe of path) n = n.child(pe);
    n.member = true;
  }
  has(path: readonly string[]): boolean {
    let n: FieldSet | undefined = this;
    for (const pe of path) { n = n.children.get(pe); if (!n) return false; }
    return n.member;
  }
  empty(): boolean {
    if (this.member) return false;
    for (const c of this.children.values()) if (!c.empty()) return false;
    return true;
  }
  /** Drops subtrees without members, in place (what difference() and toJSON() leave out anyway). */
  prune(): this {
    for (const [k, c] of this.children) if (c.prune().empty()) this.children.delete(k);
    return this;
  }
  clone(): FieldSet {
    const s = new FieldSet();
    s.member = this.member;
    for (const [k, c] of this.children) s.children.set(k, c.clone());
    return s;
  }
  union(o: FieldSet): FieldSet {
    const s = this.clone();
    s.member ||= o.member;
    for (const [k, c] of o.children) {
      const mine = s.children.get(k);
      s.children.set(k, mine ? mine.union(c) : c.clone());
    }
    return s;
  }
  difference(o: FieldSet | undefined): FieldSet {
    if (!o) return this.clone();
    const s = new FieldSet();
    s.member = this.member && !o.member;
    for (const [k, c] of this.children) {
      const oc = o.children.get(k);
      const d = oc ? c.difference(oc) : c.clone();
      if (!d.empty()) s.children.set(k, d);
    }
    return s;
  }
  intersection(o: FieldSet): FieldSet {
    const s = new FieldSet();
    s.member = this.member && o.member;
    for (const [k, c] of this.children) {
      const oc = o.children.get(k);
      if (!oc) continue;
      const i = c.intersection(oc);
      if (!i.empty()) s.children.set(k, i);
    }
    return s;
  }
  /** Every member path, parents before children, siblings in SMD order. */
  paths(prefix: string[] = [], out: string[][] = []): string[][] {
    if (this.member && prefix.length) out.push(prefix);
    for (const k of sortedKeys(this.children)) this.children.get(k)!.paths([...prefix, k], out);
    return out;
  }

  /** FieldsV1 JSON object. */
  toJSON(): Record<string, unknown> { return this.emit(false); }
  private emit(includeSelf: boolean): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    const kids = sortedKeys(this.children).filter((k) => !this.children.get(k)!.empty());
    if (includeSelf && this.member && kids.length) o['.'] = {};
    for (const k of kids) {
      const c = this.children.get(k)!;
      o[k] = c.children.size ? c.emit(true) : {};
    }
    return o;
  }

  static fromJSON(v: unknown): FieldSet {
    const s = new FieldSet();
    if (!isObject(v)) return s;
    for (const [k, c] of Object.entries(v)) {
      if (k === '.') { s.member = true; continue; }
      const child = FieldSet.fromJSON(c);
      // A key with no children is a member leaf.
      if (!isObject(c) || Object.keys(c).length === 0) child.member = true;
      s.children.set(k, child);
    }
    return s;
  }
}

// SMD orders fields, then keys, then values, then indexes.
function peRank(pe: string): number {
  switch (pe.charCodeAt(0)) {
    case 102 /* f */: return 0;
    case 107 /* k */: return 1;
    case 118 /* v */: return 2;
    case 105 /* i */: return 3;
    default: return 4;
  }
}
function comparePE(a: string, b: string): number {
  const ra = peRank(a), rb = peRank(b);
  if (ra !== rb) return ra - rb;
  if (a[0] === 'i') return Number(a.slice(2)) - Number(b.slice(2));
  return a < b ? -1 : a > b ? 1 : 0;
}
function sortedKeys(m: Map<string, FieldSet>): string[] {
  const keys = [...m.keys()];
  return keys.length > 1 ? keys.sort(comparePE) : keys;
}

export const fieldPE = (name: string): string => `f:${name}`;

/** A map-list item's element: its key fields, sorted by name, as compact JSON. */
export function keyPE(fields: Record<string, unknown>): string {
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(fields).sort()) o[k] = fields[k];
  return `k:${JSON.stringify(o)}`;
}
export const valuePE = (v: unknown): string => `v:${JSON.stringify(v)}`;
export const indexPE = (i: number): string => `i:${i}`;

/** value.ToString: strings quoted, everything else plain. */
function valueString(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(valueString).join(',')}]`;
  if (isObject(v)) return `{${Object.keys(v).sort().map((k) => `${k}=${valueString(v[k])}`).join(',')}}`;
  return String(v);
}

/** The human form used in conflict messages: `.spec.containers[name="web"].image`. */
export function pathString(path: readonly string[]): string {
  return path.map((pe) => {
    const body = pe.slice(2);
    switch (pe[0]) {
      case 'f': return `.${body}`;
      case 'k': {
        const o = JSON.parse(body) as Record<string, unknown>;
        return `[${Object.keys(o).map((k) => `${k}=${valueString(o[k])}`).join(',')}]`;
      }
      case 'v': return `[=${valueString(JSON.parse(body))}]`;
      case 'i': return `[${body}]`;
      default: return pe;
    }
  }).join('');
}
