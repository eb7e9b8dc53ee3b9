/**
 * The crawl index against the real Redis: concurrent fetches of one URL by two sessions (two
 * clients, as two fetcher replicas) leave the newest fetch, whatever the order the writes
 * arrive in; entries older than index.retentionMs count as absent and leave Redis, and a
 * shard nobody writes to expires whole.
 */
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { CrawlIndex, type IndexEntry } from '../../shared/crawlindex/index.js';
import { entryPlace, packEntry } from '../../shared/crawlindex/entry.js';
import { createRedis } from '../../shared/redis/client.js';
import { redisKeys } from '../../shared/redis/keys.js';
import { fingerprint } from '../../shared/url/normalize.js';
import { REDIS_URL, cleanupNamespace, testNamespace, waitFor } from '../support/stack.js';

describe('crawl index (real Redis)', function () {
  this.timeout(60_000);
  const ns = testNamespace('idx');
  const keys = redisKeys(ns);
  let a: Redis;
  let b: Redis;

  before(() => {
    a = createRedis(REDIS_URL, { name: `${ns}:a` });
    b = createRedis(REDIS_URL, { name: `${ns}:b` });
  });

  after(async () => {
    a?.disconnect();
    b?.disconnect();
    await cleanupNamespace(ns);
  });

  const entry = (sessionId: string, fetchedAt: number, over: Partial<IndexEntry> = {}): IndexEntry => ({
    fetchedAt, status: 200, contentHash: `sha256:${sessionId.slice(-1).repeat(12)}`, sessionId, lastModified: null, etag: `"${sessionId}"`, ...over,
  });

  it('keeps the newest of two sessions\' concurrent fetches of one URL, in either order of arrival', async () => {
    const settings = () => ({ retentionMs: 3_600_000, shardChars: 2 });
    const ia = new CrawlIndex(a, keys, settings);
    const ib = new CrawlIndex(b, keys, settings);
    const fp = fingerprint('http://site.test/contended');
    const base = Date.now();
    let written = 0;
    for (let round = 0; round < 200; round++) {
      // Session A's and session B's fetches of the URL land together; which is newer varies.
      const ta = base + round * 10 + (round % 3);
      const tb = base + round * 10 + ((round + 1) % 3);
      const [ra, rb] = await Promise.all([ia.put(fp, entry('sess-a', ta)), ib.put(fp, entry('sess-b', tb))]);
      written += Number(ra.written) + Number(rb.written);
      const got = await ia.get(fp);
      const newest = Math.max(ta, tb);
      assert.equal(got?.fetchedAt, newest, `round ${round}`);
      if (ta !== tb) assert.equal(got?.sessionId, ta > tb ? 'sess-a' : 'sess-b', `round ${round}`);
      // A write older than what is held is refused and sees the newer entry as previous.
      if (ta < tb) assert.ok(!ra.written || rb.previous?.fetchedAt === ta, `round ${round}: ${JSON.stringify([ra, rb])}`);
    }
    assert.ok(written >= 200, `${written} writes`);
    // An old fetch arriving late changes nothing.
    const late = await ia.put(fp, entry('sess-late', base));
    assert.equal(late.written, false);
    assert.equal(late.previous?.fetchedAt, (await ia.get(fp))?.fetchedAt);
    assert.notEqual((await ia.get(fp))?.sessionId, 'sess-late');
  });

  it('answers the entry held before a write (the page\'s `changed`)', async () => {
    const idx = new CrawlIndex(a, keys, () => ({ retentionMs: 3_600_000, shardChars: 2 }));
    const fp = fingerprint('http://site.test/previous');
    const first = await idx.put(fp, entry('s1', Date.now() - 1000));
    assert.equal(first.previous, null);
    const second = await idx.put(fp, entry('s2', Date.now()));
    assert.equal(second.previous?.sessionId, 's1');
    assert.equal(second.previous?.contentHash, 'sha256:111111111111');
  });

  it('forgets entries older than index.retentionMs, removes them, and expires an idle shard', async () => {
    const retentionMs = 1500;
    const idx = new CrawlIndex(a, keys, () => ({ retentionMs, shardChars: 2 }));
    const now = Date.now();
    const old = fingerprint('http://site.test/old');
    // Same shard for both: the fresh one's write samples the old one.
    let other = '';
    for (let i = 0; other === '' && i < 100_000; i++) {
      const fp = fingerprint(`http://site.test/p${i}`);
      if (fp.slice(0, 2) === old.slice(0, 2) && fp !== old) other = fp;
    }
    assert.notEqual(other, '');
    const place = entryPlace(old, 2);
    const shard = keys.urlIndex(place.tag, place.rest);
    // An entry written when it was fresh, grown older than the retention since.
    await a.hset(shard, place.field, packEntry(entry('s-old', now - retentionMs - 10)));
    assert.equal(await idx.get(old), null, 'an expired entry counts as absent');
    assert.equal(await a.hexists(shard, place.field), 1, 'still stored until sampled');
    const r = await idx.put(other, entry('s-new', now));
    assert.equal(r.previous, null);
    assert.equal(await a.hexists(shard, place.field), 0, 'the write sampled the expired entry and removed it');
    // A write over an expired entry sees no previous entry (changed: null).
    await a.hset(shard, place.field, packEntry(entry('s-old', now - retentionMs - 10)));
    assert.equal((await idx.put(old, entry('s-again', now))).previous, null);
    const ttl = await a.pttl(shard);
    assert.ok(ttl > 0 && ttl <= retentionMs, `shard PTTL ${ttl}`);
    // Nobody writes: the shard expires whole.
    await waitFor(async () => (await a.exists(shard)) === 0, { timeoutMs: 10_000, what: 'the idle shard to expire' });
    assert.equal(await idx.get(other), null);
  });
});
