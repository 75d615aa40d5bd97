// The one datastore test suite that every backend passes (SQLite, real etcd).
// Tests only rely on revisions relative to what they observe, and each test works under
// its own key prefix, so a backend may share one store between tests (etcd does).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CompactedError, FutureRevisionError, type Datastore, type WatchEvent, type WatchOptions } from './types.js';

export interface OpenedDatastore {
  ds: Datastore;
  cleanup(): Promise<void>;
}

export interface SuiteOptions {
  /** How long a TTL key may outlive its TTL before the test fails (etcd checks leases every 500 ms). */
  ttlGraceMs?: number;
}

/** Collects watch events; `until` waits for a count (or an error). */
export class Collector {
  events: WatchEvent[] = [];
  errors: Error[] = [];
  progress: number[] = [];
  private waiters: (() => void)[] = [];
  readonly opts: WatchOptions;
  constructor(extra: Partial<WatchOptions> = {}) {
    this.opts = {
      ...extra,
      onEvents: (evs) => {
        this.events.push(...evs);
        this.wake();
      },
      onError: (err) => {
        this.errors.push(err);
        this.wake();
      },
      onProgress: (rev) => {
        this.progress.push(rev);
        this.wake();
      },
    };
  }
  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
  async until(pred: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; have ${this.events.length} events, errors: ${this.errors.map((e) => e.message).join('; ')}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  count(n: number, timeoutMs = 5000): Promise<void> {
    return this.until(() => this.events.length >= n || this.errors.length > 0, timeoutMs, `${n} events`);
  }
}

/** Asserts strictly increasing revisions: nothing delivered twice or out of order. */
export function assertOrdered(events: WatchEvent[]): void {
  for (let i = 1; i < events.length; i++) {
    assert.ok(
      events[i]!.kv.modRevision > events[i - 1]!.kv.modRevision,
      `event ${i} (rev ${events[i]!.kv.modRevision}) not after event ${i - 1} (rev ${events[i - 1]!.kv.modRevision})`,
    );
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function runDatastoreSuite(name: string, open: () => Promise<OpenedDatastore>, suiteOpts: SuiteOptions = {}): void {
  describe(`datastore conformance: ${name}`, () => {
    let opened: OpenedDatastore;
    let ds: Datastore;
    let n = 0;
    // A fresh key prefix per test keeps tests independent on a shared store.
    const p = () => `/conf-${process.pid}-${Date.now().toString(36)}-${++n}/`;

    before(async () => {
      opened = await open();
      ds = opened.ds;
    });
    after(async () => {
      await opened?.cleanup();
    });

    it('bumps the global revision by one per write and tracks create/mod revision and version', async () => {
      const k = p() + 'a';
      const r0 = await ds.currentRevision();
      assert.ok(r0 >= 1, 'revisions start at 1 like etcd');
      const c = await ds.create(k, 'v1');
      assert.ok(c.succeeded);
      assert.equal(c.revision, r0 + 1);
      assert.deepEqual(
        { ...c.kv, ttlSeconds: undefined },
        { key: k, value: 'v1', createRevision: r0 + 1, modRevision: r0 + 1, version: 1, ttlSeconds: undefined },
      );
      assert.equal(c.prevKv, undefined);
      assert.equal(await ds.currentRevision(), r0 + 1);

      const u = await ds.update(k, 'v2', c.revision);
      assert.ok(u.succeeded);
      assert.equal(u.revision, r0 + 2);
      assert.equal(u.kv.createRevision, r0 + 1);
      assert.equal(u.kv.modRevision, r0 + 2);
      assert.equal(u.kv.version, 2);
      assert.equal(u.prevKv?.value, 'v1');
      assert.equal(u.prevKv?.modRevision, r0 + 1);

      const g = await ds.get(k);
      assert.equal(g?.value, 'v2');
      assert.equal(g?.version, 2);
      assert.equal((await ds.get(k, { revision: r0 + 1 }))?.value, 'v1');

      const d = await ds.delete(k, u.revision);
      assert.ok(d.succeeded);
      assert.equal(d.revision, r0 + 3);
      assert.equal(d.kv.key, k);
      assert.equal(d.kv.modRevision, r0 + 3);
      assert.equal(d.kv.value, '');
      assert.equal(d.prevKv?.value, 'v2');
      assert.equal(d.prevKv?.version, 2);
      assert.equal(await ds.get(k), undefined);
      assert.equal(await ds.currentRevision(), r0 + 3);
    });

    it('creates only if absent, and recreates with a new createRevision after delete', async () => {
      const k = p() + 'x';
      const c1 = await ds.create(k, 'one');
      assert.ok(c1.succeeded);
      const before = await ds.currentRevision();
      const c2 = await ds.create(k, 'two');
      assert.equal(c2.succeeded, false);
      assert.equal(c2.revision, before, 'a failed compare does not bump the revision');
      assert.equal(c2.succeeded ? undefined : c2.current?.value, 'one');
      assert.equal(await ds.currentRevision(), before);
      assert.ok((await ds.delete(k)).succeeded);
      const c3 = await ds.create(k, 'three');
      assert.ok(c3.succeeded);
      assert.equal(c3.kv.version, 1);
      assert.equal(c3.kv.createRevision, c3.revision);
      assert.ok(c3.kv.createRevision > c1.revision);
    });

    it('compare-and-swaps updates and deletes on modRevision', async () => {
      const k = p() + 'cas';
      const missing = await ds.update(k, 'v', 1);
      assert.equal(missing.succeeded, false);
      assert.equal(missing.succeeded ? 1 : missing.current, undefined);
      const dm = await ds.delete(k);
      assert.equal(dm.succeeded, false, 'deleting a missing key is not a write');

      const c = await ds.create(k, 'v1');
      assert.ok(c.succeeded);
      const u = await ds.update(k, 'v2', c.revision);
      assert.ok(u.succeeded);
      const stale = await ds.update(k, 'v3', c.revision);
      assert.equal(stale.succeeded, false);
      assert.equal(stale.succeeded ? undefined : stale.current?.value, 'v2');
      assert.equal(stale.succeeded ? undefined : stale.current?.modRevision, u.revision);
      const staleDel = await ds.delete(k, c.revision);
      assert.equal(staleDel.succeeded, false);
      assert.equal(staleDel.succeeded ? undefined : staleDel.current?.modRevision, u.revision);
      assert.equal((await ds.get(k))?.value, 'v2');
      const del = await ds.delete(k, u.revision);
      assert.ok(del.succeeded);
      assert.equal(await ds.get(k), undefined);

      // Of many racing updates from the same base, exactly one wins.
      const base = await ds.create(k, 'base');
      assert.ok(base.succeeded);
      const racers = await Promise.all(Array.from({ length: 20 }, (_, i) => ds.update(k, `r${i}`, base.revision)));
      assert.equal(racers.filter((r) => r.succeeded).length, 1);
    });

    it('ranges by key, prefix, limit, fromKey, revision and countOnly', async () => {
      const pre = p();
      const keys = ['a', 'b', 'c', 'd', 'e'].map((s) => pre + 'items/' + s);
      const revs: number[] = [];
      for (const k of keys) revs.push((await ds.create(k, 'val-' + k.slice(-1))).revision);
      await ds.create(pre + 'itemsX', 'sibling'); // shares the text prefix without the slash
      await ds.create(pre + 'items', 'exact');

      const all = await ds.range(pre + 'items/', { prefix: true });
      assert.deepEqual(all.kvs.map((kv) => kv.key), keys);
      assert.equal(all.count, 5);
      assert.equal(all.more, false);
      assert.equal(all.revision, await ds.currentRevision());

      const exact = await ds.range(pre + 'items');
      assert.deepEqual(exact.kvs.map((kv) => kv.value), ['exact']);
      assert.equal(exact.count, 1);
      assert.equal((await ds.range(pre + 'nothing')).count, 0);

      // Paging: limit + fromKey, as the API server's continue tokens do.
      const seen: string[] = [];
      let from: string | undefined;
      for (let page = 0; page < 10; page++) {
        const r = await ds.range(pre + 'items/', { prefix: true, limit: 2, fromKey: from, revision: all.revision });
        assert.equal(r.count, 5, 'count covers the whole range, ignoring limit and fromKey');
        assert.equal(r.revision, all.revision);
        seen.push(...r.kvs.map((kv) => kv.key));
        if (!r.more) break;
        from = r.kvs[r.kvs.length - 1]!.key + '\0';
      }
      assert.deepEqual(seen, keys);

      const count = await ds.range(pre + 'items/', { prefix: true, countOnly: true });
      assert.equal(count.count, 5);
      assert.equal(count.kvs.length, 0);

      // Past revisions: see old values and keys deleted since, not keys created since.
      const u = await ds.update(keys[0]!, 'changed', revs[0]!);
      assert.ok(u.succeeded);
      assert.ok((await ds.delete(keys[1]!)).succeeded);
      const then = await ds.range(pre + 'items/', { prefix: true, revision: revs[2] });
      assert.deepEqual(then.kvs.map((kv) => [kv.key, kv.value]), [
        [keys[0], 'val-a'],
        [keys[1], 'val-b'],
        [keys[2], 'val-c'],
      ]);
      assert.equal(then.count, 3);
      assert.equal(then.revision, revs[2]);
      const thenLimited = await ds.range(pre + 'items/', { prefix: true, revision: revs[2], limit: 1 });
      assert.equal(thenLimited.kvs.length, 1);
      assert.equal(thenLimited.more, true);
      const now = await ds.range(pre + 'items/', { prefix: true });
      assert.deepEqual(now.kvs.map((kv) => kv.key), [keys[0], keys[2], keys[3], keys[4]]);
      assert.equal(now.kvs[0]!.value, 'changed');
      assert.equal(now.kvs[0]!.version, 2);

      const future = (await ds.currentRevision()) + 1000;
      await assert.rejects(ds.range(pre, { prefix: true, revision: future }), FutureRevisionError);
    });

    it('keeps values byte-exact (unicode, large)', async () => {
      const k = p() + 'unicode';
      const v = JSON.stringify({ name: '조타수 ⎈ ∑', big: 'x'.repeat(200_000) });
      assert.ok((await ds.create(k, v)).succeeded);
      assert.equal((await ds.get(k))?.value, v);
    });

    it('watches from a past revision with prevKv, then continues live', async () => {
      const pre = p();
      const k = pre + 'w';
      const c = await ds.create(k, 'v1');
      assert.ok(c.succeeded);
      const u = await ds.update(k, 'v2', c.revision);
      assert.ok(u.succeeded);
      await ds.create(pre + 'other', 'o');
      const d = await ds.delete(k, u.revision);
      assert.ok(d.succeeded);

      const col = new Collector({ startRevision: c.revision });
      const w = ds.watch(k, col.opts);
      try {
        await col.count(3);
        assert.deepEqual(col.errors, []);
        const [e1, e2, e3] = col.events;
        assert.equal(e1!.type, 'PUT');
        assert.equal(e1!.kv.value, 'v1');
        assert.equal(e1!.kv.modRevision, c.revision);
        assert.equal(e1!.prevKv, undefined);
        assert.equal(e2!.type, 'PUT');
        assert.equal(e2!.kv.value, 'v2');
        assert.equal(e2!.kv.version, 2);
        assert.equal(e2!.prevKv?.value, 'v1');
        assert.equal(e2!.prevKv?.modRevision, c.revision);
        assert.equal(e3!.type, 'DELETE');
        assert.equal(e3!.kv.key, k);
        assert.equal(e3!.kv.modRevision, d.revision);
        assert.equal(e3!.kv.value, '');
        assert.equal(e3!.prevKv?.value, 'v2');
        assert.equal(e3!.prevKv?.modRevision, u.revision);

        const again = await ds.create(k, 'v3');
        await col.count(4);
        assert.equal(col.events[3]!.kv.modRevision, again.revision);
        assert.equal(col.events.length, 4, 'the other key is not part of this watch');
        assertOrdered(col.events);
      } finally {
        w.close();
      }
    });

    it('delivers every event of a prefix once and in order under concurrent writes, also while catching up', async () => {
      const pre = p();
      const start = (await ds.currentRevision()) + 1;
      // Some history first, so the second watch has to catch up while writes continue.
      await Promise.all(Array.from({ length: 50 }, (_, i) => ds.create(`${pre}k${i}`, `v${i}`)));
      const live = new Collector();
      const wl = ds.watch(pre, { ...live.opts, prefix: true });
      const past = new Collector({ startRevision: start });
      const wp = ds.watch(pre, { ...past.opts, prefix: true });
      const sibling = new Collector();
      const ws = ds.watch(pre.slice(0, -1) + 'x/', { ...sibling.opts, prefix: true });
      try {
        // Let the live watch register on the server (etcd) before writing.
        await sleep(200);
        const writes = await Promise.all([
          ...Array.from({ length: 100 }, (_, i) => ds.create(`${pre}n${i}`, `n${i}`)),
          ...Array.from({ length: 50 }, (_, i) => ds.delete(`${pre}k${i}`)),
        ]);
        assert.ok(writes.every((w) => w.succeeded));
        await past.count(200);
        await live.count(150);
        assert.deepEqual(past.errors, []);
        assert.deepEqual(live.errors, []);
        assertOrdered(past.events);
        assertOrdered(live.events);
        assert.equal(past.events.length, 200);
        assert.equal(live.events.length, 150);
        const writeRevs = writes.map((w) => w.revision).sort((a, b) => a - b);
        assert.deepEqual(live.events.map((e) => e.kv.modRevision), writeRevs);
        assert.equal(past.events.filter((e) => e.type === 'DELETE').length, 50);
        assert.ok(past.events.filter((e) => e.type === 'DELETE').every((e) => e.prevKv !== undefined));
        assert.equal(sibling.events.length, 0);
      } finally {
        wl.close();
        wp.close();
        ws.close();
      }
    });

    it('stops delivering after close', async () => {
      const k = p() + 'c';
      const col = new Collector();
      const w = ds.watch(k, col.opts);
      await sleep(100);
      await ds.create(k, '1');
      await col.count(1);
      w.close();
      await ds.create(k + 'x', '2');
      await ds.delete(k);
      await sleep(200);
      assert.equal(col.events.length, 1);
      assert.deepEqual(col.errors, []);
    });

    it('answers a progress request at the current revision when only other keys were written', async () => {
      const pre = p();
      const col = new Collector();
      const w = ds.watch(pre + 'mine/', { ...col.opts, prefix: true });
      try {
        await sleep(100);
        await ds.create(pre + 'mine/a', '1');
        await col.count(1);
        // Writes elsewhere move the store on; this watch has nothing to report.
        let last = 0;
        for (let i = 0; i < 3; i++) last = (await ds.create(`${pre}other/${i}`, 'x')).revision;
        const before = col.progress.length;
        w.requestProgress();
        await col.until(() => col.progress.slice(before).some((r) => r >= last), 3000, `progress at ${last}`);
        assert.equal(col.events.length, 1);
        // And a write of its own after the progress is still delivered.
        await ds.create(pre + 'mine/b', '2');
        await col.count(2);
        assert.ok(col.events[1]!.kv.modRevision > last);
        assert.deepEqual(col.errors, []);
      } finally {
        w.close();
      }
    });

    it('gives concurrent writes distinct, increasing revisions', async () => {
      const pre = p();
      const r0 = await ds.currentRevision();
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => ds.create(`${pre}${i}`, String(i))));
      assert.ok(results.every((r) => r.succeeded));
      const revs = results.map((r) => r.revision);
      assert.equal(new Set(revs).size, 200);
      assert.ok(revs.every((r) => r > r0));
      const r1 = await ds.currentRevision();
      assert.ok(r1 >= Math.max(...revs));
      const listed = await ds.range(pre, { prefix: true });
      assert.equal(listed.count, 200);
      for (const kv of listed.kvs) assert.equal(kv.createRevision, kv.modRevision);
    });

    it('compacts: old revisions fail with CompactedError, newer history and data survive', async () => {
      const pre = p();
      const k = pre + 'c';
      const c = await ds.create(k, 'v1');
      assert.ok(c.succeeded);
      const u = await ds.update(k, 'v2', c.revision);
      assert.ok(u.succeeded);
      const gone = await ds.create(pre + 'gone', 'g');
      assert.ok(gone.succeeded);
      assert.ok((await ds.delete(pre + 'gone')).succeeded);
      const keep = await ds.create(pre + 'keep', 'k');
      assert.ok(keep.succeeded);
      const at = await ds.currentRevision();
      const u2 = await ds.update(k, 'v3', u.revision);
      assert.ok(u2.succeeded);

      await ds.compact(at);
      assert.ok((await ds.compactedRevision()) >= at);
      await ds.compact(at - 1); // already compacted: a no-op, not an error

      await assert.rejects(ds.range(pre, { prefix: true, revision: c.revision }), CompactedError);
      await assert.rejects(ds.get(k, { revision: at - 1 }), CompactedError);
      // The compacted revision itself stays readable (etcd semantics).
      const atRange = await ds.range(pre, { prefix: true, revision: at });
      assert.deepEqual(atRange.kvs.map((kv) => [kv.key, kv.value]), [
        [k, 'v2'],
        [pre + 'keep', 'k'],
      ]);
      const nowRange = await ds.range(pre, { prefix: true });
      assert.deepEqual(nowRange.kvs.map((kv) => [kv.key, kv.value, kv.version]), [
        [k, 'v3', 3],
        [pre + 'keep', 'k', 1],
      ]);

      // A watch at or below the compacted revision fails; one just above it works, with prevKv.
      for (const startRevision of [c.revision, at]) {
        const bad = new Collector({ startRevision });
        const wb = ds.watch(pre, { ...bad.opts, prefix: true });
        try {
          await bad.until(() => bad.errors.length > 0, 5000, 'CompactedError');
          assert.ok(bad.errors[0] instanceof CompactedError, `got ${bad.errors[0]}`);
          assert.equal(bad.events.length, 0);
        } finally {
          wb.close();
        }
      }
      const good = new Collector({ startRevision: at + 1 });
      const wg = ds.watch(pre, { ...good.opts, prefix: true });
      try {
        await good.count(1);
        assert.deepEqual(good.errors, []);
        assert.equal(good.events[0]!.kv.modRevision, u2.revision);
        assert.equal(good.events[0]!.prevKv?.value, 'v2');
      } finally {
        wg.close();
      }
      // Writes continue normally after compaction.
      const u3 = await ds.update(k, 'v4', u2.revision);
      assert.ok(u3.succeeded);
      assert.equal(u3.kv.version, 4);
      assert.equal(u3.kv.createRevision, c.revision);
    });

    it('expires TTL keys with a DELETE event', { timeout: 20_000 }, async () => {
      const pre = p();
      const col = new Collector();
      const w = ds.watch(pre, { ...col.opts, prefix: true });
      try {
        await sleep(100);
        const t = await ds.create(pre + 'event', 'e', { ttlSeconds: 2 });
        assert.ok(t.succeeded);
        assert.equal(t.kv.ttlSeconds, 2);
        const permanent = await ds.create(pre + 'pod', 'p');
        assert.ok(permanent.succeeded);
        const t0 = Date.now();
        await col.until(() => col.events.some((e) => e.type === 'DELETE'), 2000 + (suiteOpts.ttlGraceMs ?? 3000), 'TTL DELETE');
        assert.ok(Date.now() - t0 >= 1000, 'not expired long before its TTL');
        const del = col.events.find((e) => e.type === 'DELETE')!;
        assert.equal(del.kv.key, pre + 'event');
        assert.equal(del.prevKv?.value, 'e');
        assert.equal(await ds.get(pre + 'event'), undefined);
        assert.equal((await ds.get(pre + 'pod'))?.value, 'p');
        assertOrdered(col.events);
      } finally {
        w.close();
      }
    });
  });
}
