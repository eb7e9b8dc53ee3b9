/**
 * Tests of the adversarial test site: every route answers as documented, the
 * streams are lazy and bounded, the bombs really inflate, the charset pages
 * hold the exact bytes, and stop() leaves nothing behind. Clients read bounded
 * prefixes and destroy their sockets; the suite ends without --exit.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { pipeline } from 'node:stream/promises';
import type { Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import {
  AdversarialSite,
  BOMB_INFLATED_BYTES,
  CHAIN_END,
  CHARSET_PAGES,
  ConnectionCounter,
  HAZARD_PATHS,
  HUGE_BYTES,
  METADATA_URL,
  NESTED_DIVS,
  OK_PAGES,
  LISTED_PAGES,
  ROBOTS_CASES,
  SITEMAP_BOMB_INFLATED_BYTES,
  SITEMAP_FOREIGN_URL,
  SITEMAP_PATHS,
  STACKED_ENCODINGS,
  bigRobots,
  encodeCp1252,
  sitemapExpectations,
  ssrfLiteralLinks,
} from '../../sites/adversarial.js';
import type { RobotsBehaviour } from '../../sites/adversarial.js';
import { parseRobots, type Robots } from '../../../shared/url/robots.js';
import { normalizeUrl } from '../../../shared/url/normalize.js';
import { compileScope, defaultAllowedHosts } from '../../../shared/url/scope.js';
import { parseSitemap, sitemapCandidates, type ParsedSitemap } from '../../../shared/url/sitemap.js';

const MB = 1024 * 1024;

interface Got {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The client stopped reading at maxBytes. */
  truncated: boolean;
  /** Milliseconds from the request to each chunk. */
  chunkTimes: number[];
}

/**
 * GET (or HEAD) on a fresh connection, reading at most maxBytes of the raw
 * (undecoded) body, then destroying the socket.
 */
function get(url: string, opts: { maxBytes?: number; method?: string } = {}): Promise<Got> {
  const maxBytes = opts.maxBytes ?? 8 * MB;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const chunkTimes: number[] = [];
      let size = 0;
      const done = (truncated: boolean): void => {
        const body = Buffer.concat(chunks, size);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body.subarray(0, maxBytes), truncated, chunkTimes });
      };
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        chunkTimes.push(performance.now() - started);
        size += chunk.length;
        if (size >= maxBytes) {
          req.destroy();
          done(true);
        }
      });
      res.on('end', () => done(false));
      res.on('error', () => undefined);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves true if no response headers arrive within ms (then gives up), false if they do. */
function silentFor(url: string, ms: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (silent: boolean): void => {
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(silent);
    };
    const req = http.request(url, { agent: false }, (res) => {
      res.resume();
      settle(false);
    });
    const timer = setTimeout(() => settle(true), ms);
    req.on('error', (err) => {
      if (settled) return;
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

/** Hrefs of the `<a href>` tags (quoted values). */
function hrefs(html: string): string[] {
  return [...html.matchAll(/<a href="([^"]*)"/g)].map((m) => m[1]!.replace(/&quot;/g, '"').replace(/&amp;/g, '&'));
}

/** Octets a decompressor produces from input, counted chunk by chunk without keeping them. */
async function inflatedSize(input: Buffer, decompressor: Transform): Promise<number> {
  let size = 0;
  await pipeline(
    async function* () {
      yield input;
    },
    decompressor,
    async function (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) size += chunk.length;
    },
  );
  return size;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('AdversarialSite', function () {
  this.timeout(20000);
  let site: AdversarialSite;
  let origin: string;

  before(async () => {
    site = new AdversarialSite({ loopbackPort: 4321 });
    origin = await site.start();
  });
  after(async () => {
    await site.stop();
  });
  beforeEach(() => {
    site.robots = { status: 404 };
  });

  describe('setup', () => {
    it('listens on loopback and refuses other addresses', () => {
      assert.match(origin, /^http:\/\/127\.0\.0\.1:\d+$/);
      for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.com']) {
        assert.throws(() => new AdversarialSite({ host }), RangeError, host);
      }
    });

    it('throws for origin before start', () => {
      assert.throws(() => new AdversarialSite().origin, /not started/);
    });
  });

  describe('index and normal pages', () => {
    it('links every hazard from /', async () => {
      const res = await get(`${origin}/`);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
      const links = hrefs(res.body.toString());
      for (const path of HAZARD_PATHS) {
        assert.ok(links.some((h) => h === path || h.startsWith(`${path}?`)), path);
      }
      assert.ok(links.some((h) => /^\/session\/s0\/page\?sid=[0-9a-f]{16}$/.test(h)));
    });

    it('serves /ok/<n>.html for n < 20, linked to each other so that all are reachable', async () => {
      const seen = new Set<string>(['/ok/0.html']);
      const queue = ['/ok/0.html'];
      while (queue.length > 0) {
        const path = queue.shift()!;
        const res = await get(origin + path);
        assert.equal(res.status, 200, path);
        for (const h of hrefs(res.body.toString())) {
          if (h.startsWith('/ok/') && !seen.has(h)) {
            seen.add(h);
            queue.push(h);
          }
        }
      }
      assert.equal(seen.size, OK_PAGES);
      assert.equal((await get(`${origin}/ok/${OK_PAGES}.html`)).status, 404);
      assert.equal((await get(`${origin}/ok/01.html`)).status, 404);
    });

    const statuses: [string, string, number][] = [
      ['GET', '/nope', 404],
      ['POST', '/', 405],
      ['HEAD', '/', 200],
      ['GET', '/image.png', 200],
    ];
    for (const [method, path, status] of statuses) {
      it(`answers ${method} ${path} with ${status}`, async () => {
        const res = await get(origin + path, { method });
        assert.equal(res.status, status);
      });
    }

    it('serves /image.png as a PNG', async () => {
      const res = await get(`${origin}/image.png`);
      assert.equal(res.headers['content-type'], 'image/png');
      assert.ok(res.body.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])));
    });

    it('counts requests, paths, connections and bytes', async () => {
      site.resetStats();
      await get(`${origin}/ok/1.html?x=1`);
      await get(`${origin}/ok/1.html?x=1`);
      await get(`${origin}/nope`);
      const stats = site.stats;
      assert.equal(stats.requests, 3);
      assert.equal(stats.connections, 3);
      assert.equal(stats.byPath.get('/ok/1.html?x=1'), 2);
      assert.equal(stats.byPath.get('/nope'), 1);
      assert.ok(stats.bytesSent > 0);
    });
  });

  describe('/robots.txt', () => {
    const cases: { name: string; robots: RobotsBehaviour; status: number; body?: string; location?: string }[] = [
      { name: 'the default 404', robots: { status: 404 }, status: 404 },
      { name: 'a 500', robots: ROBOTS_CASES.serverError, status: 500 },
      { name: 'a 403', robots: { status: 403 }, status: 403 },
      { name: 'a text', robots: 'User-agent: *\nDisallow: /x\n', status: 200, body: 'User-agent: *\nDisallow: /x\n' },
      { name: 'crawl-delay', robots: ROBOTS_CASES.crawlDelay, status: 200, body: ROBOTS_CASES.crawlDelay },
      { name: 'wildcards', robots: ROBOTS_CASES.wildcards, status: 200, body: ROBOTS_CASES.wildcards },
      { name: 'a redirect', robots: ROBOTS_CASES.redirect, status: 301, location: '/robots-target.txt' },
      { name: 'a cross-site redirect', robots: { redirectTo: 'http://127.0.0.1:9/robots.txt' }, status: 301, location: 'http://127.0.0.1:9/robots.txt' },
    ];
    for (const c of cases) {
      it(`serves ${c.name}`, async () => {
        site.robots = c.robots;
        const res = await get(`${origin}/robots.txt`);
        assert.equal(res.status, c.status);
        if (c.body !== undefined) {
          assert.equal(res.body.toString(), c.body);
          assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
        }
        if (c.location !== undefined) assert.equal(res.headers.location, c.location);
      });
    }

    it('serves the redirect target', async () => {
      const res = await get(`${origin}/robots-target.txt`);
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), site.robotsTarget);
    });

    it('serves a 600 KiB file with /early/ before 512 KiB and /late/ after', async () => {
      site.robots = ROBOTS_CASES.big;
      const res = await get(`${origin}/robots.txt`);
      assert.equal(res.status, 200);
      const text = res.body.toString();
      assert.ok(text.length >= 600 * 1024);
      assert.ok(text.indexOf('Disallow: /early/') < 512 * 1024);
      assert.ok(text.indexOf('Disallow: /late/') >= 512 * 1024);
      assert.equal(text, bigRobots(512 * 1024));
    });

    it('builds big files with the rule where asked', () => {
      for (const at of [1000, 300 * 1024, 500 * 1024]) {
        const text = bigRobots(at);
        const late = text.indexOf('Disallow: /late/');
        assert.ok(late >= at && late < at + 200, String(at));
        assert.equal(text[late - 1], '\n');
        assert.ok(text.length >= 600 * 1024);
      }
    });

    it('sends no headers while delaying, and cancels the delay when the client leaves', async () => {
      site.robots = ROBOTS_CASES.timeout;
      assert.ok(ROBOTS_CASES.timeout.delayMs >= 60_000);
      assert.equal(await silentFor(`${origin}/robots.txt`, 300), true);
      site.robots = { delayMs: 50 };
      const res = await get(`${origin}/robots.txt`);
      assert.equal(res.status, 200);
    });
  });

  describe('endless and huge bodies', () => {
    it('drips /slow-drip one byte per second after sending headers', async () => {
      const res = await get(`${origin}/slow-drip`, { maxBytes: 2 });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(res.headers['content-length'], undefined);
      assert.equal(res.body.toString(), '<!');
      assert.equal(res.chunkTimes.length, 2);
      const gap = res.chunkTimes[1]! - res.chunkTimes[0]!;
      assert.ok(gap >= 900 && gap < 3000, `gap ${gap} ms`);
    });

    it('never sends headers on /never-headers, though it got the request', async () => {
      site.resetStats();
      assert.equal(await silentFor(`${origin}/never-headers`, 500), true);
      assert.equal(site.stats.byPath.get('/never-headers'), 1);
    });

    it('streams /huge lazily: a client that reads 1 MiB and leaves costs a few MiB', async () => {
      site.resetStats();
      const res = await get(`${origin}/huge`, { maxBytes: MB });
      assert.equal(res.status, 200);
      assert.equal(res.truncated, true);
      assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(res.headers['content-length'], undefined);
      assert.equal(res.headers['transfer-encoding'], 'chunked');
      assert.match(res.body.subarray(0, 100).toString(), /^<!doctype html>/);
      await sleep(200);
      const sent = site.stats.bytesSent;
      await sleep(200);
      assert.equal(site.stats.bytesSent, sent, 'the stream stopped');
      assert.ok(sent < 32 * MB, `sent ${sent}`);
    });

    it('declares the length on /huge-declared', async () => {
      const res = await get(`${origin}/huge-declared`, { maxBytes: 64 * 1024 });
      assert.equal(res.headers['content-length'], String(HUGE_BYTES));
      assert.equal(HUGE_BYTES, 200 * MB);
    });

    it('answers HEAD /huge at once without a body', async () => {
      const res = await get(`${origin}/huge`, { method: 'HEAD' });
      assert.equal(res.status, 200);
      assert.equal(res.body.length, 0);
    });
  });

  describe('decompression bombs', () => {
    const bombs: { path: string; encoding: string; decompress: (b: Buffer, o: { maxOutputLength: number }) => Buffer; stream: () => Transform }[] = [
      { path: '/gzip-bomb', encoding: 'gzip', decompress: (b, o) => zlib.gunzipSync(b, o), stream: () => zlib.createGunzip() },
      { path: '/br-bomb', encoding: 'br', decompress: (b, o) => zlib.brotliDecompressSync(b, o), stream: () => zlib.createBrotliDecompress() },
    ];
    for (const b of bombs) {
      it(`sends a small ${b.path} that inflates past 50 MB`, async () => {
        const res = await get(origin + b.path);
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-encoding'], b.encoding);
        assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
        assert.equal(res.headers['content-length'], String(res.body.length));
        assert.ok(res.body.length < 64 * 1024, `${res.body.length} bytes on the wire`);
        assert.throws(() => b.decompress(res.body, { maxOutputLength: 10 * MB }), { code: 'ERR_BUFFER_TOO_LARGE' });
        const size = await inflatedSize(res.body, b.stream());
        assert.equal(size, BOMB_INFLATED_BYTES);
        assert.ok(size >= 50_000_000);
      });
    }

    it('encodes /stacked-encodings six times, as its header says', async () => {
      const res = await get(`${origin}/stacked-encodings`);
      assert.equal(res.status, 200);
      const header = res.headers['content-encoding'];
      assert.equal(header, 'gzip, deflate, gzip, deflate, gzip, deflate');
      const layers = header.split(',').map((s) => s.trim());
      assert.deepEqual(layers, [...STACKED_ENCODINGS]);
      let body = res.body;
      for (const [i, layer] of layers.reverse().entries()) {
        assert.doesNotMatch(body.toString('latin1'), /<title>/, `still encoded before layer ${i}`);
        body = layer === 'gzip' ? zlib.gunzipSync(body) : zlib.inflateSync(body);
      }
      assert.match(body.toString(), /<title>Stacked<\/title>/);
    });
  });

  describe('redirects', () => {
    const cases: { path: string; status: number; location: string }[] = [
      { path: '/redirect-loop/a', status: 302, location: '/redirect-loop/b' },
      { path: '/redirect-loop/b', status: 302, location: '/redirect-loop/a' },
      { path: '/chain/0', status: 302, location: '/chain/1' },
      { path: '/chain/29', status: 302, location: '/chain/30' },
      { path: '/to-loopback', status: 302, location: 'http://127.0.0.1:4321/' },
      { path: '/to-metadata', status: 302, location: METADATA_URL },
    ];
    for (const c of cases) {
      it(`redirects ${c.path} to ${c.location}`, async () => {
        const res = await get(origin + c.path);
        assert.equal(res.status, c.status);
        assert.equal(res.headers.location, c.location);
      });
    }

    it('ends the chain with a page after 30 redirects', async () => {
      let path = '/chain/0';
      let hops = 0;
      for (;;) {
        const res = await get(origin + path);
        if (res.status !== 302) {
          assert.equal(res.status, 200);
          break;
        }
        path = res.headers.location!;
        hops++;
      }
      assert.equal(hops, CHAIN_END);
      assert.equal(path, '/chain/30');
      assert.equal((await get(`${origin}/chain/31`)).status, 404);
    });

    it('follows loopbackPort changes at run time', async () => {
      site.loopbackPort = 5555;
      try {
        assert.equal((await get(`${origin}/to-loopback`)).headers.location, 'http://127.0.0.1:5555/');
      } finally {
        site.loopbackPort = 4321;
      }
    });
  });

  describe('crawler traps', () => {
    const cases: { path: string; links: string[] }[] = [
      { path: '/calendar/2024/06', links: ['/calendar/2024/05', '/calendar/2024/07'] },
      { path: '/calendar/2024/12', links: ['/calendar/2024/11', '/calendar/2025/01'] },
      { path: '/calendar/2025/01', links: ['/calendar/2024/12', '/calendar/2025/02'] },
      { path: '/calendar/9999/12', links: ['/calendar/9999/11', '/calendar/10000/01'] },
      { path: '/calendar/0000/01', links: ['/calendar/0000/02'] },
      { path: '/a/', links: ['a/'] },
      { path: '/a/a/a/', links: ['a/'] },
    ];
    for (const c of cases) {
      it(`links ${c.path} onwards`, async () => {
        const res = await get(origin + c.path);
        assert.equal(res.status, 200);
        const links = hrefs(res.body.toString()).filter((h) => h !== '/');
        assert.deepEqual(links, c.links);
      });
    }

    it('resolves the /a/ links one level deeper each time', async () => {
      let url = `${origin}/a/`;
      for (let depth = 1; depth <= 5; depth++) {
        const res = await get(url);
        assert.equal(res.status, 200);
        assert.match(res.body.toString(), new RegExp(`<title>Depth ${depth}</title>`));
        url = new URL(hrefs(res.body.toString())[0]!, url).href;
      }
      assert.equal(url, `${origin}/a/a/a/a/a/a/`);
    });

    const notFound = ['/calendar/2024/13', '/calendar/2024/00', '/calendar/24/01', '/a', '/a/b/', '/session/x/other'];
    for (const path of notFound) {
      it(`answers ${path} with 404`, async () => {
        assert.equal((await get(origin + path)).status, 404);
      });
    }

    it('hands out fresh session ids on every /session page', async () => {
      const url = `${origin}/session/abc/page?sid=123`;
      const first = hrefs((await get(url)).body.toString()).filter((h) => h.startsWith('/session/'));
      const second = hrefs((await get(url)).body.toString()).filter((h) => h.startsWith('/session/'));
      const patterns = [
        /^\/session\/abc\/page\?sid=[0-9a-f]{16}$/,
        /^\/session\/abc\/page\?PHPSESSID=[0-9a-f]{16}$/,
        /^\/session\/abc\/page;jsessionid=[0-9a-f]{16}$/,
        /^\/session\/abc\/page\?utm_source=[0-9a-f]{16}&utm_medium=crawl$/,
        /^\/session\/[0-9a-f]{16}\/page\?sid=[0-9a-f]{16}$/,
      ];
      for (const p of patterns) {
        assert.ok(first.some((h) => p.test(h)), String(p));
      }
      for (const h of first) assert.ok(!second.includes(h), h);
      for (const h of first) {
        assert.equal((await get(origin + h)).status, 200, h);
      }
    });
  });

  describe('charsets', () => {
    const expected: { name: keyof typeof CHARSET_PAGES; contentType: string; bytes: number[]; decoder: string | null }[] = [
      { name: 'sjis', contentType: 'text/html', bytes: [0x83, 0x65, 0x83, 0x58, 0x83, 0x67], decoder: 'shift_jis' },
      { name: 'gbk', contentType: 'text/html; charset=gbk', bytes: [0xd6, 0xd0, 0xce, 0xc4], decoder: 'gbk' },
      {
        name: 'cp1252',
        contentType: 'text/html; charset=windows-1252',
        bytes: [0x43, 0x61, 0x66, 0xe9, 0x20, 0x96, 0x20, 0x93, 0x71, 0x75, 0x6f, 0x74, 0x65, 0x64, 0x94],
        decoder: null, // Node 20's TextDecoder treats windows-1252 as Latin-1: the bytes above are the check
      },
      { name: 'utf8-bom', contentType: 'text/html', bytes: [...Buffer.from('Ünïcödé ✓ 日本語')], decoder: 'utf-8' },
    ];
    for (const e of expected) {
      it(`serves /charset/${e.name} with the exact bytes`, async () => {
        const page = CHARSET_PAGES[e.name];
        const res = await get(origin + page.path);
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-type'], e.contentType);
        assert.ok(res.body.equals(page.body));
        const title = Buffer.concat([Buffer.from('<title>'), Buffer.from(e.bytes), Buffer.from('</title>')]);
        assert.ok(res.body.includes(title), 'title bytes');
        assert.ok(res.body.includes(`<a href="${page.link}">`));
        if (e.decoder !== null) {
          const text = new TextDecoder(e.decoder).decode(res.body);
          assert.ok(text.includes(`<title>${page.title}</title>`), text);
        }
      });
    }

    it('declares Shift_JIS only in the meta tag, and UTF-8 only by the BOM', () => {
      assert.ok(CHARSET_PAGES.sjis.body.includes('<meta charset="shift_jis">'));
      const bom = CHARSET_PAGES['utf8-bom'].body;
      assert.deepEqual([...bom.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
      assert.doesNotMatch(bom.toString(), /charset/i);
      assert.doesNotMatch(CHARSET_PAGES.gbk.body.toString('latin1'), /charset/i);
    });

    it('encodes windows-1252, 0x80-0x9F included', () => {
      // Node 20's TextDecoder('windows-1252') decodes 0x80-0x9F as C1 controls (Latin-1), so the bytes are spelled out.
      const high = '€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ';
      const want = [0x80, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8e, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9e, 0x9f];
      assert.deepEqual([...encodeCp1252(high)], want);
      assert.deepEqual([...encodeCp1252('A é ÿ')], [0x41, 0x20, 0xe9, 0x20, 0xff]);
      assert.throws(() => encodeCp1252('日'), RangeError);
      assert.throws(() => encodeCp1252('\u0080'), RangeError);
    });
  });

  describe('broken HTML', () => {
    it('nests 100k divs on /broken/nested', async () => {
      const res = await get(`${origin}/broken/nested`);
      assert.equal(res.status, 200);
      const html = res.body.toString();
      assert.equal(html.split('<div>').length - 1, NESTED_DIVS);
      assert.equal(html.split('</div>').length - 1, NESTED_DIVS);
      assert.ok(html.includes('<a href="/ok/12.html">'));
    });

    it('puts NUL bytes in /broken/nul', async () => {
      const res = await get(`${origin}/broken/nul`);
      assert.equal(res.status, 200);
      assert.ok(res.body.filter((b) => b === 0).length >= 5);
      assert.ok(res.body.includes('<a href="/ok/5.html">'));
    });

    it('never closes tags nor quotes attributes on /broken/unclosed', async () => {
      const res = await get(`${origin}/broken/unclosed`);
      const html = res.body.toString();
      assert.equal(res.status, 200);
      assert.deepEqual(html.match(/<\/[a-z]+>/g), ['</title>']);
      assert.ok(html.includes('<a href=/ok/7.html>'));
      assert.doesNotMatch(html, /="/);
    });
  });

  describe('sitemaps', () => {
    /** Follows the site's sitemaps as a sitemap-seeded session would (parser, scope, robots.txt), without fetching a page. */
    async function followSitemaps(): Promise<{ robots: Robots; fetched: Map<string, number>; listed: Set<string>; results: Map<string, ParsedSitemap> }> {
      const robots = parseRobots((await get(`${origin}/robots.txt`)).body.toString(), 'crawlfleet');
      const queue = sitemapCandidates(origin, robots.sitemaps);
      const fetched = new Map<string, number>();
      const results = new Map<string, ParsedSitemap>();
      const listed = new Set<string>();
      while (queue.length > 0) {
        const url = queue.shift()!;
        if (fetched.has(url)) continue;
        const res = await get(url, { maxBytes: MB });
        fetched.set(url, res.status);
        if (res.status !== 200) continue;
        const parsed = parseSitemap(res.body);
        results.set(url, parsed);
        if (parsed.kind === 'index') queue.push(...parsed.urls);
        if (parsed.kind === 'urlset') for (const u of parsed.urls) listed.add(u);
      }
      return { robots, fetched, listed, results };
    }

    it('lists the sitemap index in robots.txt and disallows /listed/private/', async () => {
      site.robots = ROBOTS_CASES.sitemaps;
      const res = await get(`${origin}/robots.txt`);
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), `User-agent: *\nDisallow: /listed/private/\n\nSitemap: ${origin}/sitemap_index.xml\n`);
    });

    it('serves every sitemap with its type; the missing one is a 404', async () => {
      const types: Record<string, [number, string]> = {
        '/sitemap_index.xml': [200, 'application/xml; charset=utf-8'],
        '/sitemap-pages.xml': [200, 'application/xml; charset=utf-8'],
        '/sitemap-pages.xml.gz': [200, 'application/gzip'],
        '/sitemap-pages.txt': [200, 'text/plain; charset=utf-8'],
        '/sitemap-missing.xml': [404, 'text/html; charset=utf-8'],
        '/sitemap-foreign.xml': [200, 'application/xml; charset=utf-8'],
        '/sitemap-forbidden.xml': [200, 'application/xml; charset=utf-8'],
        '/sitemap-bomb.xml.gz': [200, 'application/gzip'],
        '/sitemap.xml': [200, 'application/xml; charset=utf-8'],
      };
      assert.deepEqual(Object.keys(types).filter((p) => p !== '/sitemap_index.xml' && p !== '/sitemap.xml'), [...SITEMAP_PATHS]);
      for (const [path, [status, type]] of Object.entries(types)) {
        const res = await get(origin + path, { maxBytes: MB });
        assert.equal(res.status, status, path);
        assert.equal(res.headers['content-type'], type, path);
      }
      assert.equal((await get(`${origin}/sitemap-other.xml`)).status, 404);
    });

    it('escapes the & of a listed query, prefixes the gzipped urlset, and ends text lines with CRLF', async () => {
      assert.match((await get(`${origin}/sitemap-pages.xml`)).body.toString(), /<loc>\s+http:\/\/[^<]+\/listed\/3\.html\?a=1&amp;b=2\s+<\/loc>/);
      const gz = zlib.gunzipSync((await get(`${origin}/sitemap-pages.xml.gz`)).body).toString();
      assert.match(gz, /^<\?xml [^>]+>\n<sm:urlset xmlns:sm="http:\/\/www\.sitemaps\.org\/schemas\/sitemap\/0\.9">/);
      assert.equal((await get(`${origin}/sitemap-pages.txt`)).body.toString(), `${origin}/listed/8.html\r\n${origin}/listed/9.html\r\n`);
    });

    it('sends a small gzip bomb that inflates past 50 MiB', async () => {
      const res = await get(`${origin}/sitemap-bomb.xml.gz`, { maxBytes: MB });
      assert.equal(res.truncated, false);
      assert.ok(res.body.length < 128 * 1024, `${res.body.length} bytes on the wire`);
      const inflated = await inflatedSize(res.body, zlib.createGunzip());
      assert.ok(inflated > SITEMAP_BOMB_INFLATED_BYTES && inflated > 50 * MB, `${inflated}`);
      const head = zlib.gunzipSync(res.body, { maxOutputLength: 64 * MB + 4096 }).subarray(0, 400).toString();
      assert.match(head, /<urlset [^>]+>\n {2}<url>\n {4}<loc>\n +http:\/\/[^\s]+\/listed\/bomb\.html/);
      assert.deepEqual(parseSitemap(res.body), { kind: 'invalid', urls: [], truncated: false, error: 'too_large', detail: `inflates to more than ${50 * MB} bytes` });
    });

    it('serves the listed pages as leaves, and 404 beyond them', async () => {
      for (const path of ['/listed/0.html', `/listed/${LISTED_PAGES - 1}.html`, '/listed/3.html?a=1&b=2', '/listed/private/1.html', '/listed/bomb.html']) {
        const res = await get(origin + path);
        assert.equal(res.status, 200, path);
        assert.deepEqual(hrefs(res.body.toString()), ['/'], path);
      }
      for (const path of [`/listed/${LISTED_PAGES}.html`, '/listed/01.html', '/listed/private/2.html', '/listed/x.html']) {
        assert.equal((await get(origin + path)).status, 404, path);
      }
    });

    it('leads a sitemap-seeded crawl to exactly the expected pages', async () => {
      site.robots = ROBOTS_CASES.sitemaps;
      const expected = sitemapExpectations(origin);
      const { robots, fetched, listed, results } = await followSitemaps();
      assert.deepEqual([...fetched.keys()].sort(), [...expected.sitemaps].sort());
      assert.equal(fetched.get(`${origin}/sitemap-missing.xml`), 404);
      assert.equal(results.get(`${origin}/sitemap_index.xml`)?.kind, 'index');
      assert.equal(results.get(`${origin}/sitemap-bomb.xml.gz`)?.error, 'too_large');
      // what the session admits: in scope (the seed's host), then robots.txt decides
      const scope = compileScope({ allowedHosts: defaultAllowedHosts([`${origin}/`]), include: [], exclude: [] });
      const admitted = [...listed].map((u) => normalizeUrl(u)).filter((u): u is string => u !== null && scope.allows(u));
      const allowed = admitted.filter((u) => robots.isAllowed(new URL(u).pathname + new URL(u).search));
      assert.deepEqual([...allowed].sort(), [...expected.pages].sort());
      assert.deepEqual(admitted.filter((u) => !allowed.includes(u)), expected.disallowed);
      for (const u of expected.refused) assert.ok(!admitted.includes(u), u);
      assert.ok(listed.has(SITEMAP_FOREIGN_URL) && listed.has('http://127.0.0.1:1/'), 'the hazards are really listed');
      assert.ok(!listed.has('file:///etc/passwd'), 'the parser keeps http(s) only');
      for (const u of expected.pages) assert.equal((await get(u)).status, 200, u);
    });
  });

  describe('SSRF literals', () => {
    it('links every forbidden address form with the configured port', async () => {
      const res = await get(`${origin}/ssrf/literal`);
      assert.equal(res.status, 200);
      const links = hrefs(res.body.toString());
      assert.deepEqual(links, ssrfLiteralLinks(4321));
      for (const url of ['http://127.0.0.1:4321/', 'http://2130706433/', 'http://0x7f.1/', 'http://[::1]/', 'http://169.254.169.254/']) {
        assert.ok(links.includes(url), url);
      }
      const loopbacks = links.map((u) => new URL(u).hostname).filter((h) => h === '127.0.0.1');
      assert.ok(loopbacks.length >= 5, 'the odd forms all mean 127.0.0.1');
    });
  });

  describe('ConnectionCounter', () => {
    it('counts and closes connections, and only listens on loopback', async () => {
      const counter = new ConnectionCounter();
      await assert.rejects(counter.start('0.0.0.0'), RangeError);
      const port = await counter.start('127.0.0.1');
      try {
        assert.equal(counter.accepted, 0);
        for (let i = 0; i < 3; i++) {
          await new Promise<void>((resolve) => {
            const socket = net.connect(port, '127.0.0.1');
            socket.on('error', () => undefined);
            socket.on('close', () => resolve());
            socket.resume();
          });
        }
        assert.equal(counter.accepted, 3);
      } finally {
        await counter.stop();
      }
      await counter.stop();
    });
  });

  describe('stop()', () => {
    it('destroys drips, held requests, streams and delayed robots', async () => {
      const other = new AdversarialSite({ robots: ROBOTS_CASES.timeout, dripIntervalMs: 50 });
      const base = await other.start();
      let stalled: http.IncomingMessage | null = null;
      const closed = (path: string): Promise<string> =>
        new Promise((resolve) => {
          const req = http.get(`${base}${path}`, { agent: false }, (res) => {
            res.on('error', () => undefined);
            res.on('close', () => resolve(`${path}: ${res.complete ? 'complete' : 'cut'}`));
            // /huge is left unread (a stalled client) until the site stopped; the others are consumed.
            if (path === '/huge') stalled = res;
            else res.resume();
          });
          req.on('error', () => resolve(`${path}: cut`));
        });
      const pending = ['/slow-drip', '/never-headers', '/robots.txt', '/huge'].map(closed);
      await sleep(300);
      assert.equal(other.stats.requests, 4);
      assert.ok(stalled, '/huge answered');
      await other.stop();
      // A paused socket cannot see the close until it reads again.
      (stalled as http.IncomingMessage).resume();
      assert.deepEqual(await Promise.all(pending), ['/slow-drip: cut', '/never-headers: cut', '/robots.txt: cut', '/huge: cut']);
      assert.throws(() => other.origin, /not started/);
      await other.stop();
    });

    it('lets the process exit by itself', async () => {
      const module = fileURLToPath(new URL('../../sites/adversarial.js', import.meta.url));
      const script = `
        import http from 'node:http';
        const { AdversarialSite, ConnectionCounter, ROBOTS_CASES } = await import(${JSON.stringify(module)});
        const site = new AdversarialSite({ robots: ROBOTS_CASES.timeout });
        const base = await site.start();
        const counter = new ConnectionCounter();
        await counter.start('127.0.0.1');
        const stalled = [];
        const results = ['/slow-drip', '/never-headers', '/robots.txt', '/huge', '/gzip-bomb'].map((path) =>
          new Promise((resolve) => {
            const req = http.get(base + path, (res) => {
              res.on('error', () => {});
              if (path === '/huge') { res.pause(); stalled.push(res); } else res.resume();
              res.on('close', () => resolve(path + ' closed'));
            });
            req.on('error', () => resolve(path + ' closed'));
          }));
        await new Promise((r) => setTimeout(r, 300));
        await site.stop();
        await counter.stop();
        for (const res of stalled) res.resume();
        console.log((await Promise.all(results)).length);
      `;
      const started = Date.now();
      const out = await new Promise<string>((resolve, reject) => {
        execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 15000 }, (err, stdout, stderr) => {
          if (err) reject(new Error(`${err.message}\n${stderr}`));
          else resolve(stdout.trim());
        });
      });
      assert.equal(out, '5');
      assert.ok(Date.now() - started < 10000, 'the process exits by itself promptly');
    });
  });
});
