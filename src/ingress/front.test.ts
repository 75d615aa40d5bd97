// The ingress front end on its own, over a node:http server it takes over: the head it
// builds for the backend, idle and header timeouts, draining, and hand-over to node:http.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { FrontServer, type FrontConn } from './front.js';

let server: http.Server;
let front: FrontServer;
let port = 0;
const heads: string[] = [];
const waiting: FrontConn[] = [];

before(async () => {
  server = http.createServer((req, res) => res.end(`node:http ${req.method} ${req.url}`));
  server.keepAliveTimeout = 1000;
  server.headersTimeout = 1000;
  front = new FrontServer(server, false, (res, _method, url, _host, upstreamHead) => {
    heads.push(upstreamHead);
    if (url === '/wait') { waiting.push(res); return; }
    res.head(200, 'OK', ['Content-Length', '2'], 2, false);
    res.body(Buffer.from('ok'));
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as net.AddressInfo).port;
});
after(async () => {
  front.stop();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** A connection with everything it received and when it closed. */
function connect(): { sock: net.Socket; text: () => string; closed: Promise<number> } {
  const sock = net.connect(port, '127.0.0.1');
  let text = '';
  sock.setEncoding('latin1');
  sock.on('data', (d: string) => { text += d; });
  const t0 = Date.now();
  const closed = new Promise<number>((r) => sock.on('close', () => r(Date.now() - t0)));
  return { sock, text: () => text, closed };
}

test('the head for the backend: request line in HTTP/1.1, hop-by-hop and client X-Forwarded-* dropped, ours added', async () => {
  heads.length = 0;
  const c = connect();
  c.sock.write('GET /p?q=1 HTTP/1.0\r\nHost: a.example.com\r\nConnection: keep-alive, TE\r\nKeep-Alive: 5\r\nTE: trailers\r\n'
    + 'X-Forwarded-For: 6.6.6.6\r\nx-real-ip: 6.6.6.6\r\nProxy-Authorization: x\r\nAccept:  */*  \r\n\r\n');
  while (!c.text().includes('\r\n\r\nok')) await new Promise((r) => setTimeout(r, 10));
  c.sock.destroy();
  assert.equal(heads[0], `GET /p?q=1 HTTP/1.1\r\nHost: a.example.com\r\nAccept:  */*  \r\nX-Forwarded-For: 127.0.0.1\r\nX-Real-IP: 127.0.0.1\r\n`
    + `X-Forwarded-Proto: http\r\nX-Forwarded-Host: a.example.com\r\nX-Forwarded-Port: ${port}\r\n\r\n`);
  assert.match(c.text(), /^HTTP\/1\.1 200 OK\r\nContent-Length: 2\r\nDate: .* GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=1\r\n\r\nok$/);
});

test('an idle keep-alive connection closes after keepAliveTimeout; an unfinished head gets a 408 after headersTimeout', async () => {
  const idle = connect();
  idle.sock.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  const slow = connect();
  slow.sock.write('GET / HTTP/1.1\r\nHost: a\r\n');
  const [idleMs, slowMs] = await Promise.all([idle.closed, slow.closed]);
  assert.ok(idleMs >= 1000 && idleMs < 4000, `idle closed after ${idleMs} ms`);
  assert.ok(slowMs >= 1000 && slowMs < 4000, `slow head closed after ${slowMs} ms`);
  assert.match(slow.text(), /^HTTP\/1\.1 408 Request Timeout\r\n/);
});

test('a request node:http must judge moves the connection there, with what was read', async () => {
  const c = connect();
  c.sock.write('GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyzGET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  await c.closed;
  const t = c.text();
  assert.match(t, /\r\n\r\nok/);
  assert.match(t, /node:http POST \/b/);
  assert.match(t, /node:http GET \/c$/);
});

test('draining: idle connections close at once, a busy one gets its answer with Connection: close', async () => {
  waiting.length = 0;
  const idle = connect();
  idle.sock.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  const busy = connect();
  busy.sock.write('GET /wait HTTP/1.1\r\nHost: a\r\n\r\n');
  while (!idle.text().includes('ok') || !waiting.length) await new Promise((r) => setTimeout(r, 10));
  front.closeIdle();
  const idleMs = await idle.closed;
  assert.ok(idleMs < 1000);
  const res = waiting[0]!;
  res.head(200, 'OK', ['Content-Length', '4'], 4, true);
  res.body(Buffer.from('done'));
  res.end();
  await busy.closed;
  assert.match(busy.text(), /^HTTP\/1\.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndone$/);
});
