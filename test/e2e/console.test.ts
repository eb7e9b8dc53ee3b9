/**
 * The web console in a real browser: Debian's Chromium driven by playwright-core against a
 * running stack with an API token. Log in with the token (a wrong one is refused on the
 * form), submit a crawl of a local site through the New crawl form (first with a value the
 * API refuses: its message appears beside that field), watch the session reach `completed`,
 * see a result's title and its Markdown preview, download its records, change `rate.global`
 * on the Fleet page and see every replica report the new config version, get the API's
 * field-named error for an invalid value (which changes nothing), and cancel a running
 * session from its page.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import type { ReplicaView } from '../../shared/service/heartbeat.js';
import { launchChromium } from '../support/browser.js';
import { http, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { GeneratedSite } from '../sites/generated.js';

const TOKEN = 'console-e2e-token-0123456789abcdef';
const PAGES = 25;

describe('web console: a crawl and a live rate change through the browser', function () {
  this.timeout(240_000);
  let stack: TestStack | null = null;
  let site: GeneratedSite | null = null;
  let browser: Browser | null = null;
  let page: Page;
  let origin: string;
  let sessionId = '';
  const auth = { authorization: `Bearer ${TOKEN}` };

  before(async () => {
    // Launch the browser first: a machine without Chromium fails here with the install command.
    browser = await launchChromium();
    site = new GeneratedSite({ pages: PAGES, seed: 11, linksPerPage: 4, externalLinks: false, brokenRatio: 0.1, fileRatio: 0 });
    origin = await site.start();
    stack = await startTestStack({ fetchers: 1, env: { API_TOKEN: TOKEN, REPLICAS_HEARTBEAT_MS: '200', REPLICAS_MISSED_BEATS: '5' }, readyTimeoutMs: 90_000 });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(30_000);
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await stack?.stop();
    await site?.stop();
  });

  it('serves the console without a token, the API still needs it', async () => {
    assert.ok(stack);
    const index = await fetch(`${stack.api}/`);
    assert.equal(index.status, 200);
    const html = await index.text();
    assert.match(html, /<div id="app">/);
    assert.match(index.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const script = /src="(\/console\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script, 'the page loads its script from /console/assets/');
    assert.equal((await fetch(`${stack.api}${script}`)).status, 200, 'assets need no token');
    assert.equal((await http(stack.api, 'GET', '/sessions')).status, 401);
  });

  it('logs in with the token; a wrong token is refused on the form', async () => {
    assert.ok(stack);
    await page.goto(`${stack.api}/`);
    await page.getByTestId('login-token').fill('wrong-token');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('login-error').filter({ hasText: 'wrong bearer token' }).waitFor();
    await page.getByTestId('login-token').fill(TOKEN);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('sessions-table').waitFor();
    assert.ok(!page.url().includes(TOKEN), 'the token is not in the URL');
    assert.equal(await page.evaluate('sessionStorage.getItem("crawlfleet.token")'), TOKEN);
  });

  it('submits a crawl through the form: a refused value is shown beside its field, then it runs to completed', async () => {
    await page.getByTestId('nav-new').click();
    await page.getByTestId('field-seeds').fill(`${origin}/`);
    await page.getByTestId('field-label').fill('console-e2e');
    await page.getByTestId('field-maxPages').fill('0');
    await page.getByTestId('submit-crawl').click();
    const slot = page.locator('[data-error-for="maxPages"]');
    await slot.filter({ hasText: 'body/maxPages must be >= 1' }).waitFor();
    assert.equal(await page.locator('[data-error-for="seeds"]').textContent(), '', 'only the named field shows the error');

    await page.getByTestId('field-maxPages').fill(String(PAGES * 2));
    await page.getByTestId('submit-crawl').click();
    await page.waitForURL(/#\/sessions\/[a-z0-9-]+$/);
    sessionId = /#\/sessions\/([a-z0-9-]+)$/.exec(page.url())?.[1] ?? '';
    assert.notEqual(sessionId, '');
    await page.getByTestId('status').filter({ hasText: 'completed' }).waitFor({ timeout: 120_000 });

    // The session's counts as the API has them are on the page.
    const s = await http<{ counts: { delivered: number; failed: number } }>(stack!.api, 'GET', `/sessions/${sessionId}`, undefined, auth);
    assert.ok(s.body.counts.delivered >= 1);
    const counts = await page.getByTestId('counts').textContent();
    assert.match(counts ?? '', new RegExp(`delivered${s.body.counts.delivered}`));
  });

  it('shows a result\'s title, its Markdown preview and the outcomes by reason; downloads the results', async () => {
    const title = page.getByTestId('result-title').filter({ hasText: /^Page \d+$/ }).first();
    await title.waitFor();
    const text = (await title.textContent()) ?? '';
    await title.click();
    await page.getByTestId('preview').filter({ hasText: /\S/ }).waitFor();
    const heading = await page.locator('h3', { hasText: 'Preview: ' }).textContent();
    assert.equal(heading, `Preview: ${text}`);
    // Broken links end failed with the catalogue's reason.
    const outcomes = await http<{ failed: { total: number; reasons: Record<string, number> } }>(stack!.api, 'GET', `/sessions/${sessionId}/outcomes`, undefined, auth);
    assert.equal(outcomes.status, 200);
    if (outcomes.body.failed.total > 0) {
      await page.getByTestId('outcomes-failed').filter({ hasText: 'http_client_error' }).waitFor();
    }
    // The JSONL download is fetched with the token and saved from a Blob URL: the session's records.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-jsonl').click()]);
    assert.equal(download.suggestedFilename(), `${sessionId}.jsonl`);
    const path = await download.path();
    const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { url: string });
    const all = await http(stack!.api, 'GET', `/sessions/${sessionId}/results`, undefined, auth);
    assert.equal(lines.length, all.text.trim().split('\n').length);
    assert.ok(lines.every((r) => r.url.startsWith(origin)));
    // The sessions list shows it completed, with its label.
    await page.getByTestId('nav-sessions').click();
    const row = page.locator(`[data-testid="session-row"][data-id="${sessionId}"]`);
    await row.filter({ hasText: 'completed' }).waitFor();
    assert.match((await row.textContent()) ?? '', /console-e2e/);
    await page.getByTestId('filter-status').selectOption('running');
    await row.waitFor({ state: 'detached' });
    await page.getByTestId('filter-status').selectOption('');
  });

  it('changes rate.global on the Fleet page and sees every replica report the new version', async () => {
    assert.ok(stack);
    const before = await http<{ version: number }>(stack.api, 'GET', '/config', undefined, auth);
    await page.getByTestId('nav-fleet').click();
    await page.getByTestId('replica-row').first().waitFor();
    const input = page.getByTestId('setting-rate.global');
    await input.fill('37.5');
    await page.getByTestId('apply-config').click();
    const version = before.body.version + 1;
    const rollout = page.locator(`[data-testid="rollout"][data-version="${version}"]`);
    await rollout.waitFor();
    await waitFor(async () => {
      const current = await rollout.getAttribute('data-current');
      const replicas = await rollout.getAttribute('data-replicas');
      return current !== null && current === replicas && Number(replicas) === 5 ? true : null;
    }, { timeoutMs: 20_000, what: 'every replica on the new version in the console' });
    const shown = await page.getByTestId('replica-config').allTextContents();
    assert.equal(shown.length, 5);
    assert.ok(shown.every((v) => v === `v${version}`), `every replica row shows v${version}: ${shown.join(' ')}`);
    const replicas = await http<{ replicas: ReplicaView[] }>(stack.api, 'GET', '/replicas', undefined, auth);
    assert.ok(replicas.body.replicas.every((r) => r.configVersion >= version));
    const cfg = await http<{ values: { rate: { global: number } } }>(stack.api, 'GET', '/config', undefined, auth);
    assert.equal(cfg.body.values.rate.global, 37.5);
    await page.getByTestId('history-row').filter({ hasText: 'rate.global' }).first().waitFor();
  });

  it('shows the API\'s error beside rate.global for an invalid value, and changes nothing', async () => {
    assert.ok(stack);
    const before = await http<{ version: number }>(stack.api, 'GET', '/config', undefined, auth);
    await page.getByTestId('setting-rate.global').fill('-5');
    await page.getByTestId('apply-config').click();
    const slot = page.locator('[data-error-for="rate.global"]');
    await slot.filter({ hasText: /rate\.global/ }).waitFor();
    const message = (await slot.textContent()) ?? '';
    const api = await http<{ error: { message: string } }>(stack.api, 'PATCH', '/config', { 'rate.global': -5 }, auth);
    assert.equal(api.status, 400);
    assert.equal(message, api.body.error.message, 'the message is the API\'s own');
    const after = await http<{ version: number }>(stack.api, 'GET', '/config', undefined, auth);
    assert.equal(after.body.version, before.body.version);
  });

  it('cancels a running session from its page, after asking', async () => {
    assert.ok(stack && site);
    site.latencyMs = 500;
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [`${origin}/`], maxPages: PAGES, label: 'to cancel' }, auth);
    assert.equal(created.status, 201, created.text);
    const id = created.body.id;
    await page.goto(`${stack.api}/#/sessions/${id}`);
    await page.getByTestId('status').filter({ hasText: 'running' }).waitFor();
    page.once('dialog', (d) => void d.accept());
    await page.getByTestId('cancel').click();
    await page.getByTestId('status').filter({ hasText: 'cancelled' }).waitFor();
    const s = await http<{ status: string }>(stack.api, 'GET', `/sessions/${id}`, undefined, auth);
    assert.equal(s.body.status, 'cancelled');
    await page.getByTestId('cancel').waitFor({ state: 'detached' });
    site.latencyMs = 0;
  });
});
