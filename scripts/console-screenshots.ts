/**
 * `npm run console:screenshots`: the screenshots of docs/console.md, taken the way the e2e
 * test drives the console (test/e2e/console.test.ts): a stack with an API token in a test
 * namespace, a generated local site, Debian's Chromium through playwright-core. Writes
 * docs/console/{login,sessions,new-crawl,session,fleet}.png and removes everything it started.
 *
 *   npm run console:screenshots            # needs RabbitMQ, Redis and /usr/bin/chromium
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { packageRoot } from '../shared/paths.js';
import { launchChromium } from '../test/support/browser.js';
import { http, startTestStack, waitFor, type TestStack } from '../test/support/stack.js';
import { GeneratedSite } from '../test/sites/generated.js';

const TOKEN = 'console-screenshots-token';
const OUT = join(packageRoot, 'docs', 'console');
const VIEWPORT = { width: 1280, height: 860 };

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const site = new GeneratedSite({ pages: 400, seed: 5, linksPerPage: 6, externalLinks: false, latencyMs: 40 });
  let stack: TestStack | null = null;
  let browser: Browser | null = null;
  try {
    browser = await launchChromium();
    const origin = await site.start();
    stack = await startTestStack({ fetchers: 2, env: { API_TOKEN: TOKEN }, readyTimeoutMs: 90_000 });
    const auth = { authorization: `Bearer ${TOKEN}` };
    // A finished crawl and a running one (slowed by a rate) fill the lists.
    const done = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [`${origin}/`], maxPages: 60, label: 'docs: small', formats: ['markdown'] }, auth);
    await waitFor(async () => (await http<{ status: string }>(stack!.api, 'GET', `/sessions/${done.body.id}`, undefined, auth)).body.status === 'completed' || null, { timeoutMs: 120_000, what: 'the first crawl to complete' });
    await http(stack.api, 'PATCH', '/config', { 'rate.global': 20 }, { ...auth, 'x-actor': 'docs' });
    const page = await (await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 })).newPage();
    page.setDefaultTimeout(60_000);
    const shot = async (name: string): Promise<void> => {
      await page.screenshot({ path: join(OUT, `${name}.png`) });
      process.stdout.write(`docs/console/${name}.png\n`);
    };

    await page.goto(`${stack.api}/`);
    await page.getByTestId('login-token').fill(TOKEN);
    await shot('login');
    await page.getByTestId('login-submit').click();

    await page.getByTestId('nav-new').click();
    await page.getByTestId('field-seeds').fill(`${origin}/`);
    await page.getByTestId('field-label').fill('docs: running');
    await page.getByTestId('field-maxPages').fill('0');
    await page.getByTestId('submit-crawl').click();
    await page.locator('[data-error-for="maxPages"]').filter({ hasText: 'maxPages' }).waitFor();
    await shot('new-crawl');
    await page.getByTestId('field-maxPages').fill('400');
    await page.getByTestId('submit-crawl').click();
    await page.waitForURL(/#\/sessions\/[a-z0-9-]+$/);
    // A few polls for the pages/s chart.
    await page.getByTestId('result-title').first().waitFor();
    await page.waitForTimeout(9000);
    await shot('session');

    await page.getByTestId('nav-sessions').click();
    await page.getByTestId('session-row').nth(1).waitFor();
    await page.waitForTimeout(3500);
    await shot('sessions');

    await page.getByTestId('nav-fleet').click();
    await page.getByTestId('replica-row').nth(5).waitFor();
    await page.getByTestId('history-row').first().waitFor();
    await page.getByTestId('setting-rate.perHost').fill('-1');
    await page.getByTestId('apply-config').click();
    await page.locator('[data-error-for="rate.perHost"]').filter({ hasText: 'rate.perHost' }).waitFor();
    await shot('fleet');
  } finally {
    await browser?.close().catch(() => undefined);
    await stack?.stop();
    await site.stop();
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`console-screenshots: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
