/**
 * The session store and task ledger: typed calls over the Lua scripts. Every state change
 * of a task or a session goes through here, as one atomic compare-and-set script, so a
 * redelivered or stale message can never move a task backwards or count it twice.
 */
import type { Redis } from 'ioredis';
import type { Keys, SessionKeys } from '../redis/keys.js';
import { callScript } from '../redis/scripts.js';
import type { Outcome, SessionCounts, SessionSpec, SessionStatus, SessionView, TaskRole, TrapCounts } from '../tasks/types.js';
import { TRAP_COUNTERS } from '../url/traps.js';

export interface LinkToAdmit {
  taskId: string;
  depth: number;
  url: string;
  /** Absent for a page. */
  role?: TaskRole | undefined;
}

export type AdmitReply =
  | { kind: 'ok'; admitted: number[]; limited: number }
  | { kind: 'closed'; status: string };

export type ExtractedReply = AdmitReply | { kind: 'done'; state: string } | { kind: 'unknown' };

export type AdmitFoundReply =
  | { kind: 'ok'; admitted: number[]; limited: number; hostLimited: number; verdicts: string }
  | { kind: 'closed'; status: string }
  | { kind: 'done'; state: string }
  | { kind: 'unknown' };

/** A page of the extractor's batch: its task and the links found on it, screened. */
export interface FoundPage {
  taskId: string;
  links: readonly (LinkToAdmit & { host: string })[];
  /** Links refused before asking, by reason, added to the session's trap:<reason> counters. */
  refused?: Readonly<Record<string, number>>;
}

/** One record for deliver-4. */
export interface RecordToDeliver {
  taskId: string;
  outcome: Outcome;
  /** A response was received (counts as fetched). */
  fetched: boolean;
  /** The record, a JSON object. */
  recordJson: string;
  /** Task ids the page admitted (confirmed P → Q). */
  children: readonly string[];
}

export interface DeliverBatchReply {
  /** The status the records were appended under. */
  status: string;
  /** Per record, in order. */
  outcomes: ('appended' | 'duplicate' | 'unknown')[];
  /** The session completed (or, partial, closed) with this batch. */
  event: 'completed' | 'closed' | null;
}

export interface AdmitFoundOptions {
  resultLeaseMs: number;
  admitLeaseMs: number;
  /** traps.maxPagesPerHost, 0 = unlimited. */
  maxPagesPerHost: number;
  /** How long the session's keys live after it closes (the host counters expire with them). */
  retentionMs: number;
}

export type ClaimReply =
  | { kind: 'ok'; attempt: number }
  | { kind: 'busy' | 'done'; state: string }
  | { kind: 'cancelled' | 'closed' | 'unknown' }
  | { kind: 'exhausted'; attempt: number };

export type DeliverReply =
  | { kind: 'ok'; status: string }
  | { kind: 'completed'; status: string }
  | { kind: 'closed'; status: string }
  | { kind: 'duplicate' }
  | { kind: 'unknown' };

export interface LedgerEntry {
  state: string;
  attempt: number;
  depth: number;
  parent: string;
  url: string;
}

const TERMINAL_STATE: Record<Outcome, string> = { delivered: 'D', failed: 'X', skipped: 'S', cancelled: 'C' };

export function parseLedgerEntry(value: string): LedgerEntry | null {
  const m = /^([A-Z])\|(\d+)\|(\d+)\|([^|]*)\|(.*)$/s.exec(value);
  if (!m) return null;
  return { state: m[1] as string, attempt: Number(m[2]), depth: Number(m[3]), parent: m[4] as string, url: m[5] as string };
}

function quadruplets(links: readonly LinkToAdmit[]): (string | number)[] {
  const out: (string | number)[] = [];
  for (const l of links) out.push(l.taskId, l.depth, l.url, l.role ?? '');
  return out;
}

/** Positions of the admitted links ('a') in a verdict string of the admission scripts. */
export function admittedIndices(verdicts: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < verdicts.length; i++) if (verdicts[i] === 'a') out.push(i);
  return out;
}

function toClaimReply(r: [string, (string | number)?]): ClaimReply {
  switch (r[0]) {
    case 'ok':
    case 'exhausted':
      return { kind: r[0], attempt: Number(r[1]) };
    case 'busy':
    case 'done':
      return { kind: r[0], state: String(r[1]) };
    case 'cancelled':
    case 'closed':
      return { kind: r[0] };
    default:
      return { kind: 'unknown' };
  }
}

function toAdmitFoundReply(r: unknown[]): AdmitFoundReply {
  switch (r[0]) {
    case 'unknown':
      return { kind: 'unknown' };
    case 'done':
      return { kind: 'done', state: String(r[1]) };
    case 'closed':
      return { kind: 'closed', status: String(r[1]) };
    default: {
      const verdicts = String(r[1] ?? '');
      return { kind: 'ok', verdicts, admitted: admittedIndices(verdicts), limited: Number(r[2]), hostLimited: Number(r[3] ?? 0) };
    }
  }
}

const DELIVER_OUTCOME = { o: 'appended', d: 'duplicate', u: 'unknown' } as const;

const COUNT_FIELDS = ['admitted', 'fetched', 'delivered', 'failed', 'skipped', 'cancelled', 'supplements'] as const;

export interface SessionRecord extends SessionView {
  closeAt: string;
  partialAt: string | null;
  limited: number;
  retries: number;
  handedOverAt: string | null;
  /** What the cleaner did for this session. */
  cleaner: { redriven: number; timedOut: number; reconciled: number };
  /** Results that existed when the session went partial (the partial hand-over). */
  partialResults: number | null;
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

export class Ledger {
  constructor(
    private readonly redis: Redis,
    readonly keys: Keys,
  ) {}

  sessionKeys(id: string): SessionKeys {
    return this.keys.session(id);
  }

  private sk(id: string): string[] {
    const k = this.keys.session(id);
    return [k.session, k.tasks, k.leases];
  }

  async createSession(id: string, spec: SessionSpec, closeAfterMs: number): Promise<void> {
    const k = this.keys.session(id);
    const now = Date.now();
    const deadline = now + spec.timeoutMs;
    await this.redis
      .multi()
      .hset(k.session, {
        id,
        spec: JSON.stringify(spec),
        status: 'running',
        maxPages: spec.maxPages,
        createdAt: now,
        deadlineAt: deadline,
        closeAt: deadline + closeAfterMs,
        admitted: 0,
      })
      .exec();
    await this.redis.pipeline().zadd(this.keys.sessionsIndex, now, id).zadd(this.keys.sessionsDue, deadline, id).exec();
  }

  async getSession(id: string): Promise<SessionRecord | null> {
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
      handedOverAt: iso(h.handedOverAt),
      cleaner: { redriven: Number(h.redriven ?? 0), timedOut: Number(h.timedOut ?? 0), reconciled: Number(h.reconciled ?? 0) },
      partialResults: h.partialResults === undefined ? null : Number(h.partialResults),
      counts,
      traps: trapCounts(h),
      limited: Number(h.limited ?? 0),
      retries: Number(h.retries ?? 0),
      spec: JSON.parse(h.spec) as SessionSpec,
      resultsFile: h.resultsFile ?? null,
    };
  }

  /** Session ids, newest first. */
  async listSessionIds(limit: number, offset = 0): Promise<string[]> {
    return this.redis.zrevrange(this.keys.sessionsIndex, offset, offset + limit - 1);
  }

  async admitSeeds(sessionId: string, links: readonly LinkToAdmit[], admitLeaseMs: number): Promise<AdmitReply> {
    const k = this.keys.session(sessionId);
    const r = (await callScript(this.redis, 'admit', [k.session, k.tasks, k.leases, k.roles], [admitLeaseMs, ...quadruplets(links)])) as [string, number | string, string?];
    if (r[0] === 'closed') return { kind: 'closed', status: String(r[1]) };
    return { kind: 'ok', limited: Number(r[1]), admitted: admittedIndices(String(r[2] ?? '')) };
  }

  /**
   * The extractor's one round trip per batch of pages of a session (admit-found-5): each
   * page's task moves to R, its links are admitted within maxPages and the session's per-host
   * limit, and the counts of links refused before asking are added to the session
   * (`trap:<reason>`), once per page. One reply per page, in order.
   */
  async admitFoundPages(sessionId: string, pages: readonly FoundPage[], opts: AdmitFoundOptions): Promise<AdmitFoundReply[]> {
    if (pages.length === 0) return [];
    const k = this.keys.session(sessionId);
    const args: (string | number)[] = [opts.resultLeaseMs, opts.admitLeaseMs, opts.maxPagesPerHost, opts.retentionMs];
    for (const page of pages) {
      const refused = Object.entries(page.refused ?? {}).filter(([, n]) => n > 0);
      args.push(page.taskId, refused.length);
      for (const [reason, n] of refused) args.push(reason, n);
      args.push(page.links.length);
      for (const l of page.links) args.push(l.taskId, l.depth, l.url, l.host, l.role ?? '');
    }
    const replies = (await callScript(this.redis, 'admit-found', [k.session, k.tasks, k.leases, k.hostPages, k.roles], args)) as unknown[][];
    return replies.map(toAdmitFoundReply);
  }

  /** `admitFoundPages` for one page. */
  async admitFound(sessionId: string, page: FoundPage, opts: AdmitFoundOptions): Promise<AdmitFoundReply> {
    return (await this.admitFoundPages(sessionId, [page], opts))[0] as AdmitFoundReply;
  }

  /** `admitFound` without trap limits or counts. */
  async extracted(sessionId: string, taskId: string, links: readonly LinkToAdmit[], resultLeaseMs: number, admitLeaseMs: number): Promise<ExtractedReply> {
    const page = { taskId, links: links.map((l) => ({ ...l, host: new URL(l.url).host })) };
    const reply = await this.admitFound(sessionId, page, { resultLeaseMs, admitLeaseMs, maxPagesPerHost: 0, retentionMs: 0 });
    if (reply.kind !== 'ok') return reply;
    return { kind: 'ok', admitted: reply.admitted, limited: reply.limited };
  }


  async confirmQueued(sessionId: string, taskIds: readonly string[]): Promise<number> {
    if (taskIds.length === 0) return 0;
    return Number(await callScript(this.redis, 'confirm-queued', this.sk(sessionId), [...taskIds]));
  }

  /** P/F/R/W → Q only where the entry still equals what the cleaner saw. */
  async requeueIfUnchanged(sessionId: string, entries: readonly { taskId: string; entry: string }[]): Promise<number> {
    if (entries.length === 0) return 0;
    const args: string[] = ['cas'];
    for (const e of entries) args.push(e.taskId, e.entry);
    return Number(await callScript(this.redis, 'confirm-queued', this.sk(sessionId), args));
  }

  /** Claims tasks of one session for fetching (claim-3): one reply per task id, in order. */
  async claimMany(sessionId: string, taskIds: readonly string[], leaseMs: number, maxAttempts: number, redelivered = false): Promise<ClaimReply[]> {
    if (taskIds.length === 0) return [];
    const replies = (await callScript(this.redis, 'claim', this.sk(sessionId), [leaseMs, maxAttempts, redelivered ? '1' : '0', ...taskIds])) as [string, (string | number)?][];
    return replies.map(toClaimReply);
  }

  async claim(sessionId: string, taskId: string, leaseMs: number, maxAttempts: number, redelivered = false): Promise<ClaimReply> {
    return (await this.claimMany(sessionId, [taskId], leaseMs, maxAttempts, redelivered))[0] as ClaimReply;
  }

  async parkForRetry(sessionId: string, taskId: string, attempt: number, leaseMs: number): Promise<boolean> {
    const r = (await callScript(this.redis, 'retry', this.sk(sessionId), [taskId, attempt, leaseMs])) as string[];
    return r[0] === 'ok';
  }

  /**
   * Delivery's one round trip per batch of records of a session (deliver-4): each task ends
   * terminal and its record is appended exactly once; the session completes when nothing is left.
   */
  async deliverMany(sessionId: string, records: readonly RecordToDeliver[]): Promise<DeliverBatchReply> {
    const k = this.keys.session(sessionId);
    const args: (string | number)[] = [];
    for (const r of records) args.push(r.taskId, TERMINAL_STATE[r.outcome], r.fetched ? '1' : '0', r.recordJson, r.children.length, ...r.children);
    const [status, outcomes, event] = (await callScript(this.redis, 'deliver', [k.session, k.tasks, k.leases, k.results], args)) as [string, string, string];
    return {
      status,
      outcomes: [...outcomes].map((c) => DELIVER_OUTCOME[c as keyof typeof DELIVER_OUTCOME]),
      event: event === 'completed' || event === 'closed' ? event : null,
    };
  }

  /** `deliverMany` for one record, in the shape of a single answer. */
  async deliver(sessionId: string, taskId: string, outcome: Outcome, fetched: boolean, recordJson: string, children: readonly string[]): Promise<DeliverReply> {
    const r = await this.deliverMany(sessionId, [{ taskId, outcome, fetched, recordJson, children }]);
    const outcomeOfRecord = r.outcomes[0];
    if (outcomeOfRecord === 'duplicate') return { kind: 'duplicate' };
    if (outcomeOfRecord !== 'appended') return { kind: 'unknown' };
    return { kind: r.event ?? 'ok', status: r.status };
  }

  async cancel(sessionId: string): Promise<{ kind: 'ok' | 'unchanged' | 'unknown'; status?: string }> {
    const r = (await callScript(this.redis, 'cancel', [this.keys.session(sessionId).session], [])) as string[];
    return { kind: r[0] as 'ok' | 'unchanged' | 'unknown', ...(r[1] ? { status: r[1] } : {}) };
  }

  async expireSession(sessionId: string): Promise<'partial' | 'closed' | 'unchanged' | 'unknown'> {
    const k = this.keys.session(sessionId);
    const r = (await callScript(this.redis, 'expire-session', [k.session, k.results], [])) as string[];
    return r[0] as 'partial' | 'closed' | 'unchanged' | 'unknown';
  }

  /** Ends every unfinished task of a closed or cancelled session, in batches; returns how many. */
  async closeTasks(sessionId: string, batch: number): Promise<number> {
    let cursor = '0';
    let ended = 0;
    do {
      const r = (await callScript(this.redis, 'close-tasks', this.sk(sessionId), [cursor, batch])) as [string, number];
      cursor = String(r[0]);
      ended += Number(r[1]);
    } while (cursor !== '0');
    return ended;
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

  /** Drops index entries of sessions whose keys expired (retention); returns how many. */
  async pruneIndex(olderThan: number, batch: number): Promise<number> {
    const ids = await this.redis.zrangebyscore(this.keys.sessionsIndex, '-inf', olderThan, 'LIMIT', 0, batch);
    if (ids.length === 0) return 0;
    const p = this.redis.pipeline();
    for (const id of ids) p.exists(this.keys.session(id).session);
    const exists = ((await p.exec()) ?? []).map(([, n]) => Number(n));
    const gone = ids.filter((_, i) => exists[i] === 0);
    if (gone.length > 0) await this.redis.zrem(this.keys.sessionsIndex, ...gone);
    return gone.length;
  }

  /** When the cleaner must look at the session next (deadline, close, or a cancelled session's grace). */
  async scheduleSweep(sessionId: string, at: number): Promise<void> {
    await this.redis.zadd(this.keys.sessionsDue, at, sessionId);
  }

  async expiredLeases(sessionId: string, batch: number, extendMs: number): Promise<{ taskId: string; entry: string }[]> {
    const k = this.keys.session(sessionId);
    const flat = (await callScript(this.redis, 'expired-leases', [k.tasks, k.leases], [batch, extendMs])) as string[];
    const out: { taskId: string; entry: string }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ taskId: flat[i] as string, entry: flat[i + 1] as string });
    return out;
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

  async task(sessionId: string, taskId: string): Promise<LedgerEntry | null> {
    const v = await this.redis.hget(this.keys.session(sessionId).tasks, taskId);
    return v === null ? null : parseLedgerEntry(v);
  }

  async markHandedOver(sessionId: string, resultsFile: string | null): Promise<void> {
    const fields: Record<string, string | number> = { handedOverAt: Date.now() };
    if (resultsFile) fields.resultsFile = resultsFile;
    await this.redis.hset(this.keys.session(sessionId).session, fields);
  }

  /** Result records from `start` (0-based), at most `count`, as raw JSON lines. */
  async results(sessionId: string, start: number, count: number): Promise<string[]> {
    return this.redis.lrange(this.keys.session(sessionId).results, start, start + count - 1);
  }

  async resultCount(sessionId: string): Promise<number> {
    return this.redis.llen(this.keys.session(sessionId).results);
  }

  /** Keeps a finished session's keys for `retentionMs` more, then Redis drops them. */
  async expireSessionKeys(sessionId: string, retentionMs: number): Promise<void> {
    const k = this.keys.session(sessionId);
    const p = this.redis.pipeline();
    for (const key of [k.session, k.tasks, k.leases, k.results, k.roles]) p.pexpire(key, retentionMs);
    await p.exec();
  }
}
