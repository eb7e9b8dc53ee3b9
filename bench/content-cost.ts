/**
 * The extractor's parse cost per page with and without content formats, on the pages of the
 * generated site the pipeline benchmark crawls (seed 42, 21 links and 15,000 bytes of
 * padding per page, as bench/run.ts). Each page is fetched once from a local GeneratedSite,
 * then parsed on this thread by parsePage (the extractor's parse, also what a parse worker
 * runs) in each mode, modes interleaved page by page:
 *   scan      formats [] and no fields: the streaming path (today's default)
 *   document  a document without content (what a session with fields costs)
 *   default   formats markdown, links, metadata (content.defaultFormats)
 *   all       every content format
 * Prints ms per page (mean, median, p95, max) and the CPU ms per page of the process.
 *
 *   npm run build && node dist/bench/content-cost.js [--pages 500] [--rounds 3] [--against DIST]
 *
 * `--against DIST` (another build's dist folder, e.g. a worktree of an earlier commit): each
 * mode also runs that build's parsePage on the same page right before or after this one's
 * (the order alternating by round), and the table gains the ratio this / against, so that
 * the machine's drift, which moves both alike, drops out of the comparison.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../shared/config/index.js';
import { parsePage, type ParseOptions } from '../services/extractor/parse.js';
import { GeneratedSite } from '../test/sites/generated.js';

const { values } = parseArgs({ options: { pages: { type: 'string', default: '500' }, rounds: { type: 'string', default: '3' }, against: { type: 'string' } } });
const pages = Number(values.pages);
const rounds = Number(values.rounds);
const cfg = loadConfig({ env: {}, file: null }).config;
const base: ParseOptions = { followNofollow: false, maxLinks: cfg.extract.maxLinksPerPage, stripParams: cfg.traps.stripParams, maxHtmlBytes: cfg.extract.maxHtmlBytes };
const maxBytes = { markdown: cfg.content.maxMarkdownBytes, text: cfg.content.maxTextBytes, html: cfg.content.maxHtmlBytes, rawHtml: cfg.content.maxRawHtmlBytes, links: cfg.content.maxLinksBytes };

const MODES: Record<string, { opts: ParseOptions; fields: Record<string, string> }> = {
  scan: { opts: base, fields: {} },
  document: { opts: base, fields: { h1: 'h1' } },
  default: { opts: { ...base, content: { formats: ['markdown', 'links', 'metadata'], onlyMainContent: true, maxBytes } }, fields: {} },
  all: { opts: { ...base, content: { formats: ['markdown', 'text', 'html', 'rawHtml', 'links', 'metadata'], onlyMainContent: true, maxBytes } }, fields: {} },
};

const site = new GeneratedSite({ pages, seed: 42, linksPerPage: 21, pageBytes: 15_000, latencyMs: 0, brokenRatio: 0, errorRatio: 0, fileRatio: 0 });
await site.start('127.0.0.1', 0);
const bodies: { url: string; body: Buffer; type: string }[] = [];
try {
  for (let n = 0; n < pages; n++) {
    const url = site.pageUrl(n);
    const res = await fetch(url);
    const type = res.headers.get('content-type') ?? '';
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status === 200 && type.startsWith('text/html')) bodies.push({ url, body, type });
  }
} finally {
  await site.stop();
}

type Parse = typeof parsePage;
const parsers: [string, Parse][] = [['', parsePage]];
if (values.against) {
  const other = (await import(pathToFileURL(resolve(values.against, 'services/extractor/parse.js')).href)) as { parsePage: Parse };
  parsers.push(['against: ', other.parsePage]);
}
const labels = Object.keys(MODES).flatMap((m) => parsers.map(([prefix]) => `${prefix}${m}`));
const times: Record<string, number[]> = Object.fromEntries(labels.map((m) => [m, []]));
const cpu: Record<string, number> = Object.fromEntries(labels.map((m) => [m, 0]));
// One warm-up pass per mode and build, not counted.
for (const { url, body, type } of bodies.slice(0, 50)) for (const m of Object.values(MODES)) for (const [, parse] of parsers) parse(body, type, url, m.fields, m.opts);
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? parsers : [...parsers].reverse();
  for (const { url, body, type } of bodies) {
    for (const [name, m] of Object.entries(MODES)) {
      for (const [prefix, parse] of order) {
        const label = `${prefix}${name}`;
        const c0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        parse(body, type, url, m.fields, m.opts);
        (times[label] as number[]).push(Number(process.hrtime.bigint() - t0) / 1e6);
        const c = process.cpuUsage(c0);
        cpu[label] = (cpu[label] as number) + (c.user + c.system) / 1000;
      }
    }
  }
}

const q = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] as number;
const avgBytes = bodies.reduce((n, b) => n + b.body.length, 0) / bodies.length;
console.log(`${bodies.length} HTML pages of the generated site (mean ${Math.round(avgBytes)} bytes), ${rounds} rounds, load average ${(await import('node:os')).loadavg()[0]?.toFixed(1)}`);
console.log(`| mode | mean ms | median ms | p95 ms | max ms | CPU ms/page |${values.against ? ' this / against (mean) |' : ''}`);
console.log(`|---|---:|---:|---:|---:|---:|${values.against ? '---:|' : ''}`);
const meanOf = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
for (const [name, xs] of Object.entries(times)) {
  const s = [...xs].sort((a, b) => a - b);
  const twin = times[`against: ${name}`];
  const ratio = twin ? ` ${(meanOf(xs) / meanOf(twin)).toFixed(3)} |` : values.against ? ' |' : '';
  console.log(`| ${name} | ${meanOf(s).toFixed(2)} | ${q(s, 0.5).toFixed(2)} | ${q(s, 0.95).toFixed(2)} | ${(s[s.length - 1] as number).toFixed(2)} | ${((cpu[name] as number) / s.length).toFixed(2)} |${ratio}`);
}
