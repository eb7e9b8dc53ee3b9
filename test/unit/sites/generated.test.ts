/**
 * Tests of the generated test site: determinism, the reachability oracle
 * against what the server actually serves, sizes, statuses, latency, stats and
 * clean shutdown.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GeneratedSite, mixedLatency, type LatencyMix } from '../../sites/generated.js';
import type { GeneratedSiteOptions } from '../../sites/generated.js';

/** Hrefs of the `<a href>` tags of an HTML body. */
function hrefs(html: string): string[] {
  return [...html.matchAll(/<a href="([^"]*)"/g)].map((m) => m[1]!.replace(/&quot;/g, '"').replace(/&amp;/g, '&'));
}

/** Same-origin links of a page, resolved like a crawler would, without fragments. */
function resolvedLinks(html: string, pageUrl: string): Set<string> {
  const origin = new URL(pageUrl).origin;
  const out = new Set<string>();
  for (const href of hrefs(html)) {
    const url = new URL(href, pageUrl);
    if (url.origin !== origin) continue;
    url.hash = '';
    out.add(url.href);
  }
  return out;
}

async function text(url: string, init?: RequestInit): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(url, init);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

/** Starts a site for the duration of a suite. */
function withSite(opts: GeneratedSiteOptions): () => GeneratedSite {
  let site: GeneratedSite | null = null;
  before(async () => {
    site = new GeneratedSite(opts);
    await site.start();
  });
  after(async () => {
    await site?.stop();
  });
  return () => site!;
}

describe('GeneratedSite', function () {
  this.timeout(20000);

  describe('determinism', () => {
    const opts: GeneratedSiteOptions = { pages: 300, seed: 42, pageBytes: 3000 };
    const a = withSite(opts);
    const b = withSite(opts);
    const c = withSite({ ...opts, seed: 43 });

    it('serves identical bodies for the same paths (modulo the origin)', async () => {
      for (const path of ['/', '/p/1.html', '/p/17.html', '/p/299.html', '/nope']) {
        const ra = await text(a().origin + path);
        const rb = await text(b().origin + path);
        assert.equal(ra.status, rb.status);
        assert.equal(ra.body.replaceAll(a().origin, 'ORIGIN'), rb.body.replaceAll(b().origin, 'ORIGIN'), path);
      }
    });

    it('builds identical reachable maps', () => {
      const strip = (site: GeneratedSite): [string, unknown][] =>
        [...site.reachable()].map(([url, v]) => [url.slice(site.origin.length), v]);
      assert.deepEqual(strip(a()), strip(b()));
      assert.notDeepEqual(strip(a()), strip(c()));
    });

    it('gives another site for another seed', async () => {
      const ra = await text(`${a().origin}/p/5.html`);
      const rc = await text(`${c().origin}/p/5.html`);
      assert.notEqual(ra.body.replaceAll(a().origin, ''), rc.body.replaceAll(c().origin, ''));
    });
  });

  describe('reachability oracle', () => {
    const site = withSite({ pages: 400, seed: 7, brokenRatio: 0.05, errorRatio: 0.03, fileRatio: 0.05 });

    it('reaches every page with unlimited depth', () => {
      const map = site().reachable();
      for (let n = 0; n < 400; n++) {
        const url = site().pageUrl(n);
        assert.deepEqual(map.get(url) && { ...map.get(url), depth: 0 }, {
          depth: 0, status: 200, outcome: 'delivered', reason: null, html: true,
        }, url);
      }
      assert.equal(map.get(site().homeUrl)?.depth, 0);
      assert.ok(map.size > 400, 'leaves (404/500/files) are included');
      for (const url of map.keys()) assert.ok(url.startsWith(`${site().origin}/`) && !url.includes('#'), url);
    });

    it('reachable(0) is the home page and reachable(1) is home plus its direct links', async () => {
      assert.deepEqual([...site().reachable(0).keys()], [site().homeUrl]);
      const home = await text(site().homeUrl);
      const expected = resolvedLinks(home.body, site().homeUrl);
      expected.add(site().homeUrl);
      const one = site().reachable(1);
      assert.deepEqual(new Set(one.keys()), expected);
      for (const [url, v] of one) assert.equal(v.depth, url === site().homeUrl ? 0 : 1);
    });

    it('respects depth limits and keeps shortest depths', () => {
      const all = site().reachable();
      const two = site().reachable(2);
      assert.ok(two.size < all.size);
      for (const [url, v] of two) {
        assert.ok(v.depth <= 2);
        assert.equal(all.get(url)?.depth, v.depth, url);
      }
      const maxDepth = Math.max(...[...all.values()].map((v) => v.depth));
      assert.ok(maxDepth >= 3 && maxDepth <= 8, `max depth ${maxDepth}`);
      assert.equal(site().reachable(maxDepth).size, all.size);
    });

    it('matches what the server answers, links included', async () => {
      const map = site().reachable();
      const kinds = new Set<string>();
      for (const [url, expected] of map) {
        const res = await fetch(url);
        assert.equal(res.status, expected.status, url);
        const type = res.headers.get('content-type') ?? '';
        if (expected.html) {
          assert.equal(type, 'text/html; charset=utf-8');
          for (const link of resolvedLinks(await res.text(), url)) assert.ok(map.has(link), `${url} -> ${link}`);
        } else {
          await res.arrayBuffer();
        }
        kinds.add(`${expected.status} ${expected.outcome} ${expected.reason} ${type.split(';')[0]}`);
      }
      assert.deepEqual([...kinds].sort(), [
        '200 delivered no_text_layer application/pdf',
        '200 delivered null image/png',
        '200 delivered null text/html',
        '404 failed http_client_error text/html',
        '500 failed http_server_error text/html',
      ]);
    });

    it('excludes external links, mailto:, javascript: and fragments', async () => {
      const all = new Set<string>();
      for (let n = 0; n < 60; n++) for (const h of hrefs((await text(site().pageUrl(n))).body)) all.add(h);
      const hasPrefix = (p: string): boolean => [...all].some((h) => h.startsWith(p));
      assert.ok(hasPrefix('http://external.invalid/'));
      assert.ok(hasPrefix('mailto:'));
      assert.ok(hasPrefix('javascript:'));
      assert.ok(hasPrefix('#'));
      assert.ok([...all].some((h) => /\.html#/.test(h)), 'some links carry a fragment');
      assert.ok(hasPrefix('../p/') && hasPrefix('/p/') && hasPrefix(site().origin) && [...all].some((h) => /^\d+\.html/.test(h)));
      for (const url of site().reachable().keys()) assert.ok(!url.includes('external.invalid'));
    });

    it('has a clean variant without extras', async () => {
      const clean = new GeneratedSite({ pages: 50, externalLinks: false });
      await clean.start();
      try {
        const body = (await text(clean.homeUrl)).body;
        assert.ok(hrefs(body).every((h) => (!h.includes('#') && !h.includes(':')) || h.startsWith(clean.origin)));
        assert.equal(clean.reachable().get(clean.pageUrl(49))?.status, 200);
      } finally {
        await clean.stop();
      }
    });
  });

  describe('pages and leaves', () => {
    const small = withSite({ pages: 200, seed: 3, brokenRatio: 0.05, errorRatio: 0.05, fileRatio: 0.1 });
    const big = withSite({ pages: 20000, pageBytes: 15000 });

    it('sizes pages about pageBytes and fills in the expected elements', async () => {
      for (const [site, bytes] of [[small(), 2000], [big(), 15000]] as const) {
        for (const n of [0, 1, 150, 199]) {
          const res = await fetch(site.pageUrl(n));
          const body = await res.text();
          assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
          assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(body));
          assert.ok(Math.abs(Buffer.byteLength(body) - bytes) <= bytes * 0.1, `page ${n}: ${body.length} bytes`);
          assert.match(body, new RegExp(`<title>Page ${n}</title>`));
          assert.match(body, new RegExp(`<h1 class="title">Page ${n}</h1>`));
          assert.match(body, /<span class="price">\d+\.\d\d<\/span>/);
          assert.match(body, new RegExp(`<p class="depth-hint" data-depth="${site.treeDepth(n)}">`));
        }
      }
      assert.equal(big().treeDepth(19999), 7);
    });

    it('answers 404, 500, PNG and PDF leaves with their statuses and types', async () => {
      const leaves = [...small().reachable()].filter(([, v]) => !v.html).map(([url]) => url);
      const find = (re: RegExp): string => {
        const url = leaves.find((u) => re.test(u));
        assert.ok(url, `no leaf matching ${re}`);
        return url;
      };
      const missing = await text(find(/\/missing\/\d+\.html$/));
      assert.equal(missing.status, 404);
      assert.equal(missing.type, 'text/html; charset=utf-8');
      assert.ok(!missing.body.includes('<a '));
      const error = await fetch(find(/\/error\/\d+\.html$/));
      assert.equal(error.status, 500);
      assert.ok(!(await error.text()).includes('<a '));
      const png = await fetch(find(/\/files\/\d+\.png$/));
      assert.equal(png.status, 200);
      assert.equal(png.headers.get('content-type'), 'image/png');
      assert.deepEqual([...new Uint8Array(await png.arrayBuffer()).subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
      const pdf = await fetch(find(/\/files\/\d+\.pdf$/));
      assert.equal(pdf.headers.get('content-type'), 'application/pdf');
      assert.match(await pdf.text(), /^%PDF-/);
    });

    it('answers 404 for unknown paths and robots.txt, 405 for other methods, and HEAD without a body', async () => {
      for (const path of ['/robots.txt', '/p/0.html', '/p/200.html', '/p/01.html', '/files/1.gif', '/x']) {
        assert.equal((await text(small().origin + path)).status, 404, path);
      }
      assert.equal((await text(small().pageUrl(3), { method: 'POST', body: 'x' })).status, 405);
      const get = await fetch(small().pageUrl(3));
      const length = get.headers.get('content-length');
      await get.arrayBuffer();
      const head = await fetch(small().pageUrl(3), { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), length);
      assert.equal(await head.text(), '');
    });
  });

  describe('latency and stats', () => {
    const site = withSite({ pages: 50, latencyMs: 150 });

    it('delays responses by latencyMs, changeable at run time', async () => {
      let t0 = performance.now();
      await text(site().homeUrl);
      assert.ok(performance.now() - t0 >= 140, 'initial latency');
      site().latencyMs = 0;
      t0 = performance.now();
      await text(site().homeUrl);
      assert.ok(performance.now() - t0 < 100, 'latency turned off');
      site().latencyMs = 150;
    });

    it('counts requests, bytes, paths and concurrency, and calls onRequest', async () => {
      site().resetStats();
      const seen: string[] = [];
      site().onRequest = (path, at) => {
        assert.ok(Math.abs(at - Date.now()) < 1000);
        seen.push(path);
      };
      const paths = ['/', '/p/1.html', '/p/1.html', '/p/2.html', '/nope', '/p/3.html', '/p/4.html', '/p/5.html'];
      const bodies = await Promise.all(paths.map((p) => text(site().origin + p)));
      site().onRequest = null;
      const stats = site().stats;
      assert.equal(stats.requests, 8);
      assert.equal(stats.inFlight, 0);
      assert.equal(stats.maxInFlight, 8, 'latency keeps all 8 requests in flight together');
      assert.equal(stats.bytesSent, bodies.reduce((sum, r) => sum + Buffer.byteLength(r.body), 0));
      assert.equal(stats.byPath.get('/p/1.html'), 2);
      assert.equal(stats.byPath.get('/nope'), 1);
      assert.deepEqual(seen.sort(), [...paths].sort());
      site().resetStats();
      assert.equal(site().stats.requests, 0);
      assert.equal(site().stats.byPath.size, 0);
    });
  });

  describe('lifecycle', () => {
    it('throws on origin before start and after stop', async () => {
      const site = new GeneratedSite({ pages: 3 });
      assert.throws(() => site.origin, /not started/);
      const origin = await site.start();
      assert.match(origin, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(site.homeUrl, `${origin}/`);
      await assert.rejects(site.start(), /already started/);
      await site.stop();
      assert.throws(() => site.homeUrl, /not started/);
      await site.stop();
    });

    it('stop() cancels delayed responses and leaves no open handles', async () => {
      const module = fileURLToPath(new URL('../../sites/generated.js', import.meta.url));
      const script = `
        const { GeneratedSite } = await import(${JSON.stringify(module)});
        const site = new GeneratedSite({ pages: 100, latencyMs: 0 });
        await site.start();
        for (let i = 0; i < 20; i++) await (await fetch(site.pageUrl(i))).text();
        site.latencyMs = 60000;
        const pending = fetch(site.homeUrl).then(() => 'answered', () => 'aborted');
        await new Promise((r) => setTimeout(r, 100));
        await site.stop();
        console.log(await pending);
      `;
      const started = Date.now();
      const out = await new Promise<string>((resolve, reject) => {
        execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 15000 }, (err, stdout, stderr) => {
          if (err) reject(new Error(`${err.message}\n${stderr}`));
          else resolve(stdout.trim());
        });
      });
      assert.equal(out, 'aborted');
      assert.ok(Date.now() - started < 10000, 'the process exits by itself promptly');
    });
  });
});

describe('GeneratedSite latency mix', () => {
  const mixOpts: LatencyMix = { slowRatio: 0.05, slowMs: [5000, 20_000], fastMs: [50, 200] };

  it('gives each path a fixed delay within its range, about slowRatio of them slow', () => {
    let slow = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const path = `/p/${i}.html`;
      const d = mixedLatency(mixOpts, 42, path);
      assert.equal(mixedLatency(mixOpts, 42, path), d, 'same path, same delay');
      if (d >= 5000) {
        slow++;
        assert.ok(d <= 20_000, `${path}: ${d}`);
      } else assert.ok(d >= 50 && d <= 200, `${path}: ${d}`);
    }
    assert.ok(Math.abs(slow / n - 0.05) < 0.01, `slow share ${slow / n}`);
  });

  it('answers a page after its mixed delay', async () => {
    const site = new GeneratedSite({ pages: 50, seed: 42, latencyMix: { slowRatio: 0, slowMs: [0, 0], fastMs: [120, 120] } });
    const origin = await site.start('127.0.0.1', 0);
    try {
      const t0 = performance.now();
      const res = await fetch(`${origin}/p/3.html`);
      await res.text();
      assert.ok(performance.now() - t0 >= 115, 'the delay was applied');
    } finally {
      await site.stop();
    }
  });
});
