// Capped exponential backoff with jitter, for reconnect loops (client-go's
// reflector uses 800 ms .. 30 s; we start lower so that a restarted server is
// found again quickly in tests and small clusters).

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  /** Fraction of the delay added at random: delay * (1 + jitter * rand). */
  jitter?: number;
}

export class Backoff {
  private readonly initial: number;
  private readonly max: number;
  private readonly factor: number;
  private readonly jitter: number;
  private current = 0;

  constructor(o: BackoffOptions = {}) {
    this.initial = o.initialMs ?? 250;
    this.max = o.maxMs ?? 30_000;
    this.factor = o.factor ?? 2;
    this.jitter = o.jitter ?? 0.5;
  }

  /** The next delay to wait, growing each call until reset(). */
  next(): number {
    this.current = this.current === 0 ? this.initial : Math.min(this.max, this.current * this.factor);
    return Math.round(this.current * (1 + this.jitter * Math.random()));
  }

  reset(): void {
    this.current = 0;
  }
}
