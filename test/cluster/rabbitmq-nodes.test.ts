/**
 * A RabbitMQ cluster of three nodes (test/support/rabbitmq-cluster.ts) under a whole stack whose
 * AMQP_URL lists all three: every quorum queue is replicated on the three nodes, and a crawl
 * goes on while one node is stopped, then another after the first came back: nothing lost,
 * nothing twice (test/support/oracle.ts), the crawl completes, and no process exits.
 */
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topology } from '../../shared/messaging/topology.js';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { GeneratedSite } from '../sites/generated.js';
import { checkInvariants, waitFinished } from '../support/oracle.js';
import { startRabbitCluster, type RabbitCluster } from '../support/rabbitmq-cluster.js';
import { http, startTestStack, waitFor, type TestStack } from '../support/stack.js';

// A global rate keeps the crawl going long enough for two node stops; while a node restarts
// (seconds on an idle machine, a minute on a loaded one) the rate is lowered live, so the crawl
// goes on through the restart and is still running at the second stop.
const FAST = 60;
const SLOW = 3;
const ENV = { TASK_LEASE_MS: '15000', CLEANER_INTERVAL_MS: '500', FETCH_CONCURRENCY: '8', SHUTDOWN_GRACE_MS: '2000', RATE_GLOBAL: String(FAST) };

// While a node stops, the controller answers 503 for a moment (its broker moves to another
// node): both helpers wait that out, bounded.
async function delivered(stack: TestStack, id: string): Promise<number> {
  const got = await waitFor(async () => {
    const res = await http<{ counts?: { delivered?: number } }>(stack.api, 'GET', `/sessions/${id}`);
    return res.status === 200 ? { n: res.body.counts?.delivered ?? 0 } : null;
  }, { timeoutMs: 60_000, intervalMs: 250, what: `session ${id} from the controller` });
  return got.n;
}

async function setRate(stack: TestStack, global: number): Promise<void> {
  let last = '';
  await waitFor(async () => {
    const res = await http(stack.api, 'PATCH', '/config', { rate: { global } });
    last = `${res.status} ${res.text}`;
    return res.status === 200;
  }, { timeoutMs: 60_000, intervalMs: 250, what: `the global rate set to ${global}` }).catch((err: Error) => {
    throw new Error(`${err.message} (last answer: ${last})`);
  });
}

describe('cluster: RabbitMQ nodes stop in the middle of a crawl', function () {
  this.timeout(900_000);
  const site = new GeneratedSite({ pages: 1500, seed: 41, latencyMs: 3 });
  let cluster: RabbitCluster;
  let stack: TestStack;

  before(async () => {
    await site.start();
    cluster = await startRabbitCluster(3);
    console.log(`      three-node RabbitMQ cluster up in ${cluster.startupMs} ms`);
    stack = await startTestStack({ fetchers: 2, env: { ...ENV, AMQP_URL: cluster.url }, readyTimeoutMs: 90_000 });
  });
  let failed = false;
  let sessionId: string | null = null;
  afterEach(async function () {
    if (this.currentTest?.state !== 'failed') return;
    failed = true;
    // A stalled crawl is explained by the services' last words and by what the broker says of its queues.
    if (stack) console.log(stack.logs.slice(-40).join('\n'));
    if (stack && cluster) console.log(await cluster.describe(`${topology(stack.ns).prefix}.`).catch((err: Error) => err.message));
    if (stack) console.log(JSON.stringify((await http(stack.api, 'GET', '/readyz').catch((err: Error) => ({ body: err.message }))).body));
    if (stack && sessionId) console.log(JSON.stringify((await http(stack.api, 'GET', `/sessions/${sessionId}`).catch((err: Error) => ({ body: err.message }))).body));
  });
  after(async () => {
    await stack?.stop();
    const keepLogsIn = failed ? join(tmpdir(), `crawlfleet-rmq-cluster-logs-${Date.now()}`) : undefined;
    await cluster?.close({ keepLogsIn });
    if (keepLogsIn) console.log(`      the nodes' logs are kept in ${keepLogsIn}`);
    await site.stop();
  });

  it('replicates every quorum queue of the namespace on the three nodes', async () => {
    const t = topology(stack.ns);
    const members = await waitFor(async () => {
      const m = await cluster.members(`${t.prefix}.`);
      return m.size === t.allQueues.length ? m : null;
    }, { timeoutMs: 30_000, what: 'the namespace\'s queues on the cluster' });
    const names = cluster.nodes.map((n) => n.name).sort();
    for (const q of t.allQueues) assert.deepEqual([...(members.get(q) ?? [])].sort(), names, `${q} lives on the three nodes`);
  });

  // It stalled in two of three runs before two causes were fixed (issue 14): a channel that
  // first published to a quorum queue while the queue's record still named its leader on the
  // stopped node was refused for good by RabbitMQ 3.10 (the broker now publishes again on a
  // fresh channel: shared/messaging/broker.ts), and a re-driven task whose copy reached a
  // fetcher before the cleaner confirmed it queued was dropped and never ended (the cleaner now
  // makes it P first: shared/redis/lua/expired-leases-2.lua).
  it('loses nothing and delivers nothing twice when one node stops, then another after the first returns', async () => {
    const exits: string[] = [];
    stack.supervisor.on('exit', (label, code, signal) => exits.push(`${label}:${code ?? signal}`));
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [site.homeUrl], maxPages: 100_000 });
    assert.equal(created.status, 201, created.text);
    const id = created.body.id;
    sessionId = id;

    await waitFor(async () => (await delivered(stack, id)) > 200, { timeoutMs: 90_000, what: '200 pages delivered' });
    // The services connect to the first node listed: stopping it moves every connection.
    await cluster.stopNode(0);
    const atFirstStop = await delivered(stack, id);
    await waitFor(async () => (await delivered(stack, id)) > atFirstStop + 100, { timeoutMs: 180_000, what: '100 more pages with node 1 down' });
    await setRate(stack, SLOW);
    const back1 = await cluster.startNode(0);
    console.log(`      node 1 stopped at ${atFirstStop} delivered, restarted in ${back1} ms`);
    await waitFor(async () => (await cluster.running()).length === 3, { timeoutMs: 60_000, what: 'three running nodes' });
    await setRate(stack, FAST);

    // The services moved to node 2 when node 1 went away: stop it now.
    await cluster.stopNode(1);
    const atSecondStop = await delivered(stack, id);
    await waitFor(async () => (await delivered(stack, id)) > atSecondStop + 100, { timeoutMs: 180_000, what: '100 more pages with node 2 down' });
    await setRate(stack, SLOW);
    const back2 = await cluster.startNode(1);
    console.log(`      node 2 stopped at ${atSecondStop} delivered, restarted in ${back2} ms`);
    await setRate(stack, FAST);

    const s = await waitFinished(stack.api, id, 180_000);
    assert.equal(s.status, 'completed');
    assert.ok(atSecondStop < (s.counts.delivered ?? 0), 'the second stop happened in the middle of the crawl');
    const expected = site.reachable();
    const report = await checkInvariants(stack.api, stack.ns, id, new Set(expected.keys()), { amqpUrl: cluster.nodes[0]?.url });
    console.log(`      two node stops: ${JSON.stringify(report)}`);
    // Every URL ended as the site says: a page the broker refused to take from a stage during
    // a node change is not pushed through quarantine to failed(poison). A page may end
    // failed(timeout): attempts are bounded, and on a loaded machine all three can outlive
    // this test's short lease while nodes restart.
    const records = (await http(stack.api, 'GET', `/sessions/${id}/results`)).text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord);
    const wrong = records.filter((r) => r.outcome !== expected.get(r.url)?.outcome && r.reason !== 'timeout').map((r) => `${r.url}: ${r.outcome} ${r.reason ?? ''} ${r.error ?? ''}`);
    assert.deepEqual(wrong, [], 'every URL ended as the site says (or failed(timeout))');
    const timedOut = records.filter((r) => r.reason === 'timeout').length;
    if (timedOut > 0) console.log(`      ${timedOut} pages failed(timeout): every attempt outlived the lease`);
    assert.deepEqual(exits, [], 'no process exited when a node stopped');
  });
});
