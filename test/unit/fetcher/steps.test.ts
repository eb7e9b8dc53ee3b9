/**
 * The fetcher's steps, each on its own: preflight, robots, gate, fetch and route answer the
 * verdict the handler acts on.
 */
import assert from 'node:assert/strict';
import { sessionPolicy } from '../../../shared/admission/index.js';
import { loadConfig, type Config } from '../../../shared/config/index.js';
import { CrawlError } from '../../../shared/errors/index.js';
import type { FetchResponse } from '../../../shared/fetch/seam.js';
import { AddressPolicy } from '../../../shared/net/ssrf.js';
import { ReplicaRate } from '../../../shared/ratelimit.js';
import type { SessionSpec } from '../../../shared/tasks/types.js';
import { preflight } from '../../../services/fetcher/http.js';
import { fetchStep, gateStep, hostLimits, preflightStep, robotsStep, routeStep, type FetchJob, type GateDeps } from '../../../services/fetcher/steps.js';

const spec: SessionSpec = { seeds: ['http://site.test/'], maxPages: 10, maxDepth: 3, timeoutMs: 60_000, allowedHosts: ['site.test'], include: [], exclude: [], fields: {}, webhook: null, label: null };
const cfg = (env: Record<string, string> = {}): Config => loadConfig({ env, file: null }).config;

function job(url = 'http://site.test/a', role?: 'robots' | 'sitemap', documents?: SessionSpec['documents']): FetchJob {
  return {
    task: { sessionId: 's', taskId: 't', url, depth: 1, attempt: 0, admittedAt: 0, parent: 'http://site.test/', ...(role ? { role } : {}) },
    attempt: 1,
    session: sessionPolicy('s', documents ? { ...spec, documents } : spec),
    target: new URL(url),
    crawlDelayS: null,
  };
}

function response(status: number, headers: Record<string, string> = {}, body = '<html></html>'): FetchResponse {
  // Bodies are byte strings: one character, one byte.
  return { status, finalUrl: 'http://site.test/a', headers, body: Buffer.from(body, 'latin1'), redirects: 0, ms: 12.4, truncated: false };
}

const guard = { preflight: (u: URL) => preflight(u, new AddressPolicy([])) };

describe('fetcher steps', () => {
  describe('preflight', () => {
    it('lets an http URL of a host name through', () => {
      assert.deepEqual(preflightStep(job(), guard), { kind: 'next' });
    });
    it('fails a forbidden IP literal and a scheme that is not fetched, without a connection', () => {
      for (const [url, code] of [['http://127.0.0.1/', 'blocked_address'], ['http://169.254.169.254/latest', 'blocked_address'], ['ftp://site.test/x', 'bad_url']] as const) {
        const v = preflightStep(job(url), guard);
        assert.equal(v.kind, 'fail', url);
        assert.equal(v.kind === 'fail' && v.error.code, code, url);
      }
    });
  });

  describe('robots', () => {
    const allowed = async () => ({ allowed: true as const, crawlDelayS: 2 });
    const refused = async () => ({ allowed: false as const, error: new CrawlError('robots', 'disallowed by robots.txt') });
    it('goes on when allowed and keeps the host\'s Crawl-delay', async () => {
      const j = job();
      assert.deepEqual(await robotsStep(j, true, allowed), { kind: 'next' });
      assert.equal(j.crawlDelayS, 2);
    });
    it('ends a disallowed URL skipped(robots) with its attempt', async () => {
      const v = await robotsStep(job(), true, refused);
      assert.equal(v.kind, 'record');
      assert.equal(v.kind === 'record' && v.record.outcome, 'skipped');
      assert.equal(v.kind === 'record' && v.record.reason, 'robots');
      assert.equal(v.kind === 'record' && v.record.attempts, 1);
    });
    it('never asks for robots.txt itself, nor when robots.obey is off', async () => {
      let asked = 0;
      const count = async () => {
        asked++;
        return refused();
      };
      assert.deepEqual(await robotsStep(job('http://site.test/robots.txt', 'robots'), true, count), { kind: 'next' });
      assert.deepEqual(await robotsStep(job(), false, count), { kind: 'next' });
      assert.equal(asked, 0);
    });
    it('lets Redis being away propagate (the message is redelivered) and fails the attempt on other errors', async () => {
      await assert.rejects(robotsStep(job(), true, async () => { throw new CrawlError('unavailable', 'redis down'); }), /redis down/);
      const v = await robotsStep(job(), true, async () => { throw new CrawlError('dns_failed', 'no such host'); });
      assert.equal(v.kind === 'fail' && v.error.code, 'dns_failed');
    });
  });

  describe('gate', () => {
    const deps = (replies: Awaited<ReturnType<GateDeps['tryEnter']>>[], c = cfg()): GateDeps & { slept: number[]; deferred: number[] } => {
      const slept: number[] = [];
      const deferred: number[] = [];
      return {
        slept,
        deferred,
        config: () => c,
        tryEnter: async () => replies.shift() ?? { granted: true, slot: null },
        defer: async (_j, ms) => {
          deferred.push(ms);
          return true;
        },
        sleep: async (ms) => void slept.push(ms),
      };
    };
    it('enters at once when granted, with the slot', async () => {
      const d = deps([{ granted: true, slot: 'abc' }]);
      assert.deepEqual(await gateStep(job(), d), { slot: 'abc' });
      assert.deepEqual(d.slept, []);
    });
    it('waits in place for a short host wait, then enters', async () => {
      const d = deps([{ granted: false, waitMs: 300, reason: 'host' }, { granted: true, slot: null }]);
      assert.deepEqual(await gateStep(job(), d), { slot: null });
      assert.deepEqual(d.slept, [300]);
      assert.deepEqual(d.deferred, []);
    });
    it('hands a long host wait to a delay queue instead of holding the slot', async () => {
      const d = deps([{ granted: false, waitMs: 30_000, reason: 'backoff' }]);
      assert.equal(await gateStep(job(), d), 'deferred');
      assert.deepEqual(d.deferred, [30_000]);
    });
    it('always waits in place for the global rate (nothing else could go either)', async () => {
      const d = deps([{ granted: false, waitMs: 30_000, reason: 'global' }, { granted: true, slot: null }]);
      assert.deepEqual(await gateStep(job(), d), { slot: null });
      assert.deepEqual(d.slept, [1000]);
    });
    it('waits in place for this replica\'s own rate, and takes its token only when the cluster lets the request go', async () => {
      const c = cfg({ RATE_PER_REPLICA: '10' });
      let now = 0;
      const replica = new ReplicaRate(() => now);
      const d = deps([{ granted: false, waitMs: 100, reason: 'global' }, { granted: true, slot: null }, { granted: true, slot: null }], c);
      const sleepy: GateDeps = { ...d, replica, sleep: async (ms) => { d.slept.push(ms); now += ms; } };
      assert.deepEqual(await gateStep(job(), sleepy), { slot: null });
      assert.deepEqual(d.slept, [100], 'the cluster said wait: no replica token was used');
      assert.deepEqual(await gateStep(job(), sleepy), { slot: null });
      // 10/s: the next request is due 100 ms after the first, less the 25 ms tolerance.
      assert.deepEqual(d.slept, [100, 75]);
    });
    it('asks for the limits of the host: per-host rate lowered by Crawl-delay, the concurrency and slot lease', () => {
      const c = cfg({ RATE_PER_HOST: '5', POLITENESS_PER_HOST_CONCURRENCY: '2' });
      assert.deepEqual(hostLimits(c, new URL('http://site.test/'), 2), { global: 0, globalLease: 10, perHost: 0.5, concurrency: 2, slotLeaseMs: c.fetch.totalTimeoutMs + 10_000, backoffHalfLifeMs: c.politeness.backoffHalfLifeMs });
    });
  });

  describe('fetch', () => {
    it('answers the response, or a failed attempt with the catalogue error', async () => {
      const ok = await fetchStep(job(), { fetch: async () => response(200) }, {} as never);
      assert.equal(ok.kind, 'fetched');
      const failed = await fetchStep(job(), { fetch: async () => { throw new CrawlError('timeout', 'slow'); } }, {} as never);
      assert.equal(failed.kind === 'fail' && failed.error.code, 'timeout');
      const odd = await fetchStep(job(), { fetch: async () => { throw new Error('boom'); } }, {} as never);
      assert.equal(odd.kind === 'fail' && odd.error.code, 'internal');
    });
  });

  describe('route', () => {
    const penalized: [string, number, number][] = [];
    const deps = { htmlTypes: ['text/html'], penalize: async (h: string, s: number, r: number) => void penalized.push([h, s, r]), now: () => Date.parse('2026-01-01T00:00:00Z') };
    it('sends HTML to the extractor with the kept headers', async () => {
      const v = await routeStep(job(), response(200, { 'content-type': 'text/html; charset=utf-8', etag: '"x"', 'set-cookie': 'a=b' }), deps);
      assert.equal(v.kind, 'page');
      if (v.kind !== 'page') return;
      assert.deepEqual(v.page.headers, { 'content-type': 'text/html; charset=utf-8', etag: '"x"' });
      assert.equal(v.page.fetchMs, 12);
      assert.equal(v.page.attempt, 1);
      assert.equal(v.page.parent, 'http://site.test/');
    });
    it('ends another type delivered as it is, and a page without a type goes to the extractor', async () => {
      const img = await routeStep(job(), response(200, { 'content-type': 'image/png' }), deps);
      assert.equal(img.kind === 'record' && img.record.outcome, 'delivered');
      assert.equal(img.kind === 'record' && img.record.contentType, 'image/png');
      assert.equal((await routeStep(job(), response(200), deps)).kind, 'page');
    });
    it('follows the bytes when they contradict the type as sent: a page served as octet-stream, a PDF served as HTML, an untyped image', async () => {
      const page = await routeStep(job(), response(200, { 'content-type': 'application/octet-stream' }, '<!DOCTYPE html><html><title>x</title></html>'), deps);
      assert.equal(page.kind, 'page');
      assert.equal(page.kind === 'page' && page.page.detectedType, 'text/html');
      const pdf = await routeStep(job(), response(200, { 'content-type': 'text/html' }, '%PDF-1.7\n%\xe2\xe3\n1 0 obj'), deps);
      assert.equal(pdf.kind === 'document' && pdf.page.detectedType, 'application/pdf');
      assert.equal(pdf.kind === 'document' && pdf.page.contentType, 'text/html');
      const png = await routeStep(job(), response(200, {}, '\x89PNG\r\n\x1a\n\0\0\0\rIHDR'), deps);
      assert.equal(png.kind === 'record' && png.record.detectedType, 'image/png');
      // nosniff: the type as sent stands.
      const declared = await routeStep(job(), response(200, { 'content-type': 'application/octet-stream', 'x-content-type-options': 'nosniff' }, '<html></html>'), deps);
      assert.equal(declared.kind, 'record');
    });
    it('sends the documents a session parses to the document stage, and delivers the others unparsed', async () => {
      const body = '%PDF-1.7\n%\xe2\xe3\n1 0 obj';
      const octet = await routeStep(job(), response(200, { 'content-type': 'application/octet-stream' }, body), deps);
      assert.equal(octet.kind, 'document');
      assert.equal(octet.kind === 'document' && octet.page.detectedType, 'application/pdf');
      const rss = '<?xml version="1.0"?><rss version="2.0"><channel></channel></rss>';
      assert.equal((await routeStep(job(), response(200, { 'content-type': 'application/rss+xml' }, rss), deps)).kind, 'document');
      assert.equal((await routeStep(job(), response(200, { 'content-type': 'application/json' }, '{"a":1}'), deps)).kind, 'document');
      assert.equal((await routeStep(job(), response(200, { 'content-type': 'text/plain' }, 'hello'), deps)).kind, 'document');
      assert.equal((await routeStep(job(), response(200, { 'content-type': 'text/markdown' }, '# hi'), deps)).kind, 'document');
      assert.equal((await routeStep(job(), response(200, { 'content-type': 'text/css' }, 'a{}'), deps)).kind, 'record');
      // A session that parses only feeds: the PDF is delivered as it is, the feed parsed.
      const only = await routeStep(job('http://site.test/a', undefined, ['feeds']), response(200, { 'content-type': 'application/pdf' }, body), deps);
      assert.equal(only.kind === 'record' && only.record.contentType, 'application/pdf');
      assert.equal((await routeStep(job('http://site.test/a', undefined, ['feeds']), response(200, { 'content-type': 'application/rss+xml' }, rss), deps)).kind, 'document');
      assert.equal((await routeStep(job('http://site.test/a', undefined, []), response(200, { 'content-type': 'text/plain' }, 'x'), deps)).kind, 'record');
    });
    it('sends robots.txt and sitemaps to the extractor whatever their type', async () => {
      const v = await routeStep(job('http://site.test/sitemap.xml', 'sitemap'), response(200, { 'content-type': 'application/xml' }), deps);
      assert.equal(v.kind === 'page' && v.page.role, 'sitemap');
    });
    it('fails an HTTP error with its code, and slows a host that answers 429 or 503 down first', async () => {
      penalized.length = 0;
      const v = await routeStep(job(), response(503, { 'retry-after': '7' }), deps);
      assert.equal(v.kind === 'fail' && v.error.code, 'http_server_error');
      assert.deepEqual(penalized, [['site.test', 503, 7000]]);
      const nf = await routeStep(job(), response(404), deps);
      assert.equal(nf.kind === 'fail' && nf.error.code, 'http_client_error');
      assert.equal(penalized.length, 1);
    });
  });
});
