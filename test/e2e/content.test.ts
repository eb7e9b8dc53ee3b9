/**
 * Page content end to end: a local site (the content fixture pages, a page over the inline
 * parse size that goes to a parse worker, a gzip-encoded page, a windows-1252 page, a file)
 * crawled by the five services as real processes. A session with every format delivers each
 * field for each HTML page, contentHash verifies against the bytes served (decompressed),
 * the Markdown has the page's heading and absolute links (the fixtures' exactly their
 * expected files), and the Markdown round-trips through GET /results?fields=url,markdown. A
 * session with `formats: []` delivers today's record shape.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { waitFinished } from '../support/oracle.js';
import { http, startTestStack, type TestStack } from '../support/stack.js';

const FIXTURES = new URL('../../../test/fixtures/content/', import.meta.url);
const FIXTURE_NAMES = ['structure', 'table', 'code', 'boilerplate'];
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');

interface Served {
  /** The body bytes before any Content-Encoding. */
  bytes: Buffer;
  type: string;
  gzip?: boolean;
  /** What the Markdown must be, or the heading it must have. */
  markdown?: string;
  heading?: string;
}

function bigPage(): string {
  const paras = Array.from({ length: 400 }, (_, i) => `<p>Paragraph ${i} of the long page, with <a href="/big.html#p${i}">a link to itself</a> and <strong>some</strong> words.</p>`);
  return `<!DOCTYPE html><html lang="en"><head><title>Big</title></head><body><nav><a href="/">Home</a></nav><main><h1>A big page</h1>${paras.join('\n')}</main></body></html>`;
}

/** The site's pages by path; `origin` makes the fixtures' expected Markdown absolute. */
function sitePages(origin: string): Map<string, Served> {
  const pages = new Map<string, Served>();
  const links = [...FIXTURE_NAMES.map((n) => `docs/guide/${n}.html`), 'big.html', 'gzip.html', 'latin1.html', 'file.bin'];
  pages.set('/', {
    bytes: Buffer.from(`<!DOCTYPE html><html><head><title>Index</title><meta name="description" content="The content site."></head><body><main><h1>Content index</h1><ul>${links.map((l) => `<li><a href="${l}">${l}</a></li>`).join('')}</ul></main></body></html>`),
    type: 'text/html; charset=utf-8',
    heading: '# Content index',
  });
  for (const name of FIXTURE_NAMES) {
    // The expected files were written for pages under http://example.com/docs/guide/.
    pages.set(`/docs/guide/${name}.html`, { bytes: Buffer.from(fixture(`${name}.html`)), type: 'text/html', markdown: fixture(`${name}.md`).replaceAll('http://example.com', origin) });
  }
  pages.set('/big.html', { bytes: Buffer.from(bigPage()), type: 'text/html', heading: '# A big page' });
  pages.set('/gzip.html', { bytes: Buffer.from('<!DOCTYPE html><html><head><title>Gz</title></head><body><h1>Compressed page</h1><p>Back <a href="/">home</a>.</p></body></html>'), type: 'text/html', gzip: true, heading: '# Compressed page' });
  pages.set('/latin1.html', { bytes: Buffer.from('<!DOCTYPE html><html><head><title>Caf\xe9</title></head><body><h1>Caf\xe9 cr\xe8me</h1><p><a href="/">Accueil</a></p></body></html>', 'latin1'), type: 'text/html; charset=windows-1252', heading: '# Café crème' });
  pages.set('/file.bin', { bytes: Buffer.from([0, 1, 2, 3]), type: 'application/octet-stream' });
  return pages;
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const CONTENT_KEYS = ['markdown', 'text', 'html', 'rawHtml', 'metadata', 'headers', 'truncated'] as const;
const TODAY_KEYS = ['url', 'finalUrl', 'status', 'depth', 'parent', 'outcome', 'reason', 'error', 'title', 'contentType', 'fields', 'links', 'canonical', 'fetchedAt', 'attempts'];

describe('page content (five processes, local site)', function () {
  this.timeout(120_000);
  let server: Server;
  let origin: string;
  let pages: Map<string, Served>;
  let stack: TestStack;

  before(async () => {
    server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0] as string;
      const p = pages.get(path);
      if (!p) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      const headers: Record<string, string> = { 'content-type': p.type, 'cache-control': 'max-age=60', 'set-cookie': 'sid=secret' };
      if (p.gzip) headers['content-encoding'] = 'gzip';
      res.writeHead(200, headers).end(p.gzip ? gzipSync(p.bytes) : p.bytes);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    pages = sitePages(origin);
    stack = await startTestStack({ fetchers: 1, env: { RETRY_MAX_ATTEMPTS: '1' } });
  });

  after(async () => {
    await stack?.stop();
    await new Promise((resolve) => server?.close(resolve));
  });

  async function crawl(body: Record<string, unknown>): Promise<{ id: string; records: ResultRecord[]; ms: number }> {
    const t0 = Date.now();
    const created = await http<{ id: string; spec: Record<string, unknown> }>(stack.api, 'POST', '/sessions', { seeds: [`${origin}/`], maxDepth: 2, ...body });
    assert.equal(created.status, 201, created.text);
    const s = await waitFinished(stack.api, created.body.id, 90_000);
    const ms = Date.now() - t0;
    assert.equal(s.status, 'completed');
    const res = await http(stack.api, 'GET', `/sessions/${created.body.id}/results`);
    return { id: created.body.id, records: res.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord), ms };
  }

  const htmlPaths = (): string[] => [...pages].filter(([, p]) => p.type.startsWith('text/html')).map(([path]) => path);

  it('every format: each field for each HTML page, the hash of the bytes served, Markdown with its heading and absolute links', async () => {
    const formats = ['markdown', 'text', 'html', 'rawHtml', 'links', 'metadata', 'headers'];
    const { id, records, ms } = await crawl({ formats });
    const byUrl = new Map(records.map((r) => [r.url, r]));
    for (const path of htmlPaths()) {
      const served = pages.get(path) as Served;
      const r = byUrl.get(`${origin}${path}`);
      assert.ok(r, `${path} has a record`);
      assert.equal(r.outcome, 'delivered', path);
      assert.equal(r.contentHash, sha(served.bytes), `${path}: contentHash of the bytes served, decompressed`);
      assert.equal(r.bytes, served.bytes.length, path);
      for (const k of ['markdown', 'text', 'html', 'rawHtml'] as const) assert.equal(typeof r[k], 'string', `${path}: ${k}`);
      assert.equal(typeof r.metadata, 'object', path);
      assert.ok(Array.isArray(r.links), `${path}: links is the list`);
      for (const l of r.links) assert.match(l.url, /^https?:\/\//, `${path}: link ${l.url}`);
      assert.equal(r.headers?.['content-type'], served.type, path);
      assert.equal(r.headers?.['cache-control'], 'max-age=60', path);
      assert.equal(r.headers?.['set-cookie'], undefined, `${path}: never set-cookie`);
      assert.equal(r.truncated, undefined, path);
      if (served.markdown !== undefined) assert.equal(r.markdown, served.markdown, `${path}: the fixture's expected Markdown`);
      if (served.heading !== undefined) assert.ok(r.markdown?.split('\n').includes(served.heading), `${path}: ${served.heading} in ${r.markdown?.slice(0, 200)}`);
      for (const m of (r.markdown ?? '').matchAll(/\]\(([^)\s]+)/g)) assert.match(m[1] as string, /^(https?:|mailto:)/, `${path}: Markdown link ${m[1]} is absolute`);
    }
    const index = byUrl.get(`${origin}/`) as ResultRecord;
    assert.equal(index.rawHtml, (pages.get('/') as Served).bytes.toString('utf8'));
    assert.deepEqual(index.metadata, { description: 'The content site.' });
    assert.ok(Array.isArray(index.links) && index.links.some((l) => l.url === `${origin}/big.html` && l.text === 'big.html' && l.rel === null));
    const latin = byUrl.get(`${origin}/latin1.html`) as ResultRecord;
    assert.deepEqual([latin.title, latin.charset, latin.charsetSource], ['Café', 'windows-1252', 'header']);
    assert.equal(latin.rawHtml, (pages.get('/latin1.html') as Served).bytes.toString('latin1'));
    const file = byUrl.get(`${origin}/file.bin`) as ResultRecord;
    assert.deepEqual([file.outcome, file.markdown, file.contentHash], ['delivered', undefined, undefined], 'a file is not parsed');

    // The Markdown round-trips through the results API, only the keys asked for.
    const t0 = Date.now();
    const res = await http(stack.api, 'GET', `/sessions/${id}/results?fields=url,markdown`);
    const roundTripMs = Date.now() - t0;
    assert.equal(res.status, 200);
    const lines = res.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, records.length);
    for (const line of lines) {
      const full = byUrl.get(line['url'] as string) as ResultRecord;
      assert.deepEqual(line, full.markdown === undefined ? { url: full.url } : { url: full.url, markdown: full.markdown });
    }
    const mdBytes = records.reduce((n, r) => n + Buffer.byteLength(r.markdown ?? ''), 0);
    process.stdout.write(`      (crawl of ${records.length} records with every format: ${ms} ms; results?fields=url,markdown: ${res.text.length} chars, ${mdBytes} bytes of Markdown, ${roundTripMs} ms)\n`);
  });

  it('formats [] delivers today\'s record shape, plus contentHash, bytes, charset, and what the crawl index needs (changed, outlinks)', async () => {
    const { records } = await crawl({ formats: [] });
    const byUrl = new Map(records.map((r) => [r.url, r]));
    for (const path of htmlPaths()) {
      const r = byUrl.get(`${origin}${path}`) as ResultRecord;
      assert.equal(r.outcome, 'delivered', path);
      // outlinks: the page's links for later sessions that skip it (absent when it has none).
      const outlinks = typeof r.links === 'number' && r.links > 0 ? ['outlinks'] : [];
      assert.deepEqual(Object.keys(r).sort(), [...TODAY_KEYS, 'contentHash', 'bytes', 'charset', 'charsetSource', 'changed', ...outlinks].sort(), path);
      assert.equal(typeof r.links, 'number', path);
      assert.equal(r.contentHash, sha((pages.get(path) as Served).bytes), path);
      for (const k of CONTENT_KEYS) assert.equal(r[k], undefined, `${path}: ${k}`);
    }
  });

  it('the default formats: markdown, links and metadata, main content only', async () => {
    const created = await http<{ id: string; spec: { formats: string[]; onlyMainContent: boolean } }>(stack.api, 'POST', '/sessions', { seeds: [`${origin}/gzip.html`], maxDepth: 0 });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual([created.body.spec.formats, created.body.spec.onlyMainContent], [['markdown', 'links', 'metadata'], true]);
    await waitFinished(stack.api, created.body.id, 60_000);
    const res = await http(stack.api, 'GET', `/sessions/${created.body.id}/results`);
    const r = JSON.parse(res.text.split('\n')[0] as string) as ResultRecord;
    assert.equal(r.markdown, '# Compressed page\n\nBack [home](' + origin + '/).\n');
    assert.ok(Array.isArray(r.links));
    assert.deepEqual(r.metadata, {});
    assert.deepEqual([r.text, r.html, r.rawHtml, r.headers], [undefined, undefined, undefined, undefined]);
  });

  it('an unknown format is a 400 naming it', async () => {
    const res = await http<{ error: { code: string; message: string } }>(stack.api, 'POST', '/sessions', { seeds: [`${origin}/`], formats: ['markdown', 'pdf'] });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body.error, { code: 'validation', message: 'body/formats/1 must be equal to one of the allowed values' });
  });
});
