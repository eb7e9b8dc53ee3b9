/**
 * Token buckets keyed by client (an API token or an address), in memory: each key may
 * spend `perMinute` requests at once and earns them back at `perMinute / 60` per second.
 * The limit is per process: N controller replicas admit up to N times the limit in total.
 * Pure apart from the clock, which tests inject.
 */

export interface RateDecision {
  allowed: boolean;
  /** Whole seconds until one request is allowed again (0 when allowed). */
  retryAfterS: number;
  /** Requests left in the bucket after this one. */
  remaining: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export interface TokenBucketsOptions {
  /** Most keys kept; the least recently seen are dropped beyond it (default 10,000). */
  maxKeys?: number;
  now?: () => number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(opts: TokenBucketsOptions = {}) {
    this.maxKeys = opts.maxKeys ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Takes one request from `key`'s bucket, if it holds one. `perMinute` may change between calls (live config). */
  take(key: string, perMinute: number): RateDecision {
    const now = this.now();
    const perMs = perMinute / 60_000;
    const prev = this.buckets.get(key);
    const tokens = prev ? Math.min(perMinute, prev.tokens + Math.max(0, now - prev.at) * perMs) : perMinute;
    // Re-insert so that the map's order is least recently seen first.
    this.buckets.delete(key);
    const bucket: Bucket = { tokens, at: now };
    this.buckets.set(key, bucket);
    while (this.buckets.size > this.maxKeys) {
      const oldest = this.buckets.keys().next().value as string;
      this.buckets.delete(oldest);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, retryAfterS: 0, remaining: Math.floor(bucket.tokens) };
    }
    return { allowed: false, retryAfterS: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)), remaining: 0 };
  }
}
