import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { ChunkQueue, SpdySession } from './spdy.js';

test('ChunkQueue: takes across chunk boundaries, without copying a chunk taken whole', () => {
  const q = new ChunkQueue();
  const a = Buffer.from([0, 1, 2]), b = Buffer.from([3, 4, 5, 6, 7]), c = Buffer.from([8, 9]);
  q.push(a); q.push(b); q.push(c);
  assert.equal(q.length, 10);
  assert.equal(q.peekUInt32BE(1), 0x01020304);
  assert.deepEqual([...q.take(4)], [0, 1, 2, 3]);
  const whole = q.take(4);
  assert.deepEqual([...whole], [4, 5, 6, 7]);
  assert.equal(whole.buffer, b.buffer, 'the rest of a chunk is a view, not a copy');
  assert.equal(q.take(2), c);
  assert.equal(q.length, 0);
});

/** A DATA frame for stream `id`. */
function dataFrame(id: number, payload: Buffer, fin = false): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(id, 0);
  h.writeUInt32BE(((fin ? 1 : 0) << 24 | payload.length) >>> 0, 4);
  return Buffer.concat([h, payload]);
}

test('SpdySession: DATA frames split anywhere (header apart from payload, several per chunk) arrive intact', async () => {
  const t = new PassThrough();
  const session = new SpdySession(t);
  const got: Buffer[] = [];
  // A stream the peer opened (SYN_STREAM needs zlib headers; plant one directly).
  const { SpdyStream } = await import('./spdy.js');
  const s = new SpdyStream(session, 1, {});
  (session as unknown as { streams: Map<number, unknown> }).streams.set(1, s);
  s.on('data', (d: Buffer) => got.push(d));
  const payloads = [Buffer.alloc(32768, 1), Buffer.alloc(100, 2), Buffer.alloc(5000, 3)];
  const wire = Buffer.concat(payloads.map((p, i) => dataFrame(1, p, i === payloads.length - 1)));
  // kubectl's tunnel: the 8-byte header and the payload as separate messages, then odd splits.
  t.write(wire.subarray(0, 8));
  t.write(wire.subarray(8, 8 + 32768));
  for (let off = 8 + 32768; off < wire.length; off += 777) t.write(wire.subarray(off, Math.min(off + 777, wire.length)));
  await new Promise((r) => s.on('end', r));
  assert.ok(Buffer.concat(got).equals(Buffer.concat(payloads)));
  t.destroy();
});

test('SpdySession: a frame buffer is reused only after the transport wrote it (bytes intact with slow writes)', async () => {
  const { SpdyStream } = await import('./spdy.js');
  const wire: Buffer[] = [];
  const pending: (() => void)[] = [];
  let queued = 0;
  // A transport that writes later: it keeps the buffer it was given until then.
  const transport = {
    send(data: Buffer, done: () => void) {
      queued += data.length;
      pending.push(() => { wire.push(Buffer.from(data)); queued -= data.length; done(); });
    },
    get queued() { return queued; },
    pause() {}, resume() {}, end() {}, destroy() {},
    start() {},
  };
  const session = new SpdySession(transport);
  const s = new SpdyStream(session, 3, {});
  const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(50_000 + i, i + 1));
  let written = 0;
  const writer = (async () => {
    for (const c of chunks) { if (!s.write(c)) await new Promise((r) => s.once('drain', r)); written++; }
  })();
  // Complete the writes a few at a time, out of step with the writer.
  while (written < chunks.length || pending.length) {
    await new Promise((r) => setImmediate(r));
    for (const p of pending.splice(0, 3)) p();
  }
  await writer;
  // Parse the DATA frames back.
  const all = Buffer.concat(wire);
  const got: Buffer[] = [];
  for (let off = 0; off < all.length;) {
    assert.equal(all.readUInt32BE(off) & 0x7fffffff, 3);
    const len = all.readUInt32BE(off + 4) & 0xffffff;
    got.push(all.subarray(off + 8, off + 8 + len));
    off += 8 + len;
  }
  assert.ok(Buffer.concat(got).equals(Buffer.concat(chunks)), 'every byte as written');
});
