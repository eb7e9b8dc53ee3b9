/**
 * The seed checks of POST /sessions that need no server: normalization with the stripped
 * parameters, the spider-trap rules and IP literals (buildSpec), and the refusal of seeds whose
 * host name resolves to a forbidden address (with resolvers from a table).
 */
import assert from 'node:assert/strict';
import { admissionOptions } from '../../../shared/admission/index.js';
import { buildSpec, checkSeedHosts, forbiddenSeedHost, seedHostNames } from '../../../services/controller/sessions.js';
import { loadConfig, type Config } from '../../../shared/config/index.js';
import { CrawlError } from '../../../shared/errors/index.js';
import type { LookupAll } from '../../../shared/net/lookup.js';
import { AddressPolicy } from '../../../shared/net/ssrf.js';

function config(env: Record<string, string> = {}): Config {
  return loadConfig({ env, file: null }).config;
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CrawlError && err.code === 'validation', `expected a validation error, got ${String(err)}`);
    return err.message;
  }
  assert.fail('expected a validation error');
}

async function asyncRefusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof CrawlError && err.code === 'validation', `expected a validation error, got ${String(err)}`);
    return err.message;
  }
  assert.fail('expected a validation error');
}

describe('POST /sessions seed checks', () => {
  describe('buildSpec: stripped parameters and spider-trap rules', () => {
    const cfg = config({ TRAPS_MAX_PATH_DEPTH: '4', TRAPS_MAX_REPEATED_SEGMENTS: '2', TRAPS_MAX_QUERY_PARAMS: '3', API_MAX_URL_LENGTH: '80' });

    it('normalizes seeds with traps.stripParams, as links are', () => {
      const spec = buildSpec({ seeds: ['http://a.test/p?utm_source=x&id=1&sid=9', 'http://a.test/s;jsessionid=AB12?PHPSESSID=1'] }, cfg);
      assert.deepEqual(spec.seeds, ['http://a.test/p?id=1', 'http://a.test/s']);
      const custom = buildSpec({ seeds: ['http://a.test/p?utm_source=x&ref=y&sid=9'] }, config({ TRAPS_STRIP_PARAMS: 'ref' }));
      assert.deepEqual(custom.seeds, ['http://a.test/p?sid=9&utm_source=x'], 'only the configured parameters');
    });

    const refused: [string, string, string][] = [
      ['path_depth', 'http://a.test/1/2/3/4/5', 'body/seeds/1 breaks the spider-trap rule path_depth (more than 4 path segments); see traps.maxPathDepth'],
      ['repeated_segments', 'http://a.test/a/b/a/a', 'body/seeds/1 breaks the spider-trap rule repeated_segments (a path segment more than 2 times); see traps.maxRepeatedSegments'],
      ['query_params', 'http://a.test/q?a=1&b=2&c=3&d=4', 'body/seeds/1 breaks the spider-trap rule query_params (more than 3 query parameters); see traps.maxQueryParams'],
      ['url_length after normalization', `http://a.test/${'é'.repeat(15)}`, 'body/seeds/1 breaks the spider-trap rule url_length (longer than 80 characters); see api.maxUrlLength'],
    ];
    for (const [name, seed, message] of refused) {
      it(`refuses a seed that breaks ${name}, naming the seed and the rule`, () => {
        assert.equal(refusal(() => buildSpec({ seeds: ['http://a.test/', seed] }, cfg)), message);
      });
    }

    it('counts query parameters after stripping, and admits what the rules allow', () => {
      const spec = buildSpec({ seeds: ['http://a.test/1/2/3/4', 'http://a.test/a/b/a', 'http://a.test/q?a=1&b=2&c=3&utm_x=1&sid=2'] }, cfg);
      assert.deepEqual(spec.seeds, ['http://a.test/1/2/3/4', 'http://a.test/a/b/a', 'http://a.test/q?a=1&b=2&c=3']);
    });

    it('applies no rule set to 0', () => {
      const off = config({ TRAPS_MAX_PATH_DEPTH: '0', TRAPS_MAX_REPEATED_SEGMENTS: '0', TRAPS_MAX_QUERY_PARAMS: '0' });
      assert.deepEqual(buildSpec({ seeds: ['http://a.test/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a'] }, off).seeds.length, 1);
    });

    it('feeds admission the same options, so an admitted seed is the stored one', () => {
      assert.deepEqual(admissionOptions(cfg), {
        maxUrlLength: 80,
        stripParams: cfg.traps.stripParams,
        traps: { maxPathDepth: 4, maxRepeatedSegments: 2, maxQueryParams: 3 },
      });
    });

    it('stores sitemaps, false unless asked', () => {
      assert.equal(buildSpec({ seeds: ['http://a.test/'] }, cfg).sitemaps, false);
      assert.equal(buildSpec({ seeds: ['http://a.test/'], sitemaps: true }, cfg).sitemaps, true);
    });
  });

  describe('host names resolving to forbidden addresses', () => {
    const policy = new AddressPolicy([]);

    it('looks up each distinct host name once, not IP literals', () => {
      assert.deepEqual(
        seedHostNames(['http://a.test/1', 'http://b.test:8080/', 'http://a.test:81/2', 'http://93.184.216.34/', 'http://[2001:db8::1]/', 'http://xn--bcher-kva.test/']),
        ['a.test', 'b.test', 'xn--bcher-kva.test'],
      );
    });

    const table: [string, Record<string, string[] | null>, string | null][] = [
      ['all public', { 'a.test': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'] }, null],
      ['loopback', { 'a.test': ['127.0.0.1'] }, 'body/seeds/0 resolves to a forbidden address (127.0.0.1); see fetch.allowedNetworks'],
      ['any one address forbidden', { 'a.test': ['93.184.216.34', '10.0.0.7'] }, 'body/seeds/0 resolves to a forbidden address (10.0.0.7); see fetch.allowedNetworks'],
      ['IPv6 unique-local', { 'a.test': ['fd00::1'] }, 'body/seeds/0 resolves to a forbidden address (fd00::1); see fetch.allowedNetworks'],
      ['IPv4-mapped metadata address', { 'a.test': ['::ffff:169.254.169.254'] }, 'body/seeds/0 resolves to a forbidden address (::ffff:169.254.169.254); see fetch.allowedNetworks'],
      ['unresolved host accepted', { 'a.test': null }, null],
      ['the first seed in order is named', { 'a.test': ['93.184.216.34'], 'b.test': ['192.168.1.1'], 'c.test': ['10.0.0.1'] }, 'body/seeds/1 resolves to a forbidden address (192.168.1.1); see fetch.allowedNetworks'],
    ];
    const seeds = ['http://a.test/', 'http://b.test/x', 'http://c.test/', 'http://b.test/y'];
    for (const [name, answers, message] of table) {
      it(`${name}: ${message ?? 'accepted'}`, () => {
        const resolved = new Map(Object.entries(answers));
        assert.equal(forbiddenSeedHost(seeds, resolved, policy)?.message ?? null, message);
      });
    }

    it('lets fetch.allowedNetworks open the gate', () => {
      const resolved = new Map([['a.test', ['127.0.0.1']]]);
      assert.equal(forbiddenSeedHost(['http://a.test/'], resolved, new AddressPolicy(['127.0.0.0/8'])), null);
    });

    it('checkSeedHosts resolves the names and throws the refusal; 0 turns the lookups off', async () => {
      const asked: string[] = [];
      const lookup: LookupAll = async (host) => {
        asked.push(host);
        return host === 'intranet.test' ? ['10.1.2.3'] : ['93.184.216.34'];
      };
      const seeds = ['http://www.test/', 'http://10.9.9.9/', 'http://intranet.test/'];
      assert.equal(
        await asyncRefusal(checkSeedHosts(seeds, config(), lookup)),
        'body/seeds/2 resolves to a forbidden address (10.1.2.3); see fetch.allowedNetworks',
      );
      assert.deepEqual(asked, ['www.test', 'intranet.test']);
      await checkSeedHosts(seeds, config({ FETCH_ALLOWED_NETWORKS: '10.0.0.0/8' }), lookup);
      asked.length = 0;
      await checkSeedHosts(seeds, config({ API_SEED_LOOKUP_TIMEOUT_MS: '0' }), lookup);
      assert.deepEqual(asked, []);
    });

    it('checkSeedHosts accepts a host whose lookup outlasts api.seedLookupTimeoutMs, within that time', async () => {
      const started = Date.now();
      await checkSeedHosts(['http://slow.test/'], config({ API_SEED_LOOKUP_TIMEOUT_MS: '100' }), () => new Promise(() => undefined));
      assert.ok(Date.now() - started < 1000);
    });
  });
});
