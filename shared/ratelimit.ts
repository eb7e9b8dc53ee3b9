/**
 * Cluster-wide politeness, all state in Redis under the `{rate}` tag:
 * - the politeness gate of a fetch (`tryEnter`): the GCRA rate buckets (global and the
 *   host's), the host's 429/503 backoff and its leased concurrency slots, checked and taken
 *   in one script call;
 * - `penalize`: a 429/503 doubles the host's backoff interval (it halves again every
 *   half-life) and a Retry-After holds the host on every replica.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import * as scripts from './redis/commands.js';
import type { WaitReason } from './redis/commands.js';
import type { Keys } from './redis/keys.js';

export type { WaitReason } from './redis/commands.js';

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

/**
 * A host's rate once robots.txt had its say: min(configured, 1 / Crawl-delay), the delay capped
 * at `maxCrawlDelayS` (0 or a missing delay change nothing). Rates are per second, 0 = unlimited.
 */
export function effectiveHostRate(configured: number, crawlDelayS: number | null, maxCrawlDelayS: number): number {
  if (crawlDelayS === null || !(crawlDelayS > 0) || !(maxCrawlDelayS > 0)) return configured;
  const fromDelay = 1 / Math.min(crawlDelayS, maxCrawlDelayS);
  return configured > 0 ? Math.min(configured, fromDelay) : fromDelay;
}

/** What one fetch must respect on its host. */
export interface HostLimits extends RateSettings {
  /** Requests in flight to the host across the cluster, 0 = unlimited. */
  concurrency: number;
  /** Lease of a concurrency slot: a fetcher that dies frees it after this long. */
  slotLeaseMs: number;
  /** The backoff interval halves every this many ms. */
  backoffHalfLifeMs: number;
}

export type GateReply = { granted: true; slot: string | null } | { granted: false; waitMs: number; reason: WaitReason };

export interface BackoffSettings {
  startMs: number;
  maxMs: number;
  halfLifeMs: number;
  /** Retry-After to honour (already capped), or 0. */
  retryAfterMs: number;
}

/** Hosts checked recently and found with no limit and no backoff, for at most this long. */
export const CLEAR_HOST_MS = 250;
const CLEAR_HOSTS_MAX = 10_000;

export class RateLimiter {
  /** host → until when it needs no Redis call (nothing limits it, no backoff as of then). */
  private readonly clear = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /**
   * The politeness gate, one Redis call: granted (a concurrency slot leased when the host is
   * limited; give it back with `release`) or how long to wait and why. A host with no rate
   * and no concurrency limit asks Redis (for a backoff another replica may have set) at most
   * once per CLEAR_HOST_MS; so a 429/503 seen elsewhere reaches this replica within that.
   */
  async tryEnter(host: string, limits: HostLimits): Promise<GateReply> {
    const unlimited = limits.global <= 0 && limits.perHost <= 0 && limits.concurrency <= 0;
    const now = Date.now();
    if (unlimited && (this.clear.get(host) ?? 0) > now) return { granted: true, slot: null };
    const slot = limits.concurrency > 0 ? randomBytes(9).toString('base64url') : '';
    const r = await scripts.hostAcquire(this.redis, this.keys, host, { ...limits, slot });
    if (!r.granted) return r;
    if (unlimited && !r.backoff) this.markClear(host, now + CLEAR_HOST_MS);
    return { granted: true, slot: slot === '' ? null : slot };
  }

  private markClear(host: string, until: number): void {
    this.clear.delete(host);
    this.clear.set(host, until);
    if (this.clear.size > CLEAR_HOSTS_MAX) this.clear.delete(this.clear.keys().next().value as string);
  }

  /** Gives a concurrency slot back (an expired lease is harmless). */
  async release(host: string, slot: string | null): Promise<void> {
    if (slot !== null) await this.redis.zrem(this.keys.hostSlots(host), slot);
  }

  /** A 429 or 503 from the host: slows it down for every replica. Returns the new interval and hold. */
  async penalize(host: string, s: BackoffSettings): Promise<{ intervalMs: number; untilMs: number }> {
    this.clear.delete(host);
    return scripts.hostBackoff(this.redis, this.keys, host, s);
  }
}

/**
 * This replica's own rate (rate.perReplica): a GCRA bucket in memory, checked beside the
 * cluster-wide buckets of the gate. `waitMs` only looks; `take` is called once the gate let a
 * request go, so a request the cluster's buckets refused uses no token of the replica.
 */
export class ReplicaRate {
  /** Theoretical arrival time of the next request (ms, on `now`'s clock). */
  private tat = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Milliseconds until a request may go at `rate` per second (0: now, or no limit). */
  waitMs(rate: number): number {
    if (!(rate > 0)) return 0;
    // A quarter interval of tolerance (at most 50 ms), as the cluster's buckets allow.
    const tau = Math.min(50, 1000 / rate / 4);
    return Math.max(0, this.tat - tau - this.now());
  }

  /** A request went: the next one is due one interval later. */
  take(rate: number): void {
    if (!(rate > 0)) return;
    this.tat = Math.max(this.tat, this.now()) + 1000 / rate;
  }
}
