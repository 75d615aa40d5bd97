// The CRI log reader and following across rotation, on plain files (no containers needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, appendFile, rm } from 'node:fs/promises';
import { appendFileSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { readContainerLog, rotatedFiles } from '../../src/runtime/streaming/logs.js';

const line = (t: string, s: string, tag: string, msg: string) => `2024-01-01T00:00:${t}.000000000Z ${s} ${tag} ${msg}\n`;
async function read(path: string, o: Parameters<typeof readContainerLog>[2]): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await readContainerLog(path, out, o);
  return Buffer.concat(chunks).toString();
}

/** A follower of path that runs until stop(); `opened` resolves once it holds the file open. */
function follow(path: string): { got: Promise<string>; opened: Promise<void>; stop(): void } {
  let running = true;
  let onOpen!: () => void;
  const opened = new Promise<void>((r) => { onOpen = r; });
  const got = read(path, { follow: true, onOpen: () => onOpen(), isRunning: async () => running });
  return { got, opened, stop: () => { running = false; } };
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

test('follow across the shim\'s rename rotation: the renamed file to its end, later rotations, the new log', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'jotasu-logs-'));
  try {
    const p = join(dir, '0.log');
    await writeFile(p, line('01', 'stdout', 'F', 'first'));
    const f = follow(p);
    await f.opened; // (not a sleep: under load the reader opened the log only after the renames below)
    // In one tick, so the reader cannot look in between: a line written just before the
    // rename, then two rotations (a reader that fell behind), then the live log.
    appendFileSync(p, line('02', 'stdout', 'F', 'before-rename'));
    renameSync(p, `${p}.20240101-000002`);
    writeFileSync(p, line('03', 'stdout', 'F', 'middle'));
    renameSync(p, `${p}.20240101-000002.000001`);
    writeFileSync(p, line('04', 'stdout', 'F', 'live'));
    await new Promise((r) => setTimeout(r, 400));
    await appendFile(p, line('05', 'stdout', 'F', 'later'));
    await new Promise((r) => setTimeout(r, 400));
    f.stop();
    assert.equal(await f.got, 'first\nbefore-rename\nmiddle\nlive\nlater\n');
    assert.deepEqual((await rotatedFiles(p)).map((name) => name.slice(dir.length + 1)), ['0.log.20240101-000002', '0.log.20240101-000002.000001']);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('follow: rotations while a slow client holds the reader back are all read, in order', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'jotasu-logs-'));
  try {
    const p = join(dir, '0.log');
    // Every write waits for release(): the test knows where the reader stands.
    const got: string[] = [];
    let pending: (() => void) | undefined, arrived: (() => void) | undefined;
    const out = new Writable({ highWaterMark: 1, write(c: Buffer, _e, cb) { got.push(c.toString()); pending = cb; arrived?.(); } });
    const blocked = () => new Promise<void>((r) => { if (pending) r(); else arrived = r; });
    const release = () => { const cb = pending; pending = arrived = undefined; cb?.(); };
    writeFileSync(p, line('01', 'stdout', 'F', 'a'));
    let running = true;
    const done = readContainerLog(p, out, { follow: true, isRunning: async () => running });
    await blocked(); // holding 'a', at the end of the first file
    renameSync(p, `${p}.20240101-000001`);
    writeFileSync(p, line('02', 'stdout', 'F', 'b'));
    renameSync(p, `${p}.20240101-000002`);
    writeFileSync(p, line('03', 'stdout', 'F', 'c'));
    release();
    await blocked(); // holding 'b', read from the second file
    // Rotated again while the reader is on a rotated file.
    renameSync(p, `${p}.20240101-000003`);
    writeFileSync(p, line('04', 'stdout', 'F', 'd'));
    release();
    // Let it run out (a reader that skipped a file stops at 3 lines: no hang here).
    for (let t = Date.now(); Date.now() - t < 1500; await new Promise((r) => setTimeout(r, 20))) release();
    running = false;
    await done;
    assert.equal(got.join(''), 'a\nb\nc\nd\n');
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('follow pins the file it reads (the shim prunes nothing from there on) and moves the pin only once the next file is open', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'jotasu-logs-'));
  try {
    const p = join(dir, '0.log');
    // (Not the .tmp a pin is written to before its rename into place.)
    const pins = () => readdirSync(dir).filter((f) => f.startsWith('.0.log.follow.') && !f.endsWith('.tmp'));
    const pinnedIno = () => { const found = pins(); assert.equal(found.length, 1, found.join(' ')); return readFileSync(join(dir, found[0]!), 'utf8').trim().split(' '); };
    writeFileSync(p, line('01', 'stdout', 'F', 'a'));
    const f = follow(p);
    try {
      await f.opened;
      for (const t = Date.now(); pinnedIno()[2] === '0'; await new Promise((r) => setTimeout(r, 10))) assert.ok(Date.now() - t < 15_000, 'the pin names the open file');
      const [pid, start, ino] = pinnedIno();
      assert.equal(pid, String(process.pid));
      // The shim compares the start time with /proc/PID/stat's field 22.
      const stat = readFileSync('/proc/self/stat', 'utf8');
      assert.equal(start, stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
      assert.equal(ino, String(statSync(p, { bigint: true }).ino));
      const first = ino;
      renameSync(p, `${p}.20240101-000001`);
      writeFileSync(p, line('02', 'stdout', 'F', 'b'));
      for (const t = Date.now(); pinnedIno()[2] === first; await new Promise((r) => setTimeout(r, 10))) assert.ok(Date.now() - t < 15_000, 'the pin moved on');
      assert.equal(pinnedIno()[2], String(statSync(p, { bigint: true }).ino));
      f.stop();
      assert.equal(await f.got, 'a\nb\n');
      assert.deepEqual(pins(), [], 'removed when the follower is done');
      assert.equal(await read(p, {}), 'b\n');
      assert.deepEqual(pins(), [], 'a plain read pins nothing');
    } finally {
      f.stop(); // a failed assertion must not leave the follower (and this process) running
      await f.got.catch(() => undefined);
    }
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('follow: a rotation between the listing of rotated files and the open of the live log skips nothing', async () => {
  // Another process rotates every ~2 ms (no pruning): 400 rotations of 5 lines. A follower
  // that listed the rotated files and then opened the live log by name landed on a later
  // file whenever a rotation fell in between, and skipped the file(s) rotated meanwhile
  // (1 run in 3 failed; with 250 rotations the old code passed 3 of 3: a race, not certain).
  const dir = await mkdtemp(join(tmpdir(), 'jotasu-logs-'));
  try {
    const p = join(dir, '0.log');
    writeFileSync(p, '');
    const f = follow(p);
    try {
      await f.opened;
      const script = `const fs = require('fs'); const p = ${JSON.stringify(p)};
        for (let f = 0; f < 400; f++) {
          for (let i = 0; i < 5; i++) fs.appendFileSync(p, '2024-01-01T00:00:00.000000000Z stdout F ' + (f * 5 + i) + '\\n');
          fs.renameSync(p, p + '.20240101-000000.' + String(f + 1).padStart(6, '0'));
          fs.writeFileSync(p, '');
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2); // paced: the follower keeps up, near the live log
        }
        fs.appendFileSync(p, '2024-01-01T00:00:00.000000000Z stdout F end\\n');`;
      const writer = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'inherit'] });
      assert.equal(await new Promise((r) => writer.on('exit', r)), 0);
      for (const t = Date.now(); !readFileSync(p, 'utf8').includes('end'); await new Promise((r) => setTimeout(r, 10))) assert.ok(Date.now() - t < 15_000);
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      f.stop();
    }
    const lines = (await f.got).split('\n').slice(0, -1);
    const want = [...Array.from({ length: 2000 }, (_, i) => String(i)), 'end'];
    assert.equal(lines.length, want.length, `first difference at ${lines.findIndex((l, i) => l !== want[i])}`);
    assert.deepEqual(lines, want);
  } finally { await rm(dir, { recursive: true, force: true }); }
});
