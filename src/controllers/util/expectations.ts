// ControllerExpectations (k8s.io/kubernetes/pkg/controller/controller_utils.go):
// a controller records how many creates and which deletes it has in flight for a
// key, and does not act on the key again until the informer has observed them (or
// the expectations expire), so that it never creates duplicates.

export const EXPECTATIONS_TIMEOUT_MS = 5 * 60 * 1000;

interface Expectation {
  add: number;
  /** Keys ("namespace/name") of pods whose deletion we wait to observe. */
  deletes: Set<string>;
  timestamp: number;
}

const NO_KEYS: ReadonlySet<string> = new Set();

export class Expectations {
  private readonly m = new Map<string, Expectation>();
  constructor(private readonly timeoutMs = EXPECTATIONS_TIMEOUT_MS, private readonly now: () => number = Date.now) {}

  /** True when nothing is in flight for the key (or the record expired / does not exist). */
  satisfied(key: string): boolean {
    const e = this.m.get(key);
    if (!e) return true;
    if (e.add <= 0 && e.deletes.size === 0) return true;
    return this.now() - e.timestamp > this.timeoutMs;
  }

  expectCreations(key: string, n: number): void {
    this.m.set(key, { add: n, deletes: new Set(), timestamp: this.now() });
  }

  expectDeletions(key: string, podKeys: string[]): void {
    this.m.set(key, { add: 0, deletes: new Set(podKeys), timestamp: this.now() });
  }

  creationObserved(key: string): void {
    const e = this.m.get(key);
    if (e) e.add--;
  }

  /** Lower the expected creations by n (creates we skipped or that failed). */
  lowerCreations(key: string, n: number): void {
    const e = this.m.get(key);
    if (e) e.add -= n;
  }

  deletionObserved(key: string, podKey: string): void {
    this.m.get(key)?.deletes.delete(podKey);
  }

  /** Pods whose deletion is expected and not yet observed (none once the record expired). */
  pendingDeletions(key: string): ReadonlySet<string> {
    const e = this.m.get(key);
    return e && this.now() - e.timestamp <= this.timeoutMs ? e.deletes : NO_KEYS;
  }

  delete(key: string): void {
    this.m.delete(key);
  }

  /** For tests and debugging. */
  get(key: string): { add: number; deletes: string[] } | undefined {
    const e = this.m.get(key);
    return e && { add: e.add, deletes: [...e.deletes] };
  }
}
