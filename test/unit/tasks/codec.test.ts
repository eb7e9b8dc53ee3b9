import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import type { ConsumeMessage } from 'amqplib';
import { DecodeError, deliverCodec, extractCodec, fetchCodec } from '../../../shared/tasks/codec.js';
import { MESSAGE_VERSION, OLDEST_READ_VERSION, type DeliverRecord, type ExtractTask, type FetchTask, type FinalizeSession, type ResultRecord } from '../../../shared/tasks/types.js';

/** A plain ConsumeMessage-shaped object: content plus the properties a codec reads. */
function message(content: Buffer | string, headers: Record<string, unknown> = {}): ConsumeMessage {
  return {
    content: typeof content === 'string' ? Buffer.from(content, 'utf8') : content,
    fields: { deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'crawlfleet.test', consumerTag: 'c1' },
    properties: { headers, contentType: undefined },
  } as unknown as ConsumeMessage;
}

const json = (v: unknown): ConsumeMessage => message(JSON.stringify(v));
const encoded = ({ content, options }: { content: Buffer; options: { headers?: unknown } }): ConsumeMessage =>
  message(content, (options.headers ?? {}) as Record<string, unknown>);

const fetchTask: FetchTask = { sessionId: 's1', taskId: 't1', url: 'http://example.com/', depth: 0, attempt: 0, admittedAt: 1_700_000_000_000 };

const extractMeta: Omit<ExtractTask, 'body'> = {
  sessionId: 's1',
  taskId: 't2',
  url: 'http://example.com/a',
  finalUrl: 'http://example.com/b',
  depth: 2,
  attempt: 1,
  parent: 'http://example.com/',
  status: 200,
  contentType: 'text/html; charset=utf-8',
  headers: { 'content-type': 'text/html; charset=utf-8', 'x-custom': 'é' },
  fetchedAt: 1_700_000_000_123,
  fetchMs: 42,
};

const record: ResultRecord = {
  url: 'http://example.com/', finalUrl: 'http://example.com/', status: 200, depth: 0, parent: null, outcome: 'delivered',
  reason: null, error: null, title: 'Example', contentType: 'text/html', fields: { h1: 'Hi' }, links: 3, canonical: null,
  fetchedAt: '2023-11-14T22:13:20.000Z', attempts: 1,
};

/** Expects a DecodeError whose message matches. */
function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DecodeError, `expected DecodeError, got ${String(err)}`);
    assert.equal(err.name, 'DecodeError');
    assert.match(err.message, pattern);
    return true;
  });
}

/** The JSON and body section of an uncompressed extract message, for crafting broken ones. */
function extractRaw(meta: unknown, bodies: Buffer[] = []): Buffer {
  const text = Buffer.from(JSON.stringify(meta));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(text.length, 0);
  return Buffer.concat([head, text, ...bodies]);
}

describe('task codec', () => {
  describe('extract batches', () => {
    const plain = extractCodec(() => false);
    const deflating = extractCodec(() => true);
    const binary = Buffer.from([0x3c, 0x70, 0x3e, 0x00, 0xff, 0xe9, 0x3c]); // arbitrary bytes, not UTF-8
    const html = Buffer.from('<html><body>' + '<p class="filler">lorem ipsum dolor sit amet</p>\n'.repeat(400) + '</body></html>');
    const pages: ExtractTask[] = [
      { ...extractMeta, body: binary },
      { ...extractMeta, taskId: 't3', parent: undefined, body: Buffer.alloc(0) },
      { ...extractMeta, taskId: 't4', body: html, contentHash: `sha256:${'c'.repeat(64)}` },
    ];

    it('round-trips tasks and bodies, in order, bodies as raw bytes', () => {
      const enc = plain.encode(pages);
      assert.equal(enc.options.contentType, 'application/octet-stream');
      assert.equal((enc.options.headers as Record<string, unknown>)['x-batch'], 3);
      // Raw bodies follow the JSON: nothing is base64-inflated.
      assert.ok(enc.content.subarray(enc.content.length - html.length).equals(html));
      const decoded = plain.decode(encoded(enc));
      assert.equal(decoded.length, 3);
      decoded.forEach((d, i) => {
        const { body, ...meta } = d;
        const { body: want, ...wantMeta } = pages[i] as ExtractTask;
        assert.deepEqual(JSON.parse(JSON.stringify(meta)), JSON.parse(JSON.stringify(wantMeta)));
        assert.ok(body.equals(want), `body ${i}`);
      });
    });

    it('deflates a batch of 1 KiB or more when compression is on, and restores it byte for byte', () => {
      const enc = deflating.encode(pages);
      assert.equal((enc.options.headers as Record<string, unknown>)['x-batch-encoding'], 'deflate-raw');
      assert.ok(enc.content.length < html.length / 4, `${enc.content.length} bytes on the queue for ${html.length}`);
      // Either codec reads either form: the setting may change while messages wait.
      assert.ok((plain.decode(encoded(enc))[2] as ExtractTask).body.equals(html));
    });

    it('sends a small batch, and any batch when compression is off, as it is', () => {
      for (const [codec, batch] of [[deflating, [{ ...extractMeta, body: Buffer.from('<p>tiny</p>') }]], [plain, pages]] as const) {
        const enc = codec.encode(batch);
        assert.equal((enc.options.headers as Record<string, unknown>)['x-batch-encoding'], undefined);
        assert.equal(enc.content.readUInt32BE(0) + 4 + batch.reduce((n, p) => n + p.body.length, 0), enc.content.length);
      }
    });

    it('sizes an item by its body', () => {
      assert.ok(plain.size(pages[2] as ExtractTask) >= html.length);
      assert.ok(plain.size(pages[1] as ExtractTask) < 1000);
    });

    const meta = { ...extractMeta, bodyBytes: 3 };
    const bad: { name: string; raw: Buffer; pattern: RegExp }[] = [
      { name: 'fewer than 4 bytes', raw: Buffer.from([0, 0]), pattern: /shorter than its header/ },
      { name: 'a JSON length past the end', raw: Buffer.from([0, 0, 1, 0, 0x7b]), pattern: /header runs past its end/ },
      { name: 'version 1', raw: extractRaw({ v: 1, kind: 'extract', pages: [meta] }, [Buffer.from('abc')]), pattern: /unsupported message version 1/ },
      { name: 'another kind', raw: extractRaw({ v: 2, kind: 'fetch', pages: [meta] }, [Buffer.from('abc')]), pattern: /expected a extract message, got fetch/ },
      { name: 'no pages', raw: extractRaw({ v: 2, kind: 'extract' }), pattern: /extract message without pages/ },
      { name: 'a page without finalUrl', raw: extractRaw({ v: 2, kind: 'extract', pages: [{ ...meta, finalUrl: undefined }] }, [Buffer.from('abc')]), pattern: /extract item without finalUrl/ },
      { name: 'a page without bodyBytes', raw: extractRaw({ v: 2, kind: 'extract', pages: [{ ...meta, bodyBytes: undefined }] }), pattern: /extract item without bodyBytes/ },
      { name: 'a body running past the end', raw: extractRaw({ v: 2, kind: 'extract', pages: [meta] }, [Buffer.from('ab')]), pattern: /t2: body runs past the message/ },
      { name: 'a negative body length', raw: extractRaw({ v: 2, kind: 'extract', pages: [{ ...meta, bodyBytes: -1 }] }), pattern: /t2: body runs past the message/ },
      { name: 'bytes after the last body', raw: extractRaw({ v: 2, kind: 'extract', pages: [meta] }, [Buffer.from('abcd')]), pattern: /has 1 bytes after its last body/ },
    ];
    for (const c of bad) {
      it(`rejects ${c.name}`, () => rejects(() => plain.decode(message(c.raw)), c.pattern));
    }

    it('refuses an unknown batch encoding', () => {
      const enc = deflating.encode(pages);
      rejects(() => plain.decode(message(enc.content, { 'x-batch-encoding': 'zstd' })), /unknown batch encoding zstd/);
    });
  });

  describe('fetch batches', () => {
    it('round-trips tasks in order, with and without a parent', () => {
      const child: FetchTask = { ...fetchTask, taskId: 't2', depth: 1, parent: 'http://example.com/', attempt: 2 };
      const enc = fetchCodec.encode([fetchTask, child]);
      assert.equal(enc.options.contentType, 'application/json');
      assert.deepEqual(fetchCodec.decode(encoded(enc)), [fetchTask, child]);
    });

    const without = (field: keyof FetchTask): Record<string, unknown> => {
      const o: Record<string, unknown> = { ...fetchTask };
      delete o[field];
      return o;
    };
    const env = (tasks: unknown): unknown => ({ v: 2, kind: 'fetch', tasks });
    const bad: { name: string; value: unknown; pattern: RegExp }[] = [
      { name: 'version 1 with a batch (version 1 carried one task)', value: { v: 1, kind: 'fetch', tasks: [fetchTask] }, pattern: /fetch item without sessionId/ },
      { name: 'version 3 (newer than this release)', value: { v: 3, kind: 'fetch', tasks: [fetchTask] }, pattern: /unsupported message version 3/ },
      { name: 'a version 1 single task of another kind', value: { v: 1, kind: 'record', ...fetchTask }, pattern: /expected a fetch message, got record/ },
      { name: 'version "2" as a string', value: { v: '2', kind: 'fetch', tasks: [fetchTask] }, pattern: /unsupported message version 2/ },
      { name: 'kind extract', value: { v: 2, kind: 'extract', tasks: [fetchTask] }, pattern: /expected a fetch message, got extract/ },
      { name: 'no tasks', value: { v: 2, kind: 'fetch' }, pattern: /fetch message without tasks/ },
      { name: 'a task that is not an object', value: env([fetchTask, 7]), pattern: /fetch message with a non-object in tasks/ },
      { name: 'no sessionId', value: env([without('sessionId')]), pattern: /fetch item without sessionId/ },
      { name: 'no taskId', value: env([fetchTask, without('taskId')]), pattern: /fetch item without taskId/ },
      { name: 'no url', value: env([without('url')]), pattern: /fetch item without url/ },
      { name: 'no depth', value: env([without('depth')]), pattern: /fetch item without depth/ },
      { name: 'no attempt', value: env([without('attempt')]), pattern: /fetch item without attempt/ },
      { name: 'JSON null', value: null, pattern: /fetch message is not a JSON object/ },
      { name: 'a JSON array', value: [fetchTask], pattern: /fetch message is not a JSON object/ },
    ];
    for (const c of bad) {
      it(`rejects ${c.name} with DecodeError`, () => rejects(() => fetchCodec.decode(json(c.value)), c.pattern));
    }

    it('throws on a body that is not JSON', () => {
      // Any throw makes the consumer dead-letter the message; a SyntaxError is what JSON.parse gives.
      assert.throws(() => fetchCodec.decode(message('{ not json')), SyntaxError);
    });
  });

  describe('deliver batches', () => {
    const rec: DeliverRecord = { kind: 'record', sessionId: 's1', taskId: 't1', record, children: ['t2', 't3'] };
    const fin: FinalizeSession = { kind: 'finalize', sessionId: 's1', status: 'completed' };

    it('round-trips records and hand-overs, mixed, in order', () => {
      assert.deepEqual(deliverCodec.decode(encoded(deliverCodec.encode([rec, fin, rec]))), [rec, fin, rec]);
    });

    const env = (items: unknown): unknown => ({ v: 2, kind: 'deliver', items });
    const bad: { name: string; value: unknown; pattern: RegExp }[] = [
      { name: 'a record without record', value: env([{ ...rec, record: undefined }]), pattern: /record item without record/ },
      { name: 'a record without taskId', value: env([{ ...rec, taskId: undefined }]), pattern: /record item without taskId/ },
      { name: 'a finalize without status', value: env([rec, { ...fin, status: undefined }]), pattern: /finalize item without status/ },
      { name: 'a finalize without sessionId', value: env([{ ...fin, sessionId: undefined }]), pattern: /finalize item without sessionId/ },
      { name: 'an item of another kind', value: env([{ ...rec, kind: 'fetch' }]), pattern: /deliver message with an item of kind fetch/ },
      { name: 'version 1 with a batch (version 1 carried one item)', value: { v: 1, kind: 'deliver', items: [rec] }, pattern: /deliver message with an item of kind deliver/ },
      { name: 'version 3 (newer than this release)', value: { v: 3, kind: 'deliver', items: [rec] }, pattern: /unsupported message version 3/ },
      { name: 'a fetch batch', value: { v: 2, kind: 'fetch', tasks: [fetchTask] }, pattern: /expected a deliver message, got fetch/ },
      { name: 'no items', value: { v: 2, kind: 'deliver' }, pattern: /deliver message without items/ },
    ];
    for (const c of bad) {
      it(`rejects ${c.name}`, () => rejects(() => deliverCodec.decode(json(c.value)), c.pattern));
    }
  });
});

/**
 * Upgrades in place: messages the previous wire version (1, one task per message) left on the
 * queues are read by this release's consumers, exactly as the release before wrote them.
 */
describe('task codec: the previous wire version (N-1)', () => {
  it('reads a version 1 fetch message as a batch of one task', () => {
    const tasks = fetchCodec.decode(json({ v: 1, kind: 'fetch', ...fetchTask, parent: 'http://example.com/p' }));
    assert.deepEqual(tasks, [{ ...fetchTask, parent: 'http://example.com/p' }]);
  });

  it('reads version 1 deliver messages (a record, a hand-over) as batches of one item', () => {
    const rec: DeliverRecord = { kind: 'record', sessionId: 's1', taskId: 't1', record, children: ['c1'] };
    assert.deepEqual(deliverCodec.decode(json({ v: 1, ...rec })), [rec]);
    const fin: FinalizeSession = { kind: 'finalize', sessionId: 's1', status: 'completed' };
    assert.deepEqual(deliverCodec.decode(json({ v: 1, ...fin })), [fin]);
  });

  it('reads a version 1 extract message: the body as content, the task in x-task, deflated or not', () => {
    const body = Buffer.from('<html><body>' + 'x'.repeat(3000) + '</body></html>');
    const header = JSON.stringify({ v: 1, kind: 'extract', ...extractMeta });
    const plain = extractCodec().decode(message(body, { 'x-task': header }));
    assert.deepEqual(plain, [{ ...extractMeta, body }]);
    const deflated = extractCodec().decode(message(deflateRawSync(body), { 'x-task': header, 'x-body-encoding': 'deflate-raw' }));
    assert.deepEqual(deflated.map((p) => p.body.toString()), [body.toString()]);
  });

  it('refuses a version 1 extract message without its fields, of another version, or with an unknown body encoding', () => {
    rejects(() => extractCodec().decode(message(Buffer.from('x'), { 'x-task': JSON.stringify({ v: 1, kind: 'extract', sessionId: 's1' }) })), /extract item without taskId/);
    rejects(() => extractCodec().decode(message(Buffer.from('x'), { 'x-task': JSON.stringify({ v: 2, kind: 'extract', ...extractMeta }) })), /unsupported version/);
    rejects(() => extractCodec().decode(message(Buffer.from('x'), { 'x-task': JSON.stringify({ v: 1, kind: 'extract', ...extractMeta }), 'x-body-encoding': 'br' })), /unknown body encoding br/);
  });

  it('writes only the current version', () => {
    assert.equal((JSON.parse(fetchCodec.encode([fetchTask]).content.toString()) as { v: number }).v, MESSAGE_VERSION);
    assert.equal(OLDEST_READ_VERSION, MESSAGE_VERSION - 1);
  });
});
