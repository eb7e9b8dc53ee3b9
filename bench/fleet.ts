/**
 * `npm run bench:fleet`: a thousand fetcher replicas, simulated. N lightweight replicas run
 * in a few processes (bench/fleet-child.ts); each has its own config center (own
 * subscriber connection, catch-up, snapshot), its own per-replica bucket and the real
 * politeness gate against the cluster-wide rate buckets in Redis. The fetch is a GET to a
 * local stub site that counts requests per second.
 *
 *   node dist/bench/fleet.js [--replicas 10,100,1000] [--processes 4] [--changes 10]
 *        [--global 200] [--per-replica 0.5] [--phase-ms 6000] [--quick] [--json FILE]
 *
 * For each N:
 * - config propagation: `--changes` changes of `rate.global` written as PATCH /config
 *   writes them (patchLive); per change, the time until each replica applied it (its
 *   config center's `change` event, same machine clock): p50, p99 and max over all
 *   replicas and changes;
 * - global rate accuracy: every replica fetches through the gate with rate.global =
 *   `--global` for a phase; the site's requests per second (whole seconds, the first
 *   skipped) against the setting;
 * - per-replica rate accuracy: rate.global 0, rate.perReplica = `--per-replica`; expected
 *   N x per-replica, measured as the phase's requests / its length (a whole number of the
 *   bucket's intervals, at least four);
 * - Redis commands per page (INFO commandstats of the whole server during the phases) and
 *   Redis ops/s.
 * The simulation does not use the broker: messages per page come from `npm run bench`
 * (a fetcher publishes and consumes ~0.23 messages per page), so broker messages/s =
 * pages/s x that figure.
 *
 * Bounded: a watchdog ends the run; children and keys are removed in `finally`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { patchLive } from '../shared/config/center.js';
import { redisKeys } from '../shared/redis/keys.js';
import { cleanupNamespace, REDIS_URL, testNamespace } from '../test/support/stack.js';
import { percentile } from './metrics.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));

interface Options {
  replicas: number[];
  processes: number;
  changes: number;
  global: number;
  perReplica: number;
  phaseMs: number;
  json: string | null;
}

const USAGE = `usage: node dist/bench/fleet.js [options]
  --replicas A,B,C    fleet sizes to simulate (default 10,100,1000)
  --processes N       processes the replicas are spread over (default 4)
  --changes N         config changes timed per fleet size (default 10)
  --global R          rate.global of the global-rate phase, pages/s (default 200)
  --per-replica R     rate.perReplica of the per-replica phase (default 0.5)
  --phase-ms N        length of each rate phase (default 6000)
  --quick             10,100 replicas, 5 changes, 4 s phases
  --json FILE         also write the results as JSON
  --help`;

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      replicas: { type: 'string' },
      processes: { type: 'string', default: '4' },
      changes: { type: 'string' },
      global: { type: 'string', default: '200' },
      'per-replica': { type: 'string', default: '0.5' },
      'phase-ms': { type: 'string' },
      quick: { type: 'boolean', default: false },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const q = values.quick ?? false;
  const num = (name: string, v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: not a number: ${v}`);
    return n;
  };
  return {
    replicas: (values.replicas ?? (q ? '10,100' : '10,100,1000')).split(',').map((v) => num('replicas', v)),
    processes: Math.max(1, num('processes', values.processes ?? '4')),
    changes: num('changes', values.changes ?? (q ? '5' : '10')),
    global: num('global', values.global ?? '200'),
    perReplica: num('per-replica', values['per-replica'] ?? '0.5'),
    phaseMs: num('phase-ms', values['phase-ms'] ?? (q ? '4000' : '6000')),
    json: values.json ?? null,
  };
}

function log(msg: string): void {
  process.stderr.write(`[fleet ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** A site that answers every GET with a small page and counts requests per whole second. */
async function stubSite(): Promise<{ url: string; perSecond: Map<number, number>; server: Server }> {
  const perSecond = new Map<number, number>();
  const server = createServer((_req, res) => {
    const s = Math.floor(Date.now() / 1000);
    perSecond.set(s, (perSecond.get(s) ?? 0) + 1);
    res.writeHead(200, { 'content-type': 'text/html' }).end('<html><title>stub</title></html>');
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, perSecond, server };
}

interface Child {
  proc: ChildProcess;
  send(msg: unknown): void;
  next(pred: (m: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>>;
}

function startChild(ns: string, replicas: number, prefix: string, onApplied: (rows: [string, number, number][]) => void): Child {
  const proc = spawn(process.execPath, [join(HERE, 'fleet-child.js'), '--replicas', String(replicas), '--prefix', prefix], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, CRAWLER_NAMESPACE: ns, REDIS_URL, LOG_LEVEL: 'error' },
  });
  const waiting: { pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }[] = [];
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const m = JSON.parse(line) as Record<string, unknown>;
    if (m.applied) onApplied(m.applied as [string, number, number][]);
    const i = waiting.findIndex((w) => w.pred(m));
    if (i >= 0) waiting.splice(i, 1)[0]?.resolve(m);
  });
  return {
    proc,
    send: (msg) => proc.stdin?.write(`${JSON.stringify(msg)}\n`),
    next: (pred, timeoutMs) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`fleet child did not answer within ${timeoutMs} ms`)), timeoutMs);
        waiting.push({
          pred,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        });
        proc.once('exit', (code) => reject(new Error(`fleet child exited (${code})`)));
      }),
  };
}

async function commandsTotal(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let total = 0;
  for (const m of info.matchAll(/calls=(\d+)/g)) total += Number(m[1]);
  return total;
}

interface RatePhase {
  setting: string;
  expected: number;
  measured: number;
  accuracy: number;
  perSecond: number[];
  pages: number;
  redisCmdsPerPage: number;
  redisOpsPerSec: number;
}

interface FleetResult {
  replicas: number;
  joinMs: number;
  propagation: { p50: number; p99: number; max: number; samples: number; missing: number };
  phases: RatePhase[];
}

async function simulate(n: number, o: Options, site: Awaited<ReturnType<typeof stubSite>>, redis: Redis): Promise<FleetResult> {
  const ns = testNamespace('fleet');
  const keys = redisKeys(ns);
  const base = { env: { CRAWLER_NAMESPACE: ns } };
  const appliedAt = new Map<number, number[]>();
  const procs = Math.min(o.processes, n);
  const children: Child[] = [];
  try {
    // Start from rate.global 0 so the join itself is not throttled.
    await patchLive(redis, keys, { rate: { global: 0, perReplica: 0 } }, { who: 'fleet-bench', base });
    const t0 = Date.now();
    for (let p = 0; p < procs; p++) {
      const count = Math.floor(n / procs) + (p < n % procs ? 1 : 0);
      children.push(
        startChild(ns, count, `p${p}r`, (rows) => {
          for (const [, v, at] of rows) {
            const list = appliedAt.get(v) ?? [];
            list.push(at);
            appliedAt.set(v, list);
          }
        }),
      );
    }
    await Promise.all(children.map((c) => c.next((m) => 'ready' in m, 120_000)));
    const joinMs = Date.now() - t0;
    log(`${n} replicas joined in ${joinMs} ms`);

    // Propagation: changes of rate.global, spaced so that each settles.
    const delays: number[] = [];
    let missing = 0;
    for (let i = 0; i < o.changes; i++) {
      const before = Date.now();
      const w = await patchLive(redis, keys, { rate: { global: 1000 + i } }, { who: 'fleet-bench', base });
      const deadline = Date.now() + 10_000;
      while ((appliedAt.get(w.version)?.length ?? 0) < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const got = appliedAt.get(w.version) ?? [];
      missing += n - got.length;
      for (const at of got) delays.push(at - before);
      await new Promise((r) => setTimeout(r, 200));
    }
    delays.sort((a, b) => a - b);
    const propagation = { p50: percentile(delays, 50) ?? -1, p99: percentile(delays, 99) ?? -1, max: delays[delays.length - 1] ?? -1, samples: delays.length, missing };
    log(`${n} replicas: propagation p50 ${propagation.p50} ms, p99 ${propagation.p99} ms, max ${propagation.max} ms (${missing} not applied within 10 s)`);

    const phases: RatePhase[] = [];
    const phase = async (setting: string, patch: Record<string, unknown>, expected: number, phaseMs: number, by: 'seconds' | 'total'): Promise<void> => {
      const w = await patchLive(redis, keys, patch, { who: 'fleet-bench', base });
      const deadline = Date.now() + 10_000;
      while ((appliedAt.get(w.version)?.length ?? 0) < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      site.perSecond.clear();
      const c0 = await commandsTotal(redis);
      const started = Date.now();
      // A per-replica phase ends half an interval early: the request due at its very end does not count twice.
      const runMs = by === 'total' ? phaseMs - 500 / o.perReplica : phaseMs;
      for (const c of children) c.send({ run: { url: site.url, ms: runMs } });
      const ran = await Promise.all(children.map((c) => c.next((m) => 'ran' in m, phaseMs + 60_000)));
      const elapsedS = (Date.now() - started) / 1000;
      const cmds = (await commandsTotal(redis)) - c0;
      const pages = ran.reduce((s, m) => s + ((m.ran as { requests: number }).requests ?? 0), 0);
      // Whole seconds of the phase, without the first (the replicas start within it) and the last (partial).
      const secs = [...site.perSecond.keys()].sort((a, b) => a - b);
      const inner = secs.slice(1, -1).map((s) => site.perSecond.get(s) ?? 0);
      // A global rate is read per whole second; per-replica buckets of less than a few pages
      // per second only over the whole phase (a multiple of their interval).
      const measured = by === 'total' ? pages / (phaseMs / 1000) : inner.length > 0 ? inner.reduce((a, b) => a + b, 0) / inner.length : 0;
      phases.push({
        setting,
        expected,
        measured: Math.round(measured * 10) / 10,
        accuracy: expected > 0 ? Math.round((measured / expected) * 1000) / 1000 : 0,
        perSecond: inner,
        pages,
        redisCmdsPerPage: pages > 0 ? Math.round((cmds / pages) * 100) / 100 : 0,
        redisOpsPerSec: Math.round(cmds / elapsedS),
      });
      log(`${n} replicas, ${setting}: ${measured.toFixed(1)} pages/s of ${expected} (${inner.join(', ')}); Redis ${(cmds / Math.max(1, pages)).toFixed(2)} cmds/page, ${Math.round(cmds / elapsedS)} ops/s`);
    };
    await phase(`rate.global=${o.global}`, { rate: { global: o.global, perReplica: 0 } }, o.global, o.phaseMs, 'seconds');
    // At least four intervals of the per-replica bucket, a whole number of them: each replica then makes exactly phase x rate requests.
    const interval = 1000 / o.perReplica;
    const prMs = Math.max(4, Math.ceil(o.phaseMs / interval)) * interval;
    await phase(`rate.perReplica=${o.perReplica}`, { rate: { global: 0, perReplica: o.perReplica } }, n * o.perReplica, prMs, 'total');
    return { replicas: n, joinMs, propagation, phases };
  } finally {
    for (const c of children) c.send({ stop: true });
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((r) => {
            if (c.proc.exitCode !== null) return r();
            const killer = setTimeout(() => c.proc.kill('SIGKILL'), 15_000);
            c.proc.once('exit', () => {
              clearTimeout(killer);
              r();
            });
          }),
      ),
    );
    await cleanupNamespace(ns);
  }
}

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  const watchdog = setTimeout(() => {
    log('the run exceeded its bound; stopping');
    process.exit(3);
  }, 20 * 60_000);
  watchdog.unref();
  const site = await stubSite();
  const redis = new Redis(REDIS_URL);
  const results: FleetResult[] = [];
  try {
    for (const n of o.replicas) results.push(await simulate(n, o, site, redis));
  } finally {
    redis.disconnect();
    site.server.closeAllConnections();
    site.server.close();
  }
  const header = `crawlfleet fleet simulation — ${new Date().toISOString()} — ${os.cpus().length} cores, node ${process.version}\ncommand: node dist/bench/fleet.js ${process.argv.slice(2).join(' ')}`.trimEnd();
  const out = [
    header,
    '',
    table(
      ['replicas', 'processes', 'join s', 'config propagation p50 / p99 / max ms', 'not applied', 'global: measured / set (accuracy)', 'per-replica: measured / expected (accuracy)', 'Redis cmds/page (global / per-replica)', 'Redis ops/s (global / per-replica)'],
      results.map((r) => {
        const [g, p] = r.phases;
        return [
          String(r.replicas),
          String(Math.min(o.processes, r.replicas)),
          (r.joinMs / 1000).toFixed(1),
          `${r.propagation.p50} / ${r.propagation.p99} / ${r.propagation.max}`,
          String(r.propagation.missing),
          g ? `${g.measured} / ${g.expected} (${g.accuracy})` : '-',
          p ? `${p.measured} / ${p.expected} (${p.accuracy})` : '-',
          `${g?.redisCmdsPerPage ?? '-'} / ${p?.redisCmdsPerPage ?? '-'}`,
          `${g?.redisOpsPerSec ?? '-'} / ${p?.redisOpsPerSec ?? '-'}`,
        ];
      }),
    ),
    '',
    'Goals: config propagation p99 < 1,000 ms at 1,000 replicas; rates within ±10% (accuracy 0.9–1.1).',
  ].join('\n');
  process.stdout.write(`\n${out}\n`);
  if (o.json) writeFileSync(o.json, `${JSON.stringify({ argv: process.argv.slice(2), results }, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`fleet: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
