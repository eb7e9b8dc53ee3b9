/**
 * `GET /urls?url=<url>`: what the crawl index (shared/crawlindex) holds of a URL, its last
 * fetch by any session. The URL is normalized as admission normalizes links.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../shared/config/index.js';
import type { CrawlIndex, IndexEntry } from '../../shared/crawlindex/index.js';
import { CrawlError } from '../../shared/errors/index.js';
import { fingerprint, normalizeUrl } from '../../shared/url/normalize.js';

/** The API's view of an index entry. */
export function urlEntryJson(url: string, fp: string, e: IndexEntry, retentionMs: number): Record<string, unknown> {
  return {
    url,
    fingerprint: fp,
    fetchedAt: new Date(e.fetchedAt).toISOString(),
    status: e.status,
    contentHash: e.contentHash,
    sessionId: e.sessionId,
    etag: e.etag,
    lastModified: e.lastModified === null ? null : new Date(e.lastModified).toISOString(),
    expiresAt: new Date(e.fetchedAt + retentionMs).toISOString(),
  };
}

export function registerUrlRoutes(app: FastifyInstance, deps: { index: CrawlIndex; config(): Config }): void {
  app.get<{ Querystring: { url: string } }>('/urls', {
    schema: { querystring: { type: 'object', additionalProperties: false, required: ['url'], properties: { url: { type: 'string', minLength: 1, maxLength: 8192 } } } },
  }, async (req) => {
    const cfg = deps.config();
    const url = normalizeUrl(req.query.url, undefined, { stripParams: cfg.traps.stripParams });
    if (url === null) throw new CrawlError('validation', 'querystring/url must be an absolute http or https URL', { details: { field: 'url' } });
    const fp = fingerprint(url);
    const entry = await deps.index.get(fp);
    if (!entry) throw new CrawlError('not_found', `${url} was never fetched (or the crawl index forgot it after index.retentionMs)`);
    return urlEntryJson(url, fp, entry, cfg.index.retentionMs);
  });
}
