/**
 * Politeness end to end, two fetcher processes, real broker and Redis, sites on their own
 * loopback addresses (counted at the site):
 * - robots.txt is fetched once per host for the whole cluster; disallowed URLs end
 *   skipped(robots); an unreachable robots.txt skips the host and is fetched again after
 *   robots.errorTtlMs; only the first 512 KiB of a big one count; robots.obey switches live;
 * - Crawl-delay spaces a host's requests cluster-wide while another host of the same session
 *   is crawled at full speed (waiting tasks go to a delay queue, not into fetch slots);
 * - a 429 with Retry-After holds the host on every replica, then a decaying backoff spaces it;
 * - per-host concurrency holds across replicas, set live.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { redisKeys } from '../../shared/redis/keys.js';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { AdversarialSite, ROBOTS_CASES } from '../sites/adversarial.js';
import { GeneratedSite } from '../sites/generated.js';
import { http, REDIS_URL, startTestStack, waitFor, type TestStack } from '../support/stack.js';

interface SessionJson {
  id: string;
  status: string;
  counts: Record<string, number>;
  handedOverAt: string | null;
}

async function crawl(stack: TestStack, body: Record<string, unknown>, timeoutMs = 40_000): Promise<{ id: string; session: SessionJson; records: ResultRecord[] }> {
  const created = await http<SessionJson>(stack.api, 'POST', '/sessions', body);
  assert.equal(created.status, 201, created.text);
  const id = created.body.id;
  const session = await waitFor(
    async () => {
      const s = (await http<SessionJson>(stack.api, 'GET', `/sessions/${id}`)).body;
      return s.status !== 'running' && s.handedOverAt ? s : null;
    },
    { timeoutMs, intervalMs: 100, what: `session ${id} to finish` },
  );
  const res = await http(stack.api, 'GET', `/sessions/${id}/results`);
  const records = res.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord);
  return { id, session, records };
}

async function setConfig(stack: TestStack, patch: unknown): Promise<void> {
  const res = await http(stack.api, 'PATCH', '/config', patch);
  assert.equal(res.status, 200, res.text);
  // Every replica applies a change within a second.
  await new Promise((r) => setTimeout(r, 1200));
}

/** Request times of a site's pages (robots.txt excluded), via its private server. */
function requestLog(site: AdversarialSite): number[] {
  const times: number[] = [];
  (site as unknown as { server: Server }).server.on('request', (req: { url?: string }) => {
    if (req.url !== '/robots.txt') times.push(Date.now());
  });
  return times;
}

const robotsRequests = (site: AdversarialSite): number => site.stats.byPath.get('/robots.txt') ?? 0;

describe('politeness (two fetcher processes)', function () {
  this.timeout(90_000);
  let stack: TestStack;
  let redis: Redis;
  const started: { stop(): Promise<void> }[] = [];

  async function adversarial(host: string, robots: AdversarialSite['robots']): Promise<AdversarialSite> {
    const site = new AdversarialSite({ host, robots });
    await site.start();
    started.push(site);
    return site;
  }

  before(async () => {
    redis = new Redis(REDIS_URL);
    stack = await startTestStack({
      fetchers: 2,
      env: {
        FETCH_CONCURRENCY: '4',
        FETCH_HEADERS_TIMEOUT_MS: '1500',
        FETCH_TOTAL_TIMEOUT_MS: '2000',
        ROBOTS_ERROR_TTL_MS: '1500',
        POLITENESS_MAX_WAIT_MS: '500',
        POLITENESS_BACKOFF_START_MS: '300',
        POLITENESS_BACKOFF_MAX_MS: '2000',
        POLITENESS_BACKOFF_HALF_LIFE_MS: '2000',
        RETRY_MAX_ATTEMPTS: '4',
      },
    });
  });

  after(async () => {
    redis?.disconnect();
    await stack?.stop();
    for (const s of started) await s.stop();
  });

  it('fetches robots.txt once for the cluster and skips what it disallows', async () => {
    const site = await adversarial('127.0.0.2', ROBOTS_CASES.wildcards);
    const o = site.origin;
    const { records } = await crawl(stack, {
      seeds: [`${o}/ok/0.html`, `${o}/calendar/2024/06`, `${o}/calendar/2024/07`, `${o}/image.png`, `${o}/a/`, `${o}/a/a/`, `${o}/session/s0/page`],
      maxDepth: 1,
    });
    const by = new Map(records.map((r) => [r.url, r]));
    for (const p of ['/calendar/2024/07', '/image.png', '/a/a/']) {
      assert.deepEqual([by.get(`${o}${p}`)?.outcome, by.get(`${o}${p}`)?.reason], ['skipped', 'robots'], p);
      assert.equal(site.stats.byPath.get(p), undefined, `${p} never requested`);
    }
    for (const p of ['/ok/0.html', '/calendar/2024/06', '/a/', '/session/s0/page']) assert.equal(by.get(`${o}${p}`)?.outcome, 'delivered', p);
    // The calendar page's links (05 and 07) are disallowed too: skipped, not fetched.
    assert.equal(by.get(`${o}/calendar/2024/05`)?.reason, 'robots');
    assert.equal(robotsRequests(site), 1, 'one robots.txt request for two fetchers and many pages');
    // Cached for the cluster in Redis with its TTL.
    const ttl = await redis.pttl(redisKeys(stack.ns).robots(o));
    assert.ok(ttl > 3_600_000, `robots cached for ${ttl} ms`);

    // robots.obey switched off live: the disallowed URL is fetched.
    await setConfig(stack, { robots: { obey: false } });
    try {
      const again = await crawl(stack, { seeds: [`${o}/image.png`], maxDepth: 0 });
      assert.equal(again.records[0]?.outcome, 'delivered');
      assert.equal(site.stats.byPath.get('/image.png'), 1);
    } finally {
      await setConfig(stack, { robots: { obey: true } });
    }
  });

  it('treats an unreachable robots.txt as disallow-all, fetches it again after robots.errorTtlMs, and reads only 512 KiB of a big one', async () => {
    const site = await adversarial('127.0.0.5', ROBOTS_CASES.serverError);
    const o = site.origin;
    const first = await crawl(stack, { seeds: [`${o}/ok/0.html`, `${o}/ok/1.html`], maxDepth: 0 });
    for (const r of first.records) assert.deepEqual([r.outcome, r.reason], ['skipped', 'robots_unreachable'], r.error ?? '');
    assert.equal(robotsRequests(site), 1);
    site.robots = ROBOTS_CASES.big;
    await new Promise((r) => setTimeout(r, 1700));
    const second = await crawl(stack, { seeds: [`${o}/ok/2.html`, `${o}/early/x`, `${o}/late/x`], maxDepth: 0 });
    const by = new Map(second.records.map((r) => [new URL(r.url).pathname, r]));
    assert.equal(by.get('/ok/2.html')?.outcome, 'delivered');
    assert.equal(by.get('/early/x')?.reason, 'robots', 'a rule before 512 KiB applies');
    assert.equal(by.get('/late/x')?.reason, 'http_client_error', 'a rule after 512 KiB does not (the page is fetched: 404)');
    assert.equal(robotsRequests(site), 2, 'fetched again once the error entry expired');

    // A robots.txt that never answers: the timeout counts as unreachable.
    const silent = await adversarial('127.0.0.6', ROBOTS_CASES.timeout);
    const t0 = Date.now();
    const third = await crawl(stack, { seeds: [`${silent.origin}/ok/0.html`], maxDepth: 0 });
    assert.deepEqual([third.records[0]?.outcome, third.records[0]?.reason], ['skipped', 'robots_unreachable']);
    assert.ok(Date.now() - t0 < 6000, 'given up after the fetch timeout');
    assert.equal(silent.stats.byPath.get('/ok/0.html'), undefined);
  });

  it('spaces a host by its Crawl-delay across the cluster while another host of the session goes at full speed', async () => {
    const slow = await adversarial('127.0.0.4', 'User-agent: *\nCrawl-delay: 0.5\n');
    const times = requestLog(slow);
    const fast = new GeneratedSite({ pages: 150, seed: 9, linksPerPage: 5, pageBytes: 1500, latencyMs: 5 });
    await fast.start('127.0.0.3');
    started.push(fast);
    const fastTimes: number[] = [];
    fast.onRequest = (path, at) => {
      if (path !== '/robots.txt') fastTimes.push(at);
    };
    const { id, records } = await crawl(stack, {
      seeds: [`${slow.origin}/ok/0.html`, fast.homeUrl],
      maxDepth: 3,
      allowedHosts: [new URL(slow.origin).host, new URL(fast.origin).host],
      // Only the normal pages of the hostile site.
      include: [`^${slow.origin}/ok/`, `^${fast.origin}/`],
    });
    const slowCount = records.filter((r) => r.url.startsWith(slow.origin)).length;
    const fastCount = records.filter((r) => r.url.startsWith(fast.origin)).length;
    assert.ok(slowCount >= 8 && fastCount > 60, `${slowCount} slow, ${fastCount} fast pages`);
    assert.equal(times.length, slowCount);
    // 2 pages/s for the whole cluster: consecutive requests ~500 ms apart (GCRA tolerance 50 ms).
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.ok(gaps.every((g) => g >= 400), `gaps ${JSON.stringify(gaps)}`);
    // Waiting tasks were handed to a delay queue, not left holding fetch slots...
    const h = await redis.hgetall(redisKeys(stack.ns).session(id).session);
    assert.ok(Number(h.deferred) > 0, `deferred ${h.deferred}`);
    // ...so the fast host, with 8 fetch slots in the cluster, was done long before the slow one.
    const fastDone = Math.max(...fastTimes);
    const slowDone = Math.max(...times);
    const fastRate = fastCount / Math.max((fastDone - Math.min(...fastTimes)) / 1000, 0.001);
    assert.ok(fastDone < slowDone, 'the fast host was done before the slow one');
    assert.ok(fastRate > 8, `fast host at ${fastRate.toFixed(1)} pages/s, far above the slow host's 2/s`);
  });

  it('holds a host on every replica after a 429 with Retry-After, then backs off gradually', async () => {
    const hits: { at: number; status: number }[] = [];
    let served = 0;
    const server = createServer((req, res) => {
      const at = Date.now();
      if (req.url === '/robots.txt') {
        res.writeHead(404).end();
        return;
      }
      if (req.url === '/') {
        res.writeHead(200, { 'content-type': 'text/html' }).end(`<html><body>${Array.from({ length: 24 }, (_, i) => `<a href="/p/${i}">${i}</a>`).join('')}</body></html>`);
        hits.push({ at, status: 200 });
        return;
      }
      served++;
      const status = served <= 2 ? 429 : 200;
      hits.push({ at, status });
      if (status === 429) res.writeHead(429, { 'retry-after': '2', 'content-type': 'text/plain' }).end('slow down');
      else res.writeHead(200, { 'content-type': 'text/html' }).end('<html><title>p</title></html>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.7', r));
    started.push({ stop: () => new Promise<void>((r) => server.close(() => r())) });
    const origin = `http://127.0.0.7:${(server.address() as AddressInfo).port}`;
    const { records } = await crawl(stack, { seeds: [`${origin}/`], maxDepth: 1 });
    assert.equal(records.filter((r) => r.outcome === 'delivered').length, 25, 'every page in the end (the 429s retried)');
    const first429 = hits.find((h) => h.status === 429)!.at;
    const during = hits.filter((h) => h.at > first429 + 400 && h.at < first429 + 1800);
    assert.deepEqual(during, [], 'no request to the host while Retry-After holds, on either replica');
    // After the hold, the backoff interval (≥ 300 ms, doubled per 429, decaying) spaces requests.
    const afterHold = hits.filter((h) => h.at >= first429 + 1800).map((h) => h.at);
    const gaps = afterHold.slice(1, 4).map((t, i) => t - afterHold[i]!);
    assert.ok(gaps.length === 3 && gaps.every((g) => g >= 150), `gaps after the hold ${JSON.stringify(gaps)}`);
  });

  it('holds a per-host concurrency limit across replicas, set live', async () => {
    const a = new GeneratedSite({ pages: 60, seed: 12, linksPerPage: 4, latencyMs: 150 });
    const b = new GeneratedSite({ pages: 60, seed: 13, linksPerPage: 4, latencyMs: 150 });
    await a.start('127.0.0.8');
    await b.start('127.0.0.9');
    started.push(a, b);
    await setConfig(stack, { politeness: { perHostConcurrency: 2 } });
    try {
      const { records } = await crawl(stack, { seeds: [a.homeUrl, b.homeUrl], maxDepth: 2 });
      assert.ok(records.length > 20);
      assert.equal(a.stats.maxInFlight, 2, `host a: at most 2 in flight (${a.stats.maxInFlight})`);
      assert.equal(b.stats.maxInFlight, 2, `host b: at most 2 in flight (${b.stats.maxInFlight})`);
    } finally {
      await setConfig(stack, { politeness: { perHostConcurrency: 0 } });
    }
  });
});
