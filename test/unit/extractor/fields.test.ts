import assert from 'node:assert/strict';
import * as cheerio from 'cheerio';
import { extractFields } from '../../../services/extractor/fields.js';

const page = `<!doctype html>
<html><head><title>
   Hello
   World  </title></head>
<body>
  <h1>First <em>heading</em></h1>
  <h1>Second heading</h1>
  <p class="price">  12.50\t&euro;  </p>
  <div id="empty">   \n  </div>
  <ul><li>a</li><li>b</li></ul>
  <span data-x="1">&lt;tag&gt; &amp; more</span>
</body></html>`;

describe('extractor fields', () => {
  // loaded through htmlparser2, as the extractor does
  const $ = cheerio.load(page, { xml: { xmlMode: false, decodeEntities: true } });

  const cases: { name: string; selector: string; expected: string | null }[] = [
    { name: 'takes the first match only', selector: 'h1', expected: 'First heading' },
    { name: 'includes the text of child elements', selector: 'h1:first-of-type', expected: 'First heading' },
    { name: 'collapses whitespace and trims', selector: 'title', expected: 'Hello World' },
    { name: 'decodes entities', selector: 'p.price', expected: '12.50 €' },
    { name: 'decodes markup-like entities as text', selector: 'span[data-x]', expected: '<tag> & more' },
    { name: 'joins the text of nested matches of the first element', selector: 'ul', expected: 'ab' },
    { name: 'maps a missing element to null', selector: '.nope', expected: null },
    { name: 'maps a whitespace-only element to null', selector: '#empty', expected: null },
    { name: 'maps an invalid selector to null', selector: '[[[', expected: null },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(extractFields($, { value: c.selector }), { value: c.expected });
    });
  }

  it('extracts several fields at once, keyed by name', () => {
    const out = extractFields($, { title: 'title', heading: 'h1', price: '.price', missing: '#missing', second: 'h1 + h1' });
    assert.deepEqual(out, { title: 'Hello World', heading: 'First heading', price: '12.50 €', missing: null, second: 'Second heading' });
    assert.deepEqual(Object.keys(out), ['title', 'heading', 'price', 'missing', 'second']);
  });

  it('returns an empty object for no fields', () => {
    assert.deepEqual(extractFields($, {}), {});
  });
});
