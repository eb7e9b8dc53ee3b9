/**
 * The consumer runtime against the real RabbitMQ: a message is a batch of items; a batch
 * that reaches quarantine is split so a poison item is tried alone; the prefetch of a
 * consumer with an item window follows the batch sizes and its stragglers; a live resize
 * takes effect on the running consumer.
 */
import assert from 'node:assert/strict';
import { BatchPublisher, type BatchCodec } from '../../shared/messaging/batch.js';
import { Broker } from '../../shared/messaging/broker.js';
import { Consumer, prefetchFor, type DeliveryContext } from '../../shared/messaging/consumer.js';
import { topology, type Topology } from '../../shared/messaging/topology.js';
import { createLogger } from '../../shared/observability/log.js';
import { AMQP_URL, cleanupNamespace, testNamespace, waitFor } from '../support/stack.js';

const codec: BatchCodec<string> = {
  kind: 'test',
  encode: (items) => ({ content: Buffer.from(JSON.stringify(items)), options: { contentType: 'application/json' } }),
  decode: (m) => {
    const v = JSON.parse(m.content.toString()) as unknown;
    if (!Array.isArray(v)) throw new Error('not a batch');
    return v as string[];
  },
  size: (s) => s.length,
};

describe('consumer runtime with batches (real RabbitMQ)', function () {
  this.timeout(30_000);
  const log = createLogger('test', 'silent');
  const brokers: Broker[] = [];
  const consumers: Consumer<string>[] = [];
  const namespaces: string[] = [];

  async function setup(): Promise<{ t: Topology; broker: Broker; outbox: BatchPublisher }> {
    const ns = testNamespace('b');
    namespaces.push(ns);
    const t = topology(ns);
    const broker = new Broker({ url: AMQP_URL, name: 'test', heartbeatS: 10, topology: t, queueType: 'quorum', deliveryLimit: 2, log });
    await broker.start();
    brokers.push(broker);
    return { t, broker, outbox: new BatchPublisher(broker, () => ({ maxItems: 100, maxBytes: 1 << 20, lingerMs: 0 })) };
  }

  function consume(broker: Broker, opts: Omit<ConstructorParameters<typeof Consumer<string>>[1], 'codec' | 'log' | 'name'>): Consumer<string> {
    const c = new Consumer<string>(broker, { name: 'test', codec, log, ...opts });
    consumers.push(c);
    return c;
  }

  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.close(1000);
    for (const b of brokers.splice(0)) await b.close();
    for (const ns of namespaces.splice(0)) await cleanupNamespace(ns);
  });

  it('hands a message to the handler as its batch of items, and acks it after the handler', async () => {
    const { t, broker, outbox } = await setup();
    const seen: string[][] = [];
    const c = consume(broker, { queue: t.queue('fetch'), concurrency: 2, handle: async (items) => void seen.push(items) });
    await c.start();
    await outbox.send(codec, t.queue('fetch'), ['a', 'b', 'c']);
    await outbox.send(codec, t.queue('fetch'), ['d']);
    await waitFor(async () => seen.length === 2, { timeoutMs: 5000, what: 'two batches' });
    assert.deepEqual(seen, [['a', 'b', 'c'], ['d']]);
    await waitFor(async () => (await broker.withChannel((ch) => ch.checkQueue(t.queue('fetch')))).messageCount === 0 && c.active === 0, { timeoutMs: 5000, what: 'acked' });
  });

  it('splits a batch that exceeded its delivery limit so only the poison item is dead-lettered', async () => {
    const { t, broker, outbox } = await setup();
    const handled: string[] = [];
    // The handler fails any batch holding 'poison' (as a crash would) and takes the rest.
    const c = consume(broker, {
      queue: t.queue('fetch'),
      quarantine: t.quarantine(t.queue('fetch')),
      concurrency: 1,
      handle: async (items) => {
        if (items.includes('poison')) throw new Error('poison in the batch');
        handled.push(...items);
      },
    });
    await c.start();
    await outbox.send(codec, t.queue('fetch'), ['ok-1', 'poison', 'ok-2']);
    await waitFor(async () => handled.length === 2, { timeoutMs: 15_000, what: 'the healthy items handled in quarantine' });
    assert.deepEqual(handled.sort(), ['ok-1', 'ok-2']);
    const dead = await waitFor(async () => {
      const msg = await broker.withChannel((ch) => ch.get(t.dead, { noAck: true }));
      return msg ? codec.decode(msg) : null;
    }, { timeoutMs: 10_000, what: 'the poison item dead-lettered' });
    assert.deepEqual(dead, ['poison'], 'dead-lettered alone, not with the items it shared a message with');
  });

  it('sizes the prefetch by items: fewer messages for larger batches, more when a straggler holds one', async () => {
    const { t, broker, outbox } = await setup();
    const stragglers: (() => void)[] = [];
    const c = consume(broker, {
      queue: t.queue('fetch'),
      concurrency: Number.POSITIVE_INFINITY,
      itemWindow: 16,
      itemsPerMessage: 1,
      handle: async (items, ctx: DeliveryContext) => {
        // Every item finishes at once except 'slow', which waits for the test.
        for (const item of items) if (item !== 'slow') ctx.itemsDone();
        if (items.includes('slow')) await new Promise<void>((r) => stragglers.push(r));
      },
    });
    await c.start();
    assert.equal(c.currentPrefetch, 16, 'one item per message expected: 16 messages');
    // Batches of 8: the window needs 2 messages.
    for (let round = 0; round < 12; round++) {
      await outbox.send(codec, t.queue('fetch'), Array.from({ length: 8 }, (_, i) => `x${round}.${i}`));
      await new Promise((r) => setTimeout(r, 60));
    }
    // About window / batch size (hysteresis may keep one more), from 16.
    await waitFor(async () => c.currentPrefetch <= prefetchFor(16, 8) + 1 || null, { timeoutMs: 5000, what: `prefetch about ${prefetchFor(16, 8)} (now ${c.currentPrefetch})` });
    // Stragglers: each message keeps one slow item; the window is far from full, so the prefetch grows.
    for (let round = 0; round < 6; round++) {
      await outbox.send(codec, t.queue('fetch'), ['slow', ...Array.from({ length: 7 }, (_, i) => `y${round}.${i}`)]);
      await new Promise((r) => setTimeout(r, 150));
    }
    await waitFor(async () => stragglers.length >= 4 || null, { timeoutMs: 5000, what: `more messages than the prefetch of 2 held by stragglers (held ${stragglers.length}, prefetch ${c.currentPrefetch})` });
    for (const release of stragglers.splice(0)) release();
    await waitFor(async () => (await broker.withChannel((ch) => ch.checkQueue(t.queue('fetch')))).messageCount === 0 && c.active === 0, { timeoutMs: 10_000, what: 'every message acked' });
    for (const release of stragglers.splice(0)) release();
  });

  it('resizes a running consumer: a larger prefetch lets more messages in at once', async () => {
    const { t, broker, outbox } = await setup();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const c = consume(broker, { queue: t.queue('fetch'), concurrency: 2, handle: () => released });
    await c.start();
    for (let i = 0; i < 10; i++) await outbox.send(codec, t.queue('fetch'), [`m${i}`]);
    await waitFor(async () => c.active === 4 || null, { timeoutMs: 5000, what: 'prefetch 4 (twice the concurrency) held' });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(c.active, 4, 'no more than the prefetch');
    await c.resize(8);
    await waitFor(async () => c.active === 10 || null, { timeoutMs: 5000, what: `all 10 held after the resize (held ${c.active})` });
    release();
    await waitFor(async () => c.active === 0 || null, { timeoutMs: 5000, what: 'drained' });
  });
});
