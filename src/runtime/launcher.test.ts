// The launcher (jotasu-shim --launcher): the runtime's spawns go through it, so it must
// behave like child_process for them: exit codes, signals, stdout/stderr, stdin, env,
// cwd, exec failures, many at once, and the shim's detached start with its fd-3 reply.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureShim } from './shim.js';
import { Launcher } from './launcher.js';

const haveCc = spawnSync(process.env.CC ?? 'cc', ['--version']).status === 0;
const skip = haveCc ? false : 'needs a C compiler for the shim';
let dir: string;
let l: Launcher;
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'jotasu-launcher-test-'));
  l = new Launcher(await ensureShim(dir));
});

after(async () => {
  l?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('exit codes, signals, stdout and stderr apart', { skip }, async () => {
  const r = await l.run(['sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.deepEqual([r.code, r.signal, r.stdout.toString(), r.stderr.toString()], [3, null, 'out\n', 'err\n']);
  const k = await l.run(['sh', '-c', 'kill -TERM $$']);
  assert.deepEqual([k.code, k.signal], [null, 15]);
  const big = await l.run(['head', '-c', '300000', '/dev/zero']);
  assert.equal(big.stdout.length, 300000, 'output larger than a pipe buffer');
});

test('stdin, env (own or inherited), cwd; exec failures', { skip }, async () => {
  const input = 'x'.repeat(200_000);
  const r = await l.run(['wc', '-c'], { input });
  assert.equal(r.stdout.toString().trim(), '200000');
  const e = await l.run(['sh', '-c', 'echo "$FOO:$HOME"; pwd'], { env: { PATH: process.env.PATH, FOO: 'bar' }, cwd: dir });
  assert.equal(e.stdout.toString(), `bar:\n${dir}\n`);
  const inh = await l.run(['sh', '-c', 'echo "$PATH"']);
  assert.equal(inh.stdout.toString().trim(), process.env.PATH);
  const missing = await l.run(['/nonexistent/tool']);
  assert.equal(missing.code, 127);
  assert.match(missing.stderr.toString(), /No such file/);
});

test('many at once, answered to the right callers', { skip }, async () => {
  const rs = await Promise.all(Array.from({ length: 60 }, (_, i) => l.run(['sh', '-c', `sleep 0.0${i % 10}; echo ${i}`])));
  assert.deepEqual(rs.map((r) => r.stdout.toString().trim()), Array.from({ length: 60 }, (_, i) => String(i)));
});

test('syncFd3: answered when fd 3 closes, the process keeps running in its own session', { skip }, async () => {
  const r = await l.run(['sh', '-c', 'echo "ok $$" >&3; exec 3>&-; sleep 30'], { syncFd3: true });
  assert.equal(r.running, true);
  const pid = Number(/^ok (\d+)/.exec(r.stdout.toString())![1]);
  try {
    assert.ok(alive(pid));
    const sid = Number(spawnSync('ps', ['-o', 'sid=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim());
    assert.equal(sid, pid, 'session leader');
  } finally {
    process.kill(pid, 'SIGKILL');
  }
  const early = await l.run(['/nonexistent/shim'], { syncFd3: true });
  assert.match(early.stdout.toString(), /^err exec/);
});
