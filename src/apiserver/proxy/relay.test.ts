import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { relay } from './index.js';

test('relay: chunks that arrive in one tick leave in one write (one TLS write, one syscall)', async () => {
  const from = new Readable({ read() { /* pushed below */ } });
  const calls: number[] = [];
  const got: Buffer[] = [];
  const to = new Writable({
    write(c: Buffer, _e, cb) { calls.push(1); got.push(c); cb(); },
    writev(cs, cb) { calls.push(cs.length); for (const c of cs) got.push(c.chunk as Buffer); cb(); },
  });
  relay(from, to);
  // A TLS socket emits one 'data' per 16 KiB record, several in one read.
  for (let i = 0; i < 4; i++) from.push(Buffer.alloc(16384, i));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls, [4]);
  from.push(Buffer.from('x'));
  from.push(null);
  await new Promise((r) => to.on('finish', r));
  assert.equal(Buffer.concat(got).length, 4 * 16384 + 1);
});

test('relayOnRead: TLS records read into pooled buffers reach a slow writer intact (no reuse before the write is done)', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { createHash, randomBytes } = await import('node:crypto');
  const tls = await import('node:tls');
  const { ensureClusterTLS, issueCert } = await import('../tls.js');
  const { relayOnRead, relayOnReadEnd } = await import('./index.js');
  const dir = mkdtempSync(join(tmpdir(), 'jotasu-relay-test-'));
  try {
    const { ca } = await ensureClusterTLS(dir);
    const serving = await issueCert(ca, { cn: 'kubelet', ips: ['127.0.0.1'], server: true });
    const payload = randomBytes(6 * 1024 * 1024 + 123);
    const server = tls.createServer({ cert: serving.certPem, key: serving.keyPem }, (s) => { s.end(payload); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    // Takes its time over each write, and only then looks at the bytes.
    const hash = createHash('sha256');
    let n = 0;
    const sink = new Writable({
      highWaterMark: 16384,
      write(c: Buffer, _e, cb) { setImmediate(() => { hash.update(c); n += c.length; cb(); }); },
    });
    const up = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem, onread: relayOnRead(sink) } as never);
    relayOnReadEnd(up, sink);
    await new Promise((r) => sink.on('finish', r));
    up.destroy();
    server.close();
    assert.equal(n, payload.length);
    assert.equal(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
