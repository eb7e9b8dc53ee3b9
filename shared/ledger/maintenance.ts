/**
 * What the cleaner does to the ledger and the session indexes: end what a closed or
 * cancelled session left, find expired leases, re-drive them only where nothing moved meanwhile,
 * recount a finished session's counters, and drop index entries of expired sessions. Every
 * write is a compare-and-set (or idempotent), so two sweeps that overlap cannot do harm:
 * at worst a task is published twice, and its claim takes it once.
 */
import type { Redis } from 'ioredis';
import * as scripts from '../redis/commands.js';
import type { Keys } from '../redis/keys.js';
import { parseLedgerEntry } from './entry.js';

export class Maintenance {
  constructor(
    private readonly redis: Redis,
    readonly keys: Keys,
  ) {}

  /** Sessions the cleaner must look at by now, at most `limit`. */
  due(now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.sessionsDue, '-inf', now, 'LIMIT', 0, limit);
  }

  /** Every session still in the due index (the live ones). */
  live(): Promise<string[]> {
    return this.redis.zrange(this.keys.sessionsDue, 0, -1);
  }

  async forget(sessionId: string): Promise<void> {
    await this.redis.zrem(this.keys.sessionsDue, sessionId);
  }

  /** Ends every unfinished task of a closed or cancelled session, in batches; returns how many. */
  async closeTasks(sessionId: string, batch: number): Promise<number> {
    const k = this.keys.session(sessionId);
    let cursor = '0';
    let ended = 0;
    do {
      const r = await scripts.closeTasks(this.redis, k, cursor, batch);
      cursor = r.cursor;
      ended += r.ended;
    } while (cursor !== '0');
    return ended;
  }

  expiredLeases(sessionId: string, batch: number, extendMs: number): Promise<{ taskId: string; entry: string }[]> {
    return scripts.expiredLeases(this.redis, this.keys.session(sessionId), batch, extendMs);
  }

  /** P → Q only where the entry still equals what the cleaner saw (expiredLeases made it P; a fetcher may have claimed it since). */
  requeueIfUnchanged(sessionId: string, entries: readonly { taskId: string; entry: string }[]): Promise<number> {
    return scripts.requeueIfUnchanged(this.redis, this.keys.session(sessionId), entries);
  }

  /**
   * Recounts a finished session's terminal states from the ledger (HSCAN, in batches) and
   * corrects counters that drifted. Only for finished sessions, whose ledger no longer moves.
   * Returns the corrections made (field → [was, now]).
   */
  async reconcile(sessionId: string, batch: number): Promise<Record<string, [number, number]>> {
    const k = this.keys.session(sessionId);
    const counted: Record<string, number> = { admitted: 0, delivered: 0, failed: 0, skipped: 0, cancelled: 0 };
    const field: Record<string, string> = { D: 'delivered', X: 'failed', S: 'skipped', C: 'cancelled' };
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.hscan(k.tasks, cursor, 'COUNT', batch);
      cursor = next;
      for (let i = 1; i < flat.length; i += 2) {
        counted.admitted = (counted.admitted ?? 0) + 1;
        const f = field[parseLedgerEntry(flat[i] as string)?.state ?? ''];
        if (f) counted[f] = (counted[f] ?? 0) + 1;
      }
    } while (cursor !== '0');
    const current = await this.redis.hmget(k.session, ...Object.keys(counted));
    const fixes: Record<string, [number, number]> = {};
    Object.keys(counted).forEach((name, i) => {
      const was = Number(current[i] ?? 0);
      if (was !== counted[name]) fixes[name] = [was, counted[name] as number];
    });
    if (Object.keys(fixes).length > 0) {
      const values: Record<string, number> = {};
      for (const [name, [, now]] of Object.entries(fixes)) values[name] = now;
      await this.redis.multi().hset(k.session, values).hincrby(k.session, 'reconciled', Object.keys(fixes).length).exec();
    }
    return fixes;
  }

  /** Drops index entries of sessions older than `olderThan` whose keys expired (retention); returns their ids. */
  async pruneIndex(olderThan: number, batch: number): Promise<string[]> {
    const ids = await this.redis.zrangebyscore(this.keys.sessionsIndex, '-inf', olderThan, 'LIMIT', 0, batch);
    if (ids.length === 0) return [];
    // One command per session (their keys lie in different cluster slots), auto-pipelined.
    const exists = await Promise.all(ids.map((id) => this.redis.exists(this.keys.session(id).session)));
    const gone = ids.filter((_, i) => exists[i] === 0);
    if (gone.length > 0) await this.redis.zrem(this.keys.sessionsIndex, ...gone);
    return gone;
  }
}
