/**
 * Delivery's exactly-once protocol for the records of one session (see the contract in
 * shared/results/store.ts): write each record to the results store idempotently by task id,
 * then the ledger's terminal compare-and-set, then repair the rows where the ledger decided
 * otherwise and mark the supplements.
 */
import { recrawlCounter } from '../../shared/crawlindex/policy.js';
import { TERMINAL_STATE, type TaskLedger } from '../../shared/ledger/index.js';
import type { ResultsStore, StoredRecord } from '../../shared/results/store.js';
import type { DeliverRecord, ResultRecord } from '../../shared/tasks/types.js';

/** A seed (depth 0, no parent, no robots/sitemap role) that did not end delivered (a seed skipped as fresh was crawled, earlier). */
export function seedFailed(r: ResultRecord): boolean {
  return r.depth === 0 && r.parent === null && r.role === undefined && (r.outcome === 'failed' || (r.outcome === 'skipped' && r.reason !== 'fresh'));
}

export interface Delivered {
  /** The records the ledger took: each task ended with its record. */
  accepted: DeliverRecord[];
  /** Of those, the ones that arrived after the session went partial. */
  supplements: DeliverRecord[];
  /** The session completed, or (partial) closed, with this batch. */
  event: 'completed' | 'closed' | null;
}

export async function deliverRecords(deps: { results: ResultsStore; tasks: Pick<TaskLedger, 'finish'> }, sessionId: string, batch: readonly DeliverRecord[]): Promise<Delivered> {
  const { results, tasks } = deps;
  const rows: StoredRecord[] = batch.map((m) => ({ sessionId, taskId: m.taskId, record: m.record }));
  // 1. The records, idempotently: a key that has a row keeps it.
  const fresh = await results.put(rows);
  // 2. The ledger decides.
  const reply = await tasks.finish(sessionId, batch.map((m) => ({
    taskId: m.taskId,
    state: TERMINAL_STATE[m.record.outcome],
    fetched: m.record.status !== null,
    seedFailed: seedFailed(m.record),
    children: m.children,
    recrawl: recrawlCounter(m.record),
  })));
  // 3. The rows follow its decision.
  const replace: StoredRecord[] = [];
  const remove: string[] = [];
  const accepted: DeliverRecord[] = [];
  const supplements: DeliverRecord[] = [];
  reply.codes.forEach((code, i) => {
    const m = batch[i] as DeliverRecord;
    if (code === 'ended' || code === 'supplement') {
      accepted.push(m);
      // An older row of the task (an attempt that died before its compare-and-set) gives way.
      if (!fresh[i]) replace.push(rows[i] as StoredRecord);
      if (code === 'supplement') supplements.push(m);
    } else if (fresh[i] || code === 'closed') {
      // Refused (the task ended without a record meanwhile): the new row goes. The session is
      // closed or cancelled: any row of the task goes (an older attempt's too).
      remove.push(m.taskId);
    }
  });
  if (replace.length > 0) await results.replace(replace);
  if (remove.length > 0) await results.remove(sessionId, remove);
  if (supplements.length > 0) await results.markSupplements(sessionId, supplements.map((m) => m.taskId));
  return { accepted, supplements, event: reply.event };
}
