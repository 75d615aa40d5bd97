import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { remoteCommandSession } from './remotecommand.js';

/** Just enough of a ws WebSocket for the session: messages in, pause/resume counted. */
class FakeWs extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  protocol = 'v5.channel.k8s.io';
  bufferedAmount = 0;
  paused = false;
  pauses = 0;
  send(_d: unknown, cb?: () => void): void { cb?.(); }
  close(): void { this.readyState = 3; }
  pause(): void { this.paused = true; this.pauses++; }
  resume(): void { this.paused = false; }
}

test('exec stdin: a process that does not read pauses the socket instead of buffering everything', async () => {
  const ws = new FakeWs();
  const s = remoteCommandSession(ws as unknown as WebSocket, { stdin: true, stdout: true, stderr: false, tty: false });
  const msg = Buffer.concat([Buffer.from([0]), Buffer.alloc(64 * 1024, 7)]);
  // The client keeps sending while paused (messages already in flight still arrive).
  for (let i = 0; i < 64 && !ws.paused; i++) ws.emit('message', msg, true);
  assert.ok(ws.paused, 'socket paused once stdin is full');
  assert.ok(s.stdin!.writableLength <= 2 * 1024 * 1024, `buffered ${s.stdin!.writableLength}`);
  // The process reads: the socket resumes.
  s.stdin!.resume();
  await new Promise((r) => setImmediate(r));
  assert.equal(ws.paused, false);
  assert.equal(ws.pauses, 1);
});

test('exec output read straight into messages (intake): channel byte in front, bytes intact, reading stops while the socket is full', async () => {
  const { channelWriter } = await import('./remotecommand.js');
  // A WebSocket whose writes complete only when the test says so.
  const sent: Buffer[] = [];
  const pending: (() => void)[] = [];
  const ws = new FakeWs();
  ws.send = (d: unknown, cb?: () => void) => {
    const b = d as Buffer;
    ws.bufferedAmount += b.length;
    pending.push(() => { sent.push(Buffer.from(b)); ws.bufferedAmount -= b.length; cb?.(); });
  };
  const w = channelWriter(ws as unknown as WebSocket, 1);
  let resumed = 0;
  w.intake.onResume(() => { resumed++; });
  const input = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < input.length; i++) input[i] = (i * 7) & 0xff;
  let off = 0, stops = 0;
  while (off < input.length) {
    const buf = w.intake.buffer();
    const n = input.copy(buf, 0, off, off + 65536);
    off += n;
    if (!w.intake.callback(n, buf)) {
      stops++;
      // The socket drains: writes complete, reading is asked to go on.
      while (pending.length && !resumed) pending.shift()!();
      assert.equal(resumed, 1, 'resumed once the queue went down');
      resumed = 0;
    }
  }
  for (const p of pending.splice(0)) p();
  assert.ok(stops > 0, 'reading was stopped at the high-water mark');
  assert.ok(sent.every((m) => m[0] === 1), 'every message on channel 1');
  assert.ok(Buffer.concat(sent.map((m) => m.subarray(1))).equals(input), 'bytes intact although buffers were reused');
});
