/**
 * Benchmark of the documents stage (issue 18, parts 3 and 7):
 *
 *   npm run build && node dist/bench/documents.js [--quick] [PDF...]
 *
 * 1. PDF cost: each PDF parsed through a document worker (the extractor's path: a ParsePool
 *    running documents/worker.js), three runs after one warm-up, the median: ms per page and
 *    ms per MB. By default the real manuals Debian ships as PDF when installed
 *    (`apt-get install libtasn1-doc shared-mime-info`: libtasn1.pdf, shared-mime-info-spec.pdf);
 *    without any, a 200-page PDF made with pdf-lib (and it says so).
 * 2. HTML next to PDFs: HTML pages (40 KB, so they go to the HTML parse workers) parsed for a
 *    bounded number of pages by an HTML ParsePool of extract.concurrency workers, alone and
 *    then while a document pool parses a stream of those PDFs; pages/s of each and the ratio
 *    (goal: within 10%). Both pools live in one process, as in one extractor replica; on a
 *    machine with fewer cores than workers the CPU is shared, and the figure says how much.
 *
 * Bounded: a fixed number of pages and runs, no network.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { documentPool, ParsePool } from '../services/extractor/parse-pool.js';
import type { ParseOptions } from '../services/extractor/parse.js';
import { loadConfig } from '../shared/config/index.js';
import { makeLongPdf } from '../test/support/documents.js';

const DEBIAN_PDFS = ['/usr/share/doc/libtasn1-doc/libtasn1.pdf', '/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf'];
const { values, positionals } = parseArgs({ options: { quick: { type: 'boolean', default: false } }, allowPositionals: true });
const cfg = loadConfig({ env: {}, file: null }).config;
const docOpts: ParseOptions = {
  followNofollow: false,
  maxLinks: cfg.extract.maxLinksPerPage,
  documents: { maxPages: cfg.documents.maxPages, maxFeedItems: cfg.documents.maxFeedItems, maxInflatedBytes: cfg.documents.maxInflatedBytes },
  content: { formats: ['markdown', 'links', 'metadata'], onlyMainContent: true, maxBytes: {} },
};
const htmlOpts: ParseOptions = { followNofollow: false, maxLinks: 1000, content: docOpts.content! };
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function pdfs(): Promise<{ name: string; body: Buffer }[]> {
  const paths = positionals.length > 0 ? positionals : DEBIAN_PDFS.filter((p) => existsSync(p));
  if (paths.length > 0) return paths.map((p) => ({ name: p, body: readFileSync(p) }));
  process.stdout.write('no Debian PDF manual installed (apt-get install libtasn1-doc shared-mime-info): using a 200-page PDF made with pdf-lib\n');
  return [{ name: 'generated 200-page PDF (pdf-lib)', body: await makeLongPdf(200) }];
}

function htmlPage(n: number): Buffer {
  const paras = Array.from({ length: 250 }, (_, i) => `<p>Paragraph ${i} of page ${n} with <a href="/p/${(n * 7 + i) % 5000}.html">a link</a> and <em>some</em> words of text.</p>`);
  return Buffer.from(`<!doctype html><html><head><title>Page ${n}</title></head><body><main><h1>Page ${n}</h1>${paras.join('')}</main></body></html>`);
}

async function main(): Promise<void> {
  const docPool = documentPool(() => cfg);
  const files = await pdfs();
  process.stdout.write('\nPDF through a document worker (median of 3 after a warm-up)\n');
  for (const f of files) {
    const job = { body: f.body, contentType: 'application/pdf', pageUrl: 'http://127.0.0.1/doc.pdf', fields: {}, opts: docOpts, timeoutMs: 300_000 };
    const first = await docPool.parse(job);
    const pages = first.content?.metadata?.pages ?? 0;
    const read = Math.min(pages, cfg.documents.maxPages);
    const ms: number[] = [];
    for (let k = 0; k < (values.quick ? 1 : 3); k++) {
      const t0 = performance.now();
      await docPool.parse(job);
      ms.push(performance.now() - t0);
    }
    const m = median(ms);
    const mb = f.body.length / 1048576;
    process.stdout.write(`  ${f.name}: ${pages} pages (${read} read), ${mb.toFixed(2)} MB, ${(first.content?.markdown ?? '').length} chars of Markdown: ${m.toFixed(0)} ms = ${(m / read).toFixed(1)} ms/page, ${(m / mb).toFixed(0)} ms/MB\n`);
  }

  const htmlPool = new ParsePool(() => cfg.extract.concurrency, { inlineBytes: 0 });
  const pages = values.quick ? 200 : 600;
  const bodies = Array.from({ length: 50 }, (_, i) => htmlPage(i));
  async function htmlRun(): Promise<number> {
    const t0 = performance.now();
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < pages) {
        const n = next++;
        await htmlPool.parse({ body: bodies[n % bodies.length] as Buffer, contentType: 'text/html', pageUrl: `http://127.0.0.1/p/${n}.html`, fields: {}, opts: htmlOpts, timeoutMs: 60_000 });
      }
    };
    await Promise.all(Array.from({ length: cfg.extract.concurrency * 2 }, lane));
    return pages / ((performance.now() - t0) / 1000);
  }
  await htmlRun(); // warm-up: workers loaded
  const alone = await htmlRun();
  let stop = false;
  let pdfsParsed = 0;
  const stream = (async () => {
    for (let k = 0; !stop && k < 10_000; k++) {
      const f = files[k % files.length] as { body: Buffer };
      await docPool.parse({ body: f.body, contentType: 'application/pdf', pageUrl: 'http://127.0.0.1/doc.pdf', fields: {}, opts: docOpts, timeoutMs: 300_000 });
      pdfsParsed++;
    }
  })();
  await new Promise((r) => setTimeout(r, 500)); // the PDF stream is under way
  const withPdfs = await htmlRun();
  stop = true;
  await stream;
  process.stdout.write(`\nHTML pages (40 KB, ${cfg.extract.concurrency} HTML workers) beside a stream of PDFs (${cfg.documents.concurrency} document workers), ${pages} pages each\n`);
  process.stdout.write(`  alone: ${alone.toFixed(0)} pages/s; with PDFs: ${withPdfs.toFixed(0)} pages/s (${pdfsParsed} PDFs parsed meanwhile): ${((withPdfs / alone) * 100).toFixed(0)}% of alone\n`);
  await Promise.all([docPool.close(), htmlPool.close()]);
}

await main();
