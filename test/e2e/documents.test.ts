/**
 * Documents end to end: the five services as real processes crawl a local site of
 * documents (test/sites/documents.ts). Pages linked only from a PDF, a DOCX, a PDF served as
 * application/octet-stream, a text file, and from the items of an RSS and an Atom feed
 * (announced by <link rel="alternate">) are all reached; each document's record carries
 * its fields; a truncated PDF fails with document_corrupt and an encrypted one with
 * document_encrypted; the session completes. A DOCX whose word/document.xml inflates past
 * documents.maxInflatedBytes (a ZIP bomb) fails with too_large while the pages and the DOCX
 * linked after it are delivered, nothing is lost and no process exits. A session with
 * `documents: []` delivers the documents unparsed and reaches none of those pages.
 */
import assert from 'node:assert/strict';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { checkInvariants, waitFinished } from '../support/oracle.js';
import { http, startTestStack, type TestStack } from '../support/stack.js';
import { BOMB_INFLATED_BYTES, startDocumentSite, type DocumentSite } from '../sites/documents.js';

/** The inflated-size cap of the stack under test: far above every normal DOCX of the site, below the bomb. */
const MAX_INFLATED_BYTES = 1024 * 1024;

describe('documents (five processes, local site)', function () {
  this.timeout(180_000);
  let site: DocumentSite;
  let stack: TestStack;

  before(async () => {
    site = await startDocumentSite();
    assert.ok(BOMB_INFLATED_BYTES > MAX_INFLATED_BYTES);
    stack = await startTestStack({ fetchers: 1, env: { RETRY_MAX_ATTEMPTS: '1', DOCUMENTS_MAX_INFLATED_BYTES: String(MAX_INFLATED_BYTES) } });
  });
  after(async () => {
    await stack?.stop();
    await site?.close();
  });

  /** Crawls from `seed` (a path of the site) to completion; the session's id and its records by path. */
  async function crawlSession(body: Record<string, unknown>, seed = '/'): Promise<{ id: string; records: Map<string, ResultRecord> }> {
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [`${site.origin}${seed}`], maxDepth: 3, ...body });
    assert.equal(created.status, 201, created.text);
    const s = await waitFinished(stack.api, created.body.id, 150_000);
    assert.equal(s.status, 'completed');
    const res = await http(stack.api, 'GET', `/sessions/${created.body.id}/results`);
    const records = res.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord);
    return { id: created.body.id, records: new Map(records.map((r) => [r.url.slice(site.origin.length), r])) };
  }
  const crawl = async (body: Record<string, unknown>): Promise<Map<string, ResultRecord>> => (await crawlSession(body)).records;

  it('parses every document, reaches the pages only they link, and fails the bad ones with their codes', async () => {
    const r = await crawl({ formats: ['markdown', 'text', 'links', 'metadata'] });
    for (const name of ['pdf', 'docx', 'octet', 'text', 'rss-1', 'rss-2', 'atom-1']) {
      assert.equal(r.get(`/only/${name}.html`)?.outcome, 'delivered', `/only/${name}.html reached: ${[...r.keys()].join(' ')}`);
    }
    assert.equal(r.get('/only/pdf.html')?.parent, `${site.origin}/manual.pdf`);
    assert.equal(r.get('/only/rss-1.html')?.parent, `${site.origin}/feed.rss`);

    const pdf = r.get('/manual.pdf') as ResultRecord;
    assert.equal(pdf.outcome, 'delivered');
    assert.equal(pdf.title, 'Manual');
    assert.match(pdf.markdown ?? '', /^# Manual\n\nRead the first page\.\n\n---\n\n# Part two/);
    assert.equal(pdf.metadata?.pages, 2);
    assert.equal(pdf.metadata?.author, 'Ada');
    assert.ok(Array.isArray(pdf.links) && pdf.links.some((l) => l.url === `${site.origin}/only/pdf.html`));
    assert.match(pdf.contentHash ?? '', /^sha256:/);
    assert.equal(pdf.bytes, site.files.get('/manual.pdf')?.body.length);
    assert.equal(pdf.charset, undefined);

    const docx = r.get('/report.docx') as ResultRecord;
    assert.deepEqual([docx.outcome, docx.title], ['delivered', 'Report']);
    assert.match(docx.markdown ?? '', /^# Annual Report$/m);
    assert.match(docx.markdown ?? '', /\| Name +\| Value +\|/);

    const octet = r.get('/download?id=7') as ResultRecord;
    assert.deepEqual([octet.outcome, octet.contentType, octet.detectedType, octet.title], ['delivered', 'application/octet-stream', 'application/pdf', 'Served as octets']);

    const rss = r.get('/feed.rss') as ResultRecord;
    assert.equal(rss.outcome, 'delivered');
    assert.deepEqual(rss.feed?.items.map((i) => i.url), [`${site.origin}/only/rss-1.html`, `${site.origin}/only/rss-2.html`]);
    assert.equal(rss.feed?.title, 'News & Notes');
    const atom = r.get('/feed.atom') as ResultRecord;
    assert.deepEqual(atom.feed?.items.map((i) => [i.url, i.title, i.publishedAt]), [[`${site.origin}/only/atom-1.html`, 'Post 1', '2024-03-01T12:00:00.000Z']]);

    const txt = r.get('/notes.txt') as ResultRecord;
    assert.deepEqual([txt.outcome, txt.title, txt.charset], ['delivered', 'Notes', 'utf-8']);
    assert.match(txt.text ?? '', /The list is at/);

    const broken = r.get('/broken.pdf') as ResultRecord;
    assert.deepEqual([broken.outcome, broken.reason], ['failed', 'document_corrupt']);
    const locked = r.get('/locked.pdf') as ResultRecord;
    assert.deepEqual([locked.outcome, locked.reason], ['failed', 'document_encrypted']);
  });

  it('fails a ZIP-bomb DOCX with too_large and delivers the pages and the DOCX linked after it; nothing lost, no process exits', async () => {
    const exits: string[] = [];
    const onExit = (label: string, code: number | null, signal: string | null): number => exits.push(`${label}:${code ?? signal}`);
    stack.supervisor.on('exit', onExit);
    let crawled: Awaited<ReturnType<typeof crawlSession>>;
    try {
      crawled = await crawlSession({ formats: ['markdown', 'links'] }, '/bomb/');
    } finally {
      stack.supervisor.off('exit', onExit);
    }
    const { id, records: r } = crawled;
    const bomb = r.get('/bomb/bomb.docx') as ResultRecord;
    assert.deepEqual([bomb.outcome, bomb.reason], ['failed', 'too_large'], JSON.stringify(bomb));
    assert.match(bomb.error ?? '', /documents\.maxInflatedBytes/);
    for (const p of ['/bomb/', '/bomb/after-1.html', '/bomb/after-2.html', '/bomb/after-3.html']) assert.equal(r.get(p)?.outcome, 'delivered', `${p} delivered`);
    const after = r.get('/bomb/after.docx') as ResultRecord;
    assert.deepEqual([after.outcome, after.title], ['delivered', 'After the bomb']);
    assert.equal(r.get('/bomb/after-3.html')?.parent, `${site.origin}/bomb/after.docx`);
    // Every URL once and terminal, the counters agree, no queue holds anything.
    const expected = ['/bomb/', '/bomb/bomb.docx', '/bomb/after-1.html', '/bomb/after.docx', '/bomb/after-2.html', '/bomb/after-3.html'];
    const report = await checkInvariants(stack.api, stack.ns, id, new Set(expected.map((p) => `${site.origin}${p}`)));
    assert.deepEqual([report.delivered, report.failed], [5, 1]);
    assert.deepEqual(exits, [], 'no service process exited');
  });

  it('documents: [] delivers every document unparsed and reaches none of the pages they link', async () => {
    const r = await crawl({ documents: [] });
    const pdf = r.get('/manual.pdf') as ResultRecord;
    assert.deepEqual([pdf.outcome, pdf.title, pdf.contentHash, pdf.markdown], ['delivered', null, undefined, undefined]);
    assert.equal(r.get('/broken.pdf')?.outcome, 'delivered');
    assert.deepEqual([...r.keys()].filter((k) => k.startsWith('/only/')), []);
  });
});
