#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.mmap_threshold=8192:glibc.malloc.arena_max=2 node --max-semi-space-size=8
// Runs the compiled CLI (npm run build); falls back to the TypeScript sources through tsx in a checkout.
//
// The first line starts node the way a long-running jotasu process wants it; these can only
// be set when the process starts (measured with bench:api, 10,000 pods and 100 watchers):
// - glibc malloc: allocations of 8 KiB and more are mmapped and given back when freed, at most
//   2 arenas. The watch fan-out's TLS write buffers (16-64 KiB each, for every watcher) otherwise
//   left the glibc heap ~40 MB large with 20-50 MB of it free but resident between live chunks.
// - V8 new space at most 2 x 8 MB instead of 2 x 16 MB (16 MB less resident after a burst;
//   server CPU per create unchanged within the bench's noise).
// test/lib/cluster.ts starts compiled benchmark servers with this same line.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'cli', 'main.js');
if (existsSync(built) && !process.env.JOTASU_FROM_SOURCE) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href);
}
