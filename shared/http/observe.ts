/**
 * Request ids, request logs and request metrics for a fastify server.
 *
 * Every request gets an id: the caller's `X-Request-Id` when it is a sane token, else a
 * random UUID. It is echoed in the response header and bound to `req.log` as `requestId`,
 * so every line a handler logs carries it. One line per answered request at debug level
 * (method, path with secrets redacted, route, status, ms); metrics by route template, so
 * that raw paths (session ids) never become label values.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';

export const REQUEST_ID_HEADER = 'x-request-id';
const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdOf(raw: IncomingMessage): string {
  const presented = raw.headers[REQUEST_ID_HEADER];
  return typeof presented === 'string' && SANE_ID.test(presented) ? presented : randomUUID();
}

/**
 * Fastify's own request lines ("incoming request", "request completed" at info) are
 * replaced by the one debug line of `observeRequests`; its other lines (stream and
 * serializer errors, a request that failed while answering) stay.
 */
class RequestLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, _request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ err: error.message, statusCode: reply.statusCode }, 'request errored');
  }
}

/** Fastify options: log through `log`, a child per request carrying `requestId`. */
export function loggingOptions(log: Logger): Pick<FastifyServerOptions, 'loggerInstance' | 'logController' | 'genReqId'> {
  return {
    loggerInstance: log,
    logController: new RequestLogController({ requestIdLogLabel: 'requestId' }),
    genReqId: requestIdOf,
  };
}

/** `url` with the values of the named query parameters replaced by `***`. */
export function redactQuery(url: string, names: readonly string[]): string {
  const q = url.indexOf('?');
  if (q < 0 || names.length === 0) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((p) => {
      const eq = p.indexOf('=');
      const name = decodeURIComponentSafe(eq < 0 ? p : p.slice(0, eq));
      return names.includes(name) ? `${p.slice(0, eq < 0 ? p.length : eq)}=***` : p;
    });
  return `${url.slice(0, q)}?${params.join('&')}`;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

export interface ObserveOptions {
  metrics?: Pick<Metrics, 'httpRequests' | 'httpSeconds'>;
  /** Query parameters never written to logs (e.g. `token`). */
  secretQueryParams?: readonly string[];
}

/** Adds the request id header, the debug request line and the request metrics. Register before other hooks. */
export function observeRequests(app: FastifyInstance, opts: ObserveOptions = {}): void {
  const secret = opts.secretQueryParams ?? [];
  app.addHook('onRequest', async (req, reply) => {
    reply.header(REQUEST_ID_HEADER, req.id);
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const ms = reply.elapsedTime;
    opts.metrics?.httpRequests.inc({ method: req.method, route, status_code: String(reply.statusCode) });
    opts.metrics?.httpSeconds.observe({ method: req.method, route }, ms / 1000);
    req.log.debug({ method: req.method, url: redactQuery(req.url, secret), route, statusCode: reply.statusCode, ms: Math.round(ms * 10) / 10, ip: req.ip }, 'request');
  });
}
