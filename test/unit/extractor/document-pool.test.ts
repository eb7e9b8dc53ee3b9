/**
 * Bad documents through the document workers (a ParsePool running documents/worker.js, as
 * the extractor's document stage does): each ends with its catalogue code, the worker (or
 * its replacement) serves the next document, the process never crashes. A 100,000-page PDF
 * keeps documents.maxPages pages, or is stopped with parse_timeout.
 */
import assert from 'node:assert/strict';
import { ParsePool } from '../../../services/extractor/parse-pool.js';
import type { ParseOptions } from '../../../services/extractor/parse.js';
import { DOCX_TYPE } from '../../../shared/content/sniff.js';
import { CrawlError } from '../../../shared/errors/index.js';
import { feeds, makeDocx, makeEncryptedPdf, makeHugePdf, makePdf, makeZipBombDocx, truncate } from '../../support/documents.js';

const BASE = 'http://127.0.0.1:8080';
const opts: ParseOptions = {
  followNofollow: false,
  maxLinks: 1000,
  documents: { maxPages: 500, maxFeedItems: 1000, maxInflatedBytes: 1024 * 1024 },
  content: { formats: ['markdown', 'text'], onlyMainContent: true, maxBytes: {} },
};
const workerUrl = new URL('../../../services/extractor/documents/worker.js', import.meta.url);

describe('document workers: bad documents', function () {
  this.timeout(120_000);
  let pool: ParsePool;
  beforeEach(() => {
    pool = new ParsePool(() => 1, { inlineBytes: -1, workerUrl });
  });
  afterEach(() => pool.close());

  const parse = (body: Buffer, contentType: string, name: string, timeoutMs = 30_000) =>
    pool.parse({ body, contentType, pageUrl: `${BASE}/${name}`, fields: {}, opts, timeoutMs });
  const code = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: unknown) => (e instanceof CrawlError ? e.code : `not a CrawlError: ${String(e)}`));

  it('gives each bad document its code and serves the next document after each', async () => {
    const good = await makePdf({ title: 'Good', pages: [['fine']] });
    const bad: [string, Buffer, string, string][] = [
      ['encrypted.pdf', await makeEncryptedPdf(), 'application/pdf', 'document_encrypted'],
      ['truncated.pdf', truncate(good), 'application/pdf', 'document_corrupt'],
      ['bomb.docx', await makeZipBombDocx(4 * 1024 * 1024), DOCX_TYPE, 'too_large'],
      ['cut.docx', (await makeDocx()).subarray(0, 300), DOCX_TYPE, 'document_corrupt'],
      ['bad.xml', Buffer.from('<rss><channel>'), 'application/rss+xml', 'document_corrupt'],
    ];
    for (const [name, body, type, expected] of bad) {
      assert.equal(await code(parse(body, type, name)), expected, name);
      const next = await parse(good, 'application/pdf', 'good.pdf');
      assert.equal(next.title, 'Good', `the document after ${name} is served`);
    }
    const lol = await parse(Buffer.from(feeds.billionLaughs()), 'application/rss+xml', 'lol.xml');
    assert.equal(lol.document?.feed?.items.length, 1, 'a billion-laughs feed is read without expansion');
  });

  it('keeps maxPages of a 100,000-page PDF, or stops it with parse_timeout; the next document is served', async () => {
    const huge = makeHugePdf(100_000);
    // pdf.js finds a page by walking the page tree: with 100,000 pages in one /Kids array,
    // reading the first 500 takes about a minute on this machine, so a 10 s bound stops it.
    const result = await parse(huge, 'application/pdf', 'huge.pdf', 10_000).then((p) => p, (e: unknown) => e);
    if (result instanceof CrawlError) assert.equal(result.code, 'parse_timeout');
    else {
      const p = result as Awaited<ReturnType<typeof parse>>;
      assert.deepEqual(p.content?.truncated, ['pages']);
      assert.equal(p.content?.text?.split('\f').length, 500);
    }
    // A bound too short for it: the worker is stopped, and a new one serves the next.
    assert.equal(await code(parse(huge, 'application/pdf', 'huge.pdf', 50)), 'parse_timeout');
    const next = await parse(Buffer.from(feeds.rss2(BASE, ['/a'])), 'application/rss+xml', 'feed.xml');
    assert.equal(next.document?.feed?.items[0]?.url, `${BASE}/a`);
  });
});
