// kubectl port-forward (SPDY tunnelled in a WebSocket, kubectl 1.32's default) through
// the API server to the kubelet of a real `jotasu agent` and into the pod it started.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
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

/** Opens the pod's portforward subresource as a WebSocket (what client libraries do), as the admin. */
function portForwardSocket(pod: string, query: string, protocols: string[]): Promise<{ ws: WebSocket; messages: Buffer[]; next: (pred: (m: Buffer) => boolean) => Promise<Buffer> }> {
  const url = `${h.env.cluster.url.replace(/^https/, 'wss')}/api/v1/namespaces/default/pods/${pod}/portforward?${query}`;
  const ws = new WebSocket(url, protocols, h.env.cluster.tlsOptions());
  const messages: Buffer[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (d: Buffer) => { messages.push(d); for (const w of waiters.splice(0)) w(); });
  const next = async (pred: (m: Buffer) => boolean) => {
    for (;;) {
      const i = messages.findIndex(pred);
      if (i >= 0) return messages.splice(i, 1)[0]!;
      await new Promise<void>((r, j) => { waiters.push(r); setTimeout(() => j(new Error(`no such message; have ${messages.map((m) => m.subarray(0, 40).toString('hex')).join(' ')}`)), 15_000).unref(); });
    }
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages, next }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { status: res.statusCode, body })));
    });
    ws.once('error', reject);
  });
}

test('port-forward over WebSocket channels (v4.channel.k8s.io, base64, as client libraries use it)', { skip }, async () => {
  await h.runPod('wsecho', [{ name: 'echo', command: ['nc', '-ll', '-p', '8080', '-e', 'cat'] }]);
  const le = (p: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(p); return b; };
  // Two ports: 8080 (echo) on channels 0/1, 9999 (nobody listens) on channels 2/3.
  const c = await portForwardSocket('wsecho', 'ports=8080,9999', ['v4.channel.k8s.io']);
  assert.equal(c.ws.protocol, 'v4.channel.k8s.io');
  // Sent at once, while the kubelet is still connecting to the pod: kept for the connection.
  const payload = randomBytes(2 << 20);
  for (let off = 0; off < payload.length; off += 32768) c.ws.send(Buffer.concat([Buffer.of(0), payload.subarray(off, off + 32768)]));
  for (const [ch, port] of [[0, 8080], [1, 8080], [2, 9999], [3, 9999]] as const) {
    const m = await c.next((x) => x[0] === ch);
    assert.ok(m.subarray(1).equals(le(port)), `channel ${ch} opens with port ${port}`);
  }
  const err = await c.next((x) => x[0] === 3);
  assert.match(err.subarray(1).toString(), /^error forwarding port 9999 to pod wsecho, uid .*: /);
  const back: Buffer[] = [];
  let n = 0;
  while (n < payload.length) { const m = await c.next((x) => x[0] === 0); back.push(m.subarray(1)); n += m.length - 1; }
  assert.equal(sha(Buffer.concat(back)), sha(payload), 'echoed intact');
  c.ws.close();

  // Base64 text frames: the channel as a digit, the data in base64.
  const t = await portForwardSocket('wsecho', 'ports=8080', ['v4.base64.channel.k8s.io']);
  assert.equal(t.ws.protocol, 'v4.base64.channel.k8s.io');
  t.ws.send(`0${Buffer.from('hello over base64').toString('base64')}`);
  assert.equal((await t.next((x) => x[0] === 0x30)).toString(), `0${le(8080).toString('base64')}`);
  let text = '';
  while (!text.includes('hello over base64')) text += Buffer.from((await t.next((x) => x[0] === 0x30)).subarray(1).toString(), 'base64').toString();
  t.ws.close();

  // Bad ports: the kubelet's 400, passed through.
  await assert.rejects(portForwardSocket('wsecho', 'ports=abc', ['v4.channel.k8s.io']), (e: { status?: number; body?: string }) => e.status === 400 && /unable to parse "abc" as a port/.test(e.body ?? ''));
  await assert.rejects(portForwardSocket('wsecho', '', ['v4.channel.k8s.io']), (e: { status?: number; body?: string }) => e.status === 400 && /query parameter "port" is required/.test(e.body ?? ''));
});
