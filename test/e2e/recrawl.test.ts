/**
 * Incremental crawls end to end (the five services as real processes, a local site that
 * counts its requests and answers conditional requests):
 * - a second session with recrawl.maxAgeMs makes no request for the pages the first one
 *   fetched (they end skipped(fresh)), yet with a larger maxDepth reaches the deeper pages
 *   through their links from the first crawl;
 * - a third with recrawl.conditional gets 304s for the unchanged pages and a 200 for the
 *   changed one, reaches the page linked only from the changed one, and `changed` is right for
 *   each record; GET /sessions/:id counts fresh, notModified, changed and new; GET /urls
 *   answers the index's entry, 404 for a URL never fetched;
 * - a schedule every 2 s starts sessions until it is deleted.
 * The oracle checks the invariants of every session.
 */
import assert from 'node:assert/strict';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { RevisitSite } from '../sites/revisits.js';
import { checkInvariants, waitFinished } from '../support/oracle.js';
import { http, startTestStack, waitFor, type TestStack } from '../support/stack.js';

interface SessionBody {
  id: string;
  status: string;
  counts: Record<string, number>;
  recrawl: Record<'fresh' | 'notModified' | 'changed' | 'new', number>;
}

describe('recrawls and schedules (five processes, counting site)', function () {
  this.timeout(180_000);
  let site: RevisitSite;
  let stack: TestStack;
  let o: string;

  before(async () => {
    site = new RevisitSite('127.0.0.1', {
      '/': { title: 'home', links: ['/a', '/b'] },
      '/a': { title: 'a', links: ['/a/deep'] },
      '/b': { title: 'b', links: ['/b/deep'] },
      '/a/deep': { title: 'a deep', links: ['/a/deeper'] },
      '/b/deep': { title: 'b deep', links: [] },
      '/a/deeper': { title: 'a deeper', links: [] },
    });
    o = await site.start();
    stack = await startTestStack({ fetchers: 1, env: { RETRY_MAX_ATTEMPTS: '1' } });
  });

  after(async () => {
    await stack?.stop();
    await site?.stop();
  });

  async function crawl(body: Record<string, unknown>, expected: string[]): Promise<{ session: SessionBody; byUrl: Map<string, ResultRecord> }> {
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', body);
    assert.equal(created.status, 201, created.text);
    const id = created.body.id;
    const s = await waitFinished(stack.api, id, 90_000);
    assert.equal(s.status, 'completed');
    await checkInvariants(stack.api, stack.ns, id, new Set(expected.map((p) => `${o}${p}`)));
    const res = await http(stack.api, 'GET', `/sessions/${id}/results`);
    const records = res.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord);
    const session = await http<SessionBody>(stack.api, 'GET', `/sessions/${id}`);
    return { session: session.body, byUrl: new Map(records.map((r) => [new URL(r.url).pathname, r])) };
  }

  it('skips what a session fetched recently (no request) and reaches deeper pages through its links', async () => {
    const first = await crawl({ seeds: [`${o}/`], maxDepth: 1 }, ['/', '/a', '/b']);
    assert.deepEqual([site.count('/'), site.count('/a'), site.count('/b'), site.count('/a/deep')], [1, 1, 1, 0]);
    for (const r of first.byUrl.values()) assert.equal(r.changed, null, `${r.url}: never seen before`);
    assert.deepEqual(first.session.recrawl, { fresh: 0, notModified: 0, changed: 0, new: 3 });

    const index = await http<{ status: number; sessionId: string; etag: string | null; contentHash: string }>(stack.api, 'GET', `/urls?url=${encodeURIComponent(`${o}/a`)}`);
    assert.equal(index.status, 200, index.text);
    assert.equal(index.body.status, 200);
    assert.equal(index.body.sessionId, first.session.id);
    assert.match(index.body.etag ?? '', /^"[0-9a-f]{12}"$/);
    assert.match(index.body.contentHash, /^sha256:[0-9a-f]{12}$/);
    assert.equal((await http(stack.api, 'GET', `/urls?url=${encodeURIComponent(`${o}/a/deep`)}`)).status, 404, 'never fetched');

    site.reset();
    const second = await crawl({ seeds: [`${o}/`], maxDepth: 2, recrawl: { maxAgeMs: 3_600_000 } }, ['/', '/a', '/b', '/a/deep', '/b/deep']);
    assert.equal(site.count('/') + site.count('/a') + site.count('/b'), 0, `requests for pages the first session fetched: ${JSON.stringify([...site.requests])}`);
    assert.deepEqual([site.count('/a/deep'), site.count('/b/deep'), site.count('/a/deeper')], [1, 1, 0]);
    for (const p of ['/', '/a', '/b']) {
      const r = second.byUrl.get(p);
      assert.deepEqual([r?.outcome, r?.reason], ['skipped', 'fresh'], p);
      assert.ok(r?.lastFetchedAt && Date.parse(r.lastFetchedAt) > 0, `${p} lastFetchedAt`);
    }
    for (const p of ['/a/deep', '/b/deep']) assert.deepEqual([second.byUrl.get(p)?.outcome, second.byUrl.get(p)?.changed], ['delivered', null], p);
    assert.deepEqual(second.session.recrawl, { fresh: 3, notModified: 0, changed: 0, new: 2 });
    assert.equal(second.session.counts.fetched, 2, 'fresh pages are not fetched');
  });

  it('revalidates with conditional requests: 304 for unchanged pages, 200 for the changed one, whose new link is followed', async () => {
    // /b changes and links to a page nothing else links to.
    site.setPage('/b', { title: 'b', links: ['/b/deep', '/b/new'], text: 'changed' });
    site.setPage('/b/new', { title: 'b new', links: [] });
    site.reset();
    const third = await crawl({ seeds: [`${o}/`], maxDepth: 3, recrawl: { conditional: true } }, ['/', '/a', '/b', '/a/deep', '/b/deep', '/a/deeper', '/b/new']);
    for (const p of ['/', '/a', '/a/deep', '/b/deep']) {
      const r = third.byUrl.get(p);
      assert.deepEqual([r?.outcome, r?.status, r?.notModified, r?.changed], ['delivered', 304, true, false], p);
    }
    const b = third.byUrl.get('/b');
    assert.deepEqual([b?.outcome, b?.status, b?.notModified, b?.changed], ['delivered', 200, undefined, true]);
    for (const p of ['/b/new', '/a/deeper']) assert.deepEqual([third.byUrl.get(p)?.outcome, third.byUrl.get(p)?.status, third.byUrl.get(p)?.changed], ['delivered', 200, null], p);
    assert.equal(site.statuses.get(304), 4, JSON.stringify([...site.statuses]));
    assert.equal(site.count('/b/new'), 1);
    assert.deepEqual(third.session.recrawl, { fresh: 0, notModified: 4, changed: 1, new: 2 });
    // The index now points at this session's records (a 304 keeps the revalidated body's hash).
    const a = await http<{ status: number; sessionId: string }>(stack.api, 'GET', `/urls?url=${encodeURIComponent(`${o}/a`)}`);
    assert.deepEqual([a.body.status, a.body.sessionId], [304, third.session.id]);
  });

  it('refuses a bad schedule naming the field, runs a good one every 2 s until it is deleted', async () => {
    const bad = await http<{ error: { message: string } }>(stack.api, 'POST', '/schedules', { every: '2 hours', session: { seeds: [`${o}/`] } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /every/);
    const badSession = await http<{ error: { message: string } }>(stack.api, 'POST', '/schedules', { every: '2s', session: { seeds: ['ftp://x/'] } });
    assert.equal(badSession.status, 400);
    assert.match(badSession.body.error.message, /^body\/session\/seeds\/0 /);
    const unknownField = await http<{ error: { message: string } }>(stack.api, 'POST', '/schedules', { every: '2s', session: { seeds: [`${o}/`], maxDepht: 1 } });
    assert.equal(unknownField.status, 400);
    assert.match(unknownField.body.error.message, /session.*maxDepht/);

    const secret = 'schedule-secret-4f9a';
    const created = await http<{ id: string }>(stack.api, 'POST', '/schedules', { every: '2s', session: { seeds: [`${o}/`], maxDepth: 0, label: 'scheduled', recrawl: { conditional: true }, headers: { 'X-Token': secret } } });
    assert.equal(created.status, 201, created.text);
    assert.ok(!created.text.includes(secret) && created.text.includes('X-Token'), 'the answer names the header and hides its value');
    const id = created.body.id;
    interface ScheduleView { id: string; runs: { at: string; sessionId: string | null; error: string | null }[] }
    const runs = await waitFor(async () => {
      const l = await http<{ schedules: ScheduleView[] }>(stack.api, 'GET', '/schedules');
      assert.ok(!l.text.includes(secret), 'GET /schedules hides header values');
      const s = l.body.schedules.find((x) => x.id === id);
      return s && s.runs.filter((r) => r.sessionId).length >= 2 ? s.runs : null;
    }, { timeoutMs: 30_000, intervalMs: 250, what: 'two scheduled runs' });
    const removed = await http(stack.api, 'DELETE', `/schedules/${id}`);
    assert.equal(removed.status, 200, removed.text);
    assert.equal((await http(stack.api, 'DELETE', `/schedules/${id}`)).status, 404);
    const sessionIds = runs.map((r) => r.sessionId).filter((x): x is string => x !== null);
    assert.equal(new Set(sessionIds).size, sessionIds.length, 'one session per tick');
    for (const sid of sessionIds) {
      const s = await http<{ spec: { label: string; recrawl: unknown } }>(stack.api, 'GET', `/sessions/${sid}`);
      assert.deepEqual([s.body.spec.label, s.body.spec.recrawl], ['scheduled', { conditional: true }]);
    }
    // Deleted: no session starts any more.
    const scheduled = async (): Promise<number> => {
      const l = await http<{ sessions: { spec: { label: string | null } }[] }>(stack.api, 'GET', '/sessions?limit=1000');
      return l.body.sessions.filter((s) => s.spec.label === 'scheduled').length;
    };
    const afterDelete = await scheduled();
    await new Promise((r) => setTimeout(r, 5000));
    assert.equal(await scheduled(), afterDelete, 'no session after the delete');
    assert.equal((await http<{ schedules: unknown[] }>(stack.api, 'GET', '/schedules')).body.schedules.length, 0);
    // The started sessions end (the stack removes their keys and BullMQ's with the namespace).
    const all = await http<{ sessions: { id: string; spec: { label: string | null } }[] }>(stack.api, 'GET', '/sessions?limit=1000');
    for (const s of all.body.sessions.filter((x) => x.spec.label === 'scheduled')) await waitFinished(stack.api, s.id, 60_000);
  });
});
