// Client-side token bucket (client-go's flowcontrol.NewTokenBucketRateLimiter):
// `burst` requests may go at once, then `qps` per second. Reservations may drive
// the bucket negative, so waiters leave in arrival order without a queue.

export interface RateLimiter {
  /** Resolves when the caller may send one request. */
  acquire(): Promise<void>;
}

export function createTokenBucket(qps: number, burst: number, now: () => number = Date.now): RateLimiter {
  if (!(qps > 0)) return { acquire: () => Promise.resolve() }; // qps <= 0: unlimited
  const cap = Math.max(1, burst);
  let tokens = cap;
  let last = now();
  return {
    acquire(): Promise<void> {
      const t = now();
      tokens = Math.min(cap, tokens + ((t - last) / 1000) * qps);
      last = t;
      tokens -= 1;
      if (tokens >= 0) return Promise.resolve();
      const waitMs = (-tokens / qps) * 1000;
      return new Promise((r) => setTimeout(r, waitMs));
    },
  };
}
