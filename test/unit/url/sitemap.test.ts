import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { parseRobots } from '../../../shared/url/robots.js';
import { parseSitemap, SITEMAP_MAX_BYTES, SITEMAP_MAX_URLS, sitemapCandidates, type ParsedSitemap, type SitemapOptions } from '../../../shared/url/sitemap.js';

const NS = 'http://www.sitemaps.org/schemas/sitemap/0.9';

function urlset(...locs: string[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="${NS}">\n${locs.map((l) => `  <url><loc>${l}</loc><lastmod>2024-01-01</lastmod></url>\n`).join('')}</urlset>\n`;
}

function index(...locs: string[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="${NS}">\n${locs.map((l) => `  <sitemap><loc>${l}</loc></sitemap>\n`).join('')}</sitemapindex>\n`;
}

const ok = (kind: 'urlset' | 'index', urls: string[], truncated = false): ParsedSitemap => ({ kind, urls, truncated });

describe('parseSitemap', () => {
  const table: [string, string | Buffer, ParsedSitemap, SitemapOptions?][] = [
    ['a urlset', urlset('http://a.test/1', 'https://a.test/2'), ok('urlset', ['http://a.test/1', 'https://a.test/2'])],
    ['a sitemap index', index('http://a.test/s1.xml', 'http://a.test/s2.xml.gz'), ok('index', ['http://a.test/s1.xml', 'http://a.test/s2.xml.gz'])],
    ['an empty urlset', urlset(), ok('urlset', [])],
    [
      'a namespace prefix',
      `<sm:urlset xmlns:sm="${NS}"><sm:url><sm:loc>http://a.test/p</sm:loc></sm:url></sm:urlset>`,
      ok('urlset', ['http://a.test/p']),
    ],
    ['no namespace, odd case', '<URLSET><Url><LOC>http://a.test/p</LOC></Url></URLSET>', ok('urlset', ['http://a.test/p'])],
    ['entities decoded', urlset('http://a.test/s?a=1&amp;b=2&#38;c=&#x33;', 'http://a.test/&lt;x&gt;'), ok('urlset', ['http://a.test/s?a=1&b=2&c=3', 'http://a.test/%3Cx%3E'])],
    ['CDATA', urlset('<![CDATA[http://a.test/c?x=1&y=2]]>'), ok('urlset', ['http://a.test/c?x=1&y=2'])],
    ['white space trimmed', urlset('\n    http://a.test/w  \t\n  '), ok('urlset', ['http://a.test/w'])],
    ['comments skipped', urlset('<!-- http://a.test/no -->http://a.test/yes'), ok('urlset', ['http://a.test/yes'])],
    [
      'only http(s) kept',
      urlset('file:///etc/passwd', 'ftp://a.test/f', 'javascript:alert(1)', '/relative', 'not a url', 'http://127.0.0.1:1/', 'HTTPS://A.TEST/up'),
      ok('urlset', ['http://127.0.0.1:1/', 'https://a.test/up']),
    ],
    ['duplicates once', urlset('http://a.test/d', 'http://a.test/d', 'http://A.test:80/d'), ok('urlset', ['http://a.test/d'])],
    [
      'image and alternate locs ignored',
      `<urlset xmlns="${NS}" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1" xmlns:xhtml="http://www.w3.org/1999/xhtml">` +
        '<url><loc>http://a.test/page</loc><image:image><image:loc>http://a.test/i.png</image:loc></image:image>' +
        '<xhtml:link rel="alternate" hreflang="de" href="http://a.test/de"/></url><loc>http://a.test/stray</loc></urlset>',
      ok('urlset', ['http://a.test/page']),
    ],
    ['locs of the other kind ignored', `<sitemapindex><url><loc>http://a.test/p</loc></url><sitemap><loc>http://a.test/s.xml</loc></sitemap></sitemapindex>`, ok('index', ['http://a.test/s.xml'])],
    [
      'no entity expansion from a DTD',
      `<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY a "http://evil.test/"><!ENTITY b "&a;&a;&a;&a;">]><urlset><url><loc>&b;</loc></url><url><loc>http://a.test/x</loc></url></urlset>`,
      ok('urlset', ['http://a.test/x']),
    ],
    ['an unclosed loc at the end is dropped', `<urlset><url><loc>http://a.test/1</loc></url><url><loc>http://a.test/2`, ok('urlset', ['http://a.test/1'])],
    ['a UTF-8 BOM', `\ufeff${urlset('http://a.test/bom')}`, ok('urlset', ['http://a.test/bom'])],
    ['IDN and spaces serialized', urlset('http://bücher.test/a b'), ok('urlset', ['http://xn--bcher-kva.test/a%20b'])],
    ['plain text', 'http://a.test/1\nhttps://a.test/2\r\n\r\n  http://a.test/3  \rhttp://a.test/4', ok('urlset', ['http://a.test/1', 'https://a.test/2', 'http://a.test/3', 'http://a.test/4'])],
    ['plain text keeps only http(s)', 'file:///etc/passwd\nhttp://a.test/ok\nmailto:x@a.test\n', ok('urlset', ['http://a.test/ok'])],
    ['plain text of other schemes only', 'file:///etc/passwd\n', ok('urlset', [])],
    ['maxUrls', urlset('http://a.test/1', 'http://a.test/2', 'http://a.test/3'), ok('urlset', ['http://a.test/1', 'http://a.test/2'], true), { maxUrls: 2 }],
    ['maxUrls exactly', urlset('http://a.test/1', 'http://a.test/2', 'http://a.test/1'), ok('urlset', ['http://a.test/1', 'http://a.test/2']), { maxUrls: 2 }],
    ['maxUrls in plain text', 'http://a.test/1\nhttp://a.test/2\nhttp://a.test/3\n', ok('urlset', ['http://a.test/1'], true), { maxUrls: 1 }],
  ];
  for (const [name, body, want, opts] of table) {
    it(name, () => assert.deepEqual(parseSitemap(Buffer.from(body), opts), want));
  }

  const invalid: [string, string | Buffer, string, string][] = [
    ['an empty body', '', 'not_a_sitemap', 'empty body'],
    ['white space only', ' \n\t ', 'not_a_sitemap', 'empty body'],
    ['an HTML page', '<!doctype html><html><body><a href="http://a.test/">x</a></body></html>', 'not_a_sitemap', 'root element <html>'],
    ['an RSS feed', '<rss version="2.0"><channel><item><link>http://a.test/</link></item></channel></rss>', 'not_a_sitemap', 'root element <rss>'],
    ['XML without elements', '<?xml version="1.0"?><!-- nothing -->', 'not_a_sitemap', 'no root element'],
    ['prose', 'Not Found\nThe requested URL was not found on this server.\n', 'not_a_sitemap', 'neither XML nor a list of URLs'],
    ['binary garbage', Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x0a, 0x68]), 'not_a_sitemap', 'binary content'],
    ['broken gzip', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02, 0x03]), 'bad_gzip', 'unexpected end of file'],
    ['a gzip cut short', zlib.gzipSync(urlset('http://a.test/1')).subarray(0, 30), 'bad_gzip', 'unexpected end of file'],
  ];
  for (const [name, body, error, detail] of invalid) {
    it(`${name}: invalid (${error})`, () => {
      assert.deepEqual(parseSitemap(Buffer.from(body)), { kind: 'invalid', urls: [], truncated: false, error, detail });
    });
  }

  it('inflates a gzipped sitemap, XML or text', () => {
    assert.deepEqual(parseSitemap(zlib.gzipSync(urlset('http://a.test/gz'))), ok('urlset', ['http://a.test/gz']));
    assert.deepEqual(parseSitemap(zlib.gzipSync(index('http://a.test/s.xml'))), ok('index', ['http://a.test/s.xml']));
    assert.deepEqual(parseSitemap(zlib.gzipSync('http://a.test/t\n')), ok('urlset', ['http://a.test/t']));
  });

  it('refuses a gzip bomb whole without inflating past maxBytes', () => {
    const bomb = zlib.gzipSync(Buffer.concat([Buffer.from(urlset('http://a.test/1').replace('</urlset>\n', '')), Buffer.alloc(8 * 1024 * 1024, ' ')]));
    assert.ok(bomb.length < 64 * 1024, `${bomb.length} bytes`);
    assert.deepEqual(parseSitemap(bomb, { maxBytes: 1024 * 1024 }), {
      kind: 'invalid', urls: [], truncated: false, error: 'too_large', detail: 'inflates to more than 1048576 bytes',
    });
    assert.equal(parseSitemap(bomb, { maxBytes: 16 * 1024 * 1024 }).kind, 'urlset', 'within the limit it is a sitemap');
  });

  it('reads an uncompressed body up to maxBytes and drops the loc or line the limit cuts', () => {
    const xml = urlset('http://a.test/1', 'http://a.test/2');
    const cutAt = xml.indexOf('http://a.test/2') + 10;
    assert.deepEqual(parseSitemap(Buffer.from(xml), { maxBytes: cutAt }), ok('urlset', ['http://a.test/1'], true));
    const text = 'http://a.test/1\nhttp://a.test/22\n';
    assert.deepEqual(parseSitemap(Buffer.from(text), { maxBytes: text.length - 2 }), ok('urlset', ['http://a.test/1'], true));
    // without its line end a last line may be cut: dropped
    assert.deepEqual(parseSitemap(Buffer.from(text), { maxBytes: text.length - 1 }), ok('urlset', ['http://a.test/1'], true));
    assert.deepEqual(parseSitemap(Buffer.from(text), { maxBytes: text.length }), ok('urlset', ['http://a.test/1', 'http://a.test/22']));
  });

  it('does not expand a billion-laughs DOCTYPE: the entity stays as written', () => {
    const lol = Array.from({ length: 9 }, (_, k) => `<!ENTITY lol${k + 1} "${`&lol${k === 0 ? '' : k};`.repeat(10)}">`).join('');
    const body = `<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY lol "lol">${lol}]>\n<urlset xmlns="${NS}"><url><loc>http://a.test/&lol9;</loc></url><url><loc>&lol9;</loc></url><url><loc>http://a.test/x</loc></url></urlset>`;
    // expanded, &lol9; would be 3 * 10^9 characters; as written it is part of a URL path
    assert.deepEqual(parseSitemap(Buffer.from(body)), ok('urlset', ['http://a.test/&lol9;', 'http://a.test/x']));
  });

  it('cut at any byte: keeps exactly the locs whose end tag the limit leaves whole', () => {
    const xml =
      `<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="${NS}">` +
      '<url><loc>http://a.test/1</loc><lastmod>2024-01-01</lastmod></url>' +
      '<url><loc><![CDATA[http://a.test/2?x=1&y=<2>]]></loc></url>' +
      '<!-- <url><loc>http://a.test/no</loc></url> -->' +
      '<url><loc>http://a.test/3?a=1&amp;b=2</loc></url>' +
      '<url><sm:LOC xmlns:sm="x">http://a.test/4</sm:LOC></url></urlset>\n';
    const locs: [number, string][] = [
      [xml.indexOf('</loc>') + 6, 'http://a.test/1'],
      [xml.indexOf(']]></loc>') + 9, 'http://a.test/2?x=1&y=%3C2%3E'],
      [xml.indexOf('b=2</loc>') + 9, 'http://a.test/3?a=1&b=2'],
      [xml.indexOf('</sm:LOC>') + 9, 'http://a.test/4'],
    ];
    const rootOpen = xml.indexOf(`${NS}">`) + NS.length + 2;
    assert.equal(Buffer.byteLength(xml), xml.length, 'ASCII only: a byte offset is a character offset');
    for (let n = 1; n < xml.length; n++) {
      const r = parseSitemap(Buffer.from(xml), { maxBytes: n });
      const want = locs.filter(([end]) => end <= n).map(([, url]) => url);
      if (n >= rootOpen) assert.deepEqual(r, ok('urlset', want, true), `cut after ${n} bytes: ${JSON.stringify(xml.slice(n - 12, n))}`);
      else assert.deepEqual(r.urls, [], `cut after ${n} bytes`);
    }
    assert.deepEqual(parseSitemap(Buffer.from(xml), { maxBytes: xml.length }), ok('urlset', locs.map(([, url]) => url)));
  });

  it('takes the protocol limits by default: 50,000 URLs, 50 MiB', () => {
    assert.equal(SITEMAP_MAX_URLS, 50_000);
    assert.equal(SITEMAP_MAX_BYTES, 50 * 1024 * 1024);
    const locs = Array.from({ length: SITEMAP_MAX_URLS + 1 }, (_, i) => `http://a.test/${i}`);
    const r = parseSitemap(Buffer.from(urlset(...locs)));
    assert.equal(r.urls.length, SITEMAP_MAX_URLS);
    assert.equal(r.truncated, true);
    assert.equal(r.urls.at(-1), `http://a.test/${SITEMAP_MAX_URLS - 1}`);
  });

  it('never throws on random bytes', () => {
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const alphabet = ['<', '>', '/', 'urlset', 'url', 'loc', 'sitemapindex', 'http://a.test/', '&', '&amp;', '<![CDATA[', ']]>', '\n', ' ', ':', 'x', '"', '='];
    for (let n = 0; n < 300; n++) {
      const parts = Array.from({ length: Math.floor(random() * 60) }, () => alphabet[Math.floor(random() * alphabet.length)] as string);
      const body = n % 3 === 0 ? Buffer.from(Array.from({ length: 64 }, () => Math.floor(random() * 256))) : Buffer.from(parts.join(''));
      const r = parseSitemap(n % 5 === 0 ? zlib.gzipSync(body) : body);
      assert.ok(['urlset', 'index', 'invalid'].includes(r.kind));
      for (const u of r.urls) assert.match(u, /^https?:\/\//);
    }
  });
});

describe('sitemapCandidates', () => {
  const table: [string, string, string[], string[]][] = [
    ['no robots.txt sitemaps', 'http://a.test', [], ['http://a.test/sitemap.xml']],
    ['robots.txt first, then /sitemap.xml', 'https://a.test:8443', ['https://a.test:8443/index.xml', 'http://cdn.test/s.xml.gz'], ['https://a.test:8443/index.xml', 'http://cdn.test/s.xml.gz', 'https://a.test:8443/sitemap.xml']],
    ['deduplicated', 'http://a.test', ['http://a.test/sitemap.xml', 'HTTP://A.TEST:80/sitemap.xml', ' http://a.test/x.xml '], ['http://a.test/sitemap.xml', 'http://a.test/x.xml']],
    ['not http(s) or relative: dropped', 'http://a.test', ['/sitemap2.xml', 'ftp://a.test/s.xml', 'file:///etc/passwd', ''], ['http://a.test/sitemap.xml']],
    ['an origin with a path or trailing slash', 'http://a.test/some/page', [], ['http://a.test/sitemap.xml']],
    ['no usable origin', 'not a url', ['http://a.test/s.xml'], ['http://a.test/s.xml']],
  ];
  for (const [name, origin, listed, want] of table) {
    it(name, () => assert.deepEqual(sitemapCandidates(origin, listed), want));
  }

  it('takes the Sitemap: lines of a parsed robots.txt', () => {
    const robots = parseRobots('User-agent: *\nDisallow: /private/\nSitemap: http://a.test/sitemap_index.xml\nsitemap: http://a.test/news.xml\n', 'crawlfleet');
    assert.deepEqual(sitemapCandidates('http://a.test', robots.sitemaps), ['http://a.test/sitemap_index.xml', 'http://a.test/news.xml', 'http://a.test/sitemap.xml']);
  });
});
