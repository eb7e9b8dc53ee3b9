/**
 * Test support: a random namespace per test run (queues and keys of their own on the
 * shared local RabbitMQ and Redis), a whole stack of real service processes, HTTP helpers,
 * and cleanup that removes every queue and key of the namespace (the core of
 * `crawlfleet namespace delete`). Every namespace handed out is recorded, so that the
 * root hook in test/support/leftovers.ts can check at the end of the run that none is left.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { deleteNamespace } from '../../scripts/namespace.js';
import { createRedis } from '../../shared/redis/client.js';
import { stackSpecs, Supervisor } from '../../scripts/supervisor.js';
import type * as SupervisorModule from '../../scripts/supervisor.js';

export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const handedOut = new Set<string>();

export function testNamespace(prefix = 't'): string {
  const ns = `${prefix}${randomBytes(5).toString('hex')}`;
  handedOut.add(ns);
  return ns;
}

/** Every namespace testNamespace returned in this process. */
export function testNamespaces(): readonly string[] {
  return [...handedOut];
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Deletes every queue and Redis key of a namespace, consumers or not (on a Redis Cluster: every master). */
export async function cleanupNamespace(ns: string, redisUrl = REDIS_URL): Promise<void> {
  const conn = await amqp.connect(AMQP_URL);
  const redis = redisUrl === REDIS_URL ? new Redis(REDIS_URL) : createRedis(redisUrl, { name: `${ns}:cleanup` });
  try {
    await deleteNamespace(conn, redis, ns, { force: true });
  } finally {
    await conn.close().catch(() => undefined);
    redis.disconnect();
  }
}

export async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, opts: { timeoutMs: number; intervalMs?: number; what: string }): Promise<T> {
  const until = Date.now() + opts.timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

export interface HttpResult<T = unknown> {
  status: number;
  body: T;
  text: string;
}

export async function http<T = unknown>(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult<T>> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* NDJSON or text */
  }
  return { status: res.status, body: parsed as T, text };
}

/** Base environment of services under test: own namespace, loopback allowed, quiet logs. */
export function serviceEnv(ns: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CRAWLER_NAMESPACE: ns,
    AMQP_URL,
    REDIS_URL,
    FETCH_ALLOWED_NETWORKS: '127.0.0.0/8,::1/128',
    LOG_LEVEL: 'warn',
    HTTP_PORT: '0',
    RETRY_BASE_DELAY_MS: '250',
    CLEANER_INTERVAL_MS: '1000',
    SHUTDOWN_GRACE_MS: '5000',
    ...extra,
  };
}

export interface TestStack {
  ns: string;
  api: string;
  resultsDir: string;
  supervisor: Supervisor;
  logs: string[];
  stop(): Promise<void>;
}

export interface TestStackOptions {
  fetchers?: number;
  extractors?: number;
  /** Renderer replicas (default 0: only the renderer's tests start one). */
  renderers?: number;
  env?: Record<string, string>;
  /** A namespace and results directory of the caller's (an upgrade runs two stacks on one): `stop` then leaves both to it. */
  ns?: string;
  resultsDir?: string;
  /** The root of another build to run (test/support/previous-release.ts); this checkout by default. */
  release?: string;
  /** Another Redis (a cluster's `redis+cluster://` URL, test/support/redis-cluster.ts); the machine's by default. */
  redisUrl?: string;
  /** How long the controller may take to answer /readyz (default 60 s: five processes on a loaded machine). */
  readyTimeoutMs?: number;
  /** Longest restart backoff of a crashing process (the supervisor's default, 10 s, unless set). */
  maxRestartDelayMs?: number;
}

export async function startTestStack(opts: TestStackOptions = {}): Promise<TestStack> {
  const ns = opts.ns ?? testNamespace('e');
  const redisUrl = opts.redisUrl ?? REDIS_URL;
  const port = await freePort();
  const resultsDir = opts.resultsDir ?? mkdtempSync(join(tmpdir(), 'crawlfleet-results-'));
  const { Supervisor: Sup, stackSpecs: specsOf } = opts.release
    ? ((await import(pathToFileURL(join(opts.release, 'dist', 'scripts', 'supervisor.js')).href)) as typeof SupervisorModule)
    : { Supervisor, stackSpecs };
  const env = serviceEnv(ns, { CONTROLLER_PORT: String(port), RESULTS_DIR: resultsDir, REDIS_URL: redisUrl, ...opts.env });
  const logs: string[] = [];
  const supervisor = new Sup({
    stopGraceMs: 10_000,
    ...(opts.maxRestartDelayMs !== undefined ? { maxRestartDelayMs: opts.maxRestartDelayMs } : {}),
    onLine: (label, line) => {
      logs.push(`[${label}] ${line}`);
      if (process.env.CRAWLFLEET_TEST_LOGS) process.stderr.write(`[${label}] ${line}\n`);
    },
  });
  const specs = specsOf({ replicas: { fetcher: opts.fetchers ?? 2, extractor: opts.extractors ?? 1, renderer: opts.renderers ?? 0 }, env });
  // Every worker gets a port of its own, chosen now: a worker asking the OS for any free port
  // while the controller is still starting could be handed the controller's, and answer for it.
  const taken = new Set([port]);
  for (const spec of specs) {
    if (spec.service === 'controller') continue;
    let p = await freePort();
    while (taken.has(p)) p = await freePort();
    taken.add(p);
    spec.env.HTTP_PORT = String(p);
  }
  for (const spec of specs) supervisor.start(spec);
  const api = `http://127.0.0.1:${port}`;
  // Ready, and the controller that answers (not another process on its port).
  // A stack that does not come up is stopped and its namespace removed before the error is thrown.
  try {
    await waitFor(async () => {
      const r = await http<{ service?: string }>(api, 'GET', '/readyz');
      return r.status === 200 && r.body.service === 'controller';
    }, { timeoutMs: opts.readyTimeoutMs ?? 60_000, what: 'controller /readyz' });
  } catch (err) {
    // Nothing of a stack that never came up is left running; its last lines say why.
    await supervisor.stopAll();
    if (!opts.ns) await cleanupNamespace(ns, redisUrl).catch(() => undefined);
    if (!opts.resultsDir) rmSync(resultsDir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${logs.slice(-20).join('\n')}`);
  }
  return {
    ns,
    api,
    resultsDir,
    supervisor,
    logs,
    async stop() {
      await supervisor.stopAll();
      if (!opts.ns) await cleanupNamespace(ns, redisUrl);
      if (!opts.resultsDir) rmSync(resultsDir, { recursive: true, force: true });
    },
  };
}
