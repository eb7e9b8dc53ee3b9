/**
 * A hostile web site on a local HTTP server, for tests of the crawler's safety:
 * endless and huge bodies, decompression bombs, redirect loops, crawler traps,
 * odd charsets, broken HTML and links to forbidden addresses. It listens on a
 * loopback address only; every response is bounded per write, timers and
 * sockets are tracked, and `stop()` destroys them all (the process can exit).
 *
 * Routes (GET and HEAD; anything else 405; unknown paths 404):
 *
 * | Path                          | Answer                                                                                  |
 * |-------------------------------|-----------------------------------------------------------------------------------------|
 * | `/`                           | HTML index linking every path of `HAZARD_PATHS` (the session link with a fresh `sid`)   |
 * | `/ok/<n>.html` (n < 20)       | normal pages linking to `/`, n+1, n-1 and 7n+3 (mod 20)                                 |
 * | `/robots.txt`                 | per `site.robots`: a string (200 text/plain), `{ status }`, `{ delayMs }` (no headers   |
 * |                               | until then, then 200 empty), `{ redirectTo }` (301); default `{ status: 404 }`         |
 * | `/robots-target.txt`          | 200 `site.robotsTarget` (a redirect target for `{ redirectTo }`)                        |
 * | `/slow-drip`                  | 200 text/html, then one body byte per `dripIntervalMs` (1 s) forever                    |
 * | `/never-headers`              | reads the request, never answers                                                        |
 * | `/huge`                       | 200 text/html, `HUGE_BYTES` (200 MiB) chunked, generated on the fly with backpressure   |
 * | `/huge-declared`              | the same with `Content-Length: 209715200`                                               |
 * | `/gzip-bomb`                  | ~50 KB gzip body (`Content-Encoding: gzip`) inflating to `BOMB_INFLATED_BYTES` of zeros |
 * | `/br-bomb`                    | the same with brotli (`br`, about 100 bytes)                                            |
 * | `/stacked-encodings`          | an HTML page encoded six times, `Content-Encoding: gzip, deflate, gzip, deflate, ...`   |
 * | `/redirect-loop/a`, `/b`      | 302 to each other                                                                       |
 * | `/chain/<n>`                  | 302 to `/chain/<n+1>` for n < 30; `/chain/30` is a page; above 30: 404                  |
 * | `/to-loopback`                | 302 to `http://127.0.0.1:<loopbackPort>/` (`loopbackPort` default 9)                    |
 * | `/to-metadata`                | 302 to `http://169.254.169.254/latest/meta-data/`                                       |
 * | `/calendar/<yyyy>/<mm>`       | infinite calendar: each month links the previous and next month                         |
 * | `/session/<id>/page[;jsessionid=x]` | any query; links carry fresh `?sid=`, `?PHPSESSID=`, `;jsessionid=`, `utm_source=` |
 * |                               | values and a fresh session id path                                                      |
 * | `/a/`, `/a/a/`, ...           | repeated path segments; each links one level deeper with the relative href `a/`         |
 * | `/charset/sjis`               | Shift_JIS, declared only by `<meta charset="shift_jis">`; title テスト                  |
 * | `/charset/gbk`                | GBK, declared only by `Content-Type: text/html; charset=gbk`; title 中文                |
 * | `/charset/cp1252`             | windows-1252 by header; title `Café – “quoted”` (bytes 0xE9 0x96 0x93 0x94)             |
 * | `/charset/utf8-bom`           | UTF-8 with a BOM and no declaration at all                                              |
 * | `/broken/nested`              | 100,000 nested `<div>`s, a link at the bottom                                           |
 * | `/broken/nul`                 | HTML with NUL bytes in text, attributes and between tags                                |
 * | `/broken/unclosed`            | tags never closed, unquoted attribute values                                            |
 * | `/image.png`                  | a 1x1 PNG (image/png)                                                                   |
 * | `/ssrf/literal`               | HTML linking to every URL of `ssrfLiteralLinks(loopbackPort)` (loopback in many forms,  |
 * |                               | `[::1]`, `0`, the metadata address)                                                     |
 * | `/sitemap_index.xml`          | sitemap index (XML) of the seven sitemaps below but `/sitemap.xml`                      |
 * | `/sitemap-pages.xml`          | urlset, plain XML: `/listed/0..3.html` (3 with a `&amp;` query), `/listed/private/1.html`|
 * | `/sitemap-pages.xml.gz`       | urlset, gzipped (`application/gzip`), `sm:` prefixes: `/listed/4..7.html`, `/listed/0` again |
 * | `/sitemap-pages.txt`          | plain-text sitemap: `/listed/8.html`, `/listed/9.html`                                  |
 * | `/sitemap-missing.xml`        | 404                                                                                     |
 * | `/sitemap-foreign.xml`        | urlset: `SITEMAP_FOREIGN_URL` (another host: out of scope) and `/listed/10.html`        |
 * | `/sitemap-forbidden.xml`      | urlset: `file:///etc/passwd`, `http://127.0.0.1:1/` and `/listed/11.html`               |
 * | `/sitemap-bomb.xml.gz`        | gzip (`application/gzip`, ~64 KB) inflating to `SITEMAP_BOMB_INFLATED_BYTES` (64 MiB,   |
 * |                               | past the protocol's 50 MiB): a urlset listing `/listed/bomb.html`, then spaces          |
 * | `/sitemap.xml`                | urlset at the default location (not in the index): `/listed/12.html`                    |
 * | `/listed/<n>.html` (n < 13),  | leaf pages (a link to `/` only) listed by the sitemaps                                  |
 * | `/listed/private/1.html`, `/listed/bomb.html` |                                                                         |
 *
 * Sitemaps: with `site.robots = ROBOTS_CASES.sitemaps` the robots.txt lists
 * `<origin>/sitemap_index.xml` and disallows `/listed/private/`. Every sitemap
 * sits at the root, so by the protocol it may list any URL of the host; page
 * URLs are absolute, on the site's own origin. `sitemapExpectations(origin)`
 * says what a session seeded from them must do: which pages it delivers
 * (exactly), which listed page robots.txt skips, which listed URLs it never
 * admits (out of scope, not http(s), in the refused bomb).
 *
 * Pages that are defined byte for byte (charsets) are exported in
 * `CHARSET_PAGES`; robots.txt presets in `ROBOTS_CASES`.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import type { Transform } from 'node:stream';
import zlib from 'node:zlib';

/**
 * What `/robots.txt` serves. `{ sitemaps }`: 200 `User-agent: *`, `Disallow: /listed/private/`
 * and a `Sitemap:` line for each path, made absolute on the site's origin.
 */
export type RobotsBehaviour = string | { status: number } | { delayMs: number } | { redirectTo: string } | { sitemaps: readonly string[] };

export interface AdversarialSiteOptions {
  /** A loopback address to listen on (default 127.0.0.1); anything else throws. */
  host?: string;
  /** The port `/to-loopback` and `/ssrf/literal` point at (default 9, discard); mutable as `site.loopbackPort`. */
  loopbackPort?: number;
  /** Milliseconds between two bytes of `/slow-drip` (default 1000). */
  dripIntervalMs?: number;
  /** Initial `site.robots` (default `{ status: 404 }`). */
  robots?: RobotsBehaviour;
}

/** Counters since `start()` or `resetStats()`. */
export interface AdversarialStats {
  /** Requests received (any method, any path). */
  requests: number;
  /** Requests per request target (path and query, as received). */
  byPath: Map<string, number>;
  /** TCP connections accepted. */
  connections: number;
  /** Response body bytes handed to sockets (headers excluded). */
  bytesSent: number;
}

/** Body size of `/huge` and `/huge-declared`: 200 MiB. */
export const HUGE_BYTES = 200 * 1024 * 1024;
/** What `/gzip-bomb` and `/br-bomb` inflate to: 50 MiB of zeros (more than 50 MB). */
export const BOMB_INFLATED_BYTES = 50 * 1024 * 1024;
/** The encodings of `/stacked-encodings`, in the order applied (as in its Content-Encoding header). */
export const STACKED_ENCODINGS = ['gzip', 'deflate', 'gzip', 'deflate', 'gzip', 'deflate'] as const;
/** `/chain/<n>` redirects until this n, which serves a page. */
export const CHAIN_END = 30;
/** Number of `/ok/<n>.html` pages. */
export const OK_PAGES = 20;
/** Depth of `/broken/nested`. */
export const NESTED_DIVS = 100_000;
/** The port of the loopback redirect and links when none is given. */
export const DEFAULT_LOOPBACK_PORT = 9;
/** Where `/to-metadata` redirects. */
export const METADATA_URL = 'http://169.254.169.254/latest/meta-data/';

/** Paths the index links (the session one gets a `?sid=` query). */
export const HAZARD_PATHS: readonly string[] = Object.freeze([
  '/ok/0.html',
  '/slow-drip',
  '/never-headers',
  '/huge',
  '/huge-declared',
  '/gzip-bomb',
  '/br-bomb',
  '/stacked-encodings',
  '/redirect-loop/a',
  '/chain/0',
  '/to-loopback',
  '/to-metadata',
  '/calendar/2024/06',
  '/session/s0/page',
  '/a/',
  '/charset/sjis',
  '/charset/gbk',
  '/charset/cp1252',
  '/charset/utf8-bom',
  '/broken/nested',
  '/broken/nul',
  '/broken/unclosed',
  '/image.png',
  '/ssrf/literal',
]);

/**
 * The links of `/ssrf/literal`: loopback written as a dotted quad, a decimal
 * integer, hex and octal shorthands, `localhost`, `0`, IPv6 and IPv4-mapped
 * IPv6, each with `port` (observable with a ConnectionCounter) and the
 * brief's port-less forms; and the cloud metadata address.
 */
export function ssrfLiteralLinks(port: number): string[] {
  return [
    `http://127.0.0.1:${port}/`,
    'http://2130706433/',
    'http://0x7f.1/',
    'http://[::1]/',
    'http://169.254.169.254/',
    `http://2130706433:${port}/`,
    `http://0x7f.1:${port}/`,
    `http://0177.0.0.1:${port}/`,
    `http://localhost:${port}/`,
    `http://0:${port}/`,
    `http://[::1]:${port}/`,
    `http://[::ffff:127.0.0.1]:${port}/`,
    METADATA_URL,
  ];
}

/**
 * A robots.txt of about `totalBytes` (default 600 KiB): `User-agent: *`,
 * `Disallow: /early/` first, `Disallow: /pad/<k>/` rules and comment lines as
 * filler, and `Disallow: /late/` on a line starting at or after octet
 * `disallowAfterBytes` (so `bigRobots(512 * 1024)` puts it past the parse limit).
 * ASCII only: characters are octets.
 */
export function bigRobots(disallowAfterBytes: number, totalBytes = 600 * 1024): string {
  const parts = ['User-agent: *\n', 'Disallow: /early/\n'];
  let size = parts[0]!.length + parts[1]!.length;
  let k = 0;
  const pad = (until: number): void => {
    while (size < until) {
      const line =
        k % 64 === 0 ? `Disallow: /pad/${k}/\n` : `# filler line ${String(k).padStart(7, '0')} ${'x'.repeat(60)}\n`;
      parts.push(line);
      size += line.length;
      k++;
    }
  };
  pad(disallowAfterBytes);
  parts.push('Disallow: /late/\n');
  size += 'Disallow: /late/\n'.length;
  pad(totalBytes);
  return parts.join('');
}

const WILDCARD_ROBOTS =
  'User-agent: *\n' +
  'Disallow: /calendar/\n' +
  'Allow: /calendar/2024/06$\n' +
  'Disallow: /*?sid=\n' +
  'Disallow: /*PHPSESSID=\n' +
  'Disallow: /*;jsessionid=\n' +
  'Disallow: /*.png$\n' +
  'Disallow: /a/a/\n' +
  'Sitemap: http://127.0.0.1/sitemap.xml\n';

/** robots.txt presets for `site.robots`. */
export const ROBOTS_CASES = {
  notFound: { status: 404 },
  serverError: { status: 500 },
  /** Headers come only after ten minutes: longer than any sane timeout. */
  timeout: { delayMs: 10 * 60 * 1000 },
  /** To `/robots-target.txt` on the same site. */
  redirect: { redirectTo: '/robots-target.txt' },
  wildcards: WILDCARD_ROBOTS,
  /** 600 KiB with `Disallow: /early/` before 512 KiB and `Disallow: /late/` after. */
  big: bigRobots(512 * 1024),
  crawlDelay: 'User-agent: *\nCrawl-delay: 2\nDisallow: /private/\n',
  /** Lists the sitemap index; disallows `/listed/private/`. */
  sitemaps: { sitemaps: ['/sitemap_index.xml'] },
} as const satisfies Record<string, RobotsBehaviour>;

/** What `/sitemap-bomb.xml.gz` inflates to: 64 MiB, more than a sitemap may be (50 MiB). */
export const SITEMAP_BOMB_INFLATED_BYTES = 64 * 1024 * 1024;
/** Number of `/listed/<n>.html` pages. */
export const LISTED_PAGES = 13;
/** The out-of-scope URL of `/sitemap-foreign.xml` (`.invalid` never resolves: no stray connection). */
export const SITEMAP_FOREIGN_URL = 'http://elsewhere.invalid/listed/0.html';
/** The URLs of `/sitemap-forbidden.xml` that are no page of the site. */
export const SITEMAP_FORBIDDEN_URLS: readonly string[] = Object.freeze(['file:///etc/passwd', 'http://127.0.0.1:1/']);
/** The sitemaps the index lists, in order. */
export const SITEMAP_PATHS: readonly string[] = Object.freeze([
  '/sitemap-pages.xml',
  '/sitemap-pages.xml.gz',
  '/sitemap-pages.txt',
  '/sitemap-missing.xml',
  '/sitemap-foreign.xml',
  '/sitemap-forbidden.xml',
  '/sitemap-bomb.xml.gz',
]);

/** What a session seeded from the site's sitemaps must do. */
export interface SitemapExpectations {
  /** Every sitemap a crawler finds: the index (from robots.txt), those it lists, and /sitemap.xml. */
  sitemaps: string[];
  /** Pages delivered: in scope, http(s), allowed by robots.txt, each once (normalized form). */
  pages: string[];
  /** Listed, but disallowed by robots.txt: skipped(robots), never fetched. */
  disallowed: string[];
  /** Listed, never admitted: out of scope, not http(s), or only in the bomb (refused whole). */
  refused: string[];
}

/**
 * What a session with seeds `[<origin>/]`, `"sitemaps": true` and maxDepth 0 on a site with
 * `robots = ROBOTS_CASES.sitemaps` must record besides its seed (with the default scope: the
 * seed's host).
 */
export function sitemapExpectations(origin: string): SitemapExpectations {
  const pages = Array.from({ length: LISTED_PAGES }, (_, n) => `${origin}/listed/${n}.html${n === 3 ? '?a=1&b=2' : ''}`);
  return {
    sitemaps: [`${origin}/sitemap_index.xml`, ...SITEMAP_PATHS.map((p) => origin + p), `${origin}/sitemap.xml`],
    pages,
    disallowed: [`${origin}/listed/private/1.html`],
    refused: [SITEMAP_FOREIGN_URL, ...SITEMAP_FORBIDDEN_URLS, `${origin}/listed/bomb.html`],
  };
}

const SITEMAP_NS = 'http://www.sitemaps.org/schemas/sitemap/0.9';

/** A urlset of absolute URLs (entities escaped); `prefix` names the namespace prefix, if any. */
function urlsetXml(urls: readonly string[], prefix = ''): string {
  const p = prefix === '' ? '' : `${prefix}:`;
  const ns = prefix === '' ? 'xmlns' : `xmlns:${prefix}`;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<${p}urlset ${ns}="${SITEMAP_NS}">\n` +
    urls.map((u) => `  <${p}url>\n    <${p}loc>\n      ${escapeHtml(u)}\n    </${p}loc>\n    <${p}changefreq>daily</${p}changefreq>\n  </${p}url>\n`).join('') +
    `</${p}urlset>\n`
  );
}

/** A byte-exact page in a legacy or marked encoding. */
export interface CharsetPage {
  readonly path: string;
  /** The Content-Type header sent (without charset unless the page declares it there). */
  readonly contentType: string;
  /** The title as text, once decoded right. */
  readonly title: string;
  /** The href of the page's one link. */
  readonly link: string;
  readonly body: Buffer;
}

/** Bytes from ASCII strings and raw byte arrays. */
function bytes(...parts: (string | number[] | Buffer)[]): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
}

/** windows-1252 positions 0x80-0x9F that differ from Latin-1 (0x81, 0x8D, 0x8F, 0x90, 0x9D are unassigned). */
const CP1252_HIGH: ReadonlyMap<string, number> = new Map([
  ['€', 0x80], ['‚', 0x82], ['ƒ', 0x83], ['„', 0x84], ['…', 0x85], ['†', 0x86], ['‡', 0x87], ['ˆ', 0x88],
  ['‰', 0x89], ['Š', 0x8a], ['‹', 0x8b], ['Œ', 0x8c], ['Ž', 0x8e], ['‘', 0x91], ['’', 0x92], ['“', 0x93],
  ['”', 0x94], ['•', 0x95], ['–', 0x96], ['—', 0x97], ['˜', 0x98], ['™', 0x99], ['š', 0x9a], ['›', 0x9b],
  ['œ', 0x9c], ['ž', 0x9e], ['Ÿ', 0x9f],
]);

/** Encodes text as windows-1252 (Node has no encoder for it); throws on unmappable characters. */
export function encodeCp1252(text: string): Buffer {
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    const high = CP1252_HIGH.get(ch);
    if (high !== undefined) out.push(high);
    else if (c < 0x80 || (c >= 0xa0 && c <= 0xff)) out.push(c);
    else throw new RangeError(`${JSON.stringify(ch)} has no windows-1252 byte`);
  }
  return Buffer.from(out);
}

/** テスト in Shift_JIS. */
const SJIS_TEST = [0x83, 0x65, 0x83, 0x58, 0x83, 0x67];
/** 中文 in GBK. */
const GBK_CHINESE = [0xd6, 0xd0, 0xce, 0xc4];
const CP1252_TITLE = 'Café – “quoted”';
const UTF8_TITLE = 'Ünïcödé ✓ 日本語';

/** The charset pages, byte for byte. */
export const CHARSET_PAGES: Readonly<Record<'sjis' | 'gbk' | 'cp1252' | 'utf8-bom', CharsetPage>> = Object.freeze({
  sjis: {
    path: '/charset/sjis',
    contentType: 'text/html',
    title: 'テスト',
    link: '/ok/1.html',
    body: bytes(
      '<!doctype html>\n<html><head><meta charset="shift_jis"><title>', SJIS_TEST, '</title></head>\n',
      '<body><h1>', SJIS_TEST, '</h1><p><a href="/ok/1.html">', SJIS_TEST, '</a></p></body></html>\n',
    ),
  },
  gbk: {
    path: '/charset/gbk',
    contentType: 'text/html; charset=gbk',
    title: '中文',
    link: '/ok/2.html',
    body: bytes(
      '<!doctype html>\n<html><head><title>', GBK_CHINESE, '</title></head>\n',
      '<body><h1>', GBK_CHINESE, '</h1><p><a href="/ok/2.html">', GBK_CHINESE, '</a></p></body></html>\n',
    ),
  },
  cp1252: {
    path: '/charset/cp1252',
    contentType: 'text/html; charset=windows-1252',
    title: CP1252_TITLE,
    link: '/ok/3.html',
    body: bytes(
      '<!doctype html>\n<html><head><title>', encodeCp1252(CP1252_TITLE), '</title></head>\n',
      '<body><h1>', encodeCp1252(CP1252_TITLE), '</h1><p><a href="/ok/3.html">', encodeCp1252('€ — ™'),
      '</a></p></body></html>\n',
    ),
  },
  'utf8-bom': {
    path: '/charset/utf8-bom',
    contentType: 'text/html',
    title: UTF8_TITLE,
    link: '/ok/4.html',
    body: Buffer.from(
      `\ufeff<!doctype html>\n<html><head><title>${UTF8_TITLE}</title></head>\n` +
        `<body><h1>${UTF8_TITLE}</h1><p><a href="/ok/4.html">${UTF8_TITLE}</a></p></body></html>\n`,
      'utf8',
    ),
  },
});

const HTML_TYPE = 'text/html; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';
/** A valid 1x1 PNG. */
const PNG_BODY = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);
const DRIP_TEXT = '<!doctype html><html><head><title>Slow drip</title></head><body><p>' + 'drip '.repeat(40) + '</p>\n';
const HUGE_PREFIX = Buffer.from('<!doctype html>\n<html><head><title>Huge</title></head><body>\n');
/** 64 KiB of filler paragraphs, reused for every write of `/huge`. */
const HUGE_FILLER = Buffer.alloc(64 * 1024, '<p>This page goes on and on and on and on and on.</p>\n');
const NUL_PAGE = Buffer.from(
  '<!doctype html>\n<html><head><title>Nul\0Title</title></head>\n<body><p>before\0after</p>\0\0\0' +
    '<a href="/ok/5.html">ok\0link</a>\n<a\0href="/ok/6.html">odd</a><img src="/image.png\0" alt="\0">\n</body></html>\n',
  'latin1',
);
const UNCLOSED_PAGE = Buffer.from(
  '<html><head><title>Unclosed</title><body class=main data-x=a&b><div id=outer><p>First <b>bold <i>italic ' +
    '<a href=/ok/7.html>seven<p>Second <a href=/ok/8.html title=eight>eight<ul><li>one<li>two<li><a href=/ok/9.html>nine' +
    '<table><tr><td>cell<td>cell<tr><td><a href=/ok/10.html class=x>ten<div><span>open<select><option>a<option>b',
);
const STACKED_HTML = Buffer.from(
  '<!doctype html>\n<html><head><meta charset="utf-8"><title>Stacked</title></head><body>' +
    '<p>Six layers deep.</p><a href="/ok/11.html">eleven</a></body></html>\n',
);

/** Bodies built once per process at the first `start()`. */
interface Payloads {
  gzipBomb: Buffer;
  brBomb: Buffer;
  stacked: Buffer;
  nested: Buffer;
  /** The middle gzip member of `/sitemap-bomb.xml.gz`: SITEMAP_BOMB_INFLATED_BYTES of spaces. */
  sitemapBombSpaces: Buffer;
}

let payloads: Promise<Payloads> | null = null;

/** Compresses `total` octets of `fill` (zeros by default), fed 1 MiB at a time from one reused buffer. */
async function compressZeros(compressor: Transform, total: number, fill = 0): Promise<Buffer> {
  const zero = Buffer.alloc(1024 * 1024, fill);
  const chunks: Buffer[] = [];
  await pipeline(
    async function* () {
      for (let left = total; left > 0; left -= zero.length) yield left >= zero.length ? zero : zero.subarray(0, left);
    },
    compressor,
    async function (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) chunks.push(chunk);
    },
  );
  return Buffer.concat(chunks);
}

async function buildPayloads(): Promise<Payloads> {
  const [gzipBomb, brBomb, sitemapBombSpaces] = await Promise.all([
    compressZeros(zlib.createGzip({ level: 9 }), BOMB_INFLATED_BYTES),
    compressZeros(
      zlib.createBrotliCompress({
        params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: BOMB_INFLATED_BYTES },
      }),
      BOMB_INFLATED_BYTES,
    ),
    compressZeros(zlib.createGzip({ level: 9 }), SITEMAP_BOMB_INFLATED_BYTES, 0x20),
  ]);
  let stacked = STACKED_HTML;
  for (const enc of STACKED_ENCODINGS) stacked = enc === 'gzip' ? zlib.gzipSync(stacked) : zlib.deflateSync(stacked);
  const nested = Buffer.from(
    '<!doctype html>\n<html><head><title>Nested</title></head><body>\n' +
      '<div>'.repeat(NESTED_DIVS) +
      '<a href="/ok/12.html">deep</a>' +
      '</div>'.repeat(NESTED_DIVS) +
      '\n</body></html>\n',
  );
  return { gzipBomb, brBomb, stacked, nested, sitemapBombSpaces };
}

function loadPayloads(): Promise<Payloads> {
  payloads ??= buildPayloads().catch((err: unknown) => {
    payloads = null;
    throw err;
  });
  return payloads;
}

/** Whether a host is a loopback address or `localhost`. */
function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return net.isIPv4(host) && host.startsWith('127.');
}

function assertLoopback(host: string): void {
  if (!isLoopback(host)) throw new RangeError(`refusing to listen on ${host}: loopback addresses only`);
}

async function listen(server: net.Server, host: string, port: number): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function page(title: string, body: string): string {
  return (
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n` +
    `<body><h1>${escapeHtml(title)}</h1>\n${body}</body></html>\n`
  );
}

function links(hrefs: readonly (readonly [string, string])[]): string {
  return `<ul>\n${hrefs.map(([href, text]) => `<li><a href="${escapeHtml(href)}">${escapeHtml(text)}</a></li>\n`).join('')}</ul>\n`;
}

function token(): string {
  return randomBytes(8).toString('hex');
}

const OK_PATH = /^\/ok\/(0|[1-9]\d?)\.html$/;
const CHAIN_PATH = /^\/chain\/(0|[1-9]\d{0,5})$/;
const CALENDAR_PATH = /^\/calendar\/(\d{4,8})\/(0[1-9]|1[0-2])$/;
const SESSION_PATH = /^\/session\/([A-Za-z0-9_-]{1,64})\/page(?:;jsessionid=[A-Za-z0-9]{1,64})?$/;
const DEEP_PATH = /^(?:\/a)+\/$/;
const LISTED_PATH = /^\/listed\/(?:(0|[1-9]\d?)|private\/1|bomb)\.html$/;
const XML_TYPE = 'application/xml; charset=utf-8';
const GZIP_TYPE = 'application/gzip';
const MAX_YEAR = 99_999_999;

/** A hostile local web site; see the module comment for its routes. */
export class AdversarialSite {
  /** What `/robots.txt` serves; may be changed at run time. */
  robots: RobotsBehaviour;
  /** What `/robots-target.txt` serves. */
  robotsTarget = 'User-agent: *\nDisallow: /private/\n';
  /** The port `/to-loopback` and `/ssrf/literal` point at; may be changed at run time. */
  loopbackPort: number;
  readonly dripIntervalMs: number;

  private readonly host: string;
  private server: Server | null = null;
  private currentOrigin: string | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly timeouts = new Set<NodeJS.Timeout>();
  private readonly intervals = new Set<NodeJS.Timeout>();
  private counters: AdversarialStats = AdversarialSite.emptyStats();
  private bodies: Payloads | null = null;

  constructor(opts: AdversarialSiteOptions = {}) {
    this.host = opts.host ?? '127.0.0.1';
    assertLoopback(this.host);
    this.loopbackPort = opts.loopbackPort ?? DEFAULT_LOOPBACK_PORT;
    this.dripIntervalMs = opts.dripIntervalMs ?? 1000;
    if (!(this.dripIntervalMs > 0)) throw new RangeError('dripIntervalMs must be > 0');
    this.robots = opts.robots ?? { status: 404 };
  }

  /** Starts listening (builds the bomb bodies on the first start in the process); resolves to the origin. */
  async start(port = 0): Promise<string> {
    if (this.server) throw new Error('AdversarialSite already started');
    const server = createServer((req, res) => this.handle(req, res));
    this.server = server;
    server.on('connection', (socket: Socket) => {
      this.counters.connections++;
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    try {
      this.bodies = await loadPayloads();
      const addr = await listen(server, this.host, port);
      const hostPart = this.host.includes(':') ? `[${this.host}]` : this.host;
      this.currentOrigin = new URL(`http://${hostPart}:${addr.port}`).origin;
    } catch (err) {
      this.server = null;
      throw err;
    }
    return this.currentOrigin;
  }

  /** Stops the server: cancels timers, destroys every socket (drips, held requests, streams). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    this.currentOrigin = null;
    for (const t of this.timeouts) clearTimeout(t);
    for (const t of this.intervals) clearInterval(t);
    this.timeouts.clear();
    this.intervals.clear();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      for (const socket of this.sockets) socket.destroy();
    });
    this.sockets.clear();
  }

  /** The origin the site listens on, e.g. `http://127.0.0.1:40123`; throws if not started. */
  get origin(): string {
    if (this.currentOrigin === null) throw new Error('AdversarialSite not started');
    return this.currentOrigin;
  }

  /** Counters since construction or the last `resetStats()`. */
  get stats(): AdversarialStats {
    return this.counters;
  }

  resetStats(): void {
    this.counters = AdversarialSite.emptyStats();
  }

  private static emptyStats(): AdversarialStats {
    return { requests: 0, byPath: new Map(), connections: 0, bytesSent: 0 };
  }

  /** Runs fn after ms unless the response closes or the site stops first. */
  private later(res: ServerResponse, ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timeouts.delete(t);
      fn();
    }, ms);
    this.timeouts.add(t);
    res.once('close', () => {
      clearTimeout(t);
      this.timeouts.delete(t);
    });
  }

  /** Runs fn every ms until the response closes or the site stops. */
  private every(res: ServerResponse, ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    this.intervals.add(t);
    res.once('close', () => {
      clearInterval(t);
      this.intervals.delete(t);
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const target = req.url ?? '/';
    const stats = this.counters;
    stats.requests++;
    stats.byPath.set(target, (stats.byPath.get(target) ?? 0) + 1);
    res.on('error', () => undefined);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.send(req, res, 405, { allow: 'GET, HEAD' }, '');
      return;
    }
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    try {
      this.route(req, res, path);
    } catch (err) {
      if (!res.headersSent) this.send(req, res, 500, { 'content-type': TEXT_TYPE }, `${String(err)}\n`);
      else res.destroy();
    }
  }

  /** Sends a whole response (no body for HEAD), counting body bytes. */
  private send(req: IncomingMessage, res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: string | Buffer): void {
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(status, { ...headers, 'content-length': buf.length });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    this.counters.bytesSent += buf.length;
    res.end(buf);
  }

  private html(req: IncomingMessage, res: ServerResponse, body: string | Buffer, status = 200, type = HTML_TYPE): void {
    this.send(req, res, status, { 'content-type': type }, body);
  }

  private redirect(req: IncomingMessage, res: ServerResponse, location: string, status = 302): void {
    this.send(req, res, status, { location, 'content-type': HTML_TYPE }, page('Moved', links([[location, 'here']])));
  }

  private notFound(req: IncomingMessage, res: ServerResponse): void {
    this.html(req, res, page('Not Found', '<p>404</p>\n'), 404);
  }

  private route(req: IncomingMessage, res: ServerResponse, path: string): void {
    const bodies = this.bodies!;
    switch (path) {
      case '/':
        return this.html(req, res, this.indexPage());
      case '/robots.txt':
        return this.serveRobots(req, res);
      case '/robots-target.txt':
        return this.send(req, res, 200, { 'content-type': TEXT_TYPE }, this.robotsTarget);
      case '/slow-drip':
        return this.slowDrip(req, res);
      case '/never-headers':
        return; // the socket stays open until the client gives up or the site stops
      case '/huge':
        return this.huge(req, res, false);
      case '/huge-declared':
        return this.huge(req, res, true);
      case '/gzip-bomb':
        return this.send(req, res, 200, { 'content-type': HTML_TYPE, 'content-encoding': 'gzip' }, bodies.gzipBomb);
      case '/br-bomb':
        return this.send(req, res, 200, { 'content-type': HTML_TYPE, 'content-encoding': 'br' }, bodies.brBomb);
      case '/stacked-encodings':
        return this.send(req, res, 200, { 'content-type': HTML_TYPE, 'content-encoding': STACKED_ENCODINGS.join(', ') }, bodies.stacked);
      case '/redirect-loop/a':
        return this.redirect(req, res, '/redirect-loop/b');
      case '/redirect-loop/b':
        return this.redirect(req, res, '/redirect-loop/a');
      case '/to-loopback':
        return this.redirect(req, res, `http://127.0.0.1:${this.loopbackPort}/`);
      case '/to-metadata':
        return this.redirect(req, res, METADATA_URL);
      case '/broken/nested':
        return this.html(req, res, bodies.nested);
      case '/broken/nul':
        return this.html(req, res, NUL_PAGE);
      case '/broken/unclosed':
        return this.html(req, res, UNCLOSED_PAGE);
      case '/image.png':
        return this.send(req, res, 200, { 'content-type': 'image/png' }, PNG_BODY);
      case '/ssrf/literal':
        return this.html(
          req,
          res,
          page('Forbidden addresses', links(ssrfLiteralLinks(this.loopbackPort).map((u) => [u, u] as const))),
        );
    }
    if (path.startsWith('/sitemap')) return this.sitemap(req, res, path);
    for (const p of Object.values(CHARSET_PAGES)) {
      if (path === p.path) return this.html(req, res, p.body, 200, p.contentType);
    }
    let m = OK_PATH.exec(path);
    if (m && Number(m[1]) < OK_PAGES) return this.html(req, res, this.okPage(Number(m[1])));
    m = CHAIN_PATH.exec(path);
    if (m) {
      const n = Number(m[1]);
      if (n < CHAIN_END) return this.redirect(req, res, `/chain/${n + 1}`);
      if (n === CHAIN_END) return this.html(req, res, page('End of the chain', links([['/', 'home']])));
      return this.notFound(req, res);
    }
    m = CALENDAR_PATH.exec(path);
    if (m) return this.html(req, res, this.calendarPage(Number(m[1]), Number(m[2])));
    m = SESSION_PATH.exec(path);
    if (m) return this.html(req, res, this.sessionPage(m[1]!));
    if (DEEP_PATH.test(path)) {
      const depth = (path.length - 1) / 2;
      return this.html(req, res, page(`Depth ${depth}`, links([['a/', 'deeper'], ['/', 'home']])));
    }
    m = LISTED_PATH.exec(path);
    if (m && (m[1] === undefined || Number(m[1]) < LISTED_PAGES)) {
      return this.html(req, res, page(`Listed ${path.slice(8, -5)}`, `<p>Found through a sitemap.</p>\n${links([['/', 'home']])}`));
    }
    return this.notFound(req, res);
  }

  /** The sitemap routes (see the module comment); page URLs on this site's origin. */
  private sitemap(req: IncomingMessage, res: ServerResponse, path: string): void {
    const o = this.origin;
    const listed = (...names: (string | number)[]): string[] => names.map((n) => `${o}/listed/${n}.html`);
    switch (path) {
      case '/sitemap_index.xml':
        return this.send(req, res, 200, { 'content-type': XML_TYPE },
          `<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="${SITEMAP_NS}">\n` +
            SITEMAP_PATHS.map((p) => `  <sitemap><loc>${o}${p}</loc><lastmod>2024-06-01</lastmod></sitemap>\n`).join('') +
            '</sitemapindex>\n');
      case '/sitemap-pages.xml':
        return this.send(req, res, 200, { 'content-type': XML_TYPE }, urlsetXml([...listed(0, 1, 2), `${o}/listed/3.html?a=1&b=2`, ...listed('private/1')]));
      case '/sitemap-pages.xml.gz':
        return this.send(req, res, 200, { 'content-type': GZIP_TYPE }, zlib.gzipSync(urlsetXml(listed(4, 5, 6, 7, 0), 'sm')));
      case '/sitemap-pages.txt':
        return this.send(req, res, 200, { 'content-type': TEXT_TYPE }, `${listed(8, 9).join('\r\n')}\r\n`);
      case '/sitemap-foreign.xml':
        return this.send(req, res, 200, { 'content-type': XML_TYPE }, urlsetXml([SITEMAP_FOREIGN_URL, ...listed(10)]));
      case '/sitemap-forbidden.xml':
        return this.send(req, res, 200, { 'content-type': XML_TYPE }, urlsetXml([...SITEMAP_FORBIDDEN_URLS, ...listed(11)]));
      case '/sitemap-bomb.xml.gz': {
        // three gzip members, one stream: the head, 64 MiB of spaces, the tail
        const [head, tail] = urlsetXml(listed('bomb')).split('</urlset>');
        const body = Buffer.concat([zlib.gzipSync(head!), this.bodies!.sitemapBombSpaces, zlib.gzipSync(`</urlset>${tail!}`)]);
        return this.send(req, res, 200, { 'content-type': GZIP_TYPE }, body);
      }
      case '/sitemap.xml':
        return this.send(req, res, 200, { 'content-type': XML_TYPE }, urlsetXml(listed(12)));
    }
    return this.notFound(req, res);
  }

  private serveRobots(req: IncomingMessage, res: ServerResponse): void {
    const r = this.robots;
    if (typeof r === 'string') return this.send(req, res, 200, { 'content-type': TEXT_TYPE }, r);
    if ('status' in r) return this.send(req, res, r.status, { 'content-type': TEXT_TYPE }, `${r.status}\n`);
    if ('redirectTo' in r) return this.redirect(req, res, r.redirectTo, 301);
    if ('sitemaps' in r) {
      const lines = r.sitemaps.map((p) => `Sitemap: ${new URL(p, this.origin).href}\n`).join('');
      return this.send(req, res, 200, { 'content-type': TEXT_TYPE }, `User-agent: *\nDisallow: /listed/private/\n\n${lines}`);
    }
    this.later(res, r.delayMs, () => this.send(req, res, 200, { 'content-type': TEXT_TYPE }, ''));
  }

  private slowDrip(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': HTML_TYPE, 'cache-control': 'no-store' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    let i = 0;
    const drip = (): void => {
      res.write(DRIP_TEXT[i % DRIP_TEXT.length]!);
      this.counters.bytesSent++;
      i++;
    };
    drip();
    this.every(res, this.dripIntervalMs, drip);
  }

  /** Streams HUGE_BYTES, one reused 64 KiB chunk at a time, waiting for 'drain' when the socket is full. */
  private huge(req: IncomingMessage, res: ServerResponse, declared: boolean): void {
    res.writeHead(200, { 'content-type': HTML_TYPE, ...(declared ? { 'content-length': HUGE_BYTES } : {}) });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    let sent = 0;
    let closed = false;
    res.once('close', () => {
      closed = true;
    });
    const write = (chunk: Buffer): boolean => {
      sent += chunk.length;
      this.counters.bytesSent += chunk.length;
      return res.write(chunk);
    };
    const pump = (): void => {
      while (!closed && sent < HUGE_BYTES) {
        const left = HUGE_BYTES - sent;
        const chunk = sent === 0 ? HUGE_PREFIX : left >= HUGE_FILLER.length ? HUGE_FILLER : HUGE_FILLER.subarray(0, left);
        if (!write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      if (!closed) res.end();
    };
    pump();
  }

  private indexPage(): string {
    const items = HAZARD_PATHS.map((p) => [p.startsWith('/session/') ? `${p}?sid=${token()}` : p, p] as const);
    return page('Adversarial site', links(items));
  }

  private okPage(n: number): string {
    const targets = [(n + 1) % OK_PAGES, (n + OK_PAGES - 1) % OK_PAGES, (7 * n + 3) % OK_PAGES];
    return page(`OK ${n}`, `<p>A normal page.</p>\n${links([['/', 'home'], ...targets.map((t) => [`/ok/${t}.html`, `OK ${t}`] as const)])}`);
  }

  private calendarPage(year: number, month: number): string {
    const ym = (y: number, m: number): string => `/calendar/${String(y).padStart(4, '0')}/${String(m).padStart(2, '0')}`;
    const nav: [string, string][] = [];
    if (year > 0 || month > 1) nav.push([month === 1 ? ym(year - 1, 12) : ym(year, month - 1), 'previous month']);
    if (year < MAX_YEAR || month < 12) nav.push([month === 12 ? ym(year + 1, 1) : ym(year, month + 1), 'next month']);
    const days = new Date(Date.UTC(2000 + (year % 400), month, 0)).getUTCDate();
    const cells = Array.from({ length: days }, (_, d) => `<td>${d + 1}</td>`).join('');
    return page(`Calendar ${ym(year, month).slice(10)}`, `<table><tr>${cells}</tr></table>\n${links(nav)}`);
  }

  private sessionPage(id: string): string {
    const base = `/session/${id}/page`;
    return page(
      `Session ${id}`,
      '<p>The same content under ever new URLs.</p>\n' +
        links([
          [`${base}?sid=${token()}`, 'same page, new sid'],
          [`${base}?PHPSESSID=${token()}`, 'same page, PHP session'],
          [`${base};jsessionid=${token()}`, 'same page, Java session'],
          [`${base}?utm_source=${token()}&utm_medium=crawl`, 'same page, tracking'],
          [`/session/${token()}/page?sid=${token()}`, 'new session'],
        ]),
    );
  }
}

/**
 * A TCP listener on a loopback address that counts accepted connections and
 * closes each at once: SSRF tests start one on the forbidden address and
 * assert `accepted === 0` after the crawl.
 */
export class ConnectionCounter {
  private server: net.Server | null = null;
  private count = 0;

  /** Connections accepted since start. */
  get accepted(): number {
    return this.count;
  }

  /** Listens on a loopback host; resolves to the port. */
  async start(host: string, port = 0): Promise<number> {
    assertLoopback(host);
    if (this.server) throw new Error('ConnectionCounter already started');
    const server = net.createServer((socket) => {
      this.count++;
      socket.on('error', () => undefined);
      socket.destroy();
    });
    this.server = server;
    try {
      return (await listen(server, host, port)).port;
    } catch (err) {
      this.server = null;
      throw err;
    }
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
