/**
 * Who may call the API, and how often. One `onRequest` hook, before any body is read:
 *
 *  1. Open paths (probes, /metrics, /openapi.json) pass untouched: never limited, never
 *     authenticated, so Kubernetes and Prometheus are not throttled. So do the web console's
 *     static page and assets (`/`, `/console/…`, console.ts): its login form takes the token
 *     and the console sends it as a bearer header on every API call.
 *  2. Rate limit: a token bucket per API token (requests that present the right one) or
 *     else per client address; over the limit → 429 with `Retry-After`.
 *  3. With a token, everything else needs it: `Authorization: Bearer <token>`, or, under
 *     the dashboard path only, the dashboard cookie. The token is `api.token`, or, when
 *     that is empty, the one in `api.tokenFile` (read, or generated and written, when the
 *     API is built: token-file.ts). A browser gets the cookie by
 *     opening `/admin/queues?token=<token>` once: the answer sets it (HttpOnly,
 *     SameSite=Strict, Path=/admin/queues) and redirects to the same address without the
 *     token. Static assets of the dashboard are behind the same check.
 *
 * Refusals are sent from the hook itself (not thrown), so that they keep the API's error
 * shape on routes with an error handler of their own (bull-board's).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../shared/config/index.js';
import { dashboardCookieValue, parseCookies, safeEqual, serializeCookie, tokenFingerprint, tokenMatches } from '../../shared/http/auth.js';
import { TokenBuckets } from '../../shared/http/rate-limit.js';
import type { Metrics } from '../../shared/observability/metrics.js';
import { isConsolePath } from './console.js';
import { OPEN_PATHS } from './openapi.js';
import { loadOrCreateTokenFile } from './token-file.js';

export const DASHBOARD_PATH = '/admin/queues';
export const DASHBOARD_COOKIE = 'crawlfleet_dashboard';
const DASHBOARD_COOKIE_MAX_AGE_S = 12 * 3600;

/** `api.rateLimitPerMinute`, read on every request so a live change applies at once. */
export function rateLimitPerMinute(cfg: Config): number {
  return cfg.api.rateLimitPerMinute;
}

export interface SecurityOptions {
  config(): Config;
  metrics: Pick<Metrics, 'httpRateLimited'>;
  /** Overrides the setting (tests). 0 turns the limit off. */
  rateLimitPerMinute?: number;
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

export function isDashboardPath(path: string): boolean {
  return path === DASHBOARD_PATH || path.startsWith(`${DASHBOARD_PATH}/`);
}

function refuse(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ error: { code, message } });
}

/** True when the request carries the token: bearer header anywhere, cookie on the dashboard. */
function presentsToken(req: FastifyRequest, token: string, dashboard: boolean): boolean {
  if (tokenMatches(req.headers.authorization, token)) return true;
  if (!dashboard) return false;
  const cookie = parseCookies(req.headers.cookie).get(DASHBOARD_COOKIE);
  return cookie !== undefined && safeEqual(cookie, dashboardCookieValue(token));
}

/** The dashboard URL without its `token` parameter (where the login redirects to). */
function withoutToken(url: string): string {
  const u = new URL(url, 'http://x');
  u.searchParams.delete('token');
  return u.pathname + (u.searchParams.size > 0 ? `?${u.searchParams.toString()}` : '');
}

/**
 * The token of `api.tokenFile` when `api.token` is empty and a file is named, else ''.
 * Logs where the token is (never the token).
 */
function fileToken(app: FastifyInstance, cfg: Config): string {
  const path = cfg.api.tokenFile;
  if (cfg.api.token !== '' || path === '') return '';
  const { token, created } = loadOrCreateTokenFile(path);
  if (created) app.log.warn({ tokenFile: path }, `api.token is empty: generated an API token into ${path}; send it as "Authorization: Bearer <token>"`);
  else app.log.info({ tokenFile: path }, `API token read from ${path} (api.tokenFile)`);
  return token;
}

export function registerSecurity(app: FastifyInstance, opts: SecurityOptions): void {
  const buckets = new TokenBuckets();
  const tokenOfFile = fileToken(app, opts.config());

  app.addHook('onRequest', async (req, reply) => {
    const path = pathOf(req.url);
    if (OPEN_PATHS.has(path) || isConsolePath(path)) return;
    const cfg = opts.config();
    const token = cfg.api.token !== '' ? cfg.api.token : tokenOfFile;
    const dashboard = isDashboardPath(path);
    const query = req.query as Record<string, unknown> | undefined;
    const loginToken = dashboard && req.method === 'GET' && typeof query?.token === 'string' ? query.token : null;
    const authenticated = token !== '' && (presentsToken(req, token, dashboard) || (loginToken !== null && safeEqual(loginToken, token)));

    const perMinute = opts.rateLimitPerMinute ?? rateLimitPerMinute(cfg);
    if (perMinute > 0) {
      const key = authenticated ? `token:${tokenFingerprint(token)}` : `ip:${req.ip}`;
      const decision = buckets.take(key, perMinute);
      if (!decision.allowed) {
        opts.metrics.httpRateLimited.inc();
        reply.header('retry-after', String(decision.retryAfterS));
        return refuse(reply, 429, 'http_rate_limited', `rate limit of ${perMinute} requests per minute exceeded; retry after ${decision.retryAfterS} s`);
      }
    }

    if (token === '') return;
    if (!authenticated) {
      reply.header('www-authenticate', 'Bearer realm="crawlfleet"');
      return refuse(reply, 401, 'unauthorized', 'missing or wrong bearer token');
    }
    if (loginToken !== null) {
      reply.header('set-cookie', serializeCookie(DASHBOARD_COOKIE, dashboardCookieValue(token), { path: DASHBOARD_PATH, maxAgeS: DASHBOARD_COOKIE_MAX_AGE_S, secure: req.protocol === 'https' }));
      reply.header('cache-control', 'no-store');
      return reply.redirect(withoutToken(req.url), 303);
    }
  });
}
