// The compactor's round protocol, driven tick by tick on one SQLite datastore shared by
// two compactors (as two API servers share etcd): one compacts per round, the other
// takes over when the first stops; the first compaction keeps one interval of history.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatastore } from '../../src/datastore/sqlite.js';
import { startCompactor } from '../../src/apiserver/compactor.js';

test('compactor: one of two compacts per round, the other takes over; history of one interval is kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jotasu-compactor-'));
  const ds = await openSqliteDatastore(dir);
  try {
    let n = 0;
    const write = async (): Promise<number> => (await ds.create(`/registry/x/${n++}`, 'v')).revision;
    const seenA: number[] = [], seenB: number[] = [];
    const a = startCompactor({ datastore: ds, intervalMs: 0, onCompacted: (r) => seenA.push(r) });
    const b = startCompactor({ datastore: ds, intervalMs: 0, onCompacted: (r) => seenB.push(r) });

    await write();
    await a.tick(); // learns: no compaction on the first round
    await b.tick();
    assert.equal(await ds.compactedRevision(), 0);
    const r1 = await write();
    await write();
    await a.tick(); // A's turn: compacts to what was current at its previous tick
    const c1 = await ds.compactedRevision();
    assert.ok(c1 > 0 && c1 < r1, `compacted to the previous round's revision (${c1} < ${r1})`);
    await write();
    await b.tick(); // B sees the compaction move: not its turn
    assert.equal(await ds.compactedRevision(), c1);
    assert.deepEqual(seenB, [c1], 'B tells its caches the compacted revision');
    await write();
    await a.tick();
    const c2 = await ds.compactedRevision();
    assert.ok(c2 > c1);
    await write();
    await b.tick();
    assert.equal(await ds.compactedRevision(), c2, 'still only A compacts');

    // A stops (its server died): B compacts within two of its rounds.
    a.stop();
    await write();
    await b.tick(); // sees no change since its last tick: its turn
    const c3 = await ds.compactedRevision();
    assert.ok(c3 > c2, 'B took over');
    b.stop();
  } finally {
    await ds.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

