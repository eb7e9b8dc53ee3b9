/**
 * Operations end to end: a small crawl through the five service processes, then every
 * process's /healthz, /readyz and /metrics (found from its "<service> started" log line,
 * the worker ports being random), each exposition parsed strictly, and the counters that
 * must have moved checked against the crawl's own results. Also: request logs at debug
 * level after a live log-level change, carrying the caller's request id.
 */
import assert from 'node:assert/strict';
import { parseExposition, samplesOf, sumSamples, type Exposition } from '../../shared/observability/exposition.js';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { GeneratedSite } from '../sites/generated.js';
import { http, startTestStack, waitFor, type TestStack } from '../support/stack.js';

interface LogLine {
  label: string;
  entry: Record<string, unknown>;
}

/** The JSON log lines of the stack (`[label] {...}`). */
function logLines(stack: TestStack): LogLine[] {
  const out: LogLine[] = [];
  for (const line of stack.logs) {
    const m = /^\[([^\]]+)\] (\{.*\})$/.exec(line);
    if (!m) continue;
    try {
      out.push({ label: m[1] as string, entry: JSON.parse(m[2] as string) as Record<string, unknown> });
    } catch {
      /* not JSON */
    }
  }
  return out;
}

/** label → base URL of its HTTP server, from the latest "<service> started" line of each process. */
function serviceAddresses(stack: TestStack): Map<string, string> {
  const out = new Map<string, string>();
  for (const { label, entry } of logLines(stack)) {
    if (typeof entry.address === 'string' && typeof entry.msg === 'string' && / started$/.test(entry.msg)) out.set(label, entry.address);
  }
  return out;
}

const serviceOf = (label: string): string => label.replace(/\.\d+$/, '');

describe('operations end to end: probes, metrics and logs of every service process', function () {
  this.timeout(120_000);
  const site = new GeneratedSite({ pages: 150, seed: 11, linksPerPage: 6, pageBytes: 1500 });
  let stack: TestStack;

  before(async () => {
    await site.start();
    stack = await startTestStack({ fetchers: 2, env: { LOG_LEVEL: 'info' } });
  });

  after(async () => {
    await stack?.stop();
    await site.stop();
  });

  it('every service answers /healthz, /readyz and /metrics, and the counters follow the crawl', async () => {
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [site.homeUrl] });
    assert.equal(created.status, 201, created.text);
    const id = created.body.id;
    const session = await waitFor(async () => {
      const s = await http<{ status: string; handedOverAt: string | null; counts: Record<string, number> }>(stack.api, 'GET', `/sessions/${id}`);
      return s.body.status === 'completed' && s.body.handedOverAt ? s.body : null;
    }, { timeoutMs: 60_000, intervalMs: 250, what: `session ${id} to complete` });
    const records = (await http(stack.api, 'GET', `/sessions/${id}/results`)).text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord);
    assert.equal(records.length, session.counts.admitted);

    const labels = stack.supervisor.labels();
    for (const l of ['controller', 'fetcher.1', 'fetcher.2', 'extractor', 'delivery', 'cleaner']) assert.ok(labels.includes(l), `the stack runs ${l}`);
    const addresses = await waitFor(async () => {
      const a = serviceAddresses(stack);
      return labels.every((l) => a.has(l)) ? a : null;
    }, { timeoutMs: 10_000, what: 'a "started" log line with the address of every process' });
    assert.equal(addresses.get('controller'), stack.api);

    // The controller samples queues every 5 s: wait for a sample taken after the crawl.
    await waitFor(async () => {
      const e = parseExposition((await http(stack.api, 'GET', '/metrics')).text);
      return sumSamples(e, 'crawlfleet_sessions', { status: 'completed' }) >= 1 && sumSamples(e, 'crawlfleet_queue_consumers', { queue: 'fetch' }) === 2;
    }, { timeoutMs: 25_000, intervalMs: 500, what: 'the controller to sample the completed session and the queues' });

    const scraped = new Map<string, Exposition>();
    for (const label of labels) {
      const base = addresses.get(label) as string;
      const health = await http<{ status: string; service: string }>(base, 'GET', '/healthz');
      assert.equal(health.status, 200, `${label} /healthz`);
      assert.deepEqual(health.body, { status: 'ok', service: serviceOf(label) });
      const ready = await http<{ status: string; service: string }>(base, 'GET', '/readyz');
      assert.equal(ready.status, 200, `${label} /readyz`);
      assert.deepEqual(ready.body, { status: 'ready', service: serviceOf(label) });
      const res = await fetch(`${base}/metrics`);
      assert.equal(res.status, 200, `${label} /metrics`);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const exp = parseExposition(await res.text()); // strict: throws on any format error
      scraped.set(label, exp);
      for (const f of exp.values()) for (const s of f.samples) assert.equal(s.labels.service, serviceOf(label), `${label}: ${s.name} carries service="${serviceOf(label)}"`);
      for (const family of ['crawlfleet_messages_total', 'crawlfleet_pages_fetched_total', 'crawlfleet_fetch_seconds', 'crawlfleet_retries_total', 'crawlfleet_dead_letters_total', 'crawlfleet_rate_limit_wait_seconds_total', 'crawlfleet_cleaner_actions_total', 'crawlfleet_queue_depth', 'crawlfleet_sessions']) {
        assert.ok(exp.has(family), `${label} exposes ${family}`);
      }
      assert.ok(sumSamples(exp, 'crawlfleet_process_resident_memory_bytes') > 0, `${label} RSS`);
      assert.ok(sumSamples(exp, 'crawlfleet_process_cpu_seconds_total') > 0, `${label} CPU`);
      assert.equal(samplesOf(exp, 'crawlfleet_config_version').length, 1, `${label} config version`);
    }
    const get = (label: string): Exposition => scraped.get(label) as Exposition;

    // Fetchers: both fetched; together at least one response per record that has a status.
    const withStatus = records.filter((r) => r.status !== null).length;
    let fetched = 0;
    for (const label of ['fetcher.1', 'fetcher.2']) {
      const n = sumSamples(get(label), 'crawlfleet_pages_fetched_total');
      assert.ok(n > 0, `${label} fetched pages (${n})`);
      fetched += n;
      assert.ok(sumSamples(get(label), 'crawlfleet_messages_total', { queue: 'fetch', outcome: 'ack' }) > 0, `${label} acked fetch messages`);
      assert.ok(sumSamples(get(label), 'crawlfleet_fetch_bytes_total') > 0, `${label} bytes`);
      assert.ok(sumSamples(get(label), 'crawlfleet_fetch_seconds_count') > 0, `${label} latency histogram`);
    }
    assert.ok(fetched >= withStatus, `pages fetched ${fetched} >= records with a status ${withStatus}`);
    assert.ok(sumSamples(get('fetcher.1'), 'crawlfleet_pages_fetched_total', { status_class: '2xx' }) + sumSamples(get('fetcher.2'), 'crawlfleet_pages_fetched_total', { status_class: '2xx' }) >= 150);

    // Extractor and delivery: messages on their queues, one record per delivered URL.
    // Messages are batches: count the pages they carried, and that they were acked.
    assert.ok(sumSamples(get('extractor'), 'crawlfleet_messages_total', { queue: 'extract', outcome: 'ack' }) > 0, 'extractor acked its messages');
    assert.ok(sumSamples(get('extractor'), 'crawlfleet_message_items_total', { queue: 'extract' }) >= 150, 'extractor took every page');
    assert.equal(sumSamples(get('delivery'), 'crawlfleet_records_total'), records.length, 'delivery counted each record once');
    assert.equal(sumSamples(get('delivery'), 'crawlfleet_records_total', { outcome: 'failed' }), records.filter((r) => r.outcome === 'failed').length);
    assert.ok(sumSamples(get('delivery'), 'crawlfleet_messages_total', { queue: 'deliver', outcome: 'ack' }) > 0);
    assert.ok(sumSamples(get('delivery'), 'crawlfleet_message_items_total', { queue: 'deliver' }) >= records.length, 'delivery took every record');

    // Controller: sampled queue gauges and session counts, its own request counters.
    const c = get('controller');
    assert.equal(sumSamples(c, 'crawlfleet_queue_consumers', { queue: 'fetch' }), 2);
    assert.equal(sumSamples(c, 'crawlfleet_queue_consumers', { queue: 'extract' }), 1);
    assert.equal(sumSamples(c, 'crawlfleet_queue_consumers', { queue: 'deliver' }), 1);
    assert.equal(sumSamples(c, 'crawlfleet_queue_consumers', { queue: 'dead' }), 1);
    assert.equal(sumSamples(c, 'crawlfleet_queue_depth', { queue: 'fetch' }), 0, 'the fetch queue drained');
    assert.ok(sumSamples(c, 'crawlfleet_sessions', { status: 'completed' }) >= 1);
    assert.equal(sumSamples(c, 'crawlfleet_http_requests_total', { method: 'POST', route: '/sessions', status_code: '201' }), 1);
    assert.ok(sumSamples(c, 'crawlfleet_http_requests_total', { method: 'GET', route: '/sessions/:id', status_code: '200' }) >= 1, 'routes are labelled by template, not by raw path');

    // Every replica applies the same config version.
    assert.equal(new Set(labels.map((l) => sumSamples(get(l), 'crawlfleet_config_version'))).size, 1);

    // Structured logs carry the service and the session id.
    assert.ok(logLines(stack).some(({ label, entry }) => label === 'delivery' && entry.service === 'delivery' && entry.sessionId === id && entry.msg === 'session handed over'));

    // /stats sees the same cluster.
    const stats = await http<{ queues: { fetch: { consumers: number } }; sessions: { completed: number } }>(stack.api, 'GET', '/stats');
    assert.equal(stats.status, 200);
    assert.equal(stats.body.queues.fetch.consumers, 2);
    assert.ok(stats.body.sessions.completed >= 1);
  });

  it('logs each API request at debug level with its request id once log.level is debug (live)', async () => {
    const before = await http(stack.api, 'GET', '/healthz', undefined, { 'x-request-id': 'e2e-info-level' });
    assert.equal(before.status, 200);
    const set = await http(stack.api, 'PATCH', '/config', { log: { level: 'debug' } });
    assert.equal(set.status, 200, set.text);
    try {
      await waitFor(async () => logLines(stack).some(({ label, entry }) => label === 'controller' && entry.msg === 'configuration applied'), { timeoutMs: 5000, what: 'the controller to apply the change' });
      await waitFor(async () => {
        await http(stack.api, 'GET', '/sessions?limit=1', undefined, { 'x-request-id': 'e2e-ops-request' });
        return logLines(stack).find(({ label, entry }) => label === 'controller' && entry.requestId === 'e2e-ops-request');
      }, { timeoutMs: 5000, intervalMs: 200, what: 'a debug request line' });
      const line = logLines(stack).find(({ label, entry }) => label === 'controller' && entry.requestId === 'e2e-ops-request')?.entry ?? {};
      assert.equal(line.level, 'debug');
      assert.equal(line.msg, 'request');
      assert.equal(line.service, 'controller');
      assert.equal(line.method, 'GET');
      assert.equal(line.url, '/sessions?limit=1');
      assert.equal(line.route, '/sessions');
      assert.equal(line.statusCode, 200);
      assert.equal(typeof line.ms, 'number');
      assert.ok(!logLines(stack).some(({ entry }) => entry.requestId === 'e2e-info-level'), 'no request line at info level');
    } finally {
      await http(stack.api, 'PATCH', '/config', { log: { level: 'info' } });
    }
  });
});
