/**
 * Safety end to end: the five services as real processes crawl a hostile site (test/sites/
 * adversarial.ts) on 127.0.0.2 with only 127.0.0.2 and 127.0.0.3 allowed. Every hazard ends
 * with its recorded reason within its bound; no connection ever reaches 127.0.0.1 (a
 * ConnectionCounter listens there, under every loopback form the site links to); memory
 * stays bounded; a normal site on 127.0.0.3 is crawled at full speed meanwhile; spider traps
 * are refused and counted per reason.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { Redis } from 'ioredis';
import { redisKeys } from '../../shared/redis/keys.js';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { AdversarialSite, CHARSET_PAGES, ConnectionCounter, ssrfLiteralLinks } from '../sites/adversarial.js';
import { GeneratedSite } from '../sites/generated.js';
import { http, REDIS_URL, startTestStack, waitFor, type TestStack } from '../support/stack.js';

interface SessionJson {
  id: string;
  status: string;
  counts: Record<string, number>;
  traps: Record<string, number>;
  handedOverAt: string | null;
}

const MB = 1024 * 1024;
/** Timeouts of the stack under test: small, so the slow hazards give up quickly. */
const HEADERS_TIMEOUT_MS = 1500;
const TOTAL_TIMEOUT_MS = 3000;
const MAX_BYTES = 4 * MB;
const MAX_PARSE_MS = 1000;

async function startSession(stack: TestStack, body: Record<string, unknown>): Promise<string> {
  const created = await http<SessionJson>(stack.api, 'POST', '/sessions', body);
  assert.equal(created.status, 201, created.text);
  return created.body.id;
}

async function finished(stack: TestStack, id: string, timeoutMs = 60_000): Promise<SessionJson> {
  return waitFor(
    async () => {
      const s = (await http<SessionJson>(stack.api, 'GET', `/sessions/${id}`)).body;
      return s.status !== 'running' && s.handedOverAt ? s : null;
    },
    { timeoutMs, intervalMs: 100, what: `session ${id} to finish` },
  );
}

async function results(stack: TestStack, id: string): Promise<ResultRecord[]> {
  const res = await http(stack.api, 'GET', `/sessions/${id}/results`);
  return res.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord);
}

/** Peak VmRSS (bytes) of a process, sampled every 50 ms until stopped. */
function rssSampler(pid: number): { stop: () => number } {
  let peak = 0;
  const sample = (): void => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) * 1024);
    } catch {
      // the process is gone: the peak so far stands
    }
  };
  sample();
  const timer = setInterval(sample, 50);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

describe('safety against a hostile site (five processes, 127.0.0.1 forbidden)', function () {
  this.timeout(90_000);
  const counter = new ConnectionCounter();
  let site: AdversarialSite;
  const normal = new GeneratedSite({ pages: 1500, seed: 21, linksPerPage: 6, pageBytes: 2000, latencyMs: 10 });
  let stack: TestStack;
  let redis: Redis;
  /** When each request target first reached the hostile site. */
  const arrived = new Map<string, number>();
  let siteHost: string;
  let baselinePagesPerS = 0;
  let baselineCount = 0;

  before(async () => {
    const loopbackPort = await counter.start('127.0.0.1');
    site = new AdversarialSite({ host: '127.0.0.2', loopbackPort });
    siteHost = new URL(await site.start()).host;
    (site as unknown as { server: Server }).server.on('request', (req: { url?: string }) => {
      if (req.url && !arrived.has(req.url)) arrived.set(req.url, Date.now());
    });
    await normal.start('127.0.0.3');
    redis = new Redis(REDIS_URL);
    stack = await startTestStack({
      fetchers: 1,
      env: {
        FETCH_ALLOWED_NETWORKS: '127.0.0.2/32,127.0.0.3/32',
        FETCH_CONNECT_TIMEOUT_MS: '1500',
        FETCH_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
        FETCH_BODY_IDLE_TIMEOUT_MS: '1500',
        FETCH_TOTAL_TIMEOUT_MS: String(TOTAL_TIMEOUT_MS),
        FETCH_MAX_BYTES: String(MAX_BYTES),
        FETCH_MAX_REDIRECTS: '8',
        RETRY_MAX_ATTEMPTS: '1',
        EXTRACT_MAX_PARSE_MS: String(MAX_PARSE_MS),
      },
    });
  });

  after(async () => {
    redis?.disconnect();
    await stack?.stop();
    await site?.stop();
    await normal.stop();
    await counter.stop();
  });

  /** Crawls the normal site in its own session; resolves to its pages per second. */
  async function crawlNormal(): Promise<{ pagesPerS: number; records: ResultRecord[] }> {
    const started = Date.now();
    const id = await startSession(stack, { seeds: [normal.homeUrl], maxDepth: 3 });
    const s = await finished(stack, id);
    const ms = Date.now() - started;
    assert.equal(s.status, 'completed');
    const records = await results(stack, id);
    return { pagesPerS: records.length / (ms / 1000), records };
  }

  it('crawls the normal site alone (the baseline pages/s)', async () => {
    const { pagesPerS, records } = await crawlNormal();
    assert.ok(records.length > 100, `${records.length} records`);
    baselinePagesPerS = pagesPerS;
    baselineCount = records.length;
  });

  it('ends every hazard with its reason, fast and memory-bounded, and keeps crawling the normal site at full speed', async () => {
    const fetcherPid = stack.supervisor.pid('fetcher.1');
    assert.ok(fetcherPid);
    const rss = rssSampler(fetcherPid);
    const bytesBefore = site.stats.bytesSent;
    const started = Date.now();
    const hazardId = await startSession(stack, {
      seeds: [`${site.origin}/`],
      maxDepth: 2,
      // Every form the hostile links use, so the SSRF guard (not the scope) is what stops them.
      allowedHosts: [siteHost, '127.0.0.1', 'localhost', '0.0.0.0', '[::1]', '[::ffff:7f00:1]', '169.254.169.254'],
    });
    // Watch records arrive, to time each hazard from its request to its record.
    const seenAt = new Map<string, number>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const r of await results(stack, hazardId)) if (!seenAt.has(r.url)) seenAt.set(r.url, Date.now());
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const normalRun = crawlNormal();
    const hazards = await finished(stack, hazardId);
    const normalResult = await normalRun;
    watching = false;
    await watcher;
    const peakRss = rss.stop();
    const elapsed = Date.now() - started;
    const records = await results(stack, hazardId);
    for (const r of records) if (!seenAt.has(r.url)) seenAt.set(r.url, Date.now());
    const byUrl = new Map(records.map((r) => [r.url, r]));
    const rec = (path: string): ResultRecord => {
      const r = byUrl.get(`${site.origin}${path}`);
      assert.ok(r, `a record for ${path}; got ${[...byUrl.keys()].join(' ')}`);
      return r;
    };
    const giveUpMs = (path: string): number => (seenAt.get(`${site.origin}${path}`) ?? 0) - (arrived.get(path) ?? 0);

    // Exactly one record per admitted URL, and the session completed.
    assert.equal(hazards.status, 'completed');
    assert.equal(new Set(records.map((r) => r.url)).size, records.length, 'no URL twice');
    assert.equal(records.length, hazards.counts.admitted);

    // Timeouts: the total deadline and the headers timeout, one attempt each.
    const expect: [string, string, string | null, number][] = [
      ['/slow-drip', 'failed', 'timeout', TOTAL_TIMEOUT_MS + 2500],
      ['/never-headers', 'failed', 'timeout', HEADERS_TIMEOUT_MS + 2500],
      // Size caps on the wire and after decompression.
      ['/huge', 'failed', 'too_large', 5000],
      ['/huge-declared', 'failed', 'too_large', 5000],
      ['/gzip-bomb', 'failed', 'too_large', 3000],
      ['/br-bomb', 'failed', 'too_large', 3000],
      ['/stacked-encodings', 'failed', 'protocol_error', 3000],
      // Redirect loops and chains past fetch.maxRedirects.
      ['/redirect-loop/a', 'failed', 'too_many_redirects', 3000],
      ['/chain/0', 'failed', 'too_many_redirects', 3000],
      // Redirects to forbidden addresses (in scope on purpose): the guard stops them.
      ['/to-loopback', 'failed', 'blocked_address', 3000],
      ['/to-metadata', 'failed', 'blocked_address', 3000],
      // Pathological HTML: parsed or failed with a reason, within the parse bound.
      ['/broken/nested', 'failed', 'parse_timeout', MAX_PARSE_MS + 4000],
      ['/broken/nul', 'delivered', null, 3000],
      ['/broken/unclosed', 'delivered', null, 3000],
      // Not HTML: recorded unparsed.
      ['/image.png', 'delivered', null, 3000],
    ];
    const report: Record<string, unknown>[] = [];
    for (const [path, outcome, reason, boundMs] of expect) {
      const r = rec(path);
      const ms = giveUpMs(path);
      report.push({ path, outcome: r.outcome, reason: r.reason, ms });
      assert.equal(r.outcome, outcome, `${path}: ${r.error}`);
      assert.equal(r.reason, reason, `${path}: ${r.error}`);
      assert.ok(ms >= 0 && ms < boundMs, `${path} gave up after ${ms} ms (bound ${boundMs})`);
    }
    assert.equal(rec('/image.png').contentType, 'image/png');
    assert.equal(rec('/broken/nul').title, 'Nul\ufffdTitle');
    const unclosed = rec('/broken/unclosed').links;
    assert.ok(Array.isArray(unclosed) ? unclosed.length >= 4 : unclosed >= 4);

    // Charsets end to end: titles right, the one link of each page followed.
    for (const p of Object.values(CHARSET_PAGES)) {
      const r = rec(p.path);
      assert.equal(r.outcome, 'delivered');
      assert.equal(r.title, p.title, p.path);
      assert.equal(rec(p.link).outcome, 'delivered', `${p.link} followed from ${p.path}`);
    }

    // SSRF: every literal form of loopback, IPv6 and metadata fails blocked_address, and not
    // one connection reached 127.0.0.1.
    const literal = new Set<string>();
    for (const href of ssrfLiteralLinks(site.loopbackPort)) literal.add(new URL(href).href);
    const blocked = records.filter((r) => r.parent !== null && r.depth === 2 && !r.url.startsWith(site.origin));
    assert.ok(blocked.length >= 8, `the literal links were admitted: ${blocked.map((r) => r.url).join(' ')}`);
    for (const r of blocked) {
      assert.equal(r.outcome, 'failed', r.url);
      assert.equal(r.reason, 'blocked_address', `${r.url}: ${r.error}`);
    }
    for (const form of ['http://127.0.0.1/', `http://127.0.0.1:${site.loopbackPort}/`, 'http://[::1]/', 'http://169.254.169.254/', `http://localhost:${site.loopbackPort}/`, `http://0.0.0.0:${site.loopbackPort}/`, `http://[::ffff:7f00:1]:${site.loopbackPort}/`]) {
      assert.equal(byUrl.get(form)?.reason, 'blocked_address', `${form} (the normalized form of the obfuscated links)`);
    }
    assert.ok(!byUrl.has('http://2130706433/') && !byUrl.has('http://0x7f.1/'), 'obfuscated forms are normalized to 127.0.0.1');
    assert.equal(counter.accepted, 0, 'no connection was ever opened to 127.0.0.1');

    // Bounded bytes and memory: 200 MiB bodies and 50 MiB bombs cost a few MiB each.
    const bytesSent = site.stats.bytesSent - bytesBefore;
    assert.ok(bytesSent < 40 * MB, `the hostile site wrote ${(bytesSent / MB).toFixed(1)} MiB`);
    assert.ok(peakRss < 400 * MB, `fetcher peak RSS ${(peakRss / MB).toFixed(0)} MiB`);

    // The normal site went on at full speed while the hazards were pending.
    assert.equal(normalResult.records.length, baselineCount, 'the same pages as alone');
    assert.ok(
      normalResult.pagesPerS >= 0.5 * baselinePagesPerS,
      `normal site ${normalResult.pagesPerS.toFixed(0)} pages/s with hazards vs ${baselinePagesPerS.toFixed(0)} alone`,
    );
    console.log(`      hazards: ${JSON.stringify(report)}\n      ${records.length} records in ${elapsed} ms; bytes sent ${(bytesSent / MB).toFixed(1)} MiB; fetcher peak RSS ${(peakRss / MB).toFixed(0)} MiB; normal site ${normalResult.pagesPerS.toFixed(0)} vs ${baselinePagesPerS.toFixed(0)} pages/s`);
  });

  it('refuses spider traps by rule, counts them per reason in the session, and applies maxPagesPerHost live', async () => {
    const id = await startSession(stack, {
      seeds: [`${site.origin}/a/`, `${site.origin}/session/s1/page?sid=abc`, `${site.origin}/session/s1/page;jsessionid=XYZ`],
      maxDepth: 6,
    });
    const done = await finished(stack, id);
    const records = await results(stack, id);
    const urls = records.map((r) => r.url);
    // /a/ → /a/a/ → /a/a/a/; /a/a/a/a/ repeats a segment a fourth time.
    assert.ok(urls.includes(`${site.origin}/a/a/a/`) && !urls.includes(`${site.origin}/a/a/a/a/`), urls.join(' '));
    // Session ids stripped: the two seeds are one page, and its sid/PHPSESSID/jsessionid/utm
    // links are that page again; only the fresh session paths are new.
    assert.equal(urls.filter((u) => u.startsWith(`${site.origin}/session/s1/`)).length, 1);
    assert.ok(!urls.some((u) => /sid=|jsessionid|utm_/i.test(u)), urls.join(' '));
    const h = await redis.hgetall(redisKeys(stack.ns).session(id).session);
    assert.ok(Number(h['trap:repeated_segments']) >= 1, JSON.stringify(h));
    assert.equal(done.traps.repeated_segments, Number(h['trap:repeated_segments']), 'GET /sessions/:id shows the counters');
    assert.equal(done.traps.host_pages, 0);

    // The calendar is endless: a live per-host cap stops it.
    const patched = await http(stack.api, 'PATCH', '/config', { traps: { maxPagesPerHost: 5 } });
    assert.equal(patched.status, 200, patched.text);
    try {
      await new Promise((r) => setTimeout(r, 1200));
      const cal = await startSession(stack, { seeds: [`${site.origin}/calendar/2024/06`], maxDepth: 50 });
      const s = await finished(stack, cal);
      assert.equal(s.counts.admitted, 6, 'the seed + 5 links of the host');
      const hc = await redis.hgetall(redisKeys(stack.ns).session(cal).session);
      assert.ok(Number(hc['trap:host_pages']) >= 1, JSON.stringify(hc));
      assert.equal(s.traps.host_pages, Number(hc['trap:host_pages']));
    } finally {
      await http(stack.api, 'PATCH', '/config', { traps: { maxPagesPerHost: 0 } });
    }
  });
});
