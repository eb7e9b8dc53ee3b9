/**
 * Sitemap seeding end to end: a session with `"sitemaps": true` on the adversarial site
 * (robots.txt lists a sitemap index; plain, gzipped and text sitemaps; a 404 one, an
 * out-of-scope and a forbidden URL, a robots-disallowed page, a gzip bomb) delivers exactly
 * the pages its sitemaps list, skips the disallowed one without fetching it, never admits
 * the refused URLs, and records each robots.txt and sitemap document with its role. The
 * five services run as real processes; the oracle checks the invariants.
 */
import assert from 'node:assert/strict';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { AdversarialSite, ROBOTS_CASES, sitemapExpectations } from '../sites/adversarial.js';
import { checkInvariants, waitFinished } from '../support/oracle.js';
import { http, startTestStack, type TestStack } from '../support/stack.js';

describe('sitemap seeding (five processes, adversarial site)', function () {
  this.timeout(90_000);
  let site: AdversarialSite;
  let stack: TestStack;
  let origin: string;

  before(async () => {
    site = new AdversarialSite({ host: '127.0.0.2', robots: ROBOTS_CASES.sitemaps });
    origin = await site.start();
    stack = await startTestStack({ fetchers: 1, env: { FETCH_ALLOWED_NETWORKS: '127.0.0.2/32', RETRY_MAX_ATTEMPTS: '1' } });
  });

  after(async () => {
    await stack?.stop();
    await site?.stop();
  });

  async function crawl(body: Record<string, unknown>): Promise<{ id: string; records: ResultRecord[] }> {
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', body);
    assert.equal(created.status, 201, created.text);
    const s = await waitFinished(stack.api, created.body.id, 60_000);
    assert.equal(s.status, 'completed');
    const res = await http(stack.api, 'GET', `/sessions/${created.body.id}/results`);
    return { id: created.body.id, records: res.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord) };
  }

  it('delivers exactly the pages the sitemaps list, skips the disallowed, never admits the refused', async () => {
    const want = sitemapExpectations(origin);
    const seed = `${origin}/`;
    const robotsTxt = `${origin}/robots.txt`;
    site.resetStats();
    const { id, records } = await crawl({ seeds: [seed], sitemaps: true, maxDepth: 0 });
    const expected = new Set([seed, robotsTxt, ...want.sitemaps, ...want.pages, ...want.disallowed]);
    await checkInvariants(stack.api, stack.ns, id, expected);

    const byUrl = new Map(records.map((r) => [r.url, r]));
    const robots = byUrl.get(robotsTxt);
    assert.equal(robots?.role, 'robots');
    assert.equal(robots?.outcome, 'delivered');
    assert.equal(robots?.links, 2, 'robots.txt: the index it lists and /sitemap.xml');
    for (const url of want.sitemaps) {
      const r = byUrl.get(url);
      assert.equal(r?.role, 'sitemap', url);
      if (url.endsWith('/sitemap-missing.xml')) assert.deepEqual([r?.outcome, r?.reason, r?.status], ['failed', 'http_client_error', 404], url);
      else if (url.endsWith('/sitemap-bomb.xml.gz')) assert.deepEqual([r?.outcome, r?.reason], ['failed', 'too_large'], url);
      else {
        assert.equal(r?.outcome, 'delivered', url);
        assert.ok(typeof r?.links === 'number' && r.links > 0, `${url} listed URLs`);
      }
    }
    for (const url of want.pages) {
      const r = byUrl.get(url);
      assert.equal(r?.outcome, 'delivered', url);
      assert.equal(r?.depth, 0, `${url}: a sitemap seeds it`);
      assert.equal(r?.role, undefined, `${url} is a page`);
    }
    for (const url of want.disallowed) {
      assert.deepEqual([byUrl.get(url)?.outcome, byUrl.get(url)?.reason], ['skipped', 'robots'], url);
      assert.equal(site.stats.byPath.get(new URL(url).pathname) ?? 0, 0, `${url} never fetched`);
    }
    for (const url of want.refused) {
      assert.equal(byUrl.has(url), false, `${url} never admitted`);
      if (url.startsWith(origin)) assert.equal(site.stats.byPath.get(new URL(url).pathname) ?? 0, 0, `${url} never fetched`);
    }
    // robots.txt read by the politeness cache and by the seeding task, each document once more at most.
    assert.ok((site.stats.byPath.get('/robots.txt') ?? 0) <= 2, `robots.txt fetched ${site.stats.byPath.get('/robots.txt')} times`);
    assert.equal(site.stats.byPath.get('/sitemap_index.xml'), 1);
  });

  it('reads no sitemap unless asked', async () => {
    site.resetStats();
    const { records } = await crawl({ seeds: [`${origin}/`], maxDepth: 0 });
    assert.deepEqual(records.map((r) => r.url), [`${origin}/`]);
    assert.equal(site.stats.byPath.get('/sitemap_index.xml') ?? 0, 0);
    assert.equal(site.stats.byPath.get('/sitemap.xml') ?? 0, 0);
  });
});
