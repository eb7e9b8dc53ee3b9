/**
 * The config center's API: effective values with their origin and version, partial
 * updates validated as a whole (optionally compare-and-set on the version), the audit
 * history, rollback, and the schema. A write answers with its rollout measured right after
 * it (how many live replicas already run the new version: often none yet at that instant;
 * GET /config/rollout follows it).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { patchLive, readHistory, readLive, rollbackLive, type ConfigCenter } from '../../shared/config/center.js';
import { getKey, loadConfig, redacted, schemaEntries } from '../../shared/config/index.js';
import { CrawlError } from '../../shared/errors/index.js';
import type { Keys } from '../../shared/redis/keys.js';
import { measureRollout } from './replicas.js';

export interface ConfigRoutesDeps {
  redis: Redis;
  keys: Keys;
  center: ConfigCenter;
}

/** Who made a change, for the audit trail: the X-Actor header, else the client address. */
function actor(req: FastifyRequest): string {
  const named = req.headers['x-actor'];
  return (typeof named === 'string' && named.trim() !== '' ? named.trim().slice(0, 100) : `api@${req.ip}`);
}

function expectedVersion(req: FastifyRequest<{ Querystring: { expectedVersion?: number } }>): number | undefined {
  if (req.query.expectedVersion !== undefined) return req.query.expectedVersion;
  const ifMatch = req.headers['if-match'];
  if (typeof ifMatch === 'string' && ifMatch.trim() !== '') {
    const n = Number(ifMatch.replace(/"/g, '').trim());
    if (!Number.isInteger(n) || n < 0) throw new CrawlError('validation', 'If-Match must be a config version number');
    return n;
  }
  return undefined;
}

const VERSION_QUERY = { type: 'object', additionalProperties: false, properties: { expectedVersion: { type: 'integer', minimum: 0 } } } as const;

export function registerConfigRoutes(app: FastifyInstance, deps: ConfigRoutesDeps): void {
  const { redis, keys, center } = deps;

  const effective = async (): Promise<Record<string, unknown>> => {
    const live = await readLive(redis, keys);
    // The controller's own snapshot may lag the store by a push; answer from the store.
    const loaded = loadConfig({ ...center.base, overrides: live.overrides });
    const values = redacted(loaded.config);
    const settings = schemaEntries().map((e) => ({
      key: e.key,
      value: getKey(values as never, e.key),
      origin: loaded.origins[e.key],
    }));
    return { version: live.version, updatedAt: live.updatedAt ? new Date(live.updatedAt).toISOString() : null, updatedBy: live.updatedBy, values, settings, overrides: live.overrides };
  };

  app.get('/config', async () => effective());

  app.get<{ Params: { key: string } }>('/config/keys/:key', {
    schema: { params: { type: 'object', required: ['key'], properties: { key: { type: 'string', minLength: 1, maxLength: 200 } } } },
  }, async (req) => {
    const all = await effective();
    const s = (all.settings as { key: string }[]).find((x) => x.key === req.params.key);
    if (!s) throw new CrawlError('not_found', `${req.params.key}: unknown setting`);
    return { version: all.version, ...s };
  });

  app.get('/config/schema', async () => ({ settings: schemaEntries().map((e) => ({ ...e, default: e.sensitive && e.default !== '' ? '***' : e.default })) }));

  app.patch<{ Body: Record<string, unknown>; Querystring: { expectedVersion?: number } }>('/config', {
    schema: { body: { type: 'object', minProperties: 1 }, querystring: VERSION_QUERY },
  }, async (req) => {
    const result = await patchLive(redis, keys, req.body, { who: actor(req), expectedVersion: expectedVersion(req), base: center.base });
    req.log.info({ version: result.version, changes: result.changes }, 'config changed');
    return { version: result.version, changes: result.changes, rollout: await measureRollout(redis, keys, result.version) };
  });

  app.get<{ Querystring: { limit?: number } }>('/config/history', {
    schema: { querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 } } } },
  }, async (req) => {
    const entries = await readHistory(redis, keys, req.query.limit ?? 50);
    return { history: entries.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) };
  });

  app.post<{ Body: { version: number }; Querystring: { expectedVersion?: number } }>('/config/rollback', {
    schema: {
      body: { type: 'object', additionalProperties: false, required: ['version'], properties: { version: { type: 'integer', minimum: 0 } } },
      querystring: VERSION_QUERY,
    },
  }, async (req) => {
    const result = await rollbackLive(redis, keys, req.body.version, { who: actor(req), expectedVersion: expectedVersion(req), base: center.base });
    return { version: result.version, changes: result.changes, rolledBackTo: req.body.version, rollout: await measureRollout(redis, keys, result.version) };
  });
}
