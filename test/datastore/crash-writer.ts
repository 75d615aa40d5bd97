// Child process for the SQLite kill -9 test: creates keys as fast as it can, 8 at a
// time, and prints "key revision" on stdout only after each write was acknowledged.
import { writeSync } from 'node:fs';
import { openSqliteDatastore } from '../../src/datastore/sqlite.js';

/** writeSync on stdout, which is a non-blocking pipe: EAGAIN when a loaded parent reads slowly. */
function writeLine(line: string): void {
  const buf = Buffer.from(line);
  for (let off = 0; off < buf.length;) {
    try {
      off += writeSync(1, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

const ds = await openSqliteDatastore(process.argv[2]!);
let i = 0;
async function worker(): Promise<void> {
  for (;;) {
    const key = `/registry/crash/${String(i++).padStart(8, '0')}`;
    const r = await ds.create(key, JSON.stringify({ i, pad: 'x'.repeat(500) }));
    if (!r.succeeded) throw new Error(`create ${key} failed`);
    // Synchronous write: the line leaves the process before the next write starts.
    writeLine(`${key} ${r.revision}\n`);
  }
}
await Promise.all(Array.from({ length: 8 }, worker));
