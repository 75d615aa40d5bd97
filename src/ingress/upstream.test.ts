// The ingress' upstream client against a loopback server that answers with crafted
// bytes: framing (length, chunked, until close), hop-by-hop headers dropped, malformed
// heads refused, keep-alive reuse, and retryability of failures.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { UpstreamPool, type Exchange } from './upstream.js';

interface Result { status?: number; reason?: string; headers?: string[]; length?: number; hasDate?: boolean; body: string; err?: string; retryable?: boolean }

let server: net.Server;
let port = 0;
/** What the server answers (by request path): bytes at once, pieces 5 ms apart, or bytes then FIN. */
const answers = new Map<string, string | Buffer[] | { end: string }>();
let accepted = 0;
/** The server side of every open test connection. */
const open = new Set<net.Socket>();

before(async () => {
  server = net.createServer((s) => {
    accepted++;
    open.add(s);
    s.on('close', () => open.delete(s));
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const path = buf.slice(0, end).split(' ')[1]!;
        buf = buf.slice(end + 4);
        const a = answers.get(path) ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n';
        if (typeof a === 'string') s.write(a, 'latin1');
        else if (!Array.isArray(a)) s.end(a.end, 'latin1');
        else void (async () => { for (const piece of a) { s.write(piece); await new Promise((r) => setTimeout(r, 5)); } })();
      }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as net.AddressInfo).port;
});
after(() => { server.close(); });

function fetch(pool: UpstreamPool, path: string, method = 'GET'): Promise<Result> {
  return new Promise((resolve) => {
    const r: Result = { body: '' };
    const x: Exchange = {
      onHead(status, reason, headers, length, hasDate) { Object.assign(r, { status, reason, headers, length, hasDate }); },
      onBody(chunk) { r.body += chunk.toString('latin1'); return true; },
      onEnd() { resolve(r); },
      onError(e, retryable) { r.err = e.code ?? e.message; r.retryable = retryable; resolve(r); },
    };
    pool.request('127.0.0.1', port, `${method} ${path} HTTP/1.1\r\nHost: t\r\n\r\n`, method === 'HEAD', x);
  });
}

test('framing: Content-Length, chunked (split across reads), until close; hop-by-hop headers dropped', async () => {
  const pool = new UpstreamPool();
  try {
    answers.set('/len', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-A: 1\r\n\r\nhello');
    const a = await fetch(pool, '/len');
    assert.deepEqual([a.status, a.reason, a.headers, a.length, a.hasDate, a.body], [200, 'OK', ['Content-Length', '5', 'X-A', '1'], 5, false, 'hello']);

    answers.set('/chunked', [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n3\r'), Buffer.from('\nabc\r\n'), Buffer.from('2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n')]);
    const c = await fetch(pool, '/chunked');
    assert.deepEqual([c.headers, c.length, c.hasDate, c.body], [['Date', 'Mon, 01 Jan 2024 00:00:00 GMT'], -1, true, 'abcde']);

    // Transfer-Encoding wins over Content-Length, which is not passed on.
    answers.set('/both', 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n');
    const b = await fetch(pool, '/both');
    assert.deepEqual([b.headers, b.length, b.body], [[], -1, 'z']);

    answers.set('/head', 'HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n');
    const h = await fetch(pool, '/head', 'HEAD');
    assert.deepEqual([h.status, h.length, h.body], [200, 42, '']);

    answers.set('/close', { end: 'HTTP/1.0 200 OK\r\n\r\nuntil close' });
    const u = await fetch(pool, '/close');
    assert.equal(u.body, 'until close');
    assert.equal(u.length, -1);
  } finally { pool.destroy(); }
});

test('keep-alive connections are reused; Connection: close and HTTP/1.0 ones are not', async () => {
  const pool = new UpstreamPool();
  try {
    answers.set('/ka', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nk');
    answers.set('/cl', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nc');
    const before = accepted;
    for (let i = 0; i < 3; i++) assert.equal((await fetch(pool, '/ka')).body, 'k');
    assert.equal(accepted - before, 1);
    await fetch(pool, '/cl');
    await fetch(pool, '/ka');
    assert.equal(accepted - before, 2);
  } finally { pool.destroy(); }
});

test('malformed heads are refused (EPROTO), never passed on', async () => {
  const pool = new UpstreamPool();
  try {
    const bad = {
      '/space': 'HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 0\r\n\r\n',
      '/ctl': 'HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n',
      '/lf': 'HTTP/1.1 200 OK\r\nX-A: a\nSet-Cookie: injected\r\nContent-Length: 0\r\n\r\n',
      '/fold': 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n',
      '/reason': 'HTTP/1.1 200 O\x00K\r\nContent-Length: 0\r\n\r\n',
      '/length': 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      '/status': 'HTTP/2 200 OK\r\n\r\n',
    };
    for (const [path, text] of Object.entries(bad)) {
      answers.set(path, text);
      const r = await fetch(pool, path);
      assert.equal(r.err, 'EPROTO', `${path}: ${JSON.stringify(r)}`);
      assert.equal(r.status, undefined, path);
      assert.equal(r.retryable, false, path);
    }
  } finally { pool.destroy(); }
});

test('connection refused is retryable; a reset after the response began is not', async () => {
  const pool = new UpstreamPool();
  try {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const closedPort = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const refused = await new Promise<Result>((resolve) => {
      pool.request('127.0.0.1', closedPort, 'GET / HTTP/1.1\r\nHost: t\r\n\r\n', false, {
        onHead() {}, onBody() { return true; }, onEnd() {},
        onError(e, retryable) { resolve({ body: '', err: e.code, retryable }); },
      });
    });
    assert.deepEqual([refused.err, refused.retryable], ['ECONNREFUSED', true]);
    answers.set('/cut', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    // Three of ten bytes, then the backend goes away.
    const cut = fetch(pool, '/cut');
    await new Promise((r) => setTimeout(r, 50));
    for (const s of open) s.destroy();
    const r = await cut;
    assert.equal(r.err, 'ECONNRESET');
    assert.equal(r.retryable, false);
  } finally { pool.destroy(); }
});
