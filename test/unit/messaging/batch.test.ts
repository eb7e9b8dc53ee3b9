/**
 * BatchPublisher: what is sent to a queue within the linger window, or up to the item and
 * byte bounds, leaves as one message; every sender resolves only when the message holding
 * its items was confirmed, and rejects when it was not. The broker is a recorder of our own
 * (the publisher depends only on `publish`), so timing and failures are under the test's control.
 */
import assert from 'node:assert/strict';
import type { Options } from 'amqplib';
import { BatchPublisher, type BatchCodec, type BatchLimits } from '../../../shared/messaging/batch.js';

interface Sent {
  queue: string;
  items: string[];
  confirm: () => void;
  fail: (err: Error) => void;
}

/** Records publishes; each stays unconfirmed until the test confirms or fails it. */
class RecordingBroker {
  readonly sent: Sent[] = [];
  publish(queue: string, content: Buffer, _options?: Options.Publish): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sent.push({ queue, items: JSON.parse(content.toString()) as string[], confirm: resolve, fail: reject });
    });
  }
}

const codec: BatchCodec<string> = {
  kind: 'test',
  encode: (items) => ({ content: Buffer.from(JSON.stringify(items)), options: {} }),
  decode: () => [],
  size: (item) => item.length,
};

const settled = async <T>(p: Promise<T>): Promise<'pending' | 'resolved' | 'rejected'> => {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  p.then(() => (state = 'resolved'), () => (state = 'rejected'));
  await new Promise((r) => setImmediate(r));
  return state;
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('BatchPublisher', () => {
  let broker: RecordingBroker;
  let limits: BatchLimits;
  let publisher: BatchPublisher;

  beforeEach(() => {
    broker = new RecordingBroker();
    limits = { maxItems: 3, maxBytes: 1000, lingerMs: 20 };
    publisher = new BatchPublisher(broker, () => limits);
  });

  it('sends what arrives within the linger window as one message, and resolves on its confirm', async () => {
    const a = publisher.send(codec, 'q', 'a');
    const b = publisher.send(codec, 'q', 'b');
    assert.equal(broker.sent.length, 0, 'nothing sent before the window closes');
    await sleep(40);
    assert.deepEqual(broker.sent.map((s) => s.items), [['a', 'b']]);
    assert.equal(await settled(a), 'pending', 'not resolved before the broker confirmed');
    broker.sent[0]!.confirm();
    assert.equal(await settled(a), 'resolved');
    assert.equal(await settled(b), 'resolved');
  });

  it('sends at once when a batch is full, and splits a longer list over several messages', async () => {
    const all = publisher.send(codec, 'q', ['1', '2', '3', '4', '5', '6', '7']);
    assert.deepEqual(broker.sent.map((s) => s.items), [['1', '2', '3'], ['4', '5', '6']], 'full batches leave without waiting');
    await sleep(40);
    assert.deepEqual(broker.sent.map((s) => s.items), [['1', '2', '3'], ['4', '5', '6'], ['7']]);
    broker.sent[0]!.confirm();
    broker.sent[1]!.confirm();
    assert.equal(await settled(all), 'pending', 'resolves only when every message holding its items was confirmed');
    broker.sent[2]!.confirm();
    assert.equal(await settled(all), 'resolved');
  });

  it('bounds a message by bytes; a single item larger than the bound travels alone', async () => {
    limits = { maxItems: 100, maxBytes: 10, lingerMs: 20 };
    void publisher.send(codec, 'q', ['aaaa', 'bbbb', 'cccc', 'x'.repeat(50), 'dd']);
    await sleep(40);
    assert.deepEqual(broker.sent.map((s) => s.items), [['aaaa', 'bbbb'], ['cccc'], ['x'.repeat(50)], ['dd']]);
  });

  it('keeps queues apart', async () => {
    void publisher.send(codec, 'fetch', 'f1');
    void publisher.send(codec, 'deliver', 'd1');
    void publisher.send(codec, 'fetch', 'f2');
    await sleep(40);
    assert.deepEqual(broker.sent.map((s) => [s.queue, s.items]).sort(), [['deliver', ['d1']], ['fetch', ['f1', 'f2']]]);
  });

  it('with lingerMs 0 batches what is sent in the same tick only', async () => {
    limits = { maxItems: 100, maxBytes: 1000, lingerMs: 0 };
    void publisher.send(codec, 'q', 'a');
    void publisher.send(codec, 'q', 'b');
    await new Promise((r) => setImmediate(r));
    void publisher.send(codec, 'q', 'c');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(broker.sent.map((s) => s.items), [['a', 'b'], ['c']]);
  });

  it('rejects every sender of a message the broker did not confirm, and only those', async () => {
    const a = publisher.send(codec, 'q', ['a', 'b', 'c']);
    const d = publisher.send(codec, 'q', 'd');
    broker.sent[0]!.fail(new Error('nack'));
    assert.equal(await settled(a), 'rejected');
    await sleep(40);
    broker.sent[1]!.confirm();
    assert.equal(await settled(d), 'resolved');
  });

  it('rejects the senders of a batch that cannot be encoded', async () => {
    const broken: BatchCodec<string> = { ...codec, encode: () => { throw new Error('cannot encode'); } };
    await assert.rejects(publisher.send(broken, 'q', ['a', 'b', 'c']), /cannot encode/);
    assert.equal(broker.sent.length, 0);
  });

  it('drain sends what waits and waits for the confirms', async () => {
    void publisher.send(codec, 'q', 'a');
    assert.equal(publisher.waiting, 1);
    const drained = publisher.drain();
    assert.equal(broker.sent.length, 1, 'sent without waiting for the linger');
    assert.equal(publisher.waiting, 0);
    assert.equal(await settled(drained), 'pending');
    broker.sent[0]!.confirm();
    assert.equal(await settled(drained), 'resolved');
  });

  it('resolves an empty send at once without a message', async () => {
    await publisher.send(codec, 'q', []);
    await sleep(30);
    assert.equal(broker.sent.length, 0);
  });
});
