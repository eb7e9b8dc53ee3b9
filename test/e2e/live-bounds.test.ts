/**
 * No accepted setting can stall the fleet. Against a running stack (real processes), every
 * live setting of the schema is driven through boundary values with PATCH /config: 0, -1,
 * its maximum, maximum + 1, 1e9, a string and null. Each is either refused with 400 naming
 * the setting, or applied (200). After each setting's sweep it is reset and a tiny crawl of
 * a local site completes, so no value that was accepted left the fleet unable to crawl.
 * Also the regression of issue 19: fetch.concurrency 1e9 is refused, and a large accepted
 * value keeps every fetcher consuming.
 */
import assert from 'node:assert/strict';
import { schemaEntries } from '../../shared/config/index.js';
import { formatBounds } from '../../shared/config/formats.js';
import { GeneratedSite } from '../sites/generated.js';
import { http, startTestStack, waitFor, type TestStack } from '../support/stack.js';

const FETCHERS = 2;

/** `{ a: { b: value } }` from `a.b`, as a user writes a change. */
function nested(key: string, value: unknown): Record<string, unknown> {
  return key.split('.').reduceRight<unknown>((acc, part) => ({ [part]: acc }), value) as Record<string, unknown>;
}

interface StatsJson {
  queues: { fetch: { consumers: number } };
}

describe('live settings within bounds (whole stack)', function () {
  this.timeout(240_000);
  const site = new GeneratedSite({ pages: 3, seed: 19, linksPerPage: 2, externalLinks: false, brokenRatio: 0, errorRatio: 0, fileRatio: 0 });
  let stack: TestStack;

  before(async () => {
    await site.start();
    stack = await startTestStack({ fetchers: FETCHERS, env: { API_RATE_LIMIT_PER_MINUTE: '0', LOG_LEVEL: 'warn' } });
  });
  after(async () => {
    await stack?.stop();
    await site.stop();
  });

  async function crawlCompletes(label: string): Promise<void> {
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [site.homeUrl], maxPages: 3 });
    assert.equal(created.status, 201, `${label}: ${created.text}`);
    const s = await waitFor(async () => {
      const r = await http<{ status: string; counts: Record<string, number> }>(stack.api, 'GET', `/sessions/${created.body.id}`);
      return r.body.status !== 'running' ? r.body : null;
    }, { timeoutMs: 20_000, intervalMs: 100, what: `the crawl after ${label} to finish` });
    assert.equal(s.status, 'completed', `${label}: ${JSON.stringify(s)}`);
  }

  async function patch(key: string, value: unknown): Promise<{ status: number; message: string; version: number }> {
    const res = await http<{ version: number; error?: { code: string; message: string } }>(stack.api, 'PATCH', '/config', nested(key, value));
    return { status: res.status, message: res.body.error?.message ?? '', version: res.body.version };
  }

  /** Waits until the controller itself applies `version` (PATCH answers once it is stored; replicas follow by push). */
  async function applied(version: number): Promise<void> {
    await waitFor(async () => {
      const m = /^crawlfleet_config_version(?:\{[^}]*\})? (\d+)$/m.exec((await http(stack.api, 'GET', '/metrics')).text);
      return m !== null && Number(m[1]) >= version;
    }, { timeoutMs: 5000, intervalMs: 20, what: `the controller to apply version ${version}` });
  }

  it('refuses fetch.concurrency 1e9 and keeps fetchers consuming at a large accepted value', async () => {
    const refused = await patch('fetch.concurrency', 1e9);
    assert.equal(refused.status, 400);
    assert.match(refused.message, /^fetch\.concurrency: .*65535/);

    const large = Math.floor(65_535 / 2);
    const set = await patch('fetch.concurrency', large);
    assert.equal(set.status, 200);
    await applied(set.version);
    // Every fetcher applied it and still consumes (stats are sampled once a second).
    await new Promise((r) => setTimeout(r, 2500));
    const stats = await http<StatsJson>(stack.api, 'GET', '/stats');
    assert.equal(stats.body.queues.fetch.consumers, FETCHERS, JSON.stringify(stats.body.queues.fetch));
    await crawlCompletes(`fetch.concurrency = ${large}`);
    assert.equal((await patch('fetch.concurrency', null)).status, 200);
  });

  it('drives every live setting through boundary values: each refused with 400 naming it, or applied; a crawl completes after each', async () => {
    const live = schemaEntries().filter((e) => e.live);
    assert.ok(live.length > 40, `${live.length} live settings`);
    const table: { key: string; applied: string[]; refused: string[] }[] = [];
    for (const e of live) {
      const bounds = formatBounds(e.format);
      const max = bounds?.max;
      const values: unknown[] = [0, -1, ...(max !== undefined ? [max, max + 1] : []), 1e9, 'abc', null];
      const row = { key: e.key, applied: [] as string[], refused: [] as string[] };
      let version = 0;
      for (const value of values) {
        const res = await patch(e.key, value);
        if (res.status === 200) version = res.version;
        const shown = JSON.stringify(value);
        if (res.status === 200) {
          row.applied.push(shown);
        } else {
          assert.equal(res.status, 400, `${e.key} = ${shown}: ${res.status} ${res.message}`);
          assert.ok(res.message.startsWith(`${e.key}: `), `${e.key} = ${shown}: the message names the setting: ${res.message}`);
          row.refused.push(shown);
        }
      }
      if (bounds) {
        assert.ok(row.refused.includes(JSON.stringify(bounds.max + 1)) && row.refused.includes('-1') && row.refused.includes('"abc"'), `${e.key}: max + 1, -1 and a string are refused: ${JSON.stringify(row)}`);
        assert.ok(bounds.max >= 1e9 || row.refused.includes('1000000000'), `${e.key}: 1e9 is refused: ${JSON.stringify(row)}`);
      }
      // null removed the override: the setting is back to its default (or the stack's env).
      await applied(version);
      await crawlCompletes(`the sweep of ${e.key}`);
      table.push(row);
    }
    const ready = await http(stack.api, 'GET', '/readyz');
    assert.equal(ready.status, 200, ready.text);
    const failedApply = stack.logs.filter((l) => l.includes('could not be applied'));
    assert.deepEqual(failedApply, [], 'every accepted change applied on every replica');
    if (process.env.CRAWLFLEET_TEST_LOGS) for (const r of table) process.stderr.write(`${r.key}: applied ${r.applied.join(' ')} | refused ${r.refused.join(' ')}\n`);
  });
});
