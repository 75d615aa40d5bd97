// Unpacks one layer tar into a directory that overlayfs can use as a lower layer:
// OCI whiteouts (`.wh.NAME`) become overlay whiteouts (0:0 character devices) and
// opaque markers (`.wh..wh..opq`) become the `trusted.overlay.opaque=y` xattr. Node has
// neither mknod nor setxattr, so those few are applied afterwards with coreutils'
// mknod and perl-base's syscall() (both Essential in Debian). The lists are also kept
// in the layer's metadata so the copy fallback (no overlay) can apply them by hand.
import { createHash } from 'node:crypto';
import { mkdir, lstat, symlink, link, chmod, lchown, lutimes, rm, open, stat } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { join, posix } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as tar from 'tar-stream';

const execFileP = promisify(execFile);

export interface LayerMeta {
  diffId: string;
  /** Paths (relative to the layer root) that this layer deletes from the layers below. */
  whiteouts: string[];
  /** Directories whose lower contents this layer hides. */
  opaques: string[];
  size: number;
}

/** Hashes whatever flows through it (the uncompressed tar: its digest is the diffID). */
class HashPassThrough extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

/** Maps an entry name to a safe relative path, or null for the root itself. */
function cleanName(name: string): string | null {
  const n = posix.normalize('/' + name).replace(/^\/+/, '').replace(/\/+$/, '');
  if (!n || n === '.') return null;
  if (n.split('/').includes('..')) throw new Error(`layer entry escapes the root: ${name}`);
  return n;
}

/**
 * Makes sure every parent of `rel` inside `root` is a real directory (not a symlink that
 * could point out of the layer), creating missing ones.
 */
async function ensureParents(root: string, rel: string, known: Set<string>): Promise<void> {
  const parts = rel.split('/').slice(0, -1);
  let cur = '';
  for (const p of parts) {
    cur = cur ? `${cur}/${p}` : p;
    if (known.has(cur)) continue;
    const abs = join(root, cur);
    const st = await lstat(abs).catch(() => null);
    if (!st) await mkdir(abs, { mode: 0o755 });
    else if (st.isSymbolicLink() || !st.isDirectory()) {
      // A later entry under a path that was a file or symlink: replace it with a directory.
      await rm(abs, { recursive: true, force: true });
      await mkdir(abs, { mode: 0o755 });
    }
    known.add(cur);
  }
}

async function removeExisting(abs: string, keepDir: boolean): Promise<void> {
  const st = await lstat(abs).catch(() => null);
  if (!st) return;
  if (keepDir && st.isDirectory()) return;
  await rm(abs, { recursive: true, force: true });
}

/**
 * Extracts an (optionally gzip-compressed) layer stream into `dest`, which must not exist.
 * Resolves to the layer metadata with the diffID computed from the uncompressed bytes.
 */
export async function unpackLayer(input: Readable, compression: 'gzip' | 'none', dest: string): Promise<LayerMeta> {
  await mkdir(dest, { recursive: true, mode: 0o755 });
  const hasher = new HashPassThrough();
  const extract = tar.extract();
  const whiteouts: string[] = [];
  const opaques: string[] = [];
  const known = new Set<string>();
  const dirTimes: { abs: string; mtime: Date }[] = [];
  const feeding = compression === 'gzip'
    ? pipeline(input, createGunzip(), hasher, extract)
    : pipeline(input, hasher, extract);
  for await (const entry of extract) {
    const h = entry.header;
    const rel = cleanName(h.name);
    if (rel === null) { entry.resume(); continue; }
    const base = posix.basename(rel);
    const parent = posix.dirname(rel);
    if (base === '.wh..wh..opq') {
      opaques.push(parent === '.' ? '' : parent);
      if (parent !== '.') await ensureParents(dest, `${parent}/x`, known);
      entry.resume();
      continue;
    }
    if (base.startsWith('.wh.')) {
      const target = parent === '.' ? base.slice(4) : `${parent}/${base.slice(4)}`;
      whiteouts.push(target);
      await ensureParents(dest, target, known);
      entry.resume();
      continue;
    }
    await ensureParents(dest, rel, known);
    const abs = join(dest, rel);
    const mode = (h.mode ?? 0o644) & 0o7777;
    const uid = h.uid ?? 0;
    const gid = h.gid ?? 0;
    const mtime = h.mtime ?? new Date(0);
    switch (h.type) {
      case 'directory': {
        await removeExisting(abs, true);
        await mkdir(abs, { recursive: true });
        await lchown(abs, uid, gid);
        await chmod(abs, mode);
        dirTimes.push({ abs, mtime });
        known.add(rel);
        entry.resume();
        break;
      }
      case 'file':
      case 'contiguous-file': {
        await removeExisting(abs, false);
        await pipeline(entry, createWriteStream(abs, { mode: 0o600 }));
        await lchown(abs, uid, gid);
        await chmod(abs, mode);
        await lutimes(abs, mtime, mtime);
        break;
      }
      case 'symlink': {
        await removeExisting(abs, false);
        await symlink(h.linkname ?? '', abs);
        await lchown(abs, uid, gid);
        await lutimes(abs, mtime, mtime).catch(() => undefined);
        entry.resume();
        break;
      }
      case 'link': {
        const target = cleanName(h.linkname ?? '');
        await removeExisting(abs, false);
        if (target) await link(join(dest, target), abs).catch((e: Error) => {
          throw new Error(`hard link ${rel} -> ${target}: ${e.message}`);
        });
        entry.resume();
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        // Devices in image layers are rare (runc provides /dev); fifos are made with mkfifo.
        await removeExisting(abs, false);
        if (h.type === 'fifo') await execFileP('mkfifo', ['-m', mode.toString(8), abs]);
        else await execFileP('mknod', ['-m', mode.toString(8), abs, h.type === 'block-device' ? 'b' : 'c',
          String(h.devmajor ?? 0), String(h.devminor ?? 0)]);
        await lchown(abs, uid, gid);
        entry.resume();
        break;
      }
      default:
        entry.resume();
    }
  }
  await feeding;
  await applyOverlayMarkers(dest, whiteouts, opaques);
  // Directory mtimes last: creating entries inside them changed the times.
  for (const d of dirTimes.reverse()) await lutimes(d.abs, d.mtime, d.mtime).catch(() => undefined);
  return { diffId: `sha256:${hasher.hash.digest('hex')}`, whiteouts, opaques, size: hasher.bytes };
}

const SETXATTR_NR: Record<string, number> = { x64: 188, arm64: 5 };

/** Turns the recorded whiteouts/opaques into overlayfs' on-disk form. */
async function applyOverlayMarkers(dest: string, whiteouts: string[], opaques: string[]): Promise<void> {
  for (const w of whiteouts) {
    const p = join(dest, w);
    await removeExisting(p, false);
    await execFileP('mknod', ['-m', '0', p, 'c', '0', '0']);
  }
  if (!opaques.length) return;
  const nr = SETXATTR_NR[process.arch];
  if (nr === undefined) throw new Error(`opaque whiteouts: no setxattr syscall number for ${process.arch}`);
  const dirs = opaques.map((o) => join(dest, o));
  await execFileP('perl', ['-e',
    // syscall() wants writable scalars, hence the copies.
    `for my $d (@ARGV) { my ($p, $n, $v) = ($d, "trusted.overlay.opaque", "y"); syscall(${nr}, $p, $n, $v, 1, 0) == 0 or die "setxattr $d: $!\\n" }`,
    ...dirs]);
}

/** Sniffs gzip magic from a file's first bytes (docker save layers may be either). */
export async function detectCompression(path: string): Promise<'gzip' | 'none'> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(2);
    await fh.read(buf, 0, 2, 0);
    return buf[0] === 0x1f && buf[1] === 0x8b ? 'gzip' : 'none';
  } finally {
    await fh.close();
  }
}

export async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}
