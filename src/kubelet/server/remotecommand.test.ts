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
