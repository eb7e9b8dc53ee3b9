import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as cheerio from 'cheerio';
import type { Document } from 'domhandler';
import { parseDocument } from 'htmlparser2';
import { capUtf8 } from '../../../services/extractor/content/caps.js';
import { pageContent, type ContentOptions, type PageContent } from '../../../services/extractor/content/index.js';
import { boilerplateWord } from '../../../services/extractor/content/main-content.js';

const PAGE = 'http://example.com/docs/guide/page.html';
const FIXTURES = new URL('../../../../test/fixtures/content/', import.meta.url);

function fixture(name: string): string {
  return readFileSync(new URL(name, FIXTURES), 'utf8');
}

/** Parses as the extractor does (htmlparser2, entities decoded) and converts. */
function content(html: string, opts: Partial<ContentOptions> = {}, pageUrl = PAGE): PageContent {
  return pageContent(parseDocument(html, { decodeEntities: true }), html, pageUrl, { formats: ['markdown', 'text', 'html', 'rawHtml', 'links', 'metadata'], ...opts });
}

describe('page content', () => {
  describe('markdown of fixture pages matches the expected files', () => {
    for (const name of ['structure', 'table', 'code', 'base', 'boilerplate']) {
      it(name, () => {
        assert.equal(content(fixture(`${name}.html`)).markdown, fixture(`${name}.md`));
      });
    }
  });

  it('takes the document of the extractor\'s cheerio load (htmlparser2) as it is', () => {
    const html = fixture('structure.html');
    const $ = cheerio.load(html, { xml: { xmlMode: false, decodeEntities: true } });
    const fromCheerio = pageContent($.root()[0] as Document, html, PAGE, { formats: ['markdown', 'links', 'metadata'] });
    const direct = content(html, { formats: ['markdown', 'links', 'metadata'] });
    assert.equal(fromCheerio.markdown, fixture('structure.md'));
    assert.deepEqual(fromCheerio, direct);
  });

  describe('markdown', () => {
    it('keeps headings, nested lists, emphasis, quotes and entities', () => {
      const md = content(fixture('structure.html')).markdown!;
      assert.match(md, /^# Getting started$/m);
      assert.match(md, /^### Notes$/m);
      assert.match(md, /^## Steps$/m, 'the ¶ permalink beside the heading is left out');
      assert.match(md, /^1\. Install the package\n {3}- with \[npm\]/m);
      assert.match(md, /^ {5}- clone the repository$/m);
      assert.match(md, /\*politely\*.*\*\*fast\*\* & keep `robots\.txt`/);
      assert.match(md, /5 < 6 © 2026/);
      assert.match(md, /^> Be kind to servers\.$/m);
    });

    it('makes relative links and images absolute against the page URL', () => {
      const md = content(fixture('structure.html')).markdown!;
      assert.match(md, /\[npm\]\(http:\/\/example\.com\/docs\/npm\.html\)/);
      assert.match(md, /\(http:\/\/example\.com\/docs\/guide\/intro\.html#scope "Scope"\)/);
      assert.match(md, /!\[crawlfleet logo\]\(http:\/\/example\.com\/docs\/guide\/img\/logo\.png\)/);
    });

    it('resolves against <base href>, drops javascript: links, takes data-src over a data: src', () => {
      const md = content(fixture('base.html')).markdown!;
      assert.match(md, /\(https:\/\/cdn\.example\.org\/assets\/page\.html\)/);
      assert.ok(md.includes(' script link,'), md);
      assert.ok(!md.includes('javascript:'));
      assert.ok(!md.includes('data:image'));
      assert.match(md, /!\[Lazy\]\(https:\/\/cdn\.example\.org\/assets\/pics\/lazy\.png\)/);
    });

    it('writes GFM tables with alignment and escaped pipes', () => {
      const md = content(fixture('table.html')).markdown!;
      assert.match(md, /^\| Code \| Meaning +\| Retry \|$/m);
      assert.match(md, /^\| -+ \| -+ \| -+: \|$/m);
      assert.match(md, /Service unavailable \\\| busy/);
    });

    it('fences code blocks with the language of language-, lang- and Sphinx highlight- classes', () => {
      const md = content(fixture('code.html')).markdown!;
      assert.match(md, /```js\nconst x = 1;\nif \(x < 2\) console\.log\("small"\);\n```/);
      assert.match(md, /```python3\ndef f\(\):\n {4}return 42\n```/);
      assert.match(md, /```sh\nnpm ci --no-audit\n```/);
      assert.match(md, /```\nplain text\n {2}indented\n```/);
      assert.match(md, /Inline `a && b` stays inline/);
    });

    it('is empty for a page without content', () => {
      assert.equal(content('<html><head><title>t</title></head><body> </body></html>').markdown, '');
    });
  });

  describe('onlyMainContent', () => {
    const page = fixture('boilerplate.html');

    it('drops navigation, header, footer, sidebars, banners, modals and hidden blocks (default)', () => {
      const { markdown, text, html } = content(page);
      for (const out of [markdown!, text!, html!]) {
        assert.ok(out.includes('The main story'));
        assert.ok(out.includes('First paragraph of the main text.'));
        assert.ok(out.includes('A section heading kept'), 'a header inside a section is not the banner');
        for (const gone of ['Navigation entry', 'Site name in the banner', 'Footer legal line', 'cookies', 'Blog', 'Share on', 'Sidebar', 'Complementary', 'Hidden text', 'newsletter']) {
          assert.ok(!out.includes(gone), `${gone} is dropped`);
        }
      }
    });

    it('keeps everything in the body when false', () => {
      const { markdown } = content(page, { onlyMainContent: false });
      for (const kept of ['Navigation entry 200', 'Footer legal line 100', 'Sidebar text', 'The main story']) assert.ok(markdown!.includes(kept), kept);
    });

    it('prefers <main>, then [role=main], then a single <article>', () => {
      const around = (inner: string): string => `<body><div>Outside text</div>${inner}<p>More outside</p></body>`;
      assert.equal(content(around('<main><p>In main</p></main><article><p>Other</p></article>')).markdown, 'In main\n');
      assert.equal(content(around('<div role="main"><p>In role main</p></div>')).markdown, 'In role main\n');
      assert.equal(content(around('<article><p>The article</p></article>')).markdown, 'The article\n');
      const two = content(around('<article><p>One</p></article><article><p>Two</p></article>')).markdown!;
      assert.ok(two.includes('Outside text') && two.includes('One') && two.includes('Two'), 'several articles keep the body');
    });

    it('never drops <main> or an ancestor of it, whatever its class says', () => {
      const md = content('<body><div class="sidebar-layout"><nav>menu</nav><main class="related"><p>Kept</p></main></div></body>').markdown!;
      assert.equal(md, 'Kept\n');
      const nested = content('<body><div id="comments"><article><p>Inside article</p></article></div><div id="comments2"><p>x</p></div></body>').markdown!;
      assert.equal(nested, 'Inside article\n');
    });

    it('matches class and id words, not substrings', () => {
      const cases: [string, string | undefined][] = [
        ['site-nav', 'nav'],
        ['cookieConsent', 'cookie'],
        ['post_comments list', 'comments'],
        ['navigator canvas', undefined],
        ['shared headline', undefined],
        ['page-header nav', 'nav'],
        ['page-header', 'header'],
        ['', undefined],
      ];
      for (const [value, word] of cases) assert.equal(boilerplateWord(value), word, value);
    });
  });

  describe('cleaned html and text', () => {
    const dirty = `<html><head><title>T</title><style>p{color:red}</style><script>evil()</script></head>
      <body><!-- a comment --><main><p onclick="evil()" style="color:red" class="lead">Hello <a href="x.html" onmouseover="evil()">link</a></p>
      <script type="text/javascript">more()</script><noscript>enable js</noscript><img src="i.png" onerror="evil()" alt="i">
      <p>Second</p></main></body></html>`;

    it('has no scripts, styles, comments or event-handler attributes', () => {
      const { html } = content(dirty);
      assert.ok(html !== undefined);
      for (const bad of ['<script', 'evil', 'more()', '<style', 'color:red', '<!--', 'a comment', 'onclick', 'onmouseover', 'onerror', 'enable js']) {
        assert.ok(!html.includes(bad), `${bad} in ${html}`);
      }
      assert.ok(html.includes('<p class="lead">Hello <a href="http://example.com/docs/guide/x.html">link</a></p>'), html);
      assert.ok(html.includes('<img src="http://example.com/docs/guide/i.png" alt="i">'), html);
    });

    it('text has the words in reading order, blocks on their own lines', () => {
      const { text } = content(dirty);
      assert.equal(text, 'Hello link\n\nSecond');
    });

    it('rawHtml is the decoded page as given', () => {
      assert.equal(content(dirty).rawHtml, dirty);
    });

    it('computes only the formats asked for', () => {
      const out = content(dirty, { formats: ['links'] });
      assert.deepEqual(Object.keys(out).sort(), ['links', 'title', 'truncated']);
      assert.equal(out.title, 'T');
    });
  });

  describe('links', () => {
    it('are absolute, normalized, in page order, each URL once, with text and rel', () => {
      const html = `<base href="/base/"><body>
        <a href="b.html?utm_source=x&z=1&a=2">B  first</a>
        <a href="HTTP://Example.COM:80/a/../c.html#frag" rel="nofollow ugc">C</a>
        <a href="b.html?a=2&z=1">B again</a>
        <a href="#top">self fragment</a>
        <a href="javascript:void(0)">js</a>
        <a href="mailto:x@example.com">mail</a>
        <a href=""></a>
        <a href="/img"><img src="p.png" alt="Picture"></a>
        <a href="/label" aria-label="Labelled"></a>
        <map><area href="/area" alt="x"></map>
        <nav><a href="/in-nav">In nav</a></nav></body>`;
      const { links } = content(html, { stripParams: ['utm_*'] }, 'http://example.com/base/');
      assert.deepEqual(links, [
        { url: 'http://example.com/base/b.html?a=2&z=1', text: 'B first', rel: null },
        { url: 'http://example.com/c.html', text: 'C', rel: 'nofollow ugc' },
        { url: 'http://example.com/img', text: 'Picture', rel: null },
        { url: 'http://example.com/label', text: 'Labelled', rel: null },
        { url: 'http://example.com/area', text: '', rel: null },
        { url: 'http://example.com/in-nav', text: 'In nav', rel: null },
      ]);
    });
  });

  describe('metadata', () => {
    it('reads meta tags, <html lang>, canonical, Open Graph, keywords', () => {
      const html = `<html lang="de-AT"><head><title>  Der   Titel </title>
        <meta name="description" content=" A page. ">
        <meta name="author" content="Ada">
        <meta name="keywords" content="crawler, markdown , ,web">
        <meta property="og:title" content="OG title">
        <meta property="og:image" content="/img/og.png">
        <meta property="article:published_time" content="2026-01-02T03:04:05Z">
        <link rel="canonical" href="/Canonical?utm_source=a&b=1">
        </head><body></body></html>`;
      const out = content(html, { stripParams: ['utm_*'] });
      assert.equal(out.title, 'Der Titel');
      assert.deepEqual(out.metadata, {
        description: 'A page.',
        language: 'de-AT',
        canonical: 'http://example.com/Canonical?b=1',
        author: 'Ada',
        publishedAt: '2026-01-02T03:04:05Z',
        ogTitle: 'OG title',
        ogImage: 'http://example.com/img/og.png',
        keywords: ['crawler', 'markdown', 'web'],
      });
    });

    it('falls back to JSON-LD for author and date, og:description and content-language', () => {
      const html = `<head><meta http-equiv="Content-Language" content="fr">
        <meta property="og:description" content="From OG">
        <script type="application/ld+json">not json</script>
        <script type="application/ld+json">{"@context":"https://schema.org","@graph":[{"@type":"WebSite"},
          {"@type":"Article","datePublished":"2025-05-06","author":[{"@type":"Person","name":"Grace"},"Linus"]}]}</script>
        </head>`;
      assert.deepEqual(content(html).metadata, { description: 'From OG', language: 'fr', author: 'Grace, Linus', publishedAt: '2025-05-06' });
    });

    it('is empty when the page says nothing, and ignores an <svg> title', () => {
      const out = content('<body><svg><title>icon</title></svg><p>x</p></body>');
      assert.deepEqual(out.metadata, {});
      assert.equal(out.title, null);
    });
  });

  describe('byte caps', () => {
    it('cut on a UTF-8 code-point boundary', () => {
      // é: 2 bytes, €: 3 bytes, 😀: 4 bytes (a surrogate pair).
      const cases: [string, number, string][] = [
        ['abc', 3, 'abc'],
        ['abc', 2, 'ab'],
        ['abc', 0, ''],
        ['aé', 2, 'a'],
        ['aé', 3, 'aé'],
        ['a€b', 3, 'a'],
        ['a€b', 4, 'a€'],
        ['a😀b', 4, 'a'],
        ['a😀b', 5, 'a😀'],
        ['😀😀', 7, '😀'],
        ['x\ud800y', 4, 'x\ud800'], // a lone surrogate counts as U+FFFD (3 bytes), as Buffer.byteLength does
      ];
      for (const [value, max, expected] of cases) {
        const cut = capUtf8(value, max);
        assert.equal(cut, expected, `${JSON.stringify(value)} at ${max}`);
        assert.ok(Buffer.byteLength(cut) <= max);
        assert.ok(!/[\ud800-\udbff]$/.test(cut) || /[\ud800-\udbff]$/.test(value.slice(0, cut.length)), 'no surrogate pair split');
      }
    });

    it('never split a character, at every cut of a multi-byte text', () => {
      const value = 'Grüße € 😀 𝄞 中文 👩‍👩‍👧 end';
      for (let max = 0; max <= Buffer.byteLength(value) + 1; max++) {
        const cut = capUtf8(value, max);
        assert.ok(value.startsWith(cut));
        assert.ok(Buffer.byteLength(cut) <= max);
        assert.equal(Buffer.from(cut, 'utf8').toString('utf8'), cut, `whole characters at ${max}`);
        // The next code point would not have fitted.
        const next = value.codePointAt(cut.length);
        if (next !== undefined) assert.ok(Buffer.byteLength(cut + String.fromCodePoint(next)) > max, `longest cut at ${max}`);
      }
    });

    it('name the capped fields in truncated, and only those', () => {
      const html = `<title>t</title><body><p>${'😀'.repeat(100)}</p>${Array.from({ length: 50 }, (_, i) => `<a href="/p${i}">link ${i}</a>`).join('')}</body>`;
      const out = content(html, { maxBytes: { markdown: 10, rawHtml: 5, links: 200, text: 1_000_000 } });
      assert.deepEqual(out.truncated, ['markdown', 'rawHtml', 'links']);
      assert.equal(out.markdown, '😀😀');
      assert.equal(out.rawHtml, '<titl');
      assert.ok(out.links!.length > 0 && out.links!.length < 50);
      assert.ok(Buffer.byteLength(JSON.stringify(out.links)) <= 200);
      assert.ok(Buffer.byteLength(JSON.stringify([...out.links!, { url: `http://example.com/p${out.links!.length}`, text: 'link 9', rel: null }])) > 200);
      assert.equal(out.text, `${'😀'.repeat(100)}\n\n${Array.from({ length: 50 }, (_, i) => `link ${i}`).join('')}`);
    });
  });

  describe('cost', () => {
    it('grows linearly with the page: a 2.5 MB page takes about 4× a quarter of it (under 10×)', function () {
      this.timeout(120000);
      const unit = `<section><h2>Section</h2><ul>${Array.from({ length: 40 }, (_, i) => `<li><a href="/p/${i}.html">Entry ${i}</a> <em>note</em><ul><li>sub ${i}</li></ul></li>`).join('')}</ul>
        <table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table><pre><code class="language-js">let x = 1;</code></pre><p>${'Text &amp; more text. '.repeat(20)}</p></section>`;
      const quarter = `<html><body><main>${unit.repeat(Math.ceil(625_000 / unit.length))}</main></body></html>`;
      const full = `<html><body><main>${unit.repeat(4 * Math.ceil(625_000 / unit.length))}</main></body></html>`;
      assert.ok(full.length > 2_400_000, `${full.length} bytes`);
      const time = (html: string): number => {
        const doc = parseDocument(html);
        const t0 = performance.now();
        pageContent(doc, html, PAGE, { formats: ['markdown', 'links', 'metadata'] });
        return performance.now() - t0;
      };
      time(quarter); // warm up
      const small = Math.min(time(quarter), time(quarter));
      const large = time(full);
      // Linear: about 4×. Quadratic would be about 16×. The factor is generous for a shared machine.
      assert.ok(large < small * 10, `4× the page took ${(large / small).toFixed(1)}× the time (${small.toFixed(0)} ms → ${large.toFixed(0)} ms)`);
    });

    it('survives a page nested deeper than the stack allows a recursive walk', () => {
      const depth = 20000;
      const html = `<body>${'<div>'.repeat(depth)}<p>deep text</p>${'</div>'.repeat(depth)}</body>`;
      const out = content(html);
      assert.equal(out.markdown, 'deep text\n');
      assert.equal(out.text, 'deep text');
    });
  });
});
