/**
 * Rendering one page: a fresh browser context (its own cookies, cache and proxy listener),
 * the session's headers and cookies applied, the resource types it blocks refused, pop-ups,
 * new windows, dialogs and downloads refused, service workers blocked; then navigate, wait as
 * the session asks (load, networkidle or a selector), let the page settle and scroll it to
 * the bottom a few times (links that load on scroll or after an XHR), and take the DOM.
 *
 * The whole of it runs under one deadline (renderTimeoutMs): past it the context is closed,
 * which ends its renderer process even in `while (true) {}`, and the attempt fails with
 * render_timeout. A context that cannot even be closed makes the host replace the browser.
 */
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { CrawlError } from '../../shared/errors/index.js';
import type { RenderOptions } from '../../shared/render/options.js';
import type { HttpExchange } from '../../shared/warc/exchange.js';
import { statusError } from '../fetcher/classify.js';
import { KEPT_HEADERS } from '../fetcher/steps.js';
import type { GuardedProxy, PageTraffic } from './proxy.js';

/** Scrolls to the bottom after the page is ready at most, each followed by a short wait for the network to settle. */
const SCROLLS = 3;
/** Longest wait for the network to settle after the page is ready and after each scroll. */
const SETTLE_MS = 1500;
/** Longest wait for a context to close before the browser is given up. */
const CLOSE_MS = 5000;

/** The session's request state for the browser context: extra headers and cookies. */
export interface RequestState {
  headers: Record<string, string>;
  cookies: { name: string; value: string; domain?: string; path?: string; url?: string }[];
}

export interface RenderJob {
  url: string;
  opts: RenderOptions;
  userAgent: string;
  state: RequestState;
  /** Bytes all the page's requests may receive (render.maxBytesPerPage). */
  maxBytes: number;
  maxScreenshotBytes: number;
  /** Capture the main document's exchange (a session with `warc` whose page the fetcher did not archive). */
  capture?: boolean;
  /**
   * The session's scope: a redirect of the main document (or a navigation of the page) to a
   * URL it refuses fails the render `out_of_scope`, as the fetcher refuses such a redirect.
   */
  inScope?: (url: URL) => boolean;
}

export interface Rendered {
  finalUrl: string;
  status: number;
  headers: Record<string, string>;
  html: string;
  traffic: Pick<PageTraffic, 'bytes' | 'blocked' | 'overBudget'>;
  /** The PNG, when asked for and within its cap. */
  screenshot?: Buffer;
  /** Why a screenshot that was asked for is missing. */
  screenshotMissing?: string;
  /** Pop-ups and new windows the page tried to open (each closed at once). */
  popups: number;
  ms: number;
  /** The URL of the main document's response (after its redirects). */
  documentUrl: string;
  /** The main document's request and response as the browser saw them, when captured. */
  exchange?: HttpExchange;
  /** Why a capture that was asked for is missing. */
  exchangeMissing?: string;
}

/** Renders one page; throws a CrawlError (render_timeout, render_crashed, blocked_address, HTTP status codes, connect_failed). */
export async function renderPage(browser: Browser, proxy: GuardedProxy, job: RenderJob, onHung: (why: string) => void): Promise<Rendered> {
  const started = Date.now();
  const lease = await proxy.open(job.maxBytes);
  let context: BrowserContext | null = null;
  let timer: NodeJS.Timeout | undefined;
  /** The URLs the main frame navigated to (the page and its redirects). */
  const navigated: string[] = [job.url];
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new CrawlError('render_timeout', `${job.url}: rendering took longer than ${job.opts.timeoutMs} ms`)), job.opts.timeoutMs);
  });
  try {
    context = await Promise.race([newContext(browser, lease.url, job), deadline]);
    const work = renderIn(context, job, lease, navigated, started);
    work.catch(() => undefined);
    const out = await Promise.race([work, deadline]);
    return { ...out, traffic: { bytes: lease.bytes, blocked: lease.blocked, overBudget: lease.overBudget }, ms: Date.now() - started };
  } catch (err) {
    throw asRenderError(err, job.url, refusedHop(navigated, lease));
  } finally {
    clearTimeout(timer);
    if (context) {
      const closing = context.close().then(() => true, () => true);
      const closed = await Promise.race([closing, new Promise<false>((r) => setTimeout(() => r(false), CLOSE_MS))]);
      if (!closed) onHung(`a browser context did not close within ${CLOSE_MS} ms`);
    }
    await lease.close();
  }
}

async function newContext(browser: Browser, proxyUrl: string, job: RenderJob): Promise<BrowserContext> {
  const context = await browser.newContext({
    proxy: { server: proxyUrl, bypass: '<-loopback>' },
    serviceWorkers: 'block',
    acceptDownloads: false,
    userAgent: job.userAgent,
    viewport: { width: 1280, height: 900 },
    ...(Object.keys(job.state.headers).length > 0 ? { extraHTTPHeaders: job.state.headers } : {}),
  });
  if (job.state.cookies.length > 0) {
    const origin = new URL(job.url);
    await context.addCookies(job.state.cookies.map((c) => (c.url || c.domain ? c : { ...c, url: origin.origin })) as Parameters<BrowserContext['addCookies']>[0]);
  }
  // No new windows: window.open answers null, and any page that opens anyway is closed.
  await context.addInitScript({ content: 'window.open = () => null;' });
  const blocked = new Set<string>(job.opts.blockResources);
  if (blocked.size > 0) {
    await context.route('**/*', (route) => (blocked.has(route.request().resourceType()) ? route.abort('blockedbyclient') : route.fallback()));
  }
  return context;
}

/** The first URL of the main document's chain (the page, its redirects) that the proxy refused, or null. */
function refusedHop(navigated: readonly string[], traffic: PageTraffic): string | null {
  for (const u of navigated) {
    const target = new URL(u);
    if (traffic.refused(target.hostname.replace(/^\[|\]$/g, ''), Number(target.port || (target.protocol === 'https:' ? 443 : 80)))) return u;
  }
  return null;
}

/**
 * The main document's exchange as the browser saw it (WARC request and response records): the
 * request headers Chromium sent, the response's status line and headers, and its body, which
 * the browser hands over with its content coding undone (`decoded`); the address is the one
 * the proxy dialed.
 */
async function mainExchange(response: Response, traffic: PageTraffic, startedAt: number): Promise<HttpExchange> {
  const request = response.request();
  const url = new URL(response.url());
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const [sent, received, body] = await Promise.all([request.headersArray(), response.headersArray(), response.body()]);
  const start = request.timing().startTime;
  // HTTP/2 pseudo-headers are no header lines of an HTTP/1.1 message.
  const lines = (hs: { name: string; value: string }[]): Array<[string, string]> => hs.filter((h) => !h.name.startsWith(':')).map((h) => [h.name, h.value]);
  return {
    url: response.url(),
    ip: traffic.addressOf(url.hostname, port),
    method: request.method(),
    requestHeaders: lines(sent),
    status: response.status(),
    statusText: response.statusText(),
    rawHeaders: lines(received),
    body,
    decoded: true,
    at: new Date(start > 0 ? start : startedAt),
  };
}

async function renderIn(context: BrowserContext, job: RenderJob, traffic: PageTraffic, navigated: string[], started: number): Promise<Omit<Rendered, 'traffic' | 'ms'>> {
  const page = await context.newPage();
  page.on('request', (r) => {
    if (r.isNavigationRequest() && r.frame() === page.mainFrame()) navigated.push(r.url());
  });
  let popups = 0;
  context.on('page', (p) => {
    if (p === page) return;
    popups++;
    void p.close().catch(() => undefined);
  });
  page.on('dialog', (d) => void d.dismiss().catch(() => undefined));
  page.on('download', (d) => void d.cancel().catch(() => undefined));
  const crashed = new Promise<never>((_resolve, reject) => page.once('crash', () => reject(new CrawlError('render_crashed', `${job.url}: the page crashed`))));
  crashed.catch(() => undefined);
  const run = async (): Promise<Omit<Rendered, 'traffic' | 'ms'>> => {
    const waitFor = job.opts.waitFor;
    const waitUntil = waitFor === 'networkidle' ? 'networkidle' : waitFor === 'load' ? 'load' : 'domcontentloaded';
    const response = await page.goto(job.url, { waitUntil, timeout: 0 });
    const refused = refusedHop(navigated, traffic);
    if (refused) throw new CrawlError('blocked_address', `${job.url}: ${refused} is forbidden by the SSRF guard`);
    if (!response) throw new CrawlError('protocol_error', `${job.url}: no response for the page`);
    outOfScope(job, navigated);
    const code = statusError(response.status());
    if (code) throw new CrawlError(code, `${job.url}: HTTP ${response.status()}`, { details: { status: response.status() } });
    if (waitFor !== 'load' && waitFor !== 'networkidle') await page.waitForSelector(waitFor, { state: 'attached', timeout: 0 });
    await settle(page);
    // Scroll to the bottom while that makes the page grow (a page no taller than the window is not scrolled).
    // Scripts as text: they run in the page, not in Node.
    for (let i = 0; i < SCROLLS; i++) {
      const before = await page.evaluate<number>('(() => { const h = document.documentElement.scrollHeight; if (h <= window.innerHeight) return -1; window.scrollTo(0, h); return h; })()');
      if (before < 0) break;
      await settle(page);
      const after = await page.evaluate<number>('document.documentElement.scrollHeight');
      if (after <= before) break;
    }
    const all = await response.allHeaders();
    const headers: Record<string, string> = {};
    for (const h of KEPT_HEADERS) if (all[h] !== undefined) headers[h] = all[h];
    // A script may have navigated the page elsewhere since.
    outOfScope(job, navigated);
    const html = await page.content();
    const out: Omit<Rendered, 'traffic' | 'ms'> = { finalUrl: page.url(), status: response.status(), headers, html, popups, documentUrl: response.url() };
    if (job.capture) {
      try {
        out.exchange = await mainExchange(response, traffic, started);
      } catch (err) {
        out.exchangeMissing = firstLine((err as Error).message ?? String(err));
      }
    }
    if (job.opts.screenshot) {
      const png = await page.screenshot({ type: 'png' });
      if (png.length <= job.maxScreenshotBytes) out.screenshot = png;
      else out.screenshotMissing = `screenshot of ${png.length} bytes past render.maxScreenshotBytes`;
    }
    out.popups = popups;
    return out;
  };
  return Promise.race([run(), crashed]);
}

/**
 * Throws out_of_scope when the main frame went to a URL the session's scope refuses: a redirect
 * of the page (each hop is a request of its own) or a script's navigation to another document,
 * as the fetcher refuses a redirect out of scope. The task's own URL was admitted in scope;
 * a same-document URL change (history.pushState) is no request and is not looked at.
 */
function outOfScope(job: RenderJob, navigated: readonly string[]): void {
  if (!job.inScope) return;
  for (const hop of navigated) {
    if (hop === job.url) continue;
    let target: URL;
    try {
      target = new URL(hop);
    } catch {
      continue;
    }
    if ((target.protocol === 'http:' || target.protocol === 'https:') && !job.inScope(target)) {
      throw new CrawlError('out_of_scope', `${job.url} redirects out of scope to ${hop}`);
    }
  }
}

/** Waits (bounded) for the page's network to go quiet; a page that never does is not an error. */
async function settle(page: Page): Promise<void> {
  await page.waitForLoadState('networkidle', { timeout: SETTLE_MS }).catch(() => undefined);
}

/** A failure of the browser or the page as a catalogued error. */
function asRenderError(err: unknown, url: string, refused: string | null): CrawlError {
  if (err instanceof CrawlError) return err;
  const message = (err as Error).message ?? String(err);
  if (refused) return new CrawlError('blocked_address', `${url}: ${refused} is forbidden by the SSRF guard`, { cause: err });
  if (/ERR_NAME_NOT_RESOLVED/.test(message)) return new CrawlError('dns_failed', `${url}: ${firstLine(message)}`, { cause: err });
  if (/net::ERR_/.test(message)) return new CrawlError('connect_failed', `${url}: ${firstLine(message)}`, { cause: err });
  if (/closed|crash|disconnected|Target page/i.test(message)) return new CrawlError('render_crashed', `${url}: ${firstLine(message)}`, { cause: err });
  return new CrawlError('render_crashed', `${url}: ${firstLine(message)}`, { cause: err });
}

function firstLine(text: string): string {
  return (text.split('\n').find((l) => l.trim() !== '') ?? text).trim().slice(0, 300);
}
