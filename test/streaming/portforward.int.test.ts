// kubectl port-forward (SPDY tunnelled in a WebSocket, kubectl 1.32's default) through
// the API server to the kubelet of a real `jotasu agent` and into the pod it started.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { startStreamingEnv, skip, type StreamEnv } from './env.js';

let h: StreamEnv;
const procs: ChildProcess[] = [];
before(async () => { if (!skip) h = await startStreamingEnv(); });
after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await h?.stop();
});

/** Starts `kubectl port-forward` and resolves to the local port it listens on. */
export async function portForward(kubeconfig: string, target: string, remotePort: number, env: Record<string, string> = {}): Promise<{ port: number; proc: ChildProcess; output: () => string }> {
  const p = spawn('kubectl', ['port-forward', target, `0:${remotePort}`, '--address', '127.0.0.1'], { env: { ...process.env, KUBECONFIG: kubeconfig, ...env } });
  procs.push(p);
  let out = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`port-forward did not start: ${out}`)), 15_000);
    const on = (d: Buffer) => {
      out += d.toString();
      const m = out.match(/Forwarding from 127\.0\.0\.1:(\d+)/);
      if (m) { clearTimeout(t); resolve({ port: Number(m[1]), proc: p, output: () => out }); }
    };
    p.stdout!.on('data', on);
    p.stderr!.on('data', on);
    p.on('exit', (code) => { clearTimeout(t); reject(new Error(`port-forward exited ${code}: ${out}`)); });
  });
}

/** Sends `data` to an echo server and returns what came back. */
export function echo(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let n = 0;
    s.on('data', (d: Buffer) => { got.push(d); n += d.length; if (n >= data.length) { s.end(); } });
    s.on('close', () => resolve(Buffer.concat(got)));
    s.on('error', reject);
    s.write(data);
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('port-forward: several connections at once, bytes intact both ways', { skip }, async () => {
  await h.runPod('echo', [{ name: 'echo', command: ['nc', '-ll', '-p', '8080', '-e', 'cat'] }]);
  const pf = await portForward(h.kubeconfig, 'pod/echo', 8080);
  const payloads = [randomBytes(3 << 20), randomBytes(1 << 20), randomBytes(2 << 20), randomBytes(100)];
  const back = await Promise.all(payloads.map((p) => echo(pf.port, p)));
  for (let i = 0; i < payloads.length; i++) {
    assert.equal(back[i]!.length, payloads[i]!.length, `connection ${i} length`);
    assert.equal(sha(back[i]!), sha(payloads[i]!), `connection ${i} checksum`);
  }
  // A port nobody listens on: the connection closes and kubectl reports the error, then keeps going.
  const pf2 = await portForward(h.kubeconfig, 'pod/echo', 9999);
  const r = await echo(pf2.port, Buffer.from('x')).catch(() => Buffer.alloc(0));
  assert.equal(r.length, 0);
  const again = await echo(pf.port, Buffer.from('still there'));
  assert.equal(again.toString(), 'still there');
});

test('port-forward reaches a server bound to 127.0.0.1 only inside the pod', { skip }, async () => {
  await h.runPod('local', [{ name: 'web', command: ['sh', '-c', 'mkdir -p /www && echo local-only > /www/index.html && exec httpd -f -p 127.0.0.1:8090 -h /www'] }]);
  const pf = await portForward(h.kubeconfig, 'pod/local', 8090);
  let body = '';
  for (let i = 0; i < 50 && !body.includes('local-only'); i++) {
    body = (await echo(pf.port, Buffer.from('GET / HTTP/1.0\r\n\r\n')).catch(() => Buffer.alloc(0))).toString();
    if (!body.includes('local-only')) await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(body, /local-only/);
});
