/**
 * Parsing in worker threads: pathological HTML (100,000 nested elements, NUL bytes, broken
 * markup, a huge page) gives a result or a parse_timeout within the bound, never a blocked
 * or crashed process; the pool goes on parsing other pages.
 */
import assert from 'node:assert/strict';
import { CrawlError } from '../../../shared/errors/index.js';
import { INLINE_PARSE_BYTES, ParsePool, parsesInline } from '../../../services/extractor/parse-pool.js';
import { parsePage } from '../../../services/extractor/parse.js';
import { CHARSET_PAGES, NESTED_DIVS } from '../../sites/adversarial.js';

const nested = Buffer.from(
  '<!doctype html>\n<html><head><title>Nested</title></head><body>\n' +
    '<div>'.repeat(NESTED_DIVS) +
    '<a href="/ok/12.html">deep</a>' +
    '</div>'.repeat(NESTED_DIVS) +
    '\n</body></html>\n',
);
const small = Buffer.from('<!doctype html><html><head><title>Small</title></head><body><h1>Hi</h1><a href="/x">x</a></body></html>');
const opts = { followNofollow: false, maxLinks: 100 };

describe('parse pool (worker threads)', function () {
  this.timeout(30_000);
  let pool: ParsePool;

  beforeEach(() => {
    // Everything through the workers here (small pages are otherwise parsed inline).
    pool = new ParsePool(() => 2, { inlineBytes: 0 });
  });
  afterEach(async () => {
    await pool.close();
  });

  it('parses a page in a worker', async () => {
    const page = await pool.parse({ body: small, contentType: 'text/html', pageUrl: 'http://s.test/', fields: { h: 'h1' }, opts, timeoutMs: 5000 });
    assert.equal(page.title, 'Small');
    assert.deepEqual(page.fields, { h: 'Hi' });
    assert.deepEqual(page.links, ['http://s.test/x']);
  });

  it('stops a parse that exceeds the bound with parse_timeout, and keeps serving other pages meanwhile', async () => {
    const started = performance.now();
    const slow = pool.parse({ body: nested, contentType: 'text/html', pageUrl: 'http://s.test/broken/nested', fields: {}, opts, timeoutMs: 300 }).then(
      () => null,
      (e: unknown) => e,
    );
    // The other worker keeps parsing while the first is stuck; the event loop stays free.
    const tick = performance.now();
    await new Promise((r) => setTimeout(r, 10));
    assert.ok(performance.now() - tick < 200, 'the event loop is not blocked');
    const other = await pool.parse({ body: small, contentType: 'text/html', pageUrl: 'http://s.test/', fields: {}, opts, timeoutMs: 5000 });
    assert.equal(other.title, 'Small');
    const e = await slow;
    const ms = performance.now() - started;
    assert.ok(e instanceof CrawlError && e.code === 'parse_timeout' && e.errorClass === 'permanent', String(e));
    // The bound starts once the new worker has loaded the parser (about a second on a busy machine).
    assert.ok(ms < 4000, `gave up after ${ms.toFixed(0)} ms (bound 300 ms after the worker is ready)`);
    // The killed worker is replaced on demand.
    const after = await pool.parse({ body: small, contentType: 'text/html', pageUrl: 'http://s.test/', fields: {}, opts, timeoutMs: 5000 });
    assert.equal(after.title, 'Small');
    assert.ok(pool.workers <= 2);
  });

  it('queues pages beyond the pool size instead of spawning more workers', async () => {
    const pages = await Promise.all(
      Array.from({ length: 6 }, (_, i) => pool.parse({ body: small, contentType: 'text/html', pageUrl: `http://s.test/${i}`, fields: {}, opts, timeoutMs: 5000 })),
    );
    assert.equal(pages.length, 6);
    assert.ok(pool.workers <= 2, `${pool.workers} workers`);
  });

  it('follows a live change of the pool size', async () => {
    let size = 3;
    const p = new ParsePool(() => size, { inlineBytes: 0 });
    try {
      await Promise.all(Array.from({ length: 6 }, () => p.parse({ body: small, contentType: 'text/html', pageUrl: 'http://s.test/', fields: {}, opts, timeoutMs: 5000 })));
      assert.equal(p.workers, 3);
      size = 1;
      await p.parse({ body: small, contentType: 'text/html', pageUrl: 'http://s.test/', fields: {}, opts, timeoutMs: 5000 });
      assert.equal(p.workers, 1);
    } finally {
      await p.close();
    }
  });

  it('ends a worker idle for idleMs (its heap goes back to the system), and starts one again for the next page', async () => {
    const p = new ParsePool(() => 2, { inlineBytes: 0, idleMs: 1000 });
    try {
      const job = { body: small, contentType: 'text/html', pageUrl: 'http://s.test/', fields: {}, opts, timeoutMs: 5000 };
      await Promise.all([p.parse(job), p.parse(job)]);
      assert.equal(p.workers, 2);
      // Work within idleMs keeps a worker.
      await new Promise((r) => setTimeout(r, 500));
      await p.parse(job);
      await new Promise((r) => setTimeout(r, 750));
      assert.equal(p.workers, 1, 'the worker idle since the first pages ended; the one that parsed 750 ms ago remains');
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(p.workers, 0);
      assert.equal((await p.parse(job)).title, 'Small');
      assert.equal(p.workers, 1);
    } finally {
      await p.close();
    }
  });

  it('ends the warmed worker too once it has been idle', async () => {
    const p = new ParsePool(() => 1, { inlineBytes: 0, idleMs: 200 });
    try {
      p.warm();
      assert.equal(p.workers, 1);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(p.workers, 0);
    } finally {
      await p.close();
    }
  });

  it('parses small pages inline, without a worker', async () => {
    const p = new ParsePool(() => 2);
    try {
      const page = await p.parse({ body: small, contentType: 'text/html', pageUrl: 'http://s.test/', fields: {}, opts, timeoutMs: 5000 });
      assert.equal(page.title, 'Small');
      assert.equal(p.workers, 0);
      assert.ok(small.length <= INLINE_PARSE_BYTES);
    } finally {
      await p.close();
    }
  });

  it('decides inline by size alone, converted formats included (measured: inline converts faster)', () => {
    assert.equal(parsesInline({ body: Buffer.alloc(100) }), true);
    assert.equal(parsesInline({ body: Buffer.alloc(INLINE_PARSE_BYTES) }), true);
    assert.equal(parsesInline({ body: Buffer.alloc(INLINE_PARSE_BYTES + 1) }), false);
  });

  it('refuses work once closed', async () => {
    await pool.close();
    await assert.rejects(pool.parse({ body: small, contentType: 'text/html', pageUrl: 'http://s.test/', fields: {}, opts, timeoutMs: 100 }), (e: unknown) => e instanceof CrawlError && e.code === 'unavailable');
  });
});

describe('parsePage on hostile bytes', () => {
  it('turns NUL bytes into U+FFFD, never into titles or URLs', () => {
    const nul = Buffer.from('<!doctype html>\n<html><head><title>Nul\0Title</title></head>\n<body><p>before\0after</p>\0\0\0<a href="/ok/5.html">ok\0link</a>\n</body></html>\n', 'latin1');
    const page = parsePage(nul, 'text/html', 'http://s.test/broken/nul', { p: 'p' }, opts);
    assert.equal(page.title, 'Nul\ufffdTitle');
    assert.equal(page.fields.p, 'before\ufffdafter');
    assert.deepEqual(page.links, ['http://s.test/ok/5.html']);
  });

  it('parses only the first maxHtmlBytes', () => {
    const body = Buffer.from(`<html><head><title>T</title></head><body><a href="/a">a</a>${' '.repeat(1000)}<a href="/b">b</a></body></html>`);
    const page = parsePage(body, 'text/html', 'http://s.test/', {}, { ...opts, maxHtmlBytes: 500 });
    assert.deepEqual(page.links, ['http://s.test/a']);
    assert.equal(page.truncated, true);
    assert.equal(parsePage(body, 'text/html', 'http://s.test/', {}, opts).truncated, false);
  });

  for (const [name, p] of Object.entries(CHARSET_PAGES)) {
    it(`decodes ${name}: title and link`, () => {
      const page = parsePage(p.body, p.contentType, `http://s.test${p.path}`, {}, opts);
      assert.equal(page.title, p.title);
      assert.deepEqual(page.links, [`http://s.test${p.link}`]);
    });
  }
});
