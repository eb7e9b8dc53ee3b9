import assert from 'node:assert/strict';
import { screenLinks, sessionPolicy } from '../../../shared/admission/index.js';
import type { SessionSpec } from '../../../shared/tasks/types.js';
import { trapOf, type TrapReason, type TrapRules } from '../../../shared/url/traps.js';

const rules: TrapRules = { maxUrlLength: 120, maxPathDepth: 6, maxRepeatedSegments: 3, maxQueryParams: 4 };
const none: TrapRules = { maxUrlLength: 0, maxPathDepth: 0, maxRepeatedSegments: 0, maxQueryParams: 0 };

describe('spider-trap rules', () => {
  const table: [string, string, TrapReason | null][] = [
    ['a plain page', 'http://x.test/a/b/c.html', null],
    ['the root', 'http://x.test/', null],
    ['a query within the limit', 'http://x.test/s?a=1&b=2&c=3&d=4', null],
    ['one query parameter too many', 'http://x.test/s?a=1&b=2&c=3&d=4&e=5', 'query_params'],
    ['empty query pieces do not count', 'http://x.test/s?a=1&&&&&b=2', null],
    ['six segments', 'http://x.test/1/2/3/4/5/6', null],
    ['seven segments', 'http://x.test/1/2/3/4/5/6/7', 'path_depth'],
    ['trailing slash is no segment', 'http://x.test/1/2/3/4/5/6/', null],
    ['a segment three times', 'http://x.test/a/a/a/', null],
    ['a segment four times (relative-link loop)', 'http://x.test/a/a/a/a/', 'repeated_segments'],
    ['a cycle of two segments', 'http://x.test/a/b/a/b/a/b/a', 'path_depth'],
    ['repeats apart from each other', 'http://x.test/x/y/x/z/x/x', 'repeated_segments'],
    ['a question mark only in the query', 'http://x.test/p?u=/a/a/a/a/a', null],
    ['too long', `http://x.test/${'l'.repeat(120)}`, 'url_length'],
    ['length is checked first', `http://x.test/a/a/a/a/${'l'.repeat(120)}`, 'url_length'],
    ['a port does not confuse the path', 'http://x.test:8080/a', null],
  ];
  for (const [name, url, want] of table) {
    it(`${name}: ${want ?? 'admitted'}`, () => assert.equal(trapOf(url, rules), want));
  }

  it('0 turns every rule off', () => {
    for (const [, url] of table) assert.equal(trapOf(url, none), null, url);
  });

  it('repeated segments: the limit is on occurrences, not on the run length', () => {
    assert.equal(trapOf('http://x.test/a/b/a/c/a/', { ...none, maxRepeatedSegments: 2 }), 'repeated_segments');
    assert.equal(trapOf('http://x.test/a/b/a/c/', { ...none, maxRepeatedSegments: 2 }), null);
  });
});

describe('screenLinks (admission before Redis)', () => {
  const spec: SessionSpec = {
    seeds: ['http://site.test/'],
    maxPages: 1000,
    maxDepth: 5,
    timeoutMs: 60_000,
    allowedHosts: ['site.test', 'other.test'],
    include: [],
    exclude: [],
    fields: {},
    webhook: null,
    label: null,
  };
  const policy = sessionPolicy('s1', spec);
  const opts = { maxUrlLength: 200, traps: { maxPathDepth: 5, maxRepeatedSegments: 3, maxQueryParams: 3 } };

  it('strips session and tracking parameters before dedup (default list)', () => {
    const r = screenLinks(
      [
        'http://site.test/page?sid=1',
        'http://site.test/page?PHPSESSID=abc',
        'http://site.test/page;jsessionid=XYZ',
        'http://site.test/page?utm_source=x&utm_medium=y',
        'http://site.test/page',
      ],
      policy,
      1,
      opts,
    );
    assert.deepEqual(r.links.map((l) => l.url), ['http://site.test/page']);
  });

  it('strips the configured list instead when given', () => {
    const r = screenLinks(['http://site.test/p?sid=1', 'http://site.test/p?ref=2'], policy, 1, { ...opts, stripParams: ['ref'] });
    assert.deepEqual(r.links.map((l) => l.url), ['http://site.test/p?sid=1', 'http://site.test/p']);
  });

  it('counts in-scope links per trap reason; out-of-scope links are not counted', () => {
    const r = screenLinks(
      [
        'http://site.test/ok',
        'http://site.test/a/a/a/a/',
        'http://site.test/1/2/3/4/5/6',
        'http://site.test/q?a=1&b=2&c=3&d=4',
        `http://site.test/${'x'.repeat(200)}`,
        'http://elsewhere.test/a/a/a/a/',
      ],
      policy,
      1,
      opts,
    );
    assert.deepEqual(r.links.map((l) => l.url), ['http://site.test/ok']);
    assert.deepEqual(r.refused, { repeated_segments: 1, path_depth: 1, query_params: 1, url_length: 1 });
  });

  it('gives each link its host (with port) for the per-host limit', () => {
    const r = screenLinks(['http://other.test:8080/x', 'http://site.test/y'], sessionSession(), 1, opts);
    assert.deepEqual(r.links.map((l) => l.host), ['other.test:8080', 'site.test']);
  });

  it('refuses everything past maxDepth, without counting', () => {
    const r = screenLinks(['http://site.test/a/a/a/a/'], policy, 6, opts);
    assert.deepEqual(r, { links: [], refused: {} });
  });

  it('gives each link its task id, depth, normalized URL and host', () => {
    const { links } = screenLinks(['http://site.test/a?sid=9'], policy, 1, { maxUrlLength: 2048 });
    assert.equal(links.length, 1);
    assert.deepEqual(Object.keys(links[0]!).sort(), ['depth', 'host', 'taskId', 'url']);
    assert.equal(links[0]!.url, 'http://site.test/a');
  });

  function sessionSession(): ReturnType<typeof sessionPolicy> {
    return sessionPolicy('s2', { ...spec, allowedHosts: ['site.test', 'other.test:8080'] });
  }
});
