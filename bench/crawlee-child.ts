/**
 * Crawlee's CheerioCrawler as an optional contestant of the benchmark, in a process of its
 * own. Crawlee is not a dependency of crawlfleet: this exits with
 * `{"ok":false,"notInstalled":true}` when `import('crawlee')` does not resolve.
 *
 *   node dist/bench/crawlee-child.js --url http://127.0.0.1:PORT/ --concurrency 32 --max-pages 25000 --timeout-ms 120000
 *
 * Same rules as the baseline: same-origin links, no retries, every answered URL counts
 * (failed requests too). Storage stays in memory. Only loopback URLs are accepted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

/** The small part of Crawlee's API used here. */
interface CrawleeModule {
  CheerioCrawler: new (options: Record<string, unknown>, config?: unknown) => { run(requests: string[]): Promise<unknown>; autoscaledPool?: { abort(): Promise<void> } };
  Configuration: new (options: Record<string, unknown>) => unknown;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      concurrency: { type: 'string', default: '32' },
      'max-pages': { type: 'string', default: '1000000' },
      'timeout-ms': { type: 'string', default: '600000' },
    },
  });
  if (!values.url) throw new Error('--url is required');
  if (!LOOPBACK.test(new URL(values.url).hostname)) throw new Error('only loopback sites may be crawled');
  const name = 'crawlee';
  let mod: CrawleeModule;
  try {
    mod = (await import(name)) as CrawleeModule;
  } catch {
    process.stdout.write(`${JSON.stringify({ ok: false, notInstalled: true, error: 'crawlee is not installed' })}\n`);
    return;
  }
  const storage = mkdtempSync(join(tmpdir(), 'crawlee-bench-'));
  process.env.CRAWLEE_STORAGE_DIR = storage;
  const concurrency = Number(values.concurrency);
  let pages = 0;
  let failed = 0;
  const config = new mod.Configuration({ persistStorage: false, purgeOnStart: true });
  const crawler = new mod.CheerioCrawler(
    {
      minConcurrency: concurrency,
      maxConcurrency: concurrency,
      maxRequestsPerCrawl: Number(values['max-pages']),
      maxRequestRetries: 0,
      requestHandlerTimeoutSecs: 30,
      async requestHandler({ enqueueLinks }: { enqueueLinks(o: Record<string, unknown>): Promise<unknown> }) {
        pages++;
        await enqueueLinks({ strategy: 'same-origin' });
      },
      failedRequestHandler() {
        failed++;
      },
    },
    config,
  );
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void crawler.autoscaledPool?.abort();
  }, Number(values['timeout-ms']));
  try {
    await crawler.run([values.url]);
  } finally {
    clearTimeout(timer);
    rmSync(storage, { recursive: true, force: true });
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(`${JSON.stringify({ ok: true, result: { pages: pages + failed, parsed: pages, errors: failed, ms, cpuMs: (cpu.user + cpu.system) / 1000, timedOut } })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stdout.write(`${JSON.stringify({ ok: false, error: (err as Error).message })}\n`);
    process.exit(1);
  },
);
