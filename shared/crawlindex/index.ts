/**
 * The crawl index: when each URL was last fetched, cluster-wide, by any session. One entry per
 * normalized URL (keyed by its fingerprint, shared/url/normalize.ts), in shards of about a
 * hundred URLs (`keys.urlIndex`: Redis hashes small enough to stay listpacks), their hash tag
 * two fingerprint characters so the index spreads over a Redis Cluster. Every fetch writes its
 * entry (`index-put-1.lua`: atomic, the newest fetch wins under concurrent fetches of one URL);
 * an entry older than index.retentionMs counts as absent and is removed when it is read,
 * written or sampled, and a shard nobody wrote to for as long expires whole.
 *
 * The page's links are not in the index (a page has tens of them): the entry names the
 * session whose record (results store, key session + fingerprint) holds them.
 */
import type { Redis } from 'ioredis';
import { indexPut } from '../redis/commands.js';
import type { Keys } from '../redis/keys.js';
import { entryPlace, packEntry, packTime, unpackEntry, type IndexEntry } from './entry.js';

export { packEntry, parseHttpDate, shortHash, unpackEntry, type IndexEntry } from './entry.js';
export { changedSince, recrawlCounter, recrawlDecision, RECRAWL_COUNTERS, type RecrawlCounter, type RecrawlDecision, type RecrawlPolicy, type Validators } from './policy.js';

export interface IndexSettings {
  retentionMs: number;
  shardChars: number;
}

/** Other fields of the shard each write looks at for expired entries. */
const EXPIRY_SAMPLES = 2;

export class CrawlIndex {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly settings: () => IndexSettings,
  ) {}

  private place(fp: string): { key: string; field: string } {
    const p = entryPlace(fp, this.settings().shardChars);
    return { key: this.keys.urlIndex(p.tag, p.rest), field: p.field };
  }

  /** The entry of a URL's last fetch, or null (never fetched, or longer ago than index.retentionMs). */
  async get(fp: string, now = Date.now()): Promise<IndexEntry | null> {
    const { key, field } = this.place(fp);
    const v = await this.redis.hget(key, field);
    if (v === null) return null;
    const e = unpackEntry(v);
    if (e === null || e.fetchedAt < now - this.settings().retentionMs) return null;
    return e;
  }

  /** Records a fetch; answers whether it was written (false: a newer fetch is recorded) and the entry held before. */
  async put(fp: string, entry: IndexEntry, now = Date.now()): Promise<{ written: boolean; previous: IndexEntry | null }> {
    const { key, field } = this.place(fp);
    const { retentionMs } = this.settings();
    const r = await indexPut(this.redis, key, field, packEntry(entry), packTime(now - retentionMs), retentionMs, EXPIRY_SAMPLES);
    return { written: r.written, previous: r.previous === '' ? null : unpackEntry(r.previous) };
  }
}
