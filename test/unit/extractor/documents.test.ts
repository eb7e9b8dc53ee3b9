/**
 * The documents stage's parsers on documents made here: PDF (pages, headings, Title and
 * metadata, a URI link annotation and a URL in the text, maxPages, no text layer), DOCX
 * (headings, list, table, emphasis, hyperlink, core properties), the four feed formats,
 * plain text and Markdown; and the bad ones, each with its catalogue code.
 */
import assert from 'node:assert/strict';
import { parseDocumentFile } from '../../../services/extractor/documents/index.js';
import { declaredZipSize } from '../../../services/extractor/documents/docx.js';
import { pdfDate } from '../../../services/extractor/documents/pdf.js';
import type { ParseOptions } from '../../../services/extractor/parse.js';
import { CrawlError } from '../../../shared/errors/index.js';
import { DOCX_TYPE } from '../../../shared/content/sniff.js';
import { feeds, makeDocx, makeEncryptedPdf, makeImageOnlyPdf, makeLongPdf, makePdf, makeZipBombDocx, truncate } from '../../support/documents.js';

const BASE = 'http://127.0.0.1:8080';
const opts = (over: Partial<ParseOptions['documents'] & object> = {}): ParseOptions => ({
  followNofollow: false,
  maxLinks: 1000,
  documents: { maxPages: 500, maxFeedItems: 1000, maxInflatedBytes: 50 * 1024 * 1024, ...over },
  content: { formats: ['markdown', 'text', 'links', 'metadata', 'rawHtml', 'html'], onlyMainContent: true, maxBytes: {} },
});

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof CrawlError, `a CrawlError, not ${String(err)}`);
    return err.code;
  }
  assert.fail('expected a refusal');
}

describe('documents: PDF', function () {
  this.timeout(30_000);

  it('gives text and markdown per page, the Title, metadata, and links from annotations and text', async () => {
    const pdf = await makePdf({
      title: 'Operator Manual',
      author: 'Ada',
      language: 'en',
      pages: [['# Installation', 'Unpack the archive.', `More at ${BASE}/from-text.html.`], ['# Usage', 'Run it.']],
      links: [{ page: 1, url: `${BASE}/from-annotation.html` }],
    });
    const p = await parseDocumentFile(pdf, 'application/pdf', `${BASE}/manual.pdf`, opts());
    assert.equal(p.title, 'Operator Manual');
    assert.deepEqual(p.links.sort(), [`${BASE}/from-annotation.html`, `${BASE}/from-text.html`]);
    const c = p.content;
    assert.ok(c?.markdown?.startsWith('# Installation\n\nUnpack the archive.'), c?.markdown);
    assert.match(c?.markdown ?? '', /\n\n---\n\n# Usage\n\nRun it\./);
    assert.equal(c?.text?.split('\f').length, 2, 'a form feed between the two pages');
    assert.deepEqual(c?.metadata, { pages: 2, author: 'Ada', createdAt: '2024-03-01T10:00:00.000Z', producer: 'pdf-lib (https://github.com/Hopding/pdf-lib)', language: 'en' });
    assert.deepEqual(c?.truncated, []);
    assert.equal(p.document?.kind, 'pdf');
    assert.equal(p.document?.reason, undefined);
  });

  it('takes the first line as title when the PDF has no Title', async () => {
    const p = await parseDocumentFile(await makePdf({ pages: [['  First   line here', 'second']] }), 'application/pdf', `${BASE}/a.pdf`, opts());
    assert.equal(p.title, 'First line here');
  });

  it('keeps the first maxPages pages of a longer PDF and says so in truncated', async () => {
    const p = await parseDocumentFile(await makeLongPdf(12), 'application/pdf', `${BASE}/long.pdf`, opts({ maxPages: 5 }));
    assert.deepEqual(p.content?.truncated, ['pages']);
    assert.equal(p.content?.metadata?.pages, 12);
    assert.match(p.content?.text ?? '', /Page 5$/);
    assert.doesNotMatch(p.content?.text ?? '', /Page 6/);
  });

  it('delivers a PDF without a text layer with empty text and reason no_text_layer', async () => {
    const p = await parseDocumentFile(await makeImageOnlyPdf(), 'application/pdf', `${BASE}/scan.pdf`, opts());
    assert.equal(p.content?.text, '');
    assert.equal(p.content?.markdown, '');
    assert.equal(p.document?.reason, 'no_text_layer');
  });

  it('refuses an encrypted PDF with document_encrypted and a truncated one with document_corrupt', async () => {
    assert.equal(await refusal(parseDocumentFile(await makeEncryptedPdf(), 'application/pdf', `${BASE}/e.pdf`, opts())), 'document_encrypted');
    const whole = await makePdf({ pages: [['one'], ['two']] });
    assert.equal(await refusal(parseDocumentFile(truncate(whole), 'application/pdf', `${BASE}/t.pdf`, opts())), 'document_corrupt');
    assert.equal(await refusal(parseDocumentFile(Buffer.from('%PDF-1.7\nnot really'), 'application/pdf', `${BASE}/c.pdf`, opts())), 'document_corrupt');
  });

  it('reads PDF dates', () => {
    assert.equal(pdfDate("D:20240301100000+02'00'"), '2024-03-01T08:00:00.000Z');
    assert.equal(pdfDate('D:2024'), '2024-01-01T00:00:00.000Z');
    assert.equal(pdfDate('yesterday'), undefined);
  });
});

describe('documents: DOCX', function () {
  this.timeout(30_000);

  it('gives Markdown with headings, emphasis, a list, a table and a link; title and metadata from the core properties', async () => {
    const docx = await makeDocx({ title: 'Report 2024', author: 'Bo', link: { url: `${BASE}/linked.html`, text: 'the annex' } });
    const p = await parseDocumentFile(docx, DOCX_TYPE, `${BASE}/report.docx`, opts());
    const md = p.content?.markdown ?? '';
    assert.match(md, /^# Annual Report$/m);
    assert.match(md, /^## Findings$/m);
    assert.match(md, /\*\*bold\*\*/);
    assert.match(md, /\*italic\*/);
    assert.match(md, /^[*-] First point$/m);
    assert.match(md, /^\| Name +\| Value +\|$/m);
    assert.match(md, /\[the annex\]\(http:\/\/127\.0\.0\.1:8080\/linked\.html\)/);
    assert.equal(p.title, 'Report 2024');
    assert.deepEqual(p.content?.metadata, { author: 'Bo', language: 'en-GB', createdAt: '2024-02-01T08:00:00.000Z' });
    assert.deepEqual(p.links, [`${BASE}/linked.html`]);
    assert.match(p.content?.html ?? '', /<h1>Annual Report<\/h1>/);
  });

  it('refuses a ZIP bomb with too_large before inflating it, and a broken file with document_corrupt', async () => {
    const bomb = await makeZipBombDocx(8 * 1024 * 1024);
    assert.ok(bomb.length < 100_000, `${bomb.length} bytes on the wire`);
    assert.ok((declaredZipSize(bomb) ?? 0) > 8 * 1024 * 1024);
    assert.equal(await refusal(parseDocumentFile(bomb, DOCX_TYPE, `${BASE}/bomb.docx`, opts({ maxInflatedBytes: 1024 * 1024 }))), 'too_large');
    const docx = await makeDocx();
    assert.equal(await refusal(parseDocumentFile(docx.subarray(0, docx.length - 40), DOCX_TYPE, `${BASE}/cut.docx`, opts())), 'document_corrupt');
    assert.equal(await refusal(parseDocumentFile(Buffer.from('PK\x03\x04garbage'), DOCX_TYPE, `${BASE}/g.docx`, opts())), 'document_corrupt');
  });
});

describe('documents: feeds', () => {
  const paths = ['/news/1.html', '/news/2.html'];
  const cases: [string, string, string, string][] = [
    ['RSS 2.0', 'application/rss+xml', feeds.rss2(BASE, paths), 'News & Notes'],
    ['RSS 1.0 (RDF)', 'application/rdf+xml', feeds.rss1(BASE, paths), 'RDF Site'],
    ['Atom 1.0', 'application/atom+xml', feeds.atom(BASE, paths), 'Atom Log'],
    ['JSON Feed', 'application/feed+json', feeds.json(BASE, paths), 'JSON Journal'],
  ];
  for (const [name, type, body, title] of cases) {
    it(`reads ${name}: title, items with url, title and date; item links admitted`, async () => {
      const p = await parseDocumentFile(Buffer.from(body), type, `${BASE}/feed`, opts());
      assert.equal(p.title, title);
      assert.equal(p.document?.feed?.title, title);
      const items = p.document?.feed?.items ?? [];
      assert.deepEqual(items.map((i) => i.url), paths.map((x) => `${BASE}${x}`));
      assert.ok(items.every((i) => i.title !== null && /^2024-03-0\dT/.test(i.publishedAt ?? '')), JSON.stringify(items));
      assert.deepEqual(p.links, paths.map((x) => `${BASE}${x}`));
    });
  }

  it('keeps at most maxFeedItems items and says so', async () => {
    const p = await parseDocumentFile(Buffer.from(feeds.rss2(BASE, ['/a', '/b', '/c'])), 'application/rss+xml', `${BASE}/feed`, opts({ maxFeedItems: 2 }));
    assert.equal(p.document?.feed?.items.length, 2);
    assert.deepEqual(p.content?.truncated, ['feed']);
  });

  it('does not expand a billion-laughs entity, and refuses malformed XML and JSON with document_corrupt', async () => {
    const t0 = Date.now();
    const p = await parseDocumentFile(Buffer.from(feeds.billionLaughs()), 'application/rss+xml', `${BASE}/lol`, opts());
    assert.equal(p.document?.feed?.title, '&lol9;');
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(await refusal(parseDocumentFile(Buffer.from('<rss><channel><title>x</title>'), 'application/rss+xml', `${BASE}/bad`, opts())), 'document_corrupt');
    assert.equal(await refusal(parseDocumentFile(Buffer.from('{"version": '), 'application/feed+json', `${BASE}/bad.json`, opts())), 'document_corrupt');
  });

  it('keeps XML and JSON that are not feeds raw, without links', async () => {
    const p = await parseDocumentFile(Buffer.from('<config><a href="http://x/">1</a></config>'), 'application/xml', `${BASE}/c.xml`, opts());
    assert.equal(p.content?.rawHtml, '<config><a href="http://x/">1</a></config>');
    assert.deepEqual(p.links, []);
    assert.equal(p.document?.feed, undefined);
  });
});

describe('documents: text', () => {
  it('keeps text/plain as text with URLs in it as links', async () => {
    const p = await parseDocumentFile(Buffer.from('Read me\n\nSee http://127.0.0.1:8080/t.html, then stop.\n'), 'text/plain; charset=utf-8', `${BASE}/r.txt`, opts());
    assert.equal(p.title, 'Read me');
    assert.equal(p.content?.text, 'Read me\n\nSee http://127.0.0.1:8080/t.html, then stop.\n');
    assert.deepEqual(p.links, [`${BASE}/t.html`]);
    assert.equal(p.charset, 'utf-8');
  });

  it('keeps text/markdown as markdown, its first heading the title and its links admitted', async () => {
    const md = 'Intro\n\n# The Guide\n\nSee [part two](/two.md).\n';
    const p = await parseDocumentFile(Buffer.from(md), 'text/markdown', `${BASE}/g.md`, opts());
    assert.equal(p.title, 'The Guide');
    assert.equal(p.content?.markdown, md);
    assert.deepEqual(p.links, [`${BASE}/two.md`]);
  });
});
