import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import * as tls from 'node:tls';
import { ensureClusterTLS, issueCert, type KeyPair } from '../tls.js';
import { relayBothWays, relayOnRead, relayOnReadEnd } from './relay.js';
import { readIntoBuffers } from '../../util/read-into-buffers.js';

/** A cluster CA and a serving certificate for 127.0.0.1, for the test's duration. */
async function withCerts(fn: (ca: KeyPair, serving: KeyPair) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'jotasu-relay-test-'));
  try {
    const { ca } = await ensureClusterTLS(dir);
    await fn(ca, await issueCert(ca, { cn: 'test', ips: ['127.0.0.1'], server: true }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A writer that takes its time over each chunk and only then looks at its bytes (hash and count). */
function slowSink(): { sink: Writable; finished: Promise<{ n: number; sha: string }> } {
  const hash = createHash('sha256');
  let n = 0;
  const sink = new Writable({
    highWaterMark: 16384,
    write(c: Buffer, _e, cb) { setImmediate(() => { hash.update(c); n += c.length; cb(); }); },
  });
  return { sink, finished: new Promise((r) => sink.on('finish', () => r({ n, sha: hash.digest('hex') }))) };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('relayOnRead: TLS records read into pooled slabs reach a slow writer intact (no reuse before the write is done)', () => withCerts(async (ca, serving) => {
  const payload = randomBytes(6 * 1024 * 1024 + 123);
  const server = tls.createServer({ cert: serving.certPem, key: serving.keyPem }, (s) => { s.end(payload); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { sink, finished } = slowSink();
  const intake = relayOnRead(sink);
  const up = tls.connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, ca: ca.certPem, onread: intake } as tls.ConnectionOptions);
  relayOnReadEnd(up, intake);
  const got = await finished;
  up.destroy();
  server.close();
  assert.equal(got.n, payload.length);
  assert.equal(got.sha, sha(payload));
}));

test('readIntoBuffers: an accepted TLS socket switched to pooled reads (what it had read already first) relays intact', () => withCerts(async (ca, serving) => {
  const payload = randomBytes(6 * 1024 * 1024 + 77);
  const { sink, finished } = slowSink();
  let switched: boolean | undefined;
  const server = tls.createServer({ cert: serving.certPem, key: serving.keyPem }, (s) => {
    // As after an upgrade: the client's first bytes are already in the socket's buffer.
    setTimeout(() => { const intake = relayOnRead(sink); switched = readIntoBuffers(s, intake); relayOnReadEnd(s, intake); }, 100);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const c = tls.connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, ca: ca.certPem });
  c.end(payload);
  const got = await finished;
  c.destroy();
  server.close();
  assert.equal(switched, true, 'this Node lets an accepted socket read into our buffers (else the relay falls back to data events, at a CPU cost)');
  assert.equal(got.n, payload.length);
  assert.equal(got.sha, sha(payload));
}));

test('relayOnRead: one write at a time, of one buffer (a TLS socket copies the buffers of a writev into a fresh allocation first)', () => withCerts(async (ca, serving) => {
  const payload = randomBytes(4 * 1024 * 1024 + 5);
  const server = tls.createServer({ cert: serving.certPem, key: serving.keyPem }, (s) => { s.end(payload); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const hash = createHash('sha256');
  let n = 0, writevs = 0, inFlight = 0, maxInFlight = 0;
  const sink = new Writable({
    highWaterMark: 16384,
    write(c: Buffer, _e, cb) {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      setImmediate(() => { hash.update(c); n += c.length; inFlight--; cb(); });
    },
    writev(chunks, cb) { writevs++; for (const { chunk } of chunks) { hash.update(chunk as Buffer); n += (chunk as Buffer).length; } setImmediate(cb); },
  });
  const finished = new Promise<void>((r) => sink.on('finish', r));
  const intake = relayOnRead(sink);
  const up = tls.connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, ca: ca.certPem, onread: intake } as tls.ConnectionOptions);
  relayOnReadEnd(up, intake);
  await finished;
  up.destroy();
  server.close();
  assert.equal(n, payload.length);
  assert.equal(hash.digest('hex'), sha(payload));
  assert.equal(writevs, 0, 'no writev: every write is one contiguous buffer');
  assert.equal(maxInFlight, 1);
}));

test('relayBothWays: what the kubelet sent before closing reaches a slow client in full (its close waits for the writes)', () => withCerts(async (ca, serving) => {
  const payload = randomBytes(8 * 1024 * 1024 + 9);
  // The kubelet sends everything and closes at once (as after an exec's final Status).
  const kubelet = tls.createServer({ cert: serving.certPem, key: serving.keyPem }, (s) => { s.end(payload); s.resume(); });
  await new Promise<void>((r) => kubelet.listen(0, '127.0.0.1', r));
  const front = tls.createServer({ cert: serving.certPem, key: serving.keyPem }, (client) => {
    const fromKubelet = relayOnRead(client);
    const up = tls.connect({ host: '127.0.0.1', port: (kubelet.address() as { port: number }).port, ca: ca.certPem, onread: fromKubelet } as tls.ConnectionOptions);
    relayBothWays(client, up, fromKubelet);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  const c = tls.connect({ host: '127.0.0.1', port: (front.address() as { port: number }).port, ca: ca.certPem });
  c.pause();
  // The client reads only after the kubelet has long closed its side.
  await new Promise((r) => setTimeout(r, 300));
  const hash = createHash('sha256');
  let n = 0;
  await new Promise<void>((resolve) => {
    c.on('data', (d: Buffer) => { hash.update(d); n += d.length; });
    c.on('close', () => resolve());
    c.resume();
  });
  kubelet.close();
  front.close();
  assert.equal(n, payload.length);
  assert.equal(hash.digest('hex'), sha(payload));
}));
