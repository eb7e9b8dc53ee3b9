/**
 * Controller: the HTTP API (fastify). Sessions, results, the config center, the replicas
 * and the rollout of a config change, the cluster overview, the control-plane dashboard, ops endpoints and the OpenAPI document,
 * and the web console at `/` (console.ts).
 *
 * Order of a request: request id and metrics (shared/http/observe.ts) → rate limit and
 * bearer-token auth (security.ts) → schema validation (strict: no unknown properties in
 * bodies or query strings, see openapi.ts) → handler. Errors answer
 * `{ error: { code, message } }` with the status their catalogue code implies.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AjvCompiler, type ValidatorFactory } from '@fastify/ajv-compiler';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { CrawlError, type ErrorCode } from '../../shared/errors/index.js';
import { loggingOptions, observeRequests } from '../../shared/http/observe.js';
import { packageRoot } from '../../shared/paths.js';
import { registerOpsRoutes, runService, type ServiceContext, type ServiceHandle } from '../../shared/service/runtime.js';
import { registerConfigRoutes } from './config.js';
import { isConsolePath, registerConsole } from './console.js';
import { openControlQueues, registerDashboard } from './dashboard.js';
import { OPEN_PATHS, registerOpenApi } from './openapi.js';
import { registerReplicaRoutes } from './replicas.js';
import { registerSecurity } from './security.js';
import { registerOutcomesRoute } from './outcomes.js';
import { createSession, registerSessionRoutes } from './sessions.js';
import { registerScheduleRoutes, Schedules, startScheduleWorker } from './schedules.js';
import { registerUrlRoutes } from './urls.js';
import { CrawlIndex } from '../../shared/crawlindex/index.js';
import { ClusterStats, registerStatsRoute } from './stats.js';
import { registerWarcRoutes } from './warc.js';

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  validation: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  config_invalid: 400,
  unavailable: 503,
};

/**
 * Request validators: bodies are JSON and are taken as sent (`"maxPages": "3"` is a 400,
 * not 3); query strings and path parameters are text, so their numbers and booleans are
 * coerced from it.
 */
export function validatorFactory(): ValidatorFactory {
  const pool = AjvCompiler();
  const base = { removeAdditional: false, useDefaults: true, allErrors: false } as const;
  return (externalSchemas) => {
    const strict = pool(externalSchemas, { customOptions: { ...base, coerceTypes: false } });
    const text = pool(externalSchemas, { customOptions: { ...base, coerceTypes: true } });
    return (route) => (route.httpPart === 'body' ? strict(route) : text(route));
  };
}

/** The refusal of a body fastify has no parser for (anything but JSON). */
function unsupportedMediaType(contentType: string | undefined): string {
  return `body must be JSON (content-type application/json), got ${contentType ? contentType.split(';')[0]?.trim() : 'no content-type'}`;
}

const VERSION = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

export interface ControllerOptions {
  /** Overrides `api.rateLimitPerMinute` (tests). */
  rateLimitPerMinute?: number;
}

/**
 * The API server, not listening yet. Everything it opens (control queues, samplers) is
 * closed by `app.close()`.
 */
export async function buildApi(ctx: ServiceContext, opts: ControllerOptions = {}): Promise<FastifyInstance> {
  const cfg = ctx.config();
  const app = Fastify({
    ...loggingOptions(ctx.log),
    bodyLimit: cfg.api.bodyLimitBytes,
    schemaController: { compilersFactory: { buildValidator: validatorFactory() } },
    // "body/seeds/0 must be string", "body must NOT have additional properties (bogus)"
    schemaErrorFormatter: (errors, dataVar) => {
      const e = errors[0];
      if (!e) return new Error(`${dataVar} is invalid`);
      const path = `${dataVar}${e.instancePath}`;
      const extra = e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})` : '';
      return new Error(`${path} ${e.message ?? 'is invalid'}${extra}`);
    },
  }) as unknown as FastifyInstance;
  // Only JSON bodies: without a text parser a text/plain body is a 415, not "body must be object".
  app.removeContentTypeParser('text/plain');
  // Response schemas document the API (openapi.ts); answers are serialized as they are.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  observeRequests(app, { metrics: ctx.metrics, secretQueryParams: ['token'] });
  registerSecurity(app, { config: ctx.config, metrics: ctx.metrics, rateLimitPerMinute: opts.rateLimitPerMinute });
  // The API listens before Redis and RabbitMQ answer (see shared/service/runtime.ts): until
  // they do, and while one is missing later, its routes answer 503 `unavailable` with the
  // reason (after auth, so only a client with the token learns where the dependency is).
  app.addHook('onRequest', async (req, reply) => {
    const why = ctx.readiness().unavailable;
    const path = req.url.split('?')[0] ?? '';
    if (why && !OPEN_PATHS.has(path) && !isConsolePath(path)) return reply.code(503).send({ error: { code: 'unavailable', message: why } });
  });

  app.setErrorHandler((err: FastifyError | CrawlError, req, reply) => {
    if (err instanceof CrawlError) {
      const status = HTTP_STATUS[err.code] ?? 500;
      if (status >= 500) req.log.error({ err: err.message, code: err.code, url: req.url }, 'request failed');
      if (status === 401) reply.header('www-authenticate', 'Bearer realm="crawlfleet"');
      return reply.code(status).send({ error: { code: err.code, message: err.message } });
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      return reply.code(400).send({ error: { code: 'validation', message: fe.message } });
    }
    const status = fe.statusCode ?? 500;
    if (status === 415) {
      return reply.code(415).send({ error: { code: 'validation', message: unsupportedMediaType(req.headers['content-type']) } });
    }
    if (status >= 500) req.log.error({ err: fe.message, url: req.url }, 'request failed');
    const code = status === 413 ? 'validation' : status === 404 ? 'not_found' : status < 500 ? 'validation' : 'internal';
    return reply.code(status).send({ error: { code, message: fe.message } });
  });

  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` } }));

  const control = openControlQueues(cfg.redis, ctx.keys, ctx.log);
  const schedulesQueue = control.queues.find((q) => q.name.endsWith('.schedules'));
  if (!schedulesQueue) throw new Error('the schedules control queue is missing');
  const schedules = new Schedules({
    redis: ctx.redis,
    keys: ctx.keys,
    queue: schedulesQueue,
    config: ctx.config,
    startSession: (request) => createSession({ sessions: ctx.sessions, tasks: ctx.tasks, outbox: ctx.outbox, config: ctx.config }, request),
    log: ctx.log,
  });
  const scheduleWorker = startScheduleWorker(schedules, cfg.redis, ctx.keys, ctx.log);
  const stats = new ClusterStats({ broker: ctx.broker, topology: ctx.topology, redis: ctx.redis, keys: ctx.keys, metrics: ctx.metrics, log: ctx.log, controlQueues: control.queues });
  app.addHook('onReady', async () => stats.start());
  app.addHook('onClose', async () => {
    await stats.stop();
    await scheduleWorker.close();
    await control.close();
  });
  try {
    await registerOpenApi(app, VERSION);
    registerOpsRoutes(app, ctx);
    registerSessionRoutes(app, { sessions: ctx.sessions, tasks: ctx.tasks, results: ctx.results, outbox: ctx.outbox, redis: ctx.redis, keys: ctx.keys, config: ctx.config });
    registerWarcRoutes(app, { sessions: ctx.sessions, config: ctx.config });
    registerUrlRoutes(app, { index: new CrawlIndex(ctx.redis, ctx.keys, () => ctx.config().index), config: ctx.config });
    registerScheduleRoutes(app, schedules, ctx.config);
    registerConfigRoutes(app, { redis: ctx.redis, keys: ctx.keys, center: ctx.center });
    registerReplicaRoutes(app, { redis: ctx.redis, keys: ctx.keys });
    registerOutcomesRoute(app, { sessions: ctx.sessions, results: ctx.results });
    registerStatsRoute(app, stats);
    await registerDashboard(app, control.queues);
    await registerConsole(app);
  } catch (err) {
    await scheduleWorker.close();
    await control.close();
    throw err;
  }
  return app;
}

export function createController(opts: ControllerOptions = {}): (ctx: ServiceContext) => Promise<ServiceHandle> {
  return async (ctx) => {
    const app = await buildApi(ctx, opts);
    // The samplers and control queues close with the HTTP server (after in-flight requests).
    return { http: app, close: async () => undefined };
  };
}

export const startController = createController();

/** Entry point: `crawlfleet controller`. */
export const main = (): Promise<unknown> => runService('controller', startController);
