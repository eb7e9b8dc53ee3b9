/**
 * Infrastructure faults, on servers of the test's own: the broker stopped and started in the
 * middle of a crawl, and Redis stalled for seconds (DEBUG SLEEP). No service may exit, readiness
 * must report the outage, and the oracle must find nothing lost and nothing twice.
 */
import assert from 'node:assert/strict';
import { GeneratedSite } from '../sites/generated.js';
import { checkInvariants, waitFinished } from '../support/oracle.js';
import { startOwnRabbit, startOwnRedis, type OwnRabbit, type OwnRedis } from '../support/servers.js';
import { http, startTestStack, waitFor, type TestStack } from '../support/stack.js';

const ENV = { TASK_LEASE_MS: '15000', CLEANER_INTERVAL_MS: '500', FETCH_CONCURRENCY: '16', SHUTDOWN_GRACE_MS: '2000' };

function countExits(stack: TestStack): () => string[] {
  const exits: string[] = [];
  stack.supervisor.on('exit', (label, code, signal) => exits.push(`${label}:${code ?? signal}`));
  return () => exits;
}

describe('chaos: the broker restarts in the middle of a crawl', function () {
  this.timeout(240_000);
  const site = new GeneratedSite({ pages: 2000, seed: 31, latencyMs: 3 });
  let rabbit: OwnRabbit;
  let stack: TestStack;

  before(async () => {
    await site.start();
    rabbit = await startOwnRabbit();
    stack = await startTestStack({ fetchers: 2, env: { ...ENV, AMQP_URL: rabbit.url } });
  });
  after(async () => {
    await stack?.stop();
    await rabbit?.stop();
    await site.stop();
  });

  it('reports not ready meanwhile, exits nothing, and completes with nothing lost or twice', async () => {
    const exits = countExits(stack);
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [site.homeUrl], maxPages: 100_000 });
    assert.equal(created.status, 201);
    const id = created.body.id;
    await waitFor(async () => ((await http<{ counts: { delivered: number } }>(stack.api, 'GET', `/sessions/${id}`)).body.counts.delivered ?? 0) > 300, { timeoutMs: 60_000, what: '300 pages delivered' });
    await rabbit.stopApp();
    await waitFor(async () => (await http(stack.api, 'GET', '/readyz')).status === 503, { timeoutMs: 15_000, what: '/readyz to report the outage' });
    await new Promise((r) => setTimeout(r, 4000));
    await rabbit.startApp();
    await waitFor(async () => (await http(stack.api, 'GET', '/readyz')).status === 200, { timeoutMs: 30_000, what: '/readyz to recover' });
    const s = await waitFinished(stack.api, id, 150_000);
    assert.equal(s.status, 'completed');
    const report = await checkInvariants(stack.api, stack.ns, id, new Set(site.reachable().keys()), { amqpUrl: rabbit.url });
    console.log(`      broker restart: ${JSON.stringify(report)}`);
    assert.deepEqual(exits(), [], 'no process exited on a broker outage');
  });
});

describe('chaos: Redis stalls for seconds', function () {
  this.timeout(180_000);
  const site = new GeneratedSite({ pages: 2000, seed: 32, latencyMs: 3 });
  let redis: OwnRedis;
  let stack: TestStack;

  before(async () => {
    await site.start();
    redis = await startOwnRedis();
    stack = await startTestStack({ fetchers: 2, env: { ...ENV, REDIS_URL: redis.url } });
  });
  after(async () => {
    await stack?.stop();
    await redis?.stop();
    await site.stop();
  });

  it('rides out DEBUG SLEEP without losing, duplicating or exiting', async () => {
    const exits = countExits(stack);
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [site.homeUrl], maxPages: 100_000 });
    assert.equal(created.status, 201);
    const id = created.body.id;
    await waitFor(async () => ((await http<{ counts: { delivered: number } }>(stack.api, 'GET', `/sessions/${id}`)).body.counts.delivered ?? 0) > 300, { timeoutMs: 60_000, what: '300 pages delivered' });
    const admin = redis.client();
    try {
      await admin.call('DEBUG', 'SLEEP', '5');
      await new Promise((r) => setTimeout(r, 1000));
      await admin.call('DEBUG', 'SLEEP', '3');
    } finally {
      admin.disconnect();
    }
    const s = await waitFinished(stack.api, id, 150_000);
    assert.equal(s.status, 'completed');
    const report = await checkInvariants(stack.api, stack.ns, id, new Set(site.reachable().keys()), { redisUrl: redis.url });
    console.log(`      redis stall: ${JSON.stringify(report)}`);
    assert.deepEqual(exits(), [], 'no process exited on a Redis stall');
  });
});
