/**
 * Graceful shutdown with real processes: SIGTERM to each service in the middle of a crawl
 * stops its consumers, drains in-flight work within shutdown.graceMs and exits 0; started
 * again, the crawl completes with nothing lost and nothing twice.
 */
import assert from 'node:assert/strict';
import { GeneratedSite } from '../sites/generated.js';
import { checkInvariants, waitFinished } from '../support/oracle.js';
import { http, startTestStack, waitFor, type TestStack } from '../support/stack.js';

describe('graceful shutdown (SIGTERM)', function () {
  this.timeout(120_000);
  const site = new GeneratedSite({ pages: 1500, seed: 41, latencyMs: 30 });
  let stack: TestStack;

  before(async () => {
    await site.start();
    stack = await startTestStack({ fetchers: 2, env: { SHUTDOWN_GRACE_MS: '5000', FETCH_CONCURRENCY: '16' } });
  });
  after(async () => {
    await stack?.stop();
    await site.stop();
  });

  it('drains and exits 0 within the grace period, and the crawl still completes exactly', async () => {
    const exits = new Map<string, { code: number | null; signal: string | null }>();
    stack.supervisor.on('exit', (label, code, signal) => void exits.set(label, { code, signal }));
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [site.homeUrl], maxPages: 100_000 });
    assert.equal(created.status, 201);
    const id = created.body.id;
    await waitFor(async () => site.stats.requests > 200, { timeoutMs: 30_000, what: 'the crawl under way' });

    for (const label of ['fetcher.1', 'extractor', 'delivery', 'cleaner']) {
      const started = Date.now();
      await stack.supervisor.stop(label); // SIGTERM, SIGKILL only after 10 s
      const took = Date.now() - started;
      assert.deepEqual(exits.get(label), { code: 0, signal: null }, `${label} exits 0 on SIGTERM`);
      assert.ok(took < 8000, `${label} stopped within the grace period (${took} ms)`);
      stack.supervisor.restart(label);
    }
    const s = await waitFinished(stack.api, id, 90_000);
    assert.equal(s.status, 'completed');
    await checkInvariants(stack.api, stack.ns, id, new Set(site.reachable().keys()));
  });
});
