// Preloaded with NODE_OPTIONS="--import .../mem-probe-preload.mjs": on SIGWINCH (ignored by
// default, so harmless elsewhere) writes the process's memory breakdown to
// $MEM_PROBE_DIR/<pid>.json: process.memoryUsage() (rss, heapTotal, heapUsed, external,
// arrayBuffers), V8's heap spaces, the GC pauses seen so far, and with MEM_PROBE_SNAPSHOT=1 also a heap snapshot.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { PerformanceObserver, constants, performance } from 'node:perf_hooks';

// Garbage collections as [absolute start ms, pause ms, kind], so a benchmark can tell which
// pauses fell in its timed window (bounded: the last 50,000).
const gcs = [];
const gcKinds = { [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge', [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak' };
if (process.env.MEM_PROBE_DIR) {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([performance.timeOrigin + e.startTime, e.duration, gcKinds[e.detail?.kind] ?? String(e.detail?.kind)]);
    if (gcs.length > 50_000) gcs.splice(0, gcs.length - 50_000);
  }).observe({ entryTypes: ['gc'] });
}

const dir = process.env.MEM_PROBE_DIR;
if (dir) {
  process.on('SIGWINCH', () => {
    const out = join(dir, `${process.pid}.json`);
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }]));
    // Resident memory by kind of mapping: [heap] (glibc's main arena), anonymous (V8 pages,
    // other threads' malloc arenas, large mallocs), files (code, libraries).
    const smaps = {};
    let name = '';
    for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
      const m = line.match(/^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/);
      if (m) { name = m[1] || '[anon]'; if (name.startsWith('/')) name = name.endsWith('.node') || name.includes('.so') ? '[libraries]' : name; continue; }
      const r = line.match(/^Rss:\s+(\d+) kB/);
      if (r) smaps[name] = (smaps[name] ?? 0) + Number(r[1]) * 1024;
    }
    const usage = process.memoryUsage();
    // The snapshot last: it runs a full GC and allocates for itself.
    const snapshot = process.env.MEM_PROBE_SNAPSHOT === '1' ? writeHeapSnapshot(join(dir, `${process.pid}-${Date.now()}.heapsnapshot`)) : undefined;
    // Written whole, then renamed: the reader never sees half a file.
    writeFileSync(`${out}.tmp`, JSON.stringify({ at: Date.now(), usage, spaces, smaps, snapshot, gcs }));
    renameSync(`${out}.tmp`, out);
  });
}
