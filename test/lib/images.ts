// Builds small OCI images locally for tests (nothing is downloaded): a busybox image
// from Debian's busybox-static, and an nginx image from Debian's nginx package (the
// binary plus the libraries ldd lists). Images can be written as an OCI image layout
// directory (for `skopeo copy oci:DIR:TAG docker://...`), an OCI layout tar, or a
// `docker save` tar.
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, statSync, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';

export interface LayerEntry {
  path: string;
  type?: 'file' | 'directory' | 'symlink';
  content?: Buffer | string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

export interface ImageConfigInput {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
  ExposedPorts?: Record<string, object>;
}

export interface BuiltLayer { tar: Buffer; gz: Buffer; diffId: string; digest: string }

export interface BuiltImage {
  config: Buffer;
  configDigest: string;
  layers: BuiltLayer[];
  manifest: Buffer;
  manifestDigest: string;
}

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An uncompressed layer tar from entries (parents must be listed before children). */
export async function layerTar(entries: LayerEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((res, rej) => { pack.on('end', () => res()); pack.on('error', rej); });
  const mtime = new Date('2024-01-01T00:00:00Z');
  for (const e of entries) {
    const type = e.type ?? (e.linkname ? 'symlink' : e.content !== undefined ? 'file' : 'directory');
    const header = { name: e.path, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0, mtime, linkname: e.linkname };
    await new Promise<void>((res, rej) => {
      const cb = (err?: Error | null) => (err ? rej(err) : res());
      if (type === 'file') pack.entry(header, Buffer.from(e.content ?? ''), cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function layer(tarBuf: Buffer): BuiltLayer {
  const gz = gzipSync(tarBuf);
  return { tar: tarBuf, gz, diffId: sha256(tarBuf), digest: sha256(gz) };
}

export function image(layers: BuiltLayer[], cfg: ImageConfigInput): BuiltImage {
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], ...cfg },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'jotasu test/lib/images.ts' })),
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.gz.length })),
  }));
  return { config, configDigest: sha256(config), layers, manifest, manifestDigest: sha256(manifest) };
}

// Debian's busybox-static 1.35 is built without FEATURE_WGET_TIMEOUT but still parses
// `wget -T N`, into a NULL pointer: it segfaults before any network or name lookup (on
// the host too). Tests bound wget with the `timeout` applet instead.
const BUSYBOX_APPLETS = [
  'sh', 'ash', 'ls', 'cat', 'echo', 'env', 'sleep', 'nc', 'wget', 'httpd', 'ps', 'kill', 'id', 'hostname',
  'mkdir', 'rm', 'cp', 'mv', 'ln', 'touch', 'grep', 'sed', 'awk', 'head', 'tail', 'true', 'false', 'test',
  'printf', 'date', 'dd', 'mount', 'umount', 'ip', 'ifconfig', 'ping', 'nslookup', 'seq', 'wc', 'cut', 'tr',
  'stat', 'find', 'xargs', 'yes', 'timeout', 'trap', 'whoami', 'uname', 'pwd', 'chmod', 'chown', 'tee', 'sort',
];

/** Root directories and account files every test image starts with. */
export function baseEntries(extraPasswd = '', extraGroup = ''): LayerEntry[] {
  return [
    ...['bin', 'etc', 'proc', 'sys', 'dev', 'root', 'var', 'var/run', 'usr', 'usr/bin', 'usr/sbin', 'run'].map((p) => ({ path: p })),
    { path: 'tmp', mode: 0o1777 },
    { path: 'etc/passwd', content: `root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n${extraPasswd}` },
    { path: 'etc/group', content: `root:x:0:\nnogroup:x:65534:\n${extraGroup}` },
  ];
}

/** The busybox-static binary with applet symlinks: a layer tar. */
export async function busyboxLayer(): Promise<Buffer> {
  const bin = readFileSync(realpathSync('/bin/busybox'));
  return layerTar([
    ...baseEntries(),
    { path: 'bin/busybox', content: bin, mode: 0o755 },
    ...BUSYBOX_APPLETS.map((a) => ({ path: `bin/${a}`, linkname: 'busybox' })),
  ]);
}

/** A busybox image; `cfg` defaults to Cmd ["sh"] like Docker Hub's busybox. */
export async function busyboxImage(cfg: ImageConfigInput = {}, extraLayers: BuiltLayer[] = []): Promise<BuiltImage> {
  return image([layer(await busyboxLayer()), ...extraLayers], { Cmd: ['sh'], ...cfg });
}

/** Files nginx needs from Debian's package: binary, ldd's libraries, a minimal config. */
export async function nginxLayer(port = 80): Promise<Buffer> {
  const nginx = '/usr/sbin/nginx';
  if (!existsSync(nginx)) throw new Error('nginx is not installed (Debian package nginx-light)');
  const libs = execFileSync('ldd', [nginx], { encoding: 'utf8' })
    .split('\n').map((l) => /(\/\S+)/.exec(l.includes('=>') ? l.split('=>')[1]! : l)?.[1]).filter((p): p is string => !!p);
  const entries: LayerEntry[] = [];
  const dirs = new Set<string>();
  const addDirs = (p: string) => {
    const parts = p.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (d && !dirs.has(d)) { dirs.add(d); entries.push({ path: d }); }
    }
  };
  const addFile = (hostPath: string, mode = 0o755) => {
    const rel = hostPath.replace(/^\//, '');
    addDirs(rel);
    entries.push({ path: rel, content: readFileSync(realpathSync(hostPath)), mode: statSync(realpathSync(hostPath)).mode & 0o777 || mode });
  };
  addFile(nginx);
  for (const l of libs) addFile(l);
  // Module-free minimal config: logs to the container's stdout/stderr, serves /usr/share/nginx/html.
  const conf = `user root;\nworker_processes 1;\ndaemon off;\nerror_log /dev/stderr warn;\npid /run/nginx.pid;\nevents { worker_connections 64; }\nhttp {\n  access_log /dev/stdout;\n  client_body_temp_path /tmp/nginx-body;\n  proxy_temp_path /tmp/nginx-proxy;\n  fastcgi_temp_path /tmp/nginx-fastcgi;\n  uwsgi_temp_path /tmp/nginx-uwsgi;\n  scgi_temp_path /tmp/nginx-scgi;\n  server {\n    listen ${port};\n    location / { root /usr/share/nginx/html; }\n  }\n}\n`;
  for (const p of ['etc/nginx', 'usr/share/nginx', 'usr/share/nginx/html', 'var/log/nginx', 'var/lib/nginx']) if (!dirs.has(p)) { dirs.add(p); entries.push({ path: p }); }
  entries.push({ path: 'etc/nginx/nginx.conf', content: conf });
  entries.push({ path: 'usr/share/nginx/html/index.html', content: '<h1>jotasu nginx</h1>\n' });
  return layerTar(entries);
}

/** nginx on top of the busybox layer (so `sh`, `wget` are there for probes and tests). */
export async function nginxImage(port = 80): Promise<BuiltImage> {
  return image([layer(await busyboxLayer()), layer(await nginxLayer(port))], {
    Entrypoint: ['/usr/sbin/nginx'], Cmd: ['-c', '/etc/nginx/nginx.conf'], StopSignal: 'SIGQUIT',
    ExposedPorts: { [`${port}/tcp`]: {} },
  });
}

/** Writes an OCI image layout directory with one tagged image. */
export async function writeOciLayout(img: BuiltImage, dir: string, refName = 'latest'): Promise<void> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = (d: string, b: Buffer) => writeFile(join(blobs, d.slice(7)), b);
  await put(img.configDigest, img.config);
  await put(img.manifestDigest, img.manifest);
  for (const l of img.layers) await put(l.digest, l.gz);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: img.manifestDigest, size: img.manifest.length,
      annotations: { 'org.opencontainers.image.ref.name': refName } }],
  }));
}

async function tarOf(files: { name: string; data: Buffer }[]): Promise<Buffer> {
  return layerTar(files.map((f) => ({ path: f.name, content: f.data })));
}

/** An OCI image layout as one tar (what `jotasu images import` and oci-archive: take). */
export async function ociArchive(img: BuiltImage, refName = 'latest'): Promise<Buffer> {
  return tarOf([
    { name: 'oci-layout', data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
    { name: 'index.json', data: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: img.manifestDigest, size: img.manifest.length,
      annotations: { 'org.opencontainers.image.ref.name': refName } }] })) },
    { name: `blobs/sha256/${img.configDigest.slice(7)}`, data: img.config },
    { name: `blobs/sha256/${img.manifestDigest.slice(7)}`, data: img.manifest },
    ...img.layers.map((l) => ({ name: `blobs/sha256/${l.digest.slice(7)}`, data: l.gz })),
  ]);
}

/** A classic `docker save` archive: manifest.json, <config>.json, <layer>/layer.tar (uncompressed). */
export async function dockerSaveArchive(img: BuiltImage, repoTags: string[]): Promise<Buffer> {
  const cfgName = `${img.configDigest.slice(7)}.json`;
  const layerNames = img.layers.map((l) => `${l.diffId.slice(7)}/layer.tar`);
  return tarOf([
    { name: cfgName, data: img.config },
    ...img.layers.map((l, i) => ({ name: layerNames[i]!, data: l.tar })),
    { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: cfgName, RepoTags: repoTags, Layers: layerNames }])) },
  ]);
}
