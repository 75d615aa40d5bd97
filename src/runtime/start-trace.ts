// JOTASU_KUBELET_TRACE=1: a per-pod timeline of a pod's start, for startup-latency work
// (bench:kubelet prints the phase breakdown from it). The kubelet and the runtime mark
// the end of each phase with an absolute time (epoch ms, sub-ms precision, comparable
// across processes on one machine); the kubelet logs the timeline once the pod's Running
// status is written. Marks are keyed by pod UID; the first mark of a phase wins (a pod
// that syncs again does not move them). Off, every call is a no-op.
import { performance } from 'node:perf_hooks';

export const startTracing = !!process.env.JOTASU_KUBELET_TRACE;

const timelines = new Map<string, Map<string, number>>();

/** Epoch milliseconds with sub-millisecond precision. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Records the end of `phase` for the pod with this UID (once); `at` for a time another process took. */
export function markStart(uid: string | undefined, phase: string, at?: number): void {
  if (!startTracing || !uid) return;
  let t = timelines.get(uid);
  if (!t) timelines.set(uid, (t = new Map()));
  if (!t.has(phase)) t.set(phase, at ?? epochMs());
}

/** The pod's timeline, in the order the phases ended, and forgets it. */
export function takeStartTrace(uid: string): [string, number][] | undefined {
  const t = timelines.get(uid);
  if (!t) return undefined;
  timelines.delete(uid);
  return [...t].sort((a, b) => a[1] - b[1]);
}

/** Drops the timeline of a pod that will not be logged (gone before it ran). */
export function forgetStartTrace(uid: string): void {
  timelines.delete(uid);
}
