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

const parsedHosts = new WeakMap<readonly string[], Map<string, number>>();

/** `["example.com=2"]` → Map(host → rate), cached per (frozen) config list. */
function hostRates(entries: readonly string[]): Map<string, number> {
  let m = parsedHosts.get(entries);
  if (!m) {
    m = new Map();
    for (const e of entries) {
      const at = e.lastIndexOf('=');
      m.set(e.slice(0, at).toLowerCase(), Number(e.slice(at + 1)));
    }
    parsedHosts.set(entries, m);
  }
  return m;
}

/** The rates that apply to one host: `rate.hosts` (host:port, then host name) beats `rate.perHost`. */
export function ratesFor(rate: { global: number; perHost: number; hosts: readonly string[] }, url: URL): RateSettings {
  const m = hostRates(rate.hosts);
  const specific = m.get(url.host) ?? m.get(url.hostname);
  return { global: rate.global, perHost: specific ?? rate.perHost };
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
