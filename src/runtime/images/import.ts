// Imports image archives into the store: `docker save` tars (manifest.json + config +
// layer tars; newer Docker writes an OCI layout beside it) and OCI image-layout tars
// (oci-layout + index.json + blobs/). A docker-save image gets an OCI manifest
// synthesized from its config and layers, so both end up as ordinary store images.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { MT, type Index, type Manifest } from './registry.js';
import { detectCompression } from './unpack.js';
import { formatReference, parseReference } from './reference.js';
import type { ImageStore, ImageRecord } from './store.js';

async function extractArchive(file: string, dest: string): Promise<void> {
  const extract = tar.extract();
  const input = createReadStream(file);
  const gz = (await detectCompression(file)) === 'gzip';
  const feeding = gz ? pipeline(input, createGunzip(), extract) : pipeline(input, extract);
  for await (const entry of extract) {
    const name = entry.header.name.replace(/^\.?\/+/, '');
    if (entry.header.type !== 'file' || !name || name.split('/').includes('..')) { entry.resume(); continue; }
    const p = join(dest, name);
    await mkdir(dirname(p), { recursive: true });
    await pipeline(entry, createWriteStream(p));
  }
  await feeding;
}

const exists = (p: string) => stat(p).then(() => true, () => false);

function normalizeTag(t: string): string | null {
  try { return formatReference(parseReference(t)); } catch { return null; }
}

/** Imports every image in the archive; resolves to the records (tags applied). */
export async function importArchive(store: ImageStore, file: string): Promise<ImageRecord[]> {
  const tmp = await mkdtemp(join(tmpdir(), 'jotasu-import-'));
  try {
    await extractArchive(file, tmp);
    if (await exists(join(tmp, 'manifest.json'))) return await importDockerSave(store, tmp);
    if (await exists(join(tmp, 'index.json'))) return await importOciLayout(store, tmp);
    throw new Error(`${file}: neither a docker save archive (manifest.json) nor an OCI image layout (index.json)`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

interface DockerSaveEntry { Config: string; RepoTags?: string[] | null; Layers: string[] }

async function importDockerSave(store: ImageStore, dir: string): Promise<ImageRecord[]> {
  const entries = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as DockerSaveEntry[];
  const out: ImageRecord[] = [];
  for (const e of entries) {
    const cfg = await store.putBlobFile(join(dir, e.Config));
    const layers = [];
    for (const l of e.Layers) {
      const p = join(dir, l);
      const b = await store.putBlobFile(p);
      const gz = (await detectCompression(p)) === 'gzip';
      layers.push({ mediaType: gz ? MT.ociLayerGzip : MT.ociLayer, digest: b.digest, size: b.size });
    }
    const manifest: Manifest & { mediaType: string } = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: cfg.digest, size: cfg.size },
      layers,
    };
    const md = await store.putBlob(Buffer.from(JSON.stringify(manifest)));
    const tags = (e.RepoTags ?? []).map(normalizeTag).filter((t): t is string => !!t);
    out.push(await store.commit(md, tags, []));
  }
  return out;
}

async function importOciLayout(store: ImageStore, dir: string): Promise<ImageRecord[]> {
  const blob = (d: string) => join(dir, 'blobs', ...d.split(':'));
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Index;
  const out: ImageRecord[] = [];
  for (const desc of index.manifests) {
    let md = desc.digest;
    let raw = await readFile(blob(md));
    let parsed = JSON.parse(raw.toString('utf8')) as Manifest & Index;
    if (parsed.manifests) {
      const pick = parsed.manifests.find((m) => m.platform?.os === 'linux' && m.platform?.architecture === 'amd64') ?? parsed.manifests[0];
      if (!pick) continue;
      await store.putBlob(raw, md);
      md = pick.digest;
      raw = await readFile(blob(md));
      parsed = JSON.parse(raw.toString('utf8')) as Manifest & Index;
    }
    await store.putBlob(raw, md);
    await store.putBlobFile(blob(parsed.config.digest), parsed.config.digest);
    for (const l of parsed.layers) await store.putBlobFile(blob(l.digest), l.digest);
    // containerd writes the full name in io.containerd.image.name; the OCI annotation may be just a tag.
    const a = desc.annotations ?? {};
    const name = a['io.containerd.image.name'] ?? a['org.opencontainers.image.ref.name'];
    const tag = name ? normalizeTag(name.includes('/') || name.includes(':') ? name : `${name}`) : null;
    out.push(await store.commit(md, tag ? [tag] : [], []));
  }
  return out;
}
