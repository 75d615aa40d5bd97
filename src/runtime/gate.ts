// A counting semaphore with two queues: waiters that finish work already begun (a
// container start after its sandbox) go before waiters that begin new work (a sandbox).
// The runtime passes its heavy steps (namespaces + CNI, shim + runc) through one gate so
// that a burst of pods runs as a pipeline: on a saturated CPU, pods that started first
// also finish first, instead of every pod sharing the CPU and all finishing at the end.

export class Gate {
  private active = 0;
  private readonly finishing: (() => void)[] = [];
  private readonly beginning: (() => void)[] = [];

  /** limit <= 0: no limit. */
  constructor(readonly limit: number) {}

  /** Runs fn once a slot is free; `finish` marks work that completes something already begun. */
  async run<T>(fn: () => Promise<T>, finish = false): Promise<T> {
    if (this.limit > 0) {
      if (this.active >= this.limit) await new Promise<void>((r) => (finish ? this.finishing : this.beginning).push(r));
      else this.active++;
    }
    try {
      return await fn();
    } finally {
      if (this.limit > 0) this.release();
    }
  }

  /** Hands the slot to the next waiter (the slot count stays), or frees it. */
  private release(): void {
    const next = this.finishing.shift() ?? this.beginning.shift();
    if (next) next();
    else this.active--;
  }

  /** Operations running and waiting (tests, diagnostics). */
  get stats(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.finishing.length + this.beginning.length };
  }
}
