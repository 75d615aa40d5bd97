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
  const src = /\/(src|bench|test)\/(.*)$/.exec(url);
  if (src) {
    const parts = src[2]!.split('/');
    return `${src[1]}/${parts.length > 1 ? parts[0] : parts[0]!.replace(/\.ts$/, '')}`;
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  return url.replace(/^file:\/\//, '').split('/').slice(-2).join('/');
}

export interface ProfileSummary {
  totalMs: number;
  byArea: [string, number][];
  byFunction: [string, number][];
}

export function summarize(p: CpuProfile, top = 15): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const areas = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    const a = area(url, functionName);
    areas.set(a, (areas.get(a) ?? 0) + us);
    const f = `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*\/(src|bench|node_modules)\//, '$1/')}:${lineNumber + 1}` : ''}`.trim();
    fns.set(f, (fns.get(f) ?? 0) + us);
    total += us;
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / 1000] as [string, number]);
  return { totalMs: total / 1000, byArea: sorted(areas).slice(0, top), byFunction: sorted(fns).slice(0, top) };
}

export function formatSummary(title: string, s: ProfileSummary): string {
  const busy = s.byArea.filter(([k]) => k !== '(idle)').reduce((a, [, v]) => a + v, 0);
  const lines = [`${title}: ${(s.totalMs / 1000).toFixed(1)} s sampled`];
  lines.push('  self time by area:');
  for (const [k, v] of s.byArea) lines.push(`    ${(100 * v / s.totalMs).toFixed(1).padStart(5)}%  ${k}`);
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
