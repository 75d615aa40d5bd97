// Upstream's AtomicWriter (pkg/volume/util/atomic_writer.go): a volume's files live in
// a hidden timestamped directory; `..data` is a symlink to it and every visible entry
// is a symlink through `..data`. An update writes a new directory and swaps `..data`
// with one rename, so readers see the old set or the new set, never a mix.
import { mkdir, readdir, readlink, rename, rm, symlink, writeFile, chmod, lstat, readFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';

export interface Projected { data: Buffer; mode: number }

const DATA = '..data';

/** Writes `files` (relative paths) into dir atomically; no-op when nothing changed. Returns true when written. */
export async function writeAtomic(dir: string, files: Map<string, Projected>, owner?: { uid?: number; gid?: number }): Promise<boolean> {
  await mkdir(dir, { recursive: true });
  for (const p of files.keys()) {
    if (p.startsWith('..') || p.includes('/../') || p.startsWith('/')) throw new Error(`invalid path ${JSON.stringify(p)}: must not start with '..' or be absolute`);
  }
  const cur = await readlink(join(dir, DATA)).catch(() => '');
  if (cur && await sameContent(join(dir, cur), files)) return false;
  const ts = `..${new Date().toISOString().replace(/[-:]/g, '_').replace('T', '_').replace('Z', '')}.${Math.floor(Math.random() * 1e9)}`;
  const tsDir = join(dir, ts);
  await mkdir(tsDir, { mode: 0o755 });
  for (const [p, f] of files) {
    const full = join(tsDir, p);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, f.data);
    await chmod(full, f.mode);
    if (owner?.gid !== undefined) await import('node:fs/promises').then((fs) => fs.chown(full, owner.uid ?? 0, owner.gid!)).catch(() => undefined);
  }
  await chmod(tsDir, 0o755);
  // Swap ..data through a temporary link and rename (atomic on Linux).
  const tmp = join(dir, `..data_tmp`);
  await rm(tmp, { force: true });
  await symlink(ts, tmp);
  await rename(tmp, join(dir, DATA));
  // Visible top-level entries: links through ..data; stale ones go.
  const top = new Set([...files.keys()].map((p) => p.split('/')[0]!));
  for (const name of top) {
    const link = join(dir, name);
    const st = await lstat(link).catch(() => null);
    if (st?.isSymbolicLink()) continue;
    if (st) await rm(link, { recursive: true, force: true });
    await symlink(join(DATA, name), link);
  }
  for (const e of await readdir(dir)) {
    if (e.startsWith('..')) continue;
    if (!top.has(e)) await rm(join(dir, e), { recursive: true, force: true });
  }
  if (cur && cur !== ts) await rm(join(dir, cur), { recursive: true, force: true });
  return true;
}

async function sameContent(tsDir: string, files: Map<string, Projected>): Promise<boolean> {
  const existing = await listFiles(tsDir, '');
  if (existing.length !== files.size) return false;
  for (const p of existing) {
    const f = files.get(p);
    if (!f) return false;
    const data = await readFile(join(tsDir, p)).catch(() => null);
    if (!data || !data.equals(f.data)) return false;
    const st = await lstat(join(tsDir, p));
    if ((st.mode & 0o777) !== (f.mode & 0o777)) return false;
  }
  return true;
}

async function listFiles(dir: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...await listFiles(join(dir, e.name), rel));
    else out.push(rel);
  }
  return out;
}
