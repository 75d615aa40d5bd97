import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertOrdered, Collector, runDatastoreSuite } from './conformance.js';
import { openSqliteDatastore } from './sqlite.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'jotasu-sqlite-'));
}

runDatastoreSuite('sqlite', async () => {
  const dir = tempDir();
  const ds = await openSqliteDatastore(dir);
  return {
    ds,
    async cleanup() {
      await ds.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('sqlite datastore', () => {
  it('catches up in chunks while writes and a compaction go on, then goes live without gaps', async () => {
    const dir = tempDir();
    const ds = await openSqliteDatastore(dir, { catchUpChunk: 7 });
    try {
      const start = (await ds.currentRevision()) + 1;
      for (let i = 0; i < 100; i++) await ds.create(`/w/${i}`, String(i));
      const col = new Collector({ startRevision: start });
      const w = ds.watch('/w/', { ...col.opts, prefix: true });
      // Writes land while the watch is still replaying history, chunk by chunk.
      const more = await Promise.all(Array.from({ length: 100 }, (_, i) => ds.delete(`/w/${i}`)));
      assert.ok(more.every((r) => r.succeeded));
      await col.count(200);
      assert.deepEqual(col.errors, []);
      assertOrdered(col.events);
      assert.equal(col.events.length, 200);
      assert.ok(col.progress.length >= 1, 'onProgress after catching up');
      w.close();

      // A compaction overtaking a replaying watch ends it with CompactedError.
      const late = new Collector({ startRevision: start });
      const w2 = ds.watch('/w/', { ...late.opts, prefix: true });
      await ds.compact(start + 50);
      await late.until(() => late.errors.length > 0, 5000, 'CompactedError');
      assert.equal(late.errors[0]!.name, 'CompactedError');
      w2.close();
    } finally {
      await ds.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps data, revision and compaction across reopen, and refuses a second opener', async () => {
    const dir = tempDir();
    try {
      let ds = await openSqliteDatastore(dir);
      const c = await ds.create('/registry/a', '1');
      assert.ok(c.succeeded);
      await ds.update('/registry/a', '2', c.revision);
      await ds.compact(c.revision);
      await assert.rejects(openSqliteDatastore(dir), /another jotasu server|locked/);
      const rev = await ds.currentRevision();
      await ds.close();
      ds = await openSqliteDatastore(dir);
      try {
        assert.equal(await ds.currentRevision(), rev);
        assert.equal(await ds.compactedRevision(), c.revision);
        assert.equal((await ds.get('/registry/a'))?.value, '2');
        const next = await ds.create('/registry/b', 'x');
        assert.equal(next.revision, rev + 1);
      } finally {
        await ds.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never reuses a revision, even when compaction removed the newest row', async () => {
    const dir = tempDir();
    try {
      let ds = await openSqliteDatastore(dir);
      await ds.create('/k', 'v');
      const d = await ds.delete('/k');
      await ds.compact(d.revision);
      await ds.close();
      ds = await openSqliteDatastore(dir);
      try {
        const c = await ds.create('/k', 'again');
        assert.equal(c.revision, d.revision + 1);
      } finally {
        await ds.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loses no acknowledged write when the writer is killed with SIGKILL', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const writer = fileURLToPath(new URL('../../test/datastore/crash-writer.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', writer, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const acked: { key: string; rev: number }[] = [];
      const lines = createInterface({ input: child.stdout! });
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
        lines.on('line', (line) => {
          const [key, rev] = line.split(' ');
          acked.push({ key: key!, rev: Number(rev) });
          // Kill in the middle of the stream, while writes are in flight.
          if (acked.length === 3000) {
            child.kill('SIGKILL');
            resolve();
          }
        });
      });
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
      const ds = await openSqliteDatastore(dir);
      try {
        const all = await ds.range('/registry/crash/', { prefix: true });
        const stored = new Map(all.kvs.map((kv) => [kv.key, kv.modRevision]));
        const missing = acked.filter((a) => stored.get(a.key) !== a.rev);
        assert.deepEqual(missing.slice(0, 5), [], `${missing.length} acknowledged writes lost`);
        assert.ok(all.count >= acked.length);
      } finally {
        await ds.close();
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
