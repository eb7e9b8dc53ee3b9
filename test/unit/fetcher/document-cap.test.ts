/**
 * The download cap of a document (bodyCap): a response whose Content-Type declares a document
 * kind the session parses is capped by documents.maxBytes, everything else by fetch.maxBytes;
 * the cap is chosen from the headers, so it holds on the wire and after decompression.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { fetchPage } from '../../../services/fetcher/http.js';
import { declaredDocumentKind } from '../../../shared/content/documents.js';
import { DOCX_TYPE } from '../../../shared/content/sniff.js';
import { CrawlError } from '../../../shared/errors/index.js';
import { bodyCap, type FetchRequest } from '../../../shared/fetch/seam.js';
import { createGuardedAgent } from '../../../shared/net/agent.js';
import { AddressPolicy } from '../../../shared/net/ssrf.js';
import { DOCUMENT_KINDS, type DocumentKind } from '../../../shared/tasks/types.js';

const KB = 1024;
const HTML_CAP = 100 * KB;
const DOC_CAP = 300 * KB;
const all = { kinds: DOCUMENT_KINDS, maxBytes: DOC_CAP };

describe('the download cap of documents (bodyCap)', () => {
  it('names the document kind a Content-Type declares', () => {
    const cases: [string | undefined, DocumentKind | null][] = [
      ['application/pdf', 'pdf'], ['Application/PDF; name="a.pdf"', 'pdf'], [DOCX_TYPE, 'docx'],
      ['application/rss+xml', 'feeds'], ['application/atom+xml; charset=utf-8', 'feeds'], ['application/feed+json', 'feeds'],
      ['application/xml', 'feeds'], ['text/xml', 'feeds'], ['application/json', 'feeds'],
      ['text/plain; charset=utf-8', 'text'], ['text/markdown', 'text'],
      ['text/html', null], ['application/xhtml+xml', null], ['text/css', null], ['text/csv', null], ['image/png', null],
      ['application/zip', null], ['application/octet-stream', null], ['', null], [undefined, null], ['pdf', null],
    ];
    for (const [type, kind] of cases) assert.equal(declaredDocumentKind(type), kind, String(type));
  });

  it('is documents.maxBytes for a document kind the session parses, fetch.maxBytes otherwise', () => {
    const cases: [string, Pick<FetchRequest, 'maxBytes' | 'documents'>, string | undefined, number][] = [
      ['a PDF', { maxBytes: HTML_CAP, documents: all }, 'application/pdf', DOC_CAP],
      ['a feed', { maxBytes: HTML_CAP, documents: all }, 'application/rss+xml', DOC_CAP],
      ['plain text', { maxBytes: HTML_CAP, documents: all }, 'text/plain', DOC_CAP],
      ['HTML', { maxBytes: HTML_CAP, documents: all }, 'text/html; charset=utf-8', HTML_CAP],
      ['no type (the bytes decide later)', { maxBytes: HTML_CAP, documents: all }, undefined, HTML_CAP],
      ['application/octet-stream', { maxBytes: HTML_CAP, documents: all }, 'application/octet-stream', HTML_CAP],
      ['an image', { maxBytes: HTML_CAP, documents: all }, 'image/png', HTML_CAP],
      ['a kind the session does not parse', { maxBytes: HTML_CAP, documents: { kinds: ['pdf'], maxBytes: DOC_CAP } }, DOCX_TYPE, HTML_CAP],
      ['documents: [] parses none', { maxBytes: HTML_CAP, documents: { kinds: [], maxBytes: DOC_CAP } }, 'application/pdf', HTML_CAP],
      ['no documents option (robots.txt, sitemaps)', { maxBytes: HTML_CAP }, 'application/pdf', HTML_CAP],
      ['a documents.maxBytes below fetch.maxBytes', { maxBytes: DOC_CAP, documents: { kinds: DOCUMENT_KINDS, maxBytes: HTML_CAP } }, 'application/pdf', HTML_CAP],
    ];
    for (const [name, req, type, cap] of cases) assert.equal(bodyCap(req, type), cap, name);
  });

  describe('fetchPage against a local server', function () {
    this.timeout(30_000);
    let server: Server;
    let origin: string;
    const policy = new AddressPolicy(['127.0.0.0/8']);
    const agent = createGuardedAgent(policy, 5000);
    const opts: FetchRequest = { userAgent: 'crawlfleet-test', headersTimeoutMs: 10_000, bodyIdleTimeoutMs: 10_000, totalTimeoutMs: 20_000, maxBytes: HTML_CAP, maxRedirects: 0, documents: all };
    const bodies = new Map<string, { type: string; body: Buffer; encoding?: string }>([
      ['/mid.pdf', { type: 'application/pdf', body: Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(200 * KB, 0x20)]) }],
      ['/big.pdf', { type: 'application/pdf', body: Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(400 * KB, 0x20)]) }],
      ['/bomb.pdf', { type: 'application/pdf', body: zlib.gzipSync(Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(20 * 1024 * KB, 0x20)])), encoding: 'gzip' }],
      ['/mid.gz.pdf', { type: 'application/pdf', body: zlib.gzipSync(Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(200 * KB, 0x20)])), encoding: 'gzip' }],
      ['/mid.html', { type: 'text/html', body: Buffer.concat([Buffer.from('<!doctype html><p>'), Buffer.alloc(200 * KB, 0x61)]) }],
      ['/mid.bin', { type: 'application/octet-stream', body: Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(200 * KB, 0x20)]) }],
    ]);

    before(async () => {
      server = createServer((req, res) => {
        const f = bodies.get(req.url ?? '');
        if (!f) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': f.type, 'content-length': f.body.length, ...(f.encoding ? { 'content-encoding': f.encoding } : {}) }).end(f.body);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
      await agent.close();
      await new Promise((r) => server.close(r));
    });

    async function tooLarge(path: string, req: FetchRequest = opts): Promise<unknown> {
      const err = await fetchPage(`${origin}${path}`, agent, policy, req).then(() => null, (e: unknown) => e);
      assert.ok(err instanceof CrawlError && err.code === 'too_large', `${path}: ${String(err)}`);
      return err.details;
    }

    it('reads a PDF larger than fetch.maxBytes whole, under documents.maxBytes', async () => {
      const res = await fetchPage(`${origin}/mid.pdf`, agent, policy, opts);
      assert.deepEqual([res.status, res.body.length, res.truncated], [200, (bodies.get('/mid.pdf')?.body.length), false]);
      const gz = await fetchPage(`${origin}/mid.gz.pdf`, agent, policy, opts);
      assert.equal(gz.body.length, 9 + 200 * KB, 'inflated under documents.maxBytes too');
    });

    it('fails a PDF over documents.maxBytes, on the wire and after decompression', async () => {
      assert.deepEqual(await tooLarge('/big.pdf'), { limit: DOC_CAP });
      assert.ok((bodies.get('/bomb.pdf')?.body.length ?? 0) < DOC_CAP, 'the bomb is small on the wire');
      assert.deepEqual(await tooLarge('/bomb.pdf'), { limit: DOC_CAP });
    });

    it('keeps fetch.maxBytes for HTML, for an octet-stream body, and without the documents option', async () => {
      assert.deepEqual(await tooLarge('/mid.html'), { limit: HTML_CAP });
      assert.deepEqual(await tooLarge('/mid.bin'), { limit: HTML_CAP });
      assert.deepEqual(await tooLarge('/mid.pdf', { ...opts, documents: undefined }), { limit: HTML_CAP });
      assert.deepEqual(await tooLarge('/mid.pdf', { ...opts, documents: { kinds: ['docx'], maxBytes: DOC_CAP } }), { limit: HTML_CAP });
    });
  });
});
