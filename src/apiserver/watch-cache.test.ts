import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openSqliteDatastore } from '../datastore/sqlite.js';
import { CacheEntry, WatchCache } from './watch-cache.js';

const noAttrs = (): { labels: Record<string, string>; fields: Record<string, string> } => ({ labels: {}, fields: {} });

describe('watch cache', () => {
  it('learns it is fresh when only other prefixes were written (progress request), without waiting for the periodic progress', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jotasu-watchcache-'));
    // Periodic progress notifications far apart: only a progress request can answer in time.
    const ds = await openSqliteDatastore(dir, { progressIntervalMs: 60_000 });
    const cache = new WatchCache(ds, '/registry/pods/', noAttrs);
    try {
      await cache.ready();
      await ds.create('/registry/pods/ns/a', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', namespace: 'ns' } }));
      let last = 0;
      for (let i = 0; i < 5; i++) last = (await ds.create(`/registry/configmaps/ns/c${i}`, '{"metadata":{}}')).revision;
      assert.equal(await cache.waitFor(last, 2000), true, `cache at ${cache.revision}, store at ${last}`);
      assert.ok(cache.revision >= last);
      assert.deepEqual(cache.list('').map((e) => e.key), ['/registry/pods/ns/a']);
    } finally {
      cache.close();
      await ds.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hands out the ring\'s events after a revision, and none once the ring no longer holds them all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jotasu-watchcache-'));
    const ds = await openSqliteDatastore(dir);
    const cache = new WatchCache(ds, '/registry/configmaps/', noAttrs, 8);
    try {
      await cache.ready();
      const revs: number[] = [];
      for (let i = 0; i < 6; i++) revs.push((await ds.create(`/registry/configmaps/ns/c${i}`, '{"metadata":{}}')).revision);
      assert.equal(await cache.waitFor(revs[5]!, 2000), true);
      assert.deepEqual(cache.eventsAfter(revs[2]!)!.map((e) => e.rv), revs.slice(3));
      assert.deepEqual(cache.eventsAfter(revs[5]!), []);
      for (let i = 6; i < 12; i++) revs.push((await ds.create(`/registry/configmaps/ns/c${i}`, '{"metadata":{}}')).revision);
      assert.equal(await cache.waitFor(revs[11]!, 2000), true);
      // 12 events through a ring of 8: the first 4 are gone, so a resume from before them fails.
      assert.equal(cache.eventsAfter(revs[2]!), undefined);
      assert.deepEqual(cache.eventsAfter(revs[3]!)!.map((e) => e.rv), revs.slice(4));
    } finally {
      cache.close();
      await ds.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps one representation per object: obj is a fresh parse each time, attrs are kept', () => {
    let parses = 0;
    const entry = new CacheEntry('/registry/pods/ns/a', JSON.stringify({ metadata: { name: 'a', labels: { app: 'x' } } }), 5, (o) => { parses++; return { labels: o.metadata!.labels, fields: {} }; });
    const first = entry.obj;
    first.metadata!.labels.app = 'changed';
    // A caller's change to its copy does not reach the cache (before, the parsed object was shared and kept).
    assert.equal(entry.obj.metadata!.labels.app, 'x');
    assert.notEqual(entry.obj, entry.obj);
    assert.deepEqual(entry.attrs.labels, { app: 'x' });
    assert.equal(entry.attrs, entry.attrs);
    assert.equal(parses, 1);
  });
});
