// kubectl attach -i and kubectl run -i --rm through the API server to the kubelet of a
// real `jotasu agent`: stdin goes into the shim's FIFO, output comes back from the log.
// And logs -f across the shim's rotation: this agent rotates at 8 KiB, 3 files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startStreamingEnv, skip, type StreamEnv } from './env.js';

let h: StreamEnv;
/** kubectl processes still running: killed in after(), also when a test failed half-way. */
const children = new Set<ChildProcess>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  if (!skip) h = await startStreamingEnv({ agentArgs: ['--container-log-max-size', '8Ki', '--container-log-max-files', '3'] });
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await h?.stop();
});

interface Live {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  waitOut(re: RegExp, ms?: number): Promise<void>;
  exited(ms?: number): Promise<number>;
}

/** kubectl with its stdin held open by the test. */
function kubectlLive(args: string[]): Live {
  const child = spawn('kubectl', args, { env: { ...process.env, KUBECONFIG: h.kubeconfig }, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let out = '', err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  child.stdin!.on('error', () => undefined);
  const done = new Promise<number>((r) => child.on('exit', (code, sig) => { children.delete(child); r(code ?? (sig ? 128 : 1)); }));
  return {
    child, stdout: () => out, stderr: () => err,
    async waitOut(re, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (!re.test(out)) {
        if (Date.now() > deadline) assert.fail(`kubectl ${args.join(' ')}: stdout never matched ${re}\nstdout: ${out}\nstderr: ${err}`);
        await sleep(50);
      }
    },
    async exited(ms = 20_000) {
      const t = setTimeout(() => child.kill('SIGKILL'), ms);
      const code = await done;
      clearTimeout(t);
      return code;
    },
  };
}

test('attach -i: stdin reaches cat in the container, its answer comes back; ending stdin ends the session', { skip }, async () => {
  await h.runPod('echo', [{ name: 'c', command: ['cat'], stdin: true }]);
  for (const round of [1, 2]) {
    // Twice: the FIFO stays open for the next session (no stdinOnce).
    const k = kubectlLive(['attach', '-i', 'echo', '-c', 'c']);
    k.child.stdin!.write(`hello-${round}\n`);
    await k.waitOut(new RegExp(`hello-${round}\\n`));
    k.child.stdin!.write('second line\n');
    await k.waitOut(/second line\n/);
    k.child.stdin!.end();
    assert.equal(await k.exited(), 0, k.stderr());
    assert.equal(k.stdout(), `hello-${round}\nsecond line\n`);
  }
  // cat never saw EOF: still the first run.
  const r = await h.kubectl(['get', 'pod', 'echo', '-o', 'jsonpath={.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].state.running.startedAt}']);
  assert.match(r.stdout, /^0 \S+/);
});

test('attach -i to a container without stdin: input dropped, output still streams', { skip }, async () => {
  await h.runPod('ticker', [{ name: 't', command: ['sh', '-c', 'while true; do echo tick; sleep 0.2; done'] }]);
  const k = kubectlLive(['attach', '-i', 'ticker', '-c', 't']);
  k.child.stdin!.end('ignored\n');
  await k.waitOut(/tick\ntick\n/);
  k.child.kill('SIGINT');
  await k.exited(5000);
});

test('run -i --rm --restart=Never: output printed, exit code returned, pod deleted', { skip }, async () => {
  const run = (name: string, input: string) => h.kubectl(['run', name, '-i', '--rm', '--restart=Never', `--image=${h.image}`, '--image-pull-policy=IfNotPresent',
    '--command', '--', 'sh'], { input, timeoutMs: 60_000 });
  let r = await run('once', 'echo hello-$((40+2))\necho to-stderr >&2\n');
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^hello-42\n/);
  assert.match(r.stdout, /pod "once" deleted/);
  assert.match(r.stderr, /to-stderr/);
  r = await run('fails', 'echo before-exit\nexit 3\n');
  assert.equal(r.code, 3, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /before-exit/);
  assert.match(r.stderr, /pod default\/fails terminated \(Error\)/);
  for (const name of ['once', 'fails']) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const g = await h.kubectl(['get', 'pod', name]);
      if (/NotFound/.test(g.stderr)) break;
      if (Date.now() > deadline) assert.fail(`pod ${name} still there: ${g.stdout}`);
      await sleep(200);
    }
  }
});

test('run -it: a tty container fails with a clear message instead of hanging', { skip }, async () => {
  // Not a terminal here, so kubectl attaches without one, but the pod still asks for tty: true.
  const r = await h.kubectl(['run', 'tty', '-it', '--restart=Never', `--image=${h.image}`, '--image-pull-policy=IfNotPresent', '--command', '--', 'sh'],
    { input: 'echo hi\n', timeoutMs: 90_000 });
  // kubectl returns the container's exit code: 128 for a failed start.
  assert.equal(r.code, 128, r.stderr);
  const dbg = await h.kubectl(['get', 'pod', 'tty', '-o', 'jsonpath={.status}']);
  assert.match(r.stderr, /tty: true is not supported by this runtime/, dbg.stdout);
  await h.kubectl(['delete', 'pod', 'tty', '--wait=false']);
});

test('logs -f follows the shim\'s log rotation (8 KiB x 3 here) without losing or repeating a line', { skip }, async () => {
  // 20 bursts of 100 lines (~6 KiB each): a rotation every burst or two, and at most 2
  // rotated files kept, so a reader that stayed on the renamed file would miss lines.
  // The bursts start once kubectl follows (it printed "ready"), not after a sleep: like
  // upstream, a follower starts at the live log, so one that came after the first
  // rotation (kubectl slower than the sleep, under load) would miss the rotated lines.
  const script = 'echo ready; while [ ! -e /tmp/go ]; do sleep 0.1; done; b=0; while [ $b -lt 20 ]; do i=0; while [ $i -lt 100 ]; do echo "line-$b-$i-padding-padding-padding-padding"; i=$((i+1)); done; b=$((b+1)); sleep 0.1; done; echo the-end; sleep 1';
  const pod = await h.runPod('rotator', [{ name: 'r', command: ['sh', '-c', script] }], { restartPolicy: 'Never', wait: (p) => !!p.status?.containerStatuses?.[0]?.state?.running });
  const follow = kubectlLive(['logs', '-f', 'rotator']);
  await follow.waitOut(/^ready\n/, 30_000);
  const go = await h.kubectl(['exec', 'rotator', '--', 'touch', '/tmp/go']);
  assert.equal(go.code, 0, go.stderr);
  assert.equal(await follow.exited(60_000), 0, follow.stderr());
  const want: string[] = ['ready'];
  for (let b = 0; b < 20; b++) for (let i = 0; i < 100; i++) want.push(`line-${b}-${i}-padding-padding-padding-padding`);
  want.push('the-end');
  const got = follow.stdout().split('\n').slice(0, -1);
  const why = () => `got ${got.length} lines, first difference at ${got.findIndex((l, i) => l !== want[i])}; agent: ${h.env.agentLogs().split('\n').filter((l) => /kubelet-server|streaming/.test(l)).slice(-5).join('\n')}`;
  assert.equal(got.length, want.length, why());
  assert.deepEqual(got, want);
  // It did rotate, and pruned to 2 rotated files.
  const dir = join(h.env.agentDir, 'agent', 'pod-logs', `default_rotator_${pod.metadata!.uid}`, 'r');
  const rotated = readdirSync(dir).filter((f) => /^0\.log\.\d{8}-\d{6}/.test(f));
  assert.equal(rotated.length, 2, readdirSync(dir).join(' '));
});
