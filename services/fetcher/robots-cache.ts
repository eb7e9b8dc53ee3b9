/**
 * robots.txt for the whole cluster: fetched once per origin, cached in Redis, read through a
 * small per-process memory cache so most pages cost no Redis call.
 *
 *   memory (bounded LRU, robots.memoryTtlMs) → Redis `robots:{origin}` (JSON, robots.cacheTtlMs,
 *   or robots.errorTtlMs when unreachable) → one fetch per origin across the cluster (a
 *   `SET NX PX` lock; the others poll the cache, bounded) → through the guarded fetch (SSRF
 *   policy, timeouts, up to 5 redirects, a byte cap above 512 KiB).
 *
 * In one process, concurrent pages of an origin share one lookup (single flight).
 * The pure part (what a response means, how long it is kept) is exported for tests.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Config } from '../../shared/config/index.js';
import { CrawlError } from '../../shared/errors/index.js';
import type { Keys } from '../../shared/redis/keys.js';
import { releaseLock } from '../../shared/redis/commands.js';
import { ALLOW_ALL, DISALLOW_ALL, parseRobots, ROBOTS_MAX_BYTES, robotsForStatus, userAgentToken, type Robots } from '../../shared/url/robots.js';

/** Longest time anything is cached: RFC 9309 asks crawlers not to use a robots.txt older than 24 h. */
export const ROBOTS_MAX_TTL_MS = 86_400_000;
/** Redirect hops followed to a robots.txt (RFC 9309: at least five). */
export const ROBOTS_MAX_REDIRECTS = 5;
/** Bounds of the per-process memory cache. */
export const MEMORY_MAX_ENTRIES = 4096;
export const MEMORY_MAX_BYTES = 32 * 1024 * 1024;

/** What the cluster cache holds for one origin (JSON in Redis). */
export interface StoredRobots {
  v: 1;
  /**
   * 'parse': `text` is the file (its first 512 KiB); 'allow-all': no usable file (4xx, more
   * redirects than followed); 'unreachable': 5xx, 429, timeout or network error, which
   * RFC 9309 reads as "disallow everything" (kept only robots.errorTtlMs).
   */
  verdict: 'parse' | 'allow-all' | 'unreachable';
  /** Final HTTP status, or 0 when no response came. */
  status: number;
  text?: string;
  /** The error code when no response came. */
  error?: string;
  fetchedAt: number;
}

/** The first ROBOTS_MAX_BYTES octets of a body as text, whole lines only (what the parser reads). */
export function robotsText(body: Buffer): string {
  if (body.length <= ROBOTS_MAX_BYTES) return body.toString('utf8');
  const next = body[ROBOTS_MAX_BYTES];
  let end = ROBOTS_MAX_BYTES;
  if (next !== 0x0a && next !== 0x0d) {
    end = Math.max(body.lastIndexOf(0x0a, ROBOTS_MAX_BYTES - 1), body.lastIndexOf(0x0d, ROBOTS_MAX_BYTES - 1)) + 1;
  }
  return body.subarray(0, end).toString('utf8');
}

/** A response (after redirects) → what to cache. */
export function storedFromResponse(status: number, body: Buffer, now: number): StoredRobots {
  const action = robotsForStatus(status);
  if (action === 'parse') return { v: 1, verdict: 'parse', status, text: robotsText(body), fetchedAt: now };
  return { v: 1, verdict: action === 'allow-all' ? 'allow-all' : 'unreachable', status, fetchedAt: now };
}

/**
 * A failed robots.txt fetch → what to cache, or null when the page itself must fail with the
 * error instead (the SSRF guard refused the address, the name does not resolve, a bad URL):
 * those say nothing about the site's wishes, and the page would meet them too.
 */
export function storedFromError(err: CrawlError, now: number): StoredRobots | null {
  switch (err.code) {
    case 'blocked_address':
    case 'dns_failed':
    case 'bad_url':
      return null;
    case 'too_many_redirects':
    case 'bad_redirect':
    case 'out_of_scope':
      // RFC 9309 2.3.1.2: past five redirects the file MAY be taken as unavailable.
      return { v: 1, verdict: 'allow-all', status: 0, error: err.code, fetchedAt: now };
    default:
      return { v: 1, verdict: 'unreachable', status: 0, error: err.code, fetchedAt: now };
  }
}

/** How long an entry is kept in Redis. */
export function ttlOf(stored: StoredRobots, cfg: Config['robots']): number {
  const ttl = Math.min(cfg.cacheTtlMs, ROBOTS_MAX_TTL_MS);
  return stored.verdict === 'unreachable' ? Math.min(cfg.errorTtlMs, ttl) : ttl;
}

/** How long an entry is kept in a process's memory: the memory TTL, never past its Redis expiry. */
export function memoryExpiry(stored: StoredRobots, cfg: Config['robots'], now: number): number {
  return Math.min(now + cfg.memoryTtlMs, stored.fetchedAt + ttlOf(stored, cfg));
}

/** The rules of a stored entry for a crawler's product token. */
export function robotsOf(stored: StoredRobots, token: string): Robots {
  if (stored.verdict === 'parse') return parseRobots(stored.text ?? '', token);
  return stored.verdict === 'allow-all' ? ALLOW_ALL : DISALLOW_ALL;
}

export function parseStored(raw: string): StoredRobots | null {
  try {
    const v = JSON.parse(raw) as StoredRobots;
    return v && v.v === 1 && typeof v.verdict === 'string' && typeof v.fetchedAt === 'number' ? v : null;
  } catch {
    return null;
  }
}

/** The decision for one URL. */
export type RobotsDecision =
  | { allowed: true; crawlDelayS: number | null }
  | { allowed: false; error: CrawlError };

/** Whether `url` may be fetched under an entry; the skip carries the catalogue code. */
export function decide(stored: StoredRobots, robots: Robots, url: URL): RobotsDecision {
  if (robots.isAllowed(url.pathname + url.search)) return { allowed: true, crawlDelayS: robots.crawlDelayS };
  const where = `${url.origin}/robots.txt`;
  if (stored.verdict === 'unreachable') {
    const why = stored.status > 0 ? `HTTP ${stored.status}` : (stored.error ?? 'no answer');
    return { allowed: false, error: new CrawlError('robots_unreachable', `${url.href}: ${where} unreachable (${why}); the host counts as disallowed`, { details: { status: stored.status } }) };
  }
  return { allowed: false, error: new CrawlError('robots', `${url.href}: disallowed by ${where}`) };
}

/** What one robots.txt fetch returns (see the fetcher's guarded fetch). */
export interface RobotsResponse {
  status: number;
  body: Buffer;
}

export interface RobotsCacheDeps {
  redis: Redis;
  keys: Keys;
  config: () => Config;
  /** Fetches `<origin>/robots.txt` through the guarded fetch; throws CrawlError. */
  fetch: (url: string) => Promise<RobotsResponse>;
  /** Called once per lookup that reached Redis or the network, for metrics. */
  onLookup?: (source: 'redis' | 'fetched' | 'waited', stored: StoredRobots) => void;
}

interface MemoryEntry {
  stored: StoredRobots;
  expiresAt: number;
  token: string;
  robots: Robots;
  weight: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class RobotsCache {
  private readonly memory = new Map<string, MemoryEntry>();
  private weight = 0;
  private readonly inflight = new Map<string, Promise<StoredRobots>>();

  constructor(private readonly deps: RobotsCacheDeps) {}

  /** The robots.txt decision for a URL (throws the page's error when its robots.txt cannot tell). */
  async check(url: URL): Promise<RobotsDecision> {
    const token = userAgentToken(this.deps.config().fetch.userAgent);
    const origin = url.origin;
    const hit = this.memory.get(origin);
    const now = Date.now();
    if (hit && hit.expiresAt > now) {
      if (hit.token !== token) {
        hit.robots = robotsOf(hit.stored, token);
        hit.token = token;
      }
      // Refresh the LRU position.
      this.memory.delete(origin);
      this.memory.set(origin, hit);
      return decide(hit.stored, hit.robots, url);
    }
    let pending = this.inflight.get(origin);
    if (!pending) {
      pending = this.load(origin).finally(() => this.inflight.delete(origin));
      this.inflight.set(origin, pending);
    }
    const stored = await pending;
    const entry = this.remember(origin, stored, token);
    return decide(stored, entry.robots, url);
  }

  /** Sitemaps named by an origin's robots.txt, if it is in memory. */
  sitemaps(origin: string): readonly string[] {
    return this.memory.get(origin)?.robots.sitemaps ?? [];
  }

  /** Entries and approximate bytes held in memory. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.memory.size, bytes: this.weight };
  }

  private remember(origin: string, stored: StoredRobots, token: string): MemoryEntry {
    const old = this.memory.get(origin);
    if (old) {
      this.memory.delete(origin);
      this.weight -= old.weight;
    }
    const entry: MemoryEntry = {
      stored,
      expiresAt: memoryExpiry(stored, this.deps.config().robots, Date.now()),
      token,
      robots: robotsOf(stored, token),
      weight: 256 + (stored.text?.length ?? 0),
    };
    this.memory.set(origin, entry);
    this.weight += entry.weight;
    while (this.memory.size > MEMORY_MAX_ENTRIES || (this.weight > MEMORY_MAX_BYTES && this.memory.size > 1)) {
      const [oldest, e] = this.memory.entries().next().value as [string, MemoryEntry];
      this.memory.delete(oldest);
      this.weight -= e.weight;
    }
    return entry;
  }

  /** Redis, else the one fetch of the cluster: take the lock and fetch, or wait for the holder. */
  private async load(origin: string): Promise<StoredRobots> {
    const { redis, keys } = this.deps;
    const key = keys.robots(origin);
    const lockKey = keys.robotsLock(origin);
    const cfg = this.deps.config();
    // The holder's fetch ends within the total deadline; its lock outlives it a little.
    const lockTtl = cfg.fetch.totalTimeoutMs + 5000;
    const giveUpAt = Date.now() + 2 * lockTtl;
    let waited = false;
    for (let round = 0; ; round++) {
      const raw = await redis.get(key);
      const cached = raw === null ? null : parseStored(raw);
      if (cached) {
        this.deps.onLookup?.(waited ? 'waited' : 'redis', cached);
        return cached;
      }
      const token = randomBytes(12).toString('base64url');
      if ((await redis.set(lockKey, token, 'PX', lockTtl, 'NX')) === 'OK') {
        try {
          const stored = await this.fetchAndStore(origin, key);
          this.deps.onLookup?.('fetched', stored);
          return stored;
        } finally {
          await releaseLock(redis, lockKey, token);
        }
      }
      if (Date.now() >= giveUpAt) {
        // Not cached: the next page asks again.
        return { v: 1, verdict: 'unreachable', status: 0, error: 'timeout', fetchedAt: Date.now() - ROBOTS_MAX_TTL_MS };
      }
      waited = true;
      await sleep(Math.min(500, 50 * 2 ** round) * (0.75 + Math.random() / 2));
    }
  }

  private async fetchAndStore(origin: string, key: string): Promise<StoredRobots> {
    let stored: StoredRobots | null;
    try {
      const res = await this.deps.fetch(`${origin}/robots.txt`);
      stored = storedFromResponse(res.status, res.body, Date.now());
    } catch (err) {
      if (!(err instanceof CrawlError)) throw err;
      stored = storedFromError(err, Date.now());
      if (stored === null) throw err;
    }
    await this.deps.redis.set(key, JSON.stringify(stored), 'PX', ttlOf(stored, this.deps.config().robots));
    return stored;
  }
}
