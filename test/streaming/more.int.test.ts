// kubectl logs options across restarts and containers, exec -it in a real terminal
// (tmux), kubectl cp both ways, and the errors of bad requests; pods run by the kubelet
// of a real `jotasu agent`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile, readFile, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startStreamingEnv, skip as baseSkip, type StreamEnv } from './env.js';

const haveTmux = spawnSync('tmux', ['-V']).status === 0;
const skip = baseSkip;
let h: StreamEnv;
const tmuxSession = `jst-${randomBytes(3).toString('hex')}`;
let scratch = '';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  if (skip) return;
  scratch = await mkdtemp(join(tmpdir(), 'jotasu-stream-scratch-'));
  h = await startStreamingEnv();
});
after(async () => {
  if (haveTmux) spawnSync('tmux', ['kill-session', '-t', tmuxSession]);
  if (scratch) await rm(scratch, { recursive: true, force: true });
  await h?.stop();
});

test('logs: --previous, --since, -c, --all-containers, -l', { skip }, async () => {
  // a runs twice: the kubelet restarts it once (restartPolicy Always) and the second run
  // stays up; the marker in an emptyDir tells the runs apart.
  await h.runPod('multi', [
    { name: 'a', command: ['sh', '-c', 'if [ -e /m/ran ]; then echo run-a-second; exec sleep 3600; fi; touch /m/ran; echo run-a-first; sleep 0.5'],
      volumeMounts: [{ name: 'm', mountPath: '/m' }] },
    { name: 'b', command: ['sh', '-c', 'echo from-b; sleep 3600'] },
  ], { labels: { app: 'multi', tier: 'x' }, volumes: [{ name: 'm', emptyDir: {} }],
    wait: (p) => p.status?.containerStatuses?.find((c) => c.name === 'a')?.restartCount === 1 && (p.status.containerStatuses ?? []).every((c) => !!c.state?.running) });
  await h.waitLog('multi', 'a', /run-a-second/, 30_000);
  const prev = await h.kubectl(['logs', 'multi', '-c', 'a', '--previous']);
  assert.equal(prev.code, 0, prev.stderr);
  assert.equal(prev.stdout, 'run-a-first\n');
  const cur = await h.kubectl(['logs', 'multi', '-c', 'a']);
  assert.equal(cur.stdout, 'run-a-second\n');
  // No container named: kubectl picks the first and says so.
  const none = await h.kubectl(['logs', 'multi']);
  assert.match(none.stderr, /Defaulted container "a" out of: a, b/);
  const all = await h.kubectl(['logs', 'multi', '--all-containers']);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /run-a-second/);
  assert.match(all.stdout, /from-b/);
  const bySel = await h.kubectl(['logs', '-l', 'tier=x', '-c', 'b']);
  assert.equal(bySel.stdout, 'from-b\n');
  await sleep(2100);
  const since = await h.kubectl(['logs', 'multi', '-c', 'b', '--since=2s']);
  assert.equal(since.code, 0, since.stderr);
  assert.equal(since.stdout, '');
  const since2 = await h.kubectl(['logs', 'multi', '-c', 'b', '--since=1h']);
  assert.equal(since2.stdout, 'from-b\n');
  const bad = await h.kubectl(['logs', 'multi', '-c', 'nope']);
  assert.match(bad.stderr, /container nope is not valid for pod multi/);
});

test('bad requests end with upstream errors, not hangs', { skip }, async () => {
  // Bound to a node that does not exist: Pending for good, no container status.
  await h.runPod('waiting', [{ name: 'w', command: ['true'] }], { nodeName: 'no-such-node', wait: () => true });
  let r = await h.kubectl(['logs', 'waiting'], { timeoutMs: 15_000 });
  assert.match(r.stderr, /container "w" in pod "waiting" is waiting to start: ContainerCreating/);
  r = await h.kubectl(['exec', 'waiting', '--', 'true'], { timeoutMs: 15_000 });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /container "w" in pod "waiting" is waiting to start: ContainerCreating/);
  r = await h.kubectl(['exec', 'multi', '-c', 'nope', '--', 'true'], { timeoutMs: 15_000 });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /container nope is not valid for pod multi|container nope not found in pod multi/);
  r = await h.kubectl(['exec', 'multi', '-c', 'b', '--', '/no/such/binary'], { timeoutMs: 15_000 });
  assert.notEqual(r.code, 0);
  r = await h.kubectl(['logs', 'nosuchpod'], { timeoutMs: 15_000 });
  assert.match(r.stderr, /pods "nosuchpod" not found/);
});

test('cp both ways', { skip }, async () => {
  await h.runPod('files', [{ name: 'f', command: ['sleep', '3600'] }]);
  const src = join(scratch, 'up');
  await mkdir(src);
  const blob = randomBytes(2 << 20);
  await writeFile(join(src, 'blob.bin'), blob);
  await writeFile(join(src, 'note.txt'), 'hello cp\n');
  let r = await h.kubectl(['cp', src, 'files:/tmp/up'], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  r = await h.kubectl(['exec', 'files', '--', 'sha256sum', '/tmp/up/blob.bin']);
  const { createHash } = await import('node:crypto');
  assert.equal(r.stdout.split(' ')[0], createHash('sha256').update(blob).digest('hex'));
  r = await h.kubectl(['cp', 'files:/tmp/up', join(scratch, 'down')], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.ok((await readFile(join(scratch, 'down', 'blob.bin'))).equals(blob));
  assert.equal(await readFile(join(scratch, 'down', 'note.txt'), 'utf8'), 'hello cp\n');
});

test('exec -it in a real terminal (tmux): prompt, input, resize, exit code', { skip: skip || (!haveTmux && 'needs tmux') }, async () => {
  await h.runPod('tty', [{ name: 't', command: ['sleep', '3600'] }]);
  const tmux = (...a: string[]) => spawnSync('tmux', a, { encoding: 'utf8' });
  const cmd = `KUBECONFIG=${h.kubeconfig} kubectl exec -it tty -- sh; echo KUBECTL-EXIT=$?; sleep 30`;
  assert.equal(tmux('new-session', '-d', '-s', tmuxSession, '-x', '100', '-y', '30', cmd).status, 0);
  const screen = () => tmux('capture-pane', '-p', '-t', tmuxSession).stdout;
  const waitFor = async (re: RegExp, ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (!re.test(screen())) { if (Date.now() > deadline) assert.fail(`screen never matched ${re}:\n${screen()}`); await sleep(100); }
  };
  await waitFor(/^\/ #/m);
  tmux('send-keys', '-t', tmuxSession, 'echo hi-from-$((40+2)); stty size', 'Enter');
  await waitFor(/hi-from-42/);
  await waitFor(/^30 100\s*$/m);
  tmux('resize-window', '-t', tmuxSession, '-x', '120', '-y', '40');
  await sleep(300);
  tmux('send-keys', '-t', tmuxSession, 'stty size', 'Enter');
  await waitFor(/^40 120\s*$/m);
  tmux('send-keys', '-t', tmuxSession, 'exit 5', 'Enter');
  await waitFor(/KUBECTL-EXIT=5/);
});
