/**
 * The results store in Redis: per session a list of records in write order, and a hash from
 * task id to position that makes the append idempotent (results-put-2, results-edit-2). It
 * keeps every record in Redis memory, so it suits small deployments and tests; the embedded
 * and PostgreSQL stores take records out of Redis.
 */
import type { Redis } from 'ioredis';
import * as scripts from '../redis/commands.js';
import type { Keys } from '../redis/keys.js';
import type { ResultRecord } from '../tasks/types.js';
import { decodeCursor, pageLimit } from './cursor.js';
import { matches, projectRecord, queryFields, type ResultsFilter, type ResultsLines, type ResultsPage, type ResultsQuery, type ResultsStore, type StoredRecord } from './store.js';

/** Records read from Redis per round trip when filtering or counting. */
const SCAN_PAGE = 1000;

function bySession(records: readonly StoredRecord[]): Map<string, { i: number; r: StoredRecord }[]> {
  const out = new Map<string, { i: number; r: StoredRecord }[]>();
  records.forEach((r, i) => {
    const list = out.get(r.sessionId) ?? [];
    list.push({ i, r });
    out.set(r.sessionId, list);
  });
  return out;
}

export class RedisResultsStore implements ResultsStore {
  readonly kind = 'redis';

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async put(records: readonly StoredRecord[]): Promise<boolean[]> {
    const out = new Array<boolean>(records.length);
    await Promise.all([...bySession(records)].map(async ([sessionId, list]) => {
      const fresh = await scripts.resultsPut(this.redis, this.keys.session(sessionId), list.map(({ r }) => ({ taskId: r.taskId, json: JSON.stringify(r.record) })));
      list.forEach(({ i }, k) => (out[i] = fresh[k] as boolean));
    }));
    return out;
  }

  async replace(records: readonly StoredRecord[]): Promise<void> {
    await Promise.all([...bySession(records)].map(([sessionId, list]) =>
      scripts.resultsEdit(this.redis, this.keys.session(sessionId), { replace: list.map(({ r }) => ({ taskId: r.taskId, json: JSON.stringify(r.record) })) })));
  }

  async markSupplements(sessionId: string, taskIds: readonly string[]): Promise<void> {
    await scripts.resultsEdit(this.redis, this.keys.session(sessionId), { supplement: taskIds });
  }

  async remove(sessionId: string, taskIds: readonly string[]): Promise<void> {
    await scripts.resultsEdit(this.redis, this.keys.session(sessionId), { remove: taskIds });
  }

  async lines(sessionId: string, query: ResultsQuery): Promise<ResultsLines> {
    const page = await this.list(sessionId, query);
    return { lines: page.records.map((r) => JSON.stringify(r)), next: page.next, last: page.last };
  }

  async list(sessionId: string, query: ResultsQuery): Promise<ResultsPage> {
    const fields = queryFields(query);
    const key = this.keys.session(sessionId).results;
    const limit = pageLimit(query.limit);
    const records: ResultRecord[] = [];
    // The cursor is the list position to read next (0: from the first record).
    let position = Number(decodeCursor(query.after));
    let last: number | null = null;
    for (;;) {
      const want = Math.max(limit - records.length, 1);
      // Unfiltered pages read exactly what they need; filtered ones read ahead.
      const span = query.outcome === undefined && query.supplement === undefined ? want : Math.max(want, SCAN_PAGE);
      const rows = await this.redis.lrange(key, position, position + span - 1);
      for (const row of rows) {
        if (records.length >= limit) break;
        if (row !== '') {
          const record = JSON.parse(row) as ResultRecord;
          if (matches(record, query)) records.push(projectRecord(record, fields));
        }
        last = position;
        position++;
      }
      if (records.length >= limit || rows.length < span) break;
    }
    const after = last === null ? null : String(last + 1);
    return { records, next: records.length >= limit ? after : null, last: after };
  }

  async get(sessionId: string, taskId: string): Promise<ResultRecord | null> {
    const k = this.keys.session(sessionId);
    const position = await this.redis.hget(k.resultIndex, taskId);
    if (position === null) return null;
    const row = await this.redis.lindex(k.results, Number(position));
    return row ? (JSON.parse(row) as ResultRecord) : null;
  }

  async count(sessionId: string, filter: ResultsFilter = {}): Promise<number> {
    const k = this.keys.session(sessionId);
    if (filter.outcome === undefined && filter.supplement === undefined) return this.redis.hlen(k.resultIndex);
    let n = 0;
    for (let start = 0; ; start += SCAN_PAGE) {
      const rows = await this.redis.lrange(k.results, start, start + SCAN_PAGE - 1);
      for (const row of rows) if (row !== '' && matches(JSON.parse(row) as ResultRecord, filter)) n++;
      if (rows.length < SCAN_PAGE) return n;
    }
  }

  async deleteSession(sessionId: string): Promise<number> {
    const k = this.keys.session(sessionId);
    const n = await this.redis.hlen(k.resultIndex);
    await this.redis.unlink(k.results, k.resultIndex);
    return n;
  }

  async close(): Promise<void> {
    // The Redis connection belongs to the service runtime.
  }
}
