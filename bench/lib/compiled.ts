// Benchmarks measure jotasu as users run it: compiled (bin/jotasu.mjs runs dist/), not
// through tsx, which adds ~45-50 MB of RSS and some CPU to every process.
// Built into .bench/<name>/ so the tree's own dist/ is untouched.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Compiles the sources and returns the path of the built CLI entry (cli/main.js). */
export async function buildCompiled(name: string): Promise<string> {
  // <root>/dist beside <root>/src, as in the package (the runtime finds its shim source at ../../src).
  const root = join(process.cwd(), '.bench', name);
  const out = join(root, 'dist');
  mkdirSync(root, { recursive: true });
  if (!existsSync(join(root, 'src'))) symlinkSync(join(process.cwd(), 'src'), join(root, 'src'));
  // tsc exits non-zero on type errors elsewhere in the tree but still emits.
  await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.json', '--outDir', out, '--sourceMap', 'false']).catch(() => undefined);
  const main = join(out, 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`build for the ${name} benchmark produced no ${main}`);
  return main;
}
