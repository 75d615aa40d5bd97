// The server runs compiled (dist/, from `npm run build` = tsc), and tsc emits only
// .js for .ts files and the .json files that are imported. A module that reads a data
// file beside itself (new URL('./x.json', import.meta.url)) works through tsx and
// breaks once compiled: every file a module locates relative to itself must still
// exist when the module runs from dist/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const SRC = join(ROOT, 'src');
const DIST = join(ROOT, 'dist');

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.startsWith('test-')) out.push(p);
  }
  return out;
}

/** Files tsc emits into dist/: compiled modules and JSON pulled in by an import. */
function emittedBy(srcFiles: string[]): Set<string> {
  const out = new Set<string>();
  for (const f of srcFiles) {
    out.add(join(DIST, relative(SRC, f)).replace(/\.ts$/, '.js'));
    for (const m of readFileSync(f, 'utf8').matchAll(/from\s+'(\.[^']+\.json)'\s+with\s*\{\s*type:\s*'json'\s*\}/g)) {
      out.add(join(DIST, relative(SRC, resolve(dirname(f), m[1]!))));
    }
  }
  return out;
}

test('files a module locates beside itself exist in the compiled build', () => {
  const files = sources(SRC);
  const emitted = emittedBy(files);
  const problems: string[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/new URL\(\s*'([^']+)'\s*,\s*import\.meta\.url\s*\)/g)) {
      const target = m[1]!;
      if (/\.(ts|js)$/.test(target)) continue; // modules: ./worker.ts from source, ./worker.js compiled
      // Where the file is looked for when this module runs compiled.
      const fromDist = resolve(dirname(join(DIST, relative(SRC, f))), target);
      if (!fromDist.startsWith(DIST + '/')) continue; // points back into src/ or elsewhere: present either way
      if (/writeFileSync\(new URL/.test(text)) continue; // dev tools that generate the file
      if (!emitted.has(fromDist)) problems.push(`${relative(ROOT, f)} reads ${target}, which tsc does not emit into dist/`);
    }
  }
  assert.deepEqual(problems, []);
});
