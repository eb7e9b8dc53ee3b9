/**
 * One cleaner sweep, in batches so no Lua call blocks Redis for long:
 *  1. sessions whose deadline passed become partial (delivery hands over what is there);
 *     partial ones past closeAt become closed; finished ones leave the due index;
 *  2. tasks whose lease expired are published to the fetch queue again (the claim script
 *     bounds attempts and turns an exhausted task into failed(timeout)).
 * A Redis lock with a fencing token keeps one sweep at a time across cleaner replicas.
 */
import { randomUUID } from 'node:crypto';
import { fetchTask } from '../../shared/admission/index.js';
import { parseLedgerEntry } from '../../shared/ledger/index.js';
import type { ServiceContext } from '../../shared/service/runtime.js';
import { deliverCodec, fetchCodec } from '../../shared/tasks/codec.js';
import type { FetchTask, FinalizeSession } from '../../shared/tasks/types.js';

/** Ready messages on the queues downstream of fetching. */
async function downstreamBacklog(ctx: ServiceContext): Promise<number> {
  return ctx.broker.withChannel(async (ch) => {
    let n = 0;
    for (const q of [ctx.topology.extract, ctx.topology.deliver]) n += (await ch.checkQueue(q)).messageCount;
    return n;
  });
}

export interface SweepReport {
  /** Re-drive skipped this sweep because the pipeline has a backlog (leases expire from slowness). */
  deferred: boolean;
  partial: number;
  closed: number;
  /** Unfinished tasks of closed or cancelled sessions that were ended. */
  ended: number;
  /** Counters of finished sessions corrected from the ledger. */
  reconciled: number;
  /** Index entries of sessions past retention removed. */
  pruned: number;
  forgotten: number;
  redriven: number;
  sessions: number;
}

const FINISHED = new Set(['completed', 'cancelled', 'closed']);

export async function sweep(ctx: ServiceContext): Promise<SweepReport> {
  const { ledger, keys, redis, outbox, topology } = ctx;
  const cfg = ctx.config();
  const report: SweepReport = { deferred: false, partial: 0, closed: 0, ended: 0, reconciled: 0, pruned: 0, forgotten: 0, redriven: 0, sessions: 0 };
  const finalize = (sessionId: string, status: FinalizeSession['status']): Promise<void> =>
    outbox.send(deliverCodec, topology.deliver, { kind: 'finalize', sessionId, status } satisfies FinalizeSession);

  // 1. deadlines
  const due = await redis.zrangebyscore(keys.sessionsDue, '-inf', Date.now(), 'LIMIT', 0, cfg.cleaner.batchSize);
  for (const id of due) {
    const result = await ledger.expireSession(id);
    if (result === 'partial') {
      const s = await ledger.getSession(id);
      await redis.zadd(keys.sessionsDue, s ? Date.parse(s.closeAt) : Date.now(), id);
      await finalize(id, 'partial');
      report.partial++;
    } else if (result === 'closed') {
      report.ended += await ledger.closeTasks(id, cfg.cleaner.batchSize);
      await redis.zrem(keys.sessionsDue, id);
      await finalize(id, 'closed');
      report.closed++;
    } else {
      const s = await ledger.getSession(id);
      if (s && (s.status === 'cancelled' || s.status === 'closed')) report.ended += await ledger.closeTasks(id, cfg.cleaner.batchSize);
      if (!s || FINISHED.has(s.status)) {
        // Last look at a finished session: counters that drifted are corrected from the ledger.
        if (s) {
          const fixes = await ledger.reconcile(id, cfg.cleaner.batchSize);
          if (Object.keys(fixes).length > 0) {
            report.reconciled++;
            ctx.log.warn({ sessionId: id, fixes }, 'session counters reconciled from the ledger');
          }
        }
        await redis.zrem(keys.sessionsDue, id);
        report.forgotten++;
      }
    }
  }

  report.pruned = await ledger.pruneIndex(Date.now() - cfg.session.retentionMs, cfg.cleaner.batchSize);

  // 2. expired leases of live sessions, unless the pipeline is merely slow
  const live = await redis.zrange(keys.sessionsDue, 0, -1);
  report.sessions = live.length;
  if (live.length > 0 && (await downstreamBacklog(ctx)) >= cfg.cleaner.redriveMaxBacklog) {
    report.deferred = true;
    ctx.metrics.cleanerActions.inc({ action: 'redrive_deferred' });
    return report;
  }
  for (const id of live) {
    const expired = await ledger.expiredLeases(id, cfg.cleaner.batchSize, cfg.task.leaseMs);
    if (expired.length === 0) continue;
    const requeue: { taskId: string; entry: string }[] = [];
    const tasks: FetchTask[] = [];
    // A robots.txt or sitemap task keeps its role: it is read again as what it is.
    const roles = await ledger.roles(id, expired.map((x) => x.taskId));
    for (const { taskId, entry } of expired) {
      const e = parseLedgerEntry(entry);
      if (!e) continue;
      const parent = e.parent ? await ledger.task(id, e.parent) : null;
      tasks.push({ ...fetchTask(id, { taskId, depth: e.depth, url: e.url, role: roles.get(taskId) }, parent?.url), attempt: e.attempt });
      requeue.push({ taskId, entry });
    }
    await outbox.send(fetchCodec, topology.fetch, tasks);
    await ledger.requeueIfUnchanged(id, requeue);
    report.redriven += requeue.length;
    ctx.metrics.cleanerActions.inc({ action: 'redriven' }, requeue.length);
  }
  if (report.partial) ctx.metrics.cleanerActions.inc({ action: 'partial' }, report.partial);
  if (report.closed) ctx.metrics.cleanerActions.inc({ action: 'closed' }, report.closed);
  if (report.ended) ctx.metrics.cleanerActions.inc({ action: 'ended' }, report.ended);
  if (report.reconciled) ctx.metrics.cleanerActions.inc({ action: 'reconciled' }, report.reconciled);
  if (report.pruned) ctx.metrics.cleanerActions.inc({ action: 'pruned' }, report.pruned);
  return report;
}

/** A lock held for one sweep; the fencing token orders holders if one stalls past expiry. */
export async function withSweepLock<T>(ctx: ServiceContext, ttlMs: number, fn: (fence: number) => Promise<T>): Promise<T | null> {
  const token = randomUUID();
  const ok = await ctx.redis.set(ctx.keys.cleanerLock, token, 'PX', ttlMs, 'NX');
  if (ok !== 'OK') return null;
  const fence = await ctx.redis.incr(ctx.keys.cleanerFence);
  try {
    return await fn(fence);
  } finally {
    // Release only our own lock.
    await ctx.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", 1, ctx.keys.cleanerLock, token);
  }
}
