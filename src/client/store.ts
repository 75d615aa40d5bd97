// The informer's local cache: objects by key plus inverted indexes
// (client-go's thread-safe store + indexers). Objects are shared, never copied:
// callers must not mutate what they get from it.
import type { IndexFunc, KubeObject, Store } from './types.js';
import { objectKey } from './types.js';

export type Delta<T> =
  | { type: 'add'; obj: T }
  | { type: 'update'; old: T; obj: T }
  | { type: 'delete'; obj: T };

export class IndexedStore<T extends KubeObject> implements Store<T> {
  private readonly items = new Map<string, T>();
  private readonly indexers = new Map<string, IndexFunc<T>>();
  /** index name -> index value -> keys */
  private readonly indices = new Map<string, Map<string, Set<string>>>();

  get(key: string): T | undefined { return this.items.get(key); }
  list(): T[] { return [...this.items.values()]; }
  keys(): string[] { return [...this.items.keys()]; }
  get size(): number { return this.items.size; }

  byIndex(indexName: string, value: string): T[] {
    const idx = this.indices.get(indexName);
    if (!idx) {
      if (!this.indexers.has(indexName)) throw new Error(`index "${indexName}" does not exist`);
      return [];
    }
    const keys = idx.get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const k of keys) {
      const o = this.items.get(k);
      if (o) out.push(o);
    }
    return out;
  }

  /** Keys indexed under `value` (cheaper than byIndex when only keys are needed). */
  indexKeys(indexName: string, value: string): string[] {
    return [...(this.indices.get(indexName)?.get(value) ?? [])];
  }

  hasIndexer(name: string): boolean { return this.indexers.has(name); }

  addIndexer(name: string, fn: IndexFunc<T>): void {
    if (this.indexers.has(name)) throw new Error(`indexer "${name}" already exists`);
    this.indexers.set(name, fn);
    const idx = new Map<string, Set<string>>();
    this.indices.set(name, idx);
    for (const [k, o] of this.items) this.indexOne(idx, fn, k, o);
  }

  set(obj: T): T | undefined {
    const key = objectKey(obj);
    const old = this.items.get(key);
    this.items.set(key, obj);
    for (const [name, fn] of this.indexers) {
      const idx = this.indices.get(name)!;
      const vals = fn(obj);
      if (old) {
        // Most updates (status writes) leave the indexed values as they were: touch nothing
        // then, as client-go's updateIndices.
        const oldVals = fn(old);
        if (sameValues(oldVals, vals)) continue;
        this.unindexValues(idx, key, oldVals);
      }
      this.indexValues(idx, key, vals);
    }
    return old;
  }

  delete(key: string): T | undefined {
    const old = this.items.get(key);
    if (!old) return undefined;
    this.unindex(key, old);
    this.items.delete(key);
    return old;
  }

  /**
   * Replace the whole content with a fresh list (after a relist) and return the
   * differences, so that handlers hear about objects that changed or vanished while
   * the watch was down. Same key with another uid means deleted and recreated.
   */
  replace(fresh: T[]): Delta<T>[] {
    const deltas: Delta<T>[] = [];
    const seen = new Set<string>();
    for (const obj of fresh) {
      const key = objectKey(obj);
      seen.add(key);
      const old = this.items.get(key);
      if (!old) deltas.push({ type: 'add', obj });
      else if (old.metadata?.uid && obj.metadata?.uid && old.metadata.uid !== obj.metadata.uid) {
        deltas.push({ type: 'delete', obj: old }, { type: 'add', obj });
      } else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
        deltas.push({ type: 'update', old, obj });
      }
    }
    for (const [key, old] of this.items) if (!seen.has(key)) deltas.push({ type: 'delete', obj: old });
    for (const d of deltas) {
      if (d.type === 'delete') this.delete(objectKey(d.obj));
      else this.set(d.obj);
    }
    return deltas;
  }

  private indexOne(idx: Map<string, Set<string>>, fn: IndexFunc<T>, key: string, obj: T): void {
    this.indexValues(idx, key, fn(obj));
  }

  private indexValues(idx: Map<string, Set<string>>, key: string, vals: string[]): void {
    for (const v of vals) {
      let s = idx.get(v);
      if (!s) idx.set(v, (s = new Set()));
      s.add(key);
    }
  }

  private unindexValues(idx: Map<string, Set<string>>, key: string, vals: string[]): void {
    for (const v of vals) {
      const s = idx.get(v);
      if (!s) continue;
      s.delete(key);
      if (s.size === 0) idx.delete(v);
    }
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) this.unindexValues(this.indices.get(name)!, key, fn(obj));
  }
}

function sameValues(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
