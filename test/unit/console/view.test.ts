/** The console's pure view logic (console/src/lib/view.ts) and its safe Markdown (markdown.ts). */
import assert from 'node:assert/strict';
import type { Session, SessionCounts } from '../../../console/src/lib/api.js';
import { renderMarkdown } from '../../../console/src/lib/markdown.js';
import { chartPoints, configPatch, crawlRequest, filterSessions, formatAge, RateTracker, shares, valueLike, type CrawlForm } from '../../../console/src/lib/view.js';

const EMPTY_FORM: CrawlForm = { seeds: '', label: '', maxPages: '', maxDepth: '', timeoutMs: '', allowedHosts: '', include: '', exclude: '', fields: '', formats: [] };

function counts(c: Partial<SessionCounts>): SessionCounts {
  return { admitted: 0, fetched: 0, delivered: 0, failed: 0, skipped: 0, cancelled: 0, supplements: 0, ...c };
}

function session(id: string, status: Session['status'], label: string | null): Session {
  return { id, status, createdAt: '', deadlineAt: '', finishedAt: null, counts: counts({}), seedsFailed: 0, traps: {}, spec: { seeds: [], label, maxPages: 1, maxDepth: 1, timeoutMs: 1000 } };
}

describe('console view logic', () => {
  it('builds POST /sessions from the form: lines, numbers, fields; empty inputs left to the API\'s defaults', () => {
    assert.deepEqual(crawlRequest({ ...EMPTY_FORM, seeds: ' http://a/ \n\nhttp://b/\n' }), { seeds: ['http://a/', 'http://b/'] });
    assert.deepEqual(crawlRequest({
      seeds: 'http://a/', label: ' shop ', maxPages: '50', maxDepth: '2', timeoutMs: '60000',
      allowedHosts: 'a\nb', include: '/p/', exclude: '', fields: 'price=.price\nname = h1 > span', formats: ['markdown', 'links'],
    }), {
      seeds: ['http://a/'], label: 'shop', maxPages: 50, maxDepth: 2, timeoutMs: 60000,
      allowedHosts: ['a', 'b'], include: ['/p/'], fields: { price: '.price', name: 'h1 > span' }, formats: ['markdown', 'links'],
    });
  });

  it('sends what is not a number as typed, so the API names the field', () => {
    assert.deepEqual(crawlRequest({ ...EMPTY_FORM, seeds: 'http://a/', maxPages: 'ten', fields: 'title' }), { seeds: ['http://a/'], maxPages: 'ten', fields: { title: '' } });
  });

  it('gives each outcome its share of the admitted URLs', () => {
    assert.deepEqual(shares(counts({ admitted: 200, delivered: 100, failed: 20, skipped: 10, cancelled: 0 })), { delivered: 50, failed: 10, skipped: 5, cancelled: 0 });
    assert.deepEqual(shares(counts({})), { delivered: 0, failed: 0, skipped: 0, cancelled: 0 });
  });

  it('measures pages/s from successive polls and keeps a bounded series', () => {
    const t = new RateTracker(3);
    assert.equal(t.sample('s', 0, 1000), null);
    assert.equal(t.sample('s', 30, 3000), 15);
    assert.equal(t.sample('s', 30, 4000), 0);
    t.sample('s', 40, 5000);
    t.sample('s', 60, 6000);
    assert.deepEqual(t.points('s').map((p) => p.pagesPerSecond), [0, 10, 20]);
    assert.equal(t.rate('s'), 20);
    assert.equal(t.mean('s'), 10);
    assert.equal(t.mean('other'), null);
    assert.equal(t.rate('other'), null);
    // A sample that is not later than the last one adds nothing.
    t.sample('s', 100, 6000);
    assert.equal(t.points('s').length, 3);
  });

  it('scales a series into the chart', () => {
    assert.deepEqual(chartPoints([], 100, 50), { points: '', max: 0 });
    const c = chartPoints([{ at: 0, pagesPerSecond: 0 }, { at: 10, pagesPerSecond: 4 }, { at: 20, pagesPerSecond: 2 }], 100, 50);
    assert.equal(c.max, 4);
    assert.equal(c.points, '0.0,50.0 50.0,0.0 100.0,25.0');
  });

  it('filters sessions by status and label', () => {
    const list = [session('a', 'running', 'Shop crawl'), session('b', 'completed', 'shop'), session('c', 'running', null)];
    assert.deepEqual(filterSessions(list, { status: '', label: '' }).map((s) => s.id), ['a', 'b', 'c']);
    assert.deepEqual(filterSessions(list, { status: 'running', label: '' }).map((s) => s.id), ['a', 'c']);
    assert.deepEqual(filterSessions(list, { status: '', label: 'SHOP' }).map((s) => s.id), ['a', 'b']);
    assert.deepEqual(filterSessions(list, { status: 'completed', label: 'crawl' }).map((s) => s.id), []);
  });

  it('formats ages in one or two units', () => {
    assert.deepEqual([0, 42_000, 185_000, 3_600_000, 7_800_000, 90_000_000, 172_800_000].map(formatAge), ['0 s', '42 s', '3 min 5 s', '1 h', '2 h 10 min', '1 d 1 h', '2 d']);
  });

  it('turns edited settings into PATCH /config with values of their type; unchanged ones left out', () => {
    const current = { 'rate.global': 0, 'rate.perHost': 2, 'rate.hosts': ['a.test=1'], 'log.pretty': false };
    assert.deepEqual(configPatch(current, { 'rate.global': '12.5', 'rate.perHost': '2', 'rate.hosts': 'a.test=1, b.test=3', 'log.pretty': 'false' }), {
      'rate.global': 12.5,
      'rate.hosts': ['a.test=1', 'b.test=3'],
    });
    assert.equal(valueLike(0, '-5'), -5);
    assert.equal(valueLike(0, 'fast'), 'fast', 'not a number: sent as typed for the API to refuse');
    assert.deepEqual(valueLike([], ''), []);
    assert.equal(valueLike(false, 'true'), true);
  });

  it('renders Markdown without raw HTML or script links', () => {
    const html = renderMarkdown('# Title\n\n<script>alert(1)</script> <img src=x onerror=alert(2)>\n\n[x](javascript:alert(3)) [ok](http://127.0.0.1/p)');
    assert.match(html, /<h1>Title<\/h1>/);
    assert.ok(!html.includes('<script'), html);
    assert.ok(!html.includes('<img'), html);
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.ok(!/href="javascript:/i.test(html), html);
    assert.match(html, /<a href="http:\/\/127\.0\.0\.1\/p" target="_blank" rel="noopener noreferrer nofollow">ok<\/a>/);
  });
});
