import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { MAX_ENCODINGS, decodeBody as decode, fetchError } from '../../../services/fetcher/http.js';
import { CrawlError } from '../../../shared/errors/index.js';
import type { ErrorCode } from '../../../shared/errors/index.js';

const URL_ = 'http://example.com/page';
const MB = 1024 * 1024;
const html = Buffer.from('<!doctype html><html><head><title>Héllo</title></head><body>' + 'text '.repeat(200) + '</body></html>');

/** Awaits p, expecting a CrawlError with the code; returns it. */
async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<CrawlError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof CrawlError, `expected a CrawlError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('fetcher decode', () => {
  describe('content encodings', () => {
    const cases: { name: string; header: string | undefined; encode: (b: Buffer) => Buffer }[] = [
      { name: 'no header', header: undefined, encode: (b) => b },
      { name: 'empty header', header: '', encode: (b) => b },
      { name: 'identity', header: 'identity', encode: (b) => b },
      { name: 'gzip', header: 'gzip', encode: (b) => zlib.gzipSync(b) },
      { name: 'x-gzip', header: 'x-gzip', encode: (b) => zlib.gzipSync(b) },
      { name: 'GZIP upper case', header: 'GZIP', encode: (b) => zlib.gzipSync(b) },
      { name: 'deflate (zlib-wrapped)', header: 'deflate', encode: (b) => zlib.deflateSync(b) },
      { name: 'deflate (raw)', header: 'deflate', encode: (b) => zlib.deflateRawSync(b) },
      { name: 'br', header: 'br', encode: (b) => zlib.brotliCompressSync(b) },
      // `gzip, br`: gzip applied first, then br, so br is undone first
      { name: 'gzip, br (two layers)', header: 'gzip, br', encode: (b) => zlib.brotliCompressSync(zlib.gzipSync(b)) },
      { name: 'deflate,gzip without space', header: 'deflate,gzip', encode: (b) => zlib.gzipSync(zlib.deflateSync(b)) },
      { name: 'identity does not count as a layer', header: 'gzip, identity, br', encode: (b) => zlib.brotliCompressSync(zlib.gzipSync(b)) },
    ];
    for (const c of cases) {
      it(`decodes ${c.name}`, async () => {
        const out = await decode(c.encode(html), c.header, MB, URL_);
        assert.ok(out.equals(html));
      });
    }

    it('allows two layers and no more', () => {
      assert.equal(MAX_ENCODINGS, 2);
    });

    it('rejects three stacked layers as protocol_error', async () => {
      const body = zlib.gzipSync(zlib.gzipSync(zlib.gzipSync(html)));
      const err = await rejectsWith(decode(body, 'gzip, gzip, gzip', MB, URL_), 'protocol_error');
      assert.ok(err.message.startsWith(URL_));
    });

    for (const enc of ['compress', 'zstd', 'gzip, bogus']) {
      it(`rejects unknown encoding ${JSON.stringify(enc)} as protocol_error`, async () => {
        const err = await rejectsWith(decode(html, enc, MB, URL_), 'protocol_error');
        assert.match(err.message, /unsupported content encoding/);
      });
    }

    it('rejects a corrupted gzip body as protocol_error', async () => {
      const body = zlib.gzipSync(html);
      body[body.length - 6] = (body[body.length - 6] as number) ^ 0xff; // damage the CRC32 trailer
      await rejectsWith(decode(body, 'gzip', MB, URL_), 'protocol_error');
    });

    it('rejects a body that is not gzip at all as protocol_error', async () => {
      await rejectsWith(decode(html, 'gzip', MB, URL_), 'protocol_error');
    });

    it('rejects a truncated brotli body as protocol_error', async () => {
      const body = zlib.brotliCompressSync(html);
      await rejectsWith(decode(body.subarray(0, body.length >> 1), 'br', MB, URL_), 'protocol_error');
    });
  });

  describe('size cap', () => {
    it('accepts output of exactly maxBytes and refuses one byte more', async () => {
      assert.equal((await decode(zlib.gzipSync(Buffer.alloc(1000, 0x61)), 'gzip', 1000, URL_)).length, 1000);
      await rejectsWith(decode(zlib.gzipSync(Buffer.alloc(1001, 0x61)), 'gzip', 1000, URL_), 'too_large');
    });

    it('stops a gzip bomb with too_large', async function () {
      this.timeout(5000);
      const bomb = zlib.gzipSync(Buffer.alloc(50 * MB));
      assert.ok(bomb.length < MB / 10); // ~50 KB on the wire
      const err = await rejectsWith(decode(bomb, 'gzip', MB, URL_), 'too_large');
      assert.deepEqual(err.details, { limit: MB });
    });

    it('stops a brotli bomb with too_large', async function () {
      this.timeout(10_000);
      const bomb = zlib.brotliCompressSync(Buffer.alloc(50 * MB), { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } });
      await rejectsWith(decode(bomb, 'br', MB, URL_), 'too_large');
    });

    it('stops a raw deflate bomb with too_large', async function () {
      this.timeout(5000);
      await rejectsWith(decode(zlib.deflateRawSync(Buffer.alloc(50 * MB)), 'deflate', MB, URL_), 'too_large');
    });

    // Regression (fixed): http.ts decode() falls back to inflateRaw on *any* inflate error, so the ERR_BUFFER_TOO_LARGE of a zlib-wrapped deflate bomb becomes "bad deflate body: invalid stored block lengths" (protocol_error, not too_large).
    it('stops a zlib-wrapped deflate bomb with too_large', async function () {
      this.timeout(5000);
      await rejectsWith(decode(zlib.deflateSync(Buffer.alloc(50 * MB)), 'deflate', MB, URL_), 'too_large');
    });

    it('caps each layer of a stacked encoding', async function () {
      this.timeout(5000);
      // the outer br layer is small, the inner gzip layer is the bomb
      const body = zlib.brotliCompressSync(zlib.gzipSync(Buffer.alloc(20 * MB)));
      await rejectsWith(decode(body, 'gzip, br', MB, URL_), 'too_large');
    });
  });

  describe('fetchError', () => {
    const withCode = (code: string, message = 'boom'): Error => Object.assign(new Error(message), { code });
    const named = (name: string): Error => Object.assign(new Error('the operation timed out'), { name });
    const cases: { name: string; err: unknown; code: ErrorCode }[] = [
      { name: 'ECONNREFUSED', err: withCode('ECONNREFUSED'), code: 'connect_failed' },
      { name: 'ECONNRESET', err: withCode('ECONNRESET'), code: 'connect_failed' },
      { name: 'UND_ERR_SOCKET', err: withCode('UND_ERR_SOCKET'), code: 'connect_failed' },
      { name: 'ENOTFOUND', err: withCode('ENOTFOUND'), code: 'dns_failed' },
      { name: 'EAI_AGAIN', err: withCode('EAI_AGAIN'), code: 'dns_failed' },
      { name: 'UND_ERR_HEADERS_TIMEOUT', err: withCode('UND_ERR_HEADERS_TIMEOUT'), code: 'timeout' },
      { name: 'UND_ERR_CONNECT_TIMEOUT', err: withCode('UND_ERR_CONNECT_TIMEOUT'), code: 'timeout' },
      { name: 'UND_ERR_BODY_TIMEOUT', err: withCode('UND_ERR_BODY_TIMEOUT'), code: 'timeout' },
      { name: 'a TimeoutError', err: named('TimeoutError'), code: 'timeout' },
      { name: 'an AbortError', err: named('AbortError'), code: 'timeout' },
      { name: 'ECONNREFUSED as cause of "fetch failed"', err: new Error('fetch failed', { cause: withCode('ECONNREFUSED') }), code: 'connect_failed' },
      { name: 'ENOTFOUND as cause', err: new Error('fetch failed', { cause: withCode('ENOTFOUND') }), code: 'dns_failed' },
      { name: 'an HTTP parser error', err: withCode('HPE_INVALID_HEADER_TOKEN'), code: 'protocol_error' },
      { name: 'a content-length mismatch', err: withCode('UND_ERR_RES_CONTENT_LENGTH_MISMATCH'), code: 'protocol_error' },
      { name: 'an unknown error', err: new Error('strange'), code: 'connect_failed' },
    ];
    for (const c of cases) {
      it(`maps ${c.name} → ${c.code}`, () => {
        const err = fetchError(c.err, URL_);
        assert.ok(err instanceof CrawlError);
        assert.equal(err.code, c.code);
        assert.equal(err.cause, c.err);
        assert.ok(err.message.startsWith(URL_), err.message);
      });
    }

    it('passes a CrawlError through unchanged', () => {
      const original = new CrawlError('too_large', 'big');
      assert.equal(fetchError(original, URL_), original);
    });

    it('passes a CrawlError cause through unchanged', () => {
      const original = new CrawlError('blocked_address', 'http://x/: address 127.0.0.1 is forbidden');
      assert.equal(fetchError(new Error('fetch failed', { cause: original }), URL_), original);
    });

    it('names the DNS code in the message', () => {
      assert.equal(fetchError(withCode('ENOTFOUND'), URL_).message, `${URL_}: cannot resolve host (ENOTFOUND)`);
    });
  });
});
