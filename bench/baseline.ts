/**
 * The single-process baseline of the benchmark: what one Node process does with no
 * broker, no Redis and no durability. undici (one keep-alive Agent), cheerio on
 * htmlparser2, links resolved with `new URL(href, base)` minus the fragment, same-origin
 * scope, an in-memory Set for dedup, at most `concurrency` requests in flight.
 *
 * Every URL taken from the frontier counts as a page once it is answered (any status);
 * only HTML 200 responses are parsed for links. No retries: a transport error counts as a
 * failed page. Bounded by `maxPages` (URLs admitted) and `timeoutMs`.
 */
import { setMaxListeners } from 'node:events';
import * as cheerio from 'cheerio';
import type { Document } from 'domhandler';
import { Agent, request } from 'undici';
import { pageContent, type ContentFormat } from '../services/extractor/content/index.js';

export interface BaselineOptions {
  /** Seed URL; its origin is the scope. */
  start: string;
  /** Requests in flight (default 32). */
  concurrency?: number;
  /** URLs admitted at most, seed included (default 1,000,000). */
  maxPages?: number;
  /** Hard bound of the whole crawl; in-flight requests are aborted after it (default 10 min). */
  timeoutMs?: number;
  /** User-Agent header (default `crawlfleet-baseline`). */
  userAgent?: string;
  /**
   * Content formats to produce for every parsed page, with the extractor's own converter
   * (services/extractor/content) on the document cheerio already parsed, as the stack does
   * for a session with these formats; default none.
   */
  formats?: readonly ContentFormat[];
}

export interface BaselineResult {
  /** URLs answered (any status) or failed by transport error. */
  pages: number;
  /** HTML 200 pages parsed for links. */
  parsed: number;
  /** Transport errors. */
  errors: number;
  /** Responses by status. */
  statuses: Record<string, number>;
  /** Body bytes read. */
  bytes: number;
  /** Wall time of the crawl, ms. */
  ms: number;
  /** CPU of the content conversion alone (pageContent calls), ms; 0 without formats. */
  convertMs: number;
  /** CPU (user + system) of this process during the crawl, ms. */
  cpuMs: number;
  /** Peak of requests in flight. */
  maxInFlight: number;
  /** True when the time bound stopped the crawl. */
  timedOut: boolean;
}

const HTML = /^\s*(text\/html|application\/xhtml\+xml)\s*(;|$)/i;

/** Resolves an href against a base, drops the fragment; null if invalid or out of scope. */
export function resolveLink(href: string, base: string, origin: string): string | null {
  let url: URL;
  try {
    url = new URL(href, base);
  } catch {
    return null;
  }
  if (url.origin !== origin) return null;
  url.hash = '';
  return url.href;
}

/** Crawls from `start` and resolves when the frontier is exhausted or the time bound hits. */
export async function runBaseline(opts: BaselineOptions): Promise<BaselineResult> {
  const concurrency = opts.concurrency ?? 32;
  const maxPages = opts.maxPages ?? 1_000_000;
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const seed = new URL(opts.start);
  seed.hash = '';
  const origin = seed.origin;
  const agent = new Agent({ connections: concurrency, pipelining: 1, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 60_000 });
  const abort = new AbortController();
  // One signal is shared by every request in flight.
  setMaxListeners(0, abort.signal);
  const formats = opts.formats ?? [];
  const headers = { 'user-agent': opts.userAgent ?? 'crawlfleet-baseline', accept: 'text/html,*/*' };

  const seen = new Set<string>([seed.href]);
  const frontier: string[] = [seed.href];
  let head = 0;
  const result: BaselineResult = { pages: 0, parsed: 0, errors: 0, statuses: {}, bytes: 0, ms: 0, convertMs: 0, cpuMs: 0, maxInFlight: 0, timedOut: false };
  let inFlight = 0;

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();

  async function visit(url: string): Promise<void> {
    try {
      const res = await request(url, { dispatcher: agent, method: 'GET', headers, signal: abort.signal });
      result.statuses[res.statusCode] = (result.statuses[res.statusCode] ?? 0) + 1;
      const type = String(res.headers['content-type'] ?? '');
      if (res.statusCode !== 200 || !HTML.test(type)) {
        const buf = await res.body.arrayBuffer();
        result.bytes += buf.byteLength;
        result.pages++;
        return;
      }
      const html = await res.body.text();
      result.bytes += Buffer.byteLength(html);
      result.pages++;
      const $ = cheerio.load(html, { xml: { xmlMode: false, decodeEntities: true } });
      result.parsed++;
      const base = $('base[href]').first().attr('href');
      const baseUrl = base ? (resolveLink(base, url, origin) ?? url) : url;
      for (const el of $('a[href]').toArray()) {
        const href = el.attribs['href'];
        if (!href) continue;
        const link = resolveLink(href.trim(), baseUrl, origin);
        if (link === null || seen.has(link) || seen.size >= maxPages) continue;
        seen.add(link);
        frontier.push(link);
      }
      if (formats.length > 0) {
        const c0 = performance.now();
        pageContent($.root()[0] as unknown as Document, html, url, { formats });
        result.convertMs += performance.now() - c0;
      }
    } catch {
      if (!abort.signal.aborted) {
        result.errors++;
        result.pages++;
      }
    }
  }

  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      result.timedOut = true;
      abort.abort();
    }, timeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const pump = (): void => {
      while (inFlight < concurrency && head < frontier.length && !abort.signal.aborted) {
        const url = frontier[head++] as string;
        inFlight++;
        if (inFlight > result.maxInFlight) result.maxInFlight = inFlight;
        void visit(url).finally(() => {
          inFlight--;
          // Drop consumed frontier entries now and then so a long crawl does not keep them.
          if (head > 65_536 && head * 2 > frontier.length) {
            frontier.splice(0, head);
            head = 0;
          }
          pump();
        });
      }
      if (inFlight === 0 && (head >= frontier.length || abort.signal.aborted)) finish();
    };
    pump();
  });

  result.ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  result.cpuMs = (cpu.user + cpu.system) / 1000;
  await agent.close().catch(() => undefined);
  return result;
}
