/**
 * The results-store contract (test/support/results-contract.ts) against each implementation
 * on its real backend: SQLite on a file in a temporary folder (concurrent writers are child
 * processes on that file), PostgreSQL on the local server in a schema of its own per run,
 * Redis on the local server in a namespace of its own (concurrent writers on separate
 * connections).
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { CrawlError } from '../../shared/errors/index.js';
import { openResultsStore, resultsTarget } from '../../shared/results/index.js';
import { PostgresResultsStore } from '../../shared/results/postgres.js';
import { SqliteResultsStore } from '../../shared/results/sqlite.js';
import type { StoredRecord } from '../../shared/results/store.js';
import { resultsStoreContract, sessionId, stored } from '../support/results-contract.js';
import { Redis } from 'ioredis';
import { redisKeys } from '../../shared/redis/keys.js';
import { RedisResultsStore } from '../../shared/results/redis.js';
import { cleanupNamespace, REDIS_URL, testNamespace } from '../support/stack.js';

const PG_URL = process.env.RESULTS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CHILD = fileURLToPath(new URL('../support/results-writer-child.js', import.meta.url));

/** Runs the writers from 3 child processes on the same database file. */
async function putFromProcesses(path: string, writers: StoredRecord[][][]): Promise<boolean[][][]> {
  const processes = 3;
  const children: ChildProcess[] = [];
  try {
    const shares = Array.from({ length: processes }, (_, c) => writers.map((w, i) => ({ w, i })).filter(({ i }) => i % processes === c));
    const ready: Promise<void>[] = [];
    const done: Promise<{ answers?: boolean[][][]; error?: string }>[] = [];
    for (const share of shares) {
      const child = fork(CHILD, [], { serialization: 'advanced', stdio: 'inherit' });
      children.push(child);
      ready.push(new Promise((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code) => reject(new Error(`writer exited ${code} before ready`)));
      }));
      child.send({ path, writers: share.map(({ w }) => w) });
    }
    await Promise.all(ready);
    for (const child of children) {
      done.push(new Promise((resolve) => child.once('message', resolve)));
      child.send('go');
    }
    const results = await Promise.all(done);
    const answers: boolean[][][] = new Array(writers.length);
    results.forEach((r, c) => {
      if (r.error) throw new Error(`writer process: ${r.error}`);
      shares[c]!.forEach(({ i }, k) => (answers[i] = r.answers![k]!));
    });
    return answers;
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill();
  }
}

resultsStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'results-sqlite-'));
  const path = join(dir, 'results.db');
  const store = new SqliteResultsStore({ path });
  return {
    store,
    putConcurrently: (writers) => putFromProcesses(path, writers),
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

resultsStoreContract('postgres', async () => {
  const schema = testNamespace('results_');
  const store = await PostgresResultsStore.open({ url: `${PG_URL}?schema=${schema}` });
  return {
    store,
    async cleanup() {
      await store.close();
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
});

resultsStoreContract('redis', async () => {
  const ns = testNamespace('r');
  const clients = Array.from({ length: 3 }, () => new Redis(REDIS_URL));
  const stores = clients.map((c) => new RedisResultsStore(c, redisKeys(ns)));
  const store = stores[0]!;
  return {
    store,
    // Each writer on a connection of its own, all at once.
    putConcurrently: (writers) =>
      Promise.all(writers.map(async (batches, i) => {
        const out: boolean[][] = [];
        for (const b of batches) out.push(await stores[i % stores.length]!.put(b));
        return out;
      })),
    async cleanup() {
      for (const c of clients) c.disconnect();
      await cleanupNamespace(ns);
    },
  };
});

describe('results store: SQLite file sharing', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'results-lock-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('puts the file in WAL mode: a write commits while another connection holds a read open', async () => {
    const path = join(dir, 'results.db');
    const store = new SqliteResultsStore({ path, busyTimeoutMs: 100 });
    const raw = new Database(path);
    try {
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      const s = sessionId();
      await store.put([stored(s, 'a')]);
      raw.exec('BEGIN');
      assert.equal((raw.prepare('SELECT COUNT(*) AS n FROM results').get() as { n: number }).n, 1);
      // With a rollback journal, this commit would wait for the reader and fail after 100 ms.
      assert.deepEqual(await store.put([stored(s, 'b')]), [true]);
      assert.equal((raw.prepare('SELECT COUNT(*) AS n FROM results').get() as { n: number }).n, 1, 'the reader keeps its snapshot');
      raw.exec('COMMIT');
      assert.equal(await store.count(s), 2);
    } finally {
      raw.close();
      await store.close();
    }
  });

  it('makes a new file with 16 KB pages, and opens a file of another page size as it is', async () => {
    const fresh = join(dir, 'fresh.db');
    const store = new SqliteResultsStore({ path: fresh });
    await store.close();
    const raw = new Database(fresh, { readonly: true });
    assert.equal(raw.pragma('page_size', { simple: true }), 16_384);
    raw.close();

    // A file an earlier version made (4 KB pages, WAL, the table): its page size stays, its rows stay readable and writable.
    const older = join(dir, 'older.db');
    const made = new Database(older);
    made.pragma('page_size = 4096');
    made.pragma('journal_mode = WAL');
    made.close();
    const first = new SqliteResultsStore({ path: older });
    const s = sessionId();
    await first.put([stored(s, 'a')]);
    await first.close();
    const reopened = new SqliteResultsStore({ path: older });
    try {
      assert.deepEqual(await reopened.put([stored(s, 'a'), stored(s, 'b')]), [false, true]);
      assert.equal(await reopened.count(s), 2);
    } finally {
      await reopened.close();
    }
    const check = new Database(older, { readonly: true });
    assert.equal(check.pragma('page_size', { simple: true }), 4096);
    check.close();
  });

  it('answers a write that waited past busy_timeout as unavailable, and writes once the lock is free', async () => {
    const path = join(dir, 'results.db');
    const store = new SqliteResultsStore({ path, busyTimeoutMs: 100 });
    const raw = new Database(path);
    try {
      const s = sessionId();
      raw.exec('BEGIN IMMEDIATE');
      const started = Date.now();
      await assert.rejects(store.put([stored(s, 'a')]), (err: unknown) => err instanceof CrawlError && err.code === 'unavailable' && err.retryable);
      assert.ok(Date.now() - started >= 90, 'it waited for the lock first');
      raw.exec('COMMIT');
      assert.deepEqual(await store.put([stored(s, 'a')]), [true]);
    } finally {
      raw.close();
      await store.close();
    }
  });
});

describe('results store: opening by results.url', () => {
  const dir = '/var/lib/crawlfleet/results';
  const cases: { url: string; want: ReturnType<typeof resultsTarget> | 'config_invalid' }[] = [
    { url: 'sqlite:', want: { kind: 'sqlite', path: '/var/lib/crawlfleet/results/results.db' } },
    { url: ' sqlite: ', want: { kind: 'sqlite', path: '/var/lib/crawlfleet/results/results.db' } },
    { url: 'sqlite:/data/crawl.db', want: { kind: 'sqlite', path: '/data/crawl.db' } },
    { url: 'sqlite:///data/crawl.db', want: { kind: 'sqlite', path: '/data/crawl.db' } },
    { url: 'sqlite:other.db', want: { kind: 'sqlite', path: '/var/lib/crawlfleet/results/other.db' } },
    { url: 'SQLITE:', want: { kind: 'sqlite', path: '/var/lib/crawlfleet/results/results.db' } },
    { url: 'sqlite://host/x.db', want: 'config_invalid' },
    { url: 'postgres://u:p@db:5432/crawl?schema=c1', want: { kind: 'postgres', url: 'postgres://u:p@db:5432/crawl?schema=c1' } },
    { url: 'postgresql://db/crawl', want: { kind: 'postgres', url: 'postgresql://db/crawl' } },
    { url: 'redis:', want: { kind: 'redis' } },
    { url: 'redis://127.0.0.1:6379', want: 'config_invalid' },
    { url: 'mysql://db/x', want: 'config_invalid' },
    { url: '/data/results.db', want: 'config_invalid' },
    { url: '', want: 'config_invalid' },
  ];
  for (const { url, want } of cases) {
    it(`${JSON.stringify(url)} → ${typeof want === 'string' ? want : want.kind}`, () => {
      if (want === 'config_invalid') {
        assert.throws(() => resultsTarget({ url, dir }), (err: unknown) => err instanceof CrawlError && err.code === 'config_invalid' && err.message.startsWith('results.url: '));
      } else {
        assert.deepEqual(resultsTarget({ url, dir }), want);
      }
    });
  }

  it('opens the default SQLite file in the results directory, and PostgreSQL in the schema of the URL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'results-open-'));
    const schema = testNamespace('results_');
    const deps = {} as Parameters<typeof openResultsStore>[1];
    try {
      const sqlite = await openResultsStore({ url: 'sqlite:', dir: join(dir, 'nested') }, deps);
      assert.equal(sqlite.kind, 'sqlite');
      const s = sessionId();
      await sqlite.put([stored(s, 'a')]);
      await sqlite.close();
      const again = new SqliteResultsStore({ path: join(dir, 'nested', 'results.db') });
      assert.equal(await again.count(s), 1);
      await again.close();

      const postgres = await openResultsStore({ url: `${PG_URL}?schema=${schema}`, dir }, deps);
      assert.equal(postgres.kind, 'postgres');
      await postgres.put([stored(s, 'a')]);
      await postgres.close();
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        const res = await client.query(`SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(schema)}.results`);
        assert.equal(res.rows[0].n, 1);
        await client.query(`DROP SCHEMA ${pg.escapeIdentifier(schema)} CASCADE`);
      } finally {
        await client.end();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers an unreachable PostgreSQL as unavailable (retryable)', async () => {
    await assert.rejects(
      PostgresResultsStore.open({ url: 'postgres://postgres@127.0.0.1:1/test?schema=x' }),
      (err: unknown) => err instanceof CrawlError && err.code === 'unavailable',
    );
  });
});
