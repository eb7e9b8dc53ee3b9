/**
 * The extractor's admission round trip (admit-found-5) against the local Redis: dedup and
 * maxPages, plus the per-host page limit of a session and the per-reason counters of refused
 * links, both idempotent when a page is processed again.
 */
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { screenLinks, sessionPolicy, type ScreenedLinks } from '../../../shared/admission/index.js';
import { SessionStore, TaskLedger, type AdmitFoundOptions, type AdmitFoundReply } from '../../../shared/ledger/index.js';
import { redisKeys } from '../../../shared/redis/keys.js';
import type { SessionSpec } from '../../../shared/tasks/types.js';
import { fingerprint } from '../../../shared/url/normalize.js';
import { cleanupNamespace, REDIS_URL, testNamespace } from '../../support/stack.js';

const spec = (over: Partial<SessionSpec> = {}): SessionSpec => ({
  seeds: ['http://a.test/'],
  maxPages: 1000,
  maxDepth: 10,
  timeoutMs: 60_000,
  allowedHosts: ['a.test', 'b.test'],
  include: [],
  exclude: [],
  fields: {},
  webhook: null,
  label: null,
  ...over,
});

describe('admit-found (local Redis)', function () {
  this.timeout(20_000);
  const ns = testNamespace('u');
  const keys = redisKeys(ns);
  let redis: Redis;
  let sessions: SessionStore;
  let ledger: TaskLedger;
  const opts = (maxPagesPerHost: number) => ({ resultLeaseMs: 60_000, admitLeaseMs: 60_000, maxPagesPerHost, retentionMs: 3_600_000 });

  before(() => {
    redis = new Redis(REDIS_URL);
    sessions = new SessionStore(redis, keys);
    ledger = new TaskLedger(redis, keys);
  });
  after(async () => {
    redis.disconnect();
    await cleanupNamespace(ns);
  });

  /** A running session whose seed was claimed (F), as the extractor finds it. */
  async function sessionWithPage(id: string, s: SessionSpec): Promise<string> {
    await sessions.create(id, s, 60_000);
    const seed = { taskId: fingerprint(s.seeds[0]!), depth: 0, url: s.seeds[0]! };
    await ledger.admitSeeds(id, [seed], 60_000);
    await ledger.confirmQueued(id, [seed.taskId]);
    const [c] = await ledger.claim(id, [seed.taskId], { leaseMs: 60_000, maxAttempts: 3, takeOver: false });
    assert.equal(c?.kind, 'ok');
    return seed.taskId;
  }

  /** The extractor's call for one page: its screened links and their refusal counts. */
  async function admitFound(id: string, taskId: string, screened: ScreenedLinks, o: AdmitFoundOptions): Promise<AdmitFoundReply> {
    return (await ledger.admitFoundPages(id, [{ taskId, links: screened.links, refused: screened.refused }], o))[0]!;
  }

  function found(id: string, s: SessionSpec, urls: string[]): ScreenedLinks {
    return screenLinks(urls, sessionPolicy(id, s), 1, { maxUrlLength: 2048, traps: { maxPathDepth: 4, maxRepeatedSegments: 3, maxQueryParams: 4 } });
  }

  it('admits at most maxPagesPerHost new links per host, counting across pages and once per link', async () => {
    const id = 'perhost';
    const s = spec();
    const page = await sessionWithPage(id, s);
    const urls = [...Array.from({ length: 5 }, (_, i) => `http://a.test/p${i}`), 'http://b.test/x', 'http://b.test/y'];
    const r = await admitFound(id, page, found(id, s, urls), opts(3));
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') return;
    assert.deepEqual(r.admitted, [0, 1, 2, 5, 6], 'three of a.test, both of b.test');
    assert.equal(r.hostLimited, 2);
    assert.deepEqual(await redis.hgetall(keys.session(id).hostPages), { 'a.test': '3', 'b.test': '2' });
    const h = await redis.hgetall(keys.session(id).session);
    assert.equal(h['trap:host_pages'], '2');
    assert.equal(h.admitted, '6', 'seed + 5');
    assert.ok((await redis.pttl(keys.session(id).hostPages)) > 3_600_000, 'host counters expire with the session');

    // The same page again (redelivery): its P children come back, nothing counted twice.
    const again = await admitFound(id, page, found(id, s, urls), opts(3));
    assert.equal(again.kind, 'ok');
    if (again.kind === 'ok') assert.deepEqual(again.admitted, [0, 1, 2, 5, 6]);
    assert.deepEqual(await redis.hgetall(keys.session(id).hostPages), { 'a.test': '3', 'b.test': '2' });
    assert.equal(await redis.hget(keys.session(id).session, 'trap:host_pages'), '2');
  });

  it('counts the links refused before Redis per reason, once per page', async () => {
    const id = 'traps';
    const s = spec();
    const page = await sessionWithPage(id, s);
    const urls = ['http://a.test/ok', 'http://a.test/a/a/a/a/', 'http://a.test/1/2/3/4/5', 'http://a.test/q?a&b&c&d&e', 'http://a.test/x/x/x/x'];
    const screened = found(id, s, urls);
    assert.deepEqual(screened.refused, { repeated_segments: 2, path_depth: 1, query_params: 1 });
    const r = await admitFound(id, page, screened, opts(0));
    assert.ok(r.kind === 'ok' && r.admitted.length === 1 && r.hostLimited === 0);
    await admitFound(id, page, screened, opts(0));
    const h = await redis.hgetall(keys.session(id).session);
    assert.deepEqual(
      { rs: h['trap:repeated_segments'], pd: h['trap:path_depth'], qp: h['trap:query_params'] },
      { rs: '2', pd: '1', qp: '1' },
    );
    assert.equal(await redis.exists(keys.session(id).hostPages), 0, 'no host counters without a limit');
  });

  it('still honours maxPages, and answers done/unknown', async () => {
    const id = 'maxpages';
    const s = spec({ maxPages: 3 });
    const page = await sessionWithPage(id, s);
    const r = await admitFound(id, page, found(id, s, ['http://a.test/1', 'http://a.test/2', 'http://a.test/3', 'http://b.test/4']), opts(10));
    assert.ok(r.kind === 'ok' && r.admitted.length === 2 && r.limited === 2, JSON.stringify(r));
    assert.deepEqual(await redis.hgetall(keys.session(id).hostPages), { 'a.test': '2' });
    assert.deepEqual(await admitFound(id, 'no-such-task', found(id, s, []), opts(0)), { kind: 'unknown' });
  });
});
