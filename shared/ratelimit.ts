/**
 * Cluster-wide politeness, all state in Redis, each host's keys under its own `{<host>}` tag
 * (hosts spread over a Redis Cluster's slots):
 * - the politeness gate of a fetch (`tryEnter`): a token of the global rate, from a lease of
 *   several tokens this replica took from the global bucket in one call (`GlobalLease`), then
 *   the host's GCRA bucket, its 429/503 backoff and its leased concurrency slots, checked and
 *   taken in one script call;
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
  /** Global tokens this replica leases per call to the global bucket (rate.globalLease); 1 when absent. */
  globalLease?: number;
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

/** How far ahead of now the global bucket may be reserved by leases. */
export const GLOBAL_LEASE_HORIZON_MS = 250;
/**
 * A leased global token not used within one interval after it was due is dropped: unused
 * tokens are not banked, so late fetches cannot add up to a burst above the rate (the cluster
 * runs below the rate instead, as a GCRA bucket does when nobody asks).
 */
export function staleAfterMs(rate: number): number {
  return Math.max(50, 1000 / rate);
}

/**
 * This replica's share of the global rate: tokens leased from the global bucket several at a
 * time (global-lease-1), each due at its own time, so the cluster-wide rate holds exactly while
 * the bucket's key sees one call per lease instead of one per fetch. One lease call at a time.
 */
export class GlobalLease {
  /** Due times (ms, `now`'s clock) of the tokens held, earliest first. */
  private due: number[] = [];
  private refilling: Promise<number> | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Tokens held (for tests and metrics). */
  get held(): number {
    return this.due.length;
  }

  /** A token now: `{ due }` to give back if the fetch cannot go after all, or how long to wait. */
  async take(rate: number, wanted: number): Promise<{ token: number } | { waitMs: number }> {
    for (let round = 0; round < 2; round++) {
      const now = this.now();
      // A quarter interval of tolerance (at most 50 ms), as the hosts' buckets allow.
      const tau = Math.min(50, 1000 / rate / 4);
      while (this.due.length > 0 && (this.due[0] as number) < now - staleAfterMs(rate)) this.due.shift();
      const first = this.due[0];
      if (first !== undefined) {
        if (first - tau <= now) return { token: this.due.shift() as number };
        return { waitMs: Math.ceil(first - tau - now) };
      }
      if (round === 1) break;
      const wait = await this.refill(rate, wanted);
      if (wait > 0 && this.due.length === 0) return { waitMs: wait };
    }
    return { waitMs: 1 };
  }

  /** A token taken but not used (the host was not ready): held again for the next fetch. */
  giveBack(token: number): void {
    let i = 0;
    while (i < this.due.length && (this.due[i] as number) < token) i++;
    this.due.splice(i, 0, token);
  }

  /** The rate changed to unlimited: tokens of the old rate are dropped. */
  drop(): void {
    this.due = [];
  }

  private refill(rate: number, wanted: number): Promise<number> {
    this.refilling ??= (async () => {
      try {
        const r = await scripts.globalLease(this.redis, this.keys, { rate, wanted: Math.max(1, Math.floor(wanted)), horizonMs: GLOBAL_LEASE_HORIZON_MS });
        if (r.tokens === 0) return r.firstMs;
        // Due times on this clock: Redis' `now` lies before the reply arrived, so timing them from
        // the reply errs late (never early) by the round trip.
        const after = this.now();
        for (let i = 0; i < r.tokens; i++) this.giveBack(after + r.firstMs + i * r.intervalMs);
        return 0;
      } finally {
        this.refilling = null;
      }
    })();
    return this.refilling;
  }
}

export class RateLimiter {
  /** host → until when it needs no Redis call (nothing limits it, no backoff as of then). */
  private readonly clear = new Map<string, number>();
  private readonly global: GlobalLease;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {
    this.global = new GlobalLease(redis, keys);
  }

  /**
   * The politeness gate: a global token (from this replica's lease; a Redis call only when the
   * lease is empty), then one call for the host: granted (a concurrency slot leased when the
   * host is limited; give it back with `release`) or how long to wait and why. A host with no
   * rate and no concurrency limit asks Redis (for a backoff another replica may have set) at
   * most once per CLEAR_HOST_MS; so a 429/503 seen elsewhere reaches this replica within that.
   */
  async tryEnter(host: string, limits: HostLimits): Promise<GateReply> {
    let token: number | null = null;
    if (limits.global > 0) {
      const g = await this.global.take(limits.global, limits.globalLease ?? 1);
      if ('waitMs' in g) return { granted: false, waitMs: Math.max(1, g.waitMs), reason: 'global' };
      token = g.token;
    } else {
      this.global.drop();
    }
    const unlimited = limits.perHost <= 0 && limits.concurrency <= 0;
    const now = Date.now();
    if (unlimited && (this.clear.get(host) ?? 0) > now) return { granted: true, slot: null };
    const slot = limits.concurrency > 0 ? randomBytes(9).toString('base64url') : '';
    let r: scripts.HostAcquireReply;
    try {
      r = await scripts.hostAcquire(this.redis, this.keys, host, { ...limits, slot });
    } catch (err) {
      if (token !== null) this.global.giveBack(token);
      throw err;
    }
    if (!r.granted) {
      if (token !== null) this.global.giveBack(token);
      return r;
    }
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
