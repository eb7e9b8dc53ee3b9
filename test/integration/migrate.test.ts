/**
 * Draining the previous queue layout (shared/messaging/migrate.ts) on the real RabbitMQ: what
 * the previous release left on its work, quarantine, dead and delay queues reaches the queue of
 * the same role in this release's layout, bytes and headers unchanged, a delayed retry still
 * delayed; the old queues and exchange go only once nothing of the previous release is alive.
 */
import assert from 'node:assert/strict';
import amqp, { type ChannelModel } from 'amqplib';
import { migrateStep, oldQueues } from '../../shared/messaging/migrate.js';
import { declareTopology, DELAY_HEADER, PREVIOUS_TOPOLOGY_VERSION, topology } from '../../shared/messaging/topology.js';
import { fetchCodec } from '../../shared/tasks/codec.js';
import type { FetchTask } from '../../shared/tasks/types.js';
import { AMQP_URL, cleanupNamespace, testNamespace, waitFor } from '../support/stack.js';

const task = (n: number): FetchTask => ({ sessionId: 's1', taskId: `t${n}`, url: `http://127.0.0.1/${n}`, depth: 0, attempt: 0, admittedAt: 1 });

describe('migration of the previous queue layout', function () {
  this.timeout(60_000);
  let conn: ChannelModel;
  const namespaces: string[] = [];

  before(async () => {
    conn = await amqp.connect(AMQP_URL);
  });
  after(async () => {
    await conn.close().catch(() => undefined);
    for (const ns of namespaces) await cleanupNamespace(ns);
  });

  /** The previous release's queues as it declared them (quorum, no replica count), with messages. */
  async function previousLayout(ns: string): Promise<void> {
    const old = topology(ns, PREVIOUS_TOPOLOGY_VERSION);
    const ch = await conn.createConfirmChannel();
    const q = { durable: true, arguments: { 'x-queue-type': 'quorum' } };
    for (const name of [old.queue('fetch'), old.quarantine(old.queue('extract')), old.dead]) await ch.assertQueue(name, q);
    await ch.assertExchange(old.delayExchange, 'headers', { durable: true });
    const delayed = old.delayQueue(30_000);
    await ch.assertQueue(delayed, { durable: true, arguments: { ...q.arguments, 'x-message-ttl': 30_000, 'x-dead-letter-exchange': '' } });
    await ch.bindQueue(delayed, old.delayExchange, '', { 'x-match': 'all', [DELAY_HEADER]: '30000' });
    const put = (exchange: string, key: string, n: number, headers: Record<string, unknown> = {}): void => {
      const { content, options } = fetchCodec.encode([task(n)]);
      ch.publish(exchange, key, content, { ...options, persistent: true, headers: { ...options.headers, ...headers } });
    };
    for (let i = 0; i < 5; i++) put('', old.queue('fetch'), i);
    put('', old.quarantine(old.queue('extract')), 10);
    put('', old.dead, 20, { 'x-first-death-queue': old.quarantine(old.queue('fetch')) });
    put(old.delayExchange, old.queue('fetch'), 30, { [DELAY_HEADER]: '30000' });
    await ch.waitForConfirms();
    await ch.close();
  }

  it('moves every message to the queue of the same role, keeps a retry delayed, and removes the old layout', async () => {
    const ns = testNamespace('m');
    namespaces.push(ns);
    await previousLayout(ns);
    const t = topology(ns);
    const setup = await conn.createChannel();
    await declareTopology(setup, t, { queueType: 'quorum', deliveryLimit: 5 });
    await setup.close();

    // While a replica of the previous release lives, nothing old is removed (but everything is moved).
    const kept = await migrateStep(conn, t, { canRemove: async () => false });
    assert.deepEqual(kept.removed, []);
    const old = topology(ns, PREVIOUS_TOPOLOGY_VERSION);
    assert.deepEqual(kept.moved, { [old.queue('fetch')]: 5, [old.quarantine(old.queue('extract'))]: 1, [old.dead]: 1, [old.delayQueue(30_000)]: 1 });
    assert.deepEqual(kept.remaining.map((q) => q.messages), kept.remaining.map(() => 0));

    const ch = await conn.createChannel();
    const depth = async (q: string): Promise<number> => (await ch.checkQueue(q)).messageCount;
    assert.equal(await depth(t.queue('fetch')), 5);
    assert.equal(await depth(t.quarantine(t.queue('extract'))), 1);
    assert.equal(await depth(t.dead), 1);
    assert.equal(await depth(t.delayQueue(30_000)), 1, 'the delayed retry waits in the new delay queue of its delay');
    const msg = await ch.get(t.queue('fetch'), { noAck: true });
    assert.ok(msg);
    assert.deepEqual(fetchCodec.decode(msg), [task(0)], 'the bytes are moved unchanged');
    const dead = await ch.get(t.dead, { noAck: true });
    assert.ok(dead);
    assert.equal(dead.properties.headers?.['x-first-death-queue'], old.quarantine(old.queue('fetch')));
    assert.equal(t.stageOf(String(dead.properties.headers?.['x-first-death-queue'])), 'fetch', 'delivery still tells the stage of a message that died on the old layout');
    await ch.close();

    const done = await migrateStep(conn, t, { canRemove: async () => true });
    assert.deepEqual(done.remaining, []);
    assert.ok(done.removed.includes(old.queue('fetch')) && done.removed.includes(old.delayExchange), JSON.stringify(done.removed));
    assert.deepEqual(await oldQueues(conn, t), []);
    const check = await conn.createChannel();
    check.on('error', () => undefined);
    await assert.rejects(check.checkExchange(old.delayExchange));
  });

  it('leaves a queue that a consumer of the previous release still reads', async () => {
    const ns = testNamespace('m');
    namespaces.push(ns);
    await previousLayout(ns);
    const t = topology(ns);
    const setup = await conn.createChannel();
    await declareTopology(setup, t, { queueType: 'quorum', deliveryLimit: 5 });
    await setup.close();
    const old = topology(ns, PREVIOUS_TOPOLOGY_VERSION);
    const consumer = await conn.createChannel();
    await consumer.prefetch(1);
    await consumer.consume(old.queue('fetch'), () => undefined);
    const step = await migrateStep(conn, t, { canRemove: async () => true });
    assert.ok(step.remaining.some((q) => q.name === old.queue('fetch') && q.consumers === 1), JSON.stringify(step.remaining));
    assert.ok(!step.removed.includes(old.delayExchange), 'the old exchange stays while an old queue does');
    await consumer.close();
    const after = await waitFor(async () => {
      const s = await migrateStep(conn, t, { canRemove: async () => true });
      return s.remaining.length === 0 ? s : null;
    }, { timeoutMs: 20_000, what: 'the old fetch queue to be drained and removed' });
    assert.ok(after);
    // The message the old consumer held (unacked, requeued when it closed) reached the new layout too.
    const ch = await conn.createChannel();
    assert.equal((await ch.checkQueue(t.queue('fetch'))).messageCount, 5);
    await ch.close();
  });
});
