import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { acceptWebSocket, offeredProtocols, type ServerWebSocket } from './websocket.js';

/** A server whose upgrades get our WebSocket; `onConn` sees each one. */
async function serve(onConn: (ws: ServerWebSocket) => void): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    try { onConn(acceptWebSocket(req, socket, head, offeredProtocols(req).includes('v5.channel.k8s.io') ? 'v5.channel.k8s.io' : '')); }
    catch (e) { socket.end(`HTTP/1.1 400 Bad Request\r\n\r\n${(e as Error).message}`); }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

test('websocket: a client\'s messages arrive whole and in order (small, pooled-size, fragmented, huge, text), echoes go back', async () => {
  const got: string[] = [];
  const { url, server } = await serve((ws) => {
    ws.on('message', (d, binary) => {
      got.push(`${binary ? 'b' : 't'}:${d.length}:${createHash('sha1').update(d).digest('hex').slice(0, 8)}`);
      ws.send(Buffer.from(d), () => undefined);
    });
  });
  const client = new WebSocket(url, ['v5.channel.k8s.io']);
  await new Promise((r) => client.once('open', r));
  assert.equal(client.protocol, 'v5.channel.k8s.io');
  const msgs = [Buffer.alloc(0), Buffer.from('x'), randomBytes(125), randomBytes(126), randomBytes(65535), randomBytes(65536), randomBytes(32 * 1024 + 1), randomBytes(3 << 20)];
  for (let i = 0; i < 200; i++) msgs.push(randomBytes(1 + (i * 7919) % 40000));
  const want = msgs.map((m) => `b:${m.length}:${createHash('sha1').update(m).digest('hex').slice(0, 8)}`);
  const echoes: Buffer[] = [];
  client.on('message', (d: Buffer) => echoes.push(d));
  for (const m of msgs) client.send(m);
  // Fragmented: one message in three frames.
  const frag = randomBytes(100_000);
  client.send(frag.subarray(0, 10), { fin: false });
  client.send(frag.subarray(10, 70_000), { fin: false });
  client.send(frag.subarray(70_000), { fin: true });
  want.push(`b:${frag.length}:${createHash('sha1').update(frag).digest('hex').slice(0, 8)}`);
  client.send('hello text');
  want.push(`t:10:${createHash('sha1').update('hello text').digest('hex').slice(0, 8)}`);
  // A ping is answered between data messages.
  const pong = new Promise((r) => client.once('pong', r));
  client.ping(Buffer.from('p1'));
  await pong;
  while (echoes.length < want.length) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got, want);
  assert.deepEqual(echoes.map((d) => d.length), want.map((w) => Number(w.split(':')[1])));
  // The close handshake: the client's code comes back, both sides close.
  const closed = new Promise<number>((r) => client.once('close', (code: number) => r(code)));
  client.close(1000);
  assert.equal(await closed, 1000);
  server.close();
});

test('websocket: server close() ends the session after what was sent; unmasked frames and bad handshakes are refused', async () => {
  const { url, server } = await serve((ws) => {
    ws.send(Buffer.from('last words'), () => ws.close(1000));
  });
  const client = new WebSocket(url);
  const got: string[] = [];
  client.on('message', (d: Buffer) => got.push(d.toString()));
  const code = await new Promise<number>((r) => client.once('close', (c: number) => r(c)));
  assert.equal(code, 1000);
  assert.deepEqual(got, ['last words']);

  server.close();
  // A raw client that does not mask its frames: closed with 1002.
  const quiet = await serve(() => undefined);
  const { connect } = await import('node:net');
  const port = Number(new URL(quiet.url).port);
  const s = connect(port, '127.0.0.1');
  const key = randomBytes(16).toString('base64');
  s.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  s.write(Buffer.from([0x82, 0x01, 0x00]));
  const raw: Buffer[] = [];
  s.on('data', (d: Buffer) => raw.push(d));
  await new Promise((r) => s.on('close', r));
  const all = Buffer.concat(raw);
  assert.match(all.toString('latin1'), /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(all.toString('latin1'), new RegExp(`Sec-WebSocket-Accept: ${createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64').replace(/[+/]/g, '\\$&')}`));
  const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
  assert.deepEqual([...body.subarray(0, 4)], [0x88, 0x02, 0x03, 0xea], 'close frame with 1002');

  const bad = connect(port, '127.0.0.1');
  bad.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n');
  let reply = '';
  bad.on('data', (d: Buffer) => { reply += d.toString(); });
  await new Promise((r) => bad.on('close', r));
  assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n\r\nmissing or invalid Sec-WebSocket-Key header/);
  quiet.server.close();
});
