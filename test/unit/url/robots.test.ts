/**
 * Tests of the robots.txt parser and matcher: the RFC 9309 examples, Google's
 * precedence examples, agent selection, limits, encodings and the status rule.
 */
import assert from 'node:assert/strict';
import {
  ALLOW_ALL,
  DISALLOW_ALL,
  ROBOTS_MAX_BYTES,
  normalizePercent,
  parseRobots,
  parseRobotsRules,
  robotsForStatus,
  userAgentToken,
} from '../../../shared/url/robots.js';
import { bigRobots } from '../../sites/adversarial.js';

type Expect = [path: string, allowed: boolean];

/** Asserts each path's verdict for a robots.txt and agent. */
function check(text: string, agent: string, expects: Expect[]): void {
  const robots = parseRobots(text, agent);
  for (const [path, allowed] of expects) {
    assert.equal(robots.isAllowed(path), allowed, `${agent} ${path} should be ${allowed ? 'allowed' : 'disallowed'}`);
  }
}

describe('robots.txt', () => {
  describe('RFC 9309 examples', () => {
    // RFC 9309 section 5.1, "Simple Example".
    const simple = [
      'User-Agent: *',
      'Disallow: *.gif$',
      'Disallow: /example/',
      'Allow: /publications/',
      '',
      'User-Agent: foobot',
      'Disallow:/',
      'Allow:/example/page.html',
      'Allow:/example/allowed.gif',
      '',
      'User-Agent: barbot',
      'User-Agent: bazbot',
      'Disallow: /example/page.html',
      '',
      'User-Agent: quxbot',
      '',
      'EOF',
    ].join('\n');
    const cases: { agent: string; expects: Expect[] }[] = [
      {
        agent: 'otherbot',
        expects: [
          ['/', true],
          ['/image.gif', false],
          ['/a/b/image.gif', false],
          ['/image.gif?x=1', true],
          ['/example/', false],
          ['/example/page.html', false],
          ['/publications/', true],
          ['/publications/x.html', true],
        ],
      },
      {
        agent: 'foobot',
        expects: [
          ['/', false],
          ['/other', false],
          ['/example/page.html', true],
          ['/example/allowed.gif', true],
          ['/example/other.gif', false],
        ],
      },
      { agent: 'barbot', expects: [['/example/page.html', false], ['/example/', true], ['/x.gif', true]] },
      { agent: 'bazbot', expects: [['/example/page.html', false], ['/publications/', true]] },
      // An empty matched group allows everything; it does not fall back to `*`.
      { agent: 'quxbot', expects: [['/', true], ['/example/', true], ['/image.gif', true]] },
    ];
    for (const c of cases) {
      it(`applies the simple example to ${c.agent}`, () => check(simple, c.agent, c.expects));
    }

    it('applies the longest-match example (section 5.2)', () => {
      check('User-Agent: foobot\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n', 'foobot', [
        ['/example/page/', true],
        ['/example/page/allowed.gif', true],
        ['/example/page/disallowed.gif', false],
        ['/example/', true],
      ]);
    });

    it('merges groups that name the same agent (section 2.2.1)', () => {
      const text = 'user-agent: ExampleBot\ndisallow: /foo\ndisallow: /bar\n\nuser-agent: ExampleBot\ndisallow: /baz\n';
      check(text, 'examplebot', [['/foo', false], ['/bar', false], ['/baz', false], ['/qux', true]]);
    });

    it('treats "$" and "*" as special characters (section 2.2.3)', () => {
      check('User-agent: *\nAllow: /this/path/exactly$\nAllow: /this/*/exactly\nDisallow: /this/\n', 'bot', [
        ['/this/path/exactly', true],
        ['/this/path/exactly/more', true],
        ['/this/path/not', false],
        ['/this/other/exactly', true],
        ['/this/a/b/c/exactly', true],
        ['/this/x', false],
      ]);
    });
  });

  describe("Google's matching examples", () => {
    const cases: { pattern: string; yes: string[]; no: string[] }[] = [
      { pattern: '/', yes: ['/', '/anything', '/a/b?c'], no: [] },
      { pattern: '/*', yes: ['/', '/anything'], no: [] },
      {
        pattern: '/fish',
        yes: ['/fish', '/fish.html', '/fish/salmon.html', '/fishheads', '/fishheads/yummy.html', '/fish.php?id=anything'],
        no: ['/Fish.asp', '/catfish', '/?id=fish', '/desert/fish'],
      },
      { pattern: '/fish*', yes: ['/fish', '/fish.html', '/fishheads/yummy.html'], no: ['/Fish.asp', '/catfish'] },
      {
        pattern: '/fish/',
        yes: ['/fish/', '/fish/?id=anything', '/fish/salmon.htm'],
        no: ['/fish', '/fish.html', '/animals/fish/', '/Fish/Salmon.asp'],
      },
      {
        pattern: '/*.php',
        yes: ['/index.php', '/filename.php', '/folder/filename.php', '/folder/filename.php?parameters', '/folder/any.php.file.html', '/filename.php/'],
        no: ['/', '/windows.PHP'],
      },
      {
        pattern: '/*.php$',
        yes: ['/filename.php', '/folder/filename.php'],
        no: ['/filename.php?parameters', '/filename.php/', '/filename.php5', '/windows.PHP'],
      },
      { pattern: '/fish*.php', yes: ['/fish.php', '/fishheads/catfish.php?parameters'], no: ['/Fish.PHP'] },
    ];
    for (const c of cases) {
      it(`matches disallow: ${c.pattern}`, () => {
        check(`User-agent: *\nDisallow: ${c.pattern}\n`, 'bot', [
          ...c.yes.map((p): Expect => [p, false]),
          ...c.no.map((p): Expect => [p, true]),
        ]);
      });
    }
  });

  describe('precedence', () => {
    const cases: { name: string; rules: string; path: string; allowed: boolean }[] = [
      { name: 'the longer allow wins', rules: 'allow: /p\ndisallow: /', path: '/page', allowed: true },
      { name: 'equal patterns: allow wins', rules: 'allow: /folder\ndisallow: /folder', path: '/folder/page', allowed: true },
      { name: 'equal patterns in the other order: allow wins', rules: 'disallow: /folder\nallow: /folder', path: '/folder/page', allowed: true },
      { name: 'the longer wildcard disallow wins', rules: 'allow: /page\ndisallow: /*.htm', path: '/page.htm', allowed: false },
      { name: 'equal lengths with a wildcard: allow wins', rules: 'allow: /page\ndisallow: /*.ph', path: '/page.php5', allowed: true },
      { name: 'anchored allow of the root', rules: 'allow: /$\ndisallow: /', path: '/', allowed: true },
      { name: 'anchored allow does not cover other pages', rules: 'allow: /$\ndisallow: /', path: '/page.htm', allowed: false },
      { name: 'allow *.php$ over disallow /', rules: 'allow: /*.php$\ndisallow: /', path: '/dir/index.php', allowed: true },
      { name: 'allow *.php$ not for a query', rules: 'allow: /*.php$\ndisallow: /', path: '/dir/index.php?x', allowed: false },
      { name: 'the last matching rule does not matter', rules: 'disallow: /a/b\nallow: /a', path: '/a/b/c', allowed: false },
      { name: 'no matching rule allows', rules: 'disallow: /private', path: '/public', allowed: true },
      { name: 'empty disallow allows everything', rules: 'disallow:', path: '/anything', allowed: true },
      { name: 'empty disallow next to a rule', rules: 'disallow:\ndisallow: /x', path: '/x', allowed: false },
      { name: 'empty allow is no rule', rules: 'allow:\ndisallow: /', path: '/a', allowed: false },
    ];
    for (const c of cases) {
      it(`${c.name} (${c.path})`, () => {
        assert.equal(parseRobots(`user-agent: *\n${c.rules}\n`, 'bot').isAllowed(c.path), c.allowed);
      });
    }

    it('always allows /robots.txt', () => {
      check('User-agent: *\nDisallow: /\nDisallow: /robots.txt\n', 'bot', [
        ['/robots.txt', true],
        ['/robots.txt?x=1', true],
        ['/robots.txt.bak', false],
        ['/', false],
      ]);
      assert.equal(DISALLOW_ALL.isAllowed('/robots.txt'), true);
    });
  });

  describe('agent selection', () => {
    const text = [
      'User-agent: *',
      'Disallow: /star/',
      '',
      'User-agent: crawlfleet',
      'Disallow: /mine/',
      '',
      'User-agent: Googlebot',
      'Disallow: /',
    ].join('\n');
    const cases: { name: string; agent: string; expects: Expect[]; matched: string }[] = [
      { name: 'its own group beats *', agent: 'crawlfleet', expects: [['/mine/', false], ['/star/', true]], matched: 'agent' },
      { name: 'case-insensitively', agent: 'CrawlFleet', expects: [['/mine/', false], ['/star/', true]], matched: 'agent' },
      { name: 'else the * group', agent: 'otherbot', expects: [['/mine/', true], ['/star/', false]], matched: 'wildcard' },
      { name: 'not by prefix', agent: 'crawl', expects: [['/mine/', true], ['/star/', false]], matched: 'wildcard' },
      { name: 'not by a longer name', agent: 'crawlfleet-images', expects: [['/mine/', true], ['/star/', false]], matched: 'wildcard' },
      { name: 'an empty token gets *', agent: '', expects: [['/star/', false]], matched: 'wildcard' },
    ];
    for (const c of cases) {
      it(`${c.name} (${JSON.stringify(c.agent)})`, () => {
        check(text, c.agent, c.expects);
        assert.equal(parseRobots(text, c.agent).matched, c.matched);
      });
    }

    it('matches the product token of a user-agent value (version, upper case, comment)', () => {
      for (const line of ['CRAWLFLEET', 'crawlfleet/1.0', 'crawlfleet # us', 'Crawlfleet (compatible)']) {
        check(`User-agent: *\nDisallow: /\n\nUser-agent: ${line}\nDisallow: /x/\n`, 'crawlfleet', [['/', true], ['/x/', false]]);
      }
    });

    it('merges the * groups when no group names the agent', () => {
      check('User-agent: *\nDisallow: /a/\n\nUser-agent: other\nDisallow: /b/\n\nUser-agent: *\nDisallow: /c/\n', 'bot', [
        ['/a/', false],
        ['/b/', true],
        ['/c/', false],
      ]);
    });

    it('shares one group among consecutive user-agent lines, blank lines or not', () => {
      const text2 = 'User-agent: a\n\nUser-agent: crawlfleet\nUser-agent: b\nDisallow: /shared/\nUser-agent: c\nDisallow: /c/\n';
      check(text2, 'crawlfleet', [['/shared/', false], ['/c/', true]]);
      check(text2, 'a', [['/shared/', false]]);
      check(text2, 'c', [['/shared/', true], ['/c/', false]]);
    });

    it('allows everything when no group matches and there is no * group', () => {
      const robots = parseRobots('User-agent: other\nDisallow: /\n', 'crawlfleet');
      assert.equal(robots.isAllowed('/'), true);
      assert.equal(robots.matched, 'none');
    });

    it('ignores rules before the first user-agent line', () => {
      check('Disallow: /\nAllow: /x\n\nUser-agent: *\nDisallow: /y\n', 'bot', [['/', true], ['/y', false]]);
    });

    it('allows everything for an empty or junk file', () => {
      for (const text2 of ['', '\n\n', '<html><body>Not a robots file: really</body></html>', '\0\0\0']) {
        assert.equal(parseRobots(text2, 'bot').isAllowed('/anything'), true);
      }
    });
  });

  describe('syntax', () => {
    const cases: { name: string; text: string; expects: Expect[] }[] = [
      { name: 'CRLF line ends', text: 'User-agent: *\r\nDisallow: /a\r\nAllow: /a/b\r\n', expects: [['/a', false], ['/a/b', true]] },
      { name: 'CR line ends', text: 'User-agent: *\rDisallow: /a\rAllow: /a/b\r', expects: [['/a', false], ['/a/b', true]] },
      { name: 'mixed line ends', text: 'User-agent: *\r\nDisallow: /a\rDisallow: /b\nDisallow: /c', expects: [['/a', false], ['/b', false], ['/c', false], ['/d', true]] },
      { name: 'a BOM', text: '\ufeffUser-agent: *\nDisallow: /a\n', expects: [['/a', false]] },
      { name: 'upper- and mixed-case keys', text: 'USER-AGENT: *\nDISALLOW: /a\ndisAllow: /b\nALLOW: /a/ok\n', expects: [['/a', false], ['/b', false], ['/a/ok', true]] },
      { name: 'comments', text: '# hello\nUser-agent: * # all\nDisallow: /a # not /b\n# Disallow: /c\n', expects: [['/a', false], ['/b', true], ['/c', true]] },
      { name: 'spaces and tabs around keys and values', text: '  User-agent :\t*\n\tDisallow  :   /a   \n', expects: [['/a', false]] },
      { name: 'unknown keys', text: 'User-agent: *\nNoindex: /a\nHost: example.com\nClean-param: x\nDisallow: /b\n', expects: [['/a', true], ['/b', false]] },
      { name: 'lines without a colon', text: 'User-agent: *\nDisallow /a\nDisallow: /b\n', expects: [['/a', true], ['/b', false]] },
      { name: 'common misspellings', text: 'useragent: *\ndissallow: /a\ndisalow: /b\nuser agent: x\n', expects: [['/a', false], ['/b', false]] },
      { name: 'a pattern without a leading slash', text: 'User-agent: *\nDisallow: *.gif\n', expects: [['/x.gif', false], ['/x.png', true]] },
      { name: 'a $ inside a pattern is literal', text: 'User-agent: *\nDisallow: /a$b\n', expects: [['/a$b', false], ['/a', true]] },
      { name: 'consecutive stars', text: 'User-agent: *\nDisallow: /a**b\n', expects: [['/ab', false], ['/axxb', false], ['/ba', true]] },
      { name: 'a lone *', text: 'User-agent: *\nDisallow: *\n', expects: [['/', false], ['/x', false]] },
      { name: 'a lone $', text: 'User-agent: *\nDisallow: $\n', expects: [['/', true]] },
      { name: 'a star-dollar', text: 'User-agent: *\nDisallow: /x*$\n', expects: [['/x', false], ['/xyz', false], ['/y', true]] },
    ];
    for (const c of cases) {
      it(`handles ${c.name}`, () => check(c.text, 'bot', c.expects));
    }
  });

  describe('queries, fragments and percent-encoding', () => {
    it('matches the query string', () => {
      check('User-agent: *\nDisallow: /*?\nAllow: /search?q=\nDisallow: /search?q=*&sid=\n', 'bot', [
        ['/page', true],
        ['/page?', false],
        ['/page?x=1', false],
        ['/search?q=robots', true],
        ['/search?q=robots&sid=1', false],
      ]);
    });

    it('ignores the fragment and accepts a full URL', () => {
      const robots = parseRobots('User-agent: *\nDisallow: /a$\n', 'bot');
      assert.equal(robots.isAllowed('/a#frag'), false);
      assert.equal(robots.isAllowed('/ab#frag'), true);
      assert.equal(robots.isAllowed('http://example.com/a'), false);
      assert.equal(robots.isAllowed('https://example.com/ab?x'), true);
    });

    it('treats an empty path as /', () => {
      assert.equal(parseRobots('User-agent: *\nDisallow: /$\n', 'bot').isAllowed(''), false);
    });

    // RFC 9309 section 2.2.2 encoding table, and the unreserved/reserved rule both ways.
    const cases: { name: string; pattern: string; path: string; matches: boolean }[] = [
      { name: 'plain query', pattern: '/foo/bar?baz=quz', path: '/foo/bar?baz=quz', matches: true },
      { name: 'a UTF-8 pattern against an encoded path', pattern: '/foo/bar/ツ', path: '/foo/bar/%E3%83%84', matches: true },
      { name: 'an encoded pattern against a UTF-8 path', pattern: '/foo/bar/%E3%83%84', path: '/foo/bar/ツ', matches: true },
      { name: 'lower-case hex in the pattern', pattern: '/foo/bar/%e3%83%84', path: '/foo/bar/%E3%83%84', matches: true },
      { name: 'lower-case hex in the path', pattern: '/foo/bar/%E3%83%84', path: '/foo/bar/%e3%83%84', matches: true },
      { name: 'encoded unreserved characters in the pattern', pattern: '/foo/bar/%62%61%7A', path: '/foo/bar/baz', matches: true },
      { name: 'encoded unreserved characters in the path', pattern: '/foo/bar/baz', path: '/foo/bar/%62%61%7a', matches: true },
      { name: 'encoded tilde and dot', pattern: '/~user/a.b', path: '/%7Euser/a%2Eb', matches: true },
      { name: 'an encoded slash is not a slash', pattern: '/a/b', path: '/a%2Fb', matches: false },
      { name: 'a slash is not an encoded slash', pattern: '/a%2fb', path: '/a/b', matches: false },
      { name: 'an encoded slash matches itself', pattern: '/a%2fb', path: '/a%2Fb', matches: true },
      { name: 'an encoded star is literal', pattern: '/a%2Ab', path: '/axxb', matches: false },
      { name: 'an encoded star matches itself', pattern: '/a%2Ab', path: '/a%2ab', matches: true },
      { name: 'a space in the path', pattern: '/a%20b', path: '/a b', matches: true },
    ];
    for (const c of cases) {
      it(`normalizes ${c.name}`, () => {
        assert.equal(parseRobots(`User-agent: *\nDisallow: ${c.pattern}\n`, 'bot').isAllowed(c.path), !c.matches);
      });
    }

    it('normalizes percent-encoding', () => {
      const cases2: [string, string][] = [
        ['/plain', '/plain'],
        ['/%41%7a%2D%2e%5F%7e', '/Az-._~'],
        ['/%2f%3a%3F%25', '/%2F%3A%3F%25'],
        ['/%zz%4', '/%zz%4'],
        ['/é', '/%C3%A9'],
        ['/😀', '/%F0%9F%98%80'],
        ['/a b\t', '/a%20b%09'],
      ];
      for (const [input, want] of cases2) assert.equal(normalizePercent(input), want, input);
    });
  });

  describe('crawl-delay and sitemaps', () => {
    const cases: { name: string; text: string; agent: string; delay: number | null }[] = [
      { name: 'an integer', text: 'User-agent: *\nCrawl-delay: 2\n', agent: 'bot', delay: 2 },
      { name: 'a fraction', text: 'User-agent: *\nCrawl-delay: 0.5\n', agent: 'bot', delay: 0.5 },
      { name: 'zero', text: 'User-agent: *\nCrawl-delay: 0\n', agent: 'bot', delay: 0 },
      { name: 'none', text: 'User-agent: *\nDisallow: /\n', agent: 'bot', delay: null },
      { name: 'not a number', text: 'User-agent: *\nCrawl-delay: soon\n', agent: 'bot', delay: null },
      { name: 'negative', text: 'User-agent: *\nCrawl-delay: -1\n', agent: 'bot', delay: null },
      { name: 'with a unit', text: 'User-agent: *\nCrawl-delay: 5s\n', agent: 'bot', delay: null },
      { name: 'infinite', text: 'User-agent: *\nCrawl-delay: Infinity\n', agent: 'bot', delay: null },
      { name: 'an invalid one after a valid one', text: 'User-agent: *\nCrawl-delay: 3\nCrawl-delay: x\n', agent: 'bot', delay: 3 },
      { name: 'of the matched group only', text: 'User-agent: *\nCrawl-delay: 9\n\nUser-agent: bot\nCrawl-delay: 1\n', agent: 'bot', delay: 1 },
      { name: 'not of *, when the own group has none', text: 'User-agent: *\nCrawl-delay: 9\n\nUser-agent: bot\nDisallow: /x\n', agent: 'bot', delay: null },
      { name: 'the largest of merged groups', text: 'User-agent: bot\nCrawl-delay: 1\n\nUser-agent: bot\nCrawl-delay: 4\n', agent: 'bot', delay: 4 },
      { name: 'of another agent', text: 'User-agent: other\nCrawl-delay: 7\n', agent: 'bot', delay: null },
    ];
    for (const c of cases) {
      it(`reads crawl-delay: ${c.name}`, () => {
        assert.equal(parseRobots(c.text, c.agent).crawlDelayS, c.delay);
      });
    }

    it('collects sitemaps anywhere in the file, for every agent', () => {
      const text = [
        'Sitemap: https://example.com/sitemap1.xml',
        'User-agent: other',
        'Disallow: /',
        'sitemap: http://example.com/sitemap2.xml # comment',
        'User-agent: *',
        'SITEMAP:https://cdn.example.com/s3.xml.gz',
        'Sitemap: /relative.xml',
        'Sitemap: ftp://example.com/x.xml',
        'Sitemap: https://example.com/sitemap1.xml',
        'Sitemap:',
      ].join('\n');
      const want = ['https://example.com/sitemap1.xml', 'http://example.com/sitemap2.xml', 'https://cdn.example.com/s3.xml.gz'];
      assert.deepEqual(parseRobots(text, 'bot').sitemaps, want);
      assert.deepEqual(parseRobots(text, 'other').sitemaps, want);
      assert.deepEqual(parseRobotsRules(text).sitemaps, want);
    });

    it('does not end a user-agent list at a sitemap line', () => {
      check('User-agent: a\nSitemap: https://example.com/s.xml\nUser-agent: bot\nDisallow: /x\n', 'a', [['/x', false]]);
    });
  });

  describe('size limit', () => {
    it('parses at least 500 KiB', () => {
      assert.ok(ROBOTS_MAX_BYTES >= 500 * 1024);
      const robots = parseRobots(bigRobots(500 * 1024), 'bot');
      assert.equal(robots.isAllowed('/early/x'), false);
      assert.equal(robots.isAllowed('/late/x'), false, 'a rule after 500 KiB still counts');
      assert.equal(robots.isAllowed('/pad/0/'), false);
      assert.equal(robots.isAllowed('/other'), true);
    });

    it('ignores rules after 512 KiB of a 600 KiB file', () => {
      const text = bigRobots(ROBOTS_MAX_BYTES);
      assert.ok(text.length >= 600 * 1024);
      assert.ok(text.indexOf('Disallow: /late/') >= ROBOTS_MAX_BYTES);
      const robots = parseRobots(text, 'bot');
      assert.equal(robots.isAllowed('/early/page'), false);
      assert.equal(robots.isAllowed('/late/page'), true);
    });

    it('counts octets, not characters', () => {
      // 200,000 three-octet characters = 600,000 octets before the rule.
      const text = `User-agent: *\nDisallow: /early/\n# ${'€'.repeat(200_000)}\nDisallow: /late/\n`;
      const robots = parseRobots(text, 'bot');
      assert.equal(robots.isAllowed('/early/'), false);
      assert.equal(robots.isAllowed('/late/'), true);
    });

    it('drops a line cut by the limit', () => {
      const head = `User-agent: *\n# ${'x'.repeat(ROBOTS_MAX_BYTES - 100)}\n`;
      const line = `Disallow: /${'a'.repeat(200)}`;
      const robots = parseRobots(head + line + '\n', 'bot');
      assert.equal(robots.isAllowed('/a'), true, 'the truncated "Disallow: /aaa" must not become a shorter rule');
      assert.equal(robots.rules.length, 0);
    });

    it('keeps a last line that ends exactly at the limit', () => {
      const rule = 'Disallow: /last\n';
      const head = `User-agent: *\n#${'x'.repeat(ROBOTS_MAX_BYTES - 15 - 2 - rule.length + 1)}\n`;
      const text = head + rule;
      assert.equal(Buffer.byteLength(text), ROBOTS_MAX_BYTES);
      assert.equal(parseRobots(text + 'Disallow: /more\n', 'bot').isAllowed('/last'), false);
      assert.equal(parseRobots(text + 'Disallow: /more\n', 'bot').isAllowed('/more'), true);
    });

    it('handles a very large input quickly', () => {
      const started = performance.now();
      const robots = parseRobots(`User-agent: *\nDisallow: /a\n${'# filler\n'.repeat(3_000_000)}Disallow: /b\n`, 'bot');
      assert.equal(robots.isAllowed('/a'), false);
      assert.equal(robots.isAllowed('/b'), true);
      assert.ok(performance.now() - started < 2000);
    });
  });

  describe('matching cost', () => {
    it('matches a 500-star pattern against a 2000-character path fast', () => {
      const pattern = `/${'*a'.repeat(500)}b$`;
      const robots = parseRobots(`User-agent: *\nDisallow: ${pattern}\nDisallow: /${'*'.repeat(500)}x*y*z\n`, 'bot');
      const path = `/${'a'.repeat(2000)}`;
      const started = performance.now();
      for (let i = 0; i < 100; i++) assert.equal(robots.isAllowed(path), true);
      assert.equal(robots.isAllowed(`${path}b`), false);
      assert.equal(robots.isAllowed(`/${'a'.repeat(499)}b`), true);
      assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
    });

    it('matches many rules against many paths fast', () => {
      const rules = Array.from({ length: 5000 }, (_, i) => `Disallow: /p${i}/*/x*y$`).join('\n');
      const robots = parseRobots(`User-agent: *\n${rules}\n`, 'bot');
      const started = performance.now();
      for (let i = 0; i < 200; i++) robots.isAllowed(`/p${i}/${'q'.repeat(500)}/x${'z'.repeat(500)}`);
      assert.equal(robots.isAllowed('/p42/a/b/xzy'), false);
      assert.ok(performance.now() - started < 2000, `took ${performance.now() - started} ms`);
    });
  });

  describe('constants and helpers', () => {
    it('ALLOW_ALL allows everything, DISALLOW_ALL nothing but /robots.txt', () => {
      for (const path of ['/', '/a', '/a?b', '']) {
        assert.equal(ALLOW_ALL.isAllowed(path), true, path);
        assert.equal(DISALLOW_ALL.isAllowed(path), false, path);
      }
      for (const r of [ALLOW_ALL, DISALLOW_ALL]) {
        assert.equal(r.crawlDelayS, null);
        assert.deepEqual(r.sitemaps, []);
        assert.ok(Object.isFrozen(r));
      }
    });

    const statuses: [number, 'parse' | 'allow-all' | 'disallow-all'][] = [
      [200, 'parse'],
      [203, 'parse'],
      [204, 'parse'],
      [299, 'parse'],
      [301, 'allow-all'],
      [400, 'allow-all'],
      [401, 'allow-all'],
      [403, 'allow-all'],
      [404, 'allow-all'],
      [410, 'allow-all'],
      [451, 'allow-all'],
      [429, 'disallow-all'],
      [500, 'disallow-all'],
      [502, 'disallow-all'],
      [503, 'disallow-all'],
      [599, 'disallow-all'],
      [0, 'disallow-all'],
      [100, 'disallow-all'],
      [600, 'disallow-all'],
      [Number.NaN, 'disallow-all'],
    ];
    for (const [status, want] of statuses) {
      it(`robotsForStatus(${status}) is ${want}`, () => assert.equal(robotsForStatus(status), want));
    }

    const agents: [string, string][] = [
      ['crawlfleet/0.1 (+https://example.com/bot)', 'crawlfleet'],
      ['crawlfleet', 'crawlfleet'],
      ['  Crawl_Fleet-Bot/2', 'Crawl_Fleet-Bot'],
      ['Mozilla/5.0 (compatible; crawlfleet/0.1)', 'Mozilla'],
      ['/0.1', ''],
      ['', ''],
    ];
    for (const [ua, want] of agents) {
      it(`userAgentToken(${JSON.stringify(ua)}) is ${JSON.stringify(want)}`, () => assert.equal(userAgentToken(ua), want));
    }

    it('selects by the token of a full User-Agent header too', () => {
      const text = 'User-agent: *\nDisallow: /\n\nUser-agent: crawlfleet\nDisallow: /x\n';
      assert.equal(parseRobots(text, 'crawlfleet/0.1 (+https://example.com)').isAllowed('/'), true);
    });

    it('exposes all groups', () => {
      const rules = parseRobotsRules('User-agent: a\nUser-agent: b\nDisallow: /x\nCrawl-delay: 1.5\n\nUser-agent: *\nAllow: /%7e\n');
      assert.deepEqual(rules.groups, [
        { userAgents: ['a', 'b'], rules: [{ allow: false, pattern: '/x' }], crawlDelayS: 1.5 },
        { userAgents: ['*'], rules: [{ allow: true, pattern: '/~' }], crawlDelayS: null },
      ]);
    });
  });
});
