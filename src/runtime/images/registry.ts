// A client for the OCI distribution API v2 (the pull side): manifest resolution
// (Docker schema2, OCI manifests, manifest lists / OCI indexes resolved to
// linux/amd64), blob download with Range resume and digest verification, and the auth
// dance Docker Hub uses (401 + WWW-Authenticate: Bearer realm/service/scope -> token
// endpoint, with basic credentials when given) or plain Basic auth.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat, rename, rm, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ImagePullError, type AuthConfig, type PullProgress } from '../cri.js';
import { apiHost, isLoopbackRegistry, formatReference, type ImageReference } from './reference.js';

export const MT = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
  urls?: string[];
}

export interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface Index {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
}

export interface ResolvedManifest {
  digest: string;
  mediaType: string;
  raw: Buffer;
  manifest: Manifest;
}

export interface RegistryOptions {
  auth?: AuthConfig;
  /** Registries (host[:port]) allowed over plain HTTP besides loopback ones. */
  insecureRegistries?: string[];
  userAgent?: string;
  platform?: { os: string; architecture: string };
}

const ACCEPT = [MT.ociIndex, MT.dockerList, MT.ociManifest, MT.dockerManifest].join(', ');

export function sha256(buf: Buffer | string): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

interface Challenge { scheme: string; params: Record<string, string> }

function parseChallenge(h: string | null): Challenge | null {
  if (!h) return null;
  const m = /^\s*(\w+)\s*(.*)$/.exec(h);
  if (!m) return null;
  const params: Record<string, string> = {};
  const re = /(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]!))) params[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? '';
  return { scheme: m[1]!.toLowerCase(), params };
}

/** Reads the registry's `{"errors":[{code,message}]}` body into one line. */
async function registryReason(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const j = JSON.parse(text) as { errors?: { code?: string; message?: string; detail?: unknown }[] };
    if (j.errors?.length) return j.errors.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
  } catch { /* not JSON */ }
  return text.trim().slice(0, 200) || `${res.status} ${res.statusText}`;
}

export class RegistryClient {
  private readonly base: string[];
  private scheme: string | undefined;
  private authHeader: string | undefined;
  private readonly refStr: string;

  constructor(readonly ref: ImageReference, private readonly opts: RegistryOptions = {}) {
    const host = apiHost(ref.domain);
    const insecure = isLoopbackRegistry(ref.domain) || (opts.insecureRegistries ?? []).includes(ref.domain);
    // Docker tries HTTPS first and falls back to HTTP only for insecure registries.
    this.base = insecure ? [`https://${host}`, `http://${host}`] : [`https://${host}`];
    this.refStr = formatReference(ref);
    const a = opts.auth;
    if (a?.registryToken) this.authHeader = `Bearer ${a.registryToken}`;
  }

  private basicCreds(): string | undefined {
    const a = this.opts.auth;
    if (!a) return undefined;
    if (a.auth) return a.auth;
    if (a.username !== undefined) return Buffer.from(`${a.username}:${a.password ?? ''}`).toString('base64');
    return undefined;
  }

  private fail(msg: string, status?: number, code?: string): never {
    throw new ImagePullError(msg, this.refStr, status, code);
  }

  /** One request with scheme fallback and one round of auth on 401. */
  private async request(path: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    const doFetch = async (): Promise<Response> => {
      const headers: Record<string, string> = { 'user-agent': this.opts.userAgent ?? 'jotasu', ...(init.headers ?? {}) };
      if (this.authHeader) headers.authorization = this.authHeader;
      const bases = this.scheme ? [this.scheme] : this.base;
      let lastErr: unknown;
      for (const b of bases) {
        try {
          const res = await fetch(`${b}/v2/${path}`, { ...init, headers, redirect: 'follow' });
          this.scheme = b;
          return res;
        } catch (e) {
          lastErr = e;
        }
      }
      const cause = (lastErr as { cause?: { message?: string; code?: string } })?.cause;
      this.fail(`failed to do request: ${init.method ?? 'GET'} ${bases[bases.length - 1]}/v2/${path}: ${cause?.message ?? (lastErr as Error)?.message ?? lastErr}`);
    };
    let res = await doFetch();
    if (res.status === 401) {
      const ch = parseChallenge(res.headers.get('www-authenticate'));
      await res.body?.cancel();
      if (ch?.scheme === 'bearer' && ch.params.realm) {
        await this.fetchToken(ch.params);
        res = await doFetch();
      } else if (ch?.scheme === 'basic' && this.basicCreds()) {
        this.authHeader = `Basic ${this.basicCreds()}`;
        res = await doFetch();
      }
    }
    return res;
  }

  private async fetchToken(p: Record<string, string>): Promise<void> {
    const url = new URL(p.realm!);
    if (p.service) url.searchParams.set('service', p.service);
    url.searchParams.set('scope', p.scope ?? `repository:${this.ref.path}:pull`);
    const headers: Record<string, string> = { 'user-agent': this.opts.userAgent ?? 'jotasu' };
    const basic = this.basicCreds();
    if (basic) headers.authorization = `Basic ${basic}`;
    let res: Response;
    try {
      res = await fetch(url, { headers });
    } catch (e) {
      this.fail(`failed to fetch anonymous token: ${(e as { cause?: Error }).cause?.message ?? (e as Error).message}`);
    }
    if (!res.ok) {
      this.fail(`failed to authorize: failed to fetch ${basic ? 'oauth' : 'anonymous'} token: unexpected status from GET request to ${url.origin}${url.pathname}: ${res.status} ${res.statusText}`, res.status);
    }
    const j = (await res.json()) as { token?: string; access_token?: string };
    const tok = j.token ?? j.access_token;
    if (!tok) this.fail('failed to authorize: token endpoint returned no token');
    this.authHeader = `Bearer ${tok}`;
  }

  private async getManifest(reference: string): Promise<{ raw: Buffer; mediaType: string; digest: string }> {
    const res = await this.request(`${this.ref.path}/manifests/${reference}`, { headers: { accept: ACCEPT } });
    if (res.status === 404) {
      await res.body?.cancel();
      this.fail(`failed to resolve reference "${this.refStr}": ${this.refStr}: not found`, 404, 'NOT_FOUND');
    }
    if (res.status === 401 || res.status === 403) {
      const why = await registryReason(res);
      this.fail(`failed to resolve reference "${this.refStr}": pull access denied, repository does not exist or may require authorization: ${why}`, res.status, 'UNAUTHORIZED');
    }
    if (!res.ok) this.fail(`failed to resolve reference "${this.refStr}": unexpected status ${res.status}: ${await registryReason(res)}`, res.status);
    const raw = Buffer.from(await res.arrayBuffer());
    const digest = sha256(raw);
    if (reference.startsWith('sha256:') && digest !== reference) {
      this.fail(`manifest digest mismatch: wanted ${reference}, got ${digest}`);
    }
    let mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    try {
      const j = JSON.parse(raw.toString('utf8')) as { mediaType?: string; manifests?: unknown; schemaVersion?: number };
      if (j.mediaType) mediaType = j.mediaType;
      else if (!mediaType || mediaType === 'application/json') mediaType = j.manifests ? MT.ociIndex : MT.ociManifest;
      if (j.schemaVersion === 1) this.fail(`unsupported manifest schema version 1 for "${this.refStr}"`);
    } catch (e) {
      if (e instanceof ImagePullError) throw e;
      this.fail(`invalid manifest for "${this.refStr}": ${(e as Error).message}`);
    }
    return { raw, mediaType, digest };
  }

  /** Resolves the reference to a single-platform image manifest. */
  async resolve(): Promise<ResolvedManifest & { indexRaw?: Buffer; indexDigest?: string }> {
    const want = this.opts.platform ?? { os: 'linux', architecture: 'amd64' };
    let m = await this.getManifest(this.ref.digest ?? this.ref.tag ?? 'latest');
    let indexRaw: Buffer | undefined;
    let indexDigest: string | undefined;
    if (m.mediaType === MT.ociIndex || m.mediaType === MT.dockerList) {
      const idx = JSON.parse(m.raw.toString('utf8')) as Index;
      const pick = idx.manifests.find((d) => d.platform?.os === want.os && d.platform?.architecture === want.architecture
        && (!d.platform.variant || want.architecture !== 'arm64' || d.platform.variant === 'v8'));
      if (!pick) this.fail(`no match for platform in manifest: ${want.os}/${want.architecture} not in ${this.refStr}`, undefined, 'NO_PLATFORM');
      indexRaw = m.raw;
      indexDigest = m.digest;
      m = await this.getManifest(pick.digest);
    }
    if (m.mediaType !== MT.ociManifest && m.mediaType !== MT.dockerManifest) {
      this.fail(`unsupported manifest media type ${m.mediaType} for "${this.refStr}"`);
    }
    const manifest = JSON.parse(m.raw.toString('utf8')) as Manifest;
    return { ...m, manifest, indexRaw, indexDigest };
  }

  /** Fetches a small blob (config) into memory, verified. */
  async fetchBlobBuffer(digest: string): Promise<Buffer> {
    const res = await this.request(`${this.ref.path}/blobs/${digest}`);
    if (!res.ok) this.fail(`failed to fetch blob ${digest}: ${res.status}: ${await registryReason(res)}`, res.status);
    const buf = Buffer.from(await res.arrayBuffer());
    if (sha256(buf) !== digest) this.fail(`blob ${digest}: digest mismatch (got ${sha256(buf)})`);
    return buf;
  }

  /**
   * Downloads a blob to `dest`, resuming from `partial` (left by an interrupted pull)
   * with a Range request, and verifies its digest before renaming into place.
   */
  async fetchBlobToFile(desc: Descriptor, partial: string, dest: string, onProgress?: (p: PullProgress) => void): Promise<void> {
    await mkdir(dirname(partial), { recursive: true });
    let have = (await stat(partial).catch(() => null))?.size ?? 0;
    if (have > desc.size) { await rm(partial, { force: true }); have = 0; }
    const headers: Record<string, string> = {};
    if (have > 0) headers.range = `bytes=${have}-`;
    const res = await this.request(`${this.ref.path}/blobs/${desc.digest}`, { headers });
    if (res.status === 416) { await res.body?.cancel(); await rm(partial, { force: true }); return this.fetchBlobToFile(desc, partial, dest, onProgress); }
    if (!res.ok || !res.body) this.fail(`failed to fetch blob ${desc.digest}: ${res.status}: ${await registryReason(res)}`, res.status);
    const resumed = res.status === 206 && have > 0;
    if (!resumed) have = 0;
    const hash = createHash('sha256');
    if (resumed) for await (const c of createReadStream(partial)) hash.update(c as Buffer);
    let current = have;
    const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
    let last = 0;
    body.on('data', (c: Buffer) => {
      hash.update(c);
      current += c.length;
      const now = Date.now();
      if (onProgress && now - last > 200) { last = now; onProgress({ digest: desc.digest, current, total: desc.size, phase: 'downloading' }); }
    });
    await pipeline(body, createWriteStream(partial, { flags: resumed ? 'a' : 'w' }));
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== desc.digest) {
      await rm(partial, { force: true });
      this.fail(`failed to fetch blob ${desc.digest}: digest mismatch (got ${got})`);
    }
    await rename(partial, dest);
    onProgress?.({ digest: desc.digest, current, total: desc.size, phase: 'done' });
  }
}
