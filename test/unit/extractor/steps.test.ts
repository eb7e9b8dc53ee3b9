/**
 * The extractor's steps, each on its own: parse, screen, admit and record.
 */
import assert from 'node:assert/strict';
import { sessionPolicy } from '../../../shared/admission/index.js';
import { loadConfig } from '../../../shared/config/index.js';
import { CrawlError } from '../../../shared/errors/index.js';
import type { AdmitFoundReply } from '../../../shared/ledger/index.js';
import type { ExtractTask, SessionSpec } from '../../../shared/tasks/types.js';
import { fingerprint } from '../../../shared/url/normalize.js';
import { parsePage, type ParsedPage } from '../../../services/extractor/parse.js';
import type { ParseJob } from '../../../services/extractor/parse-pool.js';
import { admitOptions, admitStep, parseStep, recordStep, screenStep } from '../../../services/extractor/steps.js';

const spec: SessionSpec = { seeds: ['http://site.test/'], maxPages: 100, maxDepth: 2, timeoutMs: 60_000, allowedHosts: ['site.test'], include: [], exclude: [], fields: { h1: 'h1' }, webhook: null, label: null };
const session = sessionPolicy('s', spec);
const cfg = loadConfig({ env: {}, file: null }).config;
const html = '<html><head><title> Hello </title></head><body><h1>Head</h1><a href="/a">a</a><a href="/b?utm_source=x">b</a><a href="http://other.test/">o</a><a href="/a/a/a/a/a">deep</a></body></html>';

function page(over: Partial<ExtractTask> = {}): ExtractTask {
  return { sessionId: 's', taskId: fingerprint('http://site.test/'), url: 'http://site.test/', finalUrl: 'http://site.test/', depth: 0, attempt: 1, status: 200, contentType: 'text/html', headers: {}, fetchedAt: Date.parse('2026-01-01T00:00:00Z'), fetchMs: 5, body: Buffer.from(html), ...over };
}

/** The parse of the pool's inline path, on this thread. */
const inline = async (job: ParseJob): Promise<ParsedPage> => parsePage(job.body, job.contentType, job.pageUrl, job.fields, job.opts);

describe('extractor steps', () => {
  it('parse: title, the session\'s fields and normalized links from one page', async () => {
    const r = await parseStep(page(), session, cfg, inline);
    assert.ok(!('kind' in r));
    if ('kind' in r) return;
    assert.equal(r.title, 'Hello');
    assert.deepEqual(r.fields, { h1: 'Head' });
    assert.deepEqual(r.links, ['http://site.test/a', 'http://site.test/b', 'http://other.test/', 'http://site.test/a/a/a/a/a']);
  });

  it('parse: a page that cannot be parsed becomes its failure record; a closing pool propagates', async () => {
    const failed = await parseStep(page(), session, cfg, async () => { throw new CrawlError('parse_timeout', 'too slow'); });
    assert.ok('kind' in failed);
    if (!('kind' in failed)) return;
    assert.equal(failed.record.outcome, 'failed');
    assert.equal(failed.record.reason, 'parse_timeout');
    assert.equal(failed.record.attempts, 1);
    const odd = await parseStep(page(), session, cfg, async () => { throw new Error('boom'); });
    assert.equal('kind' in odd && odd.record.reason, 'parse_failed');
    await assert.rejects(parseStep(page(), session, cfg, async () => { throw new CrawlError('unavailable', 'pool closed'); }), /pool closed/);
  });

  it('screen: in scope, within the trap rules, one level deeper, minus what the replica knows', async () => {
    const parsed = await parseStep(page(), session, cfg, inline);
    assert.ok(!('kind' in parsed));
    if ('kind' in parsed) return;
    const s = screenStep(page(), parsed, session, cfg, (url) => url === 'http://site.test/b');
    assert.deepEqual(s.found.links.map((l) => [l.url, l.depth, l.host]), [['http://site.test/a', 1, 'site.test']]);
    assert.deepEqual(s.refused, { repeated_segments: 1 });
    assert.equal(s.found.taskId, page().taskId);
  });

  it('screen: what a sitemap lists is seeded at depth 0', async () => {
    const parsed = { title: null, fields: {}, links: ['http://site.test/x'], canonical: null, charset: 'utf-8', charsetSource: 'default' as const, truncated: false };
    const s = screenStep(page({ role: 'sitemap', depth: 0 }), parsed, session, cfg, () => false);
    assert.deepEqual(s.found.links.map((l) => l.depth), [0]);
  });

  it('admit: one call for the session\'s pages with the extractor\'s options', async () => {
    const calls: unknown[][] = [];
    const parsed = { title: null, fields: {}, links: [], canonical: null, charset: 'utf-8', charsetSource: 'default' as const, truncated: false };
    const screened = [screenStep(page(), parsed, session, cfg, () => false), screenStep(page({ taskId: 'other' }), parsed, session, cfg, () => false)];
    await admitStep('s', screened, cfg, async (...args) => {
      calls.push(args);
      return [];
    });
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0], ['s', screened.map((x) => x.found), admitOptions(cfg)]);
  });

  it('record: the admitted links become children named by the record; known ones need no question next time', async () => {
    const parsed = await parseStep(page(), session, cfg, inline);
    if ('kind' in parsed) throw new Error('parsed');
    const s = screenStep(page(), parsed, session, cfg, () => false);
    assert.equal(s.found.links.length, 2);
    const reply: AdmitFoundReply = { kind: 'ok', admitted: [1], limited: 0, hostLimited: 0, verdicts: 'ea' };
    const out = recordStep(s, reply);
    assert.deepEqual(out.children.map((c) => [c.url, c.depth, c.parent]), [['http://site.test/b', 1, 'http://site.test/']]);
    assert.deepEqual(out.record?.children, [fingerprint('http://site.test/b')]);
    assert.equal(out.record?.record.title, 'Hello');
    assert.equal(out.record?.record.links, 4);
    assert.equal(out.record?.record.fetchedAt, '2026-01-01T00:00:00.000Z');
    assert.deepEqual(out.nowKnown.map((l) => l.url), ['http://site.test/a', 'http://site.test/b']);
  });

  it('record: a page the ledger has done already (a duplicate) gives nothing; a closed session keeps the record without children', async () => {
    const parsed = { title: 't', fields: {}, links: [], canonical: null, charset: 'utf-8', charsetSource: 'default' as const, truncated: false };
    const s = screenStep(page(), parsed, session, cfg, () => false);
    assert.deepEqual(recordStep(s, { kind: 'done', state: 'D' }), { children: [], record: null, nowKnown: [] });
    const closed = recordStep(s, { kind: 'closed', status: 'cancelled' });
    assert.deepEqual(closed.children, []);
    assert.equal(closed.record?.record.outcome, 'delivered');
  });
});
