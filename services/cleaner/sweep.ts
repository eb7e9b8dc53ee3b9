/**
 * One cleaner sweep, in batches so no Lua call blocks Redis for long:
 *  1. sessions whose deadline passed become partial (delivery hands over what is there);
 *     partial ones past closeAt become closed; a cancelled one gets its unfinished tasks ended
 *     and its results file written again (records that were on their way at the cancel are
 *     not kept); finished ones get their counters reconciled from the ledger and leave the due
 *     index; one that is not due yet (resumed after a pause: its deadline moved) or paused is
 *     looked at again at its deadline, or after a lease while paused;
 *  2. sessions past retention leave the index, with their records and files (results file,
 *     WARC files, screenshots: shared/results/files.ts);
 *  3. tasks whose lease expired are published to the fetch queue again (the claim script
 *     bounds attempts and turns an exhausted task into failed(timeout)), unless the stages
 *     downstream of fetching have a backlog (then leases expire from slowness, not death).
 * Every write is a compare-and-set, so a sweep that overlaps another does no harm.
 */
import { fetchTask } from '../../shared/admission/index.js';
import { parseLedgerEntry } from '../../shared/ledger/index.js';
import { STAGE_NAMES, STAGES } from '../../shared/pipeline/stages.js';
import type { ServiceContext } from '../../shared/service/runtime.js';
import type { FetchTask } from '../../shared/tasks/types.js';
import { removeSessionFiles } from '../../shared/results/files.js';

/**
 * Whether the pipeline is merely slow, so that leases expire from waiting rather than from lost
 * tasks (see StageDef.backlog): a ready message on an `any` queue, or
 * cleaner.redriveMaxBacklog of them on the `batches` queues together.
 */
async function pipelineSlow(ctx: ServiceContext, maxBacklog: number): Promise<boolean> {
  return ctx.broker.withChannel(async (ch) => {
    let batches = 0;
    for (const s of STAGE_NAMES) {
      const kind = STAGES[s].backlog;
      if (kind === null) continue;
      const n = (await ch.checkQueue(ctx.topology.queue(s))).messageCount;
      if (kind === 'any' && n > 0) return true;
      if (kind === 'batches') batches += n;
    }
    return batches >= maxBacklog;
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
  /** Sessions past retention removed from the index, with their records and results file. */
  pruned: number;
  forgotten: number;
  redriven: number;
  sessions: number;
}

const FINISHED = new Set(['completed', 'cancelled', 'closed']);

export async function sweep(ctx: ServiceContext): Promise<SweepReport> {
  const { sessions, tasks, maintenance, outbox } = ctx;
  const cfg = ctx.config();
  const report: SweepReport = { deferred: false, partial: 0, closed: 0, ended: 0, reconciled: 0, pruned: 0, forgotten: 0, redriven: 0, sessions: 0 };
  const finalize = (sessionId: string, status: 'partial' | 'closed' | 'cancelled'): Promise<void> => outbox.send('deliver', { kind: 'finalize', sessionId, status });

  // 1. deadlines
  for (const id of await maintenance.due(Date.now(), cfg.cleaner.batchSize)) {
    const result = await sessions.expire(id);
    if (result === 'partial') {
      const s = await sessions.get(id);
      await sessions.scheduleSweep(id, s ? Date.parse(s.closeAt) : Date.now());
      await finalize(id, 'partial');
      report.partial++;
    } else if (result === 'closed') {
      report.ended += await maintenance.closeTasks(id, cfg.cleaner.batchSize);
      await maintenance.forget(id);
      await finalize(id, 'closed');
      report.closed++;
    } else {
      const s = await sessions.get(id);
      if (s && (s.status === 'cancelled' || s.status === 'closed')) report.ended += await maintenance.closeTasks(id, cfg.cleaner.batchSize);
      // The file written at the cancel may hold records the ledger refused since: write it again.
      if (s?.status === 'cancelled') await finalize(id, 'cancelled');
      if (s?.status === 'running') await sessions.scheduleSweep(id, Date.parse(s.deadlineAt));
      if (s?.status === 'partial') await sessions.scheduleSweep(id, Date.parse(s.closeAt));
      if (s?.status === 'paused') await sessions.scheduleSweep(id, Date.now() + cfg.task.leaseMs);
      if (!s || FINISHED.has(s.status)) {
        // Last look at a finished session: counters that drifted are corrected from the ledger.
        if (s) {
          const fixes = await maintenance.reconcile(id, cfg.cleaner.batchSize);
          if (Object.keys(fixes).length > 0) {
            report.reconciled++;
            ctx.log.warn({ sessionId: id, fixes }, 'session counters reconciled from the ledger');
          }
        }
        await maintenance.forget(id);
        report.forgotten++;
      }
    }
  }

  // 2. retention: the session's keys expired in Redis; its records and files (results file, WARC files, screenshots) go too
  const expired = await maintenance.pruneIndex(Date.now() - cfg.session.retentionMs, cfg.cleaner.batchSize);
  for (const id of expired) {
    await ctx.results.deleteSession(id);
    await removeSessionFiles(cfg, id);
  }
  report.pruned = expired.length;

  // 3. expired leases of live sessions, unless the pipeline is merely slow
  const live = await maintenance.live();
  report.sessions = live.length;
  if (live.length > 0 && (await pipelineSlow(ctx, cfg.cleaner.redriveMaxBacklog))) {
    report.deferred = true;
    ctx.metrics.cleanerActions.inc({ action: 'redrive_deferred' });
    return report;
  }
  for (const id of live) {
    const leases = await maintenance.expiredLeases(id, cfg.cleaner.batchSize, cfg.task.leaseMs);
    if (leases.length === 0) continue;
    const requeue: { taskId: string; entry: string }[] = [];
    const redriven: FetchTask[] = [];
    // A robots.txt or sitemap task keeps its role: it is read again as what it is.
    const roles = await tasks.roles(id, leases.map((x) => x.taskId));
    for (const { taskId, entry } of leases) {
      const e = parseLedgerEntry(entry);
      if (!e) continue;
      const parent = e.parent ? await tasks.task(id, e.parent) : null;
      redriven.push({ ...fetchTask(id, { taskId, depth: e.depth, url: e.url, role: roles.get(taskId) }, parent?.url), attempt: e.attempt });
      requeue.push({ taskId, entry });
    }
    await outbox.send('fetch', redriven);
    await maintenance.requeueIfUnchanged(id, requeue);
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
