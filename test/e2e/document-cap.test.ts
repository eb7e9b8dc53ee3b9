/**
 * Documents are capped by documents.maxBytes, not by fetch.maxBytes, end to end: with
 * FETCH_MAX_BYTES 256 KiB and DOCUMENTS_MAX_BYTES 1 MiB, a 600 KiB PDF is downloaded, parsed
 * and its link followed; a 1.5 MiB PDF fails too_large; HTML keeps the 256 KiB cap, and so does
 * a PDF served as application/octet-stream (the cap is chosen from the headers, before the
 * bytes are seen). The session completes.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { makePdf } from '../support/documents.js';
import { waitFinished } from '../support/oracle.js';
import { http, startTestStack, type TestStack } from '../support/stack.js';

const KB = 1024;
const FETCH_MAX = 256 * KB;
const DOCUMENTS_MAX = 1024 * KB;

describe('the download cap of documents (five processes, local site)', function () {
  this.timeout(180_000);
  let server: Server;
  let origin = '';
  let stack: TestStack;
  const files = new Map<string, { type: string; body: Buffer }>();

  before(async () => {
    server = createServer((req, res) => {
      const f = files.get(req.url ?? '/');
      if (!f) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      res.writeHead(200, { 'content-type': f.type, 'content-length': f.body.length }).end(f.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const html = (title: string, body = ''): Buffer => Buffer.from(`<!doctype html><html><head><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`);
    const pdf = (title: string, link: string, padBytes: number): Promise<Buffer> =>
      makePdf({ title, pages: [[`# ${title}`, 'See the link.']], links: [{ page: 0, url: `${origin}${link}` }], padBytes });
    files.set('/', { type: 'text/html', body: html('Index', ['/big.pdf', '/huge.pdf', '/big.html', '/download'].map((p) => `<a href="${p}">${p}</a>`).join(' ')) });
    files.set('/big.pdf', { type: 'application/pdf', body: await pdf('Big', '/only/big.html', 600 * KB) });
    files.set('/huge.pdf', { type: 'application/pdf', body: await pdf('Huge', '/only/huge.html', 1536 * KB) });
    files.set('/download', { type: 'application/octet-stream', body: await pdf('Octets', '/only/octets.html', 600 * KB) });
    files.set('/big.html', { type: 'text/html', body: html('Big page', `<p>${'x'.repeat(400 * KB)}</p>`) });
    for (const name of ['big', 'huge', 'octets']) files.set(`/only/${name}.html`, { type: 'text/html', body: html(name) });
    stack = await startTestStack({ fetchers: 1, env: { RETRY_MAX_ATTEMPTS: '1', FETCH_MAX_BYTES: String(FETCH_MAX), DOCUMENTS_MAX_BYTES: String(DOCUMENTS_MAX) } });
  });
  after(async () => {
    await stack?.stop();
    await new Promise((r) => server?.close(r));
  });

  it('delivers a PDF over fetch.maxBytes and under documents.maxBytes, and fails one over it with too_large', async () => {
    const sizes = (p: string): number => files.get(p)?.body.length ?? 0;
    assert.ok(sizes('/big.pdf') > FETCH_MAX && sizes('/big.pdf') < DOCUMENTS_MAX, `big.pdf: ${sizes('/big.pdf')} bytes`);
    assert.ok(sizes('/huge.pdf') > DOCUMENTS_MAX, `huge.pdf: ${sizes('/huge.pdf')} bytes`);
    assert.ok(sizes('/big.html') > FETCH_MAX && sizes('/download') > FETCH_MAX);

    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [`${origin}/`], maxDepth: 2, formats: ['markdown', 'links'] });
    assert.equal(created.status, 201, created.text);
    const s = await waitFinished(stack.api, created.body.id, 150_000);
    assert.equal(s.status, 'completed');
    const res = await http(stack.api, 'GET', `/sessions/${created.body.id}/results`);
    const r = new Map(res.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord).map((rec) => [rec.url.slice(origin.length), rec]));

    const big = r.get('/big.pdf') as ResultRecord;
    assert.deepEqual([big.outcome, big.reason, big.title, big.bytes], ['delivered', null, 'Big', sizes('/big.pdf')]);
    assert.match(big.markdown ?? '', /^# Big/);
    assert.equal(r.get('/only/big.html')?.outcome, 'delivered', 'the page only the PDF links is reached');

    const huge = r.get('/huge.pdf') as ResultRecord;
    assert.deepEqual([huge.outcome, huge.reason], ['failed', 'too_large']);
    assert.match(huge.error ?? '', new RegExp(`exceeds ${DOCUMENTS_MAX} bytes`));
    assert.equal(r.has('/only/huge.html'), false);

    const page = r.get('/big.html') as ResultRecord;
    assert.deepEqual([page.outcome, page.reason], ['failed', 'too_large']);
    assert.match(page.error ?? '', new RegExp(`exceeds ${FETCH_MAX} bytes`));
    const octets = r.get('/download') as ResultRecord;
    assert.deepEqual([octets.outcome, octets.reason], ['failed', 'too_large'], 'a type that declares no document keeps fetch.maxBytes');
    assert.equal(r.has('/only/octets.html'), false);
  });
});
