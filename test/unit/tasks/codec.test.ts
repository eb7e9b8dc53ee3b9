import assert from 'node:assert/strict';
import type { ConsumeMessage } from 'amqplib';
import { DecodeError, decodeDeliver, decodeExtract, decodeFetch, encodeExtract } from '../../../shared/tasks/codec.js';
import type { DeliverRecord, ExtractTask, FetchTask, FinalizeSession, ResultRecord } from '../../../shared/tasks/types.js';

/** A plain ConsumeMessage-shaped object: content plus the properties a codec reads. */
function message(content: Buffer | string, headers: Record<string, unknown> = {}): ConsumeMessage {
  return {
    content: typeof content === 'string' ? Buffer.from(content, 'utf8') : content,
    fields: { deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'crawlfleet.test', consumerTag: 'c1' },
    properties: { headers, contentType: undefined },
  } as unknown as ConsumeMessage;
}

const json = (v: unknown): ConsumeMessage => message(JSON.stringify(v));

const fetchTask: FetchTask = { v: 1, kind: 'fetch', sessionId: 's1', taskId: 't1', url: 'http://example.com/', depth: 0, attempt: 0, admittedAt: 1_700_000_000_000 };

const extractTask: Omit<ExtractTask, 'body'> = {
  v: 1,
  kind: 'extract',
  sessionId: 's1',
  taskId: 't2',
  url: 'http://example.com/a',
  finalUrl: 'http://example.com/b',
  depth: 2,
  attempt: 1,
  parent: 't1',
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

describe('task codec', () => {
  describe('extract messages', () => {
    it('round-trips task and body', () => {
      const body = Buffer.from([0x3c, 0x70, 0x3e, 0x00, 0xff, 0xe9, 0x3c]); // arbitrary bytes, not UTF-8
      const { content, options } = encodeExtract(extractTask, body);
      assert.equal(content, body); // sent as is, not base64
      assert.equal(options.contentType, 'application/octet-stream');
      const decoded = decodeExtract(message(content, options.headers as Record<string, unknown>));
      const { body: decodedBody, ...task } = decoded;
      assert.deepEqual(task, extractTask);
      assert.ok(decodedBody.equals(body));
    });

    it('carries the task as JSON in the x-task header', () => {
      const { options } = encodeExtract(extractTask, Buffer.alloc(0));
      const header = (options.headers as Record<string, unknown>)['x-task'];
      assert.equal(typeof header, 'string');
      assert.deepEqual(JSON.parse(header as string), extractTask);
    });

    it('rejects a message without the x-task header', () => {
      rejects(() => decodeExtract(message('<p>')), /without x-task header/);
      rejects(() => decodeExtract({ ...message('<p>'), properties: {} } as unknown as ConsumeMessage), /without x-task header/);
    });

    it('rejects a non-string x-task header', () => {
      rejects(() => decodeExtract(message('<p>', { 'x-task': Buffer.from(JSON.stringify(extractTask)) })), /without x-task header/);
    });

    const bad: { name: string; task: Record<string, unknown>; pattern: RegExp }[] = [
      { name: 'wrong version', task: { ...extractTask, v: 2 }, pattern: /unsupported message version 2/ },
      { name: 'wrong kind', task: { ...extractTask, kind: 'fetch' }, pattern: /expected a extract message, got fetch/ },
      { name: 'no finalUrl', task: { ...extractTask, finalUrl: undefined }, pattern: /extract message without finalUrl/ },
      { name: 'no status', task: { ...extractTask, status: undefined }, pattern: /extract message without status/ },
    ];
    for (const c of bad) {
      it(`rejects ${c.name}`, () => {
        rejects(() => decodeExtract(message('', { 'x-task': JSON.stringify(c.task) })), c.pattern);
      });
    }
  });

  describe('decodeFetch', () => {
    it('accepts a fetch task', () => {
      assert.deepEqual(decodeFetch(json(fetchTask)), fetchTask);
      const child = { ...fetchTask, depth: 1, parent: 't0', attempt: 2 };
      assert.deepEqual(decodeFetch(json(child)), child);
    });

    const without = (field: keyof FetchTask): Record<string, unknown> => {
      const o: Record<string, unknown> = { ...fetchTask };
      delete o[field];
      return o;
    };
    const bad: { name: string; value: unknown; pattern: RegExp }[] = [
      { name: 'version 2', value: { ...fetchTask, v: 2 }, pattern: /unsupported message version 2/ },
      { name: 'version "1" as a string', value: { ...fetchTask, v: '1' }, pattern: /unsupported message version 1/ },
      { name: 'no version', value: { ...fetchTask, v: undefined }, pattern: /unsupported message version undefined/ },
      { name: 'kind extract', value: { ...fetchTask, kind: 'extract' }, pattern: /expected a fetch message, got extract/ },
      { name: 'no kind', value: { ...fetchTask, kind: undefined }, pattern: /expected a fetch message, got undefined/ },
      { name: 'no sessionId', value: without('sessionId'), pattern: /fetch message without sessionId/ },
      { name: 'no taskId', value: without('taskId'), pattern: /fetch message without taskId/ },
      { name: 'no url', value: without('url'), pattern: /fetch message without url/ },
      { name: 'no depth', value: without('depth'), pattern: /fetch message without depth/ },
      { name: 'no attempt', value: without('attempt'), pattern: /fetch message without attempt/ },
      { name: 'JSON null', value: null, pattern: /not a JSON object/ },
      { name: 'a JSON number', value: 7, pattern: /not a JSON object/ },
      { name: 'a JSON array', value: [fetchTask], pattern: /unsupported message version/ },
    ];
    for (const c of bad) {
      it(`rejects ${c.name} with DecodeError`, () => {
        rejects(() => decodeFetch(json(c.value)), c.pattern);
      });
    }

    it('throws on a body that is not JSON', () => {
      // Any throw makes the consumer dead-letter the message; a SyntaxError is what JSON.parse gives.
      assert.throws(() => decodeFetch(message('{ not json')), SyntaxError);
    });
  });

  describe('decodeDeliver', () => {
    const rec: DeliverRecord = { v: 1, kind: 'record', sessionId: 's1', taskId: 't1', record, children: ['t2', 't3'] };
    const fin: FinalizeSession = { v: 1, kind: 'finalize', sessionId: 's1', status: 'completed' };

    it('accepts a record', () => {
      assert.deepEqual(decodeDeliver(json(rec)), rec);
    });

    it('accepts a finalize', () => {
      assert.deepEqual(decodeDeliver(json(fin)), fin);
    });

    const bad: { name: string; value: unknown; pattern: RegExp }[] = [
      { name: 'a record without record', value: { ...rec, record: undefined }, pattern: /record message without record/ },
      { name: 'a record without taskId', value: { ...rec, taskId: undefined }, pattern: /record message without taskId/ },
      { name: 'a finalize without status', value: { ...fin, status: undefined }, pattern: /finalize message without status/ },
      { name: 'a finalize without sessionId', value: { ...fin, sessionId: undefined }, pattern: /finalize message without sessionId/ },
      { name: 'a finalize of version 2', value: { ...fin, v: 2 }, pattern: /unsupported message version 2/ },
      { name: 'another kind', value: { ...rec, kind: 'fetch' }, pattern: /expected a record message, got fetch/ },
      { name: 'a fetch task', value: fetchTask, pattern: /expected a record message, got fetch/ },
    ];
    for (const c of bad) {
      it(`rejects ${c.name}`, () => {
        rejects(() => decodeDeliver(json(c.value)), c.pattern);
      });
    }
  });

  describe('extract body compression', () => {
    const page = Buffer.from('<html><body>' + '<p class="filler">lorem ipsum dolor sit amet</p>\n'.repeat(400) + '</body></html>');

    it('deflates bodies from 1 KiB, marks them, and restores them byte for byte', () => {
      const { content, options } = encodeExtract(extractTask, page);
      assert.equal((options.headers as Record<string, unknown>)['x-body-encoding'], 'deflate-raw');
      assert.ok(content.length < page.length / 4, `${content.length} bytes on the queue for ${page.length}`);
      assert.deepEqual(decodeExtract(message(content, options.headers as Record<string, unknown>)).body, page);
    });

    it('sends small bodies, and any body when compression is off, as they are', () => {
      for (const [body, compress] of [[Buffer.from('<p>tiny</p>'), true], [page, false]] as const) {
        const { content, options } = encodeExtract(extractTask, body, compress);
        assert.equal((options.headers as Record<string, unknown>)['x-body-encoding'], undefined);
        assert.deepEqual(content, body);
      }
    });

    it('refuses an unknown body encoding', () => {
      const { content, options } = encodeExtract(extractTask, page);
      const headers = { ...(options.headers as Record<string, unknown>), 'x-body-encoding': 'zstd' };
      assert.throws(() => decodeExtract(message(content, headers)), /unknown body encoding zstd/);
    });
  });
});
