/**
 * Session deadlines with real processes: when a tenth of the pages are slow, the session goes
 * partial on time and hands over what it has; each late page then arrives exactly once as a
 * supplement (results stream and webhook), and the session closes when nothing is left.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { signBody } from '../../services/delivery/handover.js';
import { GeneratedSite } from '../sites/generated.js';
import { http, startTestStack, waitFor, type TestStack } from '../support/stack.js';

interface Hook {
  at: number;
  body: { event: string; session?: { status: string; counts: Record<string, number> }; record?: ResultRecord; records?: number };
  verified: boolean;
}

describe('session deadline: partial delivery and supplements', function () {
  this.timeout(60_000);
  const SECRET = 'webhook-secret-for-tests';
  const SLOW_MS = 3500;
  const site = new GeneratedSite({ pages: 400, seed: 11, linksPerPage: 6 });
  const hooks: Hook[] = [];
  let receiver: Server;
  let hookUrl: string;
  let stack: TestStack;

  before(async () => {
    // Every tenth page answers after SLOW_MS, well past the session's deadline.
    site.latencyFor = (path) => (/^\/p\/\d*3\.html$/.test(path) ? SLOW_MS : null);
    await site.start();
    receiver = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      req.on('end', () => {
        const ts = Number(req.headers['x-crawlfleet-timestamp']);
        const verified = req.headers['x-crawlfleet-signature'] === signBody(SECRET, raw, ts);
        hooks.push({ at: Date.now(), body: JSON.parse(raw) as Hook['body'], verified });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    stack = await startTestStack({ fetchers: 2, env: { CLEANER_INTERVAL_MS: '200', WEBHOOK_SECRET: SECRET, FETCH_CONCURRENCY: '16' } });
  });

  after(async () => {
    await stack?.stop();
    await site.stop();
    receiver?.close();
  });

  it('goes partial at the deadline, then delivers each late page once as a supplement', async () => {
    const TIMEOUT = 2000;
    const created = await http<{ id: string; deadlineAt: string }>(stack.api, 'POST', '/sessions', { seeds: [site.homeUrl], timeoutMs: TIMEOUT, webhook: hookUrl });
    assert.equal(created.status, 201, created.text);
    const id = created.body.id;
    const deadline = Date.parse(created.body.deadlineAt);

    // Partial on time: within the deadline plus one cleaner interval and a little slack.
    const partial = await waitFor(async () => hooks.find((h) => h.body.event === 'session.partial'), { timeoutMs: 10_000, intervalMs: 20, what: 'the session.partial webhook' });
    const view = (await http<{ partialAt: string; handedOverAt: string }>(stack.api, 'GET', `/sessions/${id}`)).body;
    const handedOver = Date.parse((partial.body.session as unknown as { handedOverAt: string }).handedOverAt);
    const timing = { partialAt: Date.parse(view.partialAt) - deadline, handedOver: handedOver - deadline, webhook: partial.at - deadline };
    assert.ok(timing.partialAt < 1000 && timing.webhook < 1500, `partial on time: ${JSON.stringify(timing)} ms after the deadline`);
    assert.ok(partial.verified, 'webhook signature verifies');
    const atPartial = partial.body.session!;
    assert.equal(atPartial.status, 'partial');
    const partialFile = (await http<{ resultsFile: string }>(stack.api, 'GET', `/sessions/${id}`)).body.resultsFile;
    assert.ok(partialFile && existsSync(partialFile));
    const partialRecords = readFileSync(partialFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ResultRecord);
    assert.ok(partialRecords.length > 0 && partialRecords.every((r) => !r.supplement), 'the partial hand-over holds what was there, no supplements');
    assert.equal(partialRecords.length, partial.body.records, 'the partial event counts the records handed over');

    // Late pages arrive afterwards; the session closes when nothing is left.
    const closed = await waitFor(async () => hooks.find((h) => h.body.event === 'session.closed'), { timeoutMs: 20_000, intervalMs: 50, what: 'the session.closed webhook' });
    assert.ok(closed.verified);
    const res = await http(stack.api, 'GET', `/sessions/${id}/results`);
    const records = res.text.trim().split('\n').map((l) => JSON.parse(l) as ResultRecord);
    const urls = records.map((r) => r.url);
    assert.equal(new Set(urls).size, urls.length, 'no URL twice');
    const supplements = records.filter((r) => r.supplement);
    assert.ok(supplements.length > 0, 'late pages delivered as supplements');
    // Slow pages cannot answer before the deadline: each one is a supplement. (Fast pages that
    // waited for a fetch slot held by a slow one may be late too: also supplements.)
    const slow = records.filter((r) => /\/p\/\d*3\.html$/.test(r.url));
    assert.ok(slow.length > 0);
    assert.deepEqual(slow.filter((r) => !r.supplement).map((r) => r.url), [], 'every slow page arrives as a supplement');
    // The partial hand-over plus the supplements are the whole result, each URL once.
    assert.equal(partialRecords.length + supplements.length, records.length);
    assert.deepEqual(new Set([...partialRecords.map((r) => r.url), ...supplements.map((r) => r.url)]), new Set(urls));
    // Webhook jobs run concurrently: the last supplements may land after session.closed.
    const supplementHooks = (): string[] => hooks.filter((h) => h.body.event === 'session.supplement').map((h) => h.body.record!.url);
    await waitFor(async () => supplementHooks().length >= supplements.length, { timeoutMs: 10_000, what: `${supplements.length} supplement webhooks (got ${supplementHooks().length})` });
    await new Promise((r) => setTimeout(r, 300)); // and no more than that
    const hookedSupplements = supplementHooks();
    assert.deepEqual([...hookedSupplements].sort(), supplements.map((r) => r.url).sort(), 'one supplement webhook per late page');
    assert.equal(hookedSupplements.length, supplements.length, 'each supplement webhook once');
    assert.ok(hooks.every((h) => h.verified), 'every webhook signed');
    // Everything admitted is terminal, counted once.
    const s = (await http<{ status: string; counts: Record<string, number> }>(stack.api, 'GET', `/sessions/${id}`)).body;
    assert.equal(s.status, 'closed');
    const c = s.counts;
    assert.equal(c.delivered! + c.failed! + c.skipped! + c.cancelled!, c.admitted);
    assert.equal(c.supplements, supplements.length);
    assert.equal(records.length, c.delivered! + c.failed!);
    // The final file holds the supplements too.
    const finalFile = readFileSync(partialFile, 'utf8').trim().split('\n');
    assert.equal(finalFile.length, records.length);
  });
});
