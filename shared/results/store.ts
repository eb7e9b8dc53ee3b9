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
import { CrawlError } from '../errors/index.js';
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
  /**
   * Only these keys of each record, in the order named (a key the record lacks stays absent;
   * `supplement` only when named); every key when absent. Names are letters, digits and `_`.
   */
  fields?: readonly string[] | undefined;
}

/** A page of records as their JSON text, one line each (what GET /sessions/:id/results streams). */
export interface ResultsLines {
  lines: string[];
  next: string | null;
  last: string | null;
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
  /**
   * The same page as JSON text, one record per line, with the same keys and values as list's
   * records: a store that can hands the stored text over (or its projection) without
   * building the records in this process.
   */
  lines(sessionId: string, query: ResultsQuery): Promise<ResultsLines>;
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

/** A field name a query may name (ResultsQuery.fields). */
const FIELD_NAME = /^[A-Za-z0-9_]+$/;

/** The query's field names, checked; null when every key is wanted. */
export function queryFields(query: Pick<ResultsQuery, 'fields'>): readonly string[] | null {
  if (query.fields === undefined) return null;
  const bad = query.fields.find((f) => !FIELD_NAME.test(f));
  if (bad !== undefined) throw new CrawlError('validation', `fields: ${JSON.stringify(bad)} is not a field name (letters, digits and _)`, { details: { field: 'fields' } });
  // A name given twice counts once (a line must not hold a key twice).
  return [...new Set(query.fields)];
}

/** A record with only the named keys, in the order named (a key it lacks stays absent); the record itself when `fields` is null. */
export function projectRecord(record: ResultRecord, fields: readonly string[] | null): ResultRecord {
  if (fields === null) return record;
  const all = record as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const f of fields) if (Object.hasOwn(all, f)) out[f] = all[f];
  return out as unknown as ResultRecord;
}

/**
 * The line of a stored row: its JSON text (projected by the store when `fields` were named),
 * with `"supplement": true` on a supplement row when every key is wanted or `supplement` is
 * named. Only such rows are parsed here.
 */
export function rowLine(text: string, supplement: boolean, fields: readonly string[] | null): string {
  if (!supplement || (fields !== null && !fields.includes('supplement'))) return text;
  const record = JSON.parse(text) as ResultRecord;
  record.supplement = true;
  return JSON.stringify(projectRecord(record, fields));
}

/** A page of records from a page of lines. */
export function recordsOf(page: ResultsLines): ResultsPage {
  return { records: page.lines.map((l) => JSON.parse(l) as ResultRecord), next: page.next, last: page.last };
}
