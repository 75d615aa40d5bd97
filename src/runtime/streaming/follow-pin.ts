// A follower's claim on the log files it has not read yet. The shim prunes rotated files
// as soon as there are more than containerLogMaxFiles - 1 of them; a follower that fell
// behind (a slow client, a loaded node) would find the files after the one it reads
// pruned before it opened them, and lose their lines. So a follower keeps a pin file
// beside the log, `.<log name>.follow.<id>`, with "<pid> <starttime> <inode>": the
// inode of the file it reads (0 while it has none open: it needs them all). The shim's
// prune (prune_rotated in shim/jotasu-shim.c) keeps that file and every newer one, up to
// a bound, and removes pins whose process is gone (pid and start time no longer match,
// so a crashed kubelet's pins do not hold files forever).
import { readFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { logger } from '../../util/log.js';

const log = logger('streaming');

/** This process's start time in clock ticks (/proc/self/stat field 22), what the shim compares. */
let selfStart: string | undefined;
function processStart(): string {
  if (selfStart === undefined) {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // Fields after the command name (which may hold spaces and ends at the last ')'), from field 3.
    selfStart = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '0';
  }
  return selfStart;
}

/** The pin file's name prefix for a log (the shim matches the same). */
export function pinPrefix(logPath: string): string {
  return join(dirname(logPath), `.${basename(logPath)}.follow.`);
}

export class FollowPin {
  private released = false;

  private constructor(private readonly file: string) {}

  /** A pin claiming every file there is (written before the first open: nothing is pruned in between). */
  static async create(logPath: string): Promise<FollowPin> {
    const pin = new FollowPin(`${pinPrefix(logPath)}${process.pid}-${randomBytes(4).toString('hex')}`);
    await pin.write(0n);
    return pin;
  }

  /** Claims the file `fh` reads and every newer one (older ones may go). */
  async hold(fh: FileHandle): Promise<void> {
    if (this.released) return;
    await this.write((await fh.stat({ bigint: true })).ino);
  }

  async release(): Promise<void> {
    this.released = true;
    await rm(this.file, { force: true }).catch((e: Error) => log.warn({ file: this.file, err: e.message }, 'removing a log follower pin'));
  }

  // Written whole and renamed into place: the shim never reads half a pin.
  private async write(ino: bigint): Promise<void> {
    const tmp = `${this.file}.tmp`;
    try {
      await writeFile(tmp, `${process.pid} ${processStart()} ${ino}\n`);
      await rename(tmp, this.file);
    } catch (e) {
      // The log's directory not there yet (a log not written yet), or not writable: the
      // follower still works, only without protection against pruning.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ file: this.file, err: (e as Error).message }, 'writing a log follower pin');
      await rm(tmp, { force: true }).catch(() => undefined);
    }
  }
}
