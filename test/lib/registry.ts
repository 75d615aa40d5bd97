// Starts Debian's docker-registry (distribution) on a free loopback port with its
// storage in a temp dir, pushes locally built images into it with skopeo, and stops it.
// Optionally fronts it with a token-auth proxy that behaves like Docker Hub (401 with
// `WWW-Authenticate: Bearer realm=...`, a token endpoint checking basic credentials).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeOciLayout, type BuiltImage } from './images.js';

const execFileP = promisify(execFile);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export interface TestRegistry {
  /** host:port, e.g. 127.0.0.1:40123 */
  host: string;
  push(img: BuiltImage, repoTag: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startRegistry(): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'jotasu-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  await writeFile(join(dir, 'config.yml'), [
    'version: 0.1',
    'log: { level: error }',
    'storage:',
    `  filesystem: { rootdirectory: ${join(dir, 'data')} }`,
    '  delete: { enabled: true }',
    'http:',
    `  addr: ${host}`,
    '',
  ].join('\n'));
  const proc: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const stop = async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => { proc.once('exit', r); setTimeout(r, 3000); });
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ok = await fetch(`http://${host}/v2/`).then((r) => r.ok, () => false);
      if (ok) break;
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`docker-registry did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    host,
    async push(img, repoTag) {
      const layout = await mkdtemp(join(tmpdir(), 'jotasu-oci-'));
      try {
        await writeOciLayout(img, layout, 'latest');
        await execFileP('skopeo', ['--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${host}/${repoTag}`]);
      } finally {
        await rm(layout, { recursive: true, force: true });
      }
    },
    stop,
  };
}

export interface AuthProxy { host: string; tokensIssued: number; stop(): Promise<void> }

/**
 * A Docker-Hub-like auth front for a registry: /v2/* needs `Bearer <token>`, the token
 * comes from /token?service=&scope= with basic auth user:pass.
 */
export async function startAuthProxy(upstream: string, user: string, pass: string): Promise<AuthProxy> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const token = 'tok-' + Math.random().toString(36).slice(2);
  const state = { tokensIssued: 0 };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${host}`);
    if (url.pathname === '/token') {
      const want = 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
      if (req.headers.authorization !== want || !url.searchParams.get('scope')) { res.writeHead(401).end('{"details":"bad credentials"}'); return; }
      state.tokensIssued++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }));
      return;
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="http://${host}/token",service="test-registry",scope="repository:${url.pathname.split('/').slice(2, -2).join('/')}:pull"`,
        'content-type': 'application/json',
      }).end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    const up = request({ host: '127.0.0.1', port: Number(upstream.split(':')[1]), path: req.url, method: req.method,
      headers: { ...req.headers, host: upstream, authorization: '' } }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    host,
    get tokensIssued() { return state.tokensIssued; },
    stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
