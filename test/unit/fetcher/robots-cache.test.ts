/**
 * robots.txt for the cluster: the pure cache policy (what a response or an error means, how
 * long it is kept), then RobotsCache against the local Redis: one fetch per origin however
 * many fetchers ask at once, memory hits without Redis, errors kept shortly.
 */
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../../shared/config/index.js';
import { CrawlError, type ErrorCode } from '../../../shared/errors/index.js';
import { redisKeys } from '../../../shared/redis/keys.js';
import {
  decide,
  memoryExpiry,
  RobotsCache,
  robotsOf,
  robotsText,
  storedFromError,
  storedFromResponse,
  ttlOf,
  ROBOTS_MAX_TTL_MS,
  type RobotsResponse,
  type StoredRobots,
} from '../../../services/fetcher/robots-cache.js';
import { ROBOTS_MAX_BYTES } from '../../../shared/url/robots.js';
import { bigRobots, ROBOTS_CASES } from '../../sites/adversarial.js';
import { cleanupNamespace, REDIS_URL, testNamespace } from '../../support/stack.js';

const robotsCfg = { obey: true, cacheTtlMs: 3_600_000, errorTtlMs: 60_000, memoryTtlMs: 30_000, maxBytes: 600 * 1024, maxCrawlDelayS: 10 };
const T0 = 1_700_000_000_000;

describe('robots.txt cache policy', () => {
  describe('what a response means', () => {
    const table: [number, StoredRobots['verdict']][] = [
      [200, 'parse'],
      [204, 'parse'],
      [301, 'allow-all'],
      [401, 'allow-all'],
      [403, 'allow-all'],
      [404, 'allow-all'],
      [410, 'allow-all'],
      [429, 'unreachable'],
      [500, 'unreachable'],
      [503, 'unreachable'],
    ];
    for (const [status, verdict] of table) {
      it(`HTTP ${status} → ${verdict}`, () => {
        const s = storedFromResponse(status, Buffer.from('User-agent: *\nDisallow: /x\n'), T0);
        assert.equal(s.verdict, verdict);
        assert.equal(s.status, status);
        assert.equal(s.text !== undefined, verdict === 'parse');
      });
    }
  });

  describe('what a failed fetch means', () => {
    const table: [ErrorCode, StoredRobots['verdict'] | 'page fails'][] = [
      ['timeout', 'unreachable'],
      ['connect_failed', 'unreachable'],
      ['protocol_error', 'unreachable'],
      ['too_many_redirects', 'allow-all'],
      ['bad_redirect', 'allow-all'],
      ['blocked_address', 'page fails'],
      ['dns_failed', 'page fails'],
      ['bad_url', 'page fails'],
    ];
    for (const [code, want] of table) {
      it(`${code} → ${want}`, () => {
        const s = storedFromError(new CrawlError(code, 'x'), T0);
        assert.equal(s === null ? 'page fails' : s.verdict, want);
        if (s) assert.equal(s.error, code);
      });
    }
  });

  describe('how long it is kept', () => {
    const ok = storedFromResponse(200, Buffer.from(''), T0);
    const down = storedFromResponse(503, Buffer.from(''), T0);
    it('a file or its absence: robots.cacheTtlMs', () => assert.equal(ttlOf(ok, robotsCfg), 3_600_000));
    it('never more than 24 h', () => assert.equal(ttlOf(ok, { ...robotsCfg, cacheTtlMs: 7 * ROBOTS_MAX_TTL_MS }), ROBOTS_MAX_TTL_MS));
    it('unreachable: robots.errorTtlMs, so it is fetched again soon', () => assert.equal(ttlOf(down, robotsCfg), 60_000));
    it('an error TTL above the cache TTL is cut to it', () => assert.equal(ttlOf(down, { ...robotsCfg, cacheTtlMs: 1000 }), 1000));
    it('memory: its own TTL, never past the Redis expiry', () => {
      assert.equal(memoryExpiry(ok, robotsCfg, T0 + 10), T0 + 10 + 30_000);
      assert.equal(memoryExpiry(down, robotsCfg, T0 + 50_000), T0 + 60_000);
    });
  });

  describe('the text kept', () => {
    it('is the whole body up to 512 KiB', () => {
      assert.equal(robotsText(Buffer.from('User-agent: *\nDisallow: /\n')), 'User-agent: *\nDisallow: /\n');
    });
    it('past 512 KiB: whole lines within the limit, as the parser reads them', () => {
      const text = bigRobots(ROBOTS_MAX_BYTES);
      const kept = robotsText(Buffer.from(text));
      assert.ok(kept.length <= ROBOTS_MAX_BYTES && kept.endsWith('\n'));
      assert.ok(kept.includes('Disallow: /early/') && !kept.includes('Disallow: /late/'));
      const robots = robotsOf(storedFromResponse(200, Buffer.from(text), T0), 'crawlfleet');
      assert.equal(robots.isAllowed('/early/x'), false);
      assert.equal(robots.isAllowed('/late/x'), true);
    });
    it('a line ending exactly at the limit is kept', () => {
      const line = 'Disallow: /edge/\n';
      const head = 'User-agent: *\n' + '#'.repeat(ROBOTS_MAX_BYTES - 14 - line.length - 1) + '\n';
      const body = Buffer.from(head + line + 'Disallow: /after/\n');
      const kept = robotsText(body);
      assert.equal(Buffer.byteLength(kept), ROBOTS_MAX_BYTES);
      assert.ok(kept.endsWith(line));
    });
  });

  describe('decisions', () => {
    const url = (p: string): URL => new URL(`http://site.test${p}`);
    const stored = storedFromResponse(200, Buffer.from(ROBOTS_CASES.crawlDelay), T0);
    const robots = robotsOf(stored, 'crawlfleet');
    it('allowed, with the Crawl-delay', () => assert.deepEqual(decide(stored, robots, url('/a')), { allowed: true, crawlDelayS: 2 }));
    it('disallowed → skip code robots', () => {
      const d = decide(stored, robots, url('/private/x'));
      assert.equal(d.allowed, false);
      if (!d.allowed) {
        assert.equal(d.error.code, 'robots');
        assert.equal(d.error.errorClass, 'skip');
      }
    });
    it('unreachable → every path refused with robots_unreachable, except /robots.txt', () => {
      const down = storedFromResponse(500, Buffer.alloc(0), T0);
      const d = decide(down, robotsOf(down, 'crawlfleet'), url('/anything'));
      assert.ok(!d.allowed && d.error.code === 'robots_unreachable' && /HTTP 500/.test(d.error.message));
      assert.equal(decide(down, robotsOf(down, 'crawlfleet'), url('/robots.txt')).allowed, true);
    });
    it('the crawler token picks its own group', () => {
      const s = storedFromResponse(200, Buffer.from('User-agent: crawlfleet\nDisallow: /mine/\n\nUser-agent: *\nDisallow: /\n'), T0);
      assert.equal(decide(s, robotsOf(s, 'crawlfleet'), url('/x')).allowed, true);
      assert.equal(decide(s, robotsOf(s, 'crawlfleet'), url('/mine/x')).allowed, false);
      assert.equal(decide(s, robotsOf(s, 'otherbot'), url('/x')).allowed, false);
    });
  });
});

describe('RobotsCache (local Redis)', function () {
  this.timeout(20_000);
  const ns = testNamespace('u');
  const keys = redisKeys(ns);
  let redis: Redis;
  let config: Config;

  before(() => {
    redis = new Redis(REDIS_URL);
    config = loadConfig({ env: { CRAWLER_NAMESPACE: ns, FETCH_TOTAL_TIMEOUT_MS: '2000', ROBOTS_ERROR_TTL_MS: '300' }, file: null }).config;
  });
  after(async () => {
    redis.disconnect();
    await cleanupNamespace(ns);
  });

  /** A fake origin: counts fetches, answers after `delayMs`. */
  function origin(answer: () => RobotsResponse | CrawlError, delayMs = 50): { fetch: (url: string) => Promise<RobotsResponse>; calls: string[] } {
    const calls: string[] = [];
    return {
      calls,
      async fetch(url) {
        calls.push(url);
        await new Promise((r) => setTimeout(r, delayMs));
        const a = answer();
        if (a instanceof CrawlError) throw a;
        return a;
      },
    };
  }

  it('fetches once for many fetchers asking at once, then answers from memory', async () => {
    const site = origin(() => ({ status: 200, body: Buffer.from('User-agent: *\nDisallow: /no/\nCrawl-delay: 1\n') }), 300);
    const caches = Array.from({ length: 5 }, () => new RobotsCache({ redis, keys, config: () => config, fetch: site.fetch }));
    const base = 'http://one.test';
    const decisions = await Promise.all(caches.flatMap((c) => [c.check(new URL(`${base}/a`)), c.check(new URL(`${base}/no/b`))]));
    assert.equal(site.calls.length, 1, 'one fetch for the cluster');
    assert.deepEqual(site.calls, [`${base}/robots.txt`]);
    assert.deepEqual(decisions.map((d) => d.allowed), [true, false, true, false, true, false, true, false, true, false]);
    assert.deepEqual(decisions[0], { allowed: true, crawlDelayS: 1 });
    // Stored for the cluster with its TTL; the lock is gone.
    const pttl = await redis.pttl(keys.robots(base));
    assert.ok(pttl > 80_000_000 && pttl <= 86_400_000, `pttl ${pttl}`);
    assert.equal(await redis.exists(keys.robotsLock(base)), 0);
    // A memory hit costs no Redis call: even with the entry gone from Redis, no new fetch.
    await redis.del(keys.robots(base));
    assert.equal((await caches[0]!.check(new URL(`${base}/no/c`))).allowed, false);
    assert.equal(site.calls.length, 1);
  });

  it('a fresh process reads the cluster cache instead of fetching', async () => {
    const site = origin(() => ({ status: 404, body: Buffer.alloc(0) }));
    const a = new RobotsCache({ redis, keys, config: () => config, fetch: site.fetch });
    assert.equal((await a.check(new URL('http://two.test/x'))).allowed, true);
    const b = new RobotsCache({ redis, keys, config: () => config, fetch: site.fetch });
    assert.equal((await b.check(new URL('http://two.test/y'))).allowed, true);
    assert.equal(site.calls.length, 1);
  });

  it('keeps an unreachable robots.txt only robots.errorTtlMs, then fetches again', async () => {
    let status = 503;
    const site = origin(() => ({ status, body: Buffer.alloc(0) }), 5);
    const cfg = (): Config => ({ ...config, robots: { ...config.robots, memoryTtlMs: 100 } });
    const cache = new RobotsCache({ redis, keys, config: cfg, fetch: site.fetch });
    const d = await cache.check(new URL('http://three.test/p'));
    assert.ok(!d.allowed && d.error.code === 'robots_unreachable');
    const pttl = await redis.pttl(keys.robots('http://three.test'));
    assert.ok(pttl > 0 && pttl <= 300, `error TTL ${pttl}`);
    status = 200;
    await new Promise((r) => setTimeout(r, 350));
    assert.equal((await cache.check(new URL('http://three.test/p'))).allowed, true);
    assert.equal(site.calls.length, 2);
  });

  it('timeouts and refused connections count as unreachable; a forbidden address fails the page, uncached', async () => {
    const slow = origin(() => new CrawlError('timeout', 'no headers'));
    const c1 = new RobotsCache({ redis, keys, config: () => config, fetch: slow.fetch });
    const d = await c1.check(new URL('http://four.test/'));
    assert.ok(!d.allowed && d.error.code === 'robots_unreachable' && /timeout/.test(d.error.message));

    const blocked = origin(() => new CrawlError('blocked_address', 'forbidden'));
    const c2 = new RobotsCache({ redis, keys, config: () => config, fetch: blocked.fetch });
    await assert.rejects(c2.check(new URL('http://five.test/')), (e: unknown) => e instanceof CrawlError && e.code === 'blocked_address');
    assert.equal(await redis.exists(keys.robots('http://five.test')), 0);
    assert.equal(await redis.exists(keys.robotsLock('http://five.test')), 0, 'lock released');
  });

  it('a waiter takes over when the lock holder died (lock expiry)', async () => {
    const base = 'http://six.test';
    await redis.set(keys.robotsLock(base), 'dead-holder', 'PX', 400);
    const site = origin(() => ({ status: 200, body: Buffer.from('User-agent: *\nDisallow: /\n') }), 5);
    const cache = new RobotsCache({ redis, keys, config: () => config, fetch: site.fetch });
    const started = Date.now();
    const d = await cache.check(new URL(`${base}/x`));
    assert.equal(d.allowed, false);
    assert.equal(site.calls.length, 1);
    assert.ok(Date.now() - started >= 350, 'waited for the dead lock to expire');
  });

  it('a live change of the User-Agent re-selects the group from memory', async () => {
    let ua = 'crawlfleet/1.0';
    const cfg = (): Config => ({ ...config, fetch: { ...config.fetch, userAgent: ua } });
    const site = origin(() => ({ status: 200, body: Buffer.from('User-agent: otherbot\nDisallow: /\n\nUser-agent: *\nAllow: /\n') }), 5);
    const cache = new RobotsCache({ redis, keys, config: cfg, fetch: site.fetch });
    assert.equal((await cache.check(new URL('http://seven.test/x'))).allowed, true);
    ua = 'OtherBot/2 (+mailto:ops@example.com)';
    assert.equal((await cache.check(new URL('http://seven.test/x'))).allowed, false);
    assert.equal(site.calls.length, 1);
    assert.deepEqual(cache.sitemaps('http://seven.test'), []);
  });
});
