import assert from 'node:assert/strict';
import * as cheerio from 'cheerio';
import { extractLinks, pageTitle } from '../../../services/extractor/links.js';
import type { LinkOptions, PageLinks } from '../../../services/extractor/links.js';

const PAGE = 'http://example.com/dir/page.html';
const defaults: LinkOptions = { followNofollow: false, maxLinks: 1000 };

/** Loads through htmlparser2, as the extractor does. */
function load(html: string): cheerio.CheerioAPI {
  return cheerio.load(html, { xml: { xmlMode: false } });
}

function extract(html: string, opts: Partial<LinkOptions> = {}, pageUrl = PAGE): PageLinks {
  return extractLinks(load(html), pageUrl, { ...defaults, ...opts });
}

function links(hrefs: string[]): string {
  return hrefs.map((href) => `<a href="${href}">x</a>`).join('\n');
}

interface Case {
  name: string;
  html: string;
  opts?: Partial<LinkOptions>;
  pageUrl?: string;
  expected: string[];
}

const cases: Record<string, Case[]> = {
  'resolves links against the page': [
    { name: 'relative file', html: links(['other.html']), expected: ['http://example.com/dir/other.html'] },
    { name: 'parent directory', html: links(['../up.html', '../../top']), expected: ['http://example.com/up.html', 'http://example.com/top'] },
    { name: 'root relative', html: links(['/a?b=2&a=1']), expected: ['http://example.com/a?a=1&b=2'] },
    { name: 'protocol relative', html: links(['//cdn.example.org/x']), expected: ['http://cdn.example.org/x'] },
    { name: 'absolute, normalized', html: links(['HTTPS://Other.ORG:443/P#frag']), expected: ['https://other.org/P'] },
    { name: 'query only', html: links(['?page=2']), expected: ['http://example.com/dir/page.html?page=2'] },
    { name: 'whitespace around and inside href', html: '<a href="  /spaced\n ">x</a><a href="/a\tb\nc">y</a>', expected: ['http://example.com/spaced', 'http://example.com/abc'] },
    { name: 'entities decoded', html: '<a href="/s?x=1&amp;y=2">x</a>', expected: ['http://example.com/s?x=1&y=2'] },
  ],
  'honours <base href>': [
    { name: 'absolute base', html: `<base href="http://cdn.example.org/root/">${links(['a', '/b'])}`, expected: ['http://cdn.example.org/root/a', 'http://cdn.example.org/b'] },
    { name: 'relative base', html: `<base href="/other/sub/">${links(['a', '../b'])}`, expected: ['http://example.com/other/sub/a', 'http://example.com/other/b'] },
    { name: 'first base wins', html: `<base href="/one/"><base href="/two/">${links(['a'])}`, expected: ['http://example.com/one/a'] },
    { name: 'non-http base ignored', html: `<base href="ftp://files.example/">${links(['a'])}`, expected: ['http://example.com/dir/a'] },
    { name: 'base without href ignored', html: `<base target="_blank">${links(['a'])}`, expected: ['http://example.com/dir/a'] },
    { name: 'fragment link under a foreign base is another page', html: `<base href="http://cdn.example.org/">${links(['#top'])}`, expected: ['http://cdn.example.org/'] },
  ],
  'drops what cannot be crawled': [
    {
      name: 'non-http schemes',
      html: links(['mailto:a@example.com', 'javascript:void(0)', 'JavaScript:alert(1)', 'tel:+123', 'data:text/html,x', 'ftp://example.com/f', 'http://ok.example/']),
      expected: ['http://ok.example/'],
    },
    { name: 'empty and blank hrefs', html: '<a href="">x</a><a href="   ">y</a><a>no href</a>', expected: [] },
    { name: 'fragment-only links to the page', html: links(['#', '#top', 'page.html#x']), expected: ['http://example.com/dir/page.html'] },
    { name: 'unparseable', html: links(['http://exa mple.com/', 'http://:80/']), expected: [] },
    {
      name: 'link, script and other elements',
      html: '<link rel="stylesheet" href="/s.css"><script src="/x.js"></script><img src="/i.png"><iframe src="/f"></iframe><a href="/ok">ok</a>',
      expected: ['http://example.com/ok'],
    },
  ],
  'takes area tags in document order': [
    {
      name: 'a and area interleaved',
      html: '<a href="/1">1</a><map name="m"><area href="/2" shape="rect"><area nohref></map><a href="/3">3</a>',
      expected: ['http://example.com/1', 'http://example.com/2', 'http://example.com/3'],
    },
  ],
  'applies the rel=nofollow policy': [
    {
      name: 'nofollow dropped by default',
      html: '<a href="/a" rel="nofollow">a</a><a href="/b" rel="external NoFollow">b</a><a href="/c" rel="nofollower">c</a><a href="/d">d</a>',
      expected: ['http://example.com/c', 'http://example.com/d'],
    },
    {
      name: 'nofollow kept with followNofollow',
      html: '<a href="/a" rel="nofollow">a</a><a href="/b" rel="external NoFollow">b</a><a href="/d">d</a>',
      opts: { followNofollow: true },
      expected: ['http://example.com/a', 'http://example.com/b', 'http://example.com/d'],
    },
    { name: 'nofollow on area', html: '<area href="/a" rel="nofollow"><area href="/b">', expected: ['http://example.com/b'] },
  ],
  'deduplicates and caps': [
    { name: 'duplicates after normalization', html: links(['/a', '/a#x', 'http://EXAMPLE.com:80/a', '/b', '/a']), expected: ['http://example.com/a', 'http://example.com/b'] },
    { name: 'maxLinks cap', html: links(['/1', '/2', '/3', '/4']), opts: { maxLinks: 2 }, expected: ['http://example.com/1', 'http://example.com/2'] },
    { name: 'cap counts distinct links', html: links(['/1', '/1', '/1', '/2', '/3']), opts: { maxLinks: 2 }, expected: ['http://example.com/1', 'http://example.com/2'] },
    { name: 'maxLinks 0', html: links(['/1']), opts: { maxLinks: 0 }, expected: [] },
    { name: 'strip params applied', html: links(['/a?utm_source=x', '/a', '/b?gclid=1&k=v']), opts: { stripParams: ['utm_*', 'gclid'] }, expected: ['http://example.com/a', 'http://example.com/b?k=v'] },
  ],
};

describe('extractLinks', () => {
  for (const [behaviour, group] of Object.entries(cases)) {
    describe(behaviour, () => {
      for (const c of group) {
        it(c.name, () => assert.deepEqual(extract(c.html, c.opts, c.pageUrl).links, c.expected));
      }
    });
  }

  describe('reports the base', () => {
    const baseCases: { name: string; html: string; expected: string }[] = [
      { name: 'page URL without <base>', html: '<p>x</p>', expected: PAGE },
      { name: 'resolved relative <base>', html: '<base href="../b/">', expected: 'http://example.com/b/' },
      { name: 'page URL for a non-http <base>', html: '<base href="javascript:x">', expected: PAGE },
    ];
    for (const c of baseCases) it(c.name, () => assert.equal(extract(c.html).base, c.expected));
  });

  describe('applies meta robots', () => {
    const robotsCases: { name: string; html: string; opts?: Partial<LinkOptions>; nofollowPage: boolean; noindex: boolean; links: number }[] = [
      { name: 'no meta', html: links(['/a']), nofollowPage: false, noindex: false, links: 1 },
      { name: 'nofollow drops every link', html: `<meta name="robots" content="nofollow">${links(['/a', '/b'])}`, nofollowPage: true, noindex: false, links: 0 },
      { name: 'nofollow case-insensitive in a list', html: `<META NAME="Robots" CONTENT="index, NoFollow">${links(['/a'])}`, nofollowPage: true, noindex: false, links: 0 },
      { name: 'none means nofollow and noindex', html: `<meta name="robots" content="none">${links(['/a'])}`, nofollowPage: true, noindex: true, links: 0 },
      { name: 'noindex alone keeps links', html: `<meta name="robots" content="noindex">${links(['/a'])}`, nofollowPage: false, noindex: true, links: 1 },
      { name: 'directives of several tags combine', html: `<meta name="robots" content="noindex"><meta name="robots" content="nofollow">${links(['/a'])}`, nofollowPage: true, noindex: true, links: 0 },
      { name: 'followNofollow keeps links of a nofollow page', html: `<meta name="robots" content="nofollow">${links(['/a', '/b'])}`, opts: { followNofollow: true }, nofollowPage: true, noindex: false, links: 2 },
      { name: 'other meta names ignored', html: `<meta name="description" content="nofollow noindex">${links(['/a'])}`, nofollowPage: false, noindex: false, links: 1 },
    ];
    for (const c of robotsCases) {
      it(c.name, () => {
        const result = extract(c.html, c.opts);
        assert.equal(result.nofollowPage, c.nofollowPage);
        assert.equal(result.noindex, c.noindex);
        assert.equal(result.links.length, c.links);
      });
    }
  });

  describe('finds the canonical', () => {
    const canonicalCases: { name: string; html: string; opts?: Partial<LinkOptions>; expected: string | null }[] = [
      { name: 'absent', html: '<link rel="stylesheet" href="/s.css">', expected: null },
      { name: 'relative, normalized', html: '<link rel="canonical" href="../Canon?b=1&a=2#x">', expected: 'http://example.com/Canon?a=2&b=1' },
      { name: 'rel token among others, any case', html: '<link rel="alternate CANONICAL" href="http://example.com/c">', expected: 'http://example.com/c' },
      { name: 'against <base>', html: '<base href="http://cdn.example.org/x/"><link rel="canonical" href="c">', expected: 'http://cdn.example.org/x/c' },
      { name: 'first usable one', html: '<link rel="canonical" href="mailto:x@y"><link rel="canonical" href="/one"><link rel="canonical" href="/two">', expected: 'http://example.com/one' },
      { name: 'params stripped', html: '<link rel="canonical" href="/c?utm_medium=x">', opts: { stripParams: ['utm_*'] }, expected: 'http://example.com/c' },
      { name: 'a rel=canonical anchor is a link, not the canonical', html: '<a rel="canonical" href="/a">a</a>', expected: null },
      { name: 'reported on a nofollow page', html: '<meta name="robots" content="none"><link rel="canonical" href="/c">', expected: 'http://example.com/c' },
    ];
    for (const c of canonicalCases) it(c.name, () => assert.equal(extract(c.html, c.opts).canonical, c.expected));
  });

  it('handles a realistic document', () => {
    const html = `<!doctype html>
      <html><head><title>Docs</title>
        <link rel="canonical" href="https://example.com/dir/page.html">
        <link rel="stylesheet" href="/style.css">
      </head><body>
        <nav><a href="/">Home</a> <a href="./">Dir</a> <a href="#main">Skip</a></nav>
        <a href="mailto:team@example.com">Mail</a>
        <a href="/login" rel="nofollow">Login</a>
        <a href="page.html?utm_campaign=x">Self with tracking</a>
      </body></html>`;
    const result = extract(html, { stripParams: ['utm_*'] });
    assert.deepEqual(result, {
      links: ['http://example.com/', 'http://example.com/dir/', 'http://example.com/dir/page.html'],
      canonical: 'https://example.com/dir/page.html',
      base: PAGE,
      nofollowPage: false,
      noindex: false,
    });
  });
});

describe('pageTitle', () => {
  const titleCases: { name: string; html: string; expected: string | null }[] = [
    { name: 'plain', html: '<title>Hello</title>', expected: 'Hello' },
    { name: 'trimmed and collapsed', html: '<title>\n   Hello \t\n  World  </title>', expected: 'Hello World' },
    { name: 'entities decoded', html: '<title>Fish &amp; Chips</title>', expected: 'Fish & Chips' },
    { name: 'missing', html: '<p>no title</p>', expected: null },
    { name: 'empty', html: '<title>   </title>', expected: null },
    { name: 'first one wins', html: '<title>One</title><title>Two</title>', expected: 'One' },
    { name: 'svg titles ignored', html: '<body><svg><title>Icon</title></svg></body>', expected: null },
  ];
  for (const c of titleCases) it(c.name, () => assert.equal(pageTitle(load(c.html)), c.expected));
});
