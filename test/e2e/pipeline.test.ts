/**
 * End to end: the five services as real processes (started exactly as the image command
 * does), the real broker and Redis, a generated site of our own. The oracle is the site's
 * own link graph: the delivered set of URLs must equal the set reachable within scope.
 */
import type { DeliverRecord } from '../../shared/tasks/types.js';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Broker } from '../../shared/messaging/broker.js';
import { topology } from '../../shared/messaging/topology.js';
import { createLogger } from '../../shared/observability/log.js';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { GeneratedSite } from '../sites/generated.js';
import { AMQP_URL, http, startTestStack, waitFor, type TestStack } from '../support/stack.js';

interface SessionJson {
  id: string;
  status: string;
  counts: Record<string, number>;
  resultsFile: string | null;
  handedOverAt: string | null;
}

async function crawl(stack: TestStack, body: Record<string, unknown>, timeoutMs = 120_000): Promise<{ session: SessionJson; records: ResultRecord[] }> {
  const created = await http<SessionJson>(stack.api, 'POST', '/sessions', body);
  assert.equal(created.status, 201, created.text);
  const id = created.body.id;
  const session = await waitFor(
    async () => {
      const s = await http<SessionJson>(stack.api, 'GET', `/sessions/${id}`);
      return s.body.status !== 'running' && s.body.handedOverAt ? s.body : null;
    },
    { timeoutMs, intervalMs: 250, what: `session ${id} to finish and be handed over` },
  );
  const res = await http(stack.api, 'GET', `/sessions/${id}/results`);
  assert.equal(res.status, 200);
  const records = res.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord);
  return { session, records };
}

/**
 * `exactDepth`: with a depth limit of 2 every page is first admitted along a shortest path
 * (the seed admits all of depth 1 alone), so depths are exact. Without a limit, parallel
 * fetchers may reach a page first by a longer path: its depth is then at least the shortest.
 */
function assertMatchesOracle(records: ResultRecord[], expected: ReturnType<GeneratedSite['reachable']>, exactDepth: boolean): void {
  const urls = records.map((r) => r.url);
  const dupes = urls.filter((u, i) => urls.indexOf(u) !== i);
  assert.deepEqual(dupes, [], 'no URL twice');
  const missing = [...expected.keys()].filter((u) => !urls.includes(u));
  const extra = urls.filter((u) => !expected.has(u));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, 'delivered set equals the reachable set');
  for (const r of records) {
    const want = expected.get(r.url)!;
    if (exactDepth) assert.equal(r.depth, want.depth, `${r.url} depth`);
    else assert.ok(r.depth >= want.depth, `${r.url} depth ${r.depth} >= shortest ${want.depth}`);
    assert.equal(r.status, want.status, `${r.url} status`);
    assert.equal(r.outcome, want.outcome, `${r.url} outcome`);
    assert.equal(r.reason, want.reason, `${r.url} reason`);
    if (r.outcome === 'failed') assert.match(r.error ?? '', /HTTP \d{3}/, `${r.url} failure message`);
  }
}

describe('crawl end to end (five service processes, real RabbitMQ and Redis)', function () {
  this.timeout(180_000);
  const site = new GeneratedSite({ pages: 3000, seed: 7, linksPerPage: 8, pageBytes: 3000 });
  let stack: TestStack;

  before(async () => {
    await site.start();
    stack = await startTestStack({ fetchers: 2 });
  });

  after(async () => {
    await stack?.stop();
    await site.stop();
  });

  it('delivers exactly the reachable in-scope set, each URL once, failures with their reason', async () => {
    const expected = site.reachable();
    const { session, records } = await crawl(stack, {
      seeds: [site.homeUrl],
      maxPages: 100_000,
      fields: { heading: 'h1.title', price: 'span.price', missing: '.no-such-thing' },
    });
    assert.equal(session.status, 'completed');
    assert.ok(expected.size > 3000, `oracle covers pages plus 404/500/file targets (${expected.size})`);
    assertMatchesOracle(records, expected, false);
    const html = records.filter((r) => expected.get(r.url)!.html);
    assert.ok(html.length >= 3000);
    for (const r of html) {
      assert.equal(r.fields.heading, r.title, `${r.url} heading field`);
      assert.match(r.fields.price ?? '', /\d/);
      assert.equal(r.fields.missing, null);
    }
    const files = records.filter((r) => r.outcome === 'delivered' && !expected.get(r.url)!.html);
    assert.ok(files.length > 0 && files.every((r) => /^(image\/png|application\/pdf)/.test(r.contentType ?? '')), 'non-HTML recorded unparsed');
    const c = session.counts;
    assert.equal(c.admitted, expected.size);
    assert.equal(c.delivered + c.failed + c.skipped + c.cancelled, c.admitted);
    assert.equal(c.failed, records.filter((r) => r.outcome === 'failed').length);
    // The results file holds the same records.
    assert.ok(session.resultsFile && existsSync(session.resultsFile));
    const fileLines = readFileSync(session.resultsFile, 'utf8').trim().split('\n');
    assert.equal(fileLines.length, records.length);
    assert.deepEqual(new Set(fileLines.map((l) => (JSON.parse(l) as ResultRecord).url)), new Set(records.map((r) => r.url)));
  });

  it('respects maxDepth: exactly the pages within two links of the seed', async () => {
    const expected = site.reachable(2);
    const { session, records } = await crawl(stack, { seeds: [site.homeUrl], maxDepth: 2 });
    assert.equal(session.status, 'completed');
    assertMatchesOracle(records, expected, true);
  });

  it('stops admitting at maxPages and still completes', async () => {
    const { session, records } = await crawl(stack, { seeds: [site.homeUrl], maxPages: 100 });
    assert.equal(session.status, 'completed');
    assert.equal(session.counts.admitted, 100);
    assert.equal(records.length, 100);
    assert.equal(new Set(records.map((r) => r.url)).size, 100);
  });

  it('does not append a second record when a delivered message arrives again', async () => {
    const { session, records } = await crawl(stack, { seeds: [site.homeUrl], maxDepth: 1 });
    const first = records[0]!;
    const broker = new Broker({ url: AMQP_URL, name: 'test', heartbeatS: 10, topology: topology(stack.ns), queueType: 'quorum', deliveryLimit: 5, log: createLogger('test', 'silent') });
    await broker.start();
    try {
      const { fingerprint } = await import('../../shared/url/normalize.js');
      const { deliverCodec } = await import('../../shared/tasks/codec.js');
      const msg: DeliverRecord = { kind: 'record', sessionId: session.id, taskId: fingerprint(first.url), record: { ...first, title: 'again' }, children: [] };
      // Twice in one batch, and once more in a message of its own.
      for (const batch of [[msg, msg], [msg]]) {
        const { content, options } = deliverCodec.encode(batch);
        await broker.publish(topology(stack.ns).queue('deliver'), content, options);
      }
      await waitFor(async () => (await broker.withChannel((ch) => ch.checkQueue(topology(stack.ns).queue('deliver')))).messageCount === 0, { timeoutMs: 10_000, what: 'deliver queue drained' });
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await broker.close();
    }
    const after = await http(stack.api, 'GET', `/sessions/${session.id}/results`);
    const lines = after.text.trim().split('\n');
    assert.equal(lines.length, records.length);
    assert.ok(!after.text.includes('"title":"again"'));
  });

  it('cancels a running session: it ends cancelled and takes no more pages', async () => {
    site.latencyMs = 100;
    try {
      const created = await http<SessionJson>(stack.api, 'POST', '/sessions', { seeds: [site.homeUrl] });
      assert.equal(created.status, 201);
      const id = created.body.id;
      await waitFor(
        async () => {
          const c = (await http<SessionJson>(stack.api, 'GET', `/sessions/${id}`)).body.counts;
          return c.admitted - c.delivered - c.failed > 300;
        },
        { timeoutMs: 20_000, what: 'a backlog of 300 queued pages' },
      );
      const cancelled = await http<SessionJson>(stack.api, 'DELETE', `/sessions/${id}`);
      assert.equal(cancelled.status, 200);
      assert.equal(cancelled.body.status, 'cancelled');
      const settled = await waitFor(
        async () => {
          const s = (await http<SessionJson>(stack.api, 'GET', `/sessions/${id}`)).body;
          const c = s.counts;
          return c.delivered + c.failed + c.skipped + c.cancelled === c.admitted && s.handedOverAt ? s : null;
        },
        { timeoutMs: 30_000, what: 'every admitted task terminal after cancel' },
      );
      assert.equal(settled.status, 'cancelled');
      assert.ok((settled.counts.cancelled ?? 0) > 0, 'queued tasks end cancelled');
      assert.ok((settled.counts.delivered ?? 0) < 3000);
    } finally {
      site.latencyMs = 0;
    }
  });
});
