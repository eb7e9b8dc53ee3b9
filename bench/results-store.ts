/**
 * How fast the SQL results stores take delivery's writes and serve the results API's reads.
 *
 *   npm run build && node dist/bench/results-store.js [--batches N] [--writers N] [--markdown-bytes N] [--pg URL] [--json FILE]
 *
 * Records as delivery writes them: 64 per put (deliver.deliverBatch's default), each with
 * about 5 KB of Markdown (a field of `fields` here) and distinct keys. For each store:
 * - put, one writer: N batches one after the other (records/s, ms per batch: median and p95,
 *   CPU ms per batch of this process: for SQLite all the work, for PostgreSQL the client's);
 * - put, W writers at once on one session (PostgreSQL: W pool connections; SQLite: the
 *   binding is synchronous, so W writers of one process take turns, as W processes do on the
 *   file's write lock);
 * - list: the whole session in pages of 1,000 (records/s);
 * - lines: the same pages as JSON text, what GET /sessions/:id/results and the results file
 *   write, all keys and `fields=url,title,outcome` (records/s and CPU µs per record of this
 *   process; what list + JSON.stringify cost for the same output, as the API did before
 *   lines, beside them);
 * - count with an outcome filter.
 * SQLite writes a file in a temporary folder; PostgreSQL a schema of its own, dropped at the
 * end. Both are removed in `finally`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { PostgresResultsStore } from '../shared/results/postgres.js';
import { SqliteResultsStore } from '../shared/results/sqlite.js';
import type { ResultsStore, StoredRecord } from '../shared/results/store.js';
import type { Outcome, ResultRecord } from '../shared/tasks/types.js';
import { testNamespace } from '../test/support/stack.js';

const { values: args } = parseArgs({
  options: {
    batches: { type: 'string', default: '150' },
    writers: { type: 'string', default: '4' },
    'markdown-bytes': { type: 'string', default: '5000' },
    pg: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    json: { type: 'string' },
  },
});
const BATCHES = Number(args.batches);
const WRITERS = Number(args.writers);
const MARKDOWN_BYTES = Number(args['markdown-bytes']);
const BATCH = 64;

const WORDS = ['crawler', 'fleet', 'Markdown', 'session', 'ledger', 'überprüfen', 'données', 'page', 'link', 'heading', 'table', 'code'];

function markdown(seed: number): string {
  let out = `# Page ${seed}\n\n`;
  let i = seed;
  while (out.length < MARKDOWN_BYTES) {
    const line: string[] = [];
    for (let w = 0; w < 12; w++) line.push(WORDS[(i = (i * 1103515245 + 12345) & 0x7fffffff) % WORDS.length]!);
    out += `${line.join(' ')} [link](http://127.0.0.1/p/${i % 1000}).\n\n`;
  }
  return out;
}

const OUTCOMES: Outcome[] = ['delivered', 'delivered', 'delivered', 'failed', 'skipped'];

function batchOf(session: string, from: number): StoredRecord[] {
  return Array.from({ length: BATCH }, (_, k) => {
    const n = from + k;
    const url = `http://127.0.0.1/p/${n}`;
    const record: ResultRecord = {
      url,
      finalUrl: url,
      status: 200,
      depth: 2,
      parent: 'http://127.0.0.1/',
      outcome: OUTCOMES[n % OUTCOMES.length]!,
      reason: null,
      error: null,
      title: `Page ${n}`,
      contentType: 'text/html; charset=utf-8',
      fields: { markdown: markdown(n) },
      links: 12,
      canonical: null,
      fetchedAt: new Date().toISOString(),
      attempts: 1,
    };
    return { sessionId: session, taskId: `t${n.toString(16).padStart(16, '0')}`, record };
  });
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface Figures {
  store: string;
  putOneWriter: { recordsPerS: number; batchMsMedian: number; batchMsP95: number; cpuMsPerBatch: number };
  putWriters: { writers: number; recordsPerS: number };
  listRecordsPerS: number;
  /** CPU µs per record of this process for each way of producing the results stream. */
  streamCpuUs: { listStringify: number; lines: number; listProjectStringify: number; linesFields: number };
  countMs: number;
}

const FIELDS = ['url', 'title', 'outcome'];

/** CPU µs per record of `produce` over the whole session, page by page (it answers the bytes it made). */
async function streamCost(produce: (after: string | null) => Promise<{ text: string; next: string | null; n: number }>): Promise<number> {
  const cpu0 = process.cpuUsage();
  let after: string | null = null;
  let n = 0;
  do {
    const page = await produce(after);
    n += page.n;
    after = page.next;
  } while (after !== null);
  const cpu = process.cpuUsage(cpu0);
  return round((cpu.user + cpu.system) / Math.max(1, n));
}

async function measure(store: ResultsStore): Promise<Figures> {
  const session = `bench${Date.now()}`;
  // Built before timing: the stores' own work is what is measured.
  const batches = Array.from({ length: BATCHES }, (_, b) => batchOf(session, b * BATCH));
  await store.put(batchOf(`${session}-warm`, 0));

  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const b of batches) {
    const t = performance.now();
    await store.put(b);
    times.push(performance.now() - t);
  }
  const oneWriterS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  times.sort((a, b) => a - b);

  const session2 = `${session}-w`;
  const perWriter = Math.ceil(BATCHES / WRITERS);
  const writerBatches = Array.from({ length: WRITERS }, (_, w) => Array.from({ length: perWriter }, (_, b) => batchOf(session2, (w * perWriter + b) * BATCH)));
  const t1 = performance.now();
  await Promise.all(
    writerBatches.map(async (bs) => {
      for (const b of bs) await store.put(b);
    }),
  );
  const writersS = (performance.now() - t1) / 1000;

  const t2 = performance.now();
  let listed = 0;
  let after: string | null = null;
  do {
    const page = await store.list(session, { after, limit: 1000 });
    listed += page.records.length;
    after = page.next;
  } while (after !== null);
  const listS = (performance.now() - t2) / 1000;

  const project = (r: ResultRecord): Record<string, unknown> => Object.fromEntries(FIELDS.filter((f) => f in r).map((f) => [f, (r as unknown as Record<string, unknown>)[f]]));
  const streamCpuUs = {
    listStringify: await streamCost(async (a) => {
      const p = await store.list(session, { after: a, limit: 1000 });
      return { text: p.records.map((r) => JSON.stringify(r)).join('\n'), next: p.next, n: p.records.length };
    }),
    lines: await streamCost(async (a) => {
      const p = await store.lines(session, { after: a, limit: 1000 });
      return { text: p.lines.join('\n'), next: p.next, n: p.lines.length };
    }),
    listProjectStringify: await streamCost(async (a) => {
      const p = await store.list(session, { after: a, limit: 1000 });
      return { text: p.records.map((r) => JSON.stringify(project(r))).join('\n'), next: p.next, n: p.records.length };
    }),
    linesFields: await streamCost(async (a) => {
      const p = await store.lines(session, { after: a, limit: 1000, fields: FIELDS });
      return { text: p.lines.join('\n'), next: p.next, n: p.lines.length };
    }),
  };

  const t3 = performance.now();
  await store.count(session, { outcome: 'failed' });
  const countMs = performance.now() - t3;

  await store.deleteSession(session);
  await store.deleteSession(session2);
  await store.deleteSession(`${session}-warm`);
  return {
    store: store.kind,
    putOneWriter: { recordsPerS: Math.round((BATCHES * BATCH) / oneWriterS), batchMsMedian: round(quantile(times, 0.5)), batchMsP95: round(quantile(times, 0.95)), cpuMsPerBatch: round((cpu.user + cpu.system) / 1000 / BATCHES) },
    putWriters: { writers: WRITERS, recordsPerS: Math.round((WRITERS * perWriter * BATCH) / writersS) },
    listRecordsPerS: Math.round(listed / listS),
    streamCpuUs,
    countMs: round(countMs),
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

async function main(): Promise<void> {
  const results: Figures[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'bench-results-'));
  try {
    const sqlite = new SqliteResultsStore({ path: join(dir, 'results.db') });
    try {
      results.push(await measure(sqlite));
    } finally {
      await sqlite.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const schema = testNamespace('bench_');
  try {
    const postgres = await PostgresResultsStore.open({ url: args.pg, schema, poolSize: Math.max(WRITERS, 2) });
    try {
      results.push(await measure(postgres));
    } finally {
      await postgres.close();
    }
  } finally {
    const client = new pg.Client({ connectionString: args.pg });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`).finally(() => client.end());
  }

  console.log(`results stores: ${BATCHES} batches of ${BATCH} records, ~${MARKDOWN_BYTES} B of Markdown each`);
  console.log('| store | put, 1 writer (records/s) | batch ms median / p95 | CPU ms per batch (this process) | put, writers (records/s) | list (records/s) | results stream, CPU µs per record: lines (list + stringify) | with fields=url,title,outcome: lines (list + project + stringify) | count ms |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const s = r.streamCpuUs;
    console.log(
      `| ${r.store} | ${r.putOneWriter.recordsPerS} | ${r.putOneWriter.batchMsMedian} / ${r.putOneWriter.batchMsP95} | ${r.putOneWriter.cpuMsPerBatch} | ${r.putWriters.recordsPerS} (${r.putWriters.writers}) | ${r.listRecordsPerS} | ${s.lines} (${s.listStringify}) | ${s.linesFields} (${s.listProjectStringify}) | ${r.countMs} |`,
    );
  }
  if (args.json) writeFileSync(args.json, JSON.stringify({ batches: BATCHES, batch: BATCH, markdownBytes: MARKDOWN_BYTES, results }, null, 2));
}

await main();
