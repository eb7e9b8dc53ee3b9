/**
 * The politeness gate against the local Redis: Crawl-delay folded into the host rate, leased
 * per-host concurrency slots, the 429/503 backoff shared by every replica (Retry-After hold,
 * doubling interval, gradual recovery), and few Redis calls for unlimited hosts.
 */
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { CLEAR_HOST_MS, effectiveHostRate, GlobalLease, RateLimiter, type HostLimits } from '../../../shared/ratelimit.js';
import { redisKeys } from '../../../shared/redis/keys.js';
import { cleanupNamespace, REDIS_URL, testNamespace } from '../../support/stack.js';

describe('effectiveHostRate (Crawl-delay)', () => {
  const table: [string, number, number | null, number, number][] = [
    ['no delay keeps the configured rate', 5, null, 10, 5],
    ['no delay, unlimited stays unlimited', 0, null, 10, 0],
    ['a delay limits an unlimited host', 0, 2, 10, 0.5],
    ['the slower of rate and delay wins (delay)', 5, 2, 10, 0.5],
    ['the slower of rate and delay wins (rate)', 0.2, 2, 10, 0.2],
    ['a huge delay is capped by maxCrawlDelayS', 0, 3600, 10, 0.1],
    ['a zero delay changes nothing', 3, 0, 10, 3],
    ['maxCrawlDelayS 0 ignores Crawl-delay', 0, 5, 0, 0],
    ['fractional delays', 0, 0.25, 10, 4],
  ];
  for (const [name, configured, delay, max, want] of table) {
    it(name, () => assert.equal(effectiveHostRate(configured, delay, max), want));
  }
});

describe('politeness gate (local Redis)', function () {
  this.timeout(20_000);
  const ns = testNamespace('u');
  const keys = redisKeys(ns);
  let redis: Redis;
  const open: HostLimits = { global: 0, perHost: 0, concurrency: 0, slotLeaseMs: 10_000, backoffHalfLifeMs: 30_000 };

  before(() => {
    redis = new Redis(REDIS_URL);
  });
  after(async () => {
    redis.disconnect();
    await cleanupNamespace(ns);
  });

  it('holds a per-host concurrency limit across replicas and frees slots on release', async () => {
    const a = new RateLimiter(redis, keys);
    const b = new RateLimiter(redis, keys);
    const limits = { ...open, concurrency: 2 };
    const g1 = await a.tryEnter('c.test', limits);
    const g2 = await b.tryEnter('c.test', limits);
    const g3 = await a.tryEnter('c.test', limits);
    assert.ok(g1.granted && g2.granted && g1.slot && g2.slot);
    assert.deepEqual(g3.granted ? 'granted' : g3.reason, 'slots');
    assert.equal((await b.tryEnter('other.test', limits)).granted, true, 'other hosts unaffected');
    if (g1.granted) await a.release('c.test', g1.slot);
    assert.equal((await b.tryEnter('c.test', limits)).granted, true);
  });

  it("expires a dead fetcher's slot after its lease", async () => {
    const a = new RateLimiter(redis, keys);
    const limits = { ...open, concurrency: 1, slotLeaseMs: 200 };
    assert.equal((await a.tryEnter('dead.test', limits)).granted, true);
    assert.equal((await a.tryEnter('dead.test', limits)).granted, false);
    await new Promise((r) => setTimeout(r, 250));
    assert.equal((await a.tryEnter('dead.test', limits)).granted, true);
  });

  it('spaces requests by the host rate (Crawl-delay) and says how long to wait', async () => {
    const a = new RateLimiter(redis, keys);
    const limits = { ...open, perHost: effectiveHostRate(0, 0.5, 10) };
    assert.equal((await a.tryEnter('slow.test', limits)).granted, true);
    const g = await a.tryEnter('slow.test', limits);
    assert.ok(!g.granted && g.reason === 'host' && g.waitMs > 400 && g.waitMs <= 500, JSON.stringify(g));
  });

  it('a 429 with Retry-After holds the host on every replica; then the backoff interval applies and decays', async () => {
    const a = new RateLimiter(redis, keys);
    const b = new RateLimiter(redis, keys);
    const host = 'busy.test';
    const p = await a.penalize(host, { startMs: 400, maxMs: 5000, halfLifeMs: 600, retryAfterMs: 300 });
    assert.equal(p.intervalMs, 400);
    const held = await b.tryEnter(host, open);
    assert.ok(!held.granted && held.reason === 'backoff' && held.waitMs > 200 && held.waitMs <= 300, JSON.stringify(held));
    await new Promise((r) => setTimeout(r, 320));
    // Retry-After passed: one request, then the (decaying) interval spaces the next.
    const limits = { ...open, backoffHalfLifeMs: 600 };
    assert.equal((await b.tryEnter(host, limits)).granted, true);
    const spaced = await b.tryEnter(host, limits);
    assert.ok(!spaced.granted && spaced.reason === 'host' && spaced.waitMs > 100 && spaced.waitMs < 400, JSON.stringify(spaced));
  });

  it('doubles the interval for each 429/503, up to the maximum, from its decayed value', async () => {
    const a = new RateLimiter(redis, keys);
    const s = { startMs: 1000, maxMs: 5000, halfLifeMs: 60_000, retryAfterMs: 0 };
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) seen.push((await a.penalize('hot.test', s)).intervalMs);
    assert.deepEqual(seen.map((v) => Math.round(v / 100) * 100), [1000, 2000, 4000, 5000, 5000]);
    // With a short half-life it decays: after two half-lives a new 429 starts from ~1/4 of it.
    const quick = { startMs: 100, maxMs: 100_000, halfLifeMs: 200, retryAfterMs: 0 };
    await a.penalize('cool.test', { ...quick, startMs: 8000 });
    await new Promise((r) => setTimeout(r, 400));
    const again = (await a.penalize('cool.test', quick)).intervalMs;
    assert.ok(again > 3000 && again < 4500, `2 × 8000/4 ≈ 4000, got ${again}`);
    const ttl = await redis.pttl(keys.hostBackoff('cool.test'));
    assert.ok(ttl > 0, 'the backoff key expires by itself');
  });

  it('asks Redis about an unlimited host at most once a second, and sees a backoff from another replica after that', async () => {
    const a = new RateLimiter(redis, keys);
    const b = new RateLimiter(redis, keys);
    const host = 'free.test';
    assert.equal((await a.tryEnter(host, open)).granted, true);
    // Another replica puts the host on hold: within the clear window this replica does not ask.
    await b.penalize(host, { startMs: 1000, maxMs: 1000, halfLifeMs: 60_000, retryAfterMs: CLEAR_HOST_MS + 2000 });
    for (let i = 0; i < 50; i++) assert.equal((await a.tryEnter(host, open)).granted, true);
    await new Promise((r) => setTimeout(r, CLEAR_HOST_MS + 50));
    const g = await a.tryEnter(host, open);
    assert.ok(!g.granted && g.reason === 'backoff', JSON.stringify(g));
    // The replica that saw the 429 holds at once.
    const own = await b.tryEnter(host, open);
    assert.ok(!own.granted && own.reason === 'backoff');
  });
});

describe('global rate leased in batches (local Redis)', function () {
  this.timeout(30_000);
  const ns = testNamespace('u');
  const keys = redisKeys(ns);
  let redis: Redis;
  const open: HostLimits = { global: 0, perHost: 0, concurrency: 0, slotLeaseMs: 10_000, backoffHalfLifeMs: 30_000 };

  before(() => {
    redis = new Redis(REDIS_URL);
  });
  after(async () => {
    redis.disconnect();
    await cleanupNamespace(ns);
  });
  // Each test starts from an empty bucket.
  beforeEach(async () => {
    await redis.del(keys.rateGlobal());
  });

  it('takes several tokens in one call, each due one interval after the other', async () => {
    const lease = new GlobalLease(redis, keys);
    const first = await lease.take(20, 4);
    assert.ok('token' in first, JSON.stringify(first));
    assert.equal(lease.held, 3, 'the other three tokens of the lease are held here');
    const next = await lease.take(20, 4);
    // 20/s: the next token is due 50 ms after the first, less 12.5 ms of tolerance.
    assert.ok('waitMs' in next && next.waitMs > 0 && next.waitMs <= 50, JSON.stringify(next));
    assert.equal(lease.held, 3, 'waiting for a held token asks Redis nothing');
    const bucket = Number(await redis.get(keys.rateGlobal()));
    const redisNow = Number((await redis.time())[0]) * 1000;
    assert.ok(bucket > redisNow + 100, 'the bucket is reserved four intervals (200 ms) ahead');
  });

  it('a token given back is used by the next fetch; an unlimited rate drops the lease', async () => {
    const lease = new GlobalLease(redis, keys);
    const g = await lease.take(1000, 3);
    assert.ok('token' in g);
    const held = lease.held;
    lease.giveBack(g.token);
    assert.equal(lease.held, held + 1);
    const again = await lease.take(1000, 3);
    assert.ok('token' in again && again.token === g.token);
    lease.drop();
    assert.equal(lease.held, 0);
  });

  it('holds the cluster-wide rate within 10% with five replicas leasing ten tokens at a time', async () => {
    const rate = 100;
    const limits: HostLimits = { ...open, global: rate, globalLease: 10 };
    const replicas = Array.from({ length: 5 }, () => new RateLimiter(redis, keys));
    const started = Date.now();
    const runMs = 2000;
    let granted = 0;
    await Promise.all(
      replicas.map(async (r, i) => {
        // Bounded: each replica loops for runMs at most.
        while (Date.now() - started < runMs) {
          const g = await r.tryEnter(`h${i}.test`, limits);
          if (g.granted) granted++;
          else await new Promise((res) => setTimeout(res, Math.min(g.waitMs, 100)));
        }
      }),
    );
    const elapsedS = (Date.now() - started) / 1000;
    const expected = rate * elapsedS;
    assert.ok(granted <= expected * 1.1, `granted ${granted} in ${elapsedS.toFixed(2)} s at ${rate}/s: more than 10% over`);
    assert.ok(granted >= expected * 0.6, `granted ${granted} in ${elapsedS.toFixed(2)} s at ${rate}/s: far below the rate`);
  });
});

describe('ReplicaRate (rate.perReplica)', () => {
  it('spaces requests by 1/rate with a quarter interval of tolerance, and lets an unlimited rate through', async () => {
    const { ReplicaRate } = await import('../../../shared/ratelimit.js');
    let now = 1000;
    const r = new ReplicaRate(() => now);
    assert.equal(r.waitMs(0), 0);
    r.take(0);
    assert.equal(r.waitMs(4), 0);
    r.take(4); // 250 ms interval, 50 ms tolerance
    assert.equal(r.waitMs(4), 200);
    now += 200;
    assert.equal(r.waitMs(4), 0);
    r.take(4);
    // Over 10 simulated seconds at 4/s, taking whenever allowed: 40 requests (+1 for the tolerance at most).
    let n = 0;
    for (const end = now + 10_000; now < end; now += 5) {
      if (r.waitMs(4) === 0) {
        r.take(4);
        n++;
      }
    }
    assert.ok(n >= 39 && n <= 41, `${n} requests in 10 s at 4/s`);
  });
});
