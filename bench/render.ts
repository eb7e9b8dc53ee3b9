/**
 * `npm run bench:render`: the renderer's own costs, on one machine, against local sites.
 *
 *   node dist/bench/render.js [--pages N] [--concurrency 1,2,4] [--json FILE]
 *
 * 1. Rendered pages per second of one renderer replica (one Chromium, the guarded proxy, a
 *    context per page) at each concurrency: N script-built pages (test/sites/scripted.ts
 *    `/many/<n>` and `/app`, waitFor load, images/media/fonts blocked), rendered as the
 *    renderer does (browser.ts + render.ts), without the broker. With the browser's resident
 *    memory (all its processes) after each level.
 * 2. The cost of `render: "auto"`'s decision (services/extractor/script-built.ts) on pages
 *    that need no rendering (the content fixtures, test/fixtures/content/*.html): µs per page,
 *    against parsing the same page (parsePage, links and title, as a session without formats)
 *    and against the HTTP-only pipeline's all-in CPU cost per page (docs/performance.md,
 *    ~1 ms), the goal being under 5%.
 *
 * Every loop is bounded; the browser and the site are stopped at the end, whatever happens.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BrowserHost } from '../services/renderer/browser.js';
import { GuardedProxy } from '../services/renderer/proxy.js';
import { renderPage } from '../services/renderer/render.js';
import { parsePage } from '../services/extractor/parse.js';
import { scriptBuilt } from '../services/extractor/script-built.js';
import { AddressPolicy } from '../shared/net/ssrf.js';
import { createLogger } from '../shared/observability/log.js';
import { packageRoot } from '../shared/paths.js';
import { DEFAULT_BLOCKED_RESOURCES } from '../shared/render/options.js';
import { ForbiddenCounter, MANY_PAGES, ScriptedSite } from '../test/sites/scripted.js';

/** All-in CPU ms per page of the HTTP-only pipeline (docs/performance.md, the idle pair). */
const PIPELINE_CPU_MS_PER_PAGE = 0.98;

const { values } = parseArgs({
  options: {
    pages: { type: 'string', default: '40' },
    concurrency: { type: 'string', default: '1,2,4' },
    json: { type: 'string' },
  },
});
const pages = Math.max(1, Math.min(1000, Number(values.pages)));
const levels = String(values.concurrency).split(',').map(Number).filter((n) => n >= 1 && n <= 16);

async function renderThroughput(): Promise<{ concurrency: number; pages: number; seconds: number; pagesPerSecond: number; rssBytes: number }[]> {
  const counter = new ForbiddenCounter();
  const forbiddenPort = await counter.start('127.0.0.1');
  const site = new ScriptedSite('127.0.0.2', { host: '127.0.0.1', port: forbiddenPort, name: 'localhost' });
  await site.start();
  const policy = new AddressPolicy(['127.0.0.2/32']);
  const proxy = new GuardedProxy({ policy: () => policy, connectTimeoutMs: () => 5000 });
  const deny = await proxy.deny();
  const host = new BrowserHost({
    chromiumPath: () => process.env.RENDER_CHROMIUM_PATH ?? '/usr/bin/chromium',
    launchTimeoutMs: () => 60_000,
    maxPagesPerBrowser: () => 1_000_000,
    maxRssBytes: () => 64 * 1024 ** 3,
    denyProxyUrl: deny.url,
    log: createLogger('bench-render', 'warn'),
  });
  const out = [];
  try {
    await host.start();
    const render = (path: string) => host.use((b) => renderPage(b, proxy, {
      url: `${site.origin}${path}`,
      opts: { mode: 'always', waitFor: 'load', timeoutMs: 30_000, blockResources: DEFAULT_BLOCKED_RESOURCES, screenshot: false },
      userAgent: 'crawlfleet-bench',
      state: { headers: {}, cookies: [] },
      maxBytes: 20 * 1024 * 1024,
      maxScreenshotBytes: 5 * 1024 * 1024,
    }, (why) => host.retire(why)));
    // Warm the browser (first context, caches of the binary).
    await render('/app');
    for (const concurrency of levels) {
      let next = 0;
      const t0 = performance.now();
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (next < pages) {
          const i = next++;
          await render(i % 5 === 4 ? '/app' : `/many/${i % MANY_PAGES}`);
        }
      }));
      const seconds = (performance.now() - t0) / 1000;
      out.push({ concurrency, pages, seconds: round(seconds, 2), pagesPerSecond: round(pages / seconds, 2), rssBytes: host.rssBytes });
      process.stdout.write(`render: concurrency ${concurrency}: ${pages} pages in ${seconds.toFixed(1)} s = ${(pages / seconds).toFixed(2)} pages/s; browser RSS ${(host.rssBytes / 1024 / 1024).toFixed(0)} MiB\n`);
    }
  } finally {
    await host.close();
    await deny.close();
    await site.stop();
    await counter.stop();
  }
  return out;
}

function autoDecisionCost(): { pages: number; decisionUs: number; parseUs: number; ofParse: number; ofPipeline: number; rendered: number } {
  const dir = join(packageRoot, 'test', 'fixtures', 'content');
  const plain = readdirSync(dir).filter((f) => f.endsWith('.html')).map((f) => readFileSync(join(dir, f)));
  // The same pages as most sites serve them: an analytics tag and an inline snippet in the head.
  const tags = '<script async src="https://www.googletagmanager.com/gtag/js?id=G-X"></script><script>window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);} gtag("js", new Date());</script>';
  const bodies = [...plain, ...plain.map((b) => Buffer.from(b.toString('latin1').replace(/<\/head>/i, `${tags}</head>`), 'latin1'))];
  const rounds = 400;
  const time = (fn: (b: Buffer) => void): number => {
    for (const b of bodies) fn(b);
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < rounds; r++) for (const b of bodies) fn(b);
    return Number(process.hrtime.bigint() - t0) / 1000 / (rounds * bodies.length);
  };
  let rendered = 0;
  for (const b of bodies) if (scriptBuilt(b).render) rendered++;
  const decisionUs = time((b) => void scriptBuilt(b));
  const parseUs = time((b) => void parsePage(b, 'text/html; charset=utf-8', 'http://example.com/docs/guide/page.html', {}, { followNofollow: false, maxLinks: 1000 }));
  const result = { pages: bodies.length, decisionUs: round(decisionUs, 1), parseUs: round(parseUs, 1), ofParse: round(decisionUs / parseUs, 3), ofPipeline: round(decisionUs / 1000 / PIPELINE_CPU_MS_PER_PAGE, 3), rendered };
  process.stdout.write(`auto decision: ${result.decisionUs} µs/page on ${bodies.length} pages that need no rendering (half with script tags) (${rendered} judged script-built); parsing the same page: ${result.parseUs} µs (${(result.ofParse * 100).toFixed(1)}%); of the pipeline's ${PIPELINE_CPU_MS_PER_PAGE} CPU ms/page: ${(result.ofPipeline * 100).toFixed(1)}%\n`);
  return result;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

const auto = autoDecisionCost();
const render = await renderThroughput();
if (values.json) writeFileSync(values.json, JSON.stringify({ render, auto }, null, 2));
