/**
 * The results store: where the records of a session live, behind one interface, so that the
 * place can change (Redis today; an embedded database or PostgreSQL next) without touching
 * the pipeline. Every implementation passes the same contract test
 * (test/integration/results-store.test.ts).
 *
 * Exactly once, with the ledger: a record is identified by (session, task id), the task id
 * being the fingerprint of the normalized URL. Delivery writes a batch idempotently by that
 * key FIRST, then moves the tasks to their terminal state in the ledger (a compare-and-set).
 * - A crash between the two loses nothing: the message is redelivered, the write is a no-op,
 *   and the compare-and-set happens.
 * - A duplicate adds nothing: the second write of the key is a no-op, and the ledger refuses
 *   a second terminal state.
 * - The ledger decides what counts. When it refuses a record whose write was new (the task
 *   was ended meanwhile without a record: cancelled, or its session closed), delivery removes
 *   that row; when it accepts a record whose write found an older row (an earlier attempt
 *   wrote it, then died before its compare-and-set), delivery replaces the row. Only a second
 *   crash inside that repair can leave a row that disagrees with the ledger's outcome.
 */
import type { Outcome, ResultRecord } from '../tasks/types.js';

/** A record with its identity. */
export interface StoredRecord {
  sessionId: string;
  /** The URL fingerprint of the task (unique within the session). */
  taskId: string;
  record: ResultRecord;
}

export interface ResultsFilter {
  /** Only records of this outcome. */
  outcome?: Outcome | undefined;
  /** Only supplements (true), or only what was there before the session went partial (false). */
  supplement?: boolean | undefined;
}

export interface ResultsQuery extends ResultsFilter {
  /** Continue after this cursor (from a previous page); from the first record when absent. */
  after?: string | null | undefined;
  /** Records in the page, at most. */
  limit: number;
}

export interface ResultsPage {
  /** In write order. Supplements carry `"supplement": true`. */
  records: ResultRecord[];
  /** The cursor after the last record of the page; null when there is nothing more now. */
  next: string | null;
  /** The cursor after the last record read, even on the last page (to follow a session as records arrive); null when nothing was read. */
  last: string | null;
}

export interface ResultsStore {
  /** Short name for logs (`redis`, `sqlite`, `postgres`). */
  readonly kind: string;
  /**
   * Writes records idempotently by (sessionId, taskId): a key that exists keeps its row.
   * Answers, per record in order, whether its row is new.
   */
  put(records: readonly StoredRecord[]): Promise<boolean[]>;
  /** Overwrites the rows of these keys with these records (the ledger chose them over an older row); keeps their place. */
  replace(records: readonly StoredRecord[]): Promise<void>;
  /** Marks rows as supplements (records accepted after their session went partial). */
  markSupplements(sessionId: string, taskIds: readonly string[]): Promise<void>;
  /** Removes single rows (writes the ledger refused). */
  remove(sessionId: string, taskIds: readonly string[]): Promise<void>;
  /** One page of a session's records in write order, filtered. */
  list(sessionId: string, query: ResultsQuery): Promise<ResultsPage>;
  /** The record of one task, or null. */
  get(sessionId: string, taskId: string): Promise<ResultRecord | null>;
  count(sessionId: string, filter?: ResultsFilter): Promise<number>;
  /** Removes every row of a session; answers how many. */
  deleteSession(sessionId: string): Promise<number>;
  close(): Promise<void>;
}

/** Whether a record passes a filter (for stores that filter in the process). */
export function matches(record: ResultRecord, filter: ResultsFilter): boolean {
  if (filter.outcome !== undefined && record.outcome !== filter.outcome) return false;
  if (filter.supplement !== undefined && (record.supplement === true) !== filter.supplement) return false;
  return true;
}
