import assert from 'node:assert/strict';
import { normalizeUrl } from '../../../shared/url/normalize.js';
import { ScopeError, compileScope, defaultAllowedHosts } from '../../../shared/url/scope.js';
import type { ScopeSpec } from '../../../shared/url/scope.js';

function hosts(...allowedHosts: string[]): ScopeSpec {
  return { allowedHosts, include: [], exclude: [] };
}

interface Case {
  name: string;
  spec: ScopeSpec;
  allowed: string[];
  refused: string[];
}

const cases: Case[] = [
  {
    name: 'an exact host matches that host on any port',
    spec: hosts('example.com'),
    allowed: ['http://example.com/', 'https://example.com/a', 'http://example.com:8080/', 'HTTP://EXAMPLE.COM/x', 'http://example.com./'],
    refused: ['http://www.example.com/', 'http://example.org/', 'http://notexample.com/', 'http://example.com.evil.org/'],
  },
  {
    name: 'host entries compare case-insensitively and through IDN',
    spec: hosts('WWW.Example.COM', 'bücher.example'),
    allowed: ['http://www.example.com/', 'http://xn--bcher-kva.example/', 'http://BÜCHER.example/'],
    refused: ['http://example.com/'],
  },
  {
    name: 'host:port matches only that port',
    spec: hosts('example.com:8080'),
    allowed: ['http://example.com:8080/', 'https://example.com:8080/x'],
    refused: ['http://example.com/', 'http://example.com:8081/', 'https://example.com/'],
  },
  {
    name: 'a default port in the entry matches the implicit port',
    spec: hosts('example.com:443'),
    allowed: ['https://example.com/', 'https://example.com:443/'],
    refused: ['http://example.com/'],
  },
  {
    name: 'a wildcard matches the domain and its subdomains',
    spec: hosts('*.example.com'),
    allowed: ['http://example.com/', 'http://www.example.com/', 'http://a.b.example.com:9000/'],
    refused: ['http://badexample.com/', 'http://example.com.evil.org/', 'http://example.org/'],
  },
  {
    name: 'a wildcard with a port',
    spec: hosts('*.example.com:8080'),
    allowed: ['http://www.example.com:8080/'],
    refused: ['http://www.example.com/'],
  },
  {
    name: 'IPv6 literals, with and without port',
    spec: hosts('[::1]', '[2001:db8::1]:8080'),
    allowed: ['http://[::1]/', 'http://[0:0:0:0:0:0:0:1]:3000/', 'http://[2001:db8::1]:8080/'],
    refused: ['http://[2001:db8::1]/', 'http://[::2]/', 'http://localhost/'],
  },
  {
    name: 'IPv4 with port',
    spec: hosts('127.0.0.1:3000'),
    allowed: ['http://127.0.0.1:3000/'],
    refused: ['http://127.0.0.1/', 'http://127.0.0.2:3000/'],
  },
  {
    name: 'include patterns: some must match',
    spec: { allowedHosts: ['example.com'], include: ['^https?://example\\.com/docs/', '\\.html$'], exclude: [] },
    allowed: ['http://example.com/docs/a', 'http://example.com/page.html'],
    refused: ['http://example.com/blog/a', 'http://other.org/docs/a'],
  },
  {
    name: 'exclude patterns: none may match',
    spec: { allowedHosts: ['example.com'], include: [], exclude: ['/private/', '\\?.*sort='] },
    allowed: ['http://example.com/public/', 'http://example.com/?page=2'],
    refused: ['http://example.com/private/x', 'http://example.com/list?page=1&sort=asc'],
  },
  {
    name: 'exclude wins over include',
    spec: { allowedHosts: ['example.com'], include: ['/docs/'], exclude: ['/docs/old/'] },
    allowed: ['http://example.com/docs/new'],
    refused: ['http://example.com/docs/old/a'],
  },
  {
    name: 'patterns see the normalized URL',
    spec: { allowedHosts: ['example.com'], include: ['^http://example\\.com/~user/$'], exclude: ['#'] },
    allowed: ['HTTP://Example.com:80/a/../%7euser/#frag'],
    refused: [],
  },
  {
    name: 'non-http URLs and garbage are refused',
    spec: hosts('example.com'),
    allowed: [],
    refused: ['ftp://example.com/', 'mailto:x@example.com', '/relative', 'not a url', ''],
  },
  {
    name: 'no hosts allows nothing',
    spec: hosts(),
    allowed: [],
    refused: ['http://example.com/'],
  },
];

describe('compileScope', () => {
  for (const c of cases) {
    describe(c.name, () => {
      const scope = compileScope(c.spec);
      for (const url of c.allowed) it(`allows ${url}`, () => assert.equal(scope.allows(url), true));
      for (const url of c.refused) it(`refuses ${JSON.stringify(url)}`, () => assert.equal(scope.allows(url), false));
      it('decides a normalized URL as it decides the URL', () => {
        for (const url of [...c.allowed, ...c.refused]) {
          const normalized = normalizeUrl(url);
          if (normalized !== null) assert.equal(scope.allowsNormalized(normalized), scope.allows(url), url);
        }
      });
    });
  }

  it('accepts URL objects', () => {
    const scope = compileScope(hosts('example.com'));
    assert.equal(scope.allows(new URL('http://example.com/x')), true);
    assert.equal(scope.allows(new URL('http://example.org/x')), false);
  });

  it('keeps a frozen copy of the spec', () => {
    const allowedHosts = ['example.com'];
    const scope = compileScope({ allowedHosts, include: [], exclude: [] });
    allowedHosts.push('example.org');
    assert.deepEqual(scope.spec.allowedHosts, ['example.com']);
    assert.equal(scope.allows('http://example.org/'), false);
    assert.ok(Object.isFrozen(scope.spec));
  });

  describe('rejects a bad spec with ScopeError', () => {
    const errorCases: { name: string; spec: ScopeSpec; field: string; index: number; prefix: string }[] = [
      {
        name: 'an include that does not compile',
        spec: { allowedHosts: ['example.com'], include: ['(unclosed'], exclude: [] },
        field: 'include', index: 0, prefix: 'include[0]: invalid regular expression',
      },
      {
        name: 'an exclude that does not compile, at its index',
        spec: { allowedHosts: ['example.com'], include: [], exclude: ['ok', '[z-a]'] },
        field: 'exclude', index: 1, prefix: 'exclude[1]: invalid regular expression',
      },
      {
        name: 'a pattern longer than 500 characters',
        spec: { allowedHosts: ['example.com'], include: ['a'.repeat(501)], exclude: [] },
        field: 'include', index: 0, prefix: 'include[0]: pattern longer than 500 characters',
      },
      ...['', '*', 'example.com/path', 'user@example.com', 'exa mple.com', 'foo.*.com', 'example.com:0', 'example.com:70000',
        'example.com:', '[::1', '::1', '*.127.0.0.1', '*.[::1]', 'http://example.com'].map((entry) => ({
        name: `host entry ${JSON.stringify(entry)}`,
        spec: { allowedHosts: ['ok.example', entry], include: [], exclude: [] },
        field: 'allowedHosts', index: 1, prefix: 'allowedHosts[1]: ',
      })),
    ];

    for (const c of errorCases) {
      it(c.name, () => {
        assert.throws(
          () => compileScope(c.spec),
          (err: unknown) => {
            assert.ok(err instanceof ScopeError);
            assert.equal(err.name, 'ScopeError');
            assert.equal(err.field, c.field);
            assert.equal(err.index, c.index);
            assert.ok(err.message.startsWith(c.prefix), err.message);
            return true;
          },
        );
      });
    }

    it('includes the engine detail after the prefix', () => {
      assert.throws(
        () => compileScope({ allowedHosts: [], include: ['(unclosed'], exclude: [] }),
        { message: 'include[0]: invalid regular expression: /(unclosed/: Unterminated group' },
      );
    });

    it('accepts a pattern of exactly 500 characters', () => {
      assert.doesNotThrow(() => compileScope({ allowedHosts: [], include: ['a'.repeat(500)], exclude: [] }));
    });
  });
});

describe('defaultAllowedHosts', () => {
  const cases: { name: string; seeds: string[]; expected: string[] }[] = [
    { name: 'one host per seed, in order', seeds: ['http://b.example/', 'http://a.example/x'], expected: ['b.example', 'a.example'] },
    { name: 'duplicates removed', seeds: ['http://a.example/1', 'https://A.example/2', 'http://a.example:80/3'], expected: ['a.example'] },
    { name: 'non-default ports kept', seeds: ['http://localhost:8080/', 'https://a.example:443/', 'http://a.example:443/'], expected: ['localhost:8080', 'a.example', 'a.example:443'] },
    { name: 'IDN and IPv6', seeds: ['http://bücher.example/', 'http://[::1]:3000/'], expected: ['xn--bcher-kva.example', '[::1]:3000'] },
    { name: 'unusable seeds skipped', seeds: ['not a url', 'ftp://a.example/', 'http://b.example/'], expected: ['b.example'] },
    { name: 'no seeds', seeds: [], expected: [] },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(defaultAllowedHosts(c.seeds), c.expected));
  }

  it('produces entries a scope accepts and that allow the seeds', () => {
    const seeds = ['http://localhost:8080/start', 'https://bücher.example/', 'http://[::1]:3000/'];
    const scope = compileScope(hosts(...defaultAllowedHosts(seeds)));
    for (const seed of seeds) assert.equal(scope.allows(seed), true, seed);
    assert.equal(scope.allows('http://localhost:8081/'), false);
  });
});
