/**
 * The embedded results store: one SQLite file (better-sqlite3) that every process of a
 * one-host stack opens (delivery replicas write, the controller reads, the cleaner deletes).
 *
 * One table, `results`: `seq` (write order, the cursor), the key (session_id, task_id)
 * UNIQUE, the filter columns (outcome, supplement) and the record's JSON text last. A record
 * of a few KB fills most of a table page, so `count` reads an index of the filter columns
 * instead of the rows.
 *
 * better-sqlite3 is synchronous: a statement runs on the calling thread. The methods are
 * async only to fit the interface; a write waits for the file's lock inside the call (see
 * busy_timeout below), which holds the event loop of that process for as long.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { CrawlError } from '../errors/index.js';
import type { Outcome, ResultRecord } from '../tasks/types.js';
import { decodeCursor, pageLimit } from './cursor.js';
import { queryFields, recordsOf, rowLine, type ResultsFilter, type ResultsLines, type ResultsPage, type ResultsQuery, type ResultsStore, type StoredRecord } from './store.js';

export interface SqliteStoreOptions {
  /** The database file (created with its folder when missing). */
  path: string;
  /** How long a write waits for another process's write to finish before it fails as `unavailable`. */
  busyTimeoutMs?: number;
}

interface Row {
  seq: number;
  supplement: number;
  record: string;
}

/** Page size of a new database file (see the constructor). */
const PAGE_SIZE = 16_384;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS results (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  outcome TEXT NOT NULL,
  supplement INTEGER NOT NULL DEFAULT 0,
  record TEXT NOT NULL,
  UNIQUE (session_id, task_id)
);
CREATE INDEX IF NOT EXISTS results_session_seq ON results (session_id, seq);
CREATE INDEX IF NOT EXISTS results_session_filters ON results (session_id, outcome, supplement);
`;

export class SqliteResultsStore implements ResultsStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly update: Database.Statement;
  private readonly mark: Database.Statement;
  private readonly removeOne: Database.Statement;
  private readonly removeAll: Database.Statement;
  private readonly getOne: Database.Statement;
  private readonly putTx: (records: readonly StoredRecord[]) => boolean[];
  private readonly replaceTx: (records: readonly StoredRecord[]) => void;
  private readonly markTx: (sessionId: string, taskIds: readonly string[]) => void;
  private readonly removeTx: (sessionId: string, taskIds: readonly string[]) => void;

  constructor(options: SqliteStoreOptions) {
    mkdirSync(dirname(options.path), { recursive: true });
    const db = new Database(options.path);
    this.db = db;
    try {
      // First, so that the statements below (WAL switch, table creation) also wait for a
      // process that holds the lock instead of failing at once with SQLITE_BUSY.
      db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
      // 16 KB pages for a new file (a file that exists keeps its own; the size is fixed once
      // the first table is made, and WAL mode keeps it): a record with its Markdown is
      // 10-20 KB, which in 4 KB pages is a chain of overflow pages written twice (WAL, then
      // the checkpoint). Inserting 18,000 records of 17 KB in batches of 12: 0.059 ms of CPU
      // per record against 0.092 with 4 KB pages.
      db.pragma(`page_size = ${PAGE_SIZE}`);
      // WAL: readers (the controller streaming results) never block the writer and the
      // writer never blocks them; writers from several processes take turns on the file's
      // write lock. The mode is stored in the file, so every process that opens it uses it.
      db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode syncs at checkpoints, not at every commit: a committed write
      // survives a process crash (SIGKILL), and only an OS crash or power loss can undo
      // the last commits. FULL would add an fsync to every put batch.
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
    } catch (err) {
      db.close();
      throw storeError(err, `opening ${options.path}`);
    }

    this.insert = db.prepare(
      'INSERT INTO results (session_id, task_id, outcome, supplement, record) VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id, task_id) DO NOTHING',
    );
    this.update = db.prepare('UPDATE results SET outcome = ?, supplement = ?, record = ? WHERE session_id = ? AND task_id = ?');
    this.mark = db.prepare('UPDATE results SET supplement = 1 WHERE session_id = ? AND task_id = ?');
    this.removeOne = db.prepare('DELETE FROM results WHERE session_id = ? AND task_id = ?');
    this.removeAll = db.prepare('DELETE FROM results WHERE session_id = ?');
    this.getOne = db.prepare('SELECT seq, supplement, record FROM results WHERE session_id = ? AND task_id = ?');

    // One transaction per batch: one commit (one lock turn, one WAL append) for all its
    // records. `.immediate` takes the write lock at BEGIN, where busy_timeout applies, so
    // two processes never both hold a read snapshot and then fail to upgrade it.
    this.putTx = db
      .transaction((records: readonly StoredRecord[]) =>
        records.map((r) => this.insert.run(r.sessionId, r.taskId, r.record.outcome, r.record.supplement === true ? 1 : 0, JSON.stringify(r.record)).changes === 1),
      )
      .immediate;
    this.replaceTx = db.transaction((records: readonly StoredRecord[]) => {
      for (const r of records) this.update.run(r.record.outcome, r.record.supplement === true ? 1 : 0, JSON.stringify(r.record), r.sessionId, r.taskId);
    }).immediate;
    this.markTx = db.transaction((sessionId: string, taskIds: readonly string[]) => {
      for (const id of taskIds) this.mark.run(sessionId, id);
    }).immediate;
    this.removeTx = db.transaction((sessionId: string, taskIds: readonly string[]) => {
      for (const id of taskIds) this.removeOne.run(sessionId, id);
    }).immediate;
  }

  async put(records: readonly StoredRecord[]): Promise<boolean[]> {
    if (records.length === 0) return [];
    return this.run('put', () => this.putTx(records));
  }

  async replace(records: readonly StoredRecord[]): Promise<void> {
    if (records.length === 0) return;
    this.run('replace', () => this.replaceTx(records));
  }

  async markSupplements(sessionId: string, taskIds: readonly string[]): Promise<void> {
    if (taskIds.length === 0) return;
    this.run('markSupplements', () => this.markTx(sessionId, taskIds));
  }

  async remove(sessionId: string, taskIds: readonly string[]): Promise<void> {
    if (taskIds.length === 0) return;
    this.run('remove', () => this.removeTx(sessionId, taskIds));
  }

  async list(sessionId: string, query: ResultsQuery): Promise<ResultsPage> {
    return recordsOf(await this.lines(sessionId, query));
  }

  /**
   * The rows' JSON text as stored; with `fields`, SQLite's `->` takes each named value out of
   * the text as it was written (escapes and all, so the line parses to the same values as the
   * whole record; json_each would decode and re-encode strings, losing lone surrogates), and
   * the line is assembled from those pieces: about half the CPU of parsing the whole record
   * for a record with its Markdown.
   */
  async lines(sessionId: string, query: ResultsQuery): Promise<ResultsLines> {
    const limit = pageLimit(query.limit);
    const after = decodeCursor(query.after);
    const fields = queryFields(query);
    const where = filterSql(query);
    const picked = fields === null ? 'record' : fields.length === 0 ? 'NULL' : fields.map(() => 'record -> ?').join(', ');
    const rows = this.run('list', () =>
      this.db
        .prepare(`SELECT seq, supplement, ${picked} FROM results WHERE session_id = ? AND seq > ?${where.sql} ORDER BY seq LIMIT ?`)
        .raw(true)
        .all(...(fields ?? []).map((f) => `$."${f}"`), sessionId, after, ...where.params, limit) as unknown[][],
    );
    const lines = rows.map((row) => rowLine(fields === null ? (row[2] as string) : assemble(fields, row), row[1] === 1, fields));
    const lastSeq = rows.length > 0 ? String(rows[rows.length - 1]![0]) : null;
    return { lines, next: rows.length === limit ? lastSeq : null, last: lastSeq };
  }

  async get(sessionId: string, taskId: string): Promise<ResultRecord | null> {
    const row = this.run('get', () => this.getOne.get(sessionId, taskId) as Row | undefined);
    return row ? toRecord(row) : null;
  }

  async count(sessionId: string, filter: ResultsFilter = {}): Promise<number> {
    const where = filterSql(filter);
    const row = this.run('count', () => this.db.prepare(`SELECT COUNT(*) AS n FROM results WHERE session_id = ?${where.sql}`).get(sessionId, ...where.params) as { n: number });
    return row.n;
  }

  async deleteSession(sessionId: string): Promise<number> {
    return this.run('deleteSession', () => this.removeAll.run(sessionId).changes);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private run<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw storeError(err, what);
    }
  }
}

/** `{"name":<value text>,...}` from the `->` columns of a row (from index 2), leaving out the names the record lacks (NULL). */
function assemble(fields: readonly string[], row: readonly unknown[]): string {
  let line = '{';
  for (let i = 0; i < fields.length; i++) {
    const value = row[i + 2];
    if (value === null) continue;
    line += `${line.length > 1 ? ',' : ''}${JSON.stringify(fields[i])}:${value as string}`;
  }
  return `${line}}`;
}

function toRecord(row: Row): ResultRecord {
  const record = JSON.parse(row.record) as ResultRecord;
  if (row.supplement === 1) record.supplement = true;
  return record;
}

function filterSql(filter: ResultsFilter): { sql: string; params: (string | number)[] } {
  let sql = '';
  const params: (string | number)[] = [];
  if (filter.outcome !== undefined) {
    sql += ' AND outcome = ?';
    params.push(filter.outcome satisfies Outcome);
  }
  if (filter.supplement !== undefined) {
    sql += ' AND supplement = ?';
    params.push(filter.supplement ? 1 : 0);
  }
  return { sql, params };
}

/** SQLITE_BUSY and SQLITE_LOCKED (another process held the lock past busy_timeout) can pass on retry; anything else is the store's fault. */
function storeError(err: unknown, what: string): CrawlError {
  if (err instanceof CrawlError) return err;
  const code = (err as { code?: unknown }).code;
  const message = `results store (sqlite) ${what}: ${err instanceof Error ? err.message : String(err)}`;
  if (typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))) {
    return new CrawlError('unavailable', message, { cause: err });
  }
  return new CrawlError('internal', message, { cause: err });
}
