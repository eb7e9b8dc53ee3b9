/**
 * `npm run bench:config`: how fast a live configuration change reaches every replica, and
 * how closely the cluster-wide crawl rate follows `rate.global`.
 *
 *   node dist/bench/config.js [--quick] [--changes N] [--spacing-ms N] [--fetchers N]
 *        [--phase-ms N] [--rates 20,60,10] [--json FILE]
 *
 * A stack of real processes in a namespace of its own (controller, N fetchers — 8 by
 * default — one extractor, one delivery, one cleaner) on the local RabbitMQ and Redis.
 *
 * Propagation: once every process is up and has applied a first probe change, N changes
 * of `rate.global` (alternating values) are made through PATCH /config, spaced apart. For
 * each change and each fetcher replica, the propagation time is the `time` of that
 * replica's `configuration applied` log line for the change's version (or a later one,
 * should two changes be coalesced) minus the time just before the PATCH was sent: one
 * machine, one clock, millisecond resolution.
 *
 * Rate accuracy: a local generated site with some latency, one session crawling it, and
 * `rate.global` set to each rate in turn for a phase; requests are counted per whole
 * second at the site, skipping the switch-over second after each change (as in
 * test/e2e/config-live.test.ts).
 *
 * Bounded in time (a watchdog ends the run before two minutes); the processes are stopped
 * and the namespace removed in `finally`, whatever happens. Only loopback addresses.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { stackSpecs, Supervisor } from '../scripts/supervisor.js';
import { GeneratedSite } from '../test/sites/generated.js';
import { cleanupNamespace, freePort, http, serviceEnv, testNamespace } from '../test/support/stack.js';

// ---------------------------------------------------------------------------------------
// Options

interface Options {
  quick: boolean;
  changes: number;
  spacingMs: number;
  fetchers: number;
  rateFetchers: number;
  phaseMs: number;
  rates: number[];
  latencyMs: number;
  json: string | null;
}

const USAGE = `usage: node dist/bench/config.js [options]
  --quick             12 changes, 3 s rate phases (about 45 s in all)
  --changes N         changes of rate.global to time (default 40)
  --spacing-ms N      time between two changes (default 250)
  --fetchers N        fetcher replicas (default 8)
  --rate-fetchers N   fetchers left running for the rate phases (default: all; the
                      others are stopped first)
  --phase-ms N        length of each rate phase (default 5000)
  --rates A,B,C       rate.global of each phase, pages/s (default 20,60,10)
  --json FILE         also write the results as JSON
  --help`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      changes: { type: 'string' },
      'spacing-ms': { type: 'string' },
      fetchers: { type: 'string' },
      'rate-fetchers': { type: 'string' },
      'phase-ms': { type: 'string' },
      rates: { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const int = (name: string, raw: string | undefined, dflt: number, min: number, max: number): number => {
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in [${min}, ${max}], got ${raw}`);
    return n;
  };
  const quick = values.quick === true;
  const rates = (values.rates ?? '20,60,10').split(',').map((r) => {
    const n = Number(r.trim());
    if (!(n > 0 && n <= 500)) throw new Error(`--rates wants pages/s in (0, 500], got ${r}`);
    return n;
  });
  if (rates.length > 5) throw new Error('--rates takes at most 5 phases');
  const fetchers = int('fetchers', values.fetchers, 8, 1, 12);
  return {
    quick,
    changes: int('changes', values.changes, quick ? 12 : 40, 1, 100),
    spacingMs: int('spacing-ms', values['spacing-ms'], 250, 20, 2000),
    fetchers,
    rateFetchers: int('rate-fetchers', values['rate-fetchers'], fetchers, 1, fetchers),
    phaseMs: int('phase-ms', values['phase-ms'], quick ? 3000 : 5000, 2000, 10_000),
    rates,
    latencyMs: 20,
    json: values.json ?? null,
  };
}

// ---------------------------------------------------------------------------------------
// Pure helpers

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] as number;
}

/** Requests per whole second in [from, to). */
function perSecond(times: readonly number[], from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = from; t + 1000 <= to; t += 1000) out.push(times.filter((x) => x >= t && x < t + 1000).length);
  return out;
}

const mean = (xs: readonly number[]): number => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

/** One `configuration applied` line of a replica. */
interface Applied {
  version: number;
  at: number;
  reason: string;
}

/** Parses a pino JSON line; returns the apply event or null. */
function parseApplied(line: string): Applied | null {
  if (!line.includes('configuration applied')) return null;
  try {
    const o = JSON.parse(line) as { msg?: unknown; version?: unknown; time?: unknown; reason?: unknown };
    if (o.msg !== 'configuration applied' || typeof o.version !== 'number' || typeof o.time !== 'string') return null;
    const at = Date.parse(o.time);
    return Number.isFinite(at) ? { version: o.version, at, reason: typeof o.reason === 'string' ? o.reason : '?' } : null;
  } catch {
    return null;
  }
}

/** The first apply of `version` or later by a replica (a later one covers coalesced changes). */
function firstApplyAtOrAfter(events: readonly Applied[], version: number): Applied | null {
  let best: Applied | null = null;
  for (const e of events) if (e.version >= version && (best === null || e.at < best.at)) best = e;
  return best;
}

// ---------------------------------------------------------------------------------------
// The run

/** Hard bound of one run, below two minutes. */
const BOUND_MS = 115_000;

interface Change {
  version: number;
  sentAt: number;
  answeredAt: number;
}

interface PropagationResult {
  changes: number;
  replicas: number;
  pairs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  reachedAll: number;
  exact: number;
  coalesced: number;
  byReason: Record<string, number>;
  patchP50Ms: number;
  /** apply time − PATCH answer time: what a replica adds once the change is stored (may be < 0) */
  afterAnswerP50Ms: number;
  afterAnswerP99Ms: number;
  allProcesses: { replicas: number; p50Ms: number; p99Ms: number; maxMs: number; reachedAll: number };
}

interface PhaseResult {
  rate: number;
  meanPerSecond: number;
  ratio: number;
  maxPerSecond: number;
  switchSecond: number;
  seconds: number[];
}

function summarizePropagation(changes: readonly Change[], applied: ReadonlyMap<string, Applied[]>, labels: readonly string[]): Omit<PropagationResult, 'allProcesses' | 'patchP50Ms'> {
  const delays: number[] = [];
  const afterAnswer: number[] = [];
  const byReason: Record<string, number> = {};
  let reachedAll = 0;
  let exact = 0;
  let coalesced = 0;
  for (const c of changes) {
    let all = true;
    for (const label of labels) {
      const e = firstApplyAtOrAfter(applied.get(label) ?? [], c.version);
      if (!e) {
        all = false;
        continue;
      }
      delays.push(e.at - c.sentAt);
      afterAnswer.push(e.at - c.answeredAt);
      byReason[e.reason] = (byReason[e.reason] ?? 0) + 1;
      if (e.version === c.version) exact++;
      else coalesced++;
    }
    if (all) reachedAll++;
  }
  delays.sort((a, b) => a - b);
  afterAnswer.sort((a, b) => a - b);
  return {
    changes: changes.length,
    replicas: labels.length,
    pairs: delays.length,
    p50Ms: percentile(delays, 50),
    p99Ms: percentile(delays, 99),
    maxMs: delays.at(-1) ?? NaN,
    meanMs: mean(delays),
    afterAnswerP50Ms: percentile(afterAnswer, 50),
    afterAnswerP99Ms: percentile(afterAnswer, 99),
    reachedAll,
    exact,
    coalesced,
    byReason,
  };
}

function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padStart(i === 0 ? 0 : widths[i] ?? 0).padEnd(i === 0 ? widths[i] ?? 0 : 0)).join('  ');
  return [line(headers), ...rows.map(line)].join('\n');
}

const ms = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(0)} ms` : '-');

interface RunResult {
  propagation: PropagationResult;
  phases: PhaseResult[];
  /** 1-minute load average of the machine before and after, to judge the figures */
  load: { before: number; after: number };
  seconds: number;
}

async function run(opts: Options): Promise<RunResult> {
  const started = Date.now();
  const loadBefore = os.loadavg()[0] ?? NaN;
  const watchdog = new AbortController();
  // Waits end at BOUND_MS − 15 s, leaving time to stop the processes and clean up; should
  // even that hang, the processes are killed and the run ends at BOUND_MS.
  const timer = setTimeout(() => watchdog.abort(new Error(`the benchmark exceeded its bound of ${BOUND_MS / 1000} s`)), BOUND_MS - 15_000);
  timer.unref();
  const killer = setTimeout(() => {
    for (const label of supervisor.labels()) supervisor.signal(label, 'SIGKILL');
    process.stderr.write(`bench:config: not finished after ${BOUND_MS / 1000} s; processes killed, namespace ${ns} may be left\n`);
    process.exit(1);
  }, BOUND_MS);
  killer.unref();
  const pause = (t: number): Promise<void> => sleep(t, undefined, { signal: watchdog.signal });
  /** Polls `fn` until it holds, for at most `timeoutMs` and never past the watchdog. */
  const waitFor = async (fn: () => boolean | Promise<boolean>, o: { timeoutMs: number; intervalMs?: number; what: string | (() => string) }): Promise<void> => {
    const until = Date.now() + o.timeoutMs;
    for (;;) {
      if (await Promise.resolve(fn()).catch(() => false)) return;
      if (Date.now() > until) throw new Error(`timed out after ${o.timeoutMs} ms waiting for ${typeof o.what === 'function' ? o.what() : o.what}`);
      await pause(o.intervalMs ?? 100);
    }
  };
  const say = (text: string): void => void process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${text}\n`);

  const ns = testNamespace('bc');
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const resultsDir = mkdtempSync(join(os.tmpdir(), 'crawlfleet-bench-config-'));
  // LOG_LEVEL info: the "<service> started" lines tell when each process is up.
  const env = serviceEnv(ns, { CONTROLLER_PORT: String(port), RESULTS_DIR: resultsDir, LOG_LEVEL: 'info', FETCH_CONCURRENCY: '8' });
  const applied = new Map<string, Applied[]>();
  const startedLabels = new Set<string>();
  const errors: string[] = [];
  const supervisor = new Supervisor({
    stopGraceMs: 8000,
    onLine: (label, line) => {
      const a = parseApplied(line);
      if (a) {
        let list = applied.get(label);
        if (!list) applied.set(label, (list = []));
        list.push(a);
        return;
      }
      if (/"msg":"\w+ started"/.test(line)) startedLabels.add(label);
      if (/"level":"(error|fatal)"|restarting in/.test(line) && errors.length < 20) errors.push(`[${label}] ${line.slice(0, 300)}`);
      if (process.env.CRAWLFLEET_BENCH_LOGS) process.stderr.write(`[${label}] ${line}\n`);
    },
  });
  const site = new GeneratedSite({ pages: 5000, seed: 7, latencyMs: opts.latencyMs });
  const hits: number[] = [];
  let sessionId: string | null = null;

  const patch = async (body: unknown): Promise<Change> => {
    const sentAt = Date.now();
    const res = await http<{ version: number }>(api, 'PATCH', '/config', body, { 'x-actor': 'bench:config' });
    const answeredAt = Date.now();
    if (res.status !== 200) throw new Error(`PATCH /config answered ${res.status}: ${res.text}`);
    return { version: res.body.version, sentAt, answeredAt };
  };
  const reached = (labels: readonly string[], version: number): boolean => labels.every((l) => firstApplyAtOrAfter(applied.get(l) ?? [], version) !== null);

  try {
    const specs = stackSpecs({ replicas: { fetcher: opts.fetchers, extractor: 1, delivery: 1, renderer: 0 }, env });
    const labels = specs.map((s) => s.label);
    const fetchers = labels.filter((l) => l.startsWith('fetcher.'));
    say(`namespace ${ns}: starting ${specs.length} processes (${fetchers.length} fetchers)`);
    for (const spec of specs) supervisor.start(spec);
    await waitFor(async () => (await http(api, 'GET', '/readyz')).status === 200, { timeoutMs: 30_000, what: 'controller /readyz' });
    await waitFor(() => labels.every((l) => startedLabels.has(l)), { timeoutMs: 30_000, intervalMs: 50, what: () => `all processes to start (missing: ${labels.filter((l) => !startedLabels.has(l)).join(', ')})` });
    // A probe change: every replica has applied one (subscribed and serving) before timing starts.
    const probe = await patch({ rate: { global: 1000 } });
    await waitFor(() => reached(labels, probe.version), { timeoutMs: 15_000, intervalMs: 20, what: 'every process to apply the probe change' });
    say(`all ${labels.length} processes up and applying changes (probe version ${probe.version})`);

    // ---- propagation
    const changes: Change[] = [];
    for (let i = 0; i < opts.changes; i++) {
      const next = changes.length === 0 ? Date.now() : (changes.at(-1) as Change).sentAt + opts.spacingMs;
      const wait = next - Date.now();
      if (wait > 0) await pause(wait);
      changes.push(await patch({ rate: { global: i % 2 === 0 ? 100 : 200 } }));
    }
    const last = (changes.at(-1) as Change).version;
    await waitFor(() => reached(labels, last), { timeoutMs: 10_000, intervalMs: 20, what: `every process to apply version ${last}` }).catch(() => undefined);
    const head = summarizePropagation(changes, applied, fetchers);
    const everyone = summarizePropagation(changes, applied, labels);
    const patchTimes = changes.map((c) => c.answeredAt - c.sentAt).sort((a, b) => a - b);
    const propagation: PropagationResult = {
      ...head,
      patchP50Ms: percentile(patchTimes, 50),
      allProcesses: { replicas: labels.length, p50Ms: everyone.p50Ms, p99Ms: everyone.p99Ms, maxMs: everyone.maxMs, reachedAll: everyone.reachedAll },
    };
    say(`propagation: ${head.pairs} pairs, p50 ${ms(head.p50Ms)}, p99 ${ms(head.p99Ms)}, max ${ms(head.maxMs)}, ${head.reachedAll}/${head.changes} changes reached all ${head.replicas} fetchers`);

    // ---- rate accuracy
    const rates = opts.rates;
    const extra = fetchers.slice(opts.rateFetchers);
    if (extra.length > 0) {
      say(`stopping ${extra.join(', ')}: ${opts.rateFetchers} fetchers for the rate phases`);
      await Promise.all(extra.map((l) => supervisor.stop(l)));
    }
    await site.start('127.0.0.1');
    site.onRequest = (_path, at) => void hits.push(at);
    await patch({ rate: { global: rates[0] } });
    const created = await http<{ id: string }>(api, 'POST', '/sessions', { seeds: [site.homeUrl] });
    if (created.status !== 201) throw new Error(`POST /sessions answered ${created.status}: ${created.text}`);
    sessionId = created.body.id;
    await waitFor(() => hits.length > 10, { timeoutMs: 15_000, intervalMs: 20, what: 'the crawl to start' });
    say(`crawl running at ${rates[0]} pages/s; phases of ${opts.phaseMs / 1000} s: ${rates.join(' → ')} pages/s`);
    const marks: { rate: number; at: number }[] = [{ rate: rates[0] as number, at: Date.now() }];
    await pause(opts.phaseMs);
    for (const rate of rates.slice(1)) {
      const c = await patch({ rate: { global: rate } });
      marks.push({ rate, at: c.sentAt });
      await pause(opts.phaseMs);
    }
    const end = Date.now();
    await http(api, 'DELETE', `/sessions/${sessionId}`).catch(() => undefined);
    sessionId = null;
    const phases: PhaseResult[] = marks.map((m, i) => {
      const until = marks[i + 1]?.at ?? end;
      // The second after a change is the switch-over; from then on the new rate holds.
      const seconds = perSecond(hits, m.at + 1000, until);
      const meanPerSecond = mean(seconds);
      return {
        rate: m.rate,
        meanPerSecond,
        ratio: meanPerSecond / m.rate,
        maxPerSecond: Math.max(...seconds),
        switchSecond: perSecond(hits, m.at, m.at + 1000)[0] ?? 0,
        seconds,
      };
    });
    if (errors.length > 0) say(`error lines from the services:\n${errors.join('\n')}`);
    return { propagation, phases, load: { before: loadBefore, after: os.loadavg()[0] ?? NaN }, seconds: (Date.now() - started) / 1000 };
  } finally {
    clearTimeout(timer);
    say('stopping the processes and removing the namespace');
    if (sessionId) await http(api, 'DELETE', `/sessions/${sessionId}`).catch(() => undefined);
    await supervisor.stopAll().catch(() => undefined);
    await site.stop().catch(() => undefined);
    await cleanupNamespace(ns).catch((err: unknown) => say(`cleanup of ${ns} failed: ${(err as Error).message}`));
    rmSync(resultsDir, { recursive: true, force: true });
    say('done');
  }
}

function report(opts: Options, r: RunResult): string {
  const p = r.propagation;
  const lines: string[] = [];
  lines.push(`crawlfleet bench:config — ${new Date().toISOString()}, ${os.cpus().length} CPUs (nproc ${os.availableParallelism()}), node ${process.version}${opts.quick ? ', --quick' : ''}`);
  lines.push(`load average (1 min) ${r.load.before.toFixed(1)} before, ${r.load.after.toFixed(1)} after; stack and measurements took ${r.seconds.toFixed(0)} s`);
  lines.push('');
  lines.push(`Propagation of rate.global: ${p.changes} changes ${opts.spacingMs} ms apart × ${p.replicas} fetcher replicas (log time of "configuration applied" − time before PATCH)`);
  lines.push(table(['', 'value'], [
    ['pairs (change × replica)', String(p.pairs)],
    ['p50', ms(p.p50Ms)],
    ['p99', ms(p.p99Ms)],
    ['max', ms(p.maxMs)],
    ['mean', ms(p.meanMs)],
    [`changes that reached all ${p.replicas}`, `${p.reachedAll}/${p.changes}`],
    ['applied at that exact version', `${p.exact}/${p.pairs}${p.coalesced > 0 ? ` (${p.coalesced} coalesced into a later one)` : ''}`],
    ['applied by', Object.entries(p.byReason).map(([k, v]) => `${k} ${v}`).join(', ')],
    ['PATCH /config round trip p50', ms(p.patchP50Ms)],
    ['apply − PATCH answer: p50 / p99', `${ms(p.afterAnswerP50Ms)} / ${ms(p.afterAnswerP99Ms)}`],
    [`all ${p.allProcesses.replicas} processes: p50 / p99 / max`, `${ms(p.allProcesses.p50Ms)} / ${ms(p.allProcesses.p99Ms)} / ${ms(p.allProcesses.maxMs)}, ${p.allProcesses.reachedAll}/${p.changes} reached all`],
  ]));
  lines.push('');
  lines.push(`Rate accuracy: ${opts.rateFetchers} fetchers × concurrency 8, site latency ${opts.latencyMs} ms, ${opts.phaseMs / 1000} s per setting, counted per second at the site (switch-over second excluded)`);
  lines.push(table(['rate.global', 'mean/s', 'ratio', 'max/s', 'switch s', 'per second'], r.phases.map((ph) => [
    String(ph.rate),
    ph.meanPerSecond.toFixed(1),
    ph.ratio.toFixed(3),
    String(ph.maxPerSecond),
    String(ph.switchSecond),
    ph.seconds.join(' '),
  ])));
  return lines.join('\n');
}

async function mainBench(): Promise<number> {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const r = await run(opts);
  process.stdout.write(`${report(opts, r)}\n`);
  if (opts.json) writeFileSync(opts.json, `${JSON.stringify({ at: new Date().toISOString(), node: process.version, nproc: os.availableParallelism(), options: opts, ...r }, null, 2)}\n`);
  const p = r.propagation;
  if (p.reachedAll !== p.changes) {
    process.stderr.write(`FAIL: only ${p.reachedAll}/${p.changes} changes reached all ${p.replicas} replicas\n`);
    return 1;
  }
  return 0;
}

mainBench().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench:config failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
