import assert from 'node:assert/strict';
import { scriptBuilt, visibleTextLength } from '../../../services/extractor/script-built.js';

const page = (body: string, head = ''): string => `<!doctype html><html><head><title>T</title>${head}</head><body>${body}</body></html>`;
const bundle = `<script src="/static/js/main.4f2a.js"></script>`;
const prose = '<p>' + 'A paragraph that a reader can see, written on the server. '.repeat(8) + '</p>';

describe('render auto: does a page look script-built?', () => {
  const cases: [string, string, boolean, string][] = [
    ['an empty React root', page(`<div id="root"></div>${bundle}`), true, 'empty_app_root'],
    ['an empty root with whitespace and single quotes', page(`<div id='app'>\n  </div>${bundle}`), true, 'empty_app_root'],
    ['an unquoted id', page(`<div id=__next></div>${bundle}`), true, 'empty_app_root'],
    ['an empty <app-root>', page(`<app-root></app-root><SCRIPT src="main.js"></SCRIPT>`), true, 'empty_app_root'],
    ['an empty root without any script (nothing could fill it)', page('<div id="root"></div>'), false, 'static'],
    ['a filled root (server-rendered)', page(`<div id="root">${prose}</div>${bundle}`), false, 'static'],
    ['a root id that only starts the same', page(`<div id="rooted"></div>${prose}`), false, 'static'],
    ['a noscript asking for JavaScript', page(`<noscript>You need to enable JavaScript to run this app.</noscript>${prose}${bundle}`), true, 'noscript_requires_js'],
    ['a short page with only an async analytics tag', page(`<p>Short page.</p>`, '<script async src="https://analytics.example/tag.js"></script><script>window.dl=[];</script>'), false, 'static'],
    ['a noscript tracking pixel', page(`<noscript><img src="/pixel.gif"></noscript>${prose}`), false, 'static'],
    ['little text, a large inline script', page(`<p>Loading</p><script>${'var a=1;'.repeat(500)}</script>`), true, 'little_text_much_script'],
    ['little text, an external bundle', page(`<span>Loading…</span>${bundle}`), true, 'little_text_much_script'],
    ['little text and no script (a short static page)', page('<p>Short.</p>'), false, 'static'],
    ['much text, much script', page(`${prose}${prose}<script>${'var a=1;'.repeat(500)}</script>`), false, 'static'],
    ['JSON-LD does not count as script', page(`<p>Hi</p><script type="application/ld+json">${'{"a":1}'.repeat(500)}</script>`), false, 'static'],
  ];
  for (const [name, html, render, reason] of cases) {
    it(`${name}: ${render ? 'render' : 'no render'} (${reason})`, () => {
      assert.deepEqual(scriptBuilt(Buffer.from(html)), { render, reason });
    });
  }

  it('counts visible text without scripts, styles, noscript, comments and tags, entities as one character', () => {
    assert.equal(visibleTextLength(page('<style>p{}</style><!-- c --><p>ab  <b>cd</b></p><script>x</script><NOSCRIPT>n</NOSCRIPT>&amp;')), 'ab cd &'.length);
    assert.equal(visibleTextLength(page('<p>' + 'word '.repeat(100) + '</p>'), 50), 50, 'stops counting at the bound');
  });

  it('reads only the first MiB of a huge body', () => {
    const huge = Buffer.concat([Buffer.from(page(prose)), Buffer.alloc(3 * 1024 * 1024, 0x20), Buffer.from('<div id="root"></div>')]);
    assert.deepEqual(scriptBuilt(huge), { render: false, reason: 'static' });
  });
});
