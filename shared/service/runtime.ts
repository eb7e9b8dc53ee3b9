/**
 * What every service process shares: configuration, logger, metrics, Redis, the broker,
 * the ops HTTP endpoints, and the signal handling. A service's entry point is
 * `runService(name, start)`; `start` wires its stages and returns how to close them.
 *
 * Ownership: the runtime creates Redis and the broker and closes them last, after the
 * service drained its consumers (SIGTERM → stop consuming → finish in-flight within
 * shutdown.graceMs → flush confirms → exit 0).
 *
 * Readiness and missing dependencies: the HTTP server listens first, before Redis and
 * RabbitMQ answer, so /healthz answers at once and /readyz says 503 with the reason (which
 * dependency, where, why) from the first second. A dependency that does not answer is
 * logged once as an error and retried with backoff; the service starts when both answer,
 * without a restart. A replica is ready when Redis and the broker are connected, every
 * consumer it registered is consuming, and the last configuration change applied.
 *
 * Every replica writes a heartbeat to Redis (./heartbeat.ts) from the moment Redis answers
 * until it stops; a graceful stop removes it first.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { ConfigCenter, type ChangeEvent } from '../config/center.js';
import { processEnv, type Config } from '../config/index.js';
import { toCrawlError } from '../errors/index.js';
import { Maintenance, SessionStore, TaskLedger } from '../ledger/index.js';
import { Broker } from '../messaging/broker.js';
import { Outbox } from '../pipeline/outbox.js';
import { topology, type Topology } from '../messaging/topology.js';
import { createLogger, type Logger } from '../observability/log.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { createRedis } from '../redis/client.js';
import { describeRedisTarget } from '../redis/url.js';
import { redisKeys, type Keys } from '../redis/keys.js';
import { lazyResultsStore, openResultsStore, resultsTarget } from '../results/index.js';
import type { ResultsStore } from '../results/store.js';
import type { ServiceName } from '../pipeline/services.js';
import { Heartbeat } from './heartbeat.js';

export type { ServiceName } from '../pipeline/services.js';


export interface ServiceContext {
  readonly name: ServiceName;
  /** The current frozen configuration snapshot; read it again for live values. */
  config(): Config;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly redis: Redis;
  readonly broker: Broker;
  /** Sends tasks to stages in batches (shared/pipeline/outbox.ts); drained at shutdown before the broker closes. */
  readonly outbox: Outbox;
  readonly keys: Keys;
  /** Sessions: spec, status, counters, indexes. */
  readonly sessions: SessionStore;
  /** The task ledger: every transition of every admitted URL. */
  readonly tasks: TaskLedger;
  /** The cleaner's side of the ledger. */
  readonly maintenance: Maintenance;
  /** Where records are written and read (shared/results/store.ts); closed by the runtime. */
  readonly results: ResultsStore;
  readonly topology: Topology;
  /** True when the replica is ready (see `readiness`). */
  ready(): boolean;
  /** Whether the replica is ready, and if not, why. */
  readiness(): Readiness;
  /** The config center of this replica (live overrides, file watch). */
  readonly center: ConfigCenter;
  /** Runs `fn` after every applied configuration change. */
  onConfigChange(fn: (next: Config, previous: Config) => void | Promise<void>): void;
  /** Adds a readiness condition of the service's own (the renderer's browser): it answers why the replica is not ready, or null. */
  addReadinessCheck(check: () => string | null): void;
}

export interface ServiceHandle {
  /** Stop taking work and drain in-flight work within graceMs. */
  close(graceMs: number): Promise<void>;
  /** The HTTP server of the service, if it has its own (the controller); else the runtime serves ops endpoints. */
  http?: FastifyInstance;
}

export interface Readiness {
  ready: boolean;
  /** Every reason the replica is not ready, most basic first (a missing dependency, starting, not consuming, a change not applied). */
  reasons: string[];
  /** Set while dependencies are missing (each named, joined by "; ") or the service is still starting: the API answers 503 `unavailable` with it. */
  unavailable: string | null;
}

/** Adds /healthz, /readyz and /metrics to a fastify app. /readyz answers 503 with the reasons when not ready. */
export function registerOpsRoutes(app: FastifyInstance, ctx: Pick<ServiceContext, 'readiness' | 'metrics' | 'name'>): void {
  app.get('/healthz', async () => ({ status: 'ok', service: ctx.name }));
  app.get('/readyz', async (_req, reply) => {
    const r = ctx.readiness();
    if (r.ready) return reply.code(200).send({ status: 'ready', service: ctx.name });
    return reply.code(503).send({ status: 'not ready', service: ctx.name, reason: r.reasons.join('; '), reasons: r.reasons });
  });
  app.get('/metrics', async (_req, reply) => {
    return reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
}

export interface RunOptions {
  /** Environment to read (tests); defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Install signal handlers and exit the process when closed (default true). */
  manageProcess?: boolean;
  /**
   * Resolve once the service started (default true). With false, resolve as soon as the
   * HTTP server listens; the service starts when Redis and RabbitMQ answer.
   */
  waitStarted?: boolean;
}

export interface RunningService {
  ctx: ServiceContext;
  /** This replica's heartbeat (its id; tests stop it to play a replica that died). */
  heartbeat: Heartbeat;
  /** Address of the ops or API server. */
  address: string;
  /** Resolves when the service started (its dependencies answered and `start` returned). */
  started: Promise<void>;
  stop(): Promise<void>;
}

/** How one Redis client is doing, for readiness: connected, or why not; the outage is logged once. */
function watchRedis(redis: Redis, where: string, log: Logger): { problem(): string | null } {
  let up = false;
  let lastError: string | null = null;
  let reported = false;
  redis.on('ready', () => {
    up = true;
    lastError = null;
    if (reported) log.info({ dependency: 'redis', url: where }, `Redis at ${where} reachable again`);
    reported = false;
  });
  redis.on('close', () => {
    up = false;
  });
  redis.on('error', (err: Error) => {
    lastError = err.message || String(err);
    if (up) {
      log.warn({ err: lastError }, 'redis error');
    } else if (!reported) {
      // One error line per outage; ioredis retries with the backoff of createRedis.
      reported = true;
      log.error({ dependency: 'redis', url: where, err: lastError }, `Redis at ${where} is not reachable: ${lastError}; retrying with backoff`);
    } else {
      log.debug({ dependency: 'redis', err: lastError }, 'redis connect failed');
    }
  });
  return {
    problem: () => (up ? null : `Redis at ${where} is not reachable${lastError ? `: ${lastError}` : ' yet (connecting)'}`),
  };
}

export async function runService(name: ServiceName, start: (ctx: ServiceContext) => Promise<ServiceHandle>, opts: RunOptions = {}): Promise<RunningService> {
  const manageProcess = opts.manageProcess ?? true;
  const env = opts.env ?? processEnv();
  const logBoot = createLogger(name, 'info');
  let center: ConfigCenter;
  try {
    center = new ConfigCenter({ env, log: logBoot });
  } catch (err) {
    logBoot.fatal({ err: toCrawlError(err).message }, 'invalid configuration');
    throw err;
  }
  const current = center.config;
  const log = createLogger(name, current.log.level);
  const metrics = createMetrics(name);
  const keys = redisKeys(current.namespace);
  const topo = topology(current.namespace);
  const redis = createRedis(current.redis, { name: `${current.namespace}:${name}` });
  const subscriber = createRedis(current.redis, { name: `${current.namespace}:${name}:config`, blocking: true });
  subscriber.on('error', () => undefined);
  const redisHealth = watchRedis(redis, describeRedisTarget(current.redis), log);
  const broker = new Broker({
    url: current.amqp.url,
    name: `${current.namespace}:${name}:${process.pid}`,
    heartbeatS: current.amqp.heartbeatS,
    topology: topo,
    queueType: current.amqp.queueType,
    deliveryLimit: current.amqp.deliveryLimit,
    log,
  });
  const outbox = new Outbox(broker, topo, () => center.config);
  const changeHandlers: ((next: Config, previous: Config) => void | Promise<void>)[] = [];
  let started = false;
  let stopRequested = false;
  let signalStop: () => void = () => undefined;
  /** Resolves when stop() is called: waits on a dependency that may never answer race it. */
  const stopSignal = new Promise<void>((resolve) => {
    signalStop = resolve;
  });
  /** Set when the last configuration change could not be applied (cleared by the next one that applies). */
  let applyFailure: string | null = null;
  /** The service's own readiness conditions (addReadinessCheck). */
  const readinessChecks: (() => string | null)[] = [];
  /** The live configuration version this replica runs: joined, or the last change that applied. */
  let appliedVersion = 0;
  const readiness = (): Readiness => {
    const missing = [redisHealth.problem(), broker.problem()].filter((p): p is string => p !== null);
    const reasons = [...missing];
    if (!started && missing.length === 0) reasons.push(`${name} is starting`);
    if (started) for (const queue of broker.idleConsumers()) reasons.push(`not consuming from ${queue}`);
    if (applyFailure) reasons.push(applyFailure);
    for (const check of readinessChecks) {
      const problem = check();
      if (problem) reasons.push(problem);
    }
    return { ready: reasons.length === 0, reasons, unavailable: missing.length > 0 ? missing.join('; ') : started ? null : `${name} is starting` };
  };
  const ctx: ServiceContext = {
    name,
    config: () => center.config,
    center,
    onConfigChange: (fn) => void changeHandlers.push(fn),
    addReadinessCheck: (check) => void readinessChecks.push(check),
    log,
    metrics,
    redis,
    broker,
    outbox,
    keys,
    sessions: new SessionStore(redis, keys),
    tasks: new TaskLedger(redis, keys),
    maintenance: new Maintenance(redis, keys),
    results: lazyResultsStore(() => openResultsStore({ url: current.results.url, dir: current.deliver.resultsDir }, { redis, keys }), resultsTarget({ url: current.results.url, dir: current.deliver.resultsDir }).kind),
    topology: topo,
    ready: () => readiness().ready,
    readiness,
  };

  /**
   * Applies one change at a time. When a handler throws (the broker refused, say), the replica
   * goes back to the configuration before the change (handlers run again with the two swapped),
   * logs one error line and is not ready until a later change applies.
   */
  let applying: Promise<void> = Promise.resolve();
  const apply = async (next: Config, ev: ChangeEvent): Promise<void> => {
    log.level = next.log.level;
    const errors: string[] = [];
    for (const fn of changeHandlers) {
      try {
        await fn(next, ev.previous);
      } catch (err) {
        errors.push(toCrawlError(err).message);
      }
    }
    if (errors.length === 0) {
      applyFailure = null;
      appliedVersion = ev.version;
      metrics.configVersion.set(ev.version);
      return;
    }
    const reverted = center.revert(next);
    if (reverted) {
      log.level = ev.previous.log.level;
      for (const fn of changeHandlers) await Promise.resolve(fn(ev.previous, next)).catch(() => undefined);
    }
    applyFailure = `configuration version ${ev.version} could not be applied: ${errors.join('; ')}`;
    log.error({ version: ev.version, err: errors.join('; '), reverted }, 'configuration change could not be applied; keeping the last good configuration');
  };
  center.on('change', (next, ev) => {
    applying = applying.then(() => apply(next, ev));
  });

  if (manageProcess) {
    process.on('unhandledRejection', (err) => {
      log.fatal({ err: toCrawlError(err).message }, 'unhandled rejection');
      process.exit(1);
    });
  }

  // Listen first. The controller's API is built now (its routes answer 503 until the
  // service is ready, see services/controller); the other services serve the ops routes and
  // start their stages once Redis and the broker answer.
  const apiFirst = name === 'controller';
  let handle: ServiceHandle | null = apiFirst ? await start(ctx) : null;
  let http = handle?.http;
  if (!http) {
    http = Fastify({ logger: false });
    registerOpsRoutes(http, ctx);
  }
  const port = name === 'controller' ? current.controller.port : current.http.port;
  const host = name === 'controller' ? current.controller.host : current.http.host;
  let address: string;
  try {
    address = await http.listen({ port, host });
  } catch (err) {
    await handle?.close(0).catch(() => undefined);
    await broker.close();
    subscriber.disconnect();
    redis.disconnect();
    throw err;
  }
  log.info({ address }, `${name} listening`);

  const heartbeat = new Heartbeat({
    service: name,
    config: () => center.config,
    configVersion: () => appliedVersion,
    readiness,
    inFlight: () => broker.heldItems(),
    tasksDone: async () => (await metrics.messageItems.get()).values.reduce((sum, v) => sum + v.value, 0),
  }, { redis, keys, log });
  heartbeat.start();

  const boot = (async () => {
    // Both dependencies at once, each retried until it answers: the live configuration
    // comes from Redis, the broker needs nothing from it (amqp.* is not live).
    const joinCenter = async (): Promise<void> => {
      for (let attempt = 0; !stopRequested; attempt++) {
        try {
          // A subscribe on a client that never connected waits for good: stop() ends the wait.
          const joining = center.start(redis, subscriber, keys);
          joining.catch(() => undefined);
          await Promise.race([joining, stopSignal]);
          if (stopRequested) return;
          appliedVersion = center.version;
          metrics.configVersion.set(center.version);
          return;
        } catch (err) {
          log.debug({ err: toCrawlError(err).message }, 'config center not joined yet; retrying');
          await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** attempt, 5000)));
        }
      }
    };
    await Promise.all([joinCenter(), broker.start()]);
    if (stopRequested) return;
    handle ??= await start(ctx);
    started = true;
    log.info({ address }, `${name} started`);
  })();
  boot.catch((err: unknown) => {
    log.fatal({ err: toCrawlError(err).message }, `${name} could not start`);
    if (manageProcess) process.exit(1);
  });

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    if (stopping) return stopping;
    stopping = (async () => {
      stopRequested = true;
      signalStop();
      const grace = center.config.shutdown.graceMs;
      const wasStarted = started;
      log.info({ graceMs: grace }, `${name} stopping`);
      // A step that waits on a dependency that may be gone gets at most this long.
      const atMost = (p: Promise<unknown>, ms = 1000): Promise<unknown> => Promise.race([p, new Promise((r) => setTimeout(r, ms).unref())]);
      // Leave the replica list first (bounded: Redis may be the dependency that is gone).
      await atMost(heartbeat.stop(true));
      // A service still waiting for its dependencies has nothing to drain: end the waits.
      if (!wasStarted) {
        await broker.close();
        subscriber.disconnect();
        redis.disconnect();
      }
      await boot.catch(() => undefined);
      // Without its dependencies a close could wait for them forever (a Redis quit, say):
      // bound it then, so SIGTERM still ends the process.
      const bounded = (p: Promise<unknown>, what: string): Promise<unknown> =>
        wasStarted ? p : atMost(p).then(() => undefined, (err: unknown) => log.debug({ err: toCrawlError(err).message }, `${what} failed`));
      await bounded(handle ? handle.close(grace).catch((err: unknown) => log.error({ err: toCrawlError(err).message }, 'close failed')) : Promise.resolve(), 'close');
      await bounded(http.close().catch(() => undefined), 'http close');
      await outbox.drain();
      await ctx.results.close().catch((err: unknown) => log.warn({ err: toCrawlError(err).message }, 'closing the results store failed'));
      await broker.close();
      center.close();
      subscriber.disconnect();
      // quit() waits for a connection that a never-started replica may not have, and that a
      // replica whose Redis went away waits for through every reconnection attempt (tens of
      // seconds): it gets a second, then the connection is dropped.
      if (wasStarted) await atMost(redis.quit().catch(() => undefined));
      redis.disconnect();
      log.info(`${name} stopped`);
    })();
    return stopping;
  };

  if (manageProcess) {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.once(sig, () => {
        void stop().then(() => process.exit(0));
      });
    }
  }
  if (opts.waitStarted ?? true) {
    try {
      await boot;
    } catch (err) {
      await stop();
      throw err;
    }
  }
  return { ctx, address, started: boot, stop, heartbeat };
}
