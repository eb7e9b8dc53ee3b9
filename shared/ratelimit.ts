/**
 * The cluster-wide rate limiter: GCRA buckets in Redis (global and per host), checked
 * together in one script call. With both rates at 0 no Redis call is made.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './redis/keys.js';
import { callScript } from './redis/scripts.js';

export interface RateSettings {
  global: number;
  perHost: number;
}

export class RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** Milliseconds to wait before asking again, or 0 when the request may go now. */
  async tryAcquire(host: string, rates: RateSettings): Promise<number> {
    if (rates.global <= 0 && rates.perHost <= 0) return 0;
    // Tolerance for callers that ask a little late: a quarter of the shortest interval, so
    // a one-second window never holds more than rate + 1 grants.
    const fastest = Math.max(rates.global, rates.perHost);
    const tau = Math.min(50, 1000 / fastest / 4);
    return Number(await callScript(this.redis, 'rate-acquire', [this.keys.rateGlobal(), this.keys.rateHost(host)], [rates.global, rates.perHost, tau]));
  }

  /** Waits until a token is granted; `rates()` is read again each time, so live changes apply. */
  async acquire(host: string, rates: () => RateSettings, signal?: AbortSignal): Promise<number> {
    let waited = 0;
    for (;;) {
      const wait = await this.tryAcquire(host, rates());
      if (wait === 0) return waited;
      const ms = Math.min(wait, 1000);
      waited += ms;
      await new Promise((r) => setTimeout(r, ms));
      if (signal?.aborted) throw signal.reason;
    }
  }
}
