// The content-addressed image store of an agent:
//   <agentDir>/images/blobs/sha256/<hex>   manifests, configs, compressed layers (de-duplicated)
//   <agentDir>/images/ingest/<hex>.partial  interrupted downloads (resumed with Range)
//   <agentDir>/images/index.json            image id -> manifest, tags, repo digests
//   <agentDir>/layers/<diffID hex>/          each layer unpacked once (overlay lowerdir)
//   <agentDir>/layers/<diffID hex>.json      its whiteouts/opaques; present = complete
// Image ids are config digests, as containerd and Docker report them.
import { createReadStream, statSync } from 'node:fs';
import { mkdir, readFile, writeFile, rename, rm, stat, copyFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { ImagePullError, NotFoundError, type AuthConfig, type Image, type PullProgress } from '../cri.js';
import { parseReference, formatReference, repoName, isImageId } from './reference.js';
// The registry client and the layer unpacker (tar-stream, zlib) load with the first pull
// or unpack: a node that runs pre-pulled images never needs them in memory.
import type { Descriptor, Manifest, RegistryOptions } from './registry.js';
import type { LayerMeta } from './unpack.js';
import { logger } from '../../util/log.js';

const log = logger('images');

/** The parts of an OCI image config the runtime uses. */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    StopSignal?: string;
    ExposedPorts?: Record<string, unknown>;
    Labels?: Record<string, string> | null;
    Volumes?: Record<string, unknown> | null;
  };
  rootfs: { type: string; diff_ids: string[] };
}

export interface LayerRecord { digest: string; diffId: string; size: number; mediaType: string }

export interface ImageRecord {
  id: string;
  manifestDigest: string;
  repoTags: string[];
  repoDigests: string[];
  layers: LayerRecord[];
  /** Compressed size (sum of layers + config). */
  size: number;
  createdAt: string;
}

interface IndexFile { version: 1; images: Record<string, ImageRecord> }

export class ImageStore {
  readonly imagesDir: string;
  readonly blobsDir: string;
  readonly ingestDir: string;
  readonly layersDir: string;
  private readonly indexPath: string;
  /** Serializes index read-modify-write within this process. */
  private lock: Promise<unknown> = Promise.resolve();
  /** Concurrent pulls of one blob or unpacks of one layer share a promise. */
  private readonly inflight = new Map<string, Promise<unknown>>();
  /**
   * What every container start asked the disk for again: the index (valid while the
   * file's identity is unchanged; other processes, `jotasu images`, may rewrite it),
   * image configs and layer metadata (content-addressed: immutable while the index that
   * names them is unchanged, so they are dropped with it).
   */
  private cachedIndex?: { key: string; idx: IndexFile };
  private readonly configs = new Map<string, ImageConfig>();
  private readonly metas = new Map<string, LayerMeta>();

  constructor(readonly agentDir: string, private readonly registryDefaults: RegistryOptions = {}) {
    this.imagesDir = join(agentDir, 'images');
    this.blobsDir = join(this.imagesDir, 'blobs', 'sha256');
    this.ingestDir = join(this.imagesDir, 'ingest');
    this.layersDir = join(agentDir, 'layers');
    this.indexPath = join(this.imagesDir, 'index.json');
  }

  async init(): Promise<void> {
    await mkdir(this.blobsDir, { recursive: true });
    await mkdir(this.ingestDir, { recursive: true });
    await mkdir(this.layersDir, { recursive: true });
  }

  // ---- blobs ----

  blobPath(digest: string): string {
    const [alg, hex] = digest.split(':');
    if (alg !== 'sha256' || !hex || !/^[a-f0-9]{64}$/.test(hex)) throw new Error(`unsupported digest ${digest}`);
    return join(this.blobsDir, hex);
  }

  async hasBlob(digest: string): Promise<boolean> {
    return stat(this.blobPath(digest)).then(() => true, () => false);
  }

  async readBlob(digest: string): Promise<Buffer> {
    return readFile(this.blobPath(digest));
  }

  /** Stores bytes under their digest (verifying it when one is expected). */
  async putBlob(buf: Buffer, expect?: string): Promise<string> {
    const d = `sha256:${createHash('sha256').update(buf).digest('hex')}`;
    if (expect && expect !== d) throw new Error(`digest mismatch: expected ${expect}, got ${d}`);
    const p = this.blobPath(d);
    if (!(await this.hasBlob(d))) {
      const tmp = `${p}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(tmp, buf);
      await rename(tmp, p);
    }
    return d;
  }

  /** Copies a file into the store, hashing it; returns its digest. */
  async putBlobFile(path: string, expect?: string): Promise<{ digest: string; size: number }> {
    const h = createHash('sha256');
    let size = 0;
    for await (const c of createReadStream(path)) { h.update(c as Buffer); size += (c as Buffer).length; }
    const digest = `sha256:${h.digest('hex')}`;
    if (expect && expect !== digest) throw new Error(`digest mismatch for ${path}: expected ${expect}, got ${digest}`);
    if (!(await this.hasBlob(digest))) {
      const dest = this.blobPath(digest);
      const tmp = `${dest}.${randomBytes(4).toString('hex')}.tmp`;
      await copyFile(path, tmp);
      await rename(tmp, dest);
    }
    return { digest, size };
  }

  private once<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const cur = this.inflight.get(key);
    if (cur) return cur as Promise<T>;
    const p = fn().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  // ---- index ----

  /** The index file's identity (inode, size, mtime), '' when absent; a stat syscall, no thread-pool round trip. */
  private indexKey(): string {
    const st = statSync(this.indexPath, { throwIfNoEntry: false, bigint: true });
    return st ? `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}` : '';
  }

  /** The index as readers see it (cached; callers must not modify it). */
  private async readIndex(): Promise<IndexFile> {
    const key = this.indexKey();
    if (this.cachedIndex?.key === key) return this.cachedIndex.idx;
    this.configs.clear();
    this.metas.clear();
    const idx = await this.readIndexFile();
    this.cachedIndex = { key, idx };
    return idx;
  }

  private async readIndexFile(): Promise<IndexFile> {
    try {
      return JSON.parse(await readFile(this.indexPath, 'utf8')) as IndexFile;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, images: {} };
      throw new Error(`reading image index ${this.indexPath}: ${(e as Error).message}`);
    }
  }

  private async writeIndex(idx: IndexFile): Promise<void> {
    const tmp = `${this.indexPath}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(idx, null, 1));
    await rename(tmp, this.indexPath);
    this.cachedIndex = undefined;
  }

  private mutate<T>(fn: (idx: IndexFile) => Promise<T> | T): Promise<T> {
    const run = this.lock.then(async () => {
      const idx = await this.readIndexFile();
      const r = await fn(idx);
      await this.writeIndex(idx);
      return r;
    });
    this.lock = run.catch(() => undefined);
    return run;
  }

  async list(): Promise<ImageRecord[]> {
    return Object.values((await this.readIndex()).images);
  }

  /** Finds an image by id (full or 12+ hex prefix), tag or repo digest; null if absent. */
  async find(refOrId: string): Promise<ImageRecord | null> {
    const idx = await this.readIndex();
    return findIn(idx, refOrId);
  }

  async get(refOrId: string): Promise<ImageRecord> {
    const r = await this.find(refOrId);
    if (!r) throw new NotFoundError(`image "${refOrId}" not found`);
    return r;
  }

  async config(rec: ImageRecord): Promise<ImageConfig> {
    const known = this.configs.get(rec.id);
    if (known) return known;
    const cfg = JSON.parse((await this.readBlob(rec.id)).toString('utf8')) as ImageConfig;
    this.configs.set(rec.id, cfg);
    return cfg;
  }

  toCri(rec: ImageRecord, cfg?: ImageConfig): Image {
    const img: Image = { id: rec.id, repoTags: rec.repoTags, repoDigests: rec.repoDigests, size: rec.size };
    const user = cfg?.config?.User?.split(':')[0];
    if (user) { if (/^\d+$/.test(user)) img.uid = Number(user); else img.username = user; }
    return img;
  }

  /**
   * Records an image whose manifest/config/layer blobs are all in the store, moving
   * each tag to it from any image that had it (as `docker tag` does).
   */
  async commit(manifestDigest: string, tags: string[], repoDigests: string[]): Promise<ImageRecord> {
    const manifest = JSON.parse((await this.readBlob(manifestDigest)).toString('utf8')) as Manifest;
    const cfg = JSON.parse((await this.readBlob(manifest.config.digest)).toString('utf8')) as ImageConfig;
    const diffIds = cfg.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length) {
      throw new Error(`image config has ${diffIds.length} diff_ids but the manifest has ${manifest.layers.length} layers`);
    }
    const layers = manifest.layers.map((l, i) => ({ digest: l.digest, diffId: diffIds[i]!, size: l.size, mediaType: l.mediaType }));
    await this.ensureLayers(layers);
    const id = manifest.config.digest;
    return this.mutate((idx) => {
      for (const other of Object.values(idx.images)) {
        if (other.id === id) continue;
        other.repoTags = other.repoTags.filter((t) => !tags.includes(t));
      }
      const prev = idx.images[id];
      const rec: ImageRecord = {
        id,
        manifestDigest,
        repoTags: [...new Set([...(prev?.repoTags ?? []), ...tags])],
        repoDigests: [...new Set([...(prev?.repoDigests ?? []), ...repoDigests])],
        layers,
        size: layers.reduce((a, l) => a + l.size, 0) + manifest.config.size,
        createdAt: prev?.createdAt ?? new Date().toISOString(),
      };
      idx.images[id] = rec;
      return rec;
    });
  }

  // ---- layers ----

  layerDir(diffId: string): string {
    return join(this.layersDir, diffId.replace(/^sha256:/, ''));
  }

  async layerMeta(diffId: string): Promise<LayerMeta | null> {
    const known = this.metas.get(diffId);
    if (known) return known;
    try {
      const meta = JSON.parse(await readFile(`${this.layerDir(diffId)}.json`, 'utf8')) as LayerMeta;
      this.metas.set(diffId, meta);
      return meta;
    } catch {
      return null;
    }
  }

  /** Unpacks every layer not yet unpacked (each diffID once, verified against its hash). */
  async ensureLayers(layers: LayerRecord[], onProgress?: (p: PullProgress) => void): Promise<void> {
    for (const l of layers) {
      await this.once(`unpack:${l.diffId}`, async () => {
        if (await this.layerMeta(l.diffId)) return;
        const dir = this.layerDir(l.diffId);
        const tmp = `${dir}.${randomBytes(4).toString('hex')}.unpacking`;
        onProgress?.({ digest: l.digest, current: 0, total: l.size, phase: 'unpacking' });
        const compression = /gzip/.test(l.mediaType) ? 'gzip' : /zstd/.test(l.mediaType) ? 'zstd' : 'none';
        if (compression === 'zstd') throw new Error(`layer ${l.digest}: zstd-compressed layers are not supported`);
        try {
          const { unpackLayer } = await import('./unpack.js');
          const meta = await unpackLayer(createReadStream(this.blobPath(l.digest)), compression, tmp);
          if (meta.diffId !== l.diffId) throw new Error(`layer ${l.digest}: diffID mismatch (config says ${l.diffId}, content is ${meta.diffId})`);
          await rm(dir, { recursive: true, force: true });
          await rename(tmp, dir);
          await writeFile(`${dir}.json`, JSON.stringify(meta));
        } catch (e) {
          await rm(tmp, { recursive: true, force: true });
          throw e;
        }
      });
    }
  }

  /** Layer directories bottom-up, unpacking any that are missing. */
  async layerDirs(rec: ImageRecord): Promise<string[]> {
    await this.ensureLayers(rec.layers);
    return rec.layers.map((l) => this.layerDir(l.diffId));
  }

  // ---- pull / remove ----

  async pull(ref: string, auth?: AuthConfig, onProgress?: (p: PullProgress) => void, opts: RegistryOptions = {}): Promise<ImageRecord> {
    let parsed;
    try {
      parsed = parseReference(ref);
    } catch (e) {
      throw new ImagePullError((e as Error).message, ref, undefined, 'InvalidImageName');
    }
    const name = formatReference(parsed);
    const { RegistryClient } = await import('./registry.js');
    const client = new RegistryClient(parsed, { ...this.registryDefaults, ...opts, auth: auth ?? opts.auth });
    onProgress?.({ digest: name, current: 0, total: 0, phase: 'resolving' });
    const resolved = await client.resolve();
    log.debug({ ref: name, digest: resolved.digest }, 'resolved');
    const topDigest = resolved.indexDigest ?? resolved.digest;
    if (resolved.indexRaw) await this.putBlob(resolved.indexRaw);
    await this.putBlob(resolved.raw);
    const m = resolved.manifest;
    if (!(await this.hasBlob(m.config.digest))) await this.putBlob(await client.fetchBlobBuffer(m.config.digest), m.config.digest);
    const fetchLayer = async (l: Descriptor): Promise<void> => {
      if (l.mediaType.includes('nondistributable') || l.mediaType.includes('foreign')) {
        if (l.urls?.length) throw new ImagePullError(`layer ${l.digest} is a foreign layer; not supported`, name);
      }
      await this.once(`blob:${l.digest}`, async () => {
        if (await this.hasBlob(l.digest)) { onProgress?.({ digest: l.digest, current: l.size, total: l.size, phase: 'exists' }); return; }
        const hex = l.digest.split(':')[1]!;
        await client.fetchBlobToFile(l, join(this.ingestDir, `${hex}.partial`), this.blobPath(l.digest), onProgress);
      });
    };
    // A few layers at a time, as containerd does (max_concurrent_downloads = 3).
    const queue = [...m.layers];
    await Promise.all(Array.from({ length: Math.min(3, queue.length) }, async () => {
      for (let l = queue.shift(); l; l = queue.shift()) await fetchLayer(l);
    }));
    const cfg = JSON.parse((await this.readBlob(m.config.digest)).toString('utf8')) as ImageConfig;
    const diffIds = cfg.rootfs?.diff_ids ?? [];
    try {
      await this.ensureLayers(m.layers.map((l, i) => ({ digest: l.digest, diffId: diffIds[i] ?? '', size: l.size, mediaType: l.mediaType })), onProgress);
    } catch (e) {
      throw new ImagePullError(`failed to pull and unpack image "${name}": ${(e as Error).message}`, name);
    }
    const tags = parsed.tag ? [`${repoName(parsed)}:${parsed.tag}`] : [];
    return this.commit(resolved.digest, tags, [`${repoName(parsed)}@${topDigest}`]);
  }

  /** Removes a tag; the image (and its unshared blobs/layers) goes when no tag is left or an id was given. */
  async remove(refOrId: string): Promise<void> {
    const removed = await this.mutate((idx) => {
      const rec = findIn(idx, refOrId);
      if (!rec) throw new NotFoundError(`image "${refOrId}" not found`);
      const byId = isImageId(refOrId) || rec.id.replace('sha256:', '').startsWith(refOrId.replace('sha256:', ''));
      if (!byId) {
        let tag: string | undefined;
        try { tag = formatReference(parseReference(refOrId)); } catch { /* id */ }
        rec.repoTags = rec.repoTags.filter((t) => t !== tag);
        rec.repoDigests = rec.repoDigests.filter((t) => t !== tag);
        if (rec.repoTags.length) return null;
      }
      delete idx.images[rec.id];
      return { rec, rest: Object.values(idx.images) };
    });
    if (!removed) return;
    await this.gc(removed.rest);
  }

  /** Deletes blobs and unpacked layers no remaining image refers to. */
  async gc(keep?: ImageRecord[]): Promise<void> {
    this.metas.clear();
    const images = keep ?? (await this.list());
    const blobs = new Set<string>();
    const diffs = new Set<string>();
    for (const r of images) {
      blobs.add(r.id.split(':')[1]!);
      blobs.add(r.manifestDigest.split(':')[1]!);
      for (const d of r.repoDigests) blobs.add(d.split('@sha256:')[1] ?? '');
      for (const l of r.layers) { blobs.add(l.digest.split(':')[1]!); diffs.add(l.diffId.split(':')[1]!); }
    }
    for (const f of await readdir(this.blobsDir)) if (!blobs.has(f) && !f.endsWith('.tmp')) await rm(join(this.blobsDir, f), { force: true });
    for (const f of await readdir(this.layersDir)) {
      const id = f.replace(/\.json$/, '');
      if (/^[a-f0-9]{64}$/.test(id) && !diffs.has(id)) await rm(join(this.layersDir, f), { recursive: true, force: true });
    }
  }
}

function findIn(idx: IndexFile, refOrId: string): ImageRecord | null {
  const images = Object.values(idx.images);
  const hex = refOrId.replace(/^sha256:/, '');
  if (/^[a-f0-9]{12,64}$/.test(hex)) {
    const byId = images.filter((r) => r.id.slice(7).startsWith(hex));
    if (byId.length === 1) return byId[0]!;
  }
  let name: string;
  try {
    name = formatReference(parseReference(refOrId));
  } catch {
    return null;
  }
  return images.find((r) => r.repoTags.includes(name) || r.repoDigests.includes(name)) ?? null;
}

