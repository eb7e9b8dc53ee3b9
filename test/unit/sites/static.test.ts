/**
 * StaticSite: a directory served over HTTP (the bench's python3-doc corpus) and its oracle.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StaticSite } from '../../sites/static.js';

describe('StaticSite', () => {
  let dir: string;
  let outside: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'static-site-'));
    outside = mkdtempSync(join(tmpdir(), 'static-outside-'));
    writeFileSync(join(outside, 'secret.html'), '<title>secret</title>');
    mkdirSync(join(dir, 'lib'));
    writeFileSync(join(dir, 'index.html'), '<a href="lib/a.html#x">a</a> <a href="missing.html">m</a> <a href="http://other.test/">o</a> <a href="leak.html">l</a>');
    writeFileSync(join(dir, 'lib', 'a.html'), '<base href="/lib/"><a href="b.txt">b</a> <a href="../index.html">home</a>');
    writeFileSync(join(dir, 'lib', 'b.txt'), 'plain');
    symlinkSync(join(outside, 'secret.html'), join(dir, 'leak.html'));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('finds every same-origin URL reachable from / through <a href>, 404s included, fragments dropped', () => {
    assert.deepEqual([...new StaticSite(dir).reachable()].sort(), ['/', '/index.html', '/leak.html', '/lib/a.html', '/lib/b.txt', '/missing.html']);
  });

  it('serves files with their type, / as index.html, 404 for missing files and for paths outside the root', async () => {
    const site = new StaticSite(dir);
    const origin = await site.start();
    try {
      const home = await fetch(`${origin}/`);
      assert.equal(home.status, 200);
      assert.match(home.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(await home.text(), /lib\/a\.html/);
      const txt = await fetch(`${origin}/lib/b.txt`);
      assert.equal(await txt.text(), 'plain');
      assert.match(txt.headers.get('content-type') ?? '', /^text\/plain/);
      for (const path of ['/missing.html', '/leak.html', '/..%2f..%2fetc%2fpasswd', '/lib/../../etc/passwd']) {
        const r = await fetch(`${origin}${path}`);
        await r.arrayBuffer();
        assert.equal(r.status, 404, path);
      }
      assert.equal(site.stats.requests, 6);
    } finally {
      await site.stop();
    }
  });
});
