// The per-container shim: what keeps a container's stdio and exit status when the
// agent is not there (upstream: conmon, containerd-shim).
//
// Choice: a small C program (shim/jotasu-shim.c), compiled once per data dir from the
// source shipped with jotasu (gcc + libc6-dev from scripts/install-deps.sh), statically
// linked when libc.a is there. Why not the alternatives:
//   - bash (the first version): 3 bash processes plus a resident `runc run` per
//     container, ~16 MB RSS, and byte-by-byte `read` loops that burn CPU on chatty
//     containers.
//   - busybox sh + awk: still 3 processes (~1 MB each) and runc resident; no clean way to
//     split long lines into P records or to rotate without losing lines.
//   - one Node subreaper per node: ~40 MB, a single point whose crash or upgrade loses
//     every container's stdio, and it needs a second long-lived process anyway.
// The C shim is one process of ~0.2 MB RSS: it starts the container with `runc run -d`
// (runc exits once the container runs: nothing of runc stays resident) after making
// itself child subreaper (PR_SET_CHILD_SUBREAPER), so the container's init is re-parented
// to it and it gets the real exit status from waitpid (128+signal for a signal), as
// containerd's shim does. It mounts the overlay root right before (one spawn less on
// the agent's side). stdout/stderr are pipes it reads with poll(2) and writes in the CRI
// log format, lines longer than 16 KiB (containerd's limit) split into P records, and a
// line left without its newline for 100 ms (a prompt) flushed as P; it rotates the log by
// size and count itself (`0.log` -> `0.log.<yyyymmdd-hhmmss>`, the kubelet's names and
// defaults 10Mi x 5), so no line is lost to copy-truncate. With stdin it keeps a FIFO
// (`stdin` in the state dir) relayed to the container's stdin, for attach.
// Nothing in it depends on the agent, so restarting the agent neither kills nor loses
// containers: the agent re-reads the files.
//
// Files in the container's state dir (the layout of the bash shim, unchanged):
//   shim.pid   the shim's pid          pid        container init's host pid (runc --pid-file)
//   runc.log   runc's JSON log         exit.json  {"exitCode":N,"finishedAt":"<epoch s.micros>","oomKilled":N}
//   stdin      FIFO to the container's stdin (only with stdin: true)
//   shim.log   the shim's own errors, if any
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFile, readdir, rename, rm, access } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { logger } from '../util/log.js';

const execFileP = promisify(execFile);
const log = logger('runtime');

/** The C source; `../../src/...` resolves from src/runtime (tsx) and dist/runtime (built) alike. */
export const SHIM_SOURCE = fileURLToPath(new URL('../../src/runtime/shim/jotasu-shim.c', import.meta.url));

const building = new Map<string, Promise<string>>();

/**
 * The shim binary for this source in binDir (`jotasu-shim-<hash>`), compiled on first use.
 * A binary named by the source hash is never rebuilt under a running container; stale
 * ones are unlinked (running shims keep their inode).
 */
export function ensureShim(binDir: string, opts: { cc?: string; source?: string } = {}): Promise<string> {
  const key = `${binDir}\0${opts.source ?? SHIM_SOURCE}`;
  let p = building.get(key);
  if (!p) {
    p = build(binDir, opts).finally(() => building.delete(key));
    building.set(key, p);
  }
  return p;
}

async function build(binDir: string, opts: { cc?: string; source?: string }): Promise<string> {
  const source = opts.source ?? SHIM_SOURCE;
  const text = await readFile(source).catch((e: Error) => { throw new Error(`jotasu-shim source not found (${source}): ${e.message}`); });
  const name = `jotasu-shim-${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
  const bin = join(binDir, name);
  if (await access(bin).then(() => true, () => false)) return bin;
  const cc = opts.cc ?? process.env.CC ?? 'cc';
  const tmp = `${bin}.${process.pid}.tmp`;
  const base = ['-O2', '-Wall', '-o', tmp, source];
  const t0 = Date.now();
  try {
    // Static: ~0.2 MB RSS instead of ~1 MB with a shared libc mapped in every shim.
    await execFileP(cc, ['-static', ...base]).catch(() => execFileP(cc, base));
  } catch (e) {
    const err = e as { code?: string; stderr?: string; message: string };
    await rm(tmp, { force: true });
    if (err.code === 'ENOENT') throw new Error(`no C compiler (${cc}) to build the container shim: install gcc and libc6-dev (scripts/install-deps.sh)`);
    throw new Error(`building the container shim failed: ${(err.stderr || err.message).trim()}`);
  }
  await rename(tmp, bin);
  log.info({ bin, ms: Date.now() - t0 }, 'built the container shim');
  for (const f of await readdir(binDir).catch(() => [] as string[])) {
    if (f.startsWith('jotasu-shim') && f !== name && !f.endsWith('.tmp')) await rm(join(binDir, f), { force: true });
  }
  return bin;
}
