/**
 * Pages the crawl index stood for (fresh, or a 304): their links come from the last fetch's
 * record, their record says what happened; a parsed page's record keeps its links and says
 * whether it changed.
 */
import assert from 'node:assert/strict';
import { sessionPolicy } from '../../../shared/admission/index.js';
import { loadConfig } from '../../../shared/config/index.js';
import type { IndexEntry } from '../../../shared/crawlindex/entry.js';
import { bareRecord } from '../../../shared/tasks/records.js';
import type { ExtractTask, SessionSpec } from '../../../shared/tasks/types.js';
import { fingerprint } from '../../../shared/url/normalize.js';
import { recordStep, reusedLinks, reusedParse, screenStep } from '../../../services/extractor/steps.js';

const spec: SessionSpec = { seeds: ['http://site.test/'], maxPages: 100, maxDepth: 3, timeoutMs: 60_000, allowedHosts: ['site.test'], include: [], exclude: [], fields: {}, webhook: null, label: null };
const session = sessionPolicy('s2', spec);
const cfg = loadConfig({ env: {}, file: null }).config;
const previous: IndexEntry = { fetchedAt: Date.parse('2026-12-06T09:00:00Z'), status: 200, contentHash: 'sha256:0123456789ab', sessionId: 's1', lastModified: null, etag: '"v1"' };
const ref = { sessionId: 's1', taskId: fingerprint('http://site.test/a'), url: 'http://site.test/a', depth: 1, parent: 'http://site.test/' };
const lastRecord = bareRecord(ref, 'delivered', { status: 200, title: 'A', outlinks: ['http://site.test/a/1', 'http://site.test/a/2'], links: 2 });

function page(over: Partial<ExtractTask>): ExtractTask {
  return { sessionId: 's2', taskId: ref.taskId, url: ref.url, finalUrl: ref.url, depth: 1, attempt: 1, parent: ref.parent, status: 200, contentType: '', headers: {}, fetchedAt: previous.fetchedAt, fetchMs: 0, body: Buffer.alloc(0), ...over };
}

const ok = (n: number) => ({ kind: 'ok' as const, admitted: [...Array(n).keys()], limited: 0, hostLimited: 0, verdicts: 'a'.repeat(n) });

describe('pages the crawl index stood for', () => {
  it('take their links from the last fetch\'s record: outlinks, or the links format\'s list, or none when it is gone', () => {
    assert.deepEqual(reusedLinks(lastRecord), { links: ['http://site.test/a/1', 'http://site.test/a/2'], title: 'A' });
    const withList = bareRecord(ref, 'delivered', { links: [{ url: 'http://site.test/x', text: 'x', rel: null }] });
    assert.deepEqual(reusedLinks(withList).links, ['http://site.test/x']);
    assert.deepEqual(reusedLinks(null), { links: [], title: null });
  });

  it('fresh: skipped(fresh) with lastFetchedAt, not fetched, its links admitted one level deeper', () => {
    const p = page({ reuse: { kind: 'fresh', previous } });
    const s = screenStep(p, reusedParse(lastRecord), session, cfg, () => false);
    assert.deepEqual(s.found.links.map((l) => [l.url, l.depth]), [['http://site.test/a/1', 2], ['http://site.test/a/2', 2]]);
    const out = recordStep(s, ok(2));
    const r = out.record?.record;
    assert.deepEqual([r?.outcome, r?.reason, r?.status, r?.fetchedAt, r?.lastFetchedAt, r?.links, r?.title], ['skipped', 'fresh', null, null, '2026-12-06T09:00:00.000Z', 2, 'A']);
    assert.deepEqual(r?.outlinks, ['http://site.test/a/1', 'http://site.test/a/2']);
    assert.equal(out.children.length, 2);
    assert.deepEqual(out.record?.children, out.children.map((c) => c.taskId));
  });

  it('not modified: delivered 304, notModified, unchanged, the links kept for the next session', () => {
    const p = page({ status: 304, fetchedAt: Date.parse('2026-12-06T10:00:00Z'), reuse: { kind: 'notModified', previous } });
    const r = recordStep(screenStep(p, reusedParse(lastRecord), session, cfg, () => false), ok(2)).record?.record;
    assert.deepEqual([r?.outcome, r?.status, r?.notModified, r?.changed, r?.fetchedAt, r?.lastFetchedAt], ['delivered', 304, true, false, '2026-12-06T10:00:00.000Z', '2026-12-06T09:00:00.000Z']);
    assert.deepEqual(r?.outlinks, ['http://site.test/a/1', 'http://site.test/a/2']);
  });

  it('a parsed page says whether it changed and keeps its links as outlinks', () => {
    const parsed = { title: 'A', fields: {}, links: ['http://site.test/a/1'], canonical: null, charset: 'utf-8', charsetSource: 'default' as const, truncated: false };
    for (const changed of [true, false, null]) {
      const p = page({ body: Buffer.from('<a href="/a/1">x</a>'), contentType: 'text/html', changed });
      const r = recordStep(screenStep(p, parsed, session, cfg, () => false), ok(1)).record?.record;
      assert.equal(r?.changed, changed);
      assert.deepEqual(r?.outlinks, ['http://site.test/a/1']);
    }
    const never = recordStep(screenStep(page({ body: Buffer.from('x'), contentType: 'text/html' }), parsed, session, cfg, () => false), ok(1)).record?.record;
    assert.equal(never?.changed, null, 'a page without the fetcher\'s answer counts as never seen');
  });
});
