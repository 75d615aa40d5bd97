// Summarises a V8 .cpuprofile (node --cpu-prof, or the inspector's Profiler): self
// time per source area (our folders, node_modules packages, node internals, GC,
// idle) and the hottest functions, so a benchmark can print where its time went.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

function area(url: string, fn: string): string {
  if (!url) {
    if (fn === '(idle)') return '(idle)';
    if (fn === '(garbage collector)') return '(gc)';
    if (fn === '(program)') return '(program)';
    return '(native)';
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `npm:${nm[1]}`;
  const src = /\/(src|bench|test|dist)\/(.*)$/.exec(url);
  if (src) {
    const parts = src[2]!.split('/');
    // Compiled code (dist/) is attributed to the sources it came from.
    return `${src[1] === 'dist' ? 'src' : src[1]}/${parts.length > 1 ? parts[0] : parts[0]!.replace(/\.[jt]s$/, '')}`;
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  return url.replace(/^file:\/\//, '').split('/').slice(-2).join('/');
}

export interface ProfileSummary {
  totalMs: number;
  byArea: [string, number][];
  byFunction: [string, number][];
  /** Inclusive time by the outermost component folder on the stack (libraries count for their caller). */
  byComponent: [string, number][];
  /** Inclusive time of our own functions (each counted once per sample). */
  byFunctionTotal: [string, number][];
}

// Shared code that runs on behalf of whichever component called it.
const LIBRARY = new Set(['src/client', 'src/api', 'src/util']);

function fnLabel(n: ProfileNode): string {
  const { functionName, url, lineNumber } = n.callFrame;
  return `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*\/(src|bench|node_modules)\//, '$1/').replace(/^.*\/dist\//, 'src/').replace(/^file:\/\//, '')}:${lineNumber + 1}` : ''}`.trim();
}

export function summarize(p: CpuProfile, top = 15): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const areas = new Map<string, number>();
  const fns = new Map<string, number>();
  const comps = new Map<string, number>();
  const totals = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName, url } = n.callFrame;
    const a = area(url, functionName);
    areas.set(a, (areas.get(a) ?? 0) + us);
    const f = fnLabel(n);
    fns.set(f, (fns.get(f) ?? 0) + us);
    total += us;
    // Walk to the root: the outermost component (or library) frame owns the sample.
    let comp: string | undefined;
    let lib: string | undefined;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cn = byId.get(cur)!;
      const ca = area(cn.callFrame.url, cn.callFrame.functionName);
      if (!ca.startsWith('src/') && !ca.startsWith('bench/')) continue;
      if (LIBRARY.has(ca)) lib = ca; else comp = ca;
      const fl = fnLabel(cn);
      if (!seen.has(fl)) { seen.add(fl); totals.set(fl, (totals.get(fl) ?? 0) + us); }
    }
    const c = comp ?? (lib ? `${lib} (no component on the stack)` : a.startsWith('src/') ? a : a === '(gc)' || a === '(idle)' || a === '(program)' ? a : 'other (node internals, native)');
    comps.set(c, (comps.get(c) ?? 0) + us);
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / 1000] as [string, number]);
  return {
    totalMs: total / 1000, byArea: sorted(areas).slice(0, top), byFunction: sorted(fns).slice(0, top),
    byComponent: sorted(comps).slice(0, top), byFunctionTotal: sorted(totals).slice(0, top),
  };
}

export function formatSummary(title: string, s: ProfileSummary): string {
  const busy = s.byArea.filter(([k]) => k !== '(idle)').reduce((a, [, v]) => a + v, 0);
  const lines = [`${title}: ${(s.totalMs / 1000).toFixed(1)} s sampled`];
  lines.push('  self time by area:');
  for (const [k, v] of s.byArea) lines.push(`    ${(100 * v / s.totalMs).toFixed(1).padStart(5)}%  ${k}`);
  lines.push('  time by component (inclusive; outermost of our folders on the stack):');
  for (const [k, v] of s.byComponent) lines.push(`    ${(100 * v / s.totalMs).toFixed(1).padStart(5)}%  ${k}`);
  lines.push('  our functions by inclusive time (% of busy time):');
  for (const [k, v] of s.byFunctionTotal) lines.push(`    ${(100 * v / busy).toFixed(1).padStart(5)}%  ${k}`);
  lines.push('  hottest functions (self, % of busy time):');
  for (const [k, v] of s.byFunction) {
    if (k.startsWith('(idle)')) continue;
    lines.push(`    ${(100 * v / busy).toFixed(1).padStart(5)}%  ${k}`);
  }
  return lines.join('\n');
}

export function summarizeFile(path: string, top?: number): ProfileSummary {
  return summarize(JSON.parse(readFileSync(path, 'utf8')) as CpuProfile, top);
}
