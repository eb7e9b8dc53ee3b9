/**
 * The renderer's browser, proxy and render step against the real Chromium and local sites:
 * the script-built site renders (delayed content, XHR and scroll links, the session cookie);
 * a page reaching for a forbidden address by XHR, fetch, image, iframe, WebSocket, a name
 * that resolves to it and a redirect opens 0 connections there and its traffic lists what
 * was refused; `while (true) {}` ends at the timeout; 100 pop-ups are refused; a 50 MiB image
 * stops at the byte budget; a SIGKILLed browser is started again.
 *
 * The site listens on 127.0.0.2 (allowed); the forbidden listener on 127.0.0.1 (refused).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { BrowserHost, processTreeRss } from '../../services/renderer/browser.js';
import { GuardedProxy } from '../../services/renderer/proxy.js';
import { renderPage, type RenderJob } from '../../services/renderer/render.js';
import type { CrawlError } from '../../shared/errors/index.js';
import { AddressPolicy } from '../../shared/net/ssrf.js';
import { createLogger } from '../../shared/observability/log.js';
import { DEFAULT_BLOCKED_RESOURCES } from '../../shared/render/options.js';
import { ForbiddenCounter, ScriptedSite } from '../sites/scripted.js';

const CHROMIUM = process.env.RENDER_CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('renderer: Chromium through the guarded proxy (real browser, local sites)', function () {
  this.timeout(120_000);
  const counter = new ForbiddenCounter();
  let site: ScriptedSite;
  let proxy: GuardedProxy;
  let deny: { url: string; close(): Promise<void> };
  let host: BrowserHost;

  before(async function () {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM} (apt-get install chromium)`);
    const forbiddenPort = await counter.start('127.0.0.1');
    site = new ScriptedSite('127.0.0.2', { host: '127.0.0.1', port: forbiddenPort, name: 'localhost' });
    await site.start();
    const policy = new AddressPolicy(['127.0.0.2/32']);
    proxy = new GuardedProxy({ policy: () => policy, connectTimeoutMs: () => 5000 });
    deny = await proxy.deny();
    host = new BrowserHost({
      chromiumPath: () => CHROMIUM,
      launchTimeoutMs: () => 60_000,
      maxPagesPerBrowser: () => 1000,
      maxRssBytes: () => 8 * 1024 ** 3,
      denyProxyUrl: deny.url,
      log: createLogger('renderer-test', 'silent'),
    });
    await host.start();
  });

  after(async () => {
    await host?.close();
    await deny?.close();
    await site?.stop();
    await counter.stop();
  });

  const job = (path: string, extra: Partial<RenderJob> = {}, opts: Partial<RenderJob['opts']> = {}): RenderJob => ({
    url: `${site.origin}${path}`,
    opts: { mode: 'always', waitFor: 'load', timeoutMs: 20_000, blockResources: DEFAULT_BLOCKED_RESOURCES, screenshot: false, ...opts },
    userAgent: 'crawlfleet-test',
    state: { headers: {}, cookies: [] },
    maxBytes: 20 * 1024 * 1024,
    maxScreenshotBytes: 5 * 1024 * 1024,
    ...extra,
  });
  const render = (j: RenderJob) => host.use((b) => renderPage(b, proxy, j, (why) => host.retire(why)));

  it('renders the content, title and links a script inserts after a delay', async () => {
    const r = await render(job('/app'));
    assert.equal(r.status, 200);
    assert.match(r.html, /<title>Rendered App<\/title>/);
    assert.match(r.html, /Made by script/);
    assert.match(r.html, /href="\/static\/2"/);
    assert.deepEqual(r.traffic.blocked, []);
    assert.ok(r.traffic.bytes > 0);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
  });

  it('captures the main document as the browser received it for WARC: request headers, status, headers, the decoded body, the address dialed', async () => {
    const r = await render(job('/gz-app', { capture: true }));
    assert.match(r.html, /<div id="root"><h1>Made by script<\/h1><\/div>/);
    const x = r.exchange;
    assert.ok(x, r.exchangeMissing);
    assert.equal(x.url, `${site.origin}/gz-app`);
    assert.equal(r.documentUrl, x.url);
    assert.equal(x.method, 'GET');
    assert.equal(x.status, 200);
    assert.equal(x.ip, '127.0.0.2');
    assert.equal(x.decoded, true);
    // The body as served before its gzip coding: the shell, not the rendered DOM.
    assert.deepEqual(x.body, site.bodies.get('/gz-app'));
    assert.match(x.body.toString(), /<div id="root"><\/div>/);
    assert.ok(x.rawHeaders.some(([k, v]) => k.toLowerCase() === 'content-encoding' && v === 'gzip'), JSON.stringify(x.rawHeaders));
    assert.ok(x.requestHeaders.some(([k, v]) => k.toLowerCase() === 'user-agent' && v === 'crawlfleet-test'), JSON.stringify(x.requestHeaders));
    // Not asked for, not captured.
    assert.equal((await render(job('/static/1'))).exchange, undefined);
  });

  it('finds links loaded by an XHR and links that appear on scroll', async () => {
    const r = await render(job('/feed'));
    assert.match(r.html, /href="\/static\/1"/);
    assert.match(r.html, /loaded on scroll/);
  });

  it("applies the session's cookie to the context", async () => {
    const without = await render(job('/members'));
    assert.match(without.html, /Please log in/);
    const withCookie = await render(job('/members', { state: { headers: {}, cookies: [{ name: 'member', value: 'yes' }] } }));
    assert.match(withCookie.html, /The secret member text/);
  });

  it('opens 0 connections to a forbidden address (XHR, fetch, image, iframe, WebSocket, a name resolving to it) and lists what it refused', async () => {
    const before = counter.accepted;
    const r = await render(job('/ssrf', {}, { blockResources: [], waitFor: 'networkidle' }));
    assert.equal(counter.accepted - before, 0, 'no connection reached the forbidden listener');
    const port = counter.port;
    assert.ok(r.traffic.blocked.some((b) => b.startsWith(`127.0.0.1:${port} (forbidden address`)), r.traffic.blocked.join('; '));
    assert.ok(r.traffic.blocked.some((b) => b.startsWith(`localhost:${port} (resolves only to forbidden`)), r.traffic.blocked.join('; '));
  });

  it('a redirect of the page to a forbidden address fails blocked_address with 0 connections', async () => {
    const before = counter.accepted;
    await assert.rejects(render(job('/to-forbidden')), (err: CrawlError) => err.code === 'blocked_address');
    assert.equal(counter.accepted - before, 0);
  });

  it('a redirect of the page out of the session\'s scope fails out_of_scope, as the fetcher refuses it', async () => {
    const notStatic1 = (u: URL): boolean => u.pathname !== '/static/1';
    await assert.rejects(render(job('/to-static', { inScope: notStatic1 })), (err: CrawlError) => err.code === 'out_of_scope' && /redirects out of scope to .*\/static\/1/.test(err.message));
    // In scope, the redirect is followed.
    const r = await render(job('/to-static', { inScope: () => true }));
    assert.match(r.html, /Static 1/);
    assert.equal(r.finalUrl, `${site.origin}/static/1`);
    // The page itself is never refused (it was admitted in scope).
    assert.match((await render(job('/static/1', { inScope: notStatic1 }))).html, /Static 1/);
  });

  it('a direct page on a forbidden address fails blocked_address with 0 connections', async () => {
    const before = counter.accepted;
    await assert.rejects(render({ ...job('/'), url: `http://127.0.0.1:${counter.port}/` }), (err: CrawlError) => err.code === 'blocked_address');
    await assert.rejects(render({ ...job('/'), url: `http://localhost:${counter.port}/` }), (err: CrawlError) => err.code === 'blocked_address');
    assert.equal(counter.accepted - before, 0);
  });

  it('ends a page in while (true) {} at its timeout with render_timeout, and the browser renders on', async () => {
    const started = Date.now();
    await assert.rejects(render(job('/spin', {}, { timeoutMs: 3000 })), (err: CrawlError) => err.code === 'render_timeout');
    assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
    const r = await render(job('/static/1'));
    assert.match(r.html, /Static 1/);
  });

  it('refuses 100 pop-ups and still delivers the page', async () => {
    const before = site.hits.get('/static/1') ?? 0;
    const r = await render(job('/popups'));
    assert.match(r.html, /<h1>Popups<\/h1>/);
    assert.equal((site.hits.get('/static/1') ?? 0) - before, 0, 'no pop-up loaded its page');
  });

  it('stops a 50 MiB image at a 5 MiB byte budget when images are not blocked', async () => {
    const budget = 5 * 1024 * 1024;
    const r = await render(job('/big-image', { maxBytes: budget }, { blockResources: [] }));
    assert.match(r.html, /Big image/);
    assert.equal(r.traffic.overBudget, true);
    assert.ok(r.traffic.bytes < budget + 2 * 1024 * 1024, `received ${r.traffic.bytes} bytes`);
    assert.ok(r.traffic.blocked.some((b) => b.includes('byte budget')));
  });

  it('takes a screenshot within its cap', async () => {
    const r = await render(job('/static/2', {}, { screenshot: true }));
    assert.ok(r.screenshot && r.screenshot.subarray(1, 4).toString() === 'PNG');
    const capped = await render(job('/static/2', { maxScreenshotBytes: 1024 }, { screenshot: true }));
    assert.equal(capped.screenshot, undefined);
    assert.match(capped.screenshotMissing ?? '', /maxScreenshotBytes/);
  });

  it('measures the browser memory and starts a new browser after a SIGKILL', async () => {
    const pid = host.pid();
    assert.ok(pid);
    assert.ok(processTreeRss(pid) > 10 * 1024 * 1024);
    const launches = host.launches;
    process.kill(pid, 'SIGKILL');
    // The next page waits for the new browser (or fails render_crashed if it raced the crash).
    let r;
    for (let i = 0; i < 20 && !r; i++) {
      try {
        r = await render(job('/static/3'));
      } catch (err) {
        assert.equal((err as CrawlError).code, 'render_crashed');
        await new Promise((res) => setTimeout(res, 500));
      }
    }
    assert.ok(r, 'rendered after the crash');
    assert.match(r.html, /Static 3/);
    assert.equal(host.launches, launches + 1);
    assert.notEqual(host.pid(), pid);
  });
});

describe('renderer: a browser that cannot start', function () {
  this.timeout(30_000);
  it('says why, naming the path, and keeps trying', async () => {
    const proxy = new GuardedProxy({ policy: () => new AddressPolicy([]), connectTimeoutMs: () => 1000 });
    const deny = await proxy.deny();
    const host = new BrowserHost({
      chromiumPath: () => '/nonexistent/chromium',
      launchTimeoutMs: () => 5000,
      maxPagesPerBrowser: () => 10,
      maxRssBytes: () => 1e9,
      denyProxyUrl: deny.url,
      log: createLogger('renderer-test', 'silent'),
    });
    const starting = host.start().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 1500));
    assert.match(host.problem() ?? '', /browser unavailable: cannot start Chromium at \/nonexistent\/chromium/);
    await host.close();
    await starting;
    await deny.close();
  });
});
