/**
 * One typed call per Lua script (shared/redis/lua/<name>-<numKeys>.lua): its keys, its
 * arguments and its decoded reply. This module is the only caller of `callScript`, and the
 * one place where the scripts' reply codes become types.
 */
import type { Redis } from 'ioredis';
import type { Keys, SessionKeys } from './keys.js';
import { callScript } from './scripts.js';

// ---------------------------------------------------------------------------------------
// Admission

/** A URL to admit into a session. */
export interface LinkToAdmit {
  taskId: string;
  depth: number;
  url: string;
  /** Absent for a page. */
  role?: 'robots' | 'sitemap' | undefined;
}

/** One page of the extractor's batch: its task and the screened links found on it. */
export interface FoundPage {
  taskId: string;
  links: readonly (LinkToAdmit & { host: string })[];
  /** Links refused before asking, by reason, added to the session's trap:<reason> counters. */
  refused?: Readonly<Record<string, number>>;
}

export type AdmitReply = { kind: 'ok'; admitted: number[]; limited: number } | { kind: 'closed'; status: string };

export type AdmitFoundReply =
  | { kind: 'ok'; admitted: number[]; limited: number; hostLimited: number; verdicts: string }
  | { kind: 'closed'; status: string }
  | { kind: 'done'; state: string }
  | { kind: 'unknown' };

export interface AdmitFoundOptions {
  resultLeaseMs: number;
  admitLeaseMs: number;
  /** traps.maxPagesPerHost, 0 = unlimited. */
  maxPagesPerHost: number;
  /** How long the session's keys live after it closes (the host counters expire with them). */
  retentionMs: number;
}

/** Positions of the admitted links ('a') in a verdict string of the admission scripts. */
export function admittedIndices(verdicts: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < verdicts.length; i++) if (verdicts[i] === 'a') out.push(i);
  return out;
}

/** admit-4: seeds (and a sitemap session's robots.txt and sitemap tasks). */
export async function admit(redis: Redis, k: SessionKeys, admitLeaseMs: number, links: readonly LinkToAdmit[]): Promise<AdmitReply> {
  const args: (string | number)[] = [admitLeaseMs];
  for (const l of links) args.push(l.taskId, l.depth, l.url, l.role ?? '');
  const r = (await callScript(redis, 'admit', [k.session, k.tasks, k.leases, k.roles], args)) as [string, number | string, string?];
  if (r[0] === 'closed') return { kind: 'closed', status: String(r[1]) };
  return { kind: 'ok', limited: Number(r[1]), admitted: admittedIndices(String(r[2] ?? '')) };
}

/** admit-found-5: a batch of extracted pages of one session; one reply per page, in order. */
export async function admitFound(redis: Redis, k: SessionKeys, opts: AdmitFoundOptions, pages: readonly FoundPage[]): Promise<AdmitFoundReply[]> {
  if (pages.length === 0) return [];
  const args: (string | number)[] = [opts.resultLeaseMs, opts.admitLeaseMs, opts.maxPagesPerHost, opts.retentionMs];
  for (const page of pages) {
    const refused = Object.entries(page.refused ?? {}).filter(([, n]) => n > 0);
    args.push(page.taskId, refused.length);
    for (const [reason, n] of refused) args.push(reason, n);
    args.push(page.links.length);
    for (const l of page.links) args.push(l.taskId, l.depth, l.url, l.host, l.role ?? '');
  }
  const replies = (await callScript(redis, 'admit-found', [k.session, k.tasks, k.leases, k.hostPages, k.roles], args)) as unknown[][];
  return replies.map((r): AdmitFoundReply => {
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
  });
}

/** confirm-queued-3: P → Q for tasks the broker confirmed; answers how many moved. */
export async function confirmQueued(redis: Redis, k: SessionKeys, taskIds: readonly string[]): Promise<number> {
  if (taskIds.length === 0) return 0;
  return Number(await callScript(redis, 'confirm-queued', [k.session, k.tasks, k.leases], [...taskIds]));
}

/** confirm-queued-3 in 'cas' mode: the cleaner's re-drive, only where the entry is still what it saw. */
export async function requeueIfUnchanged(redis: Redis, k: SessionKeys, entries: readonly { taskId: string; entry: string }[]): Promise<number> {
  if (entries.length === 0) return 0;
  const args: string[] = ['cas'];
  for (const e of entries) args.push(e.taskId, e.entry);
  return Number(await callScript(redis, 'confirm-queued', [k.session, k.tasks, k.leases], args));
}

// ---------------------------------------------------------------------------------------
// Fetching

export type ClaimReply =
  | { kind: 'ok'; attempt: number }
  | { kind: 'busy' | 'done'; state: string }
  | { kind: 'cancelled' | 'closed' | 'unknown' }
  | { kind: 'exhausted'; attempt: number }
  /** The session is paused: the task is W (attempt unchanged) under the pause lease; hand it to a delay queue. */
  | { kind: 'paused'; attempt: number };

export interface ClaimOptions {
  leaseMs: number;
  maxAttempts: number;
  takeOver: boolean;
  /** Lease of a task that waits while its session is paused (the delay before it comes back, plus a margin); default leaseMs. */
  pauseLeaseMs?: number;
}

/** claim-3: claims tasks of one session for fetching; one reply per task id, in order. */
export async function claim(redis: Redis, k: SessionKeys, opts: ClaimOptions, taskIds: readonly string[]): Promise<ClaimReply[]> {
  if (taskIds.length === 0) return [];
  const replies = (await callScript(redis, 'claim', [k.session, k.tasks, k.leases], [opts.leaseMs, opts.maxAttempts, opts.takeOver ? '1' : '0', opts.pauseLeaseMs ?? opts.leaseMs, ...taskIds])) as [string, (string | number)?][];
  return replies.map((r): ClaimReply => {
    switch (r[0]) {
      case 'ok':
      case 'exhausted':
      case 'paused':
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
  });
}

/** retry-3 (park until a retry is due) and defer-3 (wait for a polite moment, the attempt given back): true when the caller still owned the attempt. */
export async function park(redis: Redis, k: SessionKeys, how: 'retry' | 'defer', taskId: string, attempt: number, leaseMs: number): Promise<boolean> {
  const r = (await callScript(redis, how, [k.session, k.tasks, k.leases], [taskId, attempt, leaseMs])) as string[];
  return r[0] === 'ok';
}

// ---------------------------------------------------------------------------------------
// Terminal states

export type TerminalState = 'D' | 'X' | 'S' | 'C';

export interface Finishing {
  taskId: string;
  state: TerminalState;
  /** A response was received (counts as fetched). */
  fetched: boolean;
  /** A seed that did not end delivered (counts in seedsFailed). */
  seedFailed: boolean;
  /** Task ids its page admitted (confirmed P → Q). */
  children: readonly string[];
  /** A session counter of the crawl index this record moves once the task ends with it (`recrawl:<name>`). */
  recrawl?: string | null | undefined;
}

/** What finish-3 said of one record. */
export type FinishCode = 'ended' | 'supplement' | 'closed' | 'duplicate' | 'unknown';

export interface FinishReply {
  status: string;
  codes: FinishCode[];
  event: 'completed' | 'closed' | null;
}

const FINISH_CODES: Readonly<Record<string, FinishCode>> = { o: 'ended', s: 'supplement', n: 'closed', d: 'duplicate', u: 'unknown' };

/** finish-3: the terminal compare-and-set of a batch of tasks of one session. */
export async function finish(redis: Redis, k: SessionKeys, items: readonly Finishing[]): Promise<FinishReply> {
  const args: (string | number)[] = [];
  for (const f of items) args.push(f.taskId, f.state, `${f.fetched ? '1' : '0'}${f.recrawl ? `:${f.recrawl}` : ''}`, f.seedFailed ? '1' : '0', f.children.length, ...f.children);
  const [status, codes, event] = (await callScript(redis, 'finish', [k.session, k.tasks, k.leases], args)) as [string, string, string];
  return { status, codes: [...codes].map((c) => FINISH_CODES[c] ?? 'unknown'), event: event === 'completed' || event === 'closed' ? event : null };
}

/** cancel-task-3: F → C for the attempt the caller holds, while the session is cancelled. */
export async function cancelTask(redis: Redis, k: SessionKeys, taskId: string, attempt: number): Promise<'ok' | 'stale' | 'running'> {
  const r = (await callScript(redis, 'cancel-task', [k.session, k.tasks, k.leases], [taskId, attempt])) as string[];
  return r[0] === 'ok' ? 'ok' : r[0] === 'running' ? 'running' : 'stale';
}

// ---------------------------------------------------------------------------------------
// Sessions

/** cancel-1: running, paused or partial → cancelled, announced on the control channel. */
export async function cancel(redis: Redis, k: SessionKeys, control: { channel: string; sessionId: string }): Promise<{ kind: 'ok' | 'unchanged' | 'unknown'; status?: string }> {
  const r = (await callScript(redis, 'cancel', [k.session], [control.channel, control.sessionId])) as string[];
  return { kind: r[0] as 'ok' | 'unchanged' | 'unknown', ...(r[1] ? { status: r[1] } : {}) };
}

export type PauseReply = { kind: 'ok' } | { kind: 'conflict'; status: string } | { kind: 'unknown' };

/** pause-1: running → paused, announced on the control channel. */
export async function pause(redis: Redis, k: SessionKeys, control: { channel: string; sessionId: string }): Promise<PauseReply> {
  const r = (await callScript(redis, 'pause', [k.session], [control.channel, control.sessionId])) as string[];
  if (r[0] === 'ok') return { kind: 'ok' };
  if (r[0] === 'conflict') return { kind: 'conflict', status: String(r[1]) };
  return { kind: 'unknown' };
}

export type ResumeReply = { kind: 'ok'; deadlineAt: number; completed: boolean } | { kind: 'conflict'; status: string } | { kind: 'unknown' };

/** resume-1: paused → running (or completed when nothing is left), the deadline moved by the time paused. */
export async function resume(redis: Redis, k: SessionKeys, control: { channel: string; sessionId: string }): Promise<ResumeReply> {
  const r = (await callScript(redis, 'resume', [k.session], [control.channel, control.sessionId])) as [string, (string | number)?, string?];
  if (r[0] === 'ok') return { kind: 'ok', deadlineAt: Number(r[1]), completed: r[2] === 'completed' };
  if (r[0] === 'conflict') return { kind: 'conflict', status: String(r[1]) };
  return { kind: 'unknown' };
}

/** expire-session-1: the deadline (running → partial) or the end of supplements (partial → closed). */
export async function expireSession(redis: Redis, k: SessionKeys): Promise<'partial' | 'closed' | 'unchanged' | 'unknown'> {
  const r = (await callScript(redis, 'expire-session', [k.session], [])) as string[];
  return r[0] as 'partial' | 'closed' | 'unchanged' | 'unknown';
}

/** close-tasks-3: one batch of a closed or cancelled session's unfinished tasks made terminal. */
export async function closeTasks(redis: Redis, k: SessionKeys, cursor: string, batch: number): Promise<{ cursor: string; ended: number }> {
  const r = (await callScript(redis, 'close-tasks', [k.session, k.tasks, k.leases], [cursor, batch])) as [string, number];
  return { cursor: String(r[0]), ended: Number(r[1]) };
}

/** expired-leases-2: a batch of tasks whose lease expired, each lease pushed forward and the task made P (pending publish) for its re-drive. */
export async function expiredLeases(redis: Redis, k: SessionKeys, batch: number, extendMs: number): Promise<{ taskId: string; entry: string }[]> {
  const flat = (await callScript(redis, 'expired-leases', [k.tasks, k.leases], [batch, extendMs])) as string[];
  const out: { taskId: string; entry: string }[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ taskId: flat[i] as string, entry: flat[i + 1] as string });
  return out;
}

// ---------------------------------------------------------------------------------------
// Results (the Redis results store)

/** results-put-2: appends each record unless its task has a row; true per new row. */
export async function resultsPut(redis: Redis, k: SessionKeys, rows: readonly { taskId: string; json: string }[]): Promise<boolean[]> {
  if (rows.length === 0) return [];
  const args: string[] = [];
  for (const r of rows) args.push(r.taskId, r.json);
  const r = (await callScript(redis, 'results-put', [k.resultIndex, k.results], args)) as number[];
  return r.map((n) => Number(n) === 1);
}

/** results-edit-2: rows replaced, marked as supplements, or removed, in place. */
export async function resultsEdit(redis: Redis, k: SessionKeys, edit: { replace: readonly { taskId: string; json: string }[] } | { supplement: readonly string[] } | { remove: readonly string[] }): Promise<number> {
  let args: string[];
  if ('replace' in edit) args = ['replace', ...edit.replace.flatMap((r) => [r.taskId, r.json])];
  else if ('supplement' in edit) args = ['supplement', ...edit.supplement];
  else args = ['remove', ...edit.remove];
  if (args.length === 1) return 0;
  return Number(await callScript(redis, 'results-edit', [k.resultIndex, k.results], args));
}

// ---------------------------------------------------------------------------------------
// Politeness

export type WaitReason = 'backoff' | 'global' | 'host' | 'slots';

export type HostAcquireReply = { granted: true; backoff: boolean } | { granted: false; waitMs: number; reason: WaitReason };

/** host-acquire-3: the politeness gate of one fetch on its host (rate bucket, backoff, concurrency slots). */
export async function hostAcquire(
  redis: Redis,
  keys: Keys,
  host: string,
  a: { perHost: number; concurrency: number; slot: string; slotLeaseMs: number; backoffHalfLifeMs: number },
): Promise<HostAcquireReply> {
  const r = (await callScript(
    redis,
    'host-acquire',
    [keys.rateHost(host), keys.hostBackoff(host), keys.hostSlots(host)],
    [a.perHost, a.concurrency, a.slot, a.slotLeaseMs, a.backoffHalfLifeMs],
  )) as [string, number?, string?];
  if (r[0] === 'ok') return { granted: true, backoff: Number(r[1]) !== 0 };
  return { granted: false, waitMs: Math.max(1, Number(r[1])), reason: r[2] as WaitReason };
}

export interface GlobalLeaseReply {
  /** Tokens leased (0: none, wait `firstMs`). */
  tokens: number;
  /** When the first token is due, ms from now (with no tokens: how long to wait). */
  firstMs: number;
  /** Between two tokens, ms. */
  intervalMs: number;
}

/** global-lease-1: up to `wanted` tokens of the global bucket, reserved at most `horizonMs` ahead. */
export async function globalLease(redis: Redis, keys: Keys, a: { rate: number; wanted: number; horizonMs: number }): Promise<GlobalLeaseReply> {
  const r = (await callScript(redis, 'global-lease', [keys.rateGlobal()], [a.rate, a.wanted, a.horizonMs])) as [number, string, string];
  return { tokens: Number(r[0]), firstMs: Number(r[1]), intervalMs: Number(r[2]) };
}

/** host-backoff-1: a 429/503 from the host; answers its new interval and hold. */
export async function hostBackoff(redis: Redis, keys: Keys, host: string, a: { startMs: number; maxMs: number; halfLifeMs: number; retryAfterMs: number }): Promise<{ intervalMs: number; untilMs: number }> {
  const r = (await callScript(redis, 'host-backoff', [keys.hostBackoff(host)], [a.startMs, a.maxMs, a.halfLifeMs, Math.max(0, Math.round(a.retryAfterMs))])) as [number, number];
  return { intervalMs: Number(r[0]), untilMs: Number(r[1]) };
}

// ---------------------------------------------------------------------------------------
// Locks and the config center

/** release-lock-1: releases a SET NX lock if the token still holds it. */
export async function releaseLock(redis: Redis, lockKey: string, token: string): Promise<boolean> {
  return Number(await callScript(redis, 'release-lock', [lockKey], [token])) === 1;
}

/** config-set-2: the config center's versioned write. */
export async function configSet(
  redis: Redis,
  keys: Keys,
  a: { expectedVersion: number | undefined; overrides: string; entry: string; historyLength: number; who: string },
): Promise<{ kind: 'ok' | 'conflict'; version: number }> {
  const r = (await callScript(redis, 'config-set', [keys.config, keys.configHistory], [
    a.expectedVersion === undefined ? '' : String(a.expectedVersion),
    a.overrides,
    a.entry,
    a.historyLength,
    keys.configChannel,
    a.who,
  ])) as [string, number];
  return { kind: r[0] === 'conflict' ? 'conflict' : 'ok', version: Number(r[1]) };
}

// ---------------------------------------------------------------------------------------
// The crawl index (shared/crawlindex)

/** index-put-1: one fetch of a URL into its shard, the newest fetch winning; answers the entry held before ('' when none). */
export async function indexPut(redis: Redis, shard: string, field: string, packed: string, expiredBefore: string, retentionMs: number, samples: number): Promise<{ written: boolean; previous: string }> {
  const r = (await callScript(redis, 'index-put', [shard], [field, packed, expiredBefore, retentionMs, samples])) as [number, string];
  return { written: Number(r[0]) === 1, previous: String(r[1] ?? '') };
}
