/**
 * Reliability under faults, with real processes, the real broker and Redis: SIGKILL of any
 * service at random moments while the session is also paused and resumed, a cancel amid
 * SIGKILLs, a consumer frozen past its lease, a page that crashes the extractor every time.
 * After each run the oracle checks DESIGN.md §3: every admitted URL terminal exactly once, no
 * URL twice in the output, nothing lost, no work left queued.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GeneratedSite } from '../sites/generated.js';
import { checkInvariants, waitFinished, type OracleReport } from '../support/oracle.js';
import { FAST_RECOVERY, control, kill as killProcess, killAny, sessionProbe, sleep, startCrawl } from '../support/chaos.js';
import { http, startTestStack, waitFor, type TestStack } from '../support/stack.js';

/** Loads the test-only fault injector (test/support/faults/extractor-crash.ts) into the service processes. */
const EXTRACTOR_CRASH_PRELOAD = { NODE_OPTIONS: `--import=${fileURLToPath(new URL('../support/faults/extractor-crash.js', import.meta.url))}` };

describe('chaos: processes killed at random moments', function () {
  this.timeout(300_000);
  const site = new GeneratedSite({ pages: 3000, seed: 21, latencyMs: 15 });
  let stack: TestStack;
  let expected: Set<string>;

  before(async () => {
    await site.start();
    expected = new Set(site.reachable().keys());
    stack = await startTestStack({ fetchers: 2, env: FAST_RECOVERY });
  });
  after(async () => {
    await stack?.stop();
    await site.stop();
  });

  it('loses nothing and duplicates nothing when fetcher, extractor, delivery and controller are SIGKILLed and the session is paused and resumed', async () => {
    // Baseline: the same crawl with no faults.
    const t0 = Date.now();
    const calm = await startCrawl(stack, site.homeUrl);
    await waitFinished(stack.api, calm, 120_000);
    const calmMs = Date.now() - t0;
    const calmReport = await checkInvariants(stack.api, stack.ns, calm, expected);

    const t1 = Date.now();
    const id = await startCrawl(stack, site.homeUrl);
    const victims = ['fetcher.1', 'fetcher.2', 'extractor', 'delivery', 'controller'];
    const kills: string[] = [];
    /** Requests the site saw while the session was paused (after the first second: the fetches on the wire). */
    const pauses: number[] = [];
    // Paused (2.5 s each) when the site has seen this many requests, between the kills.
    const PAUSE_AT = [400, 1200, 2000];
    let done = false;
    const finished = waitFinished(stack.api, id, 240_000).finally(() => (done = true));
    // A SIGKILL every KILL_EVERY terminal pages (read from Redis, which the kills do not touch),
    // so every run gets the same number of faults however fast the machine is.
    const KILL_EVERY = 200;
    const probe = sessionProbe(stack, id);
    let nextKill = KILL_EVERY;
    try {
      while (!done) {
        await sleep(50);
        const terminal = await probe.terminal();
        if (pauses.length < PAUSE_AT.length && site.stats.requests >= (PAUSE_AT[pauses.length] as number) && !done) {
          assert.equal(await control(stack, 'POST', `/sessions/${id}/pause`), 200);
          await sleep(1000);
          const at = site.stats.requests;
          await sleep(1500);
          pauses.push(site.stats.requests - at);
          assert.equal(await control(stack, 'POST', `/sessions/${id}/resume`), 200);
          continue;
        }
        if (terminal < nextKill || done) continue;
        nextKill += KILL_EVERY;
        killAny(stack, victims, kills);
      }
    } finally {
      probe.close();
    }
    const status = await finished;
    const faultyMs = Date.now() - t1;
    assert.equal(status.status, 'completed');
    // Let restarted processes settle before counting queues.
    await waitFor(async () => (await http(stack.api, 'GET', '/readyz')).status === 200, { timeoutMs: 20_000, what: 'controller ready' });
    const report: OracleReport = await checkInvariants(stack.api, stack.ns, id, expected);
    console.log(`      chaos: ${kills.length} SIGKILLs (${kills.join(', ')}), ${pauses.length} pauses (requests while paused: ${pauses.join(', ')})`);
    console.log(`      no faults: ${JSON.stringify(calmReport)} in ${calmMs} ms`);
    console.log(`      with faults: ${JSON.stringify(report)} in ${faultyMs} ms (${(faultyMs / calmMs).toFixed(2)}x)`);
    assert.ok(kills.length >= 8, `enough faults injected (${kills.length})`);
    assert.equal(pauses.length, PAUSE_AT.length, 'every pause and resume injected');
    assert.deepEqual(pauses, PAUSE_AT.map(() => 0), 'no request while paused');
    assert.equal(report.admitted, calmReport.admitted);
  });
});

describe('chaos: a cancel amid SIGKILLs', function () {
  this.timeout(120_000);
  const FETCHERS = 2;
  const site = new GeneratedSite({ pages: 1500, seed: 24, latencyMs: 15 });
  let stack: TestStack;

  before(async () => {
    await site.start();
    stack = await startTestStack({ fetchers: FETCHERS, env: FAST_RECOVERY });
  });
  after(async () => {
    await stack?.stop();
    await site.stop();
  });

  it('ends every URL once and keeps records that agree with the counts when a crawl is cancelled while processes die', async () => {
    const id = await startCrawl(stack, site.homeUrl);
    const probe = sessionProbe(stack, id);
    const terminal = () => probe.terminal();
    const kills: string[] = [];
    const kill = (victim: string) => killProcess(stack, victim, kills);
    let atCancel = 0;
    let after = 0;
    try {
      await waitFor(async () => (await terminal()) >= 150, { timeoutMs: 30_000, intervalMs: 50, what: '150 pages' });
      kill('fetcher.1');
      kill('extractor');
      await waitFor(async () => (await terminal()) >= 300, { timeoutMs: 30_000, intervalMs: 50, what: '300 pages' });
      // The cancel while a fetcher is down (its messages come back to the other one or to it restarted).
      kill('fetcher.2');
      assert.equal(await control(stack, 'DELETE', `/sessions/${id}`), 200);
      atCancel = site.stats.requests;
      kill('delivery');
      await sleep(300);
      kill('fetcher.1');
      kill('controller');
      await sleep(3000);
      after = site.stats.requests - atCancel;
    } finally {
      probe.close();
    }
    // Every task ends (the cleaner ends the rest a lease after the cancel) and the file is written again.
    const done = await waitFor(
      async () => {
        const res = await http<{ status: string; counts: Record<string, number>; resultsFile: string | null }>(stack.api, 'GET', `/sessions/${id}`).catch(() => null);
        if (!res || res.status !== 200) return null;
        const s = res.body;
        const c = s.counts;
        if ((c.delivered ?? 0) + (c.failed ?? 0) + (c.skipped ?? 0) + (c.cancelled ?? 0) !== c.admitted || !s.resultsFile) return null;
        const api = await http(stack.api, 'GET', `/sessions/${id}/results`);
        const lines = (text: string) => text.split('\n').filter((l) => l !== '').length;
        return lines(readFileSync(s.resultsFile, 'utf8')) === lines(api.text) ? s : null;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'every task terminal and the results file rewritten' },
    );
    await waitFor(async () => (await http(stack.api, 'GET', '/readyz').catch(() => null))?.status === 200, { timeoutMs: 20_000, what: 'controller ready' });
    const report = await checkInvariants(stack.api, stack.ns, id, null);
    const res = await http(stack.api, 'GET', `/sessions/${id}/results`);
    const rec = res.text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { url: string; outcome: string });
    const reachable = site.reachable();
    assert.deepEqual(rec.filter((r) => !reachable.has(r.url)).map((r) => r.url), [], 'every record is a URL of the site');
    assert.equal(rec.filter((r) => r.outcome === 'delivered').length, done.counts.delivered, 'delivered records = counts.delivered');
    assert.equal(rec.filter((r) => r.outcome === 'failed').length, done.counts.failed, 'failed records = counts.failed');
    assert.equal(done.status, 'cancelled');
    assert.ok((done.counts.cancelled ?? 0) > 0, `tasks ended cancelled: ${JSON.stringify(done.counts)}`);
    const concurrency = Number(FAST_RECOVERY.FETCH_CONCURRENCY);
    console.log(`      cancel: ${kills.length} SIGKILLs (${kills.join(', ')}); ${atCancel} requests before the cancel, ${after} after; ${JSON.stringify(report)}`);
    assert.ok(after <= FETCHERS * concurrency, `at most the fetches in flight after the cancel (${after})`);
    assert.equal(site.stats.requests - atCancel, after, 'no request later either');
  });
});

describe('chaos: a consumer frozen past its lease', function () {
  this.timeout(120_000);
  const site = new GeneratedSite({ pages: 1500, seed: 22, latencyMs: 20 });
  let stack: TestStack;

  before(async () => {
    await site.start();
    stack = await startTestStack({ fetchers: 2, env: { ...FAST_RECOVERY, TASK_LEASE_MS: '1500' } });
  });
  after(async () => {
    await stack?.stop();
    await site.stop();
  });

  it('re-drives the frozen fetcher\'s tasks and does not count its late results twice', async () => {
    const id = await startCrawl(stack, site.homeUrl);
    await waitFor(async () => site.stats.requests > 100, { timeoutMs: 20_000, what: 'the crawl under way' });
    assert.ok(stack.supervisor.signal('fetcher.1', 'SIGSTOP'));
    await sleep(5000); // > lease + cleaner interval
    assert.ok(stack.supervisor.signal('fetcher.1', 'SIGCONT'));
    const status = await waitFinished(stack.api, id, 90_000);
    assert.equal(status.status, 'completed');
    const report = await checkInvariants(stack.api, stack.ns, id, new Set(site.reachable().keys()));
    const s = (await http<{ cleaner: { redriven: number } }>(stack.api, 'GET', `/sessions/${id}`)).body;
    assert.ok(s.cleaner.redriven > 0, `the cleaner re-drove the frozen fetcher's tasks (${JSON.stringify(s.cleaner)})`);
    assert.equal(report.duplicates, 0);
  });
});

describe('chaos: a poison page', function () {
  this.timeout(120_000);
  const MARKER = 'crawlfleet-poison-marker';
  const site = new GeneratedSite({ pages: 300, seed: 23 });
  let stack: TestStack;

  before(async () => {
    await site.start();
    // The marked page crashes the extractor a dozen times or more (three deliveries of its batch,
    // three of it alone in quarantine, and again for each copy the cleaner re-drives meanwhile):
    // at the supervisor's default 10 s backoff that alone is two minutes, which tests nothing
    // but the backoff.
    stack = await startTestStack({ fetchers: 1, maxRestartDelayMs: 1000, env: { ...FAST_RECOVERY, CRAWLFLEET_TEST_CRASH_MARKER: MARKER, ...EXTRACTOR_CRASH_PRELOAD, AMQP_DELIVERY_LIMIT: '3' } });
  });
  after(async () => {
    await stack?.stop();
    await site.stop();
  });

  it('ends the page that crashes the extractor every time as failed(poison) and holds up nothing else', async () => {
    const poisoned = site.pageUrl(7);
    site.extraHtml = (n) => (n === 7 ? `<p>${MARKER}</p>` : null);
    const id = await startCrawl(stack, site.homeUrl);
    const status = await waitFinished(stack.api, id, 90_000);
    assert.equal(status.status, 'completed');
    // Links of the poisoned page are never followed, so the expected set is unknown here:
    // check the invariants without it, and that every record is a reachable URL.
    const report = await checkInvariants(stack.api, stack.ns, id, null);
    const reachable = site.reachable();
    const res = await http(stack.api, 'GET', `/sessions/${id}/results`);
    const rec = res.text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { url: string; outcome: string; reason: string | null });
    assert.deepEqual(rec.filter((r) => !reachable.has(r.url)), []);
    const bad = rec.filter((r) => r.reason === 'poison');
    assert.deepEqual(bad.map((r) => r.url), [poisoned]);
    assert.equal(bad[0]?.outcome, 'failed');
    assert.ok(report.delivered >= report.admitted - report.failed);
    const crashes = stack.logs.filter((l) => l.includes('fault injection: crashing')).length;
    assert.ok(crashes >= 3, `the extractor crashed on every delivery (${crashes})`);
  });
});
