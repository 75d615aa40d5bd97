// CPU time of another process, from /proc/PID/stat (utime + stime, in clock ticks of 10 ms).
import { readFileSync } from 'node:fs';

/** CPU milliseconds `pid` has used so far (NaN if it is gone). */
export function cpuMsOf(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}
