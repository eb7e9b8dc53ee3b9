/**
 * The session store: a session's spec, status, deadlines and counters in one Redis hash, plus
 * the two indexes every session is in (by creation time, and by when the cleaner must look
 * at it next).
 */
import type { Redis } from 'ioredis';
import * as scripts from '../redis/commands.js';
import type { Keys } from '../redis/keys.js';
import { RECRAWL_COUNTERS, type RecrawlCounter } from '../crawlindex/policy.js';
import type { SessionCounts, SessionSpec, SessionStatus, SessionView, TrapCounts } from '../tasks/types.js';
import { TRAP_COUNTERS } from '../url/traps.js';

const COUNT_FIELDS = ['admitted', 'fetched', 'delivered', 'failed', 'skipped', 'cancelled', 'supplements'] as const;

export interface SessionRecord extends SessionView {
  closeAt: string;
  partialAt: string | null;
  /** When the session was paused (null unless it is paused now). */
  pausedAt: string | null;
  /** Time spent paused over every pause that ended (the deadline moved by as much). */
  pausedMs: number;
  limited: number;
  retries: number;
  handedOverAt: string | null;
  /** What the cleaner did for this session. */
  cleaner: { redriven: number; timedOut: number; reconciled: number };
}

/** The `trap:<reason>` fields of a session hash: every known reason (0 when absent) and any other. */
export function trapCounts(hash: Readonly<Record<string, string>>): TrapCounts {
  const traps: TrapCounts = Object.fromEntries(TRAP_COUNTERS.map((r) => [r, 0]));
  for (const [field, value] of Object.entries(hash)) {
    if (field.startsWith('trap:')) traps[field.slice(5)] = Number(value);
  }
  return traps;
}

function iso(ms: string | undefined): string | null {
  return ms ? new Date(Number(ms)).toISOString() : null;
}

export class SessionStore {
  constructor(
    private readonly redis: Redis,
    readonly keys: Keys,
  ) {}

  /**
   * Creates a session. The due-index entry is written first: a process that dies before the
   * hash exists leaves only an entry the cleaner drops (it finds no session), never a session
   * the cleaner does not know of. (The two keys live in different hash slots, so they cannot
   * share one transaction on Redis Cluster.)
   */
  async create(id: string, spec: SessionSpec, closeAfterMs: number): Promise<void> {
    const k = this.keys.session(id);
    const now = Date.now();
    const deadline = now + spec.timeoutMs;
    await this.redis.zadd(this.keys.sessionsDue, deadline, id);
    await this.redis.hset(k.session, {
      id,
      spec: JSON.stringify(spec),
      status: 'running',
      maxPages: spec.maxPages,
      createdAt: now,
      deadlineAt: deadline,
      closeAt: deadline + closeAfterMs,
      admitted: 0,
    });
    await this.redis.zadd(this.keys.sessionsIndex, now, id);
  }

  async get(id: string): Promise<SessionRecord | null> {
    const h = await this.redis.hgetall(this.keys.session(id).session);
    if (!h.status || !h.spec) return null;
    const counts = Object.fromEntries(COUNT_FIELDS.map((f) => [f, Number(h[f] ?? 0)])) as unknown as SessionCounts;
    return {
      id,
      status: h.status as SessionStatus,
      createdAt: iso(h.createdAt) as string,
      deadlineAt: iso(h.deadlineAt) as string,
      closeAt: iso(h.closeAt) as string,
      finishedAt: iso(h.finishedAt),
      partialAt: iso(h.partialAt),
      pausedAt: iso(h.pausedAt),
      pausedMs: Number(h.pausedMs ?? 0),
      handedOverAt: iso(h.handedOverAt),
      cleaner: { redriven: Number(h.redriven ?? 0), timedOut: Number(h.timedOut ?? 0), reconciled: Number(h.reconciled ?? 0) },
      counts,
      seedsFailed: Number(h.seedsFailed ?? 0),
      recrawl: Object.fromEntries(RECRAWL_COUNTERS.map((c) => [c, Number(h[`recrawl:${c}`] ?? 0)])) as Record<RecrawlCounter, number>,
      traps: trapCounts(h),
      limited: Number(h.limited ?? 0),
      retries: Number(h.retries ?? 0),
      spec: JSON.parse(h.spec) as SessionSpec,
      resultsFile: h.resultsFile ?? null,
    };
  }

  /** Session ids, newest first. */
  async listIds(limit: number, offset = 0): Promise<string[]> {
    return this.redis.zrevrange(this.keys.sessionsIndex, offset, offset + limit - 1);
  }

  /** running, paused or partial → cancelled; every fetcher hears of it on the control channel. */
  cancel(id: string): Promise<{ kind: 'ok' | 'unchanged' | 'unknown'; status?: string }> {
    return scripts.cancel(this.redis, this.keys.session(id), this.control(id));
  }

  /** running → paused; every fetcher hears of it on the control channel. */
  pause(id: string): Promise<scripts.PauseReply> {
    return scripts.pause(this.redis, this.keys.session(id), this.control(id));
  }

  /**
   * paused → running, the deadline and closeAt moved later by the time paused; the due index
   * follows the new deadline (the cleaner also reschedules a session it finds not due yet, so
   * a crash between the two calls does no harm).
   */
  async resume(id: string): Promise<scripts.ResumeReply> {
    const r = await scripts.resume(this.redis, this.keys.session(id), this.control(id));
    if (r.kind === 'ok' && !r.completed) await this.scheduleSweep(id, r.deadlineAt);
    return r;
  }

  /**
   * Status and control version of sessions (null when gone), in one round trip: the fetchers'
   * session watch. Sessions lie in different slots of a cluster: the commands are sent together
   * by auto-pipelining (one batch per node), not as one pipeline.
   */
  async controlStates(ids: readonly string[]): Promise<({ status: string; version: number } | null)[]> {
    if (ids.length === 0) return [];
    const replies = await Promise.all(ids.map((id) => this.redis.hmget(this.keys.session(id).session, 'status', 'control')));
    return replies.map(([status, version]) => (status === null || status === undefined ? null : { status, version: Number(version ?? 0) }));
  }

  private control(id: string): { channel: string; sessionId: string } {
    return { channel: this.keys.sessionsControl, sessionId: id };
  }

  expire(id: string): Promise<'partial' | 'closed' | 'unchanged' | 'unknown'> {
    return scripts.expireSession(this.redis, this.keys.session(id));
  }

  /** When the cleaner must look at the session next (deadline, close, or a cancelled session's grace). */
  async scheduleSweep(id: string, at: number): Promise<void> {
    await this.redis.zadd(this.keys.sessionsDue, at, id);
  }

  async markHandedOver(id: string, resultsFile: string | null): Promise<void> {
    const fields: Record<string, string | number> = { handedOverAt: Date.now() };
    if (resultsFile) fields.resultsFile = resultsFile;
    await this.redis.hset(this.keys.session(id).session, fields);
  }

  /** Keeps a finished session's keys for `retentionMs` more, then Redis drops them. */
  async expireKeys(id: string, retentionMs: number): Promise<void> {
    const k = this.keys.session(id);
    const p = this.redis.pipeline();
    for (const key of [k.session, k.tasks, k.leases, k.results, k.resultIndex, k.roles, k.hostPages, k.cookies]) p.pexpire(key, retentionMs);
    await p.exec();
  }
}
