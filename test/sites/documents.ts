/**
 * Local sites of documents.
 *
 * `startDocumentSite`, for the documents end-to-end test: an HTML index that links a PDF, a
 * DOCX, a PDF served as application/octet-stream, a truncated PDF, an encrypted PDF and a text
 * file, and announces an RSS and an Atom feed with `<link rel="alternate">`. Each document
 * links pages that nothing else links (`/only/<name>.html`), so they are reached only through
 * the document. Apart from the index (a seed of its own), `/bomb/` links a ZIP-bomb DOCX
 * first, then pages and a normal DOCX.
 *
 * `startDocumentFleetSite`, for the chaos test: many documents of each kind (multi-page PDFs,
 * DOCX files, RSS and Atom feeds) on hub pages, each linking a page that only it links, and
 * those pages linking back to their hub; every URL a crawl reaches is known in advance.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DOCX_TYPE } from '../../shared/content/sniff.js';
import { feeds, makeDocx, makeEncryptedPdf, makePdf, makeZipBombDocx, truncate } from '../support/documents.js';

export interface DocumentSite {
  origin: string;
  /** Served bodies and types by path. */
  files: Map<string, { type: string; body: Buffer }>;
  /** Requests answered, by path (query left out). */
  requests: Map<string, number>;
  close(): Promise<void>;
}

/** How far the ZIP-bomb DOCX's word/document.xml inflates (DocumentSiteOptions.maxInflatedBytes must be below it). */
export const BOMB_INFLATED_BYTES = 8 * 1024 * 1024;

const page = (title: string, links: string[] = []): Buffer =>
  Buffer.from(`<!doctype html><html><head><title>${title}</title></head><body><h1>${title}</h1>${links.map((l) => `<a href="${l}">${l}</a>`).join(' ')}</body></html>`);

/** Serves the files put in `files` (by path; 404 for the rest) on a loopback port. */
async function serveFiles(): Promise<DocumentSite> {
  const files = new Map<string, { type: string; body: Buffer }>();
  const requests = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const f = files.get(path);
    if (!f) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': f.type, 'content-length': f.body.length }).end(f.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, files, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

export async function startDocumentSite(): Promise<DocumentSite> {
  const site = await serveFiles();
  const { origin, files } = site;
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
  files.set('/report.docx', { type: DOCX_TYPE, body: await makeDocx({ title: 'Report', link: { url: `${origin}/only/docx.html`, text: 'annex' } }) });
  const octet = await makePdf({ title: 'Served as octets', pages: [[`See ${origin}/only/octet.html for details.`]] });
  files.set('/download', { type: 'application/octet-stream', body: octet });
  files.set('/broken.pdf', { type: 'application/pdf', body: truncate(manual) });
  files.set('/locked.pdf', { type: 'application/pdf', body: await makeEncryptedPdf() });
  files.set('/notes.txt', { type: 'text/plain; charset=utf-8', body: Buffer.from(`Notes\n\nThe list is at ${origin}/only/text.html\n`) });
  files.set('/feed.rss', { type: 'application/rss+xml', body: Buffer.from(feeds.rss2(origin, ['/only/rss-1.html', '/only/rss-2.html'])) });
  files.set('/feed.atom', { type: 'application/atom+xml', body: Buffer.from(feeds.atom(origin, ['/only/atom-1.html'])) });
  for (const name of ['pdf', 'docx', 'octet', 'text', 'rss-1', 'rss-2', 'atom-1']) files.set(`/only/${name}.html`, { type: 'text/html', body: page(`Only ${name}`) });
  // A ZIP bomb among normal pages and a normal DOCX (linked from nothing else): the bomb comes first, what follows it must still be served.
  files.set('/bomb/', { type: 'text/html', body: page('Bomb', ['/bomb/bomb.docx', '/bomb/after-1.html', '/bomb/after.docx', '/bomb/after-2.html']) });
  files.set('/bomb/bomb.docx', { type: DOCX_TYPE, body: await makeZipBombDocx(BOMB_INFLATED_BYTES, 'word/document.xml') });
  files.set('/bomb/after.docx', { type: DOCX_TYPE, body: await makeDocx({ title: 'After the bomb', link: { url: `${origin}/bomb/after-3.html`, text: 'more' } }) });
  for (const n of [1, 2, 3]) files.set(`/bomb/after-${n}.html`, { type: 'text/html', body: page(`After ${n}`) });
  return site;
}

export interface DocumentFleetOptions {
  /** Hub pages linked from the home page; each links its documents and announces its feeds. */
  hubs: number;
  /** PDFs per hub. */
  pdfsPerHub: number;
  /** Pages of each PDF (more pages, longer parses). */
  pdfPages: number;
  /** DOCX files per hub. */
  docxPerHub: number;
}

export interface DocumentFleetSite extends DocumentSite {
  /** Every URL a crawl from the home page reaches: pages, documents, and the pages only documents link. */
  reachable: Set<string>;
  /** The documents' URLs, with the type each is served as. */
  documents: Map<string, string>;
  /** Each page linked only from inside a document (a PDF's link annotation, a DOCX hyperlink, a feed item) → that document. */
  onlyThrough: Map<string, string>;
}

/**
 * Hubs `/hub/<h>.html` linked from `/`; hub h links `/docs/<h>-<k>.pdf` and `.docx` and
 * announces `/feeds/<h>.rss` and `/feeds/<h>.atom`. Every document links `/only/...` pages
 * (a PDF through a URI annotation on its last page, a DOCX through a hyperlink, a feed through
 * its items) that link back to their hub and home.
 */
export async function startDocumentFleetSite(o: DocumentFleetOptions): Promise<DocumentFleetSite> {
  const site = await serveFiles();
  const { origin, files } = site;
  const documents = new Map<string, string>();
  const onlyThrough = new Map<string, string>();
  const add = (path: string, type: string, body: Buffer | string): void => void files.set(path, { type, body: Buffer.isBuffer(body) ? body : Buffer.from(body) });
  const addDocument = (path: string, type: string, body: Buffer | string, only: string[]): void => {
    add(path, type, body);
    documents.set(`${origin}${path}`, type);
    for (const p of only) onlyThrough.set(`${origin}${p}`, `${origin}${path}`);
  };
  const hubs = Array.from({ length: o.hubs }, (_, h) => `/hub/${h}.html`);
  add('/', 'text/html; charset=utf-8', page('Document fleet', hubs));
  for (let h = 0; h < o.hubs; h++) {
    const hub = hubs[h] as string;
    const back = (title: string): Buffer => page(title, [hub, '/']);
    const docs: string[] = [];
    for (let k = 0; k < o.pdfsPerHub; k++) {
      const only = `/only/pdf-${h}-${k}.html`;
      const pages = Array.from({ length: o.pdfPages }, (_, n) => [`# Manual ${h}-${k}, part ${n + 1}`, ...Array.from({ length: 20 }, (_, l) => `Line ${l + 1} of part ${n + 1}: the fleet reads every document it is given.`)]);
      addDocument(`/docs/${h}-${k}.pdf`, 'application/pdf', await makePdf({ title: `Manual ${h}-${k}`, pages, links: [{ page: o.pdfPages - 1, url: `${origin}${only}` }] }), [only]);
      add(only, 'text/html', back(`Only PDF ${h}-${k}`));
      docs.push(`/docs/${h}-${k}.pdf`);
    }
    for (let k = 0; k < o.docxPerHub; k++) {
      const only = `/only/docx-${h}-${k}.html`;
      addDocument(`/docs/${h}-${k}.docx`, DOCX_TYPE, await makeDocx({ title: `Report ${h}-${k}`, link: { url: `${origin}${only}`, text: 'annex' } }), [only]);
      add(only, 'text/html', back(`Only DOCX ${h}-${k}`));
      docs.push(`/docs/${h}-${k}.docx`);
    }
    const rssItems = [`/only/rss-${h}-0.html`, `/only/rss-${h}-1.html`];
    const atomItems = [`/only/atom-${h}-0.html`];
    addDocument(`/feeds/${h}.rss`, 'application/rss+xml', feeds.rss2(origin, rssItems), rssItems);
    addDocument(`/feeds/${h}.atom`, 'application/atom+xml', feeds.atom(origin, atomItems), atomItems);
    for (const p of [...rssItems, ...atomItems]) add(p, 'text/html', back(`Only feed item ${p}`));
    add(hub, 'text/html', Buffer.from(`<!doctype html><html><head><title>Hub ${h}</title>
<link rel="alternate" type="application/rss+xml" href="/feeds/${h}.rss">
<link rel="alternate" type="application/atom+xml" href="/feeds/${h}.atom">
</head><body><h1>Hub ${h}</h1>${docs.map((d) => `<a href="${d}">${d}</a>`).join(' ')} <a href="/">home</a></body></html>`));
  }
  const reachable = new Set([...files.keys()].map((p) => `${origin}${p}`));
  return { ...site, reachable, documents, onlyThrough };
}
