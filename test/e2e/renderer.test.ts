/**
 * Rendering end to end: the six services as real processes (one renderer with the system
 * Chromium) crawl the script-built site on 127.0.0.2, with only 127.0.0.2 allowed and a
 * listener on 127.0.0.1 counting connections.
 *
 * - `render: "always"` delivers the title, Markdown and links a script made; `never` does not;
 *   `auto` renders exactly the shell pages of a mixed site, and every record says whether it
 *   was rendered and why.
 * - A rendered page reaching for the forbidden address (XHR, fetch, image, iframe, WebSocket,
 *   a name resolving to it) opens 0 connections and its record lists what was refused.
 * - SIGKILL of the browser and of the renderer process mid-crawl: every URL ends terminal
 *   exactly once (the oracle), and the renderer comes back.
 * - WARC (read back with warcio): a rendered page has the main document's request and response
 *   records (the renderer's for `always`, the fetcher's for `auto`) and a conversion record of
 *   the rendered DOM referring to the response, digests that verify; purge removes the WARC
 *   files and the screenshots.
 * - Cancel and pause with render tasks queued (slow pages, two pages at a time): no page is
 *   opened after the cancel or while paused, but those already opening; every URL terminal.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { topology } from '../../shared/messaging/topology.js';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { sha1Digest } from '../../shared/warc/record.js';
import { ForbiddenCounter, MANY_PAGES, ScriptedSite } from '../sites/scripted.js';
import { checkInvariants, queueDepths, waitFinished } from '../support/oracle.js';
import { http, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { readWarc, type ReadRecord } from '../support/warc-read.js';

const CHROMIUM = process.env.RENDER_CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Pages the renderer renders at once. */
const RENDER_CONCURRENCY = 2;

/** Process ids whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter((l) => l !== '').map(Number);
  } catch {
    return [];
  }
}

describe('renderer end to end (six processes, real Chromium, 127.0.0.1 forbidden)', function () {
  this.timeout(300_000);
  const counter = new ForbiddenCounter();
  let site: ScriptedSite;
  let stack: TestStack;

  before(async function () {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM} (apt-get install chromium)`);
    const forbiddenPort = await counter.start('127.0.0.1');
    site = new ScriptedSite('127.0.0.2', { host: '127.0.0.1', port: forbiddenPort, name: 'localhost' });
    await site.start();
    stack = await startTestStack({
      fetchers: 1,
      renderers: 1,
      readyTimeoutMs: 90_000,
      env: { FETCH_ALLOWED_NETWORKS: '127.0.0.2/32', RETRY_MAX_ATTEMPTS: '3', RENDER_CONCURRENCY: String(RENDER_CONCURRENCY), RENDER_CHROMIUM_PATH: CHROMIUM, WARC_IDLE_CLOSE_MS: '500' },
    });
    // The renderer is ready once its browser runs. (This wait read the answer as a list, which
    // it is not, and let its 60 s timeout pass silently in every run.)
    await waitFor(async () => {
      const r = await http<{ replicas: { service: string; ready: boolean }[] }>(stack.api, 'GET', '/replicas?service=renderer');
      return r.status === 200 && r.body.replicas.some((x) => x.service === 'renderer' && x.ready);
    }, { timeoutMs: 60_000, what: 'a ready renderer replica' });
  });

  after(async () => {
    await stack?.stop();
    await site?.stop();
    await counter.stop();
  });

  async function crawl(body: Record<string, unknown>): Promise<{ id: string; records: ResultRecord[] }> {
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', { formats: ['markdown', 'links'], ...body });
    assert.equal(created.status, 201, created.text);
    const s = await waitFinished(stack.api, created.body.id, 180_000);
    assert.equal(s.status, 'completed');
    const res = await http(stack.api, 'GET', `/sessions/${created.body.id}/results`);
    return { id: created.body.id, records: res.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord) };
  }

  it('always: the title, Markdown and links a script made', async () => {
    const { records } = await crawl({ seeds: [`${site.origin}/app`, `${site.origin}/feed`], maxDepth: 0, render: 'always' });
    const app = records.find((r) => r.url === `${site.origin}/app`);
    assert.ok(app, JSON.stringify(records));
    assert.equal(app.outcome, 'delivered', JSON.stringify(app));
    assert.equal(app.title, 'Rendered App');
    assert.match(app.markdown ?? '', /Made by script/);
    assert.ok(Array.isArray(app.links) && app.links.some((l) => l.url === `${site.origin}/static/2`), JSON.stringify(app.links));
    assert.equal(app.rendered, true);
    assert.equal(app.renderReason, 'always');
    const feed = records.find((r) => r.url === `${site.origin}/feed`);
    assert.ok(feed && Array.isArray(feed.links));
    const feedLinks = (feed.links as { url: string }[]).map((l) => l.url);
    assert.ok(feedLinks.includes(`${site.origin}/static/1`) && feedLinks.includes(`${site.origin}/static/3`), `XHR and scroll links: ${feedLinks.join(', ')}`);
  });

  it('never: the shell as served', async () => {
    const { records } = await crawl({ seeds: [`${site.origin}/app`], maxDepth: 0, render: 'never' });
    const [app] = records;
    assert.ok(app);
    assert.equal(app.title, 'Loading…');
    assert.doesNotMatch(app.markdown ?? '', /Made by script/);
    assert.equal(app.rendered, undefined);
  });

  it('auto: renders exactly the shell pages of a mixed site, and says why for each', async () => {
    const { records } = await crawl({ seeds: [`${site.origin}/`], maxDepth: 1, render: 'auto' });
    const by = new Map(records.map((r) => [new URL(r.url).pathname, r]));
    assert.deepEqual([...by.keys()].sort(), ['/', '/app', '/feed', '/members', '/static/1']);
    for (const shellPath of ['/app', '/feed', '/members']) {
      const r = by.get(shellPath) as ResultRecord;
      assert.equal(r.rendered, true, shellPath);
      assert.equal(r.renderReason, 'empty_app_root', shellPath);
    }
    for (const staticPath of ['/', '/static/1']) {
      const r = by.get(staticPath) as ResultRecord;
      assert.equal(r.rendered, false, staticPath);
      assert.equal(r.renderReason, 'static', staticPath);
    }
    assert.equal(by.get('/app')?.title, 'Rendered App');
  });

  it('a rendered page reaching for a forbidden address: 0 connections, the record lists what was refused', async () => {
    const before = counter.accepted;
    const { records } = await crawl({ seeds: [`${site.origin}/ssrf`, `${site.origin}/to-forbidden`], maxDepth: 0, render: 'always', waitFor: 'networkidle', blockResources: [] });
    assert.equal(counter.accepted - before, 0, 'no connection reached 127.0.0.1');
    const page = records.find((r) => r.url === `${site.origin}/ssrf`) as ResultRecord;
    assert.equal(page.outcome, 'delivered');
    assert.ok(page.blocked?.some((b) => b.startsWith(`127.0.0.1:${counter.port} (forbidden address`)), JSON.stringify(page.blocked));
    assert.ok(page.blocked?.some((b) => b.startsWith(`localhost:${counter.port}`)), JSON.stringify(page.blocked));
    const redirected = records.find((r) => r.url === `${site.origin}/to-forbidden`) as ResultRecord;
    assert.equal(redirected.outcome, 'failed');
    assert.equal(redirected.reason, 'blocked_address');
  });

  it('SIGKILL of the browser and of the renderer mid-crawl: every URL terminal once', async () => {
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [`${site.origin}/many/0`], maxDepth: 10, render: 'always' });
    assert.equal(created.status, 201, created.text);
    const id = created.body.id;
    const progress = async (): Promise<number> => (await http<{ counts: { delivered: number } }>(stack.api, 'GET', `/sessions/${id}`)).body.counts.delivered;
    await waitFor(async () => (await progress()) >= 3, { timeoutMs: 120_000, what: 'a few rendered pages' });
    // The browser first: a child of the renderer process.
    const rendererPid = stack.supervisor.pid('renderer');
    assert.ok(rendererPid);
    const browsers = childrenOf(rendererPid);
    assert.ok(browsers.length > 0, 'the renderer runs a browser');
    for (const pid of browsers) process.kill(pid, 'SIGKILL');
    await waitFor(async () => (await progress()) >= 8, { timeoutMs: 120_000, what: 'pages after the browser was killed' });
    // Then the renderer itself; the supervisor starts it again.
    const orphans = childrenOf(rendererPid);
    assert.ok(stack.supervisor.signal('renderer', 'SIGKILL'));
    const s = await waitFinished(stack.api, id, 240_000);
    assert.equal(s.status, 'completed');
    const expected = new Set(Array.from({ length: MANY_PAGES }, (_, n) => `${site.origin}/many/${n}`));
    const report = await checkInvariants(stack.api, stack.ns, id, expected);
    assert.equal(report.delivered, MANY_PAGES, JSON.stringify(report));
    // The browser of the killed renderer did not outlive it.
    for (const pid of orphans) assert.throws(() => process.kill(pid, 0), `browser ${pid} outlived its renderer`);
  });

  /** Every record of the session's WARC files, once its writers closed them (warcio reads them). */
  async function sessionWarc(id: string): Promise<ReadRecord[]> {
    type Listing = { files: Array<{ name: string; records: number; closed: boolean }> };
    const listing = await waitFor(async () => {
      const r = await http<Listing>(stack.api, 'GET', `/sessions/${id}/warc`);
      return r.status === 200 && r.body.files.length > 0 && r.body.files.every((f) => f.closed) ? r.body : null;
    }, { timeoutMs: 30_000, what: 'WARC files closed' });
    const all: ReadRecord[] = [];
    for (const f of listing.files) {
      const read = await readWarc(readFileSync(join(stack.resultsDir, 'warc', f.name)));
      assert.equal(read.length, f.records, f.name);
      all.push(...read);
    }
    // Every digest verifies: the block, and the payload (a response's after its HTTP header section; a conversion's block).
    for (const r of all) {
      assert.equal(r.headers.get('warc-block-digest'), sha1Digest(r.block), `${r.type} ${r.uri}: block digest`);
      if (r.payload !== null) assert.equal(r.headers.get('warc-payload-digest'), sha1Digest(r.payload), `${r.uri}: payload digest`);
      if (r.type === 'conversion') assert.equal(r.headers.get('warc-payload-digest'), sha1Digest(r.block), `${r.uri}: conversion payload digest`);
    }
    return all;
  }

  /** The conversion record of a rendered page and the response record it refers to. */
  function renderedPair(all: readonly ReadRecord[], url: string): { response: ReadRecord; conversion: ReadRecord } {
    const conversions = all.filter((r) => r.type === 'conversion' && r.uri === url);
    assert.equal(conversions.length, 1, `${url}: one conversion record`);
    const conversion = conversions[0] as ReadRecord;
    assert.equal(conversion.headers.get('content-type'), 'text/html; charset=utf-8');
    const responses = all.filter((r) => r.type === 'response' && r.uri === url);
    assert.equal(responses.length, 1, `${url}: one response record`);
    const response = responses[0] as ReadRecord;
    assert.equal(conversion.headers.get('warc-refers-to'), response.id, `${url}: the conversion refers to the response`);
    return { response, conversion };
  }

  it('WARC of rendered pages: the main document\'s request and response, a conversion record of the DOM; purge removes WARC files and screenshots', async () => {
    // always: the renderer archives the main document itself (/gz-app is sent gzip-encoded).
    const { id, records } = await crawl({ seeds: [`${site.origin}/app`, `${site.origin}/gz-app`], maxDepth: 0, render: 'always', warc: true, screenshot: true });
    assert.deepEqual(records.map((r) => [r.url, r.outcome, r.rendered]).sort(), [[`${site.origin}/app`, 'delivered', true], [`${site.origin}/gz-app`, 'delivered', true]]);
    const all = await sessionWarc(id);
    for (const path of ['/app', '/gz-app']) {
      const url = `${site.origin}${path}`;
      const { response, conversion } = renderedPair(all, url);
      assert.equal(response.status, 200, url);
      // The document as served (its content coding undone by the browser), not the DOM.
      assert.deepEqual(response.payload, site.bodies.get(path), `${url}: the served document`);
      assert.equal(response.headers.get('warc-ip-address'), '127.0.0.2');
      if (path === '/gz-app') assert.match(response.block.toString('latin1'), /\r\nX-Archive-Orig-content-encoding: gzip\r\n/i);
      const request = all.find((r) => r.id === response.concurrentTo[0]);
      assert.ok(request && request.type === 'request' && request.uri === url, `${url}: its request record`);
      assert.deepEqual(request.concurrentTo, [response.id]);
      assert.match(request.block.toString('latin1'), new RegExp(`^GET ${path} HTTP/1\\.1\\r\\n`));
      // The script-made content is in the conversion record's block, and only there.
      assert.match(conversion.block.toString('utf8'), /<div id="root"><h1>Made by script<\/h1>/);
      assert.match(conversion.block.toString('utf8'), /<title>Rendered App<\/title>/);
      assert.match(response.block.toString('utf8'), /<div id="root"><\/div>/);
      // The extractor's metadata record is concurrent to the response.
      assert.ok(all.some((r) => r.type === 'metadata' && r.concurrentTo.includes(response.id)), `${url}: its metadata record`);
    }
    const app = records.find((r) => r.url === `${site.origin}/app`) as ResultRecord;
    assert.ok(app.screenshot && existsSync(join(stack.resultsDir, app.screenshot)), JSON.stringify(app));

    // auto: the fetcher archived the shell; the conversion refers to its response, and the page has no second response.
    const auto = await crawl({ seeds: [`${site.origin}/app`], maxDepth: 0, render: 'auto', warc: true });
    assert.equal(auto.records[0]?.rendered, true);
    const autoRecords = await sessionWarc(auto.id);
    const pair = renderedPair(autoRecords, `${site.origin}/app`);
    assert.deepEqual(pair.response.payload, site.bodies.get('/app'));
    assert.match(pair.conversion.block.toString('utf8'), /<div id="root"><h1>Made by script<\/h1>/);

    // Purge: the WARC files and the screenshots go with the session.
    for (const sid of [id, auto.id]) {
      const purged = await http(stack.api, 'DELETE', `/sessions/${sid}?purge=true`);
      assert.equal(purged.status, 200, purged.text);
      assert.deepEqual(readdirSync(join(stack.resultsDir, 'warc')).filter((n) => n.startsWith(sid)), []);
    }
    assert.equal(existsSync(join(stack.resultsDir, 'screenshots', id)), false, 'the screenshots were purged');
  });

  /** Requests the site received for its slow pages. */
  const slowHits = (): number => [...site.hits].filter(([p]) => p.startsWith('/slow/')).reduce((n, [, k]) => n + k, 0);

  /** A session of `n` slow pages, rendered; answers once the renderer opened its first page, with render tasks still queued. */
  async function slowSession(n: number): Promise<{ id: string; urls: Set<string> }> {
    const start = slowHits();
    const urls = new Set(Array.from({ length: n }, (_, k) => `${site.origin}/slow/${k}?s=${Date.now().toString(36)}`));
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [...urls], maxDepth: 0, render: 'always' });
    assert.equal(created.status, 201, created.text);
    await waitFor(async () => slowHits() > start, { timeoutMs: 120_000, intervalMs: 50, what: 'the first slow page opened' });
    // The fetcher has passed them on: tasks wait on the render queue.
    const renderQueue = topology(stack.ns).queue('render');
    await waitFor(async () => ((await queueDepths(stack.ns))[renderQueue] ?? 0) > 0, { timeoutMs: 30_000, intervalMs: 100, what: 'render tasks queued' });
    return { id: created.body.id, urls };
  }

  it('cancel with render tasks queued: no further page is opened, every URL terminal', async () => {
    const before = slowHits();
    const { id } = await slowSession(12);
    const cancelled = await http<{ status: string }>(stack.api, 'DELETE', `/sessions/${id}`);
    assert.equal(cancelled.status, 200, cancelled.text);
    const atCancel = slowHits() - before;
    const done = await waitFinished(stack.api, id, 120_000);
    assert.equal(done.status, 'cancelled');
    // Long enough for every queued render task to meet the cancel (a slow page takes 1.5 s).
    await waitFor(async () => {
      const s = await http<{ counts: Record<string, number> }>(stack.api, 'GET', `/sessions/${id}`);
      const c = s.body.counts;
      return (c.delivered ?? 0) + (c.failed ?? 0) + (c.skipped ?? 0) + (c.cancelled ?? 0) >= 12 ? s.body : null;
    }, { timeoutMs: 120_000, intervalMs: 250, what: 'every URL terminal' });
    await new Promise((r) => setTimeout(r, 3000));
    const after = slowHits() - before - atCancel;
    console.log(`      cancel: ${atCancel} slow pages opened before, ${after} after`);
    // Only pages that were already opening (one per render slot) may reach the site after the cancel.
    assert.ok(after <= RENDER_CONCURRENCY, `pages opened after the cancel: ${after}`);
    assert.ok(atCancel + after < 12, `not every page was opened (${atCancel + after} of 12)`);
    const s = await http<{ counts: Record<string, number> }>(stack.api, 'GET', `/sessions/${id}`);
    assert.ok((s.body.counts.cancelled ?? 0) >= 12 - (atCancel + after), JSON.stringify(s.body.counts));
    await checkInvariants(stack.api, stack.ns, id, null);
  });

  it('pause with render tasks queued: no page is opened while paused; resumed, every page is delivered once', async () => {
    const { id, urls } = await slowSession(6);
    const paused = await http(stack.api, 'POST', `/sessions/${id}/pause`);
    assert.equal(paused.status, 200, paused.text);
    // Pages already opening may still arrive; then nothing while paused.
    await new Promise((r) => setTimeout(r, 2500));
    const settled = slowHits();
    await new Promise((r) => setTimeout(r, 5000));
    assert.equal(slowHits() - settled, 0, 'no page opened while paused');
    const resumed = await http(stack.api, 'POST', `/sessions/${id}/resume`);
    assert.equal(resumed.status, 200, resumed.text);
    const done = await waitFinished(stack.api, id, 180_000);
    assert.equal(done.status, 'completed');
    const report = await checkInvariants(stack.api, stack.ns, id, urls);
    assert.equal(report.delivered, urls.size, JSON.stringify(report));
  });
});
