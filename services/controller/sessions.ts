/**
 * The sessions API: validation of a crawl request (schema first, then the rules a schema
 * cannot express, each error naming its field), creation and seeding through the shared
 * admission path, status, NDJSON results, cancellation.
 *
 * Seeds are the user's explicit input, so what would silently drop a discovered link is a
 * 400 naming the seed: they are normalized with the stripped parameters (traps.stripParams),
 * must pass the spider-trap rules (traps.*), and must not point to an address the SSRF guard
 * forbids: IP literals are checked with the rest (`buildSpec`), host names afterwards by DNS
 * (`checkSeedHosts`, bounded by api.seedLookupTimeoutMs; a name that does not resolve in time
 * is accepted and its fetch records dns_failed or blocked_address).
 *
 * `POST /sessions/:id/pause` stops fetching a running session until `POST /sessions/:id/resume`,
 * which moves its deadline (and closeAt) later by the time it was paused.
 *
 * `DELETE /sessions/:id?purge=true` removes a finished session that was handed over: its
 * Redis keys, its entries in the sessions index and due set, its records and its files (results
 * file, WARC files, screenshots: shared/results/files.ts).
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Readable } from 'node:stream';
import * as cheerio from 'cheerio';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { admissionOptions, admitSeeds, sessionPolicy } from '../../shared/admission/index.js';
import type { Config } from '../../shared/config/index.js';
import type { RecrawlPolicy } from '../../shared/crawlindex/policy.js';
import { CrawlError } from '../../shared/errors/index.js';
import type { SessionRecord, SessionStore, TaskLedger } from '../../shared/ledger/index.js';
import type { Outbox } from '../../shared/pipeline/outbox.js';
import type { ResultsStore } from '../../shared/results/store.js';
import type { Keys } from '../../shared/redis/keys.js';
import { lookupHosts, type LookupAll } from '../../shared/net/lookup.js';
import { AddressPolicy } from '../../shared/net/ssrf.js';
import { DOCUMENT_KINDS, RECORD_FORMATS, RENDER_MODES, RENDER_RESOURCE_TYPES, type FinalizeSession, type SessionRequest, type SessionSpec } from '../../shared/tasks/types.js';
import { fingerprint, normalizeUrl } from '../../shared/url/normalize.js';
import { compileScope, defaultAllowedHosts, ScopeError } from '../../shared/url/scope.js';
import { redactSpec } from '../../shared/observability/redact.js';
import { requestStateSpec, requestStateSchema } from './request-state.js';
import { explainTrap, trapOf, type TrapReason, type TrapRules } from '../../shared/url/traps.js';
import { removeSessionFiles } from '../../shared/results/files.js';

/** The body of POST /sessions. */
export type CreateSessionBody = SessionRequest;

/** JSON schema of POST /sessions; limits that come from config are checked in `buildSpec`. */
export const createSessionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['seeds'],
  properties: {
    seeds: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
    maxPages: { type: 'integer', minimum: 1 },
    maxDepth: { type: 'integer', minimum: 0, maximum: 1000 },
    timeoutMs: { type: 'integer', minimum: 1000 },
    allowedHosts: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 260 }, maxItems: 1000 },
    include: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 100 },
    exclude: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 100 },
    fields: { type: 'object', additionalProperties: { type: 'string', minLength: 1, maxLength: 500 }, maxProperties: 100 },
    webhook: { type: 'string', minLength: 1, maxLength: 2048 },
    label: { type: 'string', maxLength: 200 },
    sitemaps: { type: 'boolean' },
    formats: { type: 'array', items: { type: 'string', enum: [...RECORD_FORMATS] }, uniqueItems: true },
    onlyMainContent: { type: 'boolean' },
    warc: { type: 'boolean' },
    warcRecordSecrets: { type: 'boolean' },
    ...requestStateSchema,
    documents: { type: 'array', items: { type: 'string', enum: [...DOCUMENT_KINDS] }, uniqueItems: true },
    recrawl: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxAgeMs: { type: 'integer', minimum: 1, maximum: 10 * 365 * 86_400_000 },
        conditional: { type: 'boolean' },
      },
    },
    render: { type: 'string', enum: [...RENDER_MODES] },
    waitFor: { type: 'string', minLength: 1, maxLength: 500 },
    renderTimeoutMs: { type: 'integer', minimum: 1000, maximum: 600_000 },
    blockResources: { type: 'array', items: { type: 'string', enum: [...RENDER_RESOURCE_TYPES] }, uniqueItems: true },
    screenshot: { type: 'boolean' },
  },
} as const;

function invalid(field: string, message: string): CrawlError {
  return new CrawlError('validation', `body/${field} ${message}`, { details: { field } });
}

/** The setting behind each spider-trap rule, named in a refusal. */
const TRAP_SETTINGS: Readonly<Record<TrapReason, string>> = {
  url_length: 'api.maxUrlLength',
  path_depth: 'traps.maxPathDepth',
  repeated_segments: 'traps.maxRepeatedSegments',
  query_params: 'traps.maxQueryParams',
};

/** The host of a normalized URL without IPv6 brackets. */
function hostOf(url: string): string {
  return new URL(url).hostname.replace(/^\[|\]$/g, '');
}

/** The request plus defaults → a session spec, or a validation error naming the field. */
export function buildSpec(body: CreateSessionBody, cfg: Config): SessionSpec {
  if (body.seeds.length > cfg.api.maxSeeds) throw invalid('seeds', `must NOT have more than ${cfg.api.maxSeeds} items`);
  const policy = new AddressPolicy(cfg.fetch.allowedNetworks);
  const admission = admissionOptions(cfg);
  const rules: TrapRules = { ...admission.traps, maxUrlLength: admission.maxUrlLength };
  const seeds: string[] = [];
  body.seeds.forEach((raw, i) => {
    if (raw.length > cfg.api.maxUrlLength) throw invalid(`seeds/${i}`, `must NOT be longer than ${cfg.api.maxUrlLength} characters`);
    const url = normalizeUrl(raw, undefined, { stripParams: admission.stripParams });
    if (url === null) throw invalid(`seeds/${i}`, `must be an absolute http or https URL, got ${JSON.stringify(raw)}`);
    if (new URL(url).port === '0') throw invalid(`seeds/${i}`, `has port 0; a port must be 1-65535, got ${JSON.stringify(raw)}`);
    const host = hostOf(url);
    if (net.isIP(host) !== 0 && !policy.permits(host)) {
      throw invalid(`seeds/${i}`, `points to a forbidden address (${host}); see fetch.allowedNetworks`);
    }
    const trap = trapOf(url, rules);
    if (trap !== null) throw invalid(`seeds/${i}`, `breaks the spider-trap rule ${trap} (${explainTrap(trap, rules)}); see ${TRAP_SETTINGS[trap]}`);
    seeds.push(url);
  });
  const maxPages = body.maxPages ?? cfg.session.defaultMaxPages;
  if (maxPages > cfg.session.maxPagesLimit) throw invalid('maxPages', `must be <= ${cfg.session.maxPagesLimit}`);
  const timeoutMs = body.timeoutMs ?? cfg.session.defaultTimeoutMs;
  if (timeoutMs > cfg.session.maxTimeoutMs) throw invalid('timeoutMs', `must be <= ${cfg.session.maxTimeoutMs}`);
  const scopeSpec = {
    allowedHosts: body.allowedHosts ?? defaultAllowedHosts(seeds),
    include: body.include ?? [],
    exclude: body.exclude ?? [],
  };
  try {
    compileScope(scopeSpec);
  } catch (err) {
    if (err instanceof ScopeError) throw invalid(`${err.field}/${err.index}`, err.message.replace(/^[^:]+: /, ''));
    throw err;
  }
  const fields = body.fields ?? {};
  const probe = cheerio.load('<html></html>');
  for (const [name, selector] of Object.entries(fields)) {
    try {
      probe(selector);
    } catch (err) {
      throw invalid(`fields/${name}`, `is not a valid CSS selector: ${(err as Error).message}`);
    }
  }
  if (body.waitFor !== undefined && body.waitFor !== 'load' && body.waitFor !== 'networkidle') {
    try {
      probe(body.waitFor);
    } catch (err) {
      throw invalid('waitFor', `must be load, networkidle or a valid CSS selector: ${(err as Error).message}`);
    }
  }
  let webhook: string | null = null;
  if (body.webhook !== undefined) {
    const u = normalizeUrl(body.webhook);
    if (u === null) throw invalid('webhook', 'must be an absolute http or https URL');
    webhook = body.webhook;
  }
  return {
    seeds,
    maxPages,
    maxDepth: body.maxDepth ?? cfg.session.defaultMaxDepth,
    timeoutMs,
    ...scopeSpec,
    fields,
    webhook,
    label: body.label ?? null,
    sitemaps: body.sitemaps ?? false,
    formats: [...(body.formats ?? cfg.content.defaultFormats)],
    onlyMainContent: body.onlyMainContent ?? true,
    ...(body.warc ? { warc: true } : {}),
    ...(body.warcRecordSecrets ? { warcRecordSecrets: true } : {}),
    ...requestStateSpec(body),
    documents: [...(body.documents ?? DOCUMENT_KINDS)],
    ...(body.recrawl ? { recrawl: recrawlSpec(body.recrawl, cfg) } : {}),
    ...renderSpec(body),
  };
}

/** The rendering options a request names (the renderer and the fetcher apply the config defaults to what is absent, live). */
function renderSpec(body: CreateSessionBody): Pick<SessionSpec, 'render' | 'waitFor' | 'renderTimeoutMs' | 'blockResources' | 'screenshot'> {
  return {
    ...(body.render !== undefined ? { render: body.render } : {}),
    ...(body.waitFor !== undefined ? { waitFor: body.waitFor } : {}),
    ...(body.renderTimeoutMs !== undefined ? { renderTimeoutMs: body.renderTimeoutMs } : {}),
    ...(body.blockResources !== undefined ? { blockResources: [...body.blockResources] } : {}),
    ...(body.screenshot !== undefined ? { screenshot: body.screenshot } : {}),
  };
}

/** A session's recrawl policy: maxAgeMs beyond the index's memory could never be met. */
function recrawlSpec(r: RecrawlPolicy, cfg: Config): RecrawlPolicy {
  if (r.maxAgeMs !== undefined && r.maxAgeMs > cfg.index.retentionMs) {
    throw invalid('recrawl/maxAgeMs', `must be <= index.retentionMs (${cfg.index.retentionMs}): the crawl index forgets a URL after that`);
  }
  return { ...(r.maxAgeMs !== undefined ? { maxAgeMs: r.maxAgeMs } : {}), ...(r.conditional !== undefined ? { conditional: r.conditional } : {}) };
}

/** The distinct host names (not IP literals) of normalized seeds, in order of first use. */
export function seedHostNames(seeds: readonly string[]): string[] {
  return [...new Set(seeds.map(hostOf).filter((host) => net.isIP(host) === 0))];
}

/**
 * The refusal of the first seed whose host resolved to an address the policy forbids (any of
 * its addresses), or null. Unresolved hosts (null) pass.
 */
export function forbiddenSeedHost(seeds: readonly string[], resolved: ReadonlyMap<string, readonly string[] | null>, policy: AddressPolicy): CrawlError | null {
  for (const [i, seed] of seeds.entries()) {
    const address = resolved.get(hostOf(seed))?.find((a) => !policy.permits(a));
    if (address !== undefined) return invalid(`seeds/${i}`, `resolves to a forbidden address (${address}); see fetch.allowedNetworks`);
  }
  return null;
}

/**
 * Resolves the seeds' host names (within api.seedLookupTimeoutMs for all of them; 0 = no
 * lookups) and throws the refusal of the first seed that resolves to a forbidden address.
 */
export async function checkSeedHosts(seeds: readonly string[], cfg: Config, lookup?: LookupAll): Promise<void> {
  const timeoutMs = cfg.api.seedLookupTimeoutMs;
  if (timeoutMs === 0) return;
  const resolved = await lookupHosts(seedHostNames(seeds), { timeoutMs, ...(lookup ? { lookup } : {}) });
  const refusal = forbiddenSeedHost(seeds, resolved, new AddressPolicy(cfg.fetch.allowedNetworks));
  if (refusal) throw refusal;
}

/** Sortable, URL-safe session id: time in base36 + 8 random hex digits. */
export function newSessionId(): string {
  return `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export function sessionJson(s: SessionRecord): Record<string, unknown> {
  return {
    id: s.id,
    status: s.status,
    createdAt: s.createdAt,
    deadlineAt: s.deadlineAt,
    finishedAt: s.finishedAt,
    counts: s.counts,
    seedsFailed: s.seedsFailed,
    recrawl: s.recrawl,
    traps: s.traps,
    limited: s.limited,
    retries: s.retries,
    partialAt: s.partialAt,
    pausedAt: s.pausedAt,
    pausedMs: s.pausedMs,
    resultsFile: s.resultsFile,
    handedOverAt: s.handedOverAt,
    cleaner: s.cleaner,
    // Header and cookie values are secrets: every answer shows them as ***.
    spec: redactSpec(s.spec),
  };
}

export interface SessionRoutesDeps {
  sessions: SessionStore;
  tasks: TaskLedger;
  results: ResultsStore;
  outbox: Outbox;
  /** The controller's Redis client and key builder (purge). */
  redis: Redis;
  keys: Keys;
  config(): Config;
}

const ID_PARAMS = { type: 'object', properties: { id: { type: 'string', pattern: '^[a-z0-9-]{1,64}$' } }, required: ['id'] } as const;
const RESULTS_PAGE = 1000;
const OUTCOMES = ['delivered', 'failed', 'skipped', 'cancelled'] as const;

/** The query of GET /sessions/:id/results. */
export const resultsQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    outcome: { type: 'string', enum: OUTCOMES },
    supplement: { type: 'boolean' },
    limit: { type: 'integer', minimum: 1, maximum: 100_000 },
    after: { type: 'string', pattern: '^[0-9]{1,19}$' },
    fields: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9]*(,[A-Za-z][A-Za-z0-9]*)*$', maxLength: 500 },
  },
} as const;

interface ResultsQuerystring {
  outcome?: (typeof OUTCOMES)[number];
  supplement?: boolean;
  limit?: number;
  after?: string;
  fields?: string;
}


/** Upper bound of offsets in query strings: any larger number is a 400, not a Redis error. */
export const MAX_QUERY_OFFSET = 2 ** 31 - 1;

/** Statuses a session can be purged in (nothing more is written to it once handed over). */
const PURGEABLE: ReadonlySet<string> = new Set(['completed', 'cancelled', 'closed']);

/** Every Redis key of one session, and its entries in the sessions index and due set. */
export async function deleteSessionKeys(redis: Redis, keys: Keys, id: string): Promise<number> {
  const sessionKeys = Object.values(keys.session(id)).filter((k): k is string => typeof k === 'string');
  // Session keys share one hash tag; the index and the due set live in other slots.
  const removed = await redis.unlink(...sessionKeys);
  await Promise.all([redis.zrem(keys.sessionsIndex, id), redis.zrem(keys.sessionsDue, id)]);
  return removed;
}

/**
 * Removes a session that is finished and handed over; 404 unknown, 409 while it runs, is
 * partial (supplements still arrive) or is not handed over yet.
 */
export async function purgeSession(deps: Pick<SessionRoutesDeps, 'sessions' | 'results' | 'redis' | 'keys' | 'config'>, id: string): Promise<{ id: string; purged: true; keys: number }> {
  const s = await deps.sessions.get(id);
  if (!s) throw new CrawlError('not_found', `session ${id} not found`);
  if (!PURGEABLE.has(s.status)) {
    throw new CrawlError('conflict', `session ${id} is ${s.status}; only a completed, cancelled or closed session can be purged (cancel it first)`);
  }
  if (s.handedOverAt === null) throw new CrawlError('conflict', `session ${id} is ${s.status} but not handed over yet (results file, webhook); retry in a moment`);
  // Its records, then its files (results file, WARC files, screenshots), then its keys.
  await deps.results.deleteSession(id);
  await removeSessionFiles(deps.config(), id);
  const removed = await deleteSessionKeys(deps.redis, deps.keys, id);
  return { id, purged: true, keys: removed };
}

/** Validates a session request (beyond its JSON schema), creates the session and admits its seeds; answers its id. */
export async function createSession(deps: Pick<SessionRoutesDeps, 'sessions' | 'tasks' | 'outbox' | 'config'>, body: CreateSessionBody): Promise<string> {
  const cfg = deps.config();
  const spec = buildSpec(body, cfg);
  await checkSeedHosts(spec.seeds, cfg);
  const id = newSessionId();
  await deps.sessions.create(id, spec, cfg.session.closeAfterMs);
  await admitSeeds({ tasks: deps.tasks, outbox: deps.outbox, admitLeaseMs: cfg.task.admitLeaseMs }, sessionPolicy(id, spec), admissionOptions(cfg));
  return id;
}

export function registerSessionRoutes(app: FastifyInstance, deps: SessionRoutesDeps): void {
  const { sessions, results, outbox } = deps;

  const load = async (id: string): Promise<SessionRecord> => {
    const s = await sessions.get(id);
    if (!s) throw new CrawlError('not_found', `session ${id} not found`);
    return s;
  };

  app.post<{ Body: CreateSessionBody }>('/sessions', { schema: { body: createSessionSchema } }, async (req, reply) => {
    const id = await createSession(deps, req.body);
    req.log.info({ sessionId: id }, 'session created');
    return reply.code(201).send(sessionJson(await load(id)));
  });

  app.get<{ Querystring: { limit?: number; offset?: number } }>('/sessions', {
    schema: { querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 }, offset: { type: 'integer', minimum: 0, maximum: MAX_QUERY_OFFSET, default: 0 } } } },
  }, async (req) => {
    const ids = await sessions.listIds(req.query.limit ?? 50, req.query.offset ?? 0);
    const found = await Promise.all(ids.map((id) => sessions.get(id)));
    return { sessions: found.filter((s): s is SessionRecord => s !== null).map(sessionJson) };
  });

  app.get<{ Params: { id: string } }>('/sessions/:id', { schema: { params: ID_PARAMS } }, async (req) => sessionJson(await load(req.params.id)));

  /**
   * The session's records as NDJSON from the results store, in write order: all of them, or
   * one page of `limit` after the cursor `after` (the next cursor in X-Next-Cursor, absent at
   * the end); filtered by outcome and supplement; `fields` keeps only the named keys.
   */
  app.get<{ Params: { id: string }; Querystring: ResultsQuerystring }>('/sessions/:id/results', {
    schema: { params: ID_PARAMS, querystring: resultsQuerySchema },
  }, async (req, reply) => {
    const id = req.params.id;
    await load(id);
    const { outcome, supplement, limit } = req.query;
    // The store hands each record over as its JSON text (projected to `fields`): the lines go out as they are.
    const filter = { ...(outcome ? { outcome } : {}), ...(supplement !== undefined ? { supplement } : {}), ...(req.query.fields ? { fields: req.query.fields.split(',') } : {}) };
    if (limit !== undefined) {
      const page = await results.lines(id, { ...filter, limit, after: req.query.after ?? null });
      if (page.next !== null) reply.header('x-next-cursor', page.next);
      return reply.type('application/x-ndjson; charset=utf-8').send(page.lines.map((l) => l + '\n').join(''));
    }
    async function* lines(): AsyncGenerator<string> {
      let after: string | null = req.query.after ?? null;
      do {
        const page = await results.lines(id, { ...filter, limit: RESULTS_PAGE, after });
        if (page.lines.length > 0) yield page.lines.map((l) => l + '\n').join('');
        after = page.next;
      } while (after !== null);
    }
    return reply.type('application/x-ndjson; charset=utf-8').send(Readable.from(lines()));
  });

  /** The record of one URL of the session (normalized as admission normalizes it). */
  app.get<{ Params: { id: string }; Querystring: { url: string } }>('/sessions/:id/page', {
    schema: { params: ID_PARAMS, querystring: { type: 'object', additionalProperties: false, required: ['url'], properties: { url: { type: 'string', minLength: 1, maxLength: 8192 } } } },
  }, async (req) => {
    const id = req.params.id;
    await load(id);
    const url = normalizeUrl(req.query.url, undefined, { stripParams: deps.config().traps.stripParams });
    if (url === null) throw new CrawlError('validation', 'querystring/url must be an absolute http or https URL', { details: { field: 'url' } });
    const record = await results.get(id, fingerprint(url));
    if (!record) throw new CrawlError('not_found', `${url} has no record in session ${id}`);
    return record;
  });

  /** running → paused: no task of it is fetched until resume (see services/fetcher/index.ts). */
  app.post<{ Params: { id: string } }>('/sessions/:id/pause', { schema: { params: ID_PARAMS } }, async (req) => {
    const id = req.params.id;
    const r = await sessions.pause(id);
    if (r.kind === 'unknown') throw new CrawlError('not_found', `session ${id} not found`);
    if (r.kind === 'conflict') throw new CrawlError('conflict', `session ${id} is ${r.status}; only a running session can be paused`);
    req.log.info({ sessionId: id }, 'session paused');
    return sessionJson(await load(id));
  });

  /** paused → running, the deadline and closeAt moved later by the time paused. */
  app.post<{ Params: { id: string } }>('/sessions/:id/resume', { schema: { params: ID_PARAMS } }, async (req) => {
    const id = req.params.id;
    const r = await sessions.resume(id);
    if (r.kind === 'unknown') throw new CrawlError('not_found', `session ${id} not found`);
    if (r.kind === 'conflict') throw new CrawlError('conflict', `session ${id} is ${r.status}; only a paused session can be resumed`);
    // Every task ended while it was paused: it completes now and is handed over.
    if (r.completed) await outbox.send('deliver', { kind: 'finalize', sessionId: id, status: 'completed' } satisfies FinalizeSession);
    req.log.info({ sessionId: id, deadlineAt: new Date(r.deadlineAt).toISOString(), completed: r.completed }, 'session resumed');
    return sessionJson(await load(id));
  });

  app.delete<{ Params: { id: string }; Querystring: { purge?: boolean } }>('/sessions/:id', {
    schema: { params: ID_PARAMS, querystring: { type: 'object', additionalProperties: false, properties: { purge: { type: 'boolean', default: false } } } },
  }, async (req) => {
    const id = req.params.id;
    if (req.query.purge === true) {
      const r = await purgeSession(deps, id);
      req.log.info({ sessionId: id, keys: r.keys }, 'session purged');
      return r;
    }
    const r = await sessions.cancel(id);
    if (r.kind === 'unknown') throw new CrawlError('not_found', `session ${id} not found`);
    if (r.kind === 'ok') {
      // The fetchers stop its tasks before their next request (the control channel); tasks
      // still queued end as cancelled when claimed, records on their way when delivered; the
      // cleaner ends the rest after a lease and writes the results file again then.
      await sessions.scheduleSweep(id, Date.now() + deps.config().task.leaseMs);
      await outbox.send('deliver', { kind: 'finalize', sessionId: id, status: 'cancelled' } satisfies FinalizeSession);
    }
    return sessionJson(await load(id));
  });
}
