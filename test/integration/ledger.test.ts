/**
 * The task ledger and the shared admission path against the real Redis and RabbitMQ:
 * concurrent admission, limits, compare-and-set transitions, exactly-once delivery.
 */
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { admitSeeds, candidateLinks, fetchTask, sessionPolicy } from '../../shared/admission/index.js';
import { Ledger, type LinkToAdmit } from '../../shared/ledger/index.js';
import { BatchPublisher } from '../../shared/messaging/batch.js';
import { Broker } from '../../shared/messaging/broker.js';
import { topology } from '../../shared/messaging/topology.js';
import { fetchCodec } from '../../shared/tasks/codec.js';
import { createLogger } from '../../shared/observability/log.js';
import { createRedis } from '../../shared/redis/client.js';
import { redisKeys } from '../../shared/redis/keys.js';
import type { SessionSpec } from '../../shared/tasks/types.js';
import { fingerprint } from '../../shared/url/normalize.js';
import { takeAll } from '../support/oracle.js';
import { AMQP_URL, REDIS_URL, cleanupNamespace, testNamespace } from '../support/stack.js';

function spec(over: Partial<SessionSpec> = {}): SessionSpec {
  return {
    seeds: ['http://site.test/'],
    maxPages: 10_000,
    maxDepth: 10,
    timeoutMs: 60_000,
    allowedHosts: ['site.test'],
    include: [],
    exclude: [],
    fields: {},
    webhook: null,
    label: null,
    ...over,
  };
}

const link = (url: string, depth = 1): LinkToAdmit => ({ taskId: fingerprint(url), depth, url });

describe('ledger and admission (real Redis and RabbitMQ)', function () {
  this.timeout(30_000);
  const ns = testNamespace('i');
  const log = createLogger('test', 'silent');
  let redis: Redis;
  let ledger: Ledger;
  let broker: Broker;
  let outbox: BatchPublisher;
  const extra: Redis[] = [];

  before(async () => {
    redis = createRedis(REDIS_URL, { name: 'test' });
    ledger = new Ledger(redis, redisKeys(ns));
    broker = new Broker({ url: AMQP_URL, name: 'test', heartbeatS: 10, topology: topology(ns), queueType: 'quorum', deliveryLimit: 5, log });
    await broker.start();
    outbox = new BatchPublisher(broker, () => ({ maxItems: 8, maxBytes: 1 << 20, lingerMs: 2 }));
  });

  after(async () => {
    await broker.close();
    for (const r of extra) r.disconnect();
    redis.disconnect();
    await cleanupNamespace(ns);
  });

  it('admits each URL once and publishes it once when many extractors admit the same links at once', async () => {
    const id = 'concurrent';
    const s = spec({ seeds: Array.from({ length: 10 }, (_, i) => `http://site.test/seed/${i}`) });
    await ledger.createSession(id, s, 60_000);
    const seeded = await admitSeeds({ ledger, outbox, queue: topology(ns).fetch, admitLeaseMs: 60_000 }, sessionPolicy(id, s), { maxUrlLength: 2048 });
    assert.equal(seeded.admitted, 10);
    const shared = Array.from({ length: 200 }, (_, i) => `http://site.test/page/${i}`);
    const parents = s.seeds.map((u) => fingerprint(u));
    // Ten clients, ten parents, every parent found the same 200 links (in its own order).
    const replies = await Promise.all(
      parents.map(async (parent, i) => {
        const client = createRedis(REDIS_URL, { name: `test-${i}` });
        extra.push(client);
        const links = candidateLinks(i % 2 ? shared : [...shared].reverse(), sessionPolicy(id, s), 1, { maxUrlLength: 2048 });
        const reply = await new Ledger(client, redisKeys(ns)).extracted(id, parent, links, 60_000, 60_000);
        assert.equal(reply.kind, 'ok');
        const admitted = reply.kind === 'ok' ? reply.admitted.map((k) => links[k] as LinkToAdmit) : [];
        await outbox.send(fetchCodec, topology(ns).fetch, admitted.map((l) => fetchTask(id, l)));
        return admitted.map((l) => l.url);
      }),
    );
    const all = replies.flat();
    assert.equal(all.length, 200, 'every link admitted by exactly one parent');
    assert.deepEqual(new Set(all), new Set(shared));
    const session = await ledger.getSession(id);
    assert.equal(session?.counts.admitted, 210);
    // The queue holds batches: take every message and count the tasks they carry.
    const queued = (await takeAll(broker, topology(ns).fetch, fetchCodec)).map((t) => t.url);
    assert.equal(queued.length, 210, 'every admitted URL published once');
    assert.equal(new Set(queued).size, 210);
  });

  it('stops at maxPages exactly, however many admits race', async () => {
    const id = 'limited';
    const s = spec({ maxPages: 50 });
    await ledger.createSession(id, s, 60_000);
    const seed = link('http://site.test/', 0);
    await ledger.admitSeeds(id, [seed], 60_000);
    const batches = Array.from({ length: 8 }, (_, b) => Array.from({ length: 40 }, (_, i) => link(`http://site.test/b${b}/${i}`)));
    const replies = await Promise.all(batches.map((links) => ledger.extracted(id, seed.taskId, links, 60_000, 60_000)));
    const admitted = replies.reduce((n, r) => n + (r.kind === 'ok' ? r.admitted.length : 0), 0);
    const limited = replies.reduce((n, r) => n + (r.kind === 'ok' ? r.limited : 0), 0);
    assert.equal(admitted, 49);
    assert.equal(limited, 320 - 49);
    const session = await ledger.getSession(id);
    assert.equal(session?.counts.admitted, 50);
    assert.equal(session?.limited, 320 - 49);
  });

  it('gives a redelivered parent back the children it admitted that are not confirmed yet', async () => {
    const id = 'redelivered-parent';
    await ledger.createSession(id, spec(), 60_000);
    const seed = link('http://site.test/', 0);
    await ledger.admitSeeds(id, [seed], 60_000);
    const links = [link('http://site.test/a'), link('http://site.test/b')];
    const first = await ledger.extracted(id, seed.taskId, links, 60_000, 60_000);
    const again = await ledger.extracted(id, seed.taskId, links, 60_000, 60_000);
    assert.deepEqual(first, { kind: 'ok', admitted: [0, 1], limited: 0 });
    assert.deepEqual(again, { kind: 'ok', admitted: [0, 1], limited: 0 }, 'still P: publish again');
    await ledger.confirmQueued(id, [links[0]!.taskId]);
    const third = await ledger.extracted(id, seed.taskId, links, 60_000, 60_000);
    assert.deepEqual(third, { kind: 'ok', admitted: [1], limited: 0 }, 'a confirmed child is not announced again');
    assert.equal((await ledger.getSession(id))?.counts.admitted, 3);
  });

  it('lets one consumer hold a task and drops stale or duplicate copies', async () => {
    const id = 'claims';
    await ledger.createSession(id, spec(), 60_000);
    const t = link('http://site.test/x', 0);
    await ledger.admitSeeds(id, [t], 60_000);
    assert.deepEqual(await ledger.claim(id, t.taskId, 60_000, 3), { kind: 'ok', attempt: 1 });
    assert.deepEqual(await ledger.claim(id, t.taskId, 60_000, 3), { kind: 'busy', state: 'F' });
    // A lease that expired may be taken over: the next attempt.
    assert.deepEqual(await ledger.claim(id, t.taskId, 1, 3), { kind: 'busy', state: 'F' });
    await redis.zadd(redisKeys(ns).session(id).leases, 0, t.taskId);
    assert.deepEqual(await ledger.claim(id, t.taskId, 60_000, 3), { kind: 'ok', attempt: 2 });
    // The stale attempt 1 cannot park the task for a retry.
    assert.equal(await ledger.parkForRetry(id, t.taskId, 1, 1000), false);
    assert.equal(await ledger.parkForRetry(id, t.taskId, 2, 1000), true);
    assert.equal((await ledger.task(id, t.taskId))?.state, 'W');
  });

  it('appends a record once however often delivery sees it, and completes the session', async () => {
    const id = 'exactly-once';
    await ledger.createSession(id, spec(), 60_000);
    const t = link('http://site.test/', 0);
    await ledger.admitSeeds(id, [t], 60_000);
    await ledger.claim(id, t.taskId, 60_000, 3);
    const record = JSON.stringify({ url: t.url, outcome: 'delivered' });
    const replies = await Promise.all([1, 2, 3, 4, 5].map(() => ledger.deliver(id, t.taskId, 'delivered', true, record, [])));
    assert.equal(replies.filter((r) => r.kind === 'completed').length, 1);
    assert.equal(replies.filter((r) => r.kind === 'duplicate').length, 4);
    assert.deepEqual(await ledger.results(id, 0, 10), [record]);
    const s = await ledger.getSession(id);
    assert.equal(s?.status, 'completed');
    assert.equal(s?.counts.delivered, 1);
    assert.equal(s?.counts.fetched, 1);
  });

  it('marks queued tasks of a cancelled session cancelled when a fetcher claims them', async () => {
    const id = 'cancelled';
    await ledger.createSession(id, spec(), 60_000);
    const t = link('http://site.test/', 0);
    await ledger.admitSeeds(id, [t], 60_000);
    assert.deepEqual(await ledger.cancel(id), { kind: 'ok', status: 'running' });
    assert.deepEqual(await ledger.cancel(id), { kind: 'unchanged', status: 'cancelled' });
    assert.deepEqual(await ledger.claim(id, t.taskId, 60_000, 3), { kind: 'cancelled' });
    assert.deepEqual(await ledger.claim(id, t.taskId, 60_000, 3), { kind: 'done', state: 'C' });
    assert.equal((await ledger.getSession(id))?.counts.cancelled, 1);
  });

  it('marks late results of a partial session as supplements', async () => {
    const id = 'partial';
    await ledger.createSession(id, spec({ timeoutMs: 1 }), 60_000);
    const a = link('http://site.test/a', 0);
    await ledger.admitSeeds(id, [a], 60_000);
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(await ledger.expireSession(id), 'partial');
    await ledger.deliver(id, a.taskId, 'delivered', true, JSON.stringify({ url: a.url }), []);
    assert.deepEqual(await ledger.results(id, 0, 10), [JSON.stringify({ url: a.url, supplement: true })]);
    assert.equal((await ledger.getSession(id))?.counts.supplements, 1);
  });

  it('reconciles counters that drifted from the ledger, and only those', async () => {
    const id = 'drift';
    await ledger.createSession(id, spec(), 60_000);
    const links = ['a', 'b', 'c'].map((x, i) => link(`http://site.test/${x}`, i === 0 ? 0 : 1));
    await ledger.admitSeeds(id, links, 60_000);
    await ledger.deliver(id, links[0]!.taskId, 'delivered', true, '{}', []);
    await ledger.deliver(id, links[1]!.taskId, 'failed', true, '{}', []);
    await ledger.deliver(id, links[2]!.taskId, 'delivered', true, '{}', []);
    assert.deepEqual(await ledger.reconcile(id, 2), {}, 'nothing to fix');
    const k = redisKeys(ns).session(id);
    await redis.hincrby(k.session, 'delivered', 5);
    await redis.hset(k.session, 'failed', 0);
    assert.deepEqual(await ledger.reconcile(id, 2), { delivered: [7, 2], failed: [0, 1] });
    const s = await ledger.getSession(id);
    assert.deepEqual([s?.counts.delivered, s?.counts.failed, s?.cleaner.reconciled], [2, 1, 2]);
  });

  it('prunes index entries of sessions whose keys expired', async () => {
    const keys = redisKeys(ns);
    await redis.zadd(keys.sessionsIndex, 1, 'long-gone');
    await ledger.createSession('still-here', spec(), 60_000);
    await redis.zadd(keys.sessionsIndex, 2, 'still-here');
    assert.equal(await ledger.pruneIndex(10, 100), 1);
    assert.equal(await redis.zscore(keys.sessionsIndex, 'long-gone'), null);
    assert.notEqual(await redis.zscore(keys.sessionsIndex, 'still-here'), null);
  });
});
