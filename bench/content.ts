/**
 * HTML → Markdown conversion, measured on a corpus of HTML files (default: the python3-doc
 * package's /usr/share/doc/python3/html; `apt-get install -y python3-doc`).
 *
 *   npm run build && node dist/bench/content.js [--dir DIR] [--budget-ms 60000] [--only NAME,...]
 *
 * Candidates (each runs in its own worker thread, terminated when it exceeds its budget):
 * - `crawlfleet`: services/extractor/content on an htmlparser2 document parsed beforehand
 *   (the extractor's parse, measured on its own as `htmlparser2 parse`): the time is the
 *   conversion alone, whole page (onlyMainContent false) and with the main-content heuristic;
 * - `turndown` (+ turndown-plugin-gfm) and `node-html-markdown` take the HTML string and
 *   parse it themselves, so their time includes their own parse;
 * - `readability`: @mozilla/readability on a linkedom document (parse + readability), for
 *   the cost of that main-content library alone.
 * The comparison libraries are not dependencies: install them for a run with
 * `npm i --no-save turndown turndown-plugin-gfm node-html-markdown @mozilla/readability linkedom`;
 * a candidate whose package is missing is reported as skipped.
 *
 * Per candidate: pages converted, median / p99 / max ms per page, total seconds, the time of
 * the largest page, and time against size for the five largest pages (ms per MB should stay
 * flat when the cost is linear).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { parseDocument } from 'htmlparser2';
import { pageContent } from '../services/extractor/content/index.js';

type Convert = (html: string, url: string) => unknown;

interface Job {
  candidate: string;
  files: string[];
  budgetMs: number;
}

interface Timing {
  file: string;
  bytes: number;
  ms: number;
}

interface WorkerReport {
  candidate: string;
  version: string;
  skipped?: string;
  timings: Timing[];
  stoppedEarly: boolean;
}

const CANDIDATES = ['htmlparser2 parse', 'crawlfleet (full page)', 'crawlfleet (main content)', 'turndown', 'node-html-markdown', 'readability'];

async function converter(candidate: string): Promise<{ convert: Convert; version: string }> {
  // Run from dist/bench/: the project's package.json is two folders up.
  const own = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
  switch (candidate) {
    case 'htmlparser2 parse':
      return { convert: (html) => parseDocument(html), version: own.dependencies['htmlparser2'] ?? '?' };
    case 'crawlfleet (full page)':
    case 'crawlfleet (main content)': {
      const onlyMainContent = candidate.includes('main');
      // The document is parsed outside the timed call: the extractor has it already.
      return {
        convert: (html, url) => pageContent(parseDocumentCached(html), html, url, { formats: ['markdown'], onlyMainContent }),
        version: `hast-util-to-mdast ${own.dependencies['hast-util-to-mdast'] ?? '?'}`,
      };
    }
    case 'turndown': {
      const Turndown = (await import(String('turndown'))).default as new (o: object) => { use(p: unknown): void; turndown(h: string): string };
      const { gfm } = (await import(String('turndown-plugin-gfm'))) as { gfm: unknown };
      const service = new Turndown({ headingStyle: 'atx', codeBlockStyle: 'fenced', bulletListMarker: '-' });
      service.use(gfm);
      return { convert: (html) => service.turndown(html), version: await versionOf('turndown') };
    }
    case 'node-html-markdown': {
      const { NodeHtmlMarkdown } = (await import(String('node-html-markdown'))) as { NodeHtmlMarkdown: new () => { translate(h: string): string } };
      const nhm = new NodeHtmlMarkdown();
      return { convert: (html) => nhm.translate(html), version: await versionOf('node-html-markdown') };
    }
    case 'readability': {
      const { Readability } = (await import(String('@mozilla/readability'))) as { Readability: new (d: unknown) => { parse(): unknown } };
      const { parseHTML } = (await import(String('linkedom'))) as { parseHTML: (h: string) => { document: unknown } };
      return { convert: (html) => new Readability(parseHTML(html).document).parse(), version: `${await versionOf('@mozilla/readability')} + linkedom ${await versionOf('linkedom')}` };
    }
    default:
      throw new Error(`unknown candidate ${candidate}`);
  }
}

let cached: { html: string; doc: ReturnType<typeof parseDocument> } | undefined;
/** The crawlfleet candidates get the page parsed before the clock starts (see prepare). */
function parseDocumentCached(html: string): ReturnType<typeof parseDocument> {
  if (cached?.html !== html) cached = { html, doc: parseDocument(html) };
  return cached.doc;
}

async function versionOf(pkg: string): Promise<string> {
  const json = (await import(`${pkg}/package.json`, { with: { type: 'json' } }).catch(() => null)) as { default: { version: string } } | null;
  return json?.default.version ?? '?';
}

async function runWorker(job: Job): Promise<WorkerReport> {
  let conv: { convert: Convert; version: string };
  try {
    conv = await converter(job.candidate);
  } catch (err) {
    return { candidate: job.candidate, version: '-', skipped: (err as Error).message.split('\n')[0] ?? 'not available', timings: [], stoppedEarly: false };
  }
  const timings: Timing[] = [];
  const start = performance.now();
  let stoppedEarly = false;
  for (const file of job.files) {
    if (performance.now() - start > job.budgetMs) {
      stoppedEarly = true;
      break;
    }
    const html = readFileSync(file, 'utf8');
    const url = `http://127.0.0.1:8000/${file.split('/').slice(-2).join('/')}`;
    if (job.candidate.startsWith('crawlfleet')) parseDocumentCached(html);
    const t0 = performance.now();
    conv.convert(html, url);
    const ms = performance.now() - t0;
    timings.push({ file, bytes: Buffer.byteLength(html), ms });
    parentPort?.postMessage({ progress: { file, bytes: Buffer.byteLength(html), ms } });
  }
  return { candidate: job.candidate, version: conv.version, timings, stoppedEarly };
}

function htmlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) out.push(...htmlFiles(path));
    else if (name.endsWith('.html')) out.push(path);
  }
  return out.sort();
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Runs one candidate in a worker; past the budget plus a grace period the worker is terminated. */
function measure(candidate: string, files: string[], budgetMs: number): Promise<WorkerReport> {
  return new Promise((resolve) => {
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { candidate, files, budgetMs } satisfies Job });
    const seen: Timing[] = [];
    let current: string | undefined = files[0];
    const killer = setTimeout(() => {
      void worker.terminate();
      resolve({ candidate, version: '?', timings: seen, stoppedEarly: true, skipped: `terminated after ${((budgetMs + 30000) / 1000).toFixed(0)} s, inside ${current ?? '?'}` });
    }, budgetMs + 30000);
    worker.on('message', (msg: { progress?: Timing; done?: WorkerReport }) => {
      if (msg.progress) {
        seen.push(msg.progress);
        current = files[seen.length];
      }
      if (msg.done) {
        clearTimeout(killer);
        resolve(msg.done);
        void worker.terminate();
      }
    });
    worker.on('error', (err) => {
      clearTimeout(killer);
      resolve({ candidate, version: '?', timings: seen, stoppedEarly: true, skipped: err.message });
    });
  });
}

function fmt(ms: number): string {
  return Number.isNaN(ms) ? '-' : ms < 10 ? ms.toFixed(2) : ms.toFixed(0);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const dir = arg('--dir') ?? '/usr/share/doc/python3/html';
  const budgetMs = Number(arg('--budget-ms') ?? 60000);
  const only = arg('--only')?.split(',');
  // Largest first: the pages that show non-linear cost are measured before any budget runs out.
  const files = htmlFiles(dir).sort((a, b) => statSync(b).size - statSync(a).size);
  const totalBytes = files.reduce((n, f) => n + statSync(f).size, 0);
  console.log(`corpus: ${dir}, ${files.length} pages, ${(totalBytes / 1e6).toFixed(1)} MB; budget ${budgetMs / 1000} s per candidate\n`);
  const reports: WorkerReport[] = [];
  for (const candidate of CANDIDATES) {
    if (only && !only.some((o) => candidate.startsWith(o))) continue;
    const report = await measure(candidate, files, budgetMs);
    reports.push(report);
    console.error(`${candidate}: ${report.skipped ?? `${report.timings.length} pages`}`);
  }
  console.log('| candidate | version | pages | median ms | p99 ms | max ms | total s | largest page (bytes): ms |');
  console.log('|---|---|---:|---:|---:|---:|---:|---|');
  for (const r of reports) {
    const ms = r.timings.map((t) => t.ms).sort((a, b) => a - b);
    const total = ms.reduce((a, b) => a + b, 0) / 1000;
    const largest = r.timings[0];
    const note = r.skipped ? ` (${r.skipped})` : r.stoppedEarly ? ' (budget reached)' : '';
    console.log(`| ${r.candidate} | ${r.version} | ${r.timings.length}/${files.length}${note} | ${fmt(quantile(ms, 0.5))} | ${fmt(quantile(ms, 0.99))} | ${fmt(ms.at(-1) ?? NaN)} | ${total.toFixed(2)} | ${largest ? `${largest.file.split('/').pop()} (${largest.bytes}): ${fmt(largest.ms)}` : '-'} |`);
  }
  console.log('\nTime against size, five largest pages (ms per MB):\n');
  console.log(`| page | bytes | ${reports.map((r) => r.candidate).join(' | ')} |`);
  console.log(`|---|---:|${reports.map(() => '---:').join('|')}|`);
  for (const file of files.slice(0, 5)) {
    const bytes = statSync(file).size;
    const cells = reports.map((r) => {
      const t = r.timings.find((x) => x.file === file);
      return t ? `${fmt(t.ms)} ms (${fmt(t.ms / (bytes / 1e6))}/MB)` : '-';
    });
    console.log(`| ${file.split('/').pop()} | ${bytes} | ${cells.join(' | ')} |`);
  }
}

if (isMainThread) {
  await main();
} else {
  const report = await runWorker(workerData as Job);
  parentPort?.postMessage({ done: report });
}
