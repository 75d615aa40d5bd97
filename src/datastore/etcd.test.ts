import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertOrdered, Collector, runDatastoreSuite } from './conformance.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueCert, newCA } from '../apiserver/tls.js';
import { openEtcdDatastore } from './etcd.js';
import { ETCD_BIN, freePort, startEtcd } from './etcd-process.js';
import { progressNotifyIsOrdered } from './etcd-version.js';
import { execFileSync } from 'node:child_process';
import { openDatastore } from './index.js';
import type { Datastore } from './types.js';

/** What the installed etcd's version implies (Debian's 3.4.23: progress notifications may overtake events). */
const installedOrdered = (): boolean => progressNotifyIsOrdered(/etcd Version: (\S+)/.exec(execFileSync(ETCD_BIN, ['--version'], { encoding: 'utf8' }))?.[1] ?? '');

/** A create through `ds` is read back and seen by a watch on `prefix` at its revision. */
async function createReadWatch(ds: Datastore, prefix: string): Promise<void> {
  const col = new Collector();
  const w = ds.watch(prefix, { ...col.opts, prefix: true });
  try {
    await new Promise((r) => setTimeout(r, 200));
    const c = await ds.create(`${prefix}a`, 'v1');
    assert.ok(c.succeeded);
    assert.equal((await ds.get(`${prefix}a`))?.value, 'v1');
    await col.count(1);
    assert.equal(col.events[0]!.kv.modRevision, c.revision);
  } finally {
    w.close();
  }
}

runDatastoreSuite(
  'etcd',
  async () => {
    const etcd = await startEtcd();
    try {
      const ds = await openEtcdDatastore({ endpoints: [etcd.endpoint] });
      return {
        ds,
        async cleanup() {
          try {
            await ds.close();
          } finally {
            await etcd.stop();
          }
        },
      };
    } catch (err) {
      await etcd.stop();
      throw err;
    }
  },
  { ttlGraceMs: 4000 },
);

describe('etcd datastore', () => {
  it('resumes watches across an etcd restart without loss, duplicates or reordering', { timeout: 90_000 }, async () => {
    const etcd = await startEtcd();
    try {
      const ds = await openEtcdDatastore({ endpoints: [etcd.endpoint] });
      try {
        const first = await ds.create('/registry/r/0', '0');
        const past = new Collector({ startRevision: first.revision });
        const wp = ds.watch('/registry/r/', { ...past.opts, prefix: true });
        const live = new Collector();
        const wl = ds.watch('/registry/r/', { ...live.opts, prefix: true });
        try {
          await new Promise((r) => setTimeout(r, 200));
          const revs = [first.revision];
          for (let i = 1; i <= 50; i++) revs.push((await ds.create(`/registry/r/${i}`, String(i))).revision);
          await past.count(51);

          // kill -9 etcd mid-stream, then bring it back on the same data dir.
          await etcd.kill();
          await new Promise((r) => setTimeout(r, 500));
          await etcd.restart();

          for (let i = 51; i <= 100; i++) {
            const key = `/registry/r/${i}`;
            const res = await ds.create(key, String(i));
            assert.ok(res.succeeded, `create ${key} after restart`);
            revs.push(res.revision);
          }
          const del = await ds.delete('/registry/r/7');
          assert.ok(del.succeeded);
          revs.push(del.revision);

          await past.count(revs.length, 30_000);
          await live.count(revs.length - 1, 30_000);
          await new Promise((r) => setTimeout(r, 300)); // anything extra would show up now
          assert.deepEqual(past.errors, []);
          assert.deepEqual(live.errors, []);
          assertOrdered(past.events);
          assertOrdered(live.events);
          assert.deepEqual(past.events.map((e) => e.kv.modRevision), revs);
          assert.deepEqual(live.events.map((e) => e.kv.modRevision), revs.slice(1));
          assert.equal(past.events.at(-1)!.type, 'DELETE');
          assert.equal(past.events.at(-1)!.prevKv?.value, '7');
        } finally {
          wp.close();
          wl.close();
        }
      } finally {
        await ds.close();
      }
    } finally {
      await etcd.stop();
    }
  });

  it('reports CompactedError to a watch whose resume point was compacted while etcd was away', { timeout: 60_000 }, async () => {
    const etcd = await startEtcd();
    try {
      const a = await openEtcdDatastore({ endpoints: [etcd.endpoint] });
      try {
        const c = await a.create('/registry/x/a', '1');
        const col = new Collector({ startRevision: c.revision });
        const w = a.watch('/registry/x/', { ...col.opts, prefix: true });
        try {
          await col.count(1);
          // While etcd is unreachable for this server, another one writes and compacts
          // past the watch's resume point.
          const elsewhere = await etcd.restartElsewhere();
          const b = await openEtcdDatastore({ endpoints: [elsewhere] });
          try {
            let rev = c.revision;
            for (let i = 0; i < 5; i++) rev = (await b.update('/registry/x/a', String(i + 2), rev)).revision;
            await b.compact(rev);
          } finally {
            await b.close();
          }
          await etcd.restart();
          await col.until(() => col.errors.length > 0 || col.events.length > 1, 30_000, 'resume or CompactedError');
          assert.equal(col.errors[0]?.name, 'CompactedError', String(col.errors[0]));
          assert.equal(col.events.length, 1, 'nothing delivered after the gap');
        } finally {
          w.close();
        }
      } finally {
        await a.close();
      }
    } finally {
      await etcd.stop();
    }
  });

  it('moves to the next member when one cannot be reached, for calls and watches', { timeout: 60_000 }, async () => {
    const etcd = await startEtcd();
    try {
      const dead = `http://127.0.0.1:${await freePort()}`;
      const ds = await openEtcdDatastore({ endpoints: [dead, etcd.endpoint] });
      try {
        await createReadWatch(ds, '/registry/fo/');
        // The version probe too goes on to the member that answers.
        assert.equal(await ds.progressNotifyIsOrdered(), installedOrdered());
      } finally {
        await ds.close();
      }
    } finally {
      await etcd.stop();
    }
  });

  it('says a write was not sent while etcd is unreachable, and writes again once it is back', { timeout: 60_000 }, async () => {
    const etcd = await startEtcd();
    try {
      const ds = await openEtcdDatastore({ endpoints: [etcd.endpoint], retryMs: 1000 });
      try {
        assert.ok((await ds.create('/registry/ns/a', '1')).succeeded);
        await etcd.kill();
        // Until the client has seen the connection drop, a write may go out on it and
        // honestly be "may have reached etcd"; a failed read makes the drop known.
        await assert.rejects(ds.range('/registry/ns/', { prefix: true }));
        await assert.rejects(ds.create('/registry/ns/b', '2'), (err: Error) => {
          assert.match(err.message, /create \/registry\/ns\/b/);
          assert.match(err.message, /not sent/);
          assert.ok(err.message.includes(etcd.endpoint), err.message);
          return true;
        });
        await etcd.restart();
        // Retried by the datastore while the connection comes back (a write that surely was not sent).
        const b = await ds.create('/registry/ns/b', '2');
        assert.ok(b.succeeded);
        assert.deepEqual((await ds.range('/registry/ns/', { prefix: true })).kvs.map((kv) => kv.key), ['/registry/ns/a', '/registry/ns/b']);
      } finally {
        await ds.close();
      }
    } finally {
      await etcd.stop();
    }
  });

  it('talks TLS to an etcd that requires client certificates (--datastore-cafile/certfile/keyfile)', { timeout: 60_000 }, async () => {
    const ca = await newCA('etcd-ca');
    const server = await issueCert(ca, { cn: 'etcd', ips: ['127.0.0.1'], server: true });
    const client = await issueCert(ca, { cn: 'jotasu', client: true });
    const etcd = await startEtcd({ tls: { caPem: ca.certPem, server, client } });
    const dir = mkdtempSync(join(tmpdir(), 'jotasu-etcd-tls-'));
    try {
      const file = (n: string, pem: string): string => (writeFileSync(join(dir, n), pem), join(dir, n));
      assert.match(etcd.endpoint, /^https:/);
      const ds = await openDatastore({ dataDir: dir, endpoint: etcd.endpoint, caFile: file('ca.crt', ca.certPem), certFile: file('c.crt', client.certPem), keyFile: file('c.key', client.keyPem) });
      try {
        await createReadWatch(ds, '/registry/tls/');
        assert.equal(await ds.progressNotifyIsOrdered(), installedOrdered(), 'the /version probe speaks TLS with the client certificate');
      } finally {
        await ds.close();
      }
      // Without a client certificate etcd refuses the connection, and the datastore says so at open.
      await assert.rejects(
        openEtcdDatastore({ endpoints: [etcd.endpoint], ca: ca.certPem, retryMs: 500 }),
        (err: Error) => err.message.includes(etcd.endpoint),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await etcd.stop();
    }
  });
});
