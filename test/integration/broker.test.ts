/**
 * Publishing against the real RabbitMQ: a publish the broker refuses (a nack on an open
 * channel) is tried again on a fresh channel until the queue takes it, within publishWaitMs.
 *
 * RabbitMQ 3.10 keeps refusing on the channel that was refused: a quorum queue's client state
 * in the channel stays "reject" (after a node stop it is a dead leader's, for good). A full
 * quorum queue with `x-overflow: reject-publish` shows the same on one node: once there is room
 * again (but not below its soft limit), the channel that was refused is still refused, a new
 * one is not. So the first test fails if the broker retried on the same channel, or did not
 * retry at all.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { CrawlError } from '../../shared/errors/index.js';
import { Broker } from '../../shared/messaging/broker.js';
import { topology } from '../../shared/messaging/topology.js';
import { createLogger } from '../../shared/observability/log.js';
import { AMQP_URL, cleanupNamespace, testNamespace, waitFor } from '../support/stack.js';

/** Publishes with a confirm: true when the broker took it, false when it nacked it. */
function confirmed(ch: ConfirmChannel, queue: string, body: string): Promise<boolean> {
  return new Promise((resolve) => ch.publish('', queue, Buffer.from(body), { persistent: true }, (err: unknown) => resolve(!err)));
}

describe('broker publishing (real RabbitMQ)', function () {
  this.timeout(60_000);
  let ns: string;
  let queue: string;
  let conn: ChannelModel;
  let ch: ConfirmChannel;
  let broker: Broker | null = null;
  const lines: string[] = [];
  const log = createLogger('test', 'warn', new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));

  /** A quorum queue of one message at most that refuses publishes beyond it, filled by a channel of the test's. */
  beforeEach(async () => {
    ns = testNamespace('p');
    queue = `${ns}.v3.full`;
    lines.length = 0;
    conn = await amqp.connect(AMQP_URL);
    ch = await conn.createConfirmChannel();
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
    // The limit is checked after an enqueue: the queue may take one more before it refuses.
    let refused = false;
    for (let i = 0; i < 10 && !refused; i++) refused = !(await confirmed(ch, queue, `filler-${i}`));
    assert.ok(refused, 'the full queue refuses a publish');
  });

  afterEach(async () => {
    await broker?.close();
    broker = null;
    await ch.deleteQueue(queue).catch(() => undefined);
    await conn.close().catch(() => undefined);
    await cleanupNamespace(ns);
  });

  function start(publishWaitMs: number): Promise<Broker> {
    broker = new Broker({ url: AMQP_URL, name: 'test', heartbeatS: 10, topology: topology(ns), queueType: 'quorum', deliveryLimit: 5, log, publishWaitMs });
    return broker.start().then(() => broker as Broker);
  }

  it('tries a refused publish again on a fresh channel and resolves once the queue takes it', async () => {
    const b = await start(40_000);
    let settled = false;
    const publishing = b.publish(queue, Buffer.from('kept')).finally(() => {
      settled = true;
    });
    await waitFor(async () => lines.some((l) => l.includes('publishing on a fresh channel')), { timeoutMs: 20_000, what: 'the refused publish to renew the channel' });
    assert.equal(settled, false, 'the publish waits while the queue is full');
    // Room for one again, not below the queue's soft limit: a channel that was refused stays
    // refused (RabbitMQ tells it "go" only below the soft limit), a fresh one is taken.
    const first = await ch.get(queue, { noAck: true });
    assert.ok(first, 'the queue held a message');
    await publishing;
    assert.equal(await confirmed(ch, queue, 'refused-again'), false, 'the channel that was refused is still refused');
    const held: string[] = [];
    for (let m = await ch.get(queue, { noAck: true }); m; m = await ch.get(queue, { noAck: true })) held.push(m.content.toString());
    assert.ok(held.includes('kept'), `the publish is in the queue (${held.join(', ')})`);
    assert.ok(lines.some((l) => l.includes(queue)), 'the log line names the queue');
  });

  it('fails a publish the broker keeps refusing after publishWaitMs, naming the queue', async () => {
    const b = await start(1500);
    await assert.rejects(b.publish(queue, Buffer.from('dropped')), (err: unknown) => {
      assert.ok(err instanceof CrawlError);
      assert.equal(err.code, 'unavailable');
      assert.match(err.message, new RegExp(`publish to ${queue} refused by the broker`));
      return true;
    });
    // The broker still publishes elsewhere: the fresh channel is in use.
    await ch.purgeQueue(queue);
    await b.publish(queue, Buffer.from('later'));
    assert.equal((await ch.checkQueue(queue)).messageCount, 1);
  });
});
