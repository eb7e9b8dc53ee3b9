/**
 * Grouping a batch by session: a message may carry tasks of several sessions, and every
 * ledger script works on one session's keys (one hash slot), so a stage calls it once per
 * session of the batch.
 */

/** The items by session id, each group in batch order, groups in order of first appearance. */
export function bySession<T extends { sessionId: string }>(items: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const group = out.get(item.sessionId);
    if (group) group.push(item);
    else out.set(item.sessionId, [item]);
  }
  return out;
}
