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
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { ForbiddenCounter, MANY_PAGES, ScriptedSite } from '../sites/scripted.js';
import { checkInvariants, waitFinished } from '../support/oracle.js';
import { http, startTestStack, waitFor, type TestStack } from '../support/stack.js';

const CHROMIUM = process.env.RENDER_CHROMIUM_PATH ?? '/usr/bin/chromium';

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
      env: { FETCH_ALLOWED_NETWORKS: '127.0.0.2/32', RETRY_MAX_ATTEMPTS: '3', RENDER_CONCURRENCY: '2', RENDER_CHROMIUM_PATH: CHROMIUM },
    });
    // The renderer is ready once its browser runs.
    await waitFor(async () => {
      const r = await http<{ service: string; status: string }[]>(stack.api, 'GET', '/replicas?service=renderer');
      return r.status === 200 && Array.isArray(r.body) && r.body.length > 0;
    }, { timeoutMs: 60_000, what: 'a renderer replica' }).catch(() => undefined);
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
});
