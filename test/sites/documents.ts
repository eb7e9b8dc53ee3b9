/**
 * A local site of documents, for the documents end-to-end test and the bench: an HTML index
 * that links a PDF, a DOCX, a PDF served as application/octet-stream, a truncated PDF, an
 * encrypted PDF and a text file, and announces an RSS and an Atom feed with
 * `<link rel="alternate">`. Each document links pages that nothing else links
 * (`/only/<name>.html`), so they are reached only through the document.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { feeds, makeDocx, makeEncryptedPdf, makePdf, truncate } from '../support/documents.js';

export interface DocumentSite {
  origin: string;
  /** Served bodies and types by path. */
  files: Map<string, { type: string; body: Buffer }>;
  close(): Promise<void>;
}

const page = (title: string): Buffer => Buffer.from(`<!doctype html><html><head><title>${title}</title></head><body><h1>${title}</h1></body></html>`);

export async function startDocumentSite(): Promise<DocumentSite> {
  const files = new Map<string, { type: string; body: Buffer }>();
  const server: Server = createServer((req, res) => {
    const f = files.get((req.url ?? '/').split('?')[0] as string);
    if (!f) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': f.type, 'content-length': f.body.length }).end(f.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const index = `<!doctype html><html><head><title>Documents</title>
<link rel="alternate" type="application/rss+xml" title="RSS" href="/feed.rss">
<link rel="alternate" type="application/atom+xml" title="Atom" href="/feed.atom">
</head><body><h1>Documents</h1><ul>
<li><a href="/manual.pdf">Manual</a></li><li><a href="/report.docx">Report</a></li>
<li><a href="/download?id=7">Download</a></li><li><a href="/broken.pdf">Broken</a></li>
<li><a href="/locked.pdf">Locked</a></li><li><a href="/notes.txt">Notes</a></li>
</ul></body></html>`;
  files.set('/', { type: 'text/html; charset=utf-8', body: Buffer.from(index) });
  const manual = await makePdf({ title: 'Manual', author: 'Ada', pages: [['# Manual', 'Read the first page.'], ['# Part two', 'The end.']], links: [{ page: 1, url: `${origin}/only/pdf.html` }] });
  files.set('/manual.pdf', { type: 'application/pdf', body: manual });
  files.set('/report.docx', { type: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', body: await makeDocx({ title: 'Report', link: { url: `${origin}/only/docx.html`, text: 'annex' } }) });
  const octet = await makePdf({ title: 'Served as octets', pages: [[`See ${origin}/only/octet.html for details.`]] });
  files.set('/download', { type: 'application/octet-stream', body: octet });
  files.set('/broken.pdf', { type: 'application/pdf', body: truncate(manual) });
  files.set('/locked.pdf', { type: 'application/pdf', body: await makeEncryptedPdf() });
  files.set('/notes.txt', { type: 'text/plain; charset=utf-8', body: Buffer.from(`Notes\n\nThe list is at ${origin}/only/text.html\n`) });
  files.set('/feed.rss', { type: 'application/rss+xml', body: Buffer.from(feeds.rss2(origin, ['/only/rss-1.html', '/only/rss-2.html'])) });
  files.set('/feed.atom', { type: 'application/atom+xml', body: Buffer.from(feeds.atom(origin, ['/only/atom-1.html'])) });
  for (const name of ['pdf', 'docx', 'octet', 'text', 'rss-1', 'rss-2', 'atom-1']) files.set(`/only/${name}.html`, { type: 'text/html', body: page(`Only ${name}`) });
  return { origin, files, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
