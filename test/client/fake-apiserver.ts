// A tiny wire-level stand-in for the API server, for the client's fault-injection
// tests only (410s, dropped streams, chunk splits, restarts). It serves one
// namespaced resource (configmaps) in memory with kube-apiserver's wire format:
// paged lists, watch from a resourceVersion, bookmarks, Status errors.
// The real server is tested through test/lib/cluster.ts.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Obj { apiVersion?: string; kind?: string; metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string; [k: string]: unknown }; [k: string]: unknown }

type Ev = { rev: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; obj: Obj };

export interface FakeApiServer {
  url: string;
  port: number;
  objects: Map<string, Obj>;
  rev(): number;
  put(obj: Obj): Obj;
  remove(ns: string, name: string): void;
  /** Forget history up to now: watches from older revisions get 410. */
  compact(): void;
  /** How to report a too old resourceVersion: an ERROR event in a 200 stream (default) or an HTTP 410 reply. */
  goneMode: 'event' | 'http';
  /** Write watch events in pieces of this many bytes (0: whole lines). */
  chunkSize: number;
  /** Destroy every open watch socket (as a crash would). */
  dropWatches(): void;
  /** End every open watch cleanly (as a server timeout does). */
  endWatches(): void;
  sendBookmarks(): void;
  /** Every request as "METHOD path?query". */
  requests: string[];
  /** Answer the next n requests with this status and body. */
  failNext(n: number, status: number, body?: unknown, headers?: Record<string, string>): void;
  openWatches(): number;
  /** Connections accepted since start. */
  connectionsAccepted(): number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startFakeApiServer(port = 0): Promise<FakeApiServer> {
  const objects = new Map<string, Obj>();
  const history: Ev[] = [];
  let revision = 1;
  let compacted = 0;
  let uidSeq = 0;
  const watchers = new Set<{ res: http.ServerResponse; sock: Socket; from: number; ns?: string; send: (e: unknown) => void }>();
  const sockets = new Set<Socket>();
  let accepted = 0;
  let failures: Array<{ status: number; body?: unknown; headers?: Record<string, string> }> = [];

  const api = {} as FakeApiServer;
  const status = (code: number, reason: string, message: string): unknown => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code, reason, message });

  function record(type: Ev['type'], obj: Obj): void {
    const ev = { rev: revision, type, obj };
    history.push(ev);
    for (const w of watchers) if (!w.ns || w.ns === obj.metadata.namespace) w.send({ type, object: obj });
  }

  function write(res: http.ServerResponse, code: number, body: unknown): void {
    const b = Buffer.from(JSON.stringify(body));
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': b.length });
    res.end(b);
  }

  function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
    const u = new URL(req.url ?? '/', 'http://x');
    api.requests.push(`${req.method} ${u.pathname}${u.search}`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const f = failures.shift();
      if (f) {
        const b = Buffer.from(typeof f.body === 'string' ? f.body : JSON.stringify(f.body ?? ''));
        res.writeHead(f.status, { 'Content-Type': typeof f.body === 'string' ? 'text/plain' : 'application/json', ...f.headers });
        return res.end(b);
      }
      const m = /^\/api\/v1(?:\/namespaces\/([^/]+))?\/configmaps(?:\/([^/]+))?$/.exec(u.pathname);
      if (!m) return write(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      const ns = m[1] ? decodeURIComponent(m[1]) : undefined;
      const name = m[2] ? decodeURIComponent(m[2]) : undefined;
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) as Obj : undefined;
      const q = u.searchParams;
      if (req.method === 'GET' && !name && q.get('watch') === 'true') return watch(req, res, ns, q);
      if (req.method === 'GET' && !name) {
        const all = [...objects.values()].filter((o) => !ns || o.metadata.namespace === ns).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
        const limit = Number(q.get('limit') ?? 0);
        const cont = q.get('continue');
        let start = 0;
        let rv = revision;
        if (cont) {
          const [off, crv] = cont.split(':').map(Number);
          if (crv! < compacted) return write(res, 410, status(410, 'Expired', 'The provided continue parameter is too old'));
          start = off!;
          rv = crv!;
        }
        const items = limit ? all.slice(start, start + limit) : all.slice(start);
        const more = limit > 0 && start + limit < all.length;
        return write(res, 200, {
          kind: 'ConfigMapList', apiVersion: 'v1',
          metadata: { resourceVersion: String(rv), ...(more ? { continue: `${start + limit}:${rv}` } : {}) },
          items: items.map(({ kind: _k, apiVersion: _a, ...rest }) => rest),
        });
      }
      const key = `${ns}/${name ?? body?.metadata.name}`;
      if (req.method === 'GET') {
        const o = objects.get(key);
        return o ? write(res, 200, o) : write(res, 404, status(404, 'NotFound', `configmaps "${name}" not found`));
      }
      if (req.method === 'POST') {
        if (objects.has(key)) return write(res, 409, status(409, 'AlreadyExists', `configmaps "${body!.metadata.name}" already exists`));
        return write(res, 201, api.put({ ...body!, metadata: { ...body!.metadata, namespace: ns! } }));
      }
      if (req.method === 'PUT') {
        const cur = objects.get(key);
        if (!cur) return write(res, 404, status(404, 'NotFound', `configmaps "${name}" not found`));
        if (body!.metadata.resourceVersion !== cur.metadata.resourceVersion) {
          return write(res, 409, status(409, 'Conflict', `Operation cannot be fulfilled on configmaps "${name}": the object has been modified; please apply your changes to the latest version and try again`));
        }
        return write(res, 200, api.put(body!));
      }
      if (req.method === 'PATCH') {
        const cur = objects.get(key);
        if (!cur) return write(res, 404, status(404, 'NotFound', `configmaps "${name}" not found`));
        const patch = body as unknown as Record<string, unknown>;
        return write(res, 200, api.put({ ...cur, ...patch, metadata: cur.metadata, data: { ...(cur.data as object), ...(patch.data as object) }, lastPatchType: req.headers['content-type'] }));
      }
      if (req.method === 'DELETE') {
        const cur = objects.get(key);
        if (!cur) return write(res, 404, status(404, 'NotFound', `configmaps "${name}" not found`));
        api.remove(ns!, name!);
        return write(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, kind: 'configmaps' } });
      }
      write(res, 405, status(405, 'MethodNotAllowed', 'no'));
    });
  }

  function watch(req: http.IncomingMessage, res: http.ServerResponse, ns: string | undefined, q: URLSearchParams): void {
    const from = Number(q.get('resourceVersion') || revision);
    if (from < compacted && api.goneMode === 'http') {
      return write(res, 410, status(410, 'Expired', `too old resource version: ${from} (${compacted})`));
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    const send = (e: unknown): void => {
      const line = Buffer.from(`${JSON.stringify(e)}\n`);
      if (!api.chunkSize) { res.write(line); return; }
      for (let i = 0; i < line.length; i += api.chunkSize) res.write(line.subarray(i, i + api.chunkSize));
    };
    if (from < compacted) {
      send({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${compacted})`) });
      res.end();
      return;
    }
    for (const ev of history) if (ev.rev > from && (!ns || ev.obj.metadata.namespace === ns)) send({ type: ev.type, object: ev.obj });
    const w = { res, sock: req.socket, from, ns, send };
    watchers.add(w);
    res.on('close', () => watchers.delete(w));
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    if (timeout) setTimeout(() => res.end(), timeout * 1000).unref();
  }

  let server: http.Server;
  async function listen(p: number): Promise<number> {
    server = http.createServer(handler);
    server.on('connection', (s: Socket) => { accepted++; sockets.add(s); s.on('close', () => sockets.delete(s)); });
    await new Promise<void>((r) => server.listen(p, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  }
  const actualPort = await listen(port);

  Object.assign(api, {
    url: `http://127.0.0.1:${actualPort}`,
    port: actualPort,
    objects,
    goneMode: 'event',
    chunkSize: 0,
    requests: [],
    rev: () => revision,
    put(obj: Obj): Obj {
      const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
      const cur = objects.get(key);
      revision++;
      const o: Obj = { ...obj, apiVersion: 'v1', kind: 'ConfigMap', metadata: { ...obj.metadata, uid: cur?.metadata.uid ?? obj.metadata.uid ?? `uid-${++uidSeq}`, resourceVersion: String(revision) } };
      objects.set(key, o);
      record(cur ? 'MODIFIED' : 'ADDED', o);
      return o;
    },
    remove(ns: string, name: string): void {
      const key = `${ns}/${name}`;
      const cur = objects.get(key);
      if (!cur) return;
      objects.delete(key);
      revision++;
      record('DELETED', { ...cur, metadata: { ...cur.metadata, resourceVersion: String(revision) } });
    },
    compact(): void { compacted = revision; history.length = 0; },
    dropWatches(): void { for (const w of watchers) w.sock.destroy(); watchers.clear(); },
    endWatches(): void { for (const w of watchers) w.res.end(); watchers.clear(); },
    sendBookmarks(): void {
      for (const w of watchers) w.send({ type: 'BOOKMARK', object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: String(revision) } } });
    },
    failNext(n: number, st: number, body?: unknown, headers?: Record<string, string>): void {
      for (let i = 0; i < n; i++) failures.push({ status: st, body, headers });
    },
    openWatches: () => watchers.size,
    connectionsAccepted: () => accepted,
    async stop(): Promise<void> {
      for (const s of sockets) s.destroy();
      watchers.clear();
      await new Promise<void>((r) => server.close(() => r()));
    },
    async start(): Promise<void> {
      failures = [];
      await listen(actualPort);
    },
  } satisfies Partial<FakeApiServer>);
  return api;
}
