/**
 * The extractor's steps with a session's content formats: the parse gives the content from
 * the one document it parsed (inline and in a parse worker), the record carries the fields
 * asked for, contentHash and bytes always, charset for pages, and `truncated` when a cap cut.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { sessionPolicy } from '../../../shared/admission/index.js';
import { loadConfig, type Config } from '../../../shared/config/index.js';
import { CrawlError } from '../../../shared/errors/index.js';
import type { AdmitFoundReply } from '../../../shared/ledger/index.js';
import type { DeliverRecord, ExtractTask, RecordFormat, ResultRecord, SessionSpec } from '../../../shared/tasks/types.js';
import { fingerprint } from '../../../shared/url/normalize.js';
import { parseDocument, type ParsedPage } from '../../../services/extractor/parse.js';
import { ParsePool, type ParseJob } from '../../../services/extractor/parse-pool.js';
import { parseStep, recordStep, screenStep, sessionFormats } from '../../../services/extractor/steps.js';

const ALL: RecordFormat[] = ['markdown', 'text', 'html', 'rawHtml', 'links', 'metadata', 'headers'];
const base: SessionSpec = { seeds: ['http://site.test/'], maxPages: 100, maxDepth: 2, timeoutMs: 60_000, allowedHosts: ['site.test'], include: [], exclude: [], fields: {}, webhook: null, label: null };
const cfg = loadConfig({ env: {}, file: null }).config;

const html = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title> Guide </title>
<meta name="description" content="How to.">
<link rel="canonical" href="/guide?utm_source=x">
</head><body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<main><h1>Guide</h1><p>Read <a href="/docs/install">the install notes</a> and <em>then</em> <a href="https://other.test/x" rel="nofollow">elsewhere</a>.</p>
<script>var x = 1;</script>
<pre><code class="language-js">let y = 2;</code></pre></main>
<footer><a href="/legal">Legal</a></footer>
</body></html>`;

function page(over: Partial<ExtractTask> = {}): ExtractTask {
  return {
    sessionId: 's', taskId: fingerprint('http://site.test/guide'), url: 'http://site.test/guide', finalUrl: 'http://site.test/guide', depth: 0, attempt: 1, status: 200,
    contentType: 'text/html', headers: { 'content-type': 'text/html', etag: '"e1"' }, fetchedAt: Date.parse('2026-01-01T00:00:00Z'), fetchMs: 5, body: Buffer.from(html), ...over,
  };
}

const inline = async (job: ParseJob): Promise<ParsedPage> => parseDocument(job.body, job.contentType, job.pageUrl, job.fields, job.opts, job.role);

async function parsed(spec: SessionSpec, c: Config = cfg, p: ExtractTask = page(), parse = inline): Promise<ParsedPage> {
  const r = await parseStep(p, sessionPolicy('s', spec), c, parse);
  if ('kind' in r) throw new Error(`parse failed: ${r.record.error}`);
  return r;
}

async function record(spec: SessionSpec, c: Config = cfg, p: ExtractTask = page()): Promise<ResultRecord> {
  const session = sessionPolicy('s', spec);
  const r = await parsed(spec, c, p);
  const s = screenStep(p, r, session, c, () => false);
  const reply: AdmitFoundReply = { kind: 'ok', admitted: [], limited: 0, hostLimited: 0, verdicts: 'e'.repeat(s.found.links.length) };
  const out = recordStep(s, reply, sessionFormats(session));
  assert.ok(out.record);
  return out.record.record;
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('extractor steps with content formats', () => {
  it('every format: the record carries each, from the same document as title, links and canonical', async () => {
    const r = await record({ ...base, formats: ALL, onlyMainContent: true });
    assert.equal(r.title, 'Guide');
    assert.equal(r.canonical, 'http://site.test/guide');
    assert.match(r.markdown ?? '', /^# Guide$/m);
    assert.ok(r.markdown?.includes('[the install notes](http://site.test/docs/install)'), r.markdown);
    assert.ok(r.markdown?.includes('```js\nlet y = 2;\n```'), r.markdown);
    assert.ok(!r.markdown?.includes('Legal') && !r.markdown?.includes('About'), 'main content only');
    assert.ok(r.text?.includes('Read the install notes and then elsewhere.'), r.text);
    assert.ok(r.html?.includes('<h1>Guide</h1>') && !r.html.includes('<script'), r.html);
    assert.equal(r.rawHtml, html);
    assert.deepEqual(r.links, [
      { url: 'http://site.test/', text: 'Home', rel: null },
      { url: 'http://site.test/about', text: 'About', rel: null },
      { url: 'http://site.test/docs/install', text: 'the install notes', rel: null },
      { url: 'https://other.test/x', text: 'elsewhere', rel: 'nofollow' },
      { url: 'http://site.test/legal', text: 'Legal', rel: null },
    ]);
    assert.deepEqual(r.metadata, { description: 'How to.', language: 'en', canonical: 'http://site.test/guide' });
    assert.deepEqual(r.headers, { 'content-type': 'text/html', etag: '"e1"' });
    assert.equal(r.contentHash, sha(Buffer.from(html)));
    assert.equal(r.bytes, Buffer.byteLength(html));
    assert.deepEqual([r.charset, r.charsetSource], ['utf-8', 'meta']);
    assert.equal(r.truncated, undefined);
  });

  it('the links the crawl follows and the title are the same with and without formats', async () => {
    const withContent = await parsed({ ...base, formats: ALL });
    const without = await parsed({ ...base, formats: [] });
    assert.ok(withContent.content);
    assert.equal(without.content, undefined);
    assert.deepEqual([withContent.title, withContent.links, withContent.canonical], [without.title, without.links, without.canonical]);
  });

  it('onlyMainContent false keeps navigation and footer', async () => {
    const r = await record({ ...base, formats: ['markdown'], onlyMainContent: false });
    assert.ok(r.markdown?.includes('[About](http://site.test/about)') && r.markdown.includes('Legal'), r.markdown);
  });

  it('formats [] and a session stored before formats existed: today\'s record plus hash, bytes and charset', async () => {
    for (const spec of [{ ...base, formats: [] }, base]) {
      const r = await record(spec);
      assert.equal(r.links, 4, "the links followed (not the nofollow one)");
      for (const k of ['markdown', 'text', 'html', 'rawHtml', 'metadata', 'headers', 'truncated'] as const) assert.equal(r[k], undefined, k);
      assert.equal(r.contentHash, sha(Buffer.from(html)));
      assert.equal(r.bytes, Buffer.byteLength(html));
      assert.equal(r.charset, 'utf-8');
    }
    assert.deepEqual(sessionFormats(sessionPolicy('s', base)), []);
  });

  it('contentHash: the digest the fetcher sent with the page, else the extractor hashes the body', async () => {
    const fromFetcher = `sha256:${'ab'.repeat(32)}`;
    const spec = { ...base, formats: [] };
    assert.equal((await record(spec, cfg, page({ contentHash: fromFetcher }))).contentHash, fromFetcher, 'taken as sent: the fetcher hashed these bytes');
    assert.equal((await record(spec, cfg, page())).contentHash, sha(Buffer.from(html)), 'hashed here when absent (a rendered page, a document, an older fetcher)');
  });

  it('headers alone need no document; links not asked for stay a count', async () => {
    const r = await record({ ...base, formats: ['headers'] });
    assert.deepEqual(r.headers, page().headers);
    assert.equal(r.links, 4);
    assert.equal((await parsed({ ...base, formats: ['headers'] })).content, undefined);
  });

  it('caps cut a field on a UTF-8 boundary and name it in truncated', async () => {
    const c = loadConfig({ env: { CONTENT_MAX_MARKDOWN_BYTES: '12', CONTENT_MAX_LINKS_BYTES: '120', CONTENT_MAX_RAW_HTML_BYTES: '100000' }, file: null }).config;
    const body = Buffer.from(html.replace('<h1>Guide</h1>', '<h1>Guidé ééé</h1>'));
    const r = await record({ ...base, formats: ['markdown', 'links', 'rawHtml'] }, c, page({ body }));
    assert.deepEqual(r.truncated, ['markdown', 'links']);
    assert.ok(Buffer.byteLength(r.markdown ?? '') <= 12);
    assert.ok(!(r.markdown ?? '').includes('\ufffd'), 'cut between characters');
    assert.ok('# Guidé ééé'.startsWith(r.markdown ?? 'x'), r.markdown);
    assert.ok(Array.isArray(r.links) && r.links.length > 0 && Buffer.byteLength(JSON.stringify(r.links)) <= 120);
    assert.equal(r.rawHtml, body.toString('utf8'));
  });

  it('robots.txt and sitemaps get no content: links stay the count of URLs listed', async () => {
    const body = Buffer.from('User-agent: *\nSitemap: http://site.test/s.xml\n');
    const p = page({ url: 'http://site.test/robots.txt', finalUrl: 'http://site.test/robots.txt', role: 'robots', contentType: 'text/plain', body });
    const r = await record({ ...base, formats: ALL }, cfg, p);
    assert.equal(typeof r.links, 'number');
    assert.equal(r.markdown, undefined);
    assert.equal(r.contentHash, sha(body));
    assert.equal(r.charset, undefined);
  });

  it('a page that fails to parse still records its hash and bytes', async () => {
    const r = await parseStep(page(), sessionPolicy('s', { ...base, formats: ALL }), cfg, async () => { throw new CrawlError('parse_timeout', 'slow'); });
    assert.ok('kind' in r);
    const rec = (r as DeliverRecord).record;
    assert.deepEqual([rec.reason, rec.contentHash, rec.bytes], ['parse_timeout', sha(Buffer.from(html)), Buffer.byteLength(html)]);
  });

  describe('in a parse worker', () => {
    let pool: ParsePool;
    before(() => {
      pool = new ParsePool(() => 1, { inlineBytes: 0 });
    });
    after(() => pool.close());

    it('the content comes back from the worker as it does inline', async () => {
      const spec = { ...base, formats: ALL };
      const fromWorker = await parsed(spec, cfg, page(), (job) => pool.parse({ ...job, timeoutMs: 30_000 }));
      assert.ok(pool.workers >= 1);
      assert.deepEqual(fromWorker, await parsed(spec));
    });
  });
});
