import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatastore } from '../datastore/sqlite.js';
import { Allocators } from './allocators.js';

test('a Service never gets the same NodePort twice: a free-port search skips ports its owner holds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jotasu-alloc-'));
  const ds = await openSqliteDatastore(dir);
  try {
    // Two ports in range: the search for the second port of one owner must find the other one.
    const alloc = new Allocators(ds, '10.43.0.0/16', [30000, 30001]);
    const a = await alloc.allocatePort('ns/svc', 'spec.ports[0].nodePort');
    const b = await alloc.allocatePort('ns/svc', 'spec.ports[1].nodePort');
    assert.notEqual(a, b);
    // The range is full now, also for that owner.
    await assert.rejects(alloc.allocatePort('ns/svc', 'spec.ports[2].nodePort'), /range is full/);
    // A port asked for by number that the owner holds already stays its own (a retried write).
    assert.equal(await alloc.allocatePort('ns/svc', 'spec.ports[0].nodePort', a), a);
    await assert.rejects(alloc.allocatePort('ns/other', 'spec.ports[0].nodePort', a), /already allocated/);
  } finally {
    await ds.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
