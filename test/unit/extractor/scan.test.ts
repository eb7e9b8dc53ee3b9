/**
 * The streaming scan (scan.ts) and the content walk (content/walk.ts, what a session with
 * formats uses) against the document queries (links.ts on cheerio): for every page they must
 * agree on the title, the links (in order), the canonical and the meta-robots
 * verdict. The corpus: hand-written edge cases, every HTML page of the adversarial test site,
 * pages of the generated site, and random tag soup made of the hard pieces.
 */
import assert from 'node:assert/strict';
import * as cheerio from 'cheerio';
import type { Document } from 'domhandler';
import { walkPage } from '../../../services/extractor/content/index.js';
import { signalsOfWalk } from '../../../services/extractor/content/walk.js';
import { extractLinks, linksFromSignals, pageTitle, type LinkOptions } from '../../../services/extractor/links.js';
import { parsePage } from '../../../services/extractor/parse.js';
import { scanPage } from '../../../services/extractor/scan.js';
import { AdversarialSite, CHARSET_PAGES, HAZARD_PATHS } from '../../sites/adversarial.js';
import { GeneratedSite } from '../../sites/generated.js';

const PAGE = 'http://site.test/dir/page.html';

interface Verdict {
  title: string | null;
  links: string[];
  canonical: string | null;
  nofollowPage: boolean;
  noindex: boolean;
  base: string;
}

function viaDocument(html: string, opts: LinkOptions): Verdict {
  const $ = cheerio.load(html, { xml: { xmlMode: false, decodeEntities: true } });
  const l = extractLinks($, PAGE, opts);
  return { title: pageTitle($), links: l.links, canonical: l.canonical, nofollowPage: l.nofollowPage, noindex: l.noindex, base: l.base };
}

function viaScan(html: string, opts: LinkOptions): Verdict {
  const s = scanPage(html);
  const l = linksFromSignals(s.signals, PAGE, opts);
  const title = (s.title ?? '').replace(/\s+/g, ' ').trim();
  return { title: title === '' ? null : title, links: l.links, canonical: l.canonical, nofollowPage: l.nofollowPage, noindex: l.noindex, base: l.base };
}

function viaWalk(html: string, opts: LinkOptions): Verdict {
  const $ = cheerio.load(html, { xml: { xmlMode: false, decodeEntities: true } });
  const walked = walkPage($.root()[0] as unknown as Document, PAGE, opts.stripParams ?? []);
  const l = linksFromSignals(signalsOfWalk(walked.walk), PAGE, opts, walked.urls);
  const title = (walked.walk.title ?? '').replace(/\s+/g, ' ').trim();
  return { title: title === '' ? null : title, links: l.links, canonical: l.canonical, nofollowPage: l.nofollowPage, noindex: l.noindex, base: l.base };
}

const OPTIONS: LinkOptions[] = [
  { followNofollow: false, maxLinks: 1000, stripParams: ['utm_*', 'sid'] },
  { followNofollow: true, maxLinks: 3 },
];

function agree(html: string, label: string): void {
  for (const opts of OPTIONS) {
    const expected = viaDocument(html, opts);
    assert.deepEqual(viaScan(html, opts), expected, `scan: ${label} (${JSON.stringify(opts)})`);
    assert.deepEqual(viaWalk(html, opts), expected, `walk: ${label} (${JSON.stringify(opts)})`);
  }
}

const CASES: Record<string, string> = {
  'plain page': '<html><head><title>Hello</title></head><body><a href="a.html">a</a> <a href="/b">b</a></body></html>',
  'base after the links it governs': '<a href="x">x</a><base href="http://other.test/root/"><a href="y">y</a><base href="http://third.test/">',
  'base without href first': '<base target="_blank"><base href="/sub/"><a href="z">z</a>',
  'base with another scheme': '<base href="ftp://files.test/"><a href="q">q</a>',
  'svg title ignored, nested title markup kept': '<svg><title>icon</title><a href="s.html">s</a></svg><title>Real <b>bold</b> &amp; more</title>',
  'second title ignored': '<title>first</title><title>second</title>',
  'title inside svg inside svg': '<svg><g><svg><title>no</title></svg></g></svg><title> yes  \n title </title>',
  'only an svg title': '<svg><title>icon only</title></svg>',
  'empty title': '<title>   </title><a href="e">e</a>',
  'meta robots nofollow': '<meta name="ROBOTS " content="NoIndex, NoFollow"><a href="n">n</a>',
  'meta robots none': '<meta name="robots" content="none"><link rel="canonical" href="/canon"><a href="n">n</a>',
  'meta other name': '<meta name="googlebot" content="nofollow"><a href="g">g</a>',
  'rel nofollow and ugc': '<a rel="Nofollow" href="r1">1</a><a rel="ugc nofollow" href="r2">2</a><a rel="noopener" href="r3">3</a>',
  'canonical variants': '<link rel="alternate canonical" href=""><link rel="canonical" href="  /c?utm_source=x&b=1  "><link rel="canonical" href="/second">',
  'entities in attributes': '<a href="p?a=1&amp;b=2&sid=9">e</a><a href="&#x2F;hex">h</a><a href="caf&eacute;">c</a>',
  'duplicate attributes keep the first': '<a href="first" href="second">d</a>',
  'fragment-only links': '<a href="#top">t</a><a href="#">u</a><a href="page.html#sec">v</a><a href="other.html#x">w</a>',
  'area and case': '<MAP><AREA HREF="area.html"></MAP><A HREF="upper.html">U</A>',
  'links in script, style, comment and textarea are text': '<script>var s = "<a href=\'no1\'>";</script><style>a[href="no2"]{}</style><!-- <a href="no3"> --><textarea><a href="no4"></textarea><a href="yes">y</a>',
  'template and noscript content': '<template><a href="tpl">t</a></template><noscript><a href="ns">n</a></noscript>',
  'unclosed and misnested': '<p><a href="1"><b>one<p><a href="2">two</i></div></a><table><tr><td><a href="3">three',
  'javascript and mailto skipped': '<a href="javascript:void(0)">j</a><a href="mailto:x@y.z">m</a><a href="  https://ABS.test:443/A/../B  ">abs</a>',
  'cdata and processing instruction': '<![CDATA[<a href="cd">]]><?xml version="1.0"?><a href="after">a</a>',
  'a title outside head': '<body><p>text</p><title>late title</title></body>',
  'feeds announced, other alternates not': '<link rel="alternate" type=" Application/RSS+XML " href="/feed.xml"><link rel="alternate" type="text/html" href="/fr/"><link rel="alternate" href="/none"><a href="a">a</a>',
  'several robots metas add up': '<meta name="robots" content="noindex"><meta content="nofollow" name=" Robots"><a href="x">x</a>',
  'attributes without values': '<a href>empty</a><a href="">empty2</a><link rel href="/x"><meta name="robots" content>',
};

describe('streaming scan agrees with the document queries', () => {
  for (const [name, html] of Object.entries(CASES)) {
    it(name, () => agree(html, name));
  }

  it('every HTML page of the adversarial site (charsets, broken markup, traps, SSRF links)', async function () {
    this.timeout(20_000);
    const site = new AdversarialSite();
    await site.start();
    try {
      const paths = ['/', ...HAZARD_PATHS.filter((p) => /^\/(ok|calendar|session|a\/|broken\/(nul|unclosed)|ssrf)/.test(p)), '/a/a/a/', '/calendar/2024/07'];
      for (const path of paths) {
        const res = await fetch(`${site.origin}${path.startsWith('/session/') ? `${path}?sid=abc` : path}`);
        agree(await res.text(), path);
      }
      for (const [name, page] of Object.entries(CHARSET_PAGES)) {
        // Through the whole parse (charset decoding included): with fields → document path, without → scan.
        const withDoc = parsePage(page.body, page.contentType, PAGE, { h1: 'h1' }, { followNofollow: false, maxLinks: 100 });
        const withScan = parsePage(page.body, page.contentType, PAGE, {}, { followNofollow: false, maxLinks: 100 });
        assert.deepEqual({ ...withScan, fields: withDoc.fields }, withDoc, name);
        assert.ok(withScan.title !== null, `${name} has a title`);
      }
    } finally {
      await site.stop();
    }
  });

  it('pages of the generated site', async () => {
    const site = new GeneratedSite({ pages: 60, seed: 7 });
    await site.start();
    try {
      for (let n = 0; n < 60; n++) {
        const res = await fetch(site.pageUrl(n));
        if (res.headers.get('content-type')?.includes('html')) agree(await res.text(), `page ${n}`);
      }
    } finally {
      await site.stop();
    }
  });

  it('random tag soup made of the hard pieces', () => {
    const pieces = [
      '<a href="s1">', '</a>', '<a rel="nofollow" href="s2">', '<area href="s3">', '<base href="/b/">', '<base href="http://x.test/">',
      '<title>', '</title>', '<svg>', '</svg>', '<p>', '</p>', '<div>', '</div>', '<table><tr><td>', '<b><i>', '</b>',
      '<link rel="canonical" href="/c1">', '<meta name="robots" content="nofollow">', '<script>', '</script>', '<!--', '-->',
      'text &amp; ', '<a href="#x">', '<a href="s4?utm_x=1&amp;k=v">', '<textarea>', '</textarea>', '<template>', '</template>',
      '\u0000', ' ', '\n', '<a href=s5>', '<a href=\'s6\'>', '<title>t2', '<![CDATA[', ']]>', '<br/>', '</br>', '<img src=x>',
    ];
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 400; i++) {
      const html = Array.from({ length: 5 + rand(40) }, () => pieces[rand(pieces.length)]).join('').replaceAll('\0', '\ufffd');
      agree(html, `soup ${i}: ${JSON.stringify(html)}`);
    }
  });
});
