/**
 * `crawlfleet namespace delete` against the real broker and Redis: a namespace's whole
 * topology, session keys and BullMQ control queues go; a namespace with a live consumer is
 * refused (naming the queue) unless forced; other namespaces are untouched.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import amqp, { type ChannelModel } from 'amqplib';
import { Redis } from 'ioredis';
import { openControlQueue } from '../../shared/controlplane/queues.js';
import { declareTopology, topology } from '../../shared/messaging/topology.js';
import { packageRoot } from '../../shared/paths.js';
import { redisKeys } from '../../shared/redis/keys.js';
import { deleteNamespace, existingQueues, keyPattern, NamespaceInUseError, namespaceQueues } from '../../scripts/namespace.js';
import { describeLeftovers, findLeftovers } from '../support/leftovers.js';
import { AMQP_URL, cleanupNamespace, REDIS_URL, testNamespace, testNamespaces } from '../support/stack.js';

const run = promisify(execFile);

async function keysOf(redis: Redis, ns: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', keyPattern(ns), 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}

/** Declares the namespace's topology and writes keys as the services would, BullMQ's included. */
async function populate(conn: ChannelModel, redis: Redis, ns: string): Promise<void> {
  const ch = await conn.createChannel();
  await declareTopology(ch, topology(ns), { queueType: 'quorum', deliveryLimit: 5 });
  await ch.sendToQueue(topology(ns).queue('fetch'), Buffer.from('{}'));
  await ch.close();
  const keys = redisKeys(ns);
  const sk = keys.session('s1');
  await redis.multi().hset(sk.session, { status: 'running' }).rpush(sk.results, '{}').zadd(keys.sessionsIndex, 1, 's1').set(keys.rateGlobal(), '1').exec();
  const bull = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = openControlQueue(keys, 'webhooks', bull);
  await queue.add('webhook', { url: 'http://127.0.0.1:9/' });
  await queue.close();
  bull.disconnect();
}

describe('namespace delete', function () {
  this.timeout(60_000);
  let conn: ChannelModel;
  let redis: Redis;
  const namespaces: string[] = [];
  const fresh = (): string => {
    const ns = testNamespace('n');
    namespaces.push(ns);
    return ns;
  };

  before(async () => {
    conn = await amqp.connect(AMQP_URL);
    redis = new Redis(REDIS_URL);
  });

  after(async () => {
    for (const ns of namespaces) await cleanupNamespace(ns);
    await conn.close();
    redis.disconnect();
  });

  it('names every queue of the topology once', () => {
    const names = namespaceQueues('abc');
    assert.deepEqual(names, [...new Set(names)]);
    for (const q of topology('abc').allQueues) assert.ok(names.includes(q), q);
    assert.equal(keyPattern('a_b-c'), 'a_b-c:*');
  });

  it('refuses while a queue has a consumer, naming it; deletes everything once the consumer is gone', async () => {
    const ns = fresh();
    const neighbour = `${ns}x`;
    namespaces.push(neighbour);
    await populate(conn, redis, ns);
    await redis.set(`${neighbour}:keep`, '1');
    const before = await keysOf(redis, ns);
    assert.ok(before.some((k) => k.startsWith(`${redisKeys(ns).bullPrefix}:`)), `BullMQ keys present: ${before.join(', ')}`);
    assert.equal((await existingQueues(conn, ns)).length, topology(ns).allQueues.length);

    const consumerCh = await conn.createChannel();
    const { consumerTag } = await consumerCh.consume(topology(ns).queue('extract'), () => undefined);
    await assert.rejects(deleteNamespace(conn, redis, ns), (err: unknown) => {
      assert.ok(err instanceof NamespaceInUseError);
      assert.equal(err.message, `namespace ${ns} is in use: ${topology(ns).queue('extract')} has 1 consumer; stop its replicas or pass --force`);
      return true;
    });
    assert.equal((await existingQueues(conn, ns)).length, topology(ns).allQueues.length, 'nothing deleted while refused');
    assert.ok((await keysOf(redis, ns)).length > 0);

    await consumerCh.cancel(consumerTag);
    await consumerCh.close();
    const r = await deleteNamespace(conn, redis, ns);
    assert.equal(r.queues.length, topology(ns).allQueues.length);
    assert.equal(r.messages, 1);
    assert.equal(r.keys, before.length);
    assert.deepEqual(await existingQueues(conn, ns), []);
    assert.deepEqual(await keysOf(redis, ns), []);
    assert.equal(await redis.get(`${neighbour}:keep`), '1', 'a namespace sharing the prefix keeps its keys');
  });

  it('--force deletes while consumers are attached', async () => {
    const ns = fresh();
    await populate(conn, redis, ns);
    const consumerCh = await conn.createChannel();
    consumerCh.on('error', () => undefined);
    await consumerCh.consume(topology(ns).queue('fetch'), () => undefined);
    const r = await deleteNamespace(conn, redis, ns, { force: true });
    assert.equal(r.queues.length, topology(ns).allQueues.length);
    assert.deepEqual(await existingQueues(conn, ns), []);
    assert.deepEqual(await keysOf(redis, ns), []);
    await consumerCh.close().catch(() => undefined);
  });

  it('runs as `crawlfleet namespace delete <ns> [--force]` with the README exit codes', async () => {
    const ns = fresh();
    await populate(conn, redis, ns);
    const bin = join(packageRoot, 'bin', 'crawlfleet.js');
    const env = { PATH: process.env.PATH ?? '', AMQP_URL, REDIS_URL, LOG_LEVEL: 'silent' };
    const cli = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      run(process.execPath, [bin, 'namespace', ...args], { env }).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);

    const usage = await cli('delete');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage: crawlfleet namespace delete <namespace> \[--force\]/);
    assert.equal((await cli('delete', 'Bad/Name')).code, 2);

    const consumerCh = await conn.createChannel();
    consumerCh.on('error', () => undefined);
    const { consumerTag } = await consumerCh.consume(topology(ns).queue('deliver'), () => undefined);
    const refused = await cli('delete', ns);
    assert.equal(refused.code, 1, refused.stderr);
    assert.ok(refused.stderr.includes(`${topology(ns).queue('deliver')} has 1 consumer; stop its replicas or pass --force`), refused.stderr);
    await consumerCh.cancel(consumerTag);
    await consumerCh.close();

    const done = await cli('delete', ns, '--force');
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, new RegExp(`namespace ${ns} deleted: ${topology(ns).allQueues.length} queues \\(1 messages\\), \\d+ Redis keys`));
    assert.deepEqual(await existingQueues(conn, ns), []);
    assert.deepEqual(await keysOf(redis, ns), []);
  });

  it('the end-of-run check finds what a test namespace left, and nothing once it is cleaned up', async () => {
    const ns = fresh();
    assert.ok(testNamespaces().includes(ns), 'testNamespace records what it hands out');
    const ch = await conn.createChannel();
    await ch.assertQueue(topology(ns).dead, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.close();
    await redis.set(`${ns}:left`, '1');
    const found = await findLeftovers([ns]);
    assert.deepEqual(found, [{ namespace: ns, queues: [topology(ns).dead], keys: [`${ns}:left`] }]);
    assert.equal(describeLeftovers(found), `test namespaces left behind (call cleanupNamespace or TestStack.stop in an after hook):\n  ${ns}: 1 queues (${topology(ns).dead}) 1 Redis keys (${ns}:left)`);
    await cleanupNamespace(ns);
    assert.deepEqual(await findLeftovers([ns]), []);
  });
});
