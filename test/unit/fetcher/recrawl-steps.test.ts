/**
 * The fetcher's recrawl step and the 304 route: a fresh page goes to the extractor without a
 * request, a stale one is fetched (conditionally when asked), a 304 to a conditional request
 * is the last fetch's page; the index entry a response makes.
 */
import assert from 'node:assert/strict';
import { sessionPolicy } from '../../../shared/admission/index.js';
import type { IndexEntry } from '../../../shared/crawlindex/entry.js';
import type { FetchResponse } from '../../../shared/fetch/seam.js';
import type { SessionSpec } from '../../../shared/tasks/types.js';
import { conditionalHeaders } from '../../../services/fetcher/http.js';
import { indexEntryOf, recrawlStep, routeStep, type FetchJob } from '../../../services/fetcher/steps.js';

const NOW = Date.parse('2026-12-06T12:00:00Z');
const base: SessionSpec = { seeds: ['http://site.test/'], maxPages: 10, maxDepth: 3, timeoutMs: 60_000, allowedHosts: ['site.test'], include: [], exclude: [], fields: {}, webhook: null, label: null };
const previous: IndexEntry = { fetchedAt: NOW - 60_000, status: 200, contentHash: 'sha256:0123456789ab', sessionId: 'first', lastModified: Date.parse('2026-12-01T00:00:00Z'), etag: '"v1"' };

function job(spec: Partial<SessionSpec>, role?: 'robots' | 'sitemap'): FetchJob {
  return {
    task: { sessionId: 's2', taskId: 't', url: 'http://site.test/a', depth: 1, attempt: 0, admittedAt: 0, parent: 'http://site.test/', ...(role ? { role } : {}) },
    attempt: 1,
    session: sessionPolicy('s2', { ...base, ...spec }),
    target: new URL('http://site.test/a'),
    crawlDelayS: null,
  };
}

function response(status: number, headers: Record<string, string> = {}, body = ''): FetchResponse {
  return { status, finalUrl: 'http://site.test/a', headers, body: Buffer.from(body), redirects: 0, ms: 3, truncated: false };
}

const routeDeps = { htmlTypes: ['text/html'], penalize: async () => undefined, now: () => NOW };

describe('fetcher recrawl step', () => {
  it('asks nothing of the index for a session without recrawl, nor for robots.txt and sitemaps', async () => {
    let asked = 0;
    const lookup = async () => { asked++; return previous; };
    assert.deepEqual(await recrawlStep(job({}), lookup, () => NOW), { kind: 'next' });
    assert.deepEqual(await recrawlStep(job({ recrawl: { maxAgeMs: 3_600_000 } }, 'sitemap'), lookup, () => NOW), { kind: 'next' });
    assert.equal(asked, 0);
  });

  it('a fresh page goes to the extractor without a body, carrying the entry', async () => {
    const v = await recrawlStep(job({ recrawl: { maxAgeMs: 3_600_000 } }), async () => previous, () => NOW);
    assert.equal(v.kind, 'page');
    if (v.kind !== 'page') return;
    assert.deepEqual(v.page.reuse, { kind: 'fresh', previous });
    assert.equal(v.page.body.length, 0);
    assert.equal(v.page.fetchedAt, previous.fetchedAt);
    assert.deepEqual([v.page.sessionId, v.page.taskId, v.page.depth, v.page.parent], ['s2', 't', 1, 'http://site.test/']);
  });

  it('a stale page is fetched, with validators when conditional', async () => {
    const stale = job({ recrawl: { maxAgeMs: 1000 } });
    assert.deepEqual(await recrawlStep(stale, async () => previous, () => NOW), { kind: 'next' });
    assert.equal(stale.validators, null);
    const conditional = job({ recrawl: { conditional: true } });
    assert.deepEqual(await recrawlStep(conditional, async () => previous, () => NOW), { kind: 'next' });
    assert.deepEqual(conditional.validators, { ifNoneMatch: '"v1"', ifModifiedSince: 'Tue, 01 Dec 2026 00:00:00 GMT' });
    assert.deepEqual(conditionalHeaders(conditional.validators ?? undefined), { 'if-none-match': '"v1"', 'if-modified-since': 'Tue, 01 Dec 2026 00:00:00 GMT' });
    assert.deepEqual(conditionalHeaders(undefined), {});
  });

  it('a 304 to a conditional request is the last fetch\'s page; a 304 nobody asked for is an error', async () => {
    const j = job({ recrawl: { conditional: true } });
    await recrawlStep(j, async () => previous, () => NOW);
    const v = await routeStep(j, response(304, { etag: '"v1"' }), routeDeps);
    assert.equal(v.kind, 'page');
    if (v.kind === 'page') {
      assert.deepEqual(v.page.reuse, { kind: 'notModified', previous });
      assert.deepEqual([v.page.status, v.page.fetchedAt, v.page.headers.etag], [304, NOW, '"v1"']);
    }
    const unasked = await routeStep(job({}), response(304), routeDeps);
    assert.equal(unasked.kind, 'fail');
  });

  it('the index entry of a response: validators and hash; a 304 keeps the revalidated body\'s hash and validators', async () => {
    const j = job({ recrawl: { conditional: true } });
    const fresh = indexEntryOf(j, response(200, { etag: '"v2"', 'last-modified': 'Wed, 02 Dec 2026 00:00:00 GMT' }, 'x'), NOW, `sha256:${'ab'.repeat(32)}`);
    assert.deepEqual(fresh, { fetchedAt: NOW, status: 200, contentHash: 'sha256:abababababab', sessionId: 's2', etag: '"v2"', lastModified: Date.parse('2026-12-02T00:00:00Z') });
    await recrawlStep(j, async () => previous, () => NOW);
    const revalidated = indexEntryOf(j, response(304), NOW, null);
    assert.deepEqual(revalidated, { fetchedAt: NOW, status: 304, contentHash: previous.contentHash, sessionId: 's2', etag: '"v1"', lastModified: previous.lastModified });
    const gone = indexEntryOf(job({}), response(404), NOW, null);
    assert.deepEqual([gone.status, gone.contentHash, gone.etag], [404, null, null]);
  });
});
