/**
 * Opens the results store that `results.url` names:
 * - `sqlite:` — the embedded default, the file `results.db` in the results directory;
 *   `sqlite:/abs/path.db` a file of its own (a relative path is taken in the results directory);
 * - `postgres://…` or `postgresql://…` — PostgreSQL, in the schema of the `schema` query
 *   parameter (default `public`);
 * - `redis:` — the session's list in Redis.
 * Each implementation is loaded only when chosen.
 */
import { isAbsolute, join } from 'node:path';
import type { Redis } from 'ioredis';
import { CrawlError } from '../errors/index.js';
import type { Keys } from '../redis/keys.js';
import type { ResultsStore } from './store.js';

export type { ResultsFilter, ResultsPage, ResultsQuery, ResultsStore, StoredRecord } from './store.js';

export interface ResultsStoreSettings {
  /** `results.url`. */
  url: string;
  /** The results directory (`deliver.resultsDir`), where `sqlite:` puts its file. */
  dir: string;
}

export interface ResultsStoreDeps {
  redis: Redis;
  keys: Keys;
}

export type ResultsTarget =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string }
  | { kind: 'redis' };

/** Which store a URL names, and where (pure; throws config_invalid for what it cannot open). */
export function resultsTarget(settings: ResultsStoreSettings): ResultsTarget {
  const url = settings.url.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'sqlite': {
      const rest = url.slice('sqlite:'.length);
      // sqlite:///abs/path.db is accepted as the URL spelling of sqlite:/abs/path.db.
      const path = rest.startsWith('///') ? rest.slice(2) : rest;
      if (path.startsWith('//')) throw new CrawlError('config_invalid', `results.url: a sqlite: URL takes a path, not a host: ${url}`);
      if (path === '') return { kind: 'sqlite', path: join(settings.dir, 'results.db') };
      return { kind: 'sqlite', path: isAbsolute(path) ? path : join(settings.dir, path) };
    }
    case 'postgres':
    case 'postgresql':
      return { kind: 'postgres', url };
    case 'redis':
      if (url !== 'redis:') throw new CrawlError('config_invalid', `results.url: the Redis store uses the crawler's own Redis (redis.url); write just "redis:", got ${url}`);
      return { kind: 'redis' };
    default:
      throw new CrawlError('config_invalid', `results.url: unknown scheme in ${JSON.stringify(url)}; use sqlite:, sqlite:/path/to/file.db, postgres://… or redis:`);
  }
}

export async function openResultsStore(settings: ResultsStoreSettings, deps: ResultsStoreDeps): Promise<ResultsStore> {
  const target = resultsTarget(settings);
  switch (target.kind) {
    case 'sqlite': {
      const { SqliteResultsStore } = await import('./sqlite.js');
      return new SqliteResultsStore({ path: target.path });
    }
    case 'postgres': {
      const { PostgresResultsStore } = await import('./postgres.js');
      return PostgresResultsStore.open({ url: target.url });
    }
    case 'redis':
      return openRedisStore(deps);
  }
}

async function openRedisStore(deps: ResultsStoreDeps): Promise<ResultsStore> {
  const { RedisResultsStore } = await import('./redis.js');
  return new RedisResultsStore(deps.redis, deps.keys);
}

/**
 * A store opened on first use, so a process that never reads or writes records (a fetcher,
 * an extractor) opens no database; `close` closes it only if it was opened.
 */
export function lazyResultsStore(open: () => Promise<ResultsStore>, kind: string): ResultsStore {
  let opened: Promise<ResultsStore> | null = null;
  const store = (): Promise<ResultsStore> => (opened ??= open().catch((err: unknown) => {
    opened = null;
    throw err;
  }));
  return {
    kind,
    put: async (records) => (await store()).put(records),
    replace: async (records) => (await store()).replace(records),
    markSupplements: async (sessionId, taskIds) => (await store()).markSupplements(sessionId, taskIds),
    remove: async (sessionId, taskIds) => (await store()).remove(sessionId, taskIds),
    list: async (sessionId, query) => (await store()).list(sessionId, query),
    lines: async (sessionId, query) => (await store()).lines(sessionId, query),
    get: async (sessionId, taskId) => (await store()).get(sessionId, taskId),
    count: async (sessionId, filter) => (await store()).count(sessionId, filter),
    deleteSession: async (sessionId) => (await store()).deleteSession(sessionId),
    close: async () => {
      if (opened) await (await opened).close();
    },
  };
}
