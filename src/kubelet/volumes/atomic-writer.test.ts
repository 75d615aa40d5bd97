import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeAtomic } from './atomic-writer.js';

test('atomic writer: ..data symlink swap, visible links, stale entries removed, modes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jotasu-aw-'));
  try {
    const f = (s: string, mode = 0o644) => ({ data: Buffer.from(s), mode });
    assert.equal(await writeAtomic(dir, new Map([['a', f('1')], ['sub/b', f('2', 0o400)]])), true);
    assert.equal(readFileSync(join(dir, 'a'), 'utf8'), '1');
    assert.equal(readFileSync(join(dir, 'sub/b'), 'utf8'), '2');
    assert.equal(readlinkSync(join(dir, 'a')), '..data/a');
    assert.equal(statSync(join(dir, 'sub/b')).mode & 0o777, 0o400);
    const first = readlinkSync(join(dir, '..data'));
    assert.equal(await writeAtomic(dir, new Map([['a', f('1')], ['sub/b', f('2', 0o400)]])), false);
    assert.equal(await writeAtomic(dir, new Map([['a', f('changed')]])), true);
    assert.notEqual(readlinkSync(join(dir, '..data')), first);
    assert.equal(readFileSync(join(dir, 'a'), 'utf8'), 'changed');
    assert.deepEqual(readdirSync(dir).filter((e) => !e.startsWith('..')), ['a']);
    assert.equal(readdirSync(dir).filter((e) => e.startsWith('..') && e !== '..data').length, 1);
    await assert.rejects(writeAtomic(dir, new Map([['../x', f('no')]])));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
