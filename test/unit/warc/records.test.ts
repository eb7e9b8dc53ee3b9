/**
 * WARC/1.1 records, files and CDXJ indexes (shared/warc), read back with warcio (a reader that
 * is not ours) where a reader is needed.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { getSurt, WARCParser } from 'warcio';
import {
  base32, cdxjLine, conversionRecord, countRecords, exchangeRecords, httpRequestBlock, httpResponseBlock, isSessionWarcName, listSessionWarcs, metadataRecord, removeSessionWarcs,
  sha1Digest, surt, WarcFileWriter, warcFileName, warcRecord, WarcWriters, type HttpExchange,
} from '../../../shared/warc/index.js';

const SESSION = 'mabc123-0a1b2c3d';

function exchange(over: Partial<HttpExchange> = {}): HttpExchange {
  const html = Buffer.from('<html><head><title>t</title></head><body><a href="/b">b</a></body></html>');
  return {
    url: 'http://127.0.0.1:8000/a?x=1',
    ip: '127.0.0.1',
    method: 'GET',
    requestHeaders: [['host', '127.0.0.1:8000'], ['connection', 'keep-alive'], ['user-agent', 'crawlfleet-test'], ['Authorization', 'Bearer s3cret'], ['cookie', 'sid=abc']],
    status: 200,
    statusText: 'OK',
    rawHeaders: [['Content-Type', 'text/html; charset=utf-8'], ['Content-Encoding', 'gzip'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']],
    body: zlib.gzipSync(html),
    at: new Date('2026-12-06T10:11:12.345Z'),
    ...over,
  };
}

/** Every record of a WARC file as warcio reads it, with its raw block. */
async function readWarc(path: string): Promise<Array<{ type: string; headers: Map<string, string>; block: Buffer; payload: Buffer | null; http: { status: unknown; statusText: unknown } | null; offset: number; length: number }>> {
  const parser = new WARCParser([readFileSync(path)], { keepHeadersCase: true });
  const out = [];
  for await (const record of parser) {
    const headers = new Map<string, string>();
    for (const [k, v] of record.warcHeaders.headers as Iterable<[string, string]>) headers.set(k.toLowerCase(), v);
    const info = record.getResponseInfo();
    const payload = record.httpHeaders ? Buffer.from(await record.readFully(false)) : null;
    out.push({ type: record.warcType as string, headers, block: Buffer.alloc(0), payload, http: info ? { status: info.status, statusText: info.statusText } : null, offset: parser.offset, length: parser.recordLength });
  }
  return out;
}

/** The records of a file, each gzip member on its own: their uncompressed bytes. */
function members(buf: Buffer, offsets: ReadonlyArray<[number, number]>): Buffer[] {
  return offsets.map(([o, l]) => zlib.gunzipSync(buf.subarray(o, o + l)));
}

describe('WARC records (shared/warc)', () => {
  describe('digests', () => {
    it('encodes base32 as RFC 4648 does', () => {
      const vectors: [string, string][] = [['', ''], ['f', 'MY======'], ['fo', 'MZXQ===='], ['foo', 'MZXW6==='], ['foob', 'MZXW6YQ='], ['fooba', 'MZXW6YTB'], ['foobar', 'MZXW6YTBOI======']];
      for (const [input, expected] of vectors) assert.equal(base32(Buffer.from(input)), expected, input);
    });

    it('writes sha1: and the base32 SHA-1', () => {
      assert.equal(sha1Digest(Buffer.alloc(0)), 'sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ');
      const bytes = Buffer.from('hello world');
      assert.equal(sha1Digest(bytes), `sha1:${base32(createHash('sha1').update(bytes).digest())}`);
    });
  });

  describe('serialization', () => {
    it('writes the version, the named fields, Content-Length, the block and two CRLFs', () => {
      const block = Buffer.from('hello\r\nworld');
      const r = warcRecord({ type: 'resource', id: 'urn:uuid:00000000-0000-4000-8000-000000000000', date: new Date('2026-01-02T03:04:05.006Z'), targetUri: 'http://h/x', contentType: 'text/plain', block, fields: [['WARC-Concurrent-To', '<urn:uuid:1>'], ['X-Evil', 'a\r\nWARC-Type: forged']] });
      const text = r.bytes.toString('latin1');
      const [head, rest] = [text.slice(0, text.indexOf('\r\n\r\n')), text.slice(text.indexOf('\r\n\r\n') + 4)];
      assert.deepEqual(head.split('\r\n'), [
        'WARC/1.1',
        'WARC-Type: resource',
        'WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000000>',
        'WARC-Date: 2026-01-02T03:04:05.006Z',
        'WARC-Target-URI: http://h/x',
        'WARC-Concurrent-To: <urn:uuid:1>',
        'X-Evil: a WARC-Type: forged',
        `WARC-Block-Digest: ${sha1Digest(block)}`,
        'Content-Type: text/plain',
        `Content-Length: ${block.length}`,
      ]);
      assert.equal(rest, 'hello\r\nworld\r\n\r\n');
      assert.equal(r.payloadDigest, null);
    });

    it('writes a request as sent, its secrets as *** unless the session keeps them', () => {
      const headers: [string, string][] = [['host', 'h:81'], ['Authorization', 'Bearer s3cret'], ['cookie', 'sid=1'], ['Proxy-Authorization', 'Basic eA=='], ['accept', '*/*']];
      const redacted = httpRequestBlock({ method: 'GET', url: new URL('http://h:81/p/q?a=1#frag'), headers }).toString('latin1');
      assert.equal(redacted, 'GET /p/q?a=1 HTTP/1.1\r\nhost: h:81\r\nAuthorization: ***\r\ncookie: ***\r\nProxy-Authorization: ***\r\naccept: */*\r\n\r\n');
      const kept = httpRequestBlock({ method: 'GET', url: new URL('http://h:81/'), headers, keepSecrets: true }).toString('latin1');
      assert.match(kept, /^GET \/ HTTP\/1\.1\r\n/);
      assert.match(kept, /Authorization: Bearer s3cret\r\n/);
      assert.match(kept, /cookie: sid=1\r\n/);
    });

    it('writes a response as received; the chunked framing header is kept under another name', () => {
      const body = Buffer.from([0x1f, 0x8b, 0x00, 0xff]);
      const { block, payloadOffset } = httpResponseBlock({ status: 404, statusText: 'Not Found', rawHeaders: [['X-Mixed-Case', 'v'], ['Transfer-Encoding', 'chunked'], ['Set-Cookie', 'a'], ['Set-Cookie', 'b']], body });
      const head = block.subarray(0, payloadOffset).toString('latin1');
      assert.equal(head, 'HTTP/1.1 404 Not Found\r\nX-Mixed-Case: v\r\nX-Archive-Orig-Transfer-Encoding: chunked\r\nSet-Cookie: a\r\nSet-Cookie: b\r\n\r\n');
      assert.deepEqual(block.subarray(payloadOffset), body);
    });

    it('links request and response, and the metadata to the response', () => {
      const { request, response } = exchangeRecords(exchange());
      const field = (bytes: Buffer, name: string): string | undefined => new RegExp(`\\r\\n${name}: ([^\\r]*)\\r\\n`).exec(bytes.toString('latin1'))?.[1];
      assert.equal(field(request.record.bytes, 'WARC-Concurrent-To'), `<${response.record.id}>`);
      assert.equal(field(response.record.bytes, 'WARC-Concurrent-To'), `<${request.record.id}>`);
      assert.equal(field(response.record.bytes, 'WARC-IP-Address'), '127.0.0.1');
      assert.equal(response.status, 200);
      assert.equal(response.mime, 'text/html');
      const meta = metadataRecord({ url: 'http://127.0.0.1:8000/a?x=1', responseId: response.record.id, sessionId: SESSION, outlinks: ['http://127.0.0.1:8000/b', 'http://127.0.0.1:8000/c'] });
      assert.equal(field(meta.record.bytes, 'WARC-Concurrent-To'), `<${response.record.id}>`);
      assert.match(meta.record.bytes.toString(), /\r\n\r\ncrawlfleet-session: mabc123-0a1b2c3d\r\noutlink: http:\/\/127\.0\.0\.1:8000\/b\r\noutlink: http:\/\/127\.0\.0\.1:8000\/c\r\n\r\n\r\n$/);
    });

    it('keeps the wire headers of a body a browser decoded under X-Archive-Orig-', () => {
      const body = Buffer.from('<html>decoded</html>');
      const { block, payloadOffset } = httpResponseBlock({ status: 200, statusText: 'OK', rawHeaders: [['Content-Type', 'text/html'], ['Content-Encoding', 'gzip'], ['content-length', '42'], ['Transfer-Encoding', 'chunked']], body, decoded: true });
      assert.equal(block.subarray(0, payloadOffset).toString('latin1'), 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Archive-Orig-Content-Encoding: gzip\r\nX-Archive-Orig-content-length: 42\r\nX-Archive-Orig-Transfer-Encoding: chunked\r\n\r\n');
      assert.deepEqual(block.subarray(payloadOffset), body);
      // As on the wire (not decoded), they stay.
      const wire = httpResponseBlock({ status: 200, statusText: 'OK', rawHeaders: [['Content-Encoding', 'gzip'], ['Content-Length', '4']], body: Buffer.alloc(4) });
      assert.match(wire.block.toString('latin1'), /\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\n/);
    });

    it('writes a conversion record of a rendered DOM that refers to its response, with digests that verify (warcio reads it)', async () => {
      const { response } = exchangeRecords(exchange());
      const html = Buffer.from('<html><head><title>Rendered</title></head><body><h1>Made by script</h1><p>é</p></body></html>', 'utf8');
      const at = new Date('2026-12-06T10:11:13.000Z');
      const conv = conversionRecord({ url: 'http://127.0.0.1:8000/a?x=1', refersTo: response.record.id, html, at });
      assert.equal(conv.record.type, 'conversion');
      assert.equal(conv.mime, 'text/html');
      const text = conv.record.bytes.toString('utf8');
      const head = text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n');
      assert.deepEqual(head, [
        'WARC/1.1',
        'WARC-Type: conversion',
        `WARC-Record-ID: <${conv.record.id}>`,
        'WARC-Date: 2026-12-06T10:11:13.000Z',
        'WARC-Target-URI: http://127.0.0.1:8000/a?x=1',
        `WARC-Refers-To: <${response.record.id}>`,
        `WARC-Block-Digest: ${sha1Digest(html)}`,
        `WARC-Payload-Digest: ${sha1Digest(html)}`,
        'Content-Type: text/html; charset=utf-8',
        `Content-Length: ${html.length}`,
      ]);
      assert.equal(conv.record.blockDigest, `sha1:${base32(createHash('sha1').update(html).digest())}`);
      assert.deepEqual(conv.record.bytes.subarray(conv.record.bytes.length - 4 - html.length, conv.record.bytes.length - 4), html);
      // warcio reads it as a conversion record whose block is the DOM.
      const read = [];
      for await (const r of new WARCParser([zlib.gzipSync(conv.record.bytes)])) {
        read.push({ type: r.warcType, refersTo: r.warcHeader('WARC-Refers-To'), uri: r.warcTargetURI, block: Buffer.from(await r.readFully()) });
      }
      assert.equal(read.length, 1);
      assert.deepEqual(read[0], { type: 'conversion', refersTo: `<${response.record.id}>`, uri: 'http://127.0.0.1:8000/a?x=1', block: html });
      // Without a response to refer to, no WARC-Refers-To; indexed as a conversion of text/html.
      const alone = conversionRecord({ url: 'http://h/', refersTo: null, html });
      assert.doesNotMatch(alone.record.bytes.toString('latin1'), /WARC-Refers-To/);
      const line = cdxjLine({ record: conv.record, offset: 0, length: 10, filename: 'f.warc.gz', mime: 'text/html' });
      assert.deepEqual(JSON.parse((line as string).slice((line as string).indexOf('{'))), { url: 'http://127.0.0.1:8000/a?x=1', type: 'conversion', mime: 'text/html', digest: sha1Digest(html).slice(5), length: '10', offset: '0', filename: 'f.warc.gz' });
    });
  });

  describe('CDXJ', () => {
    it('writes the SURT key warcio writes', () => {
      const urls = ['http://www.Example.com/Path?b=2&a=1', 'http://example.com/dir/', 'http://localhost:3000/x', 'https://sub.example.org:8443/x/y', 'http://127.0.0.1:8000/a?x=1', 'http://example.com/', 'http://example.com'];
      for (const u of urls) assert.equal(surt(u), getSurt(u), u);
    });

    it('indexes a response with its status, MIME type, digest and where its member is', () => {
      const { response } = exchangeRecords(exchange());
      const line = cdxjLine({ record: response.record, offset: 1234, length: 567, filename: 'f.warc.gz', status: 200, mime: 'text/html' });
      assert.ok(line);
      const [key, ts, json] = [line.split(' ')[0], line.split(' ')[1], JSON.parse(line.slice(line.indexOf('{'))) as Record<string, string>];
      assert.equal(key, '1,0,0,127:8000)/a?x=1');
      assert.equal(ts, '20261206101112');
      assert.deepEqual(json, { url: 'http://127.0.0.1:8000/a?x=1', mime: 'text/html', status: '200', digest: response.record.payloadDigest?.slice('sha1:'.length), length: '567', offset: '1234', filename: 'f.warc.gz' });
      const info = warcRecord({ type: 'warcinfo', block: Buffer.from('a: b\r\n') });
      assert.equal(cdxjLine({ record: info, offset: 0, length: 1, filename: 'f' }), null);
    });
  });

  describe('files', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'crawlfleet-warc-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('names files <session>-<timestamp>-<serial>-<replica>.warc.gz and accepts only those names', () => {
      const name = warcFileName(SESSION, new Date('2026-12-06T10:11:12.345Z'), 3, 'fetcher-host/1-42-ab');
      assert.equal(name, `${SESSION}-20261206101112345-00003-fetcher-host_1-42-ab.warc.gz`);
      assert.ok(isSessionWarcName(SESSION, name));
      for (const bad of ['../x.warc.gz', `${SESSION}-20261206101112345-00003-a/../b.warc.gz`, `other-20261206101112345-00003-a.warc.gz`, `${SESSION}-20261206101112345-00003-a.warc.gz.cdxj`, `${SESSION}-20261206101112345-00003-..warc.gz`, `${SESSION}.jsonl`]) {
        assert.equal(isSessionWarcName(SESSION, bad), false, bad);
      }
    });

    it('writes each record as its own gzip member, warcinfo first, digests that verify, and a CDXJ index at close', async () => {
      const w = new WarcFileWriter({ dir, sessionId: SESSION, replica: 'fetcher-t-1-aa', maxFileBytes: () => 1024 ** 3, software: 'crawlfleet/test' });
      const x = exchangeRecords(exchange({ requestHeaders: [['host', 'h'], ['Authorization', 'Bearer s3cret']] }));
      await w.write([x.request, x.response]);
      await w.write([metadataRecord({ url: 'http://127.0.0.1:8000/a?x=1', responseId: x.response.record.id, sessionId: SESSION, outlinks: ['http://127.0.0.1:8000/b'] })]);
      await w.close();
      await assert.rejects(w.write([x.request]), /closed/);
      const [name] = w.files;
      assert.ok(name);
      const path = join(dir, name);
      const records = await readWarc(path);
      assert.deepEqual(records.map((r) => r.type), ['warcinfo', 'request', 'response', 'metadata']);
      assert.equal(records[0]?.headers.get('warc-filename'), name);
      const buf = readFileSync(path);
      // warcio's offsets and lengths are those of the gzip members: each holds exactly one record.
      const raw = members(buf, records.map((r) => [r.offset, r.length]));
      assert.equal(records.reduce((n, r) => n + r.length, 0), buf.length);
      raw.forEach((bytes, i) => {
        assert.ok(bytes.subarray(0, 9).equals(Buffer.from('WARC/1.1\r')), `record ${i}`);
        const head = bytes.subarray(0, bytes.indexOf('\r\n\r\n') + 4);
        const block = bytes.subarray(head.length, bytes.length - 4);
        assert.equal(Number(/Content-Length: (\d+)/.exec(head.toString())?.[1]), block.length);
        assert.equal(records[i]?.headers.get('warc-block-digest'), sha1Digest(block), `block digest of record ${i}`);
      });
      const response = records[2];
      assert.ok(response?.payload);
      // The payload is the body as on the wire (gzip), and its digest verifies.
      assert.deepEqual(response.payload, exchange().body);
      assert.equal(response.headers.get('warc-payload-digest'), sha1Digest(response.payload));
      assert.deepEqual(response.http, { status: 200, statusText: 'OK' });
      assert.equal(records[1]?.headers.get('warc-concurrent-to'), `<${x.response.record.id}>`);
      assert.match(raw[1]?.toString() ?? '', /\r\nAuthorization: \*\*\*\r\n/);
      // The index: sorted lines for request, response, metadata, each pointing at its member.
      const index = readFileSync(`${path}.cdxj`, 'utf8').trimEnd().split('\n');
      assert.equal(index.length, 3);
      assert.deepEqual([...index].sort(), index);
      for (const line of index) {
        const j = JSON.parse(line.slice(line.indexOf('{'))) as { offset: string; length: string; filename: string; url: string };
        assert.equal(j.filename, name);
        const one = zlib.gunzipSync(buf.subarray(Number(j.offset), Number(j.offset) + Number(j.length))).toString('latin1');
        assert.match(one, new RegExp(`\\r\\nWARC-Target-URI: ${j.url.replace(/[.?]/g, '\\$&')}\\r\\n`));
      }
      assert.deepEqual(await listSessionWarcs(dir, SESSION), [{ name, bytes: buf.length, records: 4, closed: true }]);
    });

    it('rolls over before a file passes maxFileBytes, never splitting an exchange, each file with its warcinfo and index', async () => {
      const w = new WarcFileWriter({ dir, sessionId: SESSION, replica: 'r1', maxFileBytes: () => 2500, software: 'crawlfleet/test' });
      for (let i = 0; i < 12; i++) {
        const x = exchangeRecords(exchange({ url: `http://127.0.0.1:8000/p${i}`, body: Buffer.from(`<p>${i} ${'x'.repeat(200)}</p>`) }));
        await w.write([x.request, x.response]);
      }
      await w.close();
      assert.ok(w.files.length >= 3, `files: ${w.files.length}`);
      assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.warc.gz')).sort(), [...w.files].sort());
      const serials = w.files.map((n) => Number(/-(\d{5})-r1\.warc\.gz$/.exec(n)?.[1]));
      assert.deepEqual(serials, serials.map((_, i) => i));
      let responses = 0;
      for (const name of w.files) {
        const records = await readWarc(join(dir, name));
        assert.equal(records[0]?.type, 'warcinfo');
        const types = records.slice(1).map((r) => r.type);
        // pairs: request then response, never one without the other
        assert.deepEqual(types, types.map((_, i) => (i % 2 === 0 ? 'request' : 'response')));
        assert.equal(types.length % 2, 0);
        responses += types.length / 2;
        const bytes = readFileSync(join(dir, name)).length;
        // A file passes the limit only by its first exchange (one that alone is larger).
        if (records.length > 3) assert.ok(bytes <= 2500, `${name}: ${bytes} bytes`);
        assert.equal(readFileSync(join(dir, `${name}.cdxj`), 'utf8').trimEnd().split('\n').length, records.length - 1);
      }
      assert.equal(responses, 12);
    });

    it('lists an open file by counting its records, ignores other sessions, and removes only the session\'s files', async () => {
      const writers = new WarcWriters({ dir: () => dir, replica: 'x1', maxFileBytes: () => 1024 ** 3, idleCloseMs: () => 60_000, software: 'crawlfleet/test' });
      const x = exchangeRecords(exchange());
      await writers.write(SESSION, [x.request, x.response]);
      await writers.write('other-00000000', [x.request, x.response]);
      const [open] = await listSessionWarcs(dir, SESSION);
      assert.ok(open);
      assert.equal(open?.records, 3);
      assert.equal(open?.closed, false);
      // a record cut short (a writer still writing) is not counted
      const path = join(dir, open.name);
      writeFileSync(path, Buffer.concat([readFileSync(path), zlib.gzipSync(x.response.record.bytes).subarray(0, 40)]));
      assert.equal(await countRecords(path), 3);
      await writers.closeIdle(Date.now() + 60_000);
      const closed = await listSessionWarcs(dir, SESSION);
      assert.equal(closed.length, 1);
      assert.equal(closed[0]?.closed, true);
      assert.equal(await removeSessionWarcs(dir, SESSION), 1);
      assert.deepEqual(await listSessionWarcs(dir, SESSION), []);
      assert.equal((await listSessionWarcs(dir, 'other-00000000')).length, 1);
      await writers.close();
      assert.deepEqual(await listSessionWarcs(join(dir, 'missing'), SESSION), []);
    });
  });
});
