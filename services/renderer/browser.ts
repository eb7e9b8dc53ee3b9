/**
 * One Chromium per renderer replica, driven by playwright-core (the system browser, no
 * download). The host launches it (retrying with backoff while it cannot start, and saying
 * why through `problem()` for /readyz), lends it to one page at a time per context, counts
 * the pages it rendered and its memory (every process of the browser, from /proc), and
 * replaces it once its pages finish when it rendered render.maxPagesPerBrowser pages or
 * passed render.maxBrowserRssBytes. A browser that dies (crash, SIGKILL) is launched again;
 * the pages it held fail with render_crashed, and their messages are redelivered.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { chromium, type Browser, type BrowserServer } from 'playwright-core';
import { CrawlError } from '../../shared/errors/index.js';
import type { Logger } from '../../shared/observability/log.js';

/**
 * Chromium switches: no traffic of the browser's own (background networking, component and
 * safe-browsing updates, DNS prefetch, QUIC, WebRTC outside the proxy, pings), nothing that
 * needs a GPU or a sandbox of the container's (the renderer runs as a non-root user in a
 * container without user namespaces).
 */
export const CHROMIUM_ARGS = [
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-domain-reliability',
  '--disable-sync',
  '--disable-client-side-phishing-detection',
  '--dns-prefetch-disable',
  '--disable-quic',
  '--no-pings',
  '--force-webrtc-ip-handling-policy=disable_non_proxied_udp',
  '--webrtc-ip-handling-policy=disable_non_proxied_udp',
  '--disable-features=NetworkPrediction,DnsOverHttps,AsyncDns,MediaRouter,OptimizationHints,Translate',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--no-sandbox',
  '--mute-audio',
];

export interface BrowserHostOptions {
  chromiumPath(): string;
  launchTimeoutMs(): number;
  maxPagesPerBrowser(): number;
  maxRssBytes(): number;
  /** The launch proxy, which refuses everything (each context gets a proxy of its own). */
  denyProxyUrl: string;
  log: Logger;
  /** Called after each launch (tests, metrics). */
  onLaunch?(pid: number): void;
}

const BACKOFF_MS = [500, 1000, 2000, 5000, 10_000];

export class BrowserHost {
  private server: BrowserServer | null = null;
  private browser: Browser | null = null;
  private launching: Promise<Browser> | null = null;
  private lastProblem: string | null = 'the browser has not started yet';
  private failures = 0;
  private active = 0;
  private pages = 0;
  private retiring = false;
  private closed = false;
  private readonly waiters: (() => void)[] = [];
  /** Browsers launched so far. */
  launches = 0;
  /** The resident memory of the browser's processes, measured after each page. */
  rssBytes = 0;

  constructor(private readonly opts: BrowserHostOptions) {}

  /** Why the browser cannot be used, or null when it runs. */
  problem(): string | null {
    return this.lastProblem;
  }

  /** The browser's main process id (null when none runs). */
  pid(): number | null {
    return this.server?.process().pid ?? null;
  }

  /** Launches the browser, retrying with backoff until it starts or the host closes; resolves when it runs. */
  async start(): Promise<void> {
    for (;;) {
      try {
        await this.current();
        return;
      } catch (err) {
        if (this.closed) throw err;
        const wait = BACKOFF_MS[Math.min(this.failures - 1, BACKOFF_MS.length - 1)] ?? 10_000;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** Runs `fn` with the browser, one of the pages in flight; replaces the browser afterwards when it is due. */
  async use<T>(fn: (browser: Browser) => Promise<T>): Promise<T> {
    while (this.retiring) await new Promise<void>((r) => this.waiters.push(r));
    const browser = await this.current();
    this.active++;
    try {
      return await fn(browser);
    } finally {
      this.active--;
      this.pages++;
      this.afterPage();
    }
  }

  /** Replaces the browser as soon as its pages finish (a page that could not be closed, a hung browser). */
  retire(why: string): void {
    if (this.retiring || !this.browser) return;
    this.opts.log.info({ why, pages: this.pages }, 'replacing the browser');
    this.retiring = true;
    if (this.active === 0) void this.recycle();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stop();
    for (const w of this.waiters.splice(0)) w();
  }

  private afterPage(): void {
    this.rssBytes = processTreeRss(this.pid());
    if (!this.retiring) {
      if (this.pages >= this.opts.maxPagesPerBrowser()) this.retire(`rendered ${this.pages} pages (render.maxPagesPerBrowser)`);
      else if (this.rssBytes > this.opts.maxRssBytes()) this.retire(`resident memory ${this.rssBytes} bytes past render.maxBrowserRssBytes`);
    }
    if (this.retiring && this.active === 0) void this.recycle();
  }

  private async recycle(): Promise<void> {
    await this.stop();
    this.retiring = false;
    for (const w of this.waiters.splice(0)) w();
  }

  private async stop(): Promise<void> {
    const server = this.server;
    this.browser = null;
    this.server = null;
    this.pages = 0;
    if (server) await server.kill().catch(() => undefined);
  }

  private current(): Promise<Browser> {
    if (this.closed) return Promise.reject(new CrawlError('browser_unavailable', 'the renderer is closing'));
    if (this.browser?.isConnected()) return Promise.resolve(this.browser);
    this.launching ??= this.launch().finally(() => {
      this.launching = null;
    });
    return this.launching;
  }

  private async launch(): Promise<Browser> {
    const path = this.opts.chromiumPath();
    let server: BrowserServer | null = null;
    try {
      server = await chromium.launchServer({
        executablePath: path,
        headless: true,
        args: CHROMIUM_ARGS,
        proxy: { server: this.opts.denyProxyUrl, bypass: '<-loopback>' },
        timeout: this.opts.launchTimeoutMs(),
        handleSIGINT: false,
        handleSIGTERM: false,
        handleSIGHUP: false,
      });
      const browser = await chromium.connect(server.wsEndpoint(), { timeout: this.opts.launchTimeoutMs() });
      if (this.closed) {
        await server.kill();
        throw new CrawlError('browser_unavailable', 'the renderer is closing');
      }
      this.server = server;
      this.browser = browser;
      this.launches++;
      const pid = server.process().pid ?? 0;
      browser.on('disconnected', () => {
        if (this.browser !== browser) return;
        this.browser = null;
        this.server = null;
        this.pages = 0;
        if (this.closed) return;
        this.lastProblem = 'the browser exited; starting it again';
        this.opts.log.warn({ pid }, 'the browser exited unexpectedly; starting it again');
        void this.start().catch(() => undefined);
      });
      if (this.lastProblem && this.failures > 0) this.opts.log.info({ pid }, 'browser started');
      this.failures = 0;
      this.lastProblem = null;
      this.opts.onLaunch?.(pid);
      return browser;
    } catch (err) {
      if (server) await server.kill().catch(() => undefined);
      const why = `browser unavailable: cannot start Chromium at ${path} (render.chromiumPath): ${firstLine((err as Error).message)}`;
      // One log line per outage, not one per retry.
      if (this.failures === 0 && !this.closed) this.opts.log.error({ chromiumPath: path }, why);
      this.failures++;
      this.lastProblem = why;
      throw new CrawlError('browser_unavailable', why, { cause: err });
    }
  }
}

function firstLine(text: string): string {
  return (text.split('\n').find((l) => l.trim() !== '') ?? text).trim().slice(0, 300);
}

/** Resident bytes of a process and all its descendants (Linux /proc; 0 elsewhere or when gone). */
export function processTreeRss(pid: number | null): number {
  if (!pid) return 0;
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return 0;
  }
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  const pageSize = 4096;
  for (const e of entries) {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // Fields after the command name, which is in parentheses and may hold spaces.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(rest[1]);
      const p = Number(e);
      rss.set(p, Number(rest[21]) * pageSize);
      const list = children.get(ppid) ?? [];
      list.push(p);
      children.set(ppid, list);
    } catch {
      // the process ended meanwhile
    }
  }
  let total = 0;
  const stack = [pid];
  const seen = new Set<number>();
  while (stack.length > 0) {
    const p = stack.pop() as number;
    if (seen.has(p)) continue;
    seen.add(p);
    total += rss.get(p) ?? 0;
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}
