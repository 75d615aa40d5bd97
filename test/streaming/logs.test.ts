// The CRI log reader and the rotation, on plain files (no containers needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, appendFile, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { readContainerLog } from '../../src/runtime/streaming/logs.js';
import { rotateIfNeeded } from '../../src/runtime/streaming/rotate.js';

const line = (t: string, s: string, tag: string, msg: string) => `2024-01-01T00:00:${t}.000000000Z ${s} ${tag} ${msg}\n`;
async function read(path: string, o: Parameters<typeof readContainerLog>[2]): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await readContainerLog(path, out, o);
  return Buffer.concat(chunks).toString();
}

test('tail, since, timestamps, streams, partial lines, limitBytes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'jotasu-logs-'));
  try {
    const p = join(dir, '0.log');
    await writeFile(p, line('01', 'stdout', 'F', 'a') + line('02', 'stderr', 'F', 'b') + line('03', 'stdout', 'P', 'c1') + line('03', 'stdout', 'F', 'c2') + line('04', 'stdout', 'F', 'd'));
    assert.equal(await read(p, {}), 'a\nb\nc1c2\nd\n');
    assert.equal(await read(p, { tailLines: 2 }), 'c2\nd\n');
    assert.equal(await read(p, { tailLines: 0 }), '');
    assert.equal(await read(p, { stream: 'stderr' }), 'b\n');
    assert.equal(await read(p, { sinceMs: Date.parse('2024-01-01T00:00:03Z') }), 'c1c2\nd\n');
    assert.equal(await read(p, { timestamps: true, tailLines: 1 }), '2024-01-01T00:00:04.000000000Z d\n');
    assert.equal(await read(p, { limitBytes: 3 }), 'a\nb');
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('follow survives copy-truncate rotation and stops when the container does', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'jotasu-logs-'));
  try {
    const p = join(dir, '0.log');
    await writeFile(p, line('01', 'stdout', 'F', 'x'.repeat(2000)));
    let running = true;
    const got = read(p, { follow: true, isRunning: async () => running });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await rotateIfNeeded(p, { maxSize: 1000, maxFiles: 2 }), true);
    await appendFile(p, line('02', 'stdout', 'F', 'after-rotation'));
    await new Promise((r) => setTimeout(r, 400));
    running = false;
    const text = await got;
    assert.match(text, /^x{2000}\nafter-rotation\n$/);
    assert.equal((await readdir(dir)).filter((f) => f.startsWith('0.log.')).length, 1);
    // A second rotation keeps maxFiles - 1 rotated files.
    await appendFile(p, line('03', 'stdout', 'F', 'y'.repeat(2000)));
    await new Promise((r) => setTimeout(r, 1100));
    await rotateIfNeeded(p, { maxSize: 1000, maxFiles: 2 });
    assert.equal((await readdir(dir)).filter((f) => f.startsWith('0.log.')).length, 1);
  } finally { await rm(dir, { recursive: true, force: true }); }
});
