/**
 * The task ledger and the shared admission path against the real Redis and RabbitMQ:
 * concurrent admission, limits, compare-and-set transitions, exactly-once delivery through
 * delivery's protocol (records written to the results store, then the ledger's CAS).
 */
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { admitSeeds, fetchTask, screenLinks, sessionPolicy } from '../../shared/admission/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { Maintenance, SessionStore, TaskLedger, type LinkToAdmit } from '../../shared/ledger/index.js';
import { Broker } from '../../shared/messaging/broker.js';
import { topology } from '../../shared/messaging/topology.js';
import { createLogger } from '../../shared/observability/log.js';
import { Outbox } from '../../shared/pipeline/outbox.js';
import { createRedis } from '../../shared/redis/client.js';
import { redisKeys } from '../../shared/redis/keys.js';
import { RedisResultsStore } from '../../shared/results/redis.js';
import { bareRecord, deliverMessage } from '../../shared/tasks/records.js';
import type { Outcome, SessionSpec } from '../../shared/tasks/types.js';
import { deliverRecords } from '../../services/delivery/records.js';
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
const withHost = (links: readonly LinkToAdmit[]): (LinkToAdmit & { host: string })[] => links.map((l) => ({ ...l, host: new URL(l.url).host }));
const NO_TRAPS = { resultLeaseMs: 60_000, admitLeaseMs: 60_000, maxPagesPerHost: 0, retentionMs: 0 };

describe('ledger and admission (real Redis and RabbitMQ)', function () {
  this.timeout(30_000);
  const ns = testNamespace('i');
  const log = createLogger('test', 'silent');
  let redis: Redis;
  let sessions: SessionStore;
  let tasks: TaskLedger;
  let maintenance: Maintenance;
  let results: RedisResultsStore;
  let broker: Broker;
  let outbox: Outbox;
  const extra: Redis[] = [];
  /** The page found links (admit-found-5 without trap limits): the extractor's call. */
  const extracted = async (ledger: TaskLedger, id: string, parent: string, links: readonly LinkToAdmit[]) =>
    (await ledger.admitFoundPages(id, [{ taskId: parent, links: withHost(links) }], NO_TRAPS))[0]!;
  /** Delivery of one record, the production protocol. */
  const deliver = (id: string, l: LinkToAdmit, outcome: Outcome) =>
    deliverRecords({ results, tasks }, id, [deliverMessage({ sessionId: id, taskId: l.taskId, url: l.url, depth: l.depth }, bareRecord({ sessionId: id, taskId: l.taskId, url: l.url, depth: l.depth }, outcome, { status: 200 }))]);
  const records = async (id: string) => (await results.list(id, { limit: 100 })).records;

  before(async () => {
    redis = createRedis(REDIS_URL, { name: 'test' });
    sessions = new SessionStore(redis, redisKeys(ns));
    tasks = new TaskLedger(redis, redisKeys(ns));
    maintenance = new Maintenance(redis, redisKeys(ns));
    results = new RedisResultsStore(redis, redisKeys(ns));
    broker = new Broker({ url: AMQP_URL, name: 'test', heartbeatS: 10, topology: topology(ns), queueType: 'quorum', deliveryLimit: 5, log });
    await broker.start();
    const cfg = loadConfig({ env: {}, file: null }).config;
    outbox = new Outbox(broker, topology(ns), () => cfg);
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
    await sessions.create(id, s, 60_000);
    const seeded = await admitSeeds({ tasks, outbox, admitLeaseMs: 60_000 }, sessionPolicy(id, s), { maxUrlLength: 2048 });
    assert.equal(seeded.admitted, 10);
    const shared = Array.from({ length: 200 }, (_, i) => `http://site.test/page/${i}`);
    const parents = s.seeds.map((u) => fingerprint(u));
    // Ten clients, ten parents, every parent found the same 200 links (in its own order).
    const replies = await Promise.all(
      parents.map(async (parent, i) => {
        const client = createRedis(REDIS_URL, { name: `test-${i}` });
        extra.push(client);
        const links = screenLinks(i % 2 ? shared : [...shared].reverse(), sessionPolicy(id, s), 1, { maxUrlLength: 2048 }).links;
        const reply = await extracted(new TaskLedger(client, redisKeys(ns)), id, parent, links);
        assert.equal(reply.kind, 'ok');
        const admitted = reply.kind === 'ok' ? reply.admitted.map((k) => links[k] as LinkToAdmit) : [];
        await outbox.send('fetch', admitted.map((l) => fetchTask(id, l)));
        return admitted.map((l) => l.url);
      }),
    );
    const all = replies.flat();
    assert.equal(all.length, 200, 'every link admitted by exactly one parent');
    assert.deepEqual(new Set(all), new Set(shared));
    const session = await sessions.get(id);
    assert.equal(session?.counts.admitted, 210);
    // The queue holds batches: take every message and count the tasks they carry.
    const queued = (await takeAll(broker, topology(ns).queue('fetch'), outbox.codecs.fetch)).map((t) => t.url);
    assert.equal(queued.length, 210, 'every admitted URL published once');
    assert.equal(new Set(queued).size, 210);
  });

  it('stops at maxPages exactly, however many admits race', async () => {
    const id = 'limited';
    const s = spec({ maxPages: 50 });
    await sessions.create(id, s, 60_000);
    const seed = link('http://site.test/', 0);
    await tasks.admitSeeds(id, [seed], 60_000);
    const batches = Array.from({ length: 8 }, (_, b) => Array.from({ length: 40 }, (_, i) => link(`http://site.test/b${b}/${i}`)));
    const replies = await Promise.all(batches.map((links) => extracted(tasks, id, seed.taskId, links)));
    const admitted = replies.reduce((n, r) => n + (r.kind === 'ok' ? r.admitted.length : 0), 0);
    const limited = replies.reduce((n, r) => n + (r.kind === 'ok' ? r.limited : 0), 0);
    assert.equal(admitted, 49);
    assert.equal(limited, 320 - 49);
    const session = await sessions.get(id);
    assert.equal(session?.counts.admitted, 50);
    assert.equal(session?.limited, 320 - 49);
  });

  it('gives a redelivered parent back the children it admitted that are not confirmed yet', async () => {
    const id = 'redelivered-parent';
    await sessions.create(id, spec(), 60_000);
    const seed = link('http://site.test/', 0);
    await tasks.admitSeeds(id, [seed], 60_000);
    const links = [link('http://site.test/a'), link('http://site.test/b')];
    const first = await extracted(tasks, id, seed.taskId, links);
    const again = await extracted(tasks, id, seed.taskId, links);
    assert.deepEqual(first, { kind: 'ok', admitted: [0, 1], limited: 0, hostLimited: 0, verdicts: 'aa' });
    assert.deepEqual(again, { kind: 'ok', admitted: [0, 1], limited: 0, hostLimited: 0, verdicts: 'aa' }, 'still P: publish again');
    await tasks.confirmQueued(id, [links[0]!.taskId]);
    const third = await extracted(tasks, id, seed.taskId, links);
    assert.deepEqual(third, { kind: 'ok', admitted: [1], limited: 0, hostLimited: 0, verdicts: 'ea' }, 'a confirmed child is not announced again');
    assert.equal((await sessions.get(id))?.counts.admitted, 3);
  });

  it('lets one consumer hold a task and drops stale or duplicate copies', async () => {
    const id = 'claims';
    await sessions.create(id, spec(), 60_000);
    const t = link('http://site.test/x', 0);
    await tasks.admitSeeds(id, [t], 60_000);
    const claim = async (leaseMs: number) => (await tasks.claim(id, [t.taskId], { leaseMs, maxAttempts: 3, takeOver: false }))[0];
    assert.deepEqual(await claim(60_000), { kind: 'ok', attempt: 1 });
    assert.deepEqual(await claim(60_000), { kind: 'busy', state: 'F' });
    // A lease that expired may be taken over: the next attempt.
    assert.deepEqual(await claim(1), { kind: 'busy', state: 'F' });
    await redis.zadd(redisKeys(ns).session(id).leases, 0, t.taskId);
    assert.deepEqual(await claim(60_000), { kind: 'ok', attempt: 2 });
    // The stale attempt 1 cannot park the task for a retry.
    assert.equal(await tasks.parkForRetry(id, t.taskId, 1, 1000), false);
    assert.equal(await tasks.parkForRetry(id, t.taskId, 2, 1000), true);
    assert.equal((await tasks.task(id, t.taskId))?.state, 'W');
  });

  it('keeps a record once however often delivery sees it, and completes the session', async () => {
    const id = 'exactly-once';
    await sessions.create(id, spec(), 60_000);
    const t = link('http://site.test/', 0);
    await tasks.admitSeeds(id, [t], 60_000);
    await tasks.claim(id, [t.taskId], { leaseMs: 60_000, maxAttempts: 3, takeOver: false });
    const replies = await Promise.all([1, 2, 3, 4, 5].map(() => deliver(id, t, 'delivered')));
    assert.equal(replies.filter((r) => r.event === 'completed').length, 1);
    assert.equal(replies.filter((r) => r.accepted.length === 0).length, 4);
    const kept = await records(id);
    assert.deepEqual(kept.map((r) => [r.url, r.outcome]), [[t.url, 'delivered']]);
    const s = await sessions.get(id);
    assert.equal(s?.status, 'completed');
    assert.equal(s?.counts.delivered, 1);
    assert.equal(s?.counts.fetched, 1);
  });

  it('keeps the record the ledger chose when an earlier attempt wrote one and died before its compare-and-set', async () => {
    const id = 'crash-between';
    await sessions.create(id, spec(), 60_000);
    const t = link('http://site.test/', 0);
    await tasks.admitSeeds(id, [t], 60_000);
    // Attempt 1 wrote its record (a failure), then died: no compare-and-set.
    const ref = { sessionId: id, taskId: t.taskId, url: t.url, depth: 0 };
    await results.put([{ sessionId: id, taskId: t.taskId, record: bareRecord(ref, 'failed', { reason: 'timeout', attempts: 1 }) }]);
    // Attempt 2 delivers the page: the ledger takes it, and the row follows.
    const r = await deliver(id, t, 'delivered');
    assert.equal(r.accepted.length, 1);
    assert.deepEqual((await records(id)).map((x) => x.outcome), ['delivered']);
    // A redelivery of attempt 1's message now changes nothing.
    const again = await deliverRecords({ results, tasks }, id, [deliverMessage(ref, bareRecord(ref, 'failed', { reason: 'timeout', attempts: 1 }))]);
    assert.equal(again.accepted.length, 0);
    assert.deepEqual((await records(id)).map((x) => x.outcome), ['delivered']);
  });

  it('removes a record the ledger refused because the task ended without one (cancelled)', async () => {
    const id = 'refused';
    await sessions.create(id, spec(), 60_000);
    const t = link('http://site.test/', 0);
    await tasks.admitSeeds(id, [t], 60_000);
    await sessions.cancel(id);
    assert.equal(await maintenance.closeTasks(id, 10), 1);
    const r = await deliver(id, t, 'delivered');
    assert.equal(r.accepted.length, 0);
    assert.deepEqual(await records(id), []);
    assert.equal((await sessions.get(id))?.counts.cancelled, 1);
  });

  it('marks queued tasks of a cancelled session cancelled when a fetcher claims them', async () => {
    const id = 'cancelled';
    await sessions.create(id, spec(), 60_000);
    const t = link('http://site.test/', 0);
    await tasks.admitSeeds(id, [t], 60_000);
    assert.deepEqual(await sessions.cancel(id), { kind: 'ok', status: 'running' });
    assert.deepEqual(await sessions.cancel(id), { kind: 'unchanged', status: 'cancelled' });
    const claim = async () => (await tasks.claim(id, [t.taskId], { leaseMs: 60_000, maxAttempts: 3, takeOver: false }))[0];
    assert.deepEqual(await claim(), { kind: 'cancelled' });
    assert.deepEqual(await claim(), { kind: 'done', state: 'C' });
    assert.equal((await sessions.get(id))?.counts.cancelled, 1);
  });

  it('marks late results of a partial session as supplements', async () => {
    const id = 'partial';
    await sessions.create(id, spec({ timeoutMs: 1 }), 60_000);
    const a = link('http://site.test/a', 0);
    await tasks.admitSeeds(id, [a], 60_000);
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(await sessions.expire(id), 'partial');
    const r = await deliver(id, a, 'delivered');
    assert.equal(r.supplements.length, 1);
    assert.deepEqual((await records(id)).map((x) => [x.url, x.supplement]), [[a.url, true]]);
    assert.deepEqual((await results.list(id, { limit: 10, supplement: false })).records, []);
    assert.equal((await sessions.get(id))?.counts.supplements, 1);
  });

  it('reconciles counters that drifted from the ledger, and only those', async () => {
    const id = 'drift';
    await sessions.create(id, spec(), 60_000);
    const links = ['a', 'b', 'c'].map((x, i) => link(`http://site.test/${x}`, i === 0 ? 0 : 1));
    await tasks.admitSeeds(id, links, 60_000);
    await deliver(id, links[0]!, 'delivered');
    await deliver(id, links[1]!, 'failed');
    await deliver(id, links[2]!, 'delivered');
    assert.deepEqual(await maintenance.reconcile(id, 2), {}, 'nothing to fix');
    const k = redisKeys(ns).session(id);
    await redis.hincrby(k.session, 'delivered', 5);
    await redis.hset(k.session, 'failed', 0);
    assert.deepEqual(await maintenance.reconcile(id, 2), { delivered: [7, 2], failed: [0, 1] });
    const s = await sessions.get(id);
    assert.deepEqual([s?.counts.delivered, s?.counts.failed, s?.cleaner.reconciled], [2, 1, 2]);
  });

  it('prunes index entries of sessions whose keys expired', async () => {
    const keys = redisKeys(ns);
    await redis.zadd(keys.sessionsIndex, 1, 'long-gone');
    await sessions.create('still-here', spec(), 60_000);
    await redis.zadd(keys.sessionsIndex, 2, 'still-here');
    assert.deepEqual(await maintenance.pruneIndex(10, 100), ['long-gone']);
    assert.equal(await redis.zscore(keys.sessionsIndex, 'long-gone'), null);
    assert.notEqual(await redis.zscore(keys.sessionsIndex, 'still-here'), null);
  });
});
