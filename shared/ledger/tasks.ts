/**
 * The task ledger: the state machine of every admitted URL of a session (see
 * shared/redis/lua/includes/ledger.lua for the states). Every transition is one atomic
 * compare-and-set script, so a redelivered or stale message can never move a task backwards
 * or count it twice. The ledger doubles as the session's dedup set.
 */
import type { Redis } from 'ioredis';
import * as scripts from '../redis/commands.js';
import type { AdmitFoundOptions, AdmitFoundReply, AdmitReply, ClaimOptions, ClaimReply, FinishReply, Finishing, FoundPage, LinkToAdmit } from '../redis/commands.js';
import type { Keys } from '../redis/keys.js';
import type { TaskRole } from '../tasks/types.js';
import { parseLedgerEntry, type LedgerEntry } from './entry.js';

export class TaskLedger {
  constructor(
    private readonly redis: Redis,
    readonly keys: Keys,
  ) {}

  /** Seeds (and a sitemap session's robots.txt and sitemap tasks) enter as P. */
  admitSeeds(sessionId: string, links: readonly LinkToAdmit[], admitLeaseMs: number): Promise<AdmitReply> {
    return scripts.admit(this.redis, this.keys.session(sessionId), admitLeaseMs, links);
  }

  /**
   * The extractor's one round trip per batch of pages of a session: each page's task moves to
   * R, its links are admitted within maxPages and the session's per-host limit, and the counts
   * of links refused before asking are added to the session (`trap:<reason>`). One reply per
   * page, in order.
   */
  admitFoundPages(sessionId: string, pages: readonly FoundPage[], opts: AdmitFoundOptions): Promise<AdmitFoundReply[]> {
    return scripts.admitFound(this.redis, this.keys.session(sessionId), opts, pages);
  }

  /** P → Q once the broker confirmed the tasks' publish. */
  confirmQueued(sessionId: string, taskIds: readonly string[]): Promise<number> {
    return scripts.confirmQueued(this.redis, this.keys.session(sessionId), taskIds);
  }

  /** Claims tasks of one session for fetching: one reply per task id, in order. */
  claim(sessionId: string, taskIds: readonly string[], opts: ClaimOptions): Promise<ClaimReply[]> {
    return scripts.claim(this.redis, this.keys.session(sessionId), opts, taskIds);
  }

  /** F → W until a retry is due; false when the caller no longer owns the attempt. */
  parkForRetry(sessionId: string, taskId: string, attempt: number, leaseMs: number): Promise<boolean> {
    return scripts.park(this.redis, this.keys.session(sessionId), 'retry', taskId, attempt, leaseMs);
  }

  /** F → W, the attempt given back: the host is not ready yet. */
  defer(sessionId: string, taskId: string, attempt: number, leaseMs: number): Promise<boolean> {
    return scripts.park(this.redis, this.keys.session(sessionId), 'defer', taskId, attempt, leaseMs);
  }

  /** F → C before the request started: the session was cancelled. 'ok', 'stale' (the task moved) or 'running' (not cancelled). */
  cancelClaimed(sessionId: string, taskId: string, attempt: number): Promise<'ok' | 'stale' | 'running'> {
    return scripts.cancelTask(this.redis, this.keys.session(sessionId), taskId, attempt);
  }

  /** The terminal compare-and-set of a batch of one session's tasks (after their records were written). */
  finish(sessionId: string, items: readonly Finishing[]): Promise<FinishReply> {
    return scripts.finish(this.redis, this.keys.session(sessionId), items);
  }

  async task(sessionId: string, taskId: string): Promise<LedgerEntry | null> {
    const v = await this.redis.hget(this.keys.session(sessionId).tasks, taskId);
    return v === null ? null : parseLedgerEntry(v);
  }

  /** The roles of tasks that are no pages (robots, sitemap); pages are absent from the map. */
  async roles(sessionId: string, taskIds: readonly string[]): Promise<Map<string, TaskRole>> {
    const out = new Map<string, TaskRole>();
    if (taskIds.length === 0) return out;
    const values = await this.redis.hmget(this.keys.session(sessionId).roles, ...taskIds);
    values.forEach((v, i) => {
      if (v === 'robots' || v === 'sitemap') out.set(taskIds[i] as string, v);
    });
    return out;
  }
}
