// The ingress controller proxying to real HTTP backends on loopback (127.0.0.2-4,
// one port), driven by hand-fed informers: routing, load balancing, errors, retries,
// forwarded headers, streaming, WebSocket upgrades, TLS with SNI, live updates; all of
// it served in the controller's process and by worker processes, plus the workers' own
// life cycle (configuration reaches each, a killed one is replaced, none outlive us).
import { after, before, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Service, Secret } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { Ingress, IngressClass } from 'kubernetes-types/networking/v1.js';
import { R } from '../../src/api/resources.js';
import type { ApiClient } from '../../src/client/types.js';
import { startIngressController, type RunningIngress } from '../../src/ingress/controller.js';
import { selfSignedCert } from '../../src/ingress/cert.js';
import { createFakeInformers } from './fake-informers.js';

for (const workers of [0, 2]) suite(workers);

const BIG = Buffer.alloc(8 * 1024 * 1024, 'abcdefgh');

function suite(workers: number): void {
const inf = createFakeInformers();
const backends: http.Server[] = [];
let port = 0;
let ctl: RunningIngress;

function svc(name: string): Service {
  return { metadata: { name, namespace: 'default' }, spec: { clusterIP: '10.43.0.77', ports: [{ name: 'http', port: 80, targetPort: 'web' }] } };
}
function slice(name: string, ips: string[], p = port): EndpointSlice {
  return {
    addressType: 'IPv4', metadata: { name: `${name}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
    ports: [{ name: 'http', port: p, protocol: 'TCP' }], endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
  };
}
function ingress(name: string, host: string | undefined, service: string, extra: Partial<Ingress['spec']> = {}): Ingress {
  return {
    metadata: { name, namespace: 'default', creationTimestamp: new Date().toISOString() },
    spec: { rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: service, port: { number: 80 } } } }] } }], ...extra },
  };
}

function get(path: string, host: string, opts: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: ctl.httpPort, path, method: opts.method ?? 'GET', headers: { host, ...opts.headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Writes `payload` on one connection and returns everything received until the ingress closes it. */
function raw(payload: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(ctl.httpPort, '127.0.0.1');
    let buf = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => { buf += d; });
    sock.on('end', () => resolve(buf));
    sock.on('error', reject);
    sock.write(payload);
  });
}

describe(`ingress controller (${workers ? `${workers} worker processes` : 'in process'})`, () => {
  before(async () => {
    // One port on three loopback addresses: three "pods".
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.2', () => r()));
    port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    for (const ip of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
      const s = http.createServer((req, res) => {
        if (req.url === '/slow') { setTimeout(() => res.end(`slow ${ip}`), 600); return; }
        // No Content-Length: node:http sends this chunked.
        if (req.url === '/chunked') { res.write('ab'); setImmediate(() => res.end('cd')); return; }
        if (req.url === '/big') { res.setHeader('content-length', BIG.length); res.end(BIG); return; }
        if (req.method === 'POST') {
          let n = 0;
          req.on('data', (d: Buffer) => { n += d.length; });
          req.on('end', () => res.end(`got ${n} at ${ip}`));
          return;
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ ip, url: req.url, headers: req.headers }));
      });
      s.on('upgrade', (req, sock: net.Socket) => {
        sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
        sock.on('data', (d) => sock.write(`${ip}:${d}`));
      });
      await new Promise<void>((r) => s.listen(port, ip, () => r()));
      backends.push(s);
    }
    inf.put<IngressClass>(R.ingressclasses, { metadata: { name: 'jotasu', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } }, spec: { controller: 'jotasu.io/ingress-controller' } });
    inf.put(R.services, svc('webapp-service'));
    inf.put(R.endpointslices, slice('webapp-service', ['127.0.0.2', '127.0.0.3', '127.0.0.4']));
    inf.put(R.services, svc('empty'));
    inf.put(R.services, svc('dead'));
    inf.put(R.endpointslices, slice('dead', ['127.0.0.9']));
    inf.put(R.services, svc('halfdead'));
    inf.put(R.endpointslices, slice('halfdead', ['127.0.0.9', '127.0.0.2']));
    inf.put(R.ingresses, ingress('webapp-ingress', 'mywebapp.example.com', 'webapp-service'));
    inf.put(R.ingresses, ingress('empty', 'empty.example.com', 'empty'));
    inf.put(R.ingresses, ingress('dead', 'dead.example.com', 'dead'));
    inf.put(R.ingresses, ingress('halfdead', 'half.example.com', 'halfdead'));
    inf.put(R.ingresses, { ...ingress('other-class', 'other.example.com', 'webapp-service'), spec: { ...ingress('x', 'other.example.com', 'webapp-service').spec, ingressClassName: 'nginx' } });
    ctl = await startIngressController({ client: {} as ApiClient, informers: inf, host: '127.0.0.1', httpPort: 0, httpsPort: 0, workers });
  });
  after(async () => {
    const pids = ctl?.workers?.pids() ?? [];
    await ctl?.stop();
    for (const b of backends) { b.closeAllConnections(); b.close(); }
    assert.deepEqual(pids.filter(alive), [], 'worker processes left after stop');
  });

  test('Host rule routes to the service, round-robin over all endpoints', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await get('/index.html?x=1', 'mywebapp.example.com');
      assert.equal(r.status, 200);
      const j = JSON.parse(r.body);
      assert.equal(j.url, '/index.html?x=1');
      seen.add(j.ip);
    }
    assert.deepEqual([...seen].sort(), ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  });

  test('X-Forwarded-* and X-Real-IP', async () => {
    const r = await get('/', 'mywebapp.example.com:8080', { headers: { 'x-forwarded-for': '6.6.6.6' } });
    const h = JSON.parse(r.body).headers;
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-real-ip'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], 'mywebapp.example.com:8080');
    assert.equal(h['x-forwarded-port'], String(ctl.httpPort));
    assert.equal(h.host, 'mywebapp.example.com:8080');
  });

  test('404 unknown host, 404 other class, 503 no endpoints, 502 dead backend, retry to a live one', async () => {
    assert.equal((await get('/', 'unknown.example.com')).status, 404);
    assert.equal((await get('/', 'other.example.com')).status, 404);
    const e = await get('/', 'empty.example.com');
    assert.equal(e.status, 503);
    assert.match(e.body, /no ready endpoints/);
    const d = await get('/', 'dead.example.com');
    assert.equal(d.status, 502);
    assert.match(d.body, /default\/dead:80 at 127\.0\.0\.9:\d+ failed: ECONNREFUSED/);
    for (let i = 0; i < 4; i++) assert.equal((await get('/', 'half.example.com')).status, 200);
    // A body cannot be replayed: a POST to the dead endpoint is a 502, never retried on the
    // live one. Each worker process round-robins on its own, so send enough POSTs that some
    // worker handles two of them and so reaches both endpoints (a retried POST would turn
    // every answer into a 200).
    const statuses = new Set<number>();
    for (let i = 0; i < 6; i++) statuses.add((await get('/', 'half.example.com', { method: 'POST', body: 'x' })).status);
    assert.deepEqual([...statuses].sort(), [200, 502]);
  });

  test('keep-alive: pipelined requests are answered in order, HEAD without a body, Connection: close honoured', async () => {
    const req = (path: string, method = 'GET', extra = '') => `${method} ${path} HTTP/1.1\r\nHost: mywebapp.example.com\r\n${extra}\r\n`;
    const out = parseResponses(await raw(req('/a') + req('/b', 'HEAD') + req('/c') + req('/d', 'GET', 'Connection: close\r\n') + req('/never')), ['GET', 'HEAD', 'GET', 'GET']);
    assert.deepEqual(out.map((r) => r.status), [200, 200, 200, 200]);
    assert.equal(JSON.parse(out[0]!.body).url, '/a');
    // No body after the HEAD's head (the responses after it parse), none announced either.
    assert.equal(out[1]!.body, '');
    assert.equal(out[1]!.headers['transfer-encoding'], undefined);
    assert.equal(JSON.parse(out[2]!.body).url, '/c');
    assert.equal(JSON.parse(out[3]!.body).url, '/d');
    assert.equal(out[3]!.headers.connection, 'close');
    assert.equal(out[0]!.headers.connection, 'keep-alive');
    assert.ok(out[0]!.headers.date, 'Date header');
  });

  test('a request with a body, a malformed one, or an Upgrade mid-connection is served by node:http, pipelined requests after it too', async () => {
    const body = 'x'.repeat(1000);
    const text = await raw(
      'GET /first HTTP/1.1\r\nHost: mywebapp.example.com\r\n\r\n'
      + `POST /post HTTP/1.1\r\nHost: mywebapp.example.com\r\nContent-Length: ${body.length}\r\n\r\n${body}`
      + 'GET /after HTTP/1.1\r\nHost: mywebapp.example.com\r\nConnection: close\r\n\r\n');
    const out = parseResponses(text, ['GET', 'POST', 'GET']);
    assert.deepEqual(out.map((r) => r.status), [200, 200, 200]);
    assert.equal(JSON.parse(out[0]!.body).url, '/first');
    assert.match(out[1]!.body, /^got 1000 at /);
    assert.equal(JSON.parse(out[2]!.body).url, '/after');
    // A header name with a space before the colon is no header to guess at: node:http's 400.
    assert.match(await raw('GET / HTTP/1.1\r\nHost: mywebapp.example.com\r\nX-Bad : 1\r\n\r\n'), /^HTTP\/1\.1 400 /);
    // Content-Length plus Transfer-Encoding: node:http's 400, nothing reaches a backend.
    assert.match(await raw('GET / HTTP/1.1\r\nHost: mywebapp.example.com\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), /^HTTP\/1\.1 400 /);
    // A control character in a value: 400, not forwarded.
    assert.match(await raw('GET / HTTP/1.1\r\nHost: mywebapp.example.com\r\nX-A: a\x01b\r\n\r\n'), /^HTTP\/1\.1 400 /);
    // HTTP/1.1 without Host: 400.
    assert.match(await raw('GET / HTTP/1.1\r\n\r\n'), /^HTTP\/1\.1 400 /);
  });

  test('a chunked backend response is re-chunked for HTTP/1.1 clients and close-delimited for HTTP/1.0', async () => {
    const v11 = parseResponses(await raw('GET /chunked HTTP/1.1\r\nHost: mywebapp.example.com\r\nConnection: close\r\n\r\n'), ['GET']);
    assert.equal(v11[0]!.headers['transfer-encoding'], 'chunked');
    assert.equal(v11[0]!.body, 'abcd');
    const v10 = await raw('GET /chunked HTTP/1.0\r\nHost: mywebapp.example.com\r\nConnection: keep-alive\r\n\r\n');
    assert.match(v10, /^HTTP\/1\.1 200 /);
    assert.doesNotMatch(v10, /transfer-encoding/i);
    assert.match(v10, /\r\nConnection: close\r\n/);
    assert.ok(v10.endsWith('\r\n\r\nabcd'), JSON.stringify(v10));
    // HTTP/1.0 asking for keep-alive with a known length keeps the connection.
    const ka = parseResponses(await raw('GET /x HTTP/1.0\r\nHost: mywebapp.example.com\r\nConnection: keep-alive\r\n\r\nGET /y HTTP/1.0\r\nHost: mywebapp.example.com\r\n\r\n'), ['GET', 'GET']);
    assert.deepEqual(ka.map((r) => JSON.parse(r.body).url), ['/x', '/y']);
    assert.equal(ka[1]!.headers.connection, 'close');
  });

  test('a keep-alive connection is closed after 1000 requests, with Connection: close on the last answer', async () => {
    const one = 'GET /n HTTP/1.1\r\nHost: mywebapp.example.com\r\n\r\n';
    const out = parseResponses(await raw(one.repeat(1001)), Array(1000).fill('GET'));
    assert.equal(out.length, 1000);
    assert.ok(out.every((r) => r.status === 200));
    assert.equal(out[998]!.headers.connection, 'keep-alive');
    assert.equal(out[999]!.headers.connection, 'close');
  });

  test('large responses reach a slow client whole; a client leaving mid-response does not disturb others', async () => {
    const read = (pauseMs: number) => new Promise<Buffer>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: ctl.httpPort, path: '/big', headers: { host: 'mywebapp.example.com' }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.pause();
        setTimeout(() => res.resume(), pauseMs); // the ingress must wait, not buffer without end or drop
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      }).on('error', reject);
    });
    const gone = net.connect(ctl.httpPort, '127.0.0.1');
    gone.on('error', () => {});
    gone.write('GET /big HTTP/1.1\r\nHost: mywebapp.example.com\r\n\r\n');
    gone.once('data', () => gone.destroy());
    const [a, b] = await Promise.all([read(300), read(0)]);
    assert.ok(a.equals(BIG) && b.equals(BIG), `got ${a.length} and ${b.length} bytes`);
    assert.equal((await get('/', 'mywebapp.example.com')).status, 200);
  });

  test('large request bodies stream through', async () => {
    const body = Buffer.alloc(8 * 1024 * 1024, 97);
    const r = await get('/', 'mywebapp.example.com', { method: 'POST', body });
    assert.match(r.body, /^got 8388608 at /);
  });

  test('WebSocket-style Upgrade passes through', async () => {
    const sock = net.connect(ctl.httpPort, '127.0.0.1');
    sock.write('GET /ws HTTP/1.1\r\nHost: mywebapp.example.com\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
    let buf = '';
    await new Promise<void>((resolve) => sock.on('data', (d) => {
      buf += d;
      if (buf.includes('\r\n\r\n') && !buf.includes(':hello')) sock.write('hello');
      if (buf.includes(':hello')) resolve();
    }));
    sock.destroy();
    assert.match(buf, /^HTTP\/1\.1 101/);
    assert.match(buf, /127\.0\.0\.\d:hello/);
  });

  test('HTTPS with SNI picks the certificate from the TLS secret', async () => {
    const kp = await selfSignedCert('secure.example.com');
    inf.put<Secret>(R.secrets, { metadata: { name: 'tls1', namespace: 'default', resourceVersion: '1' }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from(kp.certPem).toString('base64'), 'tls.key': Buffer.from(kp.keyPem).toString('base64') } });
    inf.put(R.ingresses, ingress('secure', 'secure.example.com', 'webapp-service', { tls: [{ hosts: ['secure.example.com'], secretName: 'tls1' }] }));
    await ctl.rebuildNow();
    const fetchCN = (servername: string) => new Promise<{ cn: string; status: number; proto: string }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: ctl.httpsPort, servername, path: '/', headers: { host: servername }, rejectUnauthorized: false, agent: false }, (res) => {
        const cn = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().subject.CN as string;
        let b = '';
        res.on('data', (d) => { b += d; });
        res.on('end', () => resolve({ cn, status: res.statusCode!, proto: res.statusCode === 200 ? JSON.parse(b).headers['x-forwarded-proto'] : '' }));
      });
      req.on('error', reject);
      req.end();
    });
    const s = await fetchCN('secure.example.com');
    assert.deepEqual(s, { cn: 'secure.example.com', status: 200, proto: 'https' });
    const d = await fetchCN('mywebapp.example.com');
    assert.equal(d.cn, 'jotasu ingress default certificate');
    assert.equal(d.status, 200);
  });

  test('HTTPS keep-alive: GETs, then a POST and a GET on the same TLS connection', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
    const ports = new Set<number>();
    const one = (method: string, path: string, body?: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: ctl.httpsPort, servername: 'mywebapp.example.com', method, path, headers: { host: 'mywebapp.example.com' }, agent }, (res) => {
        ports.add(res.socket.localPort!);
        let b = '';
        res.on('data', (d) => { b += d; });
        res.on('end', () => resolve({ status: res.statusCode!, body: b }));
      });
      req.on('error', reject);
      req.end(body);
    });
    try {
      assert.equal(JSON.parse((await one('GET', '/1')).body).headers['x-forwarded-proto'], 'https');
      assert.equal(JSON.parse((await one('GET', '/2')).body).url, '/2');
      assert.match((await one('POST', '/3', 'x'.repeat(5000))).body, /^got 5000 at /);
      const last = await one('GET', '/4');
      assert.equal(JSON.parse(last.body).url, '/4');
      assert.equal(ports.size, 1, 'one TLS connection for all four');
    } finally { agent.destroy(); }
  });

  test('configuration changes apply within 1 s without dropping in-flight requests', async () => {
    const slow = get('/slow', 'mywebapp.example.com');
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    inf.put(R.ingresses, ingress('late', 'late.example.com', 'webapp-service'));
    inf.put(R.endpointslices, slice('webapp-service', ['127.0.0.3']));
    let r = await get('/', 'late.example.com');
    while (r.status !== 200 && Date.now() - t0 < 2000) r = await get('/', 'late.example.com');
    assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
    assert.equal(JSON.parse(r.body).ip, '127.0.0.3');
    const s = await slow;
    assert.equal(s.status, 200);
    assert.match(s.body, /^slow /);
    inf.put(R.endpointslices, slice('webapp-service', ['127.0.0.2', '127.0.0.3', '127.0.0.4']));
  });

  test('a configuration change reaches every worker', { skip: !workers }, async () => {
    inf.put(R.ingresses, ingress('everywhere', 'everywhere.example.com', 'webapp-service'));
    await ctl.rebuildNow();
    const st = await ctl.workers!.stats();
    assert.equal(st.length, workers);
    const v = st[0]!.version;
    assert.ok(st.every((w) => w.version === v), `versions ${st.map((w) => w.version)}`);
    // Fresh connections land on any worker: every one of them knows the new host.
    const rs = await Promise.all(Array.from({ length: 40 }, () => get('/', 'everywhere.example.com')));
    assert.deepEqual([...new Set(rs.map((r) => r.status))], [200]);
    const after = await ctl.workers!.stats();
    assert.equal(after.reduce((n, w) => n + w.requests, 0) - st.reduce((n, w) => n + w.requests, 0), 40);
    // Small processes: no informers, no API client in a worker (tsx adds its compiler here).
    for (const w of after) assert.ok(w.rss < 200 * 1024 * 1024, `worker RSS ${w.rss}`);
  });

  test('a killed worker is replaced, traffic goes on', { skip: !workers }, async () => {
    const before = ctl.workers!.pids();
    process.kill(before[0]!, 'SIGKILL');
    // The survivors keep serving the shared port meanwhile.
    for (let i = 0; i < 10; i++) assert.equal((await get('/', 'mywebapp.example.com')).status, 200);
    const t0 = Date.now();
    let pids = ctl.workers!.pids();
    while ((pids.length < workers || pids.includes(before[0]!) || (await ctl.workers!.stats()).length < workers) && Date.now() - t0 < 10_000) {
      await new Promise((r) => setTimeout(r, 50));
      pids = ctl.workers!.pids();
    }
    assert.equal(pids.length, workers);
    assert.ok(!pids.includes(before[0]!));
    assert.ok(!alive(before[0]!));
    // The replacement has the current configuration and serves the same port.
    await ctl.rebuildNow();
    const st = await ctl.workers!.stats();
    assert.ok(st.every((w) => w.version === st[0]!.version));
    assert.equal((await get('/', 'everywhere.example.com')).status, 200);
  });
});
}

interface RawResponse { status: number; headers: Record<string, string>; body: string }

/** Splits a stream of HTTP/1.1 responses (to requests of `methods`, in order); the last one may run to the end. */
function parseResponses(text: string, methods: string[]): RawResponse[] {
  const out: RawResponse[] = [];
  let off = 0;
  for (const method of methods) {
    const end = text.indexOf('\r\n\r\n', off);
    assert.ok(end >= 0, `response ${out.length + 1} of ${methods.length} missing in ${JSON.stringify(text.slice(off, off + 200))}`);
    const [statusLine, ...lines] = text.slice(off, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) { const c = l.indexOf(':'); headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim(); }
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine!)?.[1]);
    off = end + 4;
    let body = '';
    if (method === 'HEAD' || status === 204 || status === 304) { /* no body */ } else if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const nl = text.indexOf('\r\n', off);
        const n = parseInt(text.slice(off, nl), 16);
        off = nl + 2;
        if (n === 0) { off += 2; break; }
        body += text.slice(off, off + n);
        off += n + 2;
      }
    } else if (headers['content-length'] !== undefined) {
      body = text.slice(off, off + Number(headers['content-length']));
      off += body.length;
    } else { body = text.slice(off); off = text.length; }
    out.push({ status, headers, body });
  }
  assert.equal(off, text.length, `unexpected bytes after the responses: ${JSON.stringify(text.slice(off, off + 200))}`);
  return out;
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

describe('ingress worker processes', () => {
  test('exit when the controller process is killed (no orphans)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../../bench/network-ingress-child.ts', import.meta.url)), '1', '0', '2'],
      { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, LOG_LEVEL: 'warn' } });
    let pids: number[] = [];
    try {
      const m = await new Promise<{ workers: number[] }>((resolve, reject) => {
        child.once('message', (x) => resolve(x as { workers: number[] }));
        child.once('exit', (code) => reject(new Error(`controller exited with ${code}`)));
      });
      pids = m.workers;
      assert.equal(pids.length, 2);
      assert.ok(pids.every(alive));
      child.kill('SIGKILL');
      const t0 = Date.now();
      while (pids.some(alive) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(pids.filter(alive), []);
    } finally {
      child.kill('SIGKILL');
      for (const p of pids) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    }
  });
});
