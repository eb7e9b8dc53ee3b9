/**
 * The cluster results store: one PostgreSQL table behind a connection pool (`pg`), shared by
 * every delivery replica and the controllers.
 *
 * Table `<schema>.results`: `seq` (an identity column, the write order and the cursor), the
 * key (session_id, task_id) UNIQUE, the filter columns (outcome, supplement) and the record's
 * JSON text. The schema and table are created at open when missing.
 *
 * Write order across replicas: a sequence value is taken when a row is inserted, not when its
 * transaction commits, so two concurrent writers could commit out of order and a reader that
 * paged past the later value would never see the earlier one. Every write transaction
 * therefore first takes a transaction-scoped advisory lock per session it writes (in a fixed
 * order, so two batches never deadlock): the rows of one session get their sequence values
 * and become visible one transaction after the other, and a cursor never skips a row. Writes
 * of different sessions do not wait for each other.
 */
import pg from 'pg';
import { CrawlError } from '../errors/index.js';
import type { ResultRecord } from '../tasks/types.js';
import { decodeCursor, pageLimit } from './cursor.js';
import { projectRecord, queryFields, rowLine, type ResultsFilter, type ResultsLines, type ResultsPage, type ResultsQuery, type ResultsStore, type StoredRecord } from './store.js';

export interface PostgresStoreOptions {
  /** postgres:// or postgresql:// URL; a `schema` query parameter names the schema (else `schema` below, else `public`). */
  url: string;
  schema?: string;
  /** Connections in the pool. */
  poolSize?: number;
}

interface Row {
  seq: string;
  supplement: boolean;
  record: string;
}

/** Advisory-lock class of the results table's per-session write lock (first key of pg_advisory_xact_lock(int, int)). */
const WRITE_LOCK_CLASS = 0x52534c54; // 'RSLT'

export class PostgresResultsStore implements ResultsStore {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;
  private readonly table: string;

  private constructor(pool: pg.Pool, schema: string) {
    this.pool = pool;
    this.table = `${pg.escapeIdentifier(schema)}.results`;
  }

  /** Connects, and creates the schema, table and index when missing. */
  static async open(options: PostgresStoreOptions): Promise<PostgresResultsStore> {
    const { connectionString, schema } = parseUrl(options.url, options.schema);
    const pool = new pg.Pool({ connectionString, max: options.poolSize ?? 10, application_name: 'crawlfleet-results' });
    // An idle pooled connection that breaks (server restart) is reported here; the pool has
    // already dropped it and the next query opens a new one.
    pool.on('error', () => undefined);
    const store = new PostgresResultsStore(pool, schema);
    try {
      await store.createTable(schema);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw storeError(err, 'opening');
    }
    return store;
  }

  private async createTable(schema: string): Promise<void> {
    const t = this.table;
    const client = await this.pool.connect();
    try {
      // Several processes may open the store at once; CREATE ... IF NOT EXISTS alone can still
      // collide on the catalog's unique index, so creation takes a lock for its own duration.
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1, 0)', [WRITE_LOCK_CLASS]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${t} (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        session_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        outcome TEXT NOT NULL,
        supplement BOOLEAN NOT NULL DEFAULT false,
        record TEXT NOT NULL,
        UNIQUE (session_id, task_id)
      )`);
      await client.query(`CREATE INDEX IF NOT EXISTS results_session_seq ON ${t} (session_id, seq)`);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async put(records: readonly StoredRecord[]): Promise<boolean[]> {
    if (records.length === 0) return [];
    const inserted = await this.write('put', records.map((r) => r.sessionId), async (client) => {
      // One statement for the batch, rows in the batch's order (ORDER BY ord) so that their
      // sequence values follow it; a key already there, or twice in the batch, is skipped.
      const res = await client.query<{ session_id: string; task_id: string }>(
        `INSERT INTO ${this.table} (session_id, task_id, outcome, supplement, record)
         SELECT s, t, o, p, r FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[]) WITH ORDINALITY AS b(s, t, o, p, r, ord)
         ORDER BY ord
         ON CONFLICT (session_id, task_id) DO NOTHING
         RETURNING session_id, task_id`,
        [
          records.map((r) => r.sessionId),
          records.map((r) => r.taskId),
          records.map((r) => r.record.outcome),
          records.map((r) => r.record.supplement === true),
          records.map((r) => JSON.stringify(r.record)),
        ],
      );
      return new Set(res.rows.map((row) => keyOf(row.session_id, row.task_id)));
    });
    // The first occurrence of a key in the batch is the row that was inserted.
    return records.map((r) => inserted.delete(keyOf(r.sessionId, r.taskId)));
  }

  async replace(records: readonly StoredRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.write('replace', records.map((r) => r.sessionId), async (client) => {
      await client.query(
        `UPDATE ${this.table} AS t SET outcome = b.o, supplement = b.p, record = b.r
         FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[]) AS b(s, k, o, p, r)
         WHERE t.session_id = b.s AND t.task_id = b.k`,
        [
          records.map((r) => r.sessionId),
          records.map((r) => r.taskId),
          records.map((r) => r.record.outcome),
          records.map((r) => r.record.supplement === true),
          records.map((r) => JSON.stringify(r.record)),
        ],
      );
    });
  }

  async markSupplements(sessionId: string, taskIds: readonly string[]): Promise<void> {
    if (taskIds.length === 0) return;
    await this.query('markSupplements', `UPDATE ${this.table} SET supplement = true WHERE session_id = $1 AND task_id = ANY($2::text[])`, [sessionId, [...taskIds]]);
  }

  async remove(sessionId: string, taskIds: readonly string[]): Promise<void> {
    if (taskIds.length === 0) return;
    await this.query('remove', `DELETE FROM ${this.table} WHERE session_id = $1 AND task_id = ANY($2::text[])`, [sessionId, [...taskIds]]);
  }

  async list(sessionId: string, query: ResultsQuery): Promise<ResultsPage> {
    const fields = queryFields(query);
    const { rows, next, last } = await this.page(sessionId, query);
    return { records: rows.map((row) => projectRecord(toRecord(row), fields)), next, last };
  }

  /**
   * The stored text as it is; with `fields`, projected here: PostgreSQL's JSON operators
   * decode every string of the record, and refuse a record holding `\u0000` as a whole.
   */
  async lines(sessionId: string, query: ResultsQuery): Promise<ResultsLines> {
    const fields = queryFields(query);
    const { rows, next, last } = await this.page(sessionId, query);
    const lines = rows.map((row) => (fields === null ? rowLine(row.record, row.supplement, null) : JSON.stringify(projectRecord(toRecord(row), fields))));
    return { lines, next, last };
  }

  private async page(sessionId: string, query: ResultsQuery): Promise<{ rows: Row[]; next: string | null; last: string | null }> {
    const limit = pageLimit(query.limit);
    const params: unknown[] = [sessionId, decodeCursor(query.after).toString()];
    const where = filterSql(query, params);
    params.push(limit);
    const res = await this.query<Row>(
      'list',
      `SELECT seq, supplement, record FROM ${this.table} WHERE session_id = $1 AND seq > $2::bigint${where} ORDER BY seq LIMIT $${params.length}`,
      params,
    );
    return {
      rows: res.rows,
      next: res.rows.length === limit ? res.rows[res.rows.length - 1]!.seq : null,
      last: res.rows.length > 0 ? res.rows[res.rows.length - 1]!.seq : null,
    };
  }

  async get(sessionId: string, taskId: string): Promise<ResultRecord | null> {
    const res = await this.query<Row>('get', `SELECT seq, supplement, record FROM ${this.table} WHERE session_id = $1 AND task_id = $2`, [sessionId, taskId]);
    return res.rows[0] ? toRecord(res.rows[0]) : null;
  }

  async count(sessionId: string, filter: ResultsFilter = {}): Promise<number> {
    const params: unknown[] = [sessionId];
    const where = filterSql(filter, params);
    const res = await this.query<{ n: string }>('count', `SELECT COUNT(*) AS n FROM ${this.table} WHERE session_id = $1${where}`, params);
    return Number(res.rows[0]!.n);
  }

  async deleteSession(sessionId: string): Promise<number> {
    const res = await this.query('deleteSession', `DELETE FROM ${this.table} WHERE session_id = $1`, [sessionId]);
    return res.rowCount ?? 0;
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }

  private async query<R extends pg.QueryResultRow = pg.QueryResultRow>(what: string, text: string, params: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, params);
    } catch (err) {
      throw storeError(err, what);
    }
  }

  /** Runs fn in a transaction that holds the write lock of each of these sessions. */
  private async write<T>(what: string, sessionIds: readonly string[], fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw storeError(err, what);
    }
    try {
      await client.query('BEGIN');
      const sessions = [...new Set(sessionIds)].sort();
      await client.query('SELECT pg_advisory_xact_lock($1::int, hashtext(s)) FROM unnest($2::text[]) WITH ORDINALITY AS u(s, ord) ORDER BY ord', [WRITE_LOCK_CLASS, sessions]);
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw storeError(err, what);
    } finally {
      client.release();
    }
  }
}

function keyOf(sessionId: string, taskId: string): string {
  return `${sessionId}\n${taskId}`;
}

function toRecord(row: Row): ResultRecord {
  const record = JSON.parse(row.record) as ResultRecord;
  if (row.supplement) record.supplement = true;
  return record;
}

/** Appends the filter's conditions, its values going to params. */
function filterSql(filter: ResultsFilter, params: unknown[]): string {
  let sql = '';
  if (filter.outcome !== undefined) {
    params.push(filter.outcome);
    sql += ` AND outcome = $${params.length}`;
  }
  if (filter.supplement !== undefined) {
    params.push(filter.supplement);
    sql += ` AND supplement = $${params.length}`;
  }
  return sql;
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Takes the `schema` parameter out of the URL (pg would send it to the server as a setting). */
export function parseUrl(url: string, schemaOption?: string): { connectionString: string; schema: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CrawlError('config_invalid', 'results.url: not a valid postgres:// URL');
  }
  const fromUrl = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  const schema = fromUrl ?? schemaOption ?? 'public';
  if (!SCHEMA_NAME.test(schema)) throw new CrawlError('config_invalid', `results.url: schema must be a plain SQL identifier, got ${JSON.stringify(schema)}`);
  return { connectionString: parsed.toString(), schema };
}

/** Connection failures and server shutdowns can pass on retry (SQLSTATE class 08, 53, 57P0x; socket errors); anything else is the store's fault. */
function storeError(err: unknown, what: string): CrawlError {
  if (err instanceof CrawlError) return err;
  const code = (err as { code?: unknown }).code;
  const message = `results store (postgres) ${what}: ${err instanceof Error ? err.message : String(err)}`;
  const transient =
    typeof code === 'string' &&
    (code.startsWith('08') || code.startsWith('53') || code.startsWith('57P0') || code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'EPIPE');
  if (transient) {
    return new CrawlError('unavailable', message, { cause: err });
  }
  return new CrawlError('internal', message, { cause: err });
}
