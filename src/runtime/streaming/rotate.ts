// Container log rotation by size and count, as the kubelet's containerLogManager does
// (--container-log-max-size 10Mi, --container-log-max-files 5), adapted to our shim:
// the shim keeps its log open with O_APPEND and cannot be told to reopen it (CRI's
// ReopenContainerLog), so rotation is copy-then-truncate. With O_APPEND the shim's next
// write lands at the new end of the truncated file. Lines written between the copy and
// the truncate are lost; the window is one copy of at most maxSize bytes.
// Rotated files are `<log>.<UTC yyyymmdd-hhmmss>` beside the log, as upstream names them.
import { copyFile, readdir, rm, stat, truncate } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { RuntimeService } from '../cri.js';
import { logger } from '../../util/log.js';

const log = logger('logrotate');

export interface RotateOptions {
  /** Rotate when the log is bigger than this (bytes; default 10 MiB). */
  maxSize?: number;
  /** Files kept per container including the live one (default 5). */
  maxFiles?: number;
}

function stamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/** Rotated siblings of a log file, oldest first. */
export async function rotatedFiles(logPath: string): Promise<string[]> {
  const dir = dirname(logPath), base = basename(logPath);
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(`${base}.`) && /\.\d{8}-\d{6}(\.\d+)?$/.test(n)).sort().map((n) => join(dir, n));
}

/** Rotates one log if it is over the limit; returns true when it did. */
export async function rotateIfNeeded(logPath: string, opts: RotateOptions = {}): Promise<boolean> {
  const maxSize = opts.maxSize ?? 10 * 1024 * 1024;
  const maxFiles = Math.max(2, opts.maxFiles ?? 5);
  const st = await stat(logPath).catch(() => undefined);
  if (!st || st.size <= maxSize) return false;
  let target = `${logPath}.${stamp()}`;
  for (let i = 1; await stat(target).then(() => true, () => false); i++) target = `${logPath}.${stamp()}.${i}`;
  await copyFile(logPath, target);
  await truncate(logPath, 0);
  const old = await rotatedFiles(logPath);
  for (const f of old.slice(0, Math.max(0, old.length - (maxFiles - 1)))) await rm(f, { force: true });
  return true;
}

/** Checks every container's log periodically (upstream: every 10 s). Returns a stop function. */
export function startLogRotation(runtime: RuntimeService, opts: RotateOptions & { intervalMs?: number } = {}): () => void {
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      for (const c of await runtime.listContainers({ state: 'CONTAINER_RUNNING' })) {
        const st = await runtime.containerStatus(c.id).catch(() => undefined);
        if (!st?.logPath) continue;
        if (await rotateIfNeeded(st.logPath, opts).catch((e) => { log.warn({ container: c.id, err: (e as Error).message }, 'log rotation failed'); return false; })) {
          log.debug({ container: c.id, path: st.logPath }, 'rotated container log');
        }
      }
    } catch (e) {
      // Typically the runtime not being up yet (no pod CIDR): nothing to rotate.
      log.debug({ err: (e as Error).message }, 'log rotation pass failed');
    } finally {
      busy = false;
    }
  };
  const t = setInterval(() => void tick(), opts.intervalMs ?? 10_000);
  t.unref();
  return () => clearInterval(t);
}
