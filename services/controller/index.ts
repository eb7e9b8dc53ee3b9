/**
 * Controller: the HTTP API (fastify). Sessions, results, ops endpoints; bearer-token auth
 * on every API route when `api.token` is set; errors as `{ error: { code, message } }`
 * with the status their catalogue code implies.
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { CrawlError, type ErrorCode } from '../../shared/errors/index.js';
import { registerOpsRoutes, runService, type ServiceContext, type ServiceHandle } from '../../shared/service/runtime.js';
import { registerConfigRoutes } from './config.js';
import { registerSessionRoutes } from './sessions.js';

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  validation: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  config_invalid: 400,
  unavailable: 503,
};

/** Constant-time comparison of a presented bearer token with the configured one. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1] as string);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

const OPEN_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export function buildApi(ctx: ServiceContext): FastifyInstance {
  const cfg = ctx.config();
  const app = Fastify({
    logger: false,
    bodyLimit: cfg.api.bodyLimitBytes,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
    // "body/seeds/0 must be string", "body must NOT have additional properties (bogus)"
    schemaErrorFormatter: (errors, dataVar) => {
      const e = errors[0];
      if (!e) return new Error(`${dataVar} is invalid`);
      const path = `${dataVar}${e.instancePath}`;
      const extra = e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})` : '';
      return new Error(`${path} ${e.message ?? 'is invalid'}${extra}`);
    },
  });

  app.addHook('onRequest', async (req) => {
    const token = ctx.config().api.token;
    const path = req.url.split('?')[0] ?? '';
    if (!token || OPEN_PATHS.has(path)) return;
    if (!tokenMatches(req.headers.authorization, token)) {
      throw new CrawlError('unauthorized', 'missing or wrong bearer token');
    }
  });

  app.setErrorHandler((err: FastifyError | CrawlError, req, reply) => {
    if (err instanceof CrawlError) {
      const status = HTTP_STATUS[err.code] ?? 500;
      if (status >= 500) ctx.log.error({ err: err.message, code: err.code, url: req.url }, 'request failed');
      return reply.code(status).send({ error: { code: err.code, message: err.message } });
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      return reply.code(400).send({ error: { code: 'validation', message: fe.message } });
    }
    const status = fe.statusCode ?? 500;
    if (status >= 500) ctx.log.error({ err: fe.message, url: req.url }, 'request failed');
    const code = status === 413 ? 'validation' : status === 404 ? 'not_found' : status < 500 ? 'validation' : 'internal';
    return reply.code(status).send({ error: { code, message: fe.message } });
  });

  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` } }));

  registerOpsRoutes(app, ctx);
  registerSessionRoutes(app, { ledger: ctx.ledger, broker: ctx.broker, config: ctx.config });
  registerConfigRoutes(app, { redis: ctx.redis, keys: ctx.keys, center: ctx.center });
  return app;
}

export async function startController(ctx: ServiceContext): Promise<ServiceHandle> {
  const app = buildApi(ctx);
  return { http: app, close: async () => undefined };
}

/** Entry point: `crawlfleet controller`. */
export const main = (): Promise<unknown> => runService('controller', startController);
