/**
 * Upgrade in place: the previous release (test/support/previous-release.ts, built from git)
 * runs a crawl in a namespace and is stopped half-way, with tasks on its queues (the previous
 * layout, `<ns>.fetch` ...) and leases held; this release then starts on the same namespace,
 * Redis and results store. Its cleaner drains the old queues into the new layout and removes
 * them; the crawl completes with every URL terminal and none twice.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { oldQueues } from '../../shared/messaging/migrate.js';
import { PREVIOUS_TOPOLOGY_VERSION, topology } from '../../shared/messaging/topology.js';
import { GeneratedSite } from '../sites/generated.js';
import { checkInvariants, waitFinished } from '../support/oracle.js';
import { previousRelease } from '../support/previous-release.js';
import { AMQP_URL, cleanupNamespace, http, startTestStack, testNamespace, waitFor, type TestStack } from '../support/stack.js';

// The global rate keeps work queued when the old release stops; long waits go to delay queues.
const ENV = { TASK_LEASE_MS: '15000', CLEANER_INTERVAL_MS: '500', FETCH_CONCURRENCY: '8', SHUTDOWN_GRACE_MS: '2000', RATE_GLOBAL: '40', POLITENESS_MAX_WAIT_MS: '300' };

/** Messages on those of `names` that exist (the previous layout has no queue for a stage added since, such as document or render). */
async function queueMessages(names: readonly string[]): Promise<number> {
  const conn = await amqp.connect(AMQP_URL);
  try {
    let n = 0;
    for (const q of names) {
      // A 404 closes the channel: one channel per check, its error expected.
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      try {
        n += (await ch.checkQueue(q)).messageCount;
        await ch.close();
      } catch {
        // absent
      }
    }
    return n;
  } finally {
    await conn.close();
  }
}

describe('cluster: upgrade in place from the previous release', function () {
  this.timeout(600_000);
  const site = new GeneratedSite({ pages: 1200, seed: 43, latencyMs: 3 });
  const ns = testNamespace('u');
  const resultsDir = mkdtempSync(join(tmpdir(), 'crawlfleet-upgrade-'));
  let prevRoot: string;
  let old: TestStack | null = null;
  let next: TestStack | null = null;

  before(async () => {
    const t0 = Date.now();
    prevRoot = await previousRelease();
    console.log(`      previous release ready in ${Date.now() - t0} ms (${prevRoot})`);
    await site.start();
  });
  after(async () => {
    await old?.stop();
    await next?.stop();
    await cleanupNamespace(ns);
    rmSync(resultsDir, { recursive: true, force: true });
    await site.stop();
  });

  it('drains the previous layout\'s queues into the new one, removes them, and completes with nothing lost or twice', async () => {
    const before = topology(ns, PREVIOUS_TOPOLOGY_VERSION);
    old = await startTestStack({ ns, resultsDir, release: prevRoot, fetchers: 2, env: ENV, readyTimeoutMs: 90_000 });
    const created = await http<{ id: string }>(old.api, 'POST', '/sessions', { seeds: [site.homeUrl], maxPages: 100_000 });
    assert.equal(created.status, 201, created.text);
    const id = created.body.id;
    await waitFor(async () => ((await http<{ counts: { delivered?: number } }>(old!.api, 'GET', `/sessions/${id}`)).body.counts.delivered ?? 0) > 150, { timeoutMs: 120_000, what: '150 pages delivered by the previous release' });
    await old.stop();
    old = null;
    const left = await queueMessages(before.allQueues);
    console.log(`      the previous release stopped with ${left} messages on its queues`);
    assert.ok(left > 0, 'the previous release left work on its queues');

    next = await startTestStack({ ns, resultsDir, fetchers: 2, env: ENV, readyTimeoutMs: 90_000 });
    const s = await waitFinished(next.api, id, 300_000);
    assert.equal(s.status, 'completed');
    const report = await checkInvariants(next.api, ns, id, new Set(site.reachable().keys()));
    console.log(`      upgrade: ${JSON.stringify(report)}`);
    const conn = await amqp.connect(AMQP_URL);
    try {
      await waitFor(async () => (await oldQueues(conn, topology(ns))).length === 0, { timeoutMs: 30_000, what: 'the previous layout\'s queues to be removed' });
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      await assert.rejects(ch.checkExchange(before.delayExchange), 'the previous delay exchange is removed');
    } finally {
      await conn.close().catch(() => undefined);
    }
  });
});
