// kubectl logs and exec through the API server to the kubelet of a real `jotasu agent`,
// on pods that kubelet started.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStreamingEnv, skip, type StreamEnv } from './env.js';

let h: StreamEnv;
before(async () => { if (!skip) h = await startStreamingEnv(); });
after(async () => { await h?.stop(); });

test('logs: plain, --tail, --timestamps, -f until exit', { skip }, async () => {
  // "late" only once the test says so (a file made by exec), not after a sleep: under load
  // the checks before took longer than the sleep and saw "late" already.
  await h.runPod('logger', [{ name: 'main', command: ['sh', '-c', 'for i in 1 2 3 4 5; do echo line-$i; done; sleep 0.3; echo err-line >&2; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo late; sleep 1'] }],
    { restartPolicy: 'Never', wait: (p) => !!p.status?.containerStatuses?.[0]?.state?.running });
  await h.waitLog('logger', 'main', /err-line/);
  let r = await h.kubectl(['logs', 'logger']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'line-1\nline-2\nline-3\nline-4\nline-5\nerr-line\n');
  r = await h.kubectl(['logs', 'logger', '--tail=2']);
  assert.equal(r.stdout, 'line-5\nerr-line\n');
  r = await h.kubectl(['logs', 'logger', '--timestamps', '--tail=1']);
  assert.match(r.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z err-line\n$/);
  const follow = h.kubectl(['logs', '-f', 'logger', '-c', 'main'], { timeoutMs: 30_000 });
  const go = await h.kubectl(['exec', 'logger', '-c', 'main', '--', 'touch', '/tmp/go']);
  assert.equal(go.code, 0, go.stderr);
  r = await follow;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /err-line\nlate\n$/);
});

test('exec: exit code, stdout/stderr, stdin', { skip }, async () => {
  await h.runPod('shell', [{ name: 'sh', command: ['sleep', '3600'] }]);
  let r = await h.kubectl(['exec', 'shell', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, 'out\n');
  assert.match(r.stderr, /err\n/);
  r = await h.kubectl(['exec', '-i', 'shell', '--', 'sh', '-c', 'wc -c; echo done'], { input: 'x'.repeat(100_000) });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split(/\s+/).join(' '), '100000 done');
});

test('exec: the process\'s stdio are the kubelet\'s own streams (no runc relay in between)', { skip }, async () => {
  // Without the shim's --exec, runc relays the process's stdio through pipes of its own
  // (one more process copying every byte); with it, the process writes to our sockets.
  const r = await h.kubectl(['exec', '-i', 'shell', '--', 'sh', '-c', 'for f in 0 1 2; do readlink /proc/self/fd/$f; done; exit 4'], { input: '' });
  assert.equal(r.code, 4, r.stderr);
  const kinds = r.stdout.trim().split('\n').map((l) => l.replace(/:\[\d+\]$/, ''));
  assert.deepEqual(kinds, ['socket', 'socket', 'socket'], r.stdout);
});

test('exec -i: stdin much larger than the buffers arrives whole (back-pressure toward a slow reader)', { skip }, async () => {
  // The reader sleeps before reading, so stdin must wait in flow control, not in memory or on the floor.
  const input = 'y'.repeat(8 << 20);
  const r = await h.kubectl(['exec', '-i', 'shell', '--', 'sh', '-c', 'sleep 1; md5sum'], { input, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const { createHash } = await import('node:crypto');
  assert.equal(r.stdout.split(' ')[0], createHash('md5').update(input).digest('hex'));
});

test('exec: 16 MB of binary output on stdout and stderr arrive intact (read straight into messages, with back-pressure)', { skip }, async () => {
  const { spawn } = await import('node:child_process');
  const { createHash } = await import('node:crypto');
  let r = await h.kubectl(['exec', 'shell', '--', 'sh', '-c', 'dd if=/dev/urandom of=/tmp/r bs=65536 count=256 2>/dev/null && sha256sum /tmp/r']);
  assert.equal(r.code, 0, r.stderr);
  const want = r.stdout.split(' ')[0];
  const p = spawn('kubectl', ['exec', 'shell', '--', 'sh', '-c', 'cat /tmp/r; cat /tmp/r >&2'], { env: { ...process.env, KUBECONFIG: h.kubeconfig } });
  const out = createHash('sha256'), err = createHash('sha256');
  let n = 0;
  p.stdout.on('data', (d: Buffer) => { out.update(d); n += d.length; });
  // A slow reader on one side: the other keeps flowing, nothing is lost or reordered.
  p.stderr.on('data', (d: Buffer) => { err.update(d); p.stderr.pause(); setTimeout(() => p.stderr.resume(), 1); });
  const code = await new Promise((res) => p.on('close', res));
  assert.equal(code, 0);
  assert.equal(n, 16 << 20);
  assert.equal(out.digest('hex'), want, 'stdout intact');
  assert.equal(err.digest('hex'), want, 'stderr intact');
});
