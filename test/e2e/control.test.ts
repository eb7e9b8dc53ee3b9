/**
 * Operator control end to end, two fetcher processes, real broker and Redis, a local site
 * that counts the requests it receives:
 * - cancel (rate.global 2, fetch.concurrency 4): after the cancel answered, the site sees at
 *   most the fetches that were on the wire (at most replicas × concurrency); every task ends
 *   terminal, and counts, the results API, the results file and the session view agree;
 * - pause for 5 s: the site sees no request while paused (but those on the wire at the
 *   pause); resume goes on and completes with exactly the expected set of URLs; the deadline
 *   moved later by the time paused.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { GeneratedSite } from '../sites/generated.js';
import { checkInvariants, waitFinished } from '../support/oracle.js';
import { http, startTestStack, waitFor, type TestStack } from '../support/stack.js';

interface SessionJson {
  id: string;
  status: string;
  deadlineAt: string;
  pausedAt: string | null;
  pausedMs: number;
  counts: Record<string, number>;
  handedOverAt: string | null;
  resultsFile: string | null;
}

const FETCHERS = 2;
const CONCURRENCY = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function session(stack: TestStack, id: string): Promise<SessionJson> {
  const res = await http<SessionJson>(stack.api, 'GET', `/sessions/${id}`);
  assert.equal(res.status, 200, res.text);
  return res.body;
}

async function records(stack: TestStack, id: string): Promise<ResultRecord[]> {
  const res = await http(stack.api, 'GET', `/sessions/${id}/results`);
  assert.equal(res.status, 200);
  return res.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord);
}

const fileRecords = (path: string): ResultRecord[] =>
  readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord);

describe('operator control: cancel, pause, resume (two fetcher processes)', function () {
  this.timeout(120_000);
  let stack: TestStack;

  before(async () => {
    stack = await startTestStack({
      fetchers: FETCHERS,
      env: { RATE_GLOBAL: '2', FETCH_CONCURRENCY: String(CONCURRENCY), TASK_LEASE_MS: '15000', CLEANER_INTERVAL_MS: '500' },
    });
  });
  after(async () => {
    await stack?.stop();
  });

  it('stops fetching at a cancel: only fetches on the wire finish, and counts, results API, file and session agree', async () => {
    const site = new GeneratedSite({ pages: 60, seed: 31, latencyMs: 150 });
    await site.start();
    try {
      const created = await http<SessionJson>(stack.api, 'POST', '/sessions', { seeds: [site.homeUrl], maxPages: 1000 });
      assert.equal(created.status, 201, created.text);
      const id = created.body.id;
      await waitFor(async () => site.stats.requests >= 6, { timeoutMs: 30_000, intervalMs: 20, what: 'a few requests' });
      const inFlightAtCancel = site.stats.inFlight;
      const cancelled = await http<SessionJson>(stack.api, 'DELETE', `/sessions/${id}`);
      assert.equal(cancelled.status, 200, cancelled.text);
      assert.equal(cancelled.body.status, 'cancelled');
      const atCancel = site.stats.requests;
      // Long enough for every claimed, prefetched or delayed task to meet the cancel (rate 2/s
      // would have let about 10 more requests through).
      await sleep(5000);
      const after = site.stats.requests - atCancel;
      console.log(`      cancel: ${atCancel} requests before, ${after} after (${inFlightAtCancel} on the wire at the cancel)`);
      assert.ok(after <= FETCHERS * CONCURRENCY, `at most the fetches in flight after the cancel (${after})`);
      assert.ok(after <= inFlightAtCancel + 1, `requests after the cancel (${after}) are the ones on the wire (${inFlightAtCancel}), give or take one leaving the gate`);

      // The cleaner ends the rest one lease after the cancel and writes the results file again.
      const done = await waitFor(
        async () => {
          const s = await session(stack, id);
          const terminal = s.counts.delivered! + s.counts.failed! + s.counts.skipped! + s.counts.cancelled!;
          if (terminal !== s.counts.admitted || !s.resultsFile) return null;
          const api = await records(stack, id);
          return fileRecords(s.resultsFile).length === api.length ? s : null;
        },
        { timeoutMs: 40_000, intervalMs: 250, what: 'every task terminal and the results file rewritten' },
      );
      assert.equal(site.stats.requests - atCancel, after, 'no request later either');
      assert.equal(done.status, 'cancelled');
      assert.ok(done.counts.cancelled! > 0, `tasks ended cancelled: ${JSON.stringify(done.counts)}`);
      const report = await checkInvariants(stack.api, stack.ns, id, null);
      const api = await records(stack, id);
      const file = fileRecords(done.resultsFile!);
      assert.deepEqual(file.map((r) => r.url).sort(), api.map((r) => r.url).sort(), 'the results file holds what the API returns');
      const by = (o: string) => api.filter((r) => r.outcome === o).length;
      assert.equal(by('delivered'), done.counts.delivered, 'delivered records = counts.delivered');
      assert.equal(by('failed'), done.counts.failed, 'failed records = counts.failed');
      assert.equal(by('cancelled'), 0, 'a cancelled task has no record');
      assert.equal(report.admitted, done.counts.admitted);
      // Nothing delivered was fetched after the cancel was answered but the ones on the wire.
      assert.ok(done.counts.fetched! <= atCancel + after, `fetched ${done.counts.fetched} <= requests ${atCancel + after}`);
    } finally {
      await site.stop();
    }
  });

  it('fetches nothing while paused, then resumes where it stopped and completes exactly, its deadline moved by the pause', async () => {
    const patched = await http(stack.api, 'PATCH', '/config', { rate: { global: 20 } });
    assert.equal(patched.status, 200, patched.text);
    await sleep(1200);
    const site = new GeneratedSite({ pages: 120, seed: 32, latencyMs: 20 });
    await site.start();
    try {
      const expected = new Set(site.reachable().keys());
      const created = await http<SessionJson>(stack.api, 'POST', '/sessions', { seeds: [site.homeUrl], maxPages: 100_000 });
      assert.equal(created.status, 201, created.text);
      const id = created.body.id;
      assert.equal((await http(stack.api, 'POST', `/sessions/${id}/resume`)).status, 409, 'a running session cannot be resumed');
      await waitFor(async () => site.stats.requests >= 15, { timeoutMs: 30_000, intervalMs: 20, what: 'the crawl under way' });
      const before = await session(stack, id);
      const inFlightAtPause = site.stats.inFlight;
      const paused = await http<SessionJson>(stack.api, 'POST', `/sessions/${id}/pause`);
      assert.equal(paused.status, 200, paused.text);
      assert.equal(paused.body.status, 'paused');
      assert.equal((await http(stack.api, 'POST', `/sessions/${id}/pause`)).status, 409, 'paused already');
      assert.equal((await http(stack.api, 'POST', '/sessions/nosuchsession/pause')).status, 404);
      const atPause = site.stats.requests;
      await sleep(1000);
      const onTheWire = site.stats.requests - atPause;
      await sleep(4000);
      const whilePaused = site.stats.requests - atPause - onTheWire;
      console.log(`      pause: ${atPause} requests before, ${onTheWire} in the first second (${inFlightAtPause} on the wire at the pause), ${whilePaused} in the next 4 s`);
      assert.ok(onTheWire <= inFlightAtPause + 1 && onTheWire <= FETCHERS * CONCURRENCY, `only the fetches on the wire at the pause (${onTheWire})`);
      assert.equal(whilePaused, 0, 'no request while paused');
      const mid = await session(stack, id);
      assert.equal(mid.status, 'paused');
      assert.ok(mid.counts.admitted! < expected.size, 'the crawl was not over when paused');

      const resumed = await http<SessionJson>(stack.api, 'POST', `/sessions/${id}/resume`);
      assert.equal(resumed.status, 200, resumed.text);
      assert.equal(resumed.body.status, 'running');
      const moved = Date.parse(resumed.body.deadlineAt) - Date.parse(before.deadlineAt);
      assert.ok(moved >= 5000, `the deadline moved by the time paused (${moved} ms)`);
      assert.equal(resumed.body.pausedMs, moved);
      assert.equal((await http(stack.api, 'POST', `/sessions/${id}/resume`)).status, 409, 'running again');

      const status = await waitFinished(stack.api, id, 60_000);
      assert.equal(status.status, 'completed');
      const report = await checkInvariants(stack.api, stack.ns, id, expected);
      assert.equal(report.records, expected.size);
      // Waiting used no attempt: every page was fetched once.
      const api = await records(stack, id);
      assert.deepEqual(api.filter((r) => r.attempts !== 1 && r.reason !== 'http_server_error').map((r) => [r.url, r.attempts]), []);
    } finally {
      await site.stop();
    }
  });
});
