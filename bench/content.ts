/**
 * HTML → Markdown conversion, measured on a corpus of HTML files (default: the python3-doc
 * package's /usr/share/doc/python3/html; `apt-get install -y python3-doc`).
 *
 *   npm run build && node dist/bench/content.js [--dir DIR] [--budget-ms 60000] [--page-limit-ms 10000] [--only NAME,...]
 *
 * Candidates run one after the other, each in a worker thread; a page over --page-limit-ms
 * is recorded as timed out (its worker terminated, the next page goes on in a new one):
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
 * flat when the cost is linear). A candidate stops taking new pages after --budget-ms; the
 * five largest pages come first, the rest by path.
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
  /** Pages that exceeded the per-page limit. */
  timedOut: string[];
  stoppedEarly: boolean;
}

const CANDIDATES = ['htmlparser2 parse', 'crawlfleet (full page)', 'crawlfleet (main content)', 'turndown', 'node-html-markdown', 'readability'];

async function converter(candidate: string): Promise<{ convert: Convert; version: string }> {
  switch (candidate) {
    case 'htmlparser2 parse':
      return { convert: (html) => parseDocument(html), version: versionOf('htmlparser2') };
    case 'crawlfleet (full page)':
    case 'crawlfleet (main content)': {
      const onlyMainContent = candidate.includes('main');
      // The document is parsed outside the timed call: the extractor has it already.
      return {
        convert: (html, url) => pageContent(parseDocumentCached(html), html, url, { formats: ['markdown'], onlyMainContent }),
        version: `hast-util-to-mdast ${versionOf('hast-util-to-mdast')}, mdast-util-to-markdown ${versionOf('mdast-util-to-markdown')}`,
      };
    }
    case 'turndown': {
      const Turndown = (await import(String('turndown'))).default as new (o: object) => { use(p: unknown): void; turndown(h: string): string };
      const { gfm } = (await import(String('turndown-plugin-gfm'))) as { gfm: unknown };
      const service = new Turndown({ headingStyle: 'atx', codeBlockStyle: 'fenced', bulletListMarker: '-' });
      service.use(gfm);
      return { convert: (html) => service.turndown(html), version: versionOf('turndown') };
    }
    case 'node-html-markdown': {
      const { NodeHtmlMarkdown } = (await import(String('node-html-markdown'))) as { NodeHtmlMarkdown: new () => { translate(h: string): string } };
      const nhm = new NodeHtmlMarkdown();
      return { convert: (html) => nhm.translate(html), version: versionOf('node-html-markdown') };
    }
    case 'readability': {
      const { Readability } = (await import(String('@mozilla/readability'))) as { Readability: new (d: unknown) => { parse(): unknown } };
      const { parseHTML } = (await import(String('linkedom'))) as { parseHTML: (h: string) => { document: unknown } };
      return { convert: (html) => new Readability(parseHTML(html).document).parse(), version: `${versionOf('@mozilla/readability')} + linkedom ${versionOf('linkedom')}` };
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

/** The installed version, read from node_modules (some packages do not export their package.json). */
function versionOf(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(new URL(`../../node_modules/${pkg}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

async function runWorker(job: Job): Promise<WorkerReport> {
  let conv: { convert: Convert; version: string };
  try {
    conv = await converter(job.candidate);
  } catch (err) {
    return { candidate: job.candidate, version: '-', skipped: (err as Error).message.split('\n')[0] ?? 'not available', timings: [], timedOut: [], stoppedEarly: false };
  }
  parentPort?.postMessage({ ready: conv.version });
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
    parentPort?.postMessage({ progress: { file, bytes: Buffer.byteLength(html), ms } });
  }
  return { candidate: job.candidate, version: conv.version, timings: [], timedOut: [], stoppedEarly };
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

/**
 * Runs one candidate in worker threads. A page that takes longer than `pageLimitMs` is
 * recorded as timed out, its worker terminated, and a new worker goes on with the next page
 * and the budget left.
 */
async function measure(candidate: string, files: string[], budgetMs: number, pageLimitMs: number): Promise<WorkerReport> {
  const report: WorkerReport = { candidate, version: '?', timings: [], timedOut: [], stoppedEarly: false };
  const started = performance.now();
  let next = 0;
  while (next < files.length) {
    const left = budgetMs - (performance.now() - started);
    if (left <= 0) {
      report.stoppedEarly = true;
      break;
    }
    const part = await runPart(candidate, files.slice(next), left, pageLimitMs);
    report.version = part.version;
    if (part.skipped !== undefined) return { ...report, skipped: part.skipped };
    report.timings.push(...part.timings);
    next += part.timings.length;
    if (part.timedOut !== undefined) {
      report.timedOut.push(part.timedOut);
      next += 1;
    } else {
      report.stoppedEarly ||= part.stoppedEarly;
      break;
    }
  }
  return report;
}

interface Part {
  version: string;
  timings: Timing[];
  stoppedEarly: boolean;
  skipped?: string;
  timedOut?: string;
}

function runPart(candidate: string, files: string[], budgetMs: number, pageLimitMs: number): Promise<Part> {
  return new Promise((resolve) => {
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { candidate, files, budgetMs } satisfies Job });
    const timings: Timing[] = [];
    let version = '?';
    const arm = (): NodeJS.Timeout =>
      setTimeout(() => {
        void worker.terminate();
        resolve({ version, timings, stoppedEarly: false, timedOut: files[timings.length]! });
      }, pageLimitMs);
    let killer = arm();
    worker.on('message', (msg: { ready?: string; progress?: Timing; done?: WorkerReport }) => {
      clearTimeout(killer);
      if (msg.ready !== undefined) version = msg.ready;
      if (msg.progress) timings.push(msg.progress);
      if (msg.done) {
        void worker.terminate();
        resolve({ version: msg.done.version, timings, stoppedEarly: msg.done.stoppedEarly, ...(msg.done.skipped ? { skipped: msg.done.skipped } : {}) });
        return;
      }
      killer = arm();
    });
    worker.on('error', (err) => {
      clearTimeout(killer);
      resolve({ version, timings, stoppedEarly: true, skipped: err.message });
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
  const pageLimitMs = Number(arg('--page-limit-ms') ?? 10000);
  const only = arg('--only')?.split(',');
  // The five largest first (they show a non-linear cost before any budget runs out), then
  // the rest by path, which samples sizes evenly when a budget stops a slow candidate early.
  const bySize = htmlFiles(dir).sort((a, b) => statSync(b).size - statSync(a).size);
  const files = [...bySize.slice(0, 5), ...bySize.slice(5).sort()];
  const totalBytes = files.reduce((n, f) => n + statSync(f).size, 0);
  console.log(`corpus: ${dir}, ${files.length} pages, ${(totalBytes / 1e6).toFixed(1)} MB; budget ${budgetMs / 1000} s per candidate\n`);
  const reports: WorkerReport[] = [];
  for (const candidate of CANDIDATES) {
    if (only && !only.some((o) => candidate.startsWith(o))) continue;
    const report = await measure(candidate, files, budgetMs, pageLimitMs);
    reports.push(report);
    console.error(`${candidate}: ${report.skipped ?? `${report.timings.length} pages`}`);
  }
  console.log('| candidate | version | pages | median ms | p99 ms | max ms | total s | largest page (bytes): ms |');
  console.log('|---|---|---:|---:|---:|---:|---:|---|');
  for (const r of reports) {
    const ms = r.timings.map((t) => t.ms).sort((a, b) => a - b);
    const total = ms.reduce((a, b) => a + b, 0) / 1000;
    const largest = r.timings[0];
    const timedOut = r.timedOut.length > 0 ? `; over ${pageLimitMs / 1000} s: ${r.timedOut.map((f) => f.split('/').pop()).join(', ')}` : '';
    const note = r.skipped ? ` (${r.skipped})` : `${r.stoppedEarly ? ' (budget reached' : ' ('}${timedOut})`.replace(' ()', '').replace('(; ', '(');
    console.log(`| ${r.candidate} | ${r.version} | ${r.timings.length}/${files.length}${note} | ${fmt(quantile(ms, 0.5))} | ${fmt(quantile(ms, 0.99))} | ${fmt(ms.at(-1) ?? NaN)} | ${total.toFixed(2)} | ${largest ? `${largest.file.split('/').pop()} (${largest.bytes}): ${fmt(largest.ms)}` : '-'} |`);
  }
  console.log('\nTime against size, five largest pages (ms per MB):\n');
  console.log(`| page | bytes | ${reports.map((r) => r.candidate).join(' | ')} |`);
  console.log(`|---|---:|${reports.map(() => '---:').join('|')}|`);
  for (const file of bySize.slice(0, 5)) {
    const bytes = statSync(file).size;
    const cells = reports.map((r) => {
      const t = r.timings.find((x) => x.file === file);
      if (r.timedOut.includes(file)) return `> ${pageLimitMs / 1000} s`;
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
