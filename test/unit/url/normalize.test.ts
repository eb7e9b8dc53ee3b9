import assert from 'node:assert/strict';
import { DEFAULT_STRIP_PARAMS, NORMALIZER_VERSION, fingerprint, hostOfNormalized, normalizeUrl } from '../../../shared/url/normalize.js';
import type { NormalizeOptions } from '../../../shared/url/normalize.js';

interface Case {
  name: string;
  input: string;
  base?: string | URL;
  opts?: NormalizeOptions;
  expected: string | null;
}

const strip: NormalizeOptions = { stripParams: DEFAULT_STRIP_PARAMS };

const groups: Record<string, Case[]> = {
  'drops the fragment': [
    { name: 'plain fragment', input: 'http://example.com/a#top', expected: 'http://example.com/a' },
    { name: 'empty fragment', input: 'http://example.com/a#', expected: 'http://example.com/a' },
    { name: 'fragment after query', input: 'http://example.com/a?x=1#top', expected: 'http://example.com/a?x=1' },
  ],
  'drops default ports only': [
    { name: 'http on 80', input: 'http://example.com:80/', expected: 'http://example.com/' },
    { name: 'https on 443', input: 'https://example.com:443/', expected: 'https://example.com/' },
    { name: 'http on 443 is kept', input: 'http://example.com:443/', expected: 'http://example.com:443/' },
    { name: 'https on 80 is kept', input: 'https://example.com:80/', expected: 'https://example.com:80/' },
    { name: 'other port kept', input: 'http://example.com:8080/x', expected: 'http://example.com:8080/x' },
  ],
  'lowercases scheme and host, keeps path case': [
    { name: 'mixed case', input: 'HTTP://WWW.Example.COM/Path/File.HTML', expected: 'http://www.example.com/Path/File.HTML' },
    { name: 'https upper', input: 'HTTPS://EXAMPLE.COM', expected: 'https://example.com/' },
  ],
  'resolves dot segments and empty paths': [
    { name: 'parent', input: 'http://example.com/a/b/../c', expected: 'http://example.com/a/c' },
    { name: 'current', input: 'http://example.com/a/./b/.', expected: 'http://example.com/a/b/' },
    { name: 'above root', input: 'http://example.com/../../a', expected: 'http://example.com/a' },
    { name: 'encoded dots', input: 'http://example.com/a/%2e%2E/b', expected: 'http://example.com/b' },
    { name: 'empty path', input: 'http://example.com', expected: 'http://example.com/' },
    { name: 'empty path with query', input: 'http://example.com?a=1', expected: 'http://example.com/?a=1' },
    { name: 'trailing slash kept', input: 'http://example.com/dir/', expected: 'http://example.com/dir/' },
    { name: 'no trailing slash added', input: 'http://example.com/dir', expected: 'http://example.com/dir' },
    { name: 'backslashes', input: 'http://example.com\\a\\b', expected: 'http://example.com/a/b' },
  ],
  'normalizes percent-encoding': [
    { name: 'unreserved decoded', input: 'http://example.com/%7Euser/%41%62%2D%5F%2E', expected: 'http://example.com/~user/Ab-_.' },
    { name: 'reserved kept', input: 'http://example.com/a%2Fb%3Fc%23d', expected: 'http://example.com/a%2Fb%3Fc%23d' },
    { name: 'hex uppercased', input: 'http://example.com/a%2fb%c3%a9', expected: 'http://example.com/a%2Fb%C3%A9' },
    { name: 'query escapes', input: 'http://example.com/?q=%7e%2f%26', expected: 'http://example.com/?q=~%2F%26' },
    { name: 'space encoded', input: 'http://example.com/a b', expected: 'http://example.com/a%20b' },
    { name: 'non-ascii encoded', input: 'http://example.com/café', expected: 'http://example.com/caf%C3%A9' },
    { name: 'broken escape left alone', input: 'http://example.com/100%/x?p=%zz', expected: 'http://example.com/100%/x?p=%zz' },
    { name: 'plus kept', input: 'http://example.com/?q=a+b', expected: 'http://example.com/?q=a+b' },
  ],
  'sorts the query by default': [
    { name: 'sorted by key', input: 'http://example.com/?b=2&a=1&c=3', expected: 'http://example.com/?a=1&b=2&c=3' },
    { name: 'duplicates kept in order', input: 'http://example.com/?b=1&a=2&b=0&a=1', expected: 'http://example.com/?a=2&a=1&b=1&b=0' },
    { name: 'key without value', input: 'http://example.com/?z&a=', expected: 'http://example.com/?a=&z' },
    { name: 'empty query removed', input: 'http://example.com/p?', expected: 'http://example.com/p' },
    { name: 'empty pieces removed', input: 'http://example.com/?&&a=1&&', expected: 'http://example.com/?a=1' },
    { name: 'only ampersands', input: 'http://example.com/?&', expected: 'http://example.com/' },
  ],
  'keeps query order with sortQuery: false': [
    { name: 'preserved', input: 'http://example.com/?b=2&a=1', opts: { sortQuery: false }, expected: 'http://example.com/?b=2&a=1' },
    { name: 'duplicates preserved', input: 'http://example.com/?b=2&a=1&b=1', opts: { sortQuery: false }, expected: 'http://example.com/?b=2&a=1&b=1' },
  ],
  'strips listed parameters': [
    { name: 'nothing stripped by default', input: 'http://example.com/?utm_source=x&a=1', expected: 'http://example.com/?a=1&utm_source=x' },
    { name: 'utm_* prefix', input: 'http://example.com/?utm_source=x&a=1&UTM_Medium=y&utm=z', opts: strip, expected: 'http://example.com/?a=1&utm=z' },
    { name: 'exact names, case-insensitive', input: 'http://example.com/?GCLID=1&fbclid=2&sid=3&side=4', opts: strip, expected: 'http://example.com/?side=4' },
    { name: 'encoded name', input: 'http://example.com/?utm%5Fsource=x&a=1', opts: strip, expected: 'http://example.com/?a=1' },
    { name: 'all stripped', input: 'http://example.com/p?utm_source=x&gclid=y', opts: strip, expected: 'http://example.com/p' },
    { name: 'custom list', input: 'http://example.com/?ref=1&keep=2&trk_a=3', opts: { stripParams: ['REF', 'trk_*'] }, expected: 'http://example.com/?keep=2' },
    { name: 'jsessionid path param', input: 'http://example.com/shop;jsessionid=AB12?x=1', opts: strip, expected: 'http://example.com/shop?x=1' },
    { name: 'jsessionid path param, upper case', input: 'http://example.com/a;JSESSIONID=AB12/b', opts: strip, expected: 'http://example.com/a/b' },
    { name: 'jsessionid path param kept when not listed', input: 'http://example.com/shop;jsessionid=AB12', expected: 'http://example.com/shop;jsessionid=AB12' },
    { name: 'other path params kept', input: 'http://example.com/shop;v=2;jsessionid=1', opts: strip, expected: 'http://example.com/shop;v=2' },
    { name: 'dot segment exposed by stripping', input: 'http://example.com/a/..;jsessionid=1/b', opts: strip, expected: 'http://example.com/b' },
  ],
  'drops userinfo': [
    { name: 'user and password', input: 'http://user:pass@example.com/x', expected: 'http://example.com/x' },
    { name: 'user only', input: 'https://user@example.com:8443/', expected: 'https://example.com:8443/' },
  ],
  'converts IDN hosts to punycode': [
    { name: 'unicode host', input: 'http://Bücher.Example/ä', expected: 'http://xn--bcher-kva.example/%C3%A4' },
    { name: 'already punycode', input: 'http://xn--bcher-kva.example/', expected: 'http://xn--bcher-kva.example/' },
    { name: 'ipv6 literal', input: 'http://[0:0::1]:80/', expected: 'http://[::1]/' },
  ],
  'resolves relative references against the base': [
    { name: 'relative path', input: 'c/d', base: 'http://example.com/a/b', expected: 'http://example.com/a/c/d' },
    { name: 'parent path', input: '../x', base: 'http://example.com/a/b/c', expected: 'http://example.com/a/x' },
    { name: 'absolute path', input: '/x?b=1&a=2', base: 'http://example.com/a/b', expected: 'http://example.com/x?a=2&b=1' },
    { name: 'query only', input: '?q=1', base: 'http://example.com/a/b?old=1', expected: 'http://example.com/a/b?q=1' },
    { name: 'protocol relative', input: '//other.org/p', base: 'https://example.com/', expected: 'https://other.org/p' },
    { name: 'absolute input ignores base', input: 'http://other.org/', base: 'http://example.com/', expected: 'http://other.org/' },
    { name: 'base as URL object', input: 'x', base: new URL('http://example.com/dir/'), expected: 'http://example.com/dir/x' },
    { name: 'surrounding whitespace', input: '  /x\n', base: 'http://example.com/', expected: 'http://example.com/x' },
  ],
  'returns null for non-http schemes': [
    { name: 'mailto', input: 'mailto:a@example.com', expected: null },
    { name: 'javascript', input: 'javascript:void(0)', base: 'http://example.com/', expected: null },
    { name: 'ftp', input: 'ftp://example.com/file', expected: null },
    { name: 'data', input: 'data:text/html,hi', expected: null },
    { name: 'file', input: 'file:///etc/passwd', expected: null },
    { name: 'relative against ftp base', input: 'x', base: 'ftp://example.com/', expected: null },
  ],
  'returns null for garbage': [
    { name: 'empty', input: '', expected: null },
    { name: 'relative without base', input: '/just/a/path', expected: null },
    { name: 'words', input: 'not a url', expected: null },
    { name: 'no host', input: 'http://', expected: null },
    { name: 'bad port', input: 'http://example.com:99999/', expected: null },
    { name: 'bad host', input: 'http://exa mple.com/', expected: null },
    { name: 'bad base', input: 'x', base: 'not a base', expected: null },
  ],
};

describe('normalizeUrl', () => {
  it('exposes a version number', () => {
    assert.equal(NORMALIZER_VERSION, 1);
  });

  for (const [behaviour, cases] of Object.entries(groups)) {
    describe(behaviour, () => {
      for (const c of cases) {
        it(c.name, () => {
          assert.equal(normalizeUrl(c.input, c.base, c.opts), c.expected);
        });
      }
    });
  }

  describe('is idempotent', () => {
    for (const c of Object.values(groups).flat()) {
      if (c.expected === null) continue;
      it(c.name, () => {
        const once = normalizeUrl(c.input, c.base, c.opts);
        assert.ok(once !== null);
        assert.equal(normalizeUrl(once, undefined, c.opts), once);
        // Whatever options produced it, a normalized URL is a fixed point of the
        // plain rules that keep the query order.
        assert.equal(normalizeUrl(once, undefined, { sortQuery: false }), once);
      });
    }
  });
});

describe('hostOfNormalized', () => {
  const cases: [string, string][] = [
    ['http://Example.COM/a/b?c=1', 'example.com'],
    ['https://example.com:8443', 'example.com:8443'],
    ['http://[::1]:8080/x', '[::1]:8080'],
    ['http://user:pw@b\u00fccher.example/', 'xn--bcher-kva.example'],
    ['http://127.0.0.1:80/?q=//x/', '127.0.0.1'],
  ];
  for (const [input, host] of cases) {
    it(`reads ${host} off ${input}, as URL.host would`, () => {
      const normalized = normalizeUrl(input);
      assert.ok(normalized);
      assert.equal(hostOfNormalized(normalized), host);
      assert.equal(hostOfNormalized(normalized), new URL(normalized).host);
    });
  }
});

describe('fingerprint', () => {
  const urls = ['http://example.com/', 'https://example.com/a?b=1', 'http://xn--bcher-kva.example/%C3%A4'];

  it('is 16 characters of base64url', () => {
    for (const url of urls) assert.match(fingerprint(url), /^[A-Za-z0-9_-]{16}$/);
  });

  it('is stable', () => {
    // sha1("http://example.com/") in base64url, first 16 characters.
    assert.equal(fingerprint('http://example.com/'), fingerprint('http://example.com/'));
    assert.equal(fingerprint('http://example.com/'), 'nBfgR_WPkiCnAI1P');
  });

  it('differs between URLs', () => {
    assert.equal(new Set(urls.map(fingerprint)).size, urls.length);
  });
});
