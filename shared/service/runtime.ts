/**
 * What every service process shares: configuration, logger, metrics, Redis, the broker,
 * the ops HTTP endpoints, and the signal handling. A service's entry point is
 * `runService(name, start)`; `start` wires its stages and returns how to close them.
 *
 * Ownership: the runtime creates Redis and the broker and closes them last, after the
 * service drained its consumers (SIGTERM → stop consuming → finish in-flight within
 * shutdown.graceMs → flush confirms → exit 0).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { ConfigCenter } from '../config/center.js';
import { processEnv, type Config } from '../config/index.js';
import { toCrawlError } from '../errors/index.js';
import { Maintenance, SessionStore, TaskLedger } from '../ledger/index.js';
import { Broker } from '../messaging/broker.js';
import { Outbox } from '../pipeline/outbox.js';
import { topology, type Topology } from '../messaging/topology.js';
import { createLogger, type Logger } from '../observability/log.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { createRedis } from '../redis/client.js';
import { redisKeys, type Keys } from '../redis/keys.js';
import { lazyResultsStore, openResultsStore, resultsTarget } from '../results/index.js';
import type { ResultsStore } from '../results/store.js';
import type { ServiceName } from '../pipeline/services.js';

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
  /** True when the broker and Redis are both connected. */
  ready(): boolean;
  /** The config center of this replica (live overrides, file watch). */
  readonly center: ConfigCenter;
  /** Runs `fn` after every applied configuration change. */
  onConfigChange(fn: (next: Config, previous: Config) => void | Promise<void>): void;
}

export interface ServiceHandle {
  /** Stop taking work and drain in-flight work within graceMs. */
  close(graceMs: number): Promise<void>;
  /** The HTTP server of the service, if it has its own (the controller); else the runtime serves ops endpoints. */
  http?: FastifyInstance;
}

/** Adds /healthz, /readyz and /metrics to a fastify app. */
export function registerOpsRoutes(app: FastifyInstance, ctx: Pick<ServiceContext, 'ready' | 'metrics' | 'name'>): void {
  app.get('/healthz', async () => ({ status: 'ok', service: ctx.name }));
  app.get('/readyz', async (_req, reply) => {
    const ok = ctx.ready();
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', service: ctx.name });
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
}

export interface RunningService {
  ctx: ServiceContext;
  /** Address of the ops or API server. */
  address: string;
  stop(): Promise<void>;
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
  const redis = createRedis(current.redis.url, { name: `${current.namespace}:${name}` });
  const subscriber = createRedis(current.redis.url, { name: `${current.namespace}:${name}:config`, blocking: true });
  subscriber.on('error', () => undefined);
  let redisUp = false;
  redis.on('ready', () => {
    redisUp = true;
  });
  redis.on('close', () => {
    redisUp = false;
  });
  redis.on('error', (err: Error) => log.warn({ err: err.message }, 'redis error'));
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
  const ctx: ServiceContext = {
    name,
    config: () => center.config,
    center,
    onConfigChange: (fn) => void changeHandlers.push(fn),
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
    ready: () => redisUp && broker.isReady(),
  };
  center.on('change', (next, ev) => {
    log.level = next.log.level;
    metrics.configVersion.set(ev.version);
    for (const fn of changeHandlers) {
      Promise.resolve(fn(next, ev.previous)).catch((err: unknown) => log.error({ err: toCrawlError(err).message }, 'applying a configuration change failed'));
    }
  });

  if (manageProcess) {
    process.on('unhandledRejection', (err) => {
      log.fatal({ err: toCrawlError(err).message }, 'unhandled rejection');
      process.exit(1);
    });
  }

  await center.start(redis, subscriber, keys);
  metrics.configVersion.set(center.version);
  await broker.start();
  const handle = await start(ctx);
  let http = handle.http;
  if (!http) {
    http = Fastify({ logger: false });
    registerOpsRoutes(http, ctx);
  }
  const port = name === 'controller' ? current.controller.port : current.http.port;
  const host = name === 'controller' ? current.controller.host : current.http.host;
  const address = await http.listen({ port, host });
  log.info({ address }, `${name} started`);

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    if (stopping) return stopping;
    stopping = (async () => {
      const grace = center.config.shutdown.graceMs;
      log.info({ graceMs: grace }, `${name} stopping`);
      await handle.close(grace).catch((err: unknown) => log.error({ err: toCrawlError(err).message }, 'close failed'));
      await http.close().catch(() => undefined);
      await outbox.drain();
      await ctx.results.close().catch((err: unknown) => log.warn({ err: toCrawlError(err).message }, 'closing the results store failed'));
      await broker.close();
      center.close();
      subscriber.disconnect();
      await redis.quit().catch(() => redis.disconnect());
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
  return { ctx, address, stop };
}
