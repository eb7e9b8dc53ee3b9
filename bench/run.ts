/**
 * `npm run bench`: crawlfleet against a single-process baseline, side by side, on local
 * deterministic sites (test/sites/generated.ts), with the real services as processes.
 *
 *   node dist/bench/run.js [--quick] [--scenario nolatency|latency|scale|memory|redis-memory|content|content-docs|mixed]...
 *        [--fetchers N] [--extractors N] [--concurrency N] [--pages N] [--json FILE] [--crawlee]
 *        [--no-baseline] [--env KEY=VALUE]... [--cpu-prof DIR]
 *
 * Each scenario: a site in a child process, a fresh stack (own namespace, own ports),
 * one session from the home page, completion awaited within a hard bound, the delivered
 * set checked against the site's oracle, the costs measured from outside (see
 * bench/metrics.ts); then the baseline crawler (bench/baseline.ts) in a child process
 * against the same site at the same total number of requests in flight. The stack is
 * stopped and its namespace removed after every run, whatever happens.
 *
 * Only loopback addresses are crawled; every loop is bounded in time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { redisKeys } from '../shared/redis/keys.js';
import { lazyResultsStore, openResultsStore, type ResultsStore } from '../shared/results/index.js';
import { stackSpecs, Supervisor } from '../scripts/supervisor.js';
import { GeneratedSite, mixedLatency, type GeneratedSiteOptions, type LatencyMix } from '../test/sites/generated.js';
import { StaticSite } from '../test/sites/static.js';
import { cleanupNamespace, freePort, http, REDIS_URL, serviceEnv, testNamespace, waitFor } from '../test/support/stack.js';
import type { BaselineResult } from './baseline.js';
import {
  amqpConnectionStats,
  amqpDelta,
  clientRedisCounts,
  clockTicks,
  CounterBook,
  commandDelta,
  machineCpuTicks,
  machineMemory,
  percentile,
  pidsByComm,
  ProcessSampler,
  redisCommandStats,
  scrapeMessages,
  sum,
  type LabelUsage,
  type RssSample,
} from './metrics.js';

// ---------------------------------------------------------------------------------------
// Options

const SCENARIOS = ['nolatency', 'latency', 'scale', 'memory', 'redis-memory', 'content', 'content-docs', 'mixed'] as const;
type ScenarioName = (typeof SCENARIOS)[number];
/** What runs without --scenario; redis-memory runs only when named. */
const DEFAULT_SCENARIOS: readonly ScenarioName[] = ['nolatency', 'latency', 'scale', 'memory', 'content', 'mixed'];
/**
 * Extractor replicas of the content scenarios: one per core of the development machine, as an
 * operator scales the stage that converts pages (the extractor's CPU is ~70% of a converted
 * page's; docs/performance.md). The baseline is one process whatever this says.
 */
const CONTENT_EXTRACTORS = 2;
/**
 * The real web's latency mix of the mixed scenario: 5% of pages answer after 5–20 s, the rest
 * after 50–200 ms. The fetch timeouts are raised to 25 s (as an operator would for such a
 * site), so a slow page is slow, not a timeout.
 */
const MIXED_LATENCY: LatencyMix = { slowRatio: 0.05, slowMs: [5000, 20_000], fastMs: [50, 200] };
/** The corpus of the content-docs scenario: Debian's python3-doc (apt-get install python3-doc). */
const DOCS_DIR = '/usr/share/doc/python3/html';
const MIXED_ENV = { FETCH_HEADERS_TIMEOUT_MS: '25000', FETCH_TOTAL_TIMEOUT_MS: '30000' };
/** The formats of the redis-memory and content sessions (the default formats of a session). */
const REDIS_MEMORY_FORMATS = ['markdown', 'links', 'metadata'] as const;

interface BenchOptions {
  quick: boolean;
  scenarios: ScenarioName[];
  fetchers: number | null;
  /** Extractor replicas; null: the scenario's default (CONTENT_EXTRACTORS for content, else 1). */
  extractors: number | null;
  concurrency: number | null;
  pages: number | null;
  json: string | null;
  crawlee: boolean;
  baseline: boolean;
  env: Record<string, string>;
  cpuProf: string | null;
  report: string | null;
}

const USAGE = `usage: node dist/bench/run.js [options]
  --quick               tiny sizes (1,000 pages), 60 s bound per crawl; what CI runs
  --scenario NAME       nolatency | latency | scale | memory | redis-memory | content |
                        content-docs | mixed (repeatable; default all but redis-memory
                        and content-docs). redis-memory: one
                        session of 100,000 pages with formats markdown, links, metadata;
                        Redis bytes per admitted URL (INFO used_memory delta and MEMORY
                        USAGE of the session's keys). content: the nolatency site with
                        those formats, against a baseline that converts every page with
                        the same converter. mixed: 5% of pages take 5-20 s, the rest
                        50-200 ms; steady pages/s against the Little's-law limit.
                        content-docs: content on Debian's python3-doc HTML (${DOCS_DIR},
                        apt-get install python3-doc), served from its files
  --fetchers N          fetcher replicas (nolatency, latency, memory; default 1);
                        for scale, the largest step of 1, 2, 4, ... (default 4)
  --extractors N        extractor replicas (every scenario; default 1, content and
                        content-docs ${CONTENT_EXTRACTORS})
  --concurrency N       requests in flight per fetcher replica (default 32; scale 8)
  --pages N             site size in pages for the chosen scenarios
  --json FILE           write the machine-readable results to FILE
  --crawlee             add Crawlee's CheerioCrawler as a contestant, if installed
  --no-baseline         skip the baseline runs
  --env KEY=VALUE       extra environment for every service (repeatable)
  --cpu-prof DIR        CPU-profile the services (V8 profiler), profiles written to DIR;
                        summarize with node dist/bench/profile-summary.js DIR
  --report FILE         print the tables of a --json file again (runs nothing)
  --help`;

function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      scenario: { type: 'string', multiple: true },
      fetchers: { type: 'string' },
      extractors: { type: 'string' },
      concurrency: { type: 'string' },
      pages: { type: 'string' },
      json: { type: 'string' },
      crawlee: { type: 'boolean', default: false },
      'no-baseline': { type: 'boolean', default: false },
      env: { type: 'string', multiple: true },
      'cpu-prof': { type: 'string' },
      report: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const int = (name: string, raw: string | undefined, min: number, max: number): number | null => {
    if (raw === undefined) return null;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in [${min}, ${max}], got ${raw}`);
    return n;
  };
  const scenarios = (values.scenario ?? [...DEFAULT_SCENARIOS]).map((s) => {
    if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`unknown scenario ${s}; one of ${SCENARIOS.join(', ')}`);
    return s as ScenarioName;
  });
  const env: Record<string, string> = {};
  for (const kv of values.env ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`--env wants KEY=VALUE, got ${kv}`);
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return {
    quick: values.quick ?? false,
    scenarios: [...new Set(scenarios)],
    fetchers: int('fetchers', values.fetchers, 1, 32),
    extractors: int('extractors', values.extractors, 1, 16),
    concurrency: int('concurrency', values.concurrency, 1, 1024),
    pages: int('pages', values.pages, 10, 2_000_000),
    json: values.json ?? null,
    crawlee: values.crawlee ?? false,
    baseline: !(values['no-baseline'] ?? false),
    env,
    cpuProf: values['cpu-prof'] ?? null,
    report: values.report ?? null,
  };
}

// ---------------------------------------------------------------------------------------
// Child processes: site, baseline, Crawlee

const HERE = fileURLToPath(new URL('.', import.meta.url));
const children = new Set<ChildProcess>();

interface SiteProcess {
  origin: string;
  pid: number;
  command<T>(cmd: string): Promise<T>;
  stop(): Promise<void>;
}

async function startSiteProcess(opts: GeneratedSiteOptions | { dir: string }, lifetimeMs: number): Promise<SiteProcess> {
  const child = spawn(process.execPath, [join(HERE, 'site-child.js'), JSON.stringify(opts), String(lifetimeMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  const next = (timeoutMs: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('site process did not answer')), timeoutMs);
      waiting.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
    });
  const first = JSON.parse(await next(15_000)) as { origin: string };
  return {
    origin: first.origin,
    pid: child.pid as number,
    async command<T>(cmd: string): Promise<T> {
      const p = next(10_000);
      child.stdin?.write(`${cmd}\n`);
      return JSON.parse(await p) as T;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin?.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}

interface ChildRun {
  ok: boolean;
  notInstalled?: boolean;
  error?: string;
  result?: BaselineResult;
}

/** Runs a crawler child (baseline or Crawlee) to completion, bounded by timeoutMs + 20 s. */
async function runCrawlerChild(script: string, url: string, concurrency: number, maxPages: number, timeoutMs: number, extraArgs: readonly string[] = []): Promise<ChildRun & { pid: number }> {
  const child = spawn(
    process.execPath,
    [join(HERE, script), '--url', url, '--concurrency', String(concurrency), '--max-pages', String(maxPages), '--timeout-ms', String(timeoutMs), ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CRAWLEE_LOG_LEVEL: 'ERROR' } },
  );
  children.add(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => void (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => void (err = (err + d.toString()).slice(-4000)));
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 20_000);
  await new Promise((r) => child.once('exit', r));
  clearTimeout(killer);
  children.delete(child);
  const line = out
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{"ok"'));
  if (!line) return { ok: false, error: `no result line (stderr: ${err.trim().slice(-500)})`, pid: child.pid ?? 0 };
  return { ...(JSON.parse(line) as ChildRun), pid: child.pid ?? 0 };
}

// ---------------------------------------------------------------------------------------
// The stack

interface BenchStack {
  ns: string;
  api: string;
  supervisor: Supervisor;
  labels: string[];
  opsAddresses: string[];
  logTail: string[];
  problems: string[];
  /** Where the services' Redis counters are dumped (bench/preload.ts). */
  countDir: string;
  /** The stack's results store, read by the bench to time each record's delivery. */
  results: ResultsStore;
  stop(): Promise<void>;
}

async function startStack(fetchers: number, extractors: number, concurrency: number, extraEnv: Record<string, string>, cpuProf: string | null): Promise<BenchStack> {
  const ns = testNamespace('bench');
  const port = await freePort();
  const resultsDir = mkdtempSync(join(os.tmpdir(), 'crawlfleet-bench-results-'));
  const countDir = mkdtempSync(join(os.tmpdir(), 'crawlfleet-bench-redis-'));
  const nodeOptions = [`--import=${pathToFileURL(join(HERE, 'preload.js')).href}`];
  const env = serviceEnv(ns, {
    CONTROLLER_PORT: String(port),
    RESULTS_DIR: resultsDir,
    LOG_LEVEL: 'warn',
    FETCH_CONCURRENCY: String(concurrency),
    // The production default, not the tests' 1 s: the cleaner's polling is part of the cost.
    CLEANER_INTERVAL_MS: '5000',
    BENCH_REDIS_COUNT_DIR: countDir,
    ...(cpuProf ? { BENCH_CPU_PROF_DIR: cpuProf } : {}),
    ...extraEnv,
    // --env NODE_OPTIONS=... adds to the measurement preload instead of replacing it.
    NODE_OPTIONS: [...nodeOptions, extraEnv.NODE_OPTIONS ?? ''].join(' ').trim(),
  });
  const specs = stackSpecs({ replicas: { fetcher: fetchers, extractor: extractors, delivery: 1, renderer: 0 }, env });
  const opsAddresses = [`http://127.0.0.1:${port}`];
  for (const s of specs) {
    if (s.service === 'controller') continue;
    const p = await freePort();
    s.env.HTTP_PORT = String(p);
    opsAddresses.push(`http://127.0.0.1:${p}`);
  }
  const logTail: string[] = [];
  const problems: string[] = [];
  const supervisor = new Supervisor({
    stopGraceMs: 10_000,
    onLine: (label, line) => {
      logTail.push(`[${label}] ${line}`);
      if (logTail.length > 200) logTail.shift();
      if (/"level":(50|60)|restarting in/.test(line) && problems.length < 20) problems.push(`[${label}] ${line.slice(0, 300)}`);
      if (process.env.BENCH_LOGS) process.stderr.write(`[${label}] ${line}\n`);
    },
  });
  for (const s of specs) supervisor.start(s);
  // The bench reads the records where the stack writes them (results.url, in its results directory).
  const benchRedis = new Redis(REDIS_URL);
  const storeSettings = { url: env.RESULTS_URL ?? 'sqlite:', dir: resultsDir };
  const results = lazyResultsStore(() => openResultsStore(storeSettings, { redis: benchRedis, keys: redisKeys(ns) }), 'bench');
  const stack: BenchStack = {
    ns,
    api: `http://127.0.0.1:${port}`,
    supervisor,
    labels: specs.map((s) => s.label),
    opsAddresses,
    logTail,
    problems,
    countDir,
    results,
    async stop() {
      try {
        await supervisor.stopAll();
      } finally {
        await results.close().catch(() => undefined);
        benchRedis.disconnect();
        await cleanupNamespace(ns).catch((err: unknown) => process.stderr.write(`bench: cleanup of ${ns} failed: ${(err as Error).message}\n`));
        rmSync(resultsDir, { recursive: true, force: true });
        rmSync(countDir, { recursive: true, force: true });
      }
    },
  };
  try {
    await waitFor(
      async () => {
        const states = await Promise.all(opsAddresses.map((a) => http(a, 'GET', '/readyz').then((r) => r.status === 200, () => false)));
        return states.every(Boolean);
      },
      { timeoutMs: 120_000, intervalMs: 200, what: 'every service /readyz' },
    );
  } catch (err) {
    process.stderr.write(`${logTail.slice(-30).join('\n')}\n`);
    await stack.stop();
    throw err;
  }
  return stack;
}

// ---------------------------------------------------------------------------------------
// One crawl of the stack, measured

interface RecordLite {
  url: string;
  parent: string | null;
  outcome: string;
  fetchedAt: number | null;
  seenAt: number;
}

interface Latencies {
  /** Delivered (seen in the results list) minus the parent's fetchedAt: an upper bound of admission → delivery. */
  admitUpperP50: number | null;
  admitUpperP99: number | null;
  /** Delivered minus the parent's delivery: a lower bound of admission → delivery. */
  admitLowerP50: number | null;
  admitLowerP99: number | null;
  /** Delivered minus the page's own fetchedAt. */
  fetchP50: number | null;
  fetchP99: number | null;
  samples: number;
}

export interface StackRun {
  kind: 'stack';
  ns: string;
  fetchers: number;
  /** Extractor replicas (--extractors). */
  extractors: number;
  concurrency: number;
  inFlight: number;
  status: string;
  wallMs: number;
  records: number;
  expected: number;
  pagesPerSec: number;
  duplicates: number;
  missing: number;
  extra: number;
  outcomes: Record<string, number>;
  counts: Record<string, number> | null;
  cpuMsPerPage: Record<string, number>;
  cpuMs: Record<string, number>;
  peakRssMb: Record<string, number>;
  startRssMb: Record<string, number>;
  endRssMb: Record<string, number>;
  latency: Latencies;
  messages: Record<string, number>;
  messagesPerPage: number | null;
  amqpBytes: Record<string, { recv: number; send: number }>;
  amqpBytesPerPage: number | null;
  amqpNote: string | null;
  /** Service processes started again during the run (crash or outside signal; the supervisor restarts them). */
  restarts: number;
  /** Commands per name as executed by the (shared) Redis server, script-internal ones included. */
  redisCalls: Record<string, number>;
  redisCallsPerPage: number;
  benchRedisCalls: number;
  /** Round trips (pipelines count once) and commands sent by the services, per page, by label. */
  redisRoundTripsPerPage: number | null;
  redisCommandsPerPage: number | null;
  redisRoundTripsByLabel: Record<string, number>;
  redisClientCommands: Record<string, number>;
  machine: { utilization: number; busyMs: number; unaccountedMs: number };
  /** Redis memory of the session's keys at the end (MEMORY USAGE ... SAMPLES 0). */
  redisMemory: SessionMemory | null;
  /** Redis bytes per admitted URL (the redis-memory scenario). */
  redisPerUrl?: RedisPerUrl | null;
  /** Pages/s between the 10th and the 90th percentile of the fetch times: the steady rate, without ramp-up and the last stragglers. */
  steadyPagesPerSec: number | null;
  /** Little's-law limit of the scenario's latencies at this run's requests in flight (mixed scenario). */
  littleLimit?: number | null;
  siteStats: SiteStats | null;
  problems: string[];
  rssSeries?: RssSample[];
  error?: string;
}

interface SiteStats {
  requests: number;
  maxInFlight: number;
  bytesSent: number;
  distinctPaths: number;
  repeatedPaths: number;
}

interface CrawlParams {
  site: SiteProcess;
  expectedPaths: Set<string>;
  fetchers: number;
  extractors: number;
  concurrency: number;
  boundMs: number;
  opts: BenchOptions;
  rssSeries: boolean;
  /** The session's formats ([] : records without page content). */
  formats: readonly string[];
  /** Measure Redis memory per admitted URL (RedisPerUrl). */
  redisPerUrl: boolean;
}

const mb = (b: number): number => Math.round((b / 1048576) * 10) / 10;
const round = (v: number, d = 1): number => Math.round(v * 10 ** d) / 10 ** d;

function pathOf(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname + u.search;
  } catch {
    return url;
  }
}

async function crawlStack(p: CrawlParams, ticks: number): Promise<StackRun> {
  const stack = await startStack(p.fetchers, p.extractors, p.concurrency, p.opts.env, p.opts.cpuProf);
  if (p.opts.cpuProf) {
    // Name the profiles: pid -> label, merged over runs (read by bench/profile-summary.ts).
    const file = join(p.opts.cpuProf, 'pids.json');
    let pids: Record<string, string> = {};
    try {
      pids = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    } catch {
      /* first run */
    }
    for (const l of stack.labels) pids[String(stack.supervisor.pid(l))] = `${l} (${stack.ns})`;
    writeFileSync(file, `${JSON.stringify(pids)}\n`);
  }
  const redis = new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 3 });
  let benchCalls = 0;
  const sampler = new ProcessSampler(
    (label) => {
      if (label === 'site') return p.site.pid;
      if (label === 'redis-server') return pidsByComm('redis-server');
      if (label === 'rabbitmq') return pidsByComm('beam.smp');
      return stack.supervisor.pid(label);
    },
    [...stack.labels, 'site', 'redis-server', 'rabbitmq'],
    ticks,
    new Set(['redis-server', 'rabbitmq']),
  );
  try {
    await p.site.command('reset');
    const amqpBefore = await amqpConnectionStats(stack.ns);
    // Message and Redis counters live in the service processes: poll them now, every 5 s and
    // at the end, so a replica that restarts during the run loses little (see CounterBook).
    const msgBook = new CounterBook();
    const redisBook = new CounterBook();
    const labelOf = new Map(stack.opsAddresses.map((a, i) => [a, stack.labels[i] as string]));
    const pollCounters = async (): Promise<void> => {
      const pids = stack.labels.map((l) => [l, stack.supervisor.pid(l) ?? 0] as [string, number]).filter(([, pid]) => pid > 0);
      const [scraped, counts] = await Promise.all([scrapeMessages(stack.opsAddresses), clientRedisCounts(stack.countDir, pids.map(([, pid]) => pid))]);
      for (const s of scraped) msgBook.update(`${s.address} ${s.startTime}`, labelOf.get(s.address) ?? s.address, s.byQueue);
      for (const [label, pid] of pids) {
        const c = counts.get(pid);
        if (!c) continue;
        const values: Record<string, number> = { total: c.total, roundTrips: c.roundTrips };
        for (const [cmd, v] of Object.entries(c.commands)) values[`cmd:${cmd}`] = v;
        redisBook.update(`${label} ${pid}`, label, values);
      }
    };
    let polling: Promise<void> | null = null;
    const counterTimer = setInterval(() => {
      polling ??= pollCounters().finally(() => {
        polling = null;
      });
    }, 5000);
    await pollCounters();
    msgBook.mark();
    redisBook.mark();
    let restarts = 0;
    const onSpawn = (): void => void restarts++;
    stack.supervisor.on('spawn', onSpawn);
    const cmdBefore = await redisCommandStats(redis);
    benchCalls++;
    const machine0 = machineCpuTicks();
    const benchCpu0 = process.cpuUsage();
    sampler.mark();
    sampler.start(1000, p.rssSeries);

    const usedBefore = p.redisPerUrl ? await usedMemory(redis) : null;
    const t0 = Date.now();
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', {
      seeds: [`${p.site.origin}/`],
      maxPages: p.expectedPaths.size + 100,
      maxDepth: 1000,
      timeoutMs: Math.max(p.boundMs, 1000),
      label: 'bench',
      formats: p.formats,
    });
    if (created.status !== 201) throw new Error(`POST /sessions answered ${created.status}: ${created.text.slice(0, 300)}`);
    const id = created.body.id;
    const keys = redisKeys(stack.ns).session(id);

    const records: RecordLite[] = [];
    let status = 'running';
    let finishedAt: number | null = null;
    const deadline = t0 + p.boundMs;
    let cursor: string | null = null;
    const drain = async (): Promise<void> => {
      for (;;) {
        // Only what the oracle and the latencies need: the store leaves the content in place.
        const page = await stack.results.list(id, { limit: 10_000, after: cursor, fields: ['url', 'parent', 'outcome', 'fetchedAt'] });
        const now = Date.now();
        for (const r of page.records) records.push({ url: r.url, parent: r.parent, outcome: r.outcome, fetchedAt: r.fetchedAt ? Date.parse(r.fetchedAt) : null, seenAt: now });
        cursor = page.last ?? cursor;
        if (page.next === null) return;
      }
    };
    // Poll the results store (to time each delivery) and the status, every 50 ms, bounded.
    while (Date.now() < deadline) {
      await drain();
      const [s, f] = await redis.hmget(keys.session, 'status', 'finishedAt');
      benchCalls++;
      status = s ?? 'unknown';
      if (status !== 'running') {
        finishedAt = f ? Number(f) : Date.now();
        await drain();
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const tEnd = finishedAt ?? Date.now();
    clearInterval(counterTimer);
    stack.supervisor.off('spawn', onSpawn);
    sampler.stop();
    sampler.sample();
    const usage = sampler.usage();
    const benchCpu = process.cpuUsage(benchCpu0);
    const machine1 = machineCpuTicks();
    const cmdAfter = await redisCommandStats(redis);
    benchCalls++;
    await polling;
    await pollCounters();
    const amqpAfter = await amqpConnectionStats(stack.ns);
    const siteStats = (await p.site.command<{ stats: SiteStats }>('stats')).stats;
    const redisMemory = await sessionMemory(redis, keys);
    const redisPerUrl = usedBefore === null ? undefined : await redisBytesPerUrl(redis, stack.ns, id, usedBefore);
    const session = await http<{ counts: Record<string, number> }>(stack.api, 'GET', `/sessions/${id}`).catch(() => null);
    if (status === 'running') {
      // Out of time: stop the session so the stack drains quickly.
      await http(stack.api, 'DELETE', `/sessions/${id}`).catch(() => undefined);
    }

    // Oracle check.
    const seen = new Map<string, number>();
    for (const r of records) {
      const path = pathOf(r.url);
      seen.set(path, (seen.get(path) ?? 0) + 1);
    }
    let duplicates = 0;
    for (const n of seen.values()) if (n > 1) duplicates += n - 1;
    let missing = 0;
    for (const path of p.expectedPaths) if (!seen.has(path)) missing++;
    let extra = 0;
    for (const path of seen.keys()) if (!p.expectedPaths.has(path)) extra++;
    const outcomes: Record<string, number> = {};
    for (const r of records) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;

    // Latencies from the records and the times they were seen.
    const byUrl = new Map<string, RecordLite>();
    for (const r of records) if (!byUrl.has(r.url)) byUrl.set(r.url, r);
    const upper: number[] = [];
    const lower: number[] = [];
    const fetchLat: number[] = [];
    for (const r of records) {
      if (r.fetchedAt !== null) fetchLat.push(r.seenAt - r.fetchedAt);
      const parent = r.parent ? byUrl.get(r.parent) : undefined;
      if (parent) {
        if (parent.fetchedAt !== null) upper.push(r.seenAt - parent.fetchedAt);
        lower.push(r.seenAt - parent.seenAt);
      }
    }
    for (const a of [upper, lower, fetchLat]) a.sort((x, y) => x - y);
    const latency: Latencies = {
      admitUpperP50: percentile(upper, 50),
      admitUpperP99: percentile(upper, 99),
      admitLowerP50: percentile(lower, 50),
      admitLowerP99: percentile(lower, 99),
      fetchP50: percentile(fetchLat, 50),
      fetchP99: percentile(fetchLat, 99),
      samples: upper.length,
    };

    const fetchedTimes = records.flatMap((r) => (r.fetchedAt === null ? [] : [r.fetchedAt])).sort((a, b) => a - b);
    const i10 = Math.floor(fetchedTimes.length * 0.1);
    const i90 = Math.floor(fetchedTimes.length * 0.9);
    const steadySpan = (fetchedTimes[i90] ?? 0) - (fetchedTimes[i10] ?? 0);
    const steadyPagesPerSec = steadySpan > 0 ? round(((i90 - i10) * 1000) / steadySpan, 1) : null;

    const wallMs = Math.max(1, tEnd - t0);
    const n = Math.max(1, records.length);
    const cpuMs: Record<string, number> = {};
    const cpuMsPerPage: Record<string, number> = {};
    const peakRssMb: Record<string, number> = {};
    const startRssMb: Record<string, number> = {};
    const endRssMb: Record<string, number> = {};
    for (const [label, u] of Object.entries(usage) as [string, LabelUsage][]) {
      cpuMs[label] = round(u.cpuMs, 0);
      cpuMsPerPage[label] = round(u.cpuMs / n, 3);
      peakRssMb[label] = mb(u.peakRss);
      startRssMb[label] = mb(u.startRss);
      endRssMb[label] = mb(u.endRss);
    }
    const benchMs = (benchCpu.user + benchCpu.system) / 1000;
    cpuMs.bench = round(benchMs, 0);
    cpuMsPerPage.bench = round(benchMs / n, 3);
    const ours = sum(Object.values(usage).map((u) => u.cpuMs)) + benchMs;
    const busyMs = ((machine1.busy - machine0.busy) * 1000) / ticks;
    const totalMs = ((machine1.total - machine0.total) * 1000) / ticks;

    const msgTotals = msgBook.totals();
    const messages = msgTotals.all;
    const msgTotal = sum(Object.values(messages));
    const amqpBytes = amqpDelta(amqpBefore, amqpAfter);
    const amqpTotal = sum(Object.values(amqpBytes).map((b) => b.recv));
    const redisCalls = commandDelta(cmdBefore, cmdAfter);
    const redisTotal = sum(Object.values(redisCalls)) - benchCalls;
    const redisTotals = redisBook.totals();
    const rtByLabel: Record<string, number> = {};
    for (const [label, v] of Object.entries(redisTotals.byGroup)) rtByLabel[label] = round((v.roundTrips ?? 0) / n, 2);
    const clientCommands: Record<string, number> = {};
    for (const [k, v] of Object.entries(redisTotals.all)) if (k.startsWith('cmd:')) clientCommands[k.slice(4)] = v;
    const rtTotal = redisTotals.all.roundTrips ?? 0;
    const cmdTotal = redisTotals.all.total ?? 0;
    const countedLabels = Object.keys(redisTotals.byGroup).length;

    return {
      kind: 'stack',
      ns: stack.ns,
      fetchers: p.fetchers,
      extractors: p.extractors,
      concurrency: p.concurrency,
      inFlight: p.fetchers * p.concurrency,
      status,
      wallMs,
      records: records.length,
      expected: p.expectedPaths.size,
      pagesPerSec: round((records.length * 1000) / wallMs, 1),
      steadyPagesPerSec,
      duplicates,
      missing,
      extra,
      outcomes,
      counts: session?.body.counts ?? null,
      cpuMsPerPage,
      cpuMs,
      peakRssMb,
      startRssMb,
      endRssMb,
      latency,
      messages,
      messagesPerPage: msgTotals.instances > 0 ? round(msgTotal / n, 2) : null,
      amqpBytes,
      amqpBytesPerPage: amqpAfter.ok ? round(amqpTotal / n, 0) : null,
      amqpNote: !amqpAfter.ok ? `rabbitmqctl failed: ${amqpAfter.error}` : restarts > 0 ? `partial: ${restarts} service restart(s) during the run; bytes of closed connections are lost` : null,
      restarts,
      redisCalls,
      redisCallsPerPage: round(redisTotal / n, 2),
      benchRedisCalls: benchCalls,
      redisRoundTripsPerPage: countedLabels > 0 ? round(rtTotal / n, 2) : null,
      redisCommandsPerPage: countedLabels > 0 ? round(cmdTotal / n, 2) : null,
      redisRoundTripsByLabel: rtByLabel,
      redisClientCommands: clientCommands,
      machine: { utilization: totalMs > 0 ? round(busyMs / totalMs, 3) : 0, busyMs: round(busyMs, 0), unaccountedMs: round(Math.max(0, busyMs - ours), 0) },
      siteStats,
      redisMemory,
      ...(redisPerUrl !== undefined ? { redisPerUrl } : {}),
      problems: stack.problems,
      ...(p.rssSeries ? { rssSeries: sampler.series } : {}),
    };
  } finally {
    sampler.stop();
    redis.disconnect();
    await stack.stop();
  }
}

interface SessionMemory {
  /** Entries of the ledger hash (URLs admitted). */
  taskEntries: number;
  tasksBytes: number;
  resultsEntries: number;
  resultsBytes: number;
  leasesBytes: number;
  sessionBytes: number;
  /** Ledger bytes per admitted URL, results bytes per record. */
  ledgerBytesPerUrl: number;
  resultBytesPerRecord: number;
}

async function sessionMemory(redis: Redis, keys: ReturnType<ReturnType<typeof redisKeys>['session']>): Promise<SessionMemory | null> {
  try {
    const usage = async (key: string): Promise<number> => Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
    const [taskEntries, resultsEntries] = await Promise.all([redis.hlen(keys.tasks), redis.llen(keys.results)]);
    const [tasksBytes, resultsBytes, leasesBytes, sessionBytes] = await Promise.all([usage(keys.tasks), usage(keys.results), usage(keys.leases), usage(keys.session)]);
    return {
      taskEntries,
      tasksBytes,
      resultsEntries,
      resultsBytes,
      leasesBytes,
      sessionBytes,
      ledgerBytesPerUrl: taskEntries > 0 ? Math.round(tasksBytes / taskEntries) : 0,
      resultBytesPerRecord: resultsEntries > 0 ? Math.round(resultsBytes / resultsEntries) : 0,
    };
  } catch {
    return null;
  }
}

/** Redis memory of one session per admitted URL, taken when the session has ended. */
export interface RedisPerUrl {
  /** The session's ledger entries (HLEN of its tasks hash): every URL admitted. */
  admitted: number;
  /** INFO memory used_memory before POST /sessions and after the session ended, of the whole (shared) Redis. */
  usedBefore: number;
  usedAfter: number;
  /** (usedAfter - usedBefore) / admitted: includes whatever else used that Redis meanwhile. */
  usedPerUrl: number;
  /** The session's keys (SCAN of its hash-tagged prefix): how many, their MEMORY USAGE summed, per admitted URL. */
  sessionKeys: number;
  sessionBytes: number;
  sessionPerUrl: number;
  /** Every key of the stack's namespace (sessions, config, control-plane queues, robots, rate buckets). */
  namespaceKeys: number;
  namespaceBytes: number;
  namespacePerUrl: number;
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  const m = /^used_memory:(\d+)/m.exec(info);
  if (!m) throw new Error('INFO memory has no used_memory');
  return Number(m[1]);
}

/** MEMORY USAGE (SAMPLES 0: every element) summed over the keys matching a pattern. */
async function keysMemory(redis: Redis, pattern: string): Promise<{ keys: number; bytes: number }> {
  let keys = 0;
  let bytes = 0;
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (batch.length === 0) continue;
    const pipe = redis.pipeline();
    for (const k of batch) pipe.call('MEMORY', 'USAGE', k, 'SAMPLES', '0');
    for (const [err, v] of (await pipe.exec()) ?? []) {
      if (err || v === null) continue;
      keys++;
      bytes += Number(v);
    }
  } while (cursor !== '0');
  return { keys, bytes };
}

/** Escapes the glob characters of SCAN MATCH. */
function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

async function redisBytesPerUrl(redis: Redis, ns: string, id: string, usedBefore: number): Promise<RedisPerUrl | null> {
  try {
    const keys = redisKeys(ns);
    const usedAfter = await usedMemory(redis);
    const admitted = await redis.hlen(keys.session(id).tasks);
    // Every key of the session shares the prefix before its last segment (shared/redis/keys.ts).
    const sessionPrefix = keys.session(id).session.replace(/:session$/, ':');
    const session = await keysMemory(redis, `${globLiteral(sessionPrefix)}*`);
    const all = await keysMemory(redis, `${globLiteral(ns)}:*`);
    const per = (b: number): number => (admitted > 0 ? Math.round(b / admitted) : 0);
    return {
      admitted,
      usedBefore,
      usedAfter,
      usedPerUrl: per(usedAfter - usedBefore),
      sessionKeys: session.keys,
      sessionBytes: session.bytes,
      sessionPerUrl: per(session.bytes),
      namespaceKeys: all.keys,
      namespaceBytes: all.bytes,
      namespacePerUrl: per(all.bytes),
    };
  } catch (err) {
    log(`redis-memory: measurement failed: ${(err as Error).message}`);
    return null;
  }
}

// ---------------------------------------------------------------------------------------
// Contestant runs (baseline, Crawlee)

export interface ContestantRun {
  kind: 'baseline' | 'crawlee';
  inFlight: number;
  pages: number;
  wallMs: number;
  pagesPerSec: number;
  cpuMsPerPage: number;
  /** CPU ms per parsed page of the content conversion alone (baseline with formats). */
  convertMsPerPage?: number;
  siteCpuMsPerPage: number;
  missing: number;
  maxInFlight: number;
  timedOut: boolean;
  error?: string;
}

async function crawlContestant(kind: 'baseline' | 'crawlee', site: SiteProcess, expected: number, inFlight: number, boundMs: number, ticks: number, formats: readonly string[] = []): Promise<ContestantRun | { kind: typeof kind; skipped: string }> {
  await site.command('reset');
  const sampler = new ProcessSampler(() => site.pid, ['site'], ticks);
  sampler.mark();
  const extra = kind === 'baseline' && formats.length > 0 ? ['--formats', formats.join(',')] : [];
  const r = await runCrawlerChild(kind === 'baseline' ? 'baseline-child.js' : 'crawlee-child.js', `${site.origin}/`, inFlight, expected + 100, boundMs, extra);
  sampler.sample();
  const siteCpu = sampler.usage().site?.cpuMs ?? 0;
  const stats = (await site.command<{ stats: SiteStats }>('stats')).stats;
  if (r.notInstalled) return { kind, skipped: 'crawlee is not installed (npm i --no-save crawlee to add it)' };
  if (!r.ok || !r.result) return { kind, skipped: `failed: ${r.error ?? 'unknown'}` };
  const res = r.result;
  const n = Math.max(1, res.pages);
  return {
    kind,
    inFlight,
    pages: res.pages,
    wallMs: round(res.ms, 0),
    pagesPerSec: round((res.pages * 1000) / res.ms, 1),
    cpuMsPerPage: round(res.cpuMs / n, 3),
    ...(formats.length > 0 && kind === 'baseline' ? { convertMsPerPage: round((res.convertMs ?? 0) / Math.max(1, res.parsed), 3) } : {}),
    siteCpuMsPerPage: round(siteCpu / n, 3),
    missing: Math.max(0, expected - stats.distinctPaths),
    maxInFlight: stats.maxInFlight,
    timedOut: res.timedOut ?? false,
  };
}

async function crawleeAvailable(): Promise<boolean> {
  const name = 'crawlee';
  try {
    await import(name);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// Scenarios

interface ScenarioResult {
  name: ScenarioName;
  site: { pages: number; pageBytes: number; linksPerPage: number; latencyMs: number; expectedUrls: number };
  runs: StackRun[];
  baseline: (ContestantRun | { kind: 'baseline'; skipped: string })[];
  crawlee: (ContestantRun | { kind: 'crawlee'; skipped: string })[];
  goals: { goal: string; value: string; met: boolean | null }[];
  error?: string;
}

interface ScenarioPlan {
  name: ScenarioName;
  pages: number;
  latencyMs: number;
  steps: { fetchers: number; concurrency: number }[];
  boundMs: number;
  rssSeries: boolean;
  baseline: boolean;
  /** The session's formats. */
  formats: readonly string[];
  redisPerUrl: boolean;
  /** Per-path latencies of the site (the mixed scenario). */
  latencyMix?: LatencyMix;
  /** A directory served as the site instead of the generated one (content-docs). */
  dir?: string;
  /** Extra environment of the stack's services in this scenario. */
  env?: Record<string, string>;
  /** Extractor replicas. */
  extractors: number;
}

function plan(name: ScenarioName, o: BenchOptions): ScenarioPlan {
  const content = name === 'content' || name === 'content-docs';
  return { formats: [], redisPerUrl: false, extractors: o.extractors ?? (content ? CONTENT_EXTRACTORS : 1), ...planSteps(name, o) };
}

function planSteps(name: ScenarioName, o: BenchOptions): Omit<ScenarioPlan, 'formats' | 'redisPerUrl' | 'extractors'> & Partial<Pick<ScenarioPlan, 'formats' | 'redisPerUrl'>> {
  const q = o.quick;
  const conc = o.concurrency ?? (name === 'scale' ? 8 : 32);
  const fetchers = o.fetchers ?? (name === 'scale' ? 4 : 1);
  switch (name) {
    case 'nolatency':
      return { name, pages: o.pages ?? (q ? 1000 : 20_000), latencyMs: 0, steps: [{ fetchers, concurrency: conc }], boundMs: q ? 60_000 : 600_000, rssSeries: false, baseline: o.baseline };
    case 'latency':
      return { name, pages: o.pages ?? (q ? 1000 : 12_000), latencyMs: 100, steps: [{ fetchers, concurrency: conc }], boundMs: q ? 60_000 : 180_000, rssSeries: false, baseline: o.baseline };
    case 'scale': {
      const steps: { fetchers: number; concurrency: number }[] = [];
      for (let f = 1; f < fetchers; f *= 2) steps.push({ fetchers: f, concurrency: conc });
      steps.push({ fetchers, concurrency: conc });
      return { name, pages: o.pages ?? (q ? 1000 : 6000), latencyMs: 100, steps, boundMs: q ? 60_000 : 240_000, rssSeries: false, baseline: o.baseline };
    }
    case 'memory':
      return { name, pages: o.pages ?? (q ? 1000 : 100_000), latencyMs: 0, steps: [{ fetchers, concurrency: conc }], boundMs: q ? 60_000 : 1_800_000, rssSeries: true, baseline: false };
    case 'redis-memory':
      return { name, pages: o.pages ?? (q ? 1000 : 100_000), latencyMs: 0, steps: [{ fetchers, concurrency: conc }], boundMs: q ? 60_000 : 1_800_000, rssSeries: false, baseline: false, formats: REDIS_MEMORY_FORMATS, redisPerUrl: true };
    case 'mixed':
      return { name, pages: o.pages ?? (q ? 800 : 6000), latencyMs: 0, steps: [{ fetchers, concurrency: conc }], boundMs: q ? 120_000 : 600_000, rssSeries: false, baseline: false, latencyMix: MIXED_LATENCY, env: MIXED_ENV };
    case 'content-docs':
      return { name, pages: 0, latencyMs: 0, steps: [{ fetchers, concurrency: conc }], boundMs: 600_000, rssSeries: false, baseline: o.baseline, formats: REDIS_MEMORY_FORMATS, redisPerUrl: false, dir: DOCS_DIR };
    case 'content':
      // The nolatency site with the default formats; the baseline converts every page with the same converter.
      return { name, pages: o.pages ?? (q ? 1000 : 20_000), latencyMs: 0, steps: [{ fetchers, concurrency: conc }], boundMs: q ? 60_000 : 600_000, rssSeries: false, baseline: o.baseline, formats: REDIS_MEMORY_FORMATS, redisPerUrl: true };
  }
}

function siteOptions(pl: ScenarioPlan): GeneratedSiteOptions {
  return { pages: pl.pages, seed: 42, linksPerPage: 21, pageBytes: 15_000, latencyMs: pl.latencyMs, ...(pl.latencyMix ? { latencyMix: pl.latencyMix } : {}) };
}

/** Little's law: the most pages/s `inFlight` requests can give when each takes its path's latency (mean over the expected paths). */
function littleLimit(pl: ScenarioPlan, expected: ReadonlySet<string>, inFlight: number): number | null {
  if (!pl.latencyMix || expected.size === 0) return null;
  let total = 0;
  for (const path of expected) total += mixedLatency(pl.latencyMix, 42, path);
  return (inFlight * 1000) / (total / expected.size);
}

/** The oracle: paths of every URL reachable from the home page. */
async function expectedPaths(opts: GeneratedSiteOptions): Promise<Set<string>> {
  const site = new GeneratedSite({ ...opts, latencyMs: 0 });
  await site.start('127.0.0.1', 0);
  try {
    return new Set([...site.reachable().keys()].map(pathOf));
  } finally {
    await site.stop();
  }
}

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

async function runScenario(pl: ScenarioPlan, o: BenchOptions, ticks: number, withCrawlee: boolean): Promise<ScenarioResult> {
  const sOpts = siteOptions(pl);
  if (pl.dir !== undefined && !existsSync(pl.dir)) throw new Error(`${pl.dir} is missing (apt-get install python3-doc)`);
  const expected = pl.dir !== undefined ? new StaticSite(pl.dir).reachable() : await expectedPaths(sOpts);
  const result: ScenarioResult = {
    name: pl.name,
    site: { pages: pl.pages, pageBytes: 15_000, linksPerPage: 21, latencyMs: pl.latencyMs, expectedUrls: expected.size },
    runs: [],
    baseline: [],
    crawlee: [],
    goals: [],
  };
  const lifetime = pl.boundMs * pl.steps.length * 2 + 120_000;
  const site = await startSiteProcess(pl.dir !== undefined ? { dir: pl.dir } : sOpts, lifetime);
  try {
    for (const step of pl.steps) {
      log(`${pl.name}: stack with ${step.fetchers} fetcher(s) x ${step.concurrency} in flight, ${expected.size} URLs, latency ${pl.latencyMs} ms`);
      try {
        const run = await crawlStack({ site, expectedPaths: expected, fetchers: step.fetchers, extractors: pl.extractors, concurrency: step.concurrency, boundMs: pl.boundMs, opts: pl.env ? { ...o, env: { ...pl.env, ...o.env } } : o, rssSeries: pl.rssSeries, formats: pl.formats, redisPerUrl: pl.redisPerUrl }, ticks);
        run.littleLimit = littleLimit(pl, expected, step.fetchers * step.concurrency);
        result.runs.push(run);
        log(`${pl.name}: ${run.status}, ${run.records} records in ${(run.wallMs / 1000).toFixed(1)} s = ${run.pagesPerSec} pages/s (dup ${run.duplicates}, missing ${run.missing})`);
      } catch (err) {
        log(`${pl.name}: stack run failed: ${(err as Error).message}`);
        result.error = (err as Error).message;
      }
      const inFlight = step.fetchers * step.concurrency;
      if (pl.baseline) {
        log(`${pl.name}: baseline at ${inFlight} in flight`);
        const b = await crawlContestant('baseline', site, expected.size, inFlight, pl.boundMs, ticks, pl.formats);
        result.baseline.push(b as ContestantRun);
        if ('pagesPerSec' in b) log(`${pl.name}: baseline ${b.pages} pages in ${(b.wallMs / 1000).toFixed(1)} s = ${b.pagesPerSec} pages/s`);
        else log(`${pl.name}: baseline ${b.skipped}`);
      }
      if (withCrawlee && pl.name !== 'memory' && pl.name !== 'redis-memory') {
        log(`${pl.name}: Crawlee at ${inFlight} in flight`);
        const c = await crawlContestant('crawlee', site, expected.size, inFlight, pl.boundMs, ticks);
        result.crawlee.push(c as ContestantRun);
      }
    }
  } finally {
    await site.stop();
  }
  result.goals = goals(result, pl, o);
  return result;
}

function isRun(b: unknown): b is ContestantRun {
  return typeof b === 'object' && b !== null && 'pagesPerSec' in b;
}

/** RSS in MB over one stretch of the run (median of the samples with t in [from, to) fractions). */
function medianRss(series: RssSample[], label: string, from: number, to: number): number | null {
  if (series.length < 2) return null;
  const t0 = (series[0] as RssSample).t;
  const span = (series[series.length - 1] as RssSample).t - t0;
  const vals = series
    .filter((s) => s.t - t0 >= from * span && s.t - t0 < to * span)
    .map((s) => s.rss[label] ?? 0)
    .sort((a, b) => a - b);
  const m = percentile(vals, 50);
  return m === null ? null : mb(m);
}

function goals(r: ScenarioResult, pl: ScenarioPlan, o: BenchOptions): ScenarioResult['goals'] {
  const g: ScenarioResult['goals'] = [];
  const run = r.runs[0];
  const base = r.baseline[0];
  const ok = (run: StackRun): boolean => run.status === 'completed' && run.duplicates === 0 && run.missing === 0 && run.extra === 0;
  if (!run) return [{ goal: 'stack run', value: r.error ?? 'failed', met: false }];
  switch (pl.name) {
    case 'nolatency': {
      const ratio = isRun(base) ? run.pagesPerSec / base.pagesPerSec : null;
      g.push({ goal: 'pages/s >= 0.5x baseline', value: ratio === null ? 'no baseline' : `${ratio.toFixed(2)}x`, met: ratio === null ? null : ratio >= 0.5 });
      g.push({ goal: 'every page delivered once', value: `dup ${run.duplicates}, missing ${run.missing}, extra ${run.extra}, ${run.status}`, met: ok(run) });
      break;
    }
    case 'latency': {
      const limit = (run.inFlight * 1000) / pl.latencyMs;
      g.push({ goal: `pages/s >= 0.9x limit (${limit})`, value: `${(run.pagesPerSec / limit).toFixed(2)}x`, met: run.pagesPerSec >= 0.9 * limit });
      g.push({ goal: 'every page delivered once', value: `dup ${run.duplicates}, missing ${run.missing}, extra ${run.extra}, ${run.status}`, met: ok(run) });
      break;
    }
    case 'scale': {
      const one = r.runs.find((x) => x.fetchers === 1);
      for (const x of r.runs) {
        if (!one || x === one) continue;
        const eff = x.pagesPerSec / (one.pagesPerSec * x.fetchers);
        const cpuBound = x.machine.utilization >= 0.85;
        g.push({
          goal: `${x.fetchers} fetchers: >= 90% of linear${cpuBound ? ' (CPU-bound step)' : ''}`,
          value: `${(eff * 100).toFixed(0)}% (machine CPU ${(x.machine.utilization * 100).toFixed(0)}%)`,
          met: eff >= 0.9 ? true : cpuBound ? null : false,
        });
      }
      for (const x of r.runs) if (!ok(x)) g.push({ goal: `${x.fetchers} fetchers: every page once`, value: `dup ${x.duplicates}, missing ${x.missing}, ${x.status}`, met: false });
      break;
    }
    case 'memory': {
      const fetchers = Object.keys(run.peakRssMb).filter((l) => l.startsWith('fetcher'));
      const fPeak = Math.max(...fetchers.map((l) => run.peakRssMb[l] ?? 0));
      const ePeak = run.peakRssMb.extractor ?? 0;
      g.push({ goal: 'fetcher peak RSS < 150 MB', value: `${fPeak} MB`, met: fPeak < 150 });
      g.push({ goal: 'extractor peak RSS < 250 MB', value: `${ePeak} MB`, met: ePeak < 250 });
      const series = run.rssSeries ?? [];
      for (const label of ['fetcher.1', 'extractor', 'delivery', 'controller']) {
        const early = medianRss(series, label, 0.2, 0.4);
        const late = medianRss(series, label, 0.8, 1.01);
        if (early === null || late === null) continue;
        const growth = late - early;
        g.push({ goal: `${label} RSS flat (20-40% vs 80-100% of the run)`, value: `${early} -> ${late} MB`, met: growth < Math.max(20, 0.1 * early) });
      }
      g.push({ goal: 'every page delivered once', value: `dup ${run.duplicates}, missing ${run.missing}, ${run.status}`, met: ok(run) });
      if (o.quick) g.push({ goal: 'note', value: '--quick: 1,000 pages only, not the 100,000-page goal', met: null });
      break;
    }
    case 'mixed': {
      const limit = run.littleLimit ?? null;
      const steady = run.steadyPagesPerSec;
      g.push({
        goal: "steady pages/s >= 0.8x Little's-law limit (in flight / mean latency)",
        value: limit === null || steady === null ? 'not measured' : `${steady} of ${limit.toFixed(1)} = ${(steady / limit).toFixed(2)}x (whole run ${run.pagesPerSec} pages/s)`,
        met: limit === null || steady === null ? false : steady >= 0.8 * limit,
      });
      g.push({ goal: 'every page delivered once', value: `dup ${run.duplicates}, missing ${run.missing}, extra ${run.extra}, ${run.status}`, met: ok(run) });
      break;
    }
    case 'content':
    case 'content-docs': {
      const ratio = isRun(base) ? run.pagesPerSec / base.pagesPerSec : null;
      g.push({ goal: `pages/s >= 1.0x baseline doing the same conversion (${pl.formats.join(', ')})`, value: ratio === null ? 'no baseline' : `${ratio.toFixed(2)}x`, met: ratio === null ? null : ratio >= 1.0 });
      if (isRun(base) && base.convertMsPerPage !== undefined) g.push({ goal: 'conversion alone, CPU ms per page (baseline process)', value: `${base.convertMsPerPage} ms`, met: null });
      const m = run.redisPerUrl;
      if (m) g.push({ goal: 'Redis B per admitted URL <= 300 (session keys)', value: `${m.sessionPerUrl} B (used_memory delta ${m.usedPerUrl} B; ${m.admitted} URLs)`, met: m.sessionPerUrl <= 300 });
      g.push({ goal: 'every page delivered once', value: `dup ${run.duplicates}, missing ${run.missing}, extra ${run.extra}, ${run.status}`, met: ok(run) });
      break;
    }
    case 'redis-memory': {
      const m = run.redisPerUrl;
      g.push({ goal: 'Redis B per admitted URL <= 300 (session keys, MEMORY USAGE)', value: m ? `${m.sessionPerUrl} B (used_memory delta ${m.usedPerUrl} B, namespace ${m.namespacePerUrl} B; ${m.admitted} URLs)` : 'not measured', met: m ? m.sessionPerUrl <= 300 : false });
      g.push({ goal: 'every page delivered once', value: `dup ${run.duplicates}, missing ${run.missing}, ${run.status}`, met: ok(run) });
      if (pl.pages < 100_000) g.push({ goal: 'note', value: `${pl.pages} pages, not the 100,000 of the goal`, met: null });
      break;
    }
  }
  return g;
}

// ---------------------------------------------------------------------------------------
// Report

function fmt(v: number | null | undefined, d = 0): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d);
}

function table(head: string[], rows: string[][]): string {
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

function serviceGroup(label: string): string {
  return label.replace(/\.\d+$/, '');
}

function grouped(values: Record<string, number>, reduce: 'sum' | 'max'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [l, v] of Object.entries(values)) {
    const g = serviceGroup(l);
    out[g] = reduce === 'sum' ? (out[g] ?? 0) + v : Math.max(out[g] ?? 0, v);
  }
  return out;
}

export function report(results: ScenarioResult[], header: string): string {
  const out: string[] = [header, ''];
  const thr: string[][] = [];
  const cpu: string[][] = [];
  const res: string[][] = [];
  const cpuCols = ['controller', 'fetcher', 'extractor', 'delivery', 'cleaner', 'redis-server', 'rabbitmq', 'site', 'bench'];
  for (const r of results) {
    r.runs.forEach((run, i) => {
      const base = r.baseline[i];
      const crawlee = r.crawlee[i];
      const limit = run.littleLimit ?? (r.site.latencyMs > 0 ? (run.inFlight * 1000) / r.site.latencyMs : null);
      const name = `${r.name}${r.runs.length > 1 ? ` f=${run.fetchers}` : ''}`;
      thr.push([
        name,
        `${run.fetchers}x${run.concurrency}${(run.extractors ?? 1) > 1 ? `, ${run.extractors} extractors` : ''}`,
        `${run.records}/${run.expected}`,
        fmt(run.wallMs / 1000, 1),
        fmt(run.pagesPerSec, 0),
        isRun(base) ? fmt(base.pagesPerSec, 0) : base ? 'skip' : '-',
        isRun(base) ? fmt(run.pagesPerSec / base.pagesPerSec, 2) : '-',
        limit ? `${fmt(run.pagesPerSec / limit, 2)} of ${limit}` : '-',
        isRun(crawlee) ? fmt(crawlee.pagesPerSec, 0) : crawlee ? 'n/a' : '-',
        `${run.duplicates}/${run.missing}/${run.extra}`,
        `${fmt((run.latency.admitUpperP50 ?? NaN) / 1000, 2)} / ${fmt((run.latency.admitUpperP99 ?? NaN) / 1000, 2)}`,
        `${fmt((run.latency.fetchP50 ?? NaN) / 1000, 2)} / ${fmt((run.latency.fetchP99 ?? NaN) / 1000, 2)}`,
        `${run.siteStats?.maxInFlight ?? '-'}`,
        `${fmt(run.machine.utilization * 100, 0)}% (${fmt(run.machine.unaccountedMs / 1000, 1)} s)`,
      ]);
      const per = grouped(run.cpuMsPerPage, 'sum');
      const stackTotal = sum(['controller', 'fetcher', 'extractor', 'delivery', 'cleaner'].map((k) => per[k] ?? 0));
      // CPU-bound ceilings on this machine if nothing else ran: all the work spread over every
      // core, and no single-threaded process (the extractor, the baseline) beyond one core.
      const cores = os.cpus().length;
      const stackAll = stackTotal + (per['redis-server'] ?? 0) + (per.rabbitmq ?? 0) + (per.site ?? 0);
      const stackCeil = Math.min((cores * 1000) / stackAll, 1000 / Math.max(...Object.entries(run.cpuMsPerPage).filter(([l]) => /^(extractor|delivery|fetcher)/.test(l)).map(([, v]) => v), 1e-9));
      const baseCeil = isRun(base) ? Math.min((cores * 1000) / (base.cpuMsPerPage + base.siteCpuMsPerPage), 1000 / base.cpuMsPerPage) : null;
      cpu.push([
        name,
        ...cpuCols.map((c) => fmt(per[c], 2)),
        fmt(stackTotal, 2),
        fmt(stackAll, 2),
        isRun(base) ? `${fmt(base.cpuMsPerPage, 2)} (+site ${fmt(base.siteCpuMsPerPage, 2)})` : '-',
        `${fmt(stackCeil, 0)} / ${baseCeil === null ? '-' : fmt(baseCeil, 0)}${baseCeil ? ` = ${fmt(stackCeil / baseCeil, 2)}` : ''}`,
      ]);
      const rss = grouped(run.peakRssMb, 'max');
      res.push([
        name,
        fmt(run.messagesPerPage, 2),
        Object.entries(run.messages)
          .map(([q, v]) => `${q} ${fmt(v / Math.max(1, run.records), 2)}`)
          .join(', '),
        run.amqpBytesPerPage === null ? 'n/a' : `${fmt(run.amqpBytesPerPage / 1024, 1)}${run.amqpNote ? ' (partial)' : ''}`,
        fmt(run.redisRoundTripsPerPage, 2),
        Object.entries(grouped(run.redisRoundTripsByLabel, 'sum'))
          .filter(([, v]) => v >= 0.01)
          .map(([l, v]) => `${l} ${fmt(v, 2)}`)
          .join(', '),
        `${fmt(run.redisCommandsPerPage, 2)}: ${Object.entries(run.redisClientCommands)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([c, v]) => `${c} ${fmt(v / Math.max(1, run.records), 2)}`)
          .join(', ')}`,
        fmt(run.redisCallsPerPage, 1),
        run.redisMemory ? `${run.redisMemory.ledgerBytesPerUrl} / ${run.redisMemory.resultBytesPerRecord}` : '-',
        ['controller', 'fetcher', 'extractor', 'delivery', 'cleaner'].map((s) => `${fmt(rss[s], 0)}`).join(' / '),
      ]);
    });
    if (r.runs.length === 0) thr.push([r.name, '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', `failed: ${r.error ?? '?'}`]);
  }
  out.push('### Throughput', '');
  out.push(
    table(
      ['scenario', 'fetchers x conc', 'records/expected', 'wall s', 'pages/s', 'baseline pages/s', 'ratio', 'of limit', 'crawlee pages/s', 'dup/missing/extra', 'adm→dlv p50/p99 s', 'fetch→dlv p50/p99 s', 'site max in flight', 'machine CPU busy (unaccounted s)'],
      thr,
    ),
  );
  out.push('', '### CPU ms per page', '');
  out.push(table(['scenario', ...cpuCols, 'stack services', 'all (+redis, rabbitmq, site)', 'baseline (+site)', 'CPU-bound ceiling pages/s: stack / baseline'], cpu));
  out.push('', '### Messages, bytes, Redis calls per page; peak RSS MB', '');
  out.push(table(['scenario', 'msgs/page', 'by queue', 'AMQP KB/page', 'Redis round trips/page', 'by service', 'Redis commands/page: top', 'Redis server cmds/page', 'Redis B per URL: ledger / results', 'peak RSS MB ctl / fet / ext / dlv / cln'], res));
  const mem = results.find((r) => r.name === 'memory')?.runs[0];
  if (mem) {
    out.push('', '### Memory (RSS MB: start / peak / end)', '');
    out.push(
      table(
        ['process', 'start', 'peak', 'end'],
        Object.keys(mem.peakRssMb)
          .filter((l) => !['redis-server', 'rabbitmq', 'site'].includes(l))
          .map((l) => [l, fmt(mem.startRssMb[l], 0), fmt(mem.peakRssMb[l], 0), fmt(mem.endRssMb[l], 0)]),
      ),
    );
  }
  const perUrl = results.flatMap((r) => r.runs.filter((x) => x.redisPerUrl).map((x) => [r.name, x.redisPerUrl as RedisPerUrl] as const));
  if (perUrl.length > 0) {
    out.push('', '### Redis memory per admitted URL (session ended)', '');
    out.push(
      table(
        ['scenario', 'admitted URLs', 'session keys: B (keys)', 'B/URL', 'namespace keys: B (keys)', 'B/URL', 'used_memory before -> after', 'delta B/URL'],
        perUrl.map(([name, m]) => [name, String(m.admitted), `${m.sessionBytes} (${m.sessionKeys})`, String(m.sessionPerUrl), `${m.namespaceBytes} (${m.namespaceKeys})`, String(m.namespacePerUrl), `${m.usedBefore} -> ${m.usedAfter}`, String(m.usedPerUrl)]),
      ),
    );
  }
  out.push('', '### Goals', '');
  const goalRows: string[][] = [];
  for (const r of results) for (const g of r.goals) goalRows.push([r.name, g.goal, g.value, g.met === null ? '-' : g.met ? 'met' : 'NOT met']);
  out.push(table(['scenario', 'goal', 'measured', ''], goalRows));
  const problems = results.flatMap((r) => r.runs.flatMap((x) => x.problems));
  const skipped = results.flatMap((r) => [...r.baseline, ...r.crawlee].filter((b) => !isRun(b)).map((b) => `${r.name} ${b.kind}: ${(b as { skipped: string }).skipped}`));
  out.push('', 'Notes:');
  out.push('- pages/s = result records (every reachable URL: pages, 404s, 500s after retries, files) / time from POST /sessions to the session completing (finishedAt).');
  out.push("- adm→dlv: admission → delivery, upper bound: the time a record appeared in the results list (polled every 50 ms) minus its parent's fetchedAt (a link is admitted after its parent is fetched and before the parent's record is delivered; the lower bound, minus the parent's delivery, is in the JSON). fetch→dlv: the record's own fetchedAt to delivery.");
  out.push('- CPU: utime+stime from /proc of each process during the crawl; redis-server and rabbitmq are the shared servers (their whole CPU during the run), site is the generated site (child process), bench is this process (polling, sampling). Machine CPU = busy share of all cores; unaccounted = busy CPU time not charged to any of these processes (kernel networking, other users of the machine).');
  out.push('- CPU-bound ceiling: pages/s this machine would reach if only this crawl ran and CPU were the only limit: min(cores x 1000 / all CPU ms per page, 1000 / CPU ms per page of the busiest single process). It does not depend on the load others put on the machine during the run, unlike pages/s.');
  out.push('- msgs/page: messages consumed (crawlfleet_messages_total of every service); AMQP KB/page: bytes the broker received from the services (rabbitmqctl list_connections recv_oct: publishes, acks, heartbeats, framing).');
  out.push('- Redis B per URL: MEMORY USAGE of the session\'s ledger hash / HLEN, and of its results list / LLEN, at the end of the run.');
  if (perUrl.length > 0) out.push(`- Redis memory per admitted URL (redis-memory, formats ${REDIS_MEMORY_FORMATS.join(', ')}): MEMORY USAGE ... SAMPLES 0 summed over the session's keys (SCAN of its prefix) and over the stack's whole namespace, and the INFO memory used_memory of the Redis server before POST /sessions and once the session ended, each divided by the session's admitted URLs (HLEN of its ledger). The test Redis is shared: the used_memory delta includes what others stored or freed meanwhile.`);
  out.push('- Redis round trips and commands: counted inside each service process (bench/preload.ts wraps ioredis sendCommand; a pipeline, auto-pipelining included, is one round trip). Redis server cmds/page: INFO commandstats delta of the whole shared Redis during the run (commands run inside Lua scripts included, other users of that Redis too), minus the bench\'s own polling.');
  for (const s of skipped) out.push(`- ${s}`);
  for (const r of results) for (const x of r.runs) if (x.restarts > 0) out.push(`- ${r.name}${r.runs.length > 1 ? ` f=${x.fetchers}` : ''}: ${x.restarts} service process(es) restarted during the run (see the service log lines below); per-page counts lose what a process counted after its last poll (5 s), AMQP bytes of its closed connections are lost.`);
  for (const p of problems.slice(0, 10)) out.push(`- service log: ${p}`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  let o: BenchOptions;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (o.report) {
    const saved = JSON.parse(readFileSync(o.report, 'utf8')) as { header?: string; startedAt: string; argv: string[]; results: ScenarioResult[] };
    process.stdout.write(`${report(saved.results, saved.header ?? `crawlfleet bench — ${saved.startedAt}\ncommand: node dist/bench/run.js ${saved.argv.join(' ')}`)}\n`);
    return;
  }
  if (o.cpuProf) mkdirSync(o.cpuProf, { recursive: true });
  const ticks = await clockTicks();
  const started = new Date();
  let withCrawlee = false;
  if (o.crawlee) {
    withCrawlee = await crawleeAvailable();
    if (!withCrawlee) log('--crawlee: crawlee is not installed (import("crawlee") failed); Crawlee runs skipped');
  }
  const plans = o.scenarios.map((s) => plan(s, o));
  // A hard bound for the whole run: every crawl's bound plus room for starts and stops.
  const totalBound = sum(plans.map((p) => p.steps.length * (p.boundMs * (p.baseline ? 2 : 1) * (withCrawlee ? 1.5 : 1) + 90_000))) + 60_000;
  const watchdog = setTimeout(() => {
    log(`the whole run exceeded its bound of ${Math.round(totalBound / 1000)} s; stopping`);
    for (const c of children) c.kill('SIGKILL');
    process.exit(3);
  }, totalBound);
  watchdog.unref();
  process.once('SIGINT', () => {
    for (const c of children) c.kill('SIGTERM');
    process.exit(130);
  });

  const results: ScenarioResult[] = [];
  for (const pl of plans) {
    try {
      results.push(await runScenario(pl, o, ticks, withCrawlee));
    } catch (err) {
      log(`${pl.name}: failed: ${(err as Error).message}`);
      results.push({ name: pl.name, site: { pages: pl.pages, pageBytes: 15_000, linksPerPage: 21, latencyMs: pl.latencyMs, expectedUrls: 0 }, runs: [], baseline: [], crawlee: [], goals: [{ goal: 'run', value: (err as Error).message, met: false }], error: (err as Error).message });
    }
  }
  clearTimeout(watchdog);
  const mem = machineMemory();
  const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
  const header =
    `crawlfleet bench — ${started.toISOString()} — ${os.cpus().length} cores (${cpuModel}), ${mb(mem.total).toFixed(0)} MB RAM, node ${process.version}, ${os.platform()} ${os.release()}\n` +
    `command: node dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trimEnd() +
    `\nsite: GeneratedSite seed 42, 21 links/page, ~15 KB/page, default 404/500/file ratios; stack: 1 controller, N fetchers, 1 extractor (EXTRACT_CONCURRENCY default), 1 delivery, 1 cleaner; LOG_LEVEL=warn${Object.keys(o.env).length ? `; env ${Object.entries(o.env).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}`;
  const text = report(results, header);
  process.stdout.write(`\n${text}\n`);
  if (o.json) {
    writeFileSync(o.json, `${JSON.stringify({ startedAt: started.toISOString(), argv: process.argv.slice(2), header, machine: { cores: os.cpus().length, cpu: cpuModel, memoryBytes: mem.total, node: process.version }, results }, null, 2)}\n`);
    log(`results written to ${o.json}`);
  }
  const failed = results.some((r) => r.runs.length === 0);
  process.exit(failed ? 1 : 0);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  for (const c of children) c.kill('SIGKILL');
  process.exit(1);
});
