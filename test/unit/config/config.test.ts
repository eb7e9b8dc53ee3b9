import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CrawlError } from '../../../shared/errors/index.js';
import { getKey, loadConfig, readConfigFile, redacted, schemaEntries } from '../../../shared/config/index.js';
import type { ConfigSources } from '../../../shared/config/index.js';

const empty = (): ConfigSources => ({ env: {}, file: null });

/** Runs fn, expecting a CrawlError('config_invalid'); returns its message. */
function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CrawlError, `expected a CrawlError, got ${String(err)}`);
    assert.equal(err.code, 'config_invalid');
    return err.message;
  }
  assert.fail('expected config_invalid to be thrown');
}

describe('config', () => {
  describe('defaults', () => {
    it('loads every default with an empty environment and no file', () => {
      const { config, origins } = loadConfig(empty());
      assert.equal(config.namespace, 'crawlfleet');
      assert.deepEqual(config.amqp, {
        url: 'amqp://guest:guest@127.0.0.1:5672', queueType: 'quorum', deliveryLimit: 5, heartbeatS: 15,
        fetchBatch: 8, extractBatch: 32, deliverBatch: 64, batchMaxBytes: 1_048_576, lingerMs: 10, compressPages: true,
      });
      assert.equal(config.redis.url, 'redis://127.0.0.1:6379');
      assert.equal(config.log.level, 'info');
      assert.equal(config.fetch.concurrency, 32);
      assert.equal(config.fetch.prefetch, 0);
      assert.equal(config.fetch.maxBytes, 10_485_760);
      assert.deepEqual(config.fetch.allowedNetworks, []);
      assert.deepEqual(config.fetch.htmlTypes, ['text/html', 'application/xhtml+xml']);
      assert.equal(config.rate.global, 0);
      assert.equal(config.rate.perHost, 0);
      assert.deepEqual(config.retry, { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000 });
      assert.equal(config.extract.followNofollow, false);
      assert.equal(config.api.token, '');
      assert.equal(config.session.maxTimeoutMs, 7 * 86_400_000);
      for (const e of schemaEntries()) {
        assert.equal(origins[e.key], 'default', e.key);
        assert.deepEqual(getKey(config, e.key), e.default, e.key);
      }
    });

    it('does not read process.env when an env is given', () => {
      const saved = process.env.FETCH_CONCURRENCY;
      process.env.FETCH_CONCURRENCY = '7';
      try {
        assert.equal(loadConfig(empty()).config.fetch.concurrency, 32);
      } finally {
        if (saved === undefined) delete process.env.FETCH_CONCURRENCY;
        else process.env.FETCH_CONCURRENCY = saved;
      }
    });
  });

  describe('environment', () => {
    const cases: { name: string; env: Record<string, string>; key: string; expected: unknown }[] = [
      { name: 'integer string → number', env: { FETCH_CONCURRENCY: '8' }, key: 'fetch.concurrency', expected: 8 },
      { name: 'CIDR list with spaces → array', env: { FETCH_ALLOWED_NETWORKS: '127.0.0.0/8, ::1/128' }, key: 'fetch.allowedNetworks', expected: ['127.0.0.0/8', '::1/128'] },
      { name: 'empty items dropped from a list', env: { FETCH_HTML_TYPES: 'text/html,,text/plain,' }, key: 'fetch.htmlTypes', expected: ['text/html', 'text/plain'] },
      { name: 'decimal rate', env: { RATE_GLOBAL: '2.5' }, key: 'rate.global', expected: 2.5 },
      { name: 'zero rate allowed', env: { RATE_PER_HOST: '0' }, key: 'rate.perHost', expected: 0 },
      { name: 'boolean true', env: { EXTRACT_FOLLOW_NOFOLLOW: 'true' }, key: 'extract.followNofollow', expected: true },
      { name: 'enum', env: { AMQP_QUEUE_TYPE: 'classic' }, key: 'amqp.queueType', expected: 'classic' },
      { name: 'port', env: { HTTP_PORT: '9090' }, key: 'http.port', expected: 9090 },
      { name: 'nat 0 allowed for prefetch', env: { FETCH_PREFETCH: '0' }, key: 'fetch.prefetch', expected: 0 },
      { name: 'string kept', env: { API_TOKEN: 'abc' }, key: 'api.token', expected: 'abc' },
      { name: 'amqps URL', env: { AMQP_URL: 'amqps://u:p@mq.example:5671/vh' }, key: 'amqp.url', expected: 'amqps://u:p@mq.example:5671/vh' },
      { name: 'namespace', env: { CRAWLER_NAMESPACE: 'test_1-a' }, key: 'namespace', expected: 'test_1-a' },
    ];
    for (const c of cases) {
      it(`coerces ${c.name}`, () => {
        const { config, origins } = loadConfig({ env: c.env, file: null });
        assert.deepEqual(getKey(config, c.key), c.expected);
        assert.equal(origins[c.key], 'env');
      });
    }

    it('ignores an empty environment variable', () => {
      const { config, origins } = loadConfig({ env: { FETCH_CONCURRENCY: '' }, file: null });
      assert.equal(config.fetch.concurrency, 32);
      assert.equal(origins['fetch.concurrency'], 'default');
    });

    it('reads the file named by CONFIG_FILE when no file is given', () => {
      const dir = mkdtempSync(join(tmpdir(), 'crawlfleet-config-'));
      try {
        const path = join(dir, 'settings.json');
        writeFileSync(path, JSON.stringify({ fetch: { maxRedirects: 3 } }));
        const { config, origins } = loadConfig({ env: { CONFIG_FILE: path } });
        assert.equal(config.fetch.maxRedirects, 3);
        assert.equal(origins['fetch.maxRedirects'], 'file');
        const fileKey = schemaEntries().find((e) => e.env === 'CONFIG_FILE')?.key;
        assert.ok(fileKey, 'no setting reads CONFIG_FILE');
        assert.equal(getKey(config, fileKey), path);
        assert.equal(origins[fileKey], 'env');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('precedence', () => {
    const sources: ConfigSources = {
      env: { FETCH_CONCURRENCY: '8', RATE_GLOBAL: '3' },
      file: { fetch: { concurrency: 4, maxBytes: 100 }, rate: { global: 1, perHost: 2 } },
      overrides: { rate: { global: 5 } },
    };

    const cases: { key: string; value: unknown; origin: string }[] = [
      { key: 'fetch.concurrency', value: 8, origin: 'env' }, // file < env
      { key: 'fetch.maxBytes', value: 100, origin: 'file' }, // default < file
      { key: 'rate.global', value: 5, origin: 'override' }, // file < env < override
      { key: 'rate.perHost', value: 2, origin: 'file' },
      { key: 'fetch.maxRedirects', value: 10, origin: 'default' },
    ];
    for (const c of cases) {
      it(`takes ${c.key} from the ${c.origin} layer`, () => {
        const { config, origins } = loadConfig(sources);
        assert.equal(getKey(config, c.key), c.value);
        assert.equal(origins[c.key], c.origin);
      });
    }

    it('accepts dotted keys in overrides', () => {
      const { config, origins } = loadConfig({ env: { FETCH_CONCURRENCY: '8' }, file: null, overrides: { 'fetch.concurrency': 2 } });
      assert.equal(config.fetch.concurrency, 2);
      assert.equal(origins['fetch.concurrency'], 'override');
    });

    it('takes rate.hosts as host=rate entries from env, file and overrides, and refuses bad entries', () => {
      const fromEnv = loadConfig({ env: { RATE_HOSTS: 'example.com=2, 127.0.0.2:8000=0.5' }, file: null });
      assert.deepEqual(getKey(fromEnv.config, 'rate.hosts'), ['example.com=2', '127.0.0.2:8000=0.5']);
      assert.equal(fromEnv.origins['rate.hosts'], 'env');
      const fromFile = loadConfig({ env: {}, file: { rate: { hosts: ['example.com=2'] } } });
      assert.deepEqual(getKey(fromFile.config, 'rate.hosts'), ['example.com=2']);
      const fromOverride = loadConfig({ env: {}, file: null, overrides: { 'rate.hosts': ['a.example=1'] } });
      assert.deepEqual(getKey(fromOverride.config, 'rate.hosts'), ['a.example=1']);
      assert.throws(() => loadConfig({ env: { RATE_HOSTS: 'example.com=fast' }, file: null }), (e: CrawlError) => e.code === 'config_invalid' && e.message.startsWith('rate.hosts:'));
    });

    it('validates the merged result, so an override can fix a bad file value', () => {
      const { config } = loadConfig({ env: {}, file: { fetch: { concurrency: 0 } }, overrides: { fetch: { concurrency: 5 } } });
      assert.equal(config.fetch.concurrency, 5);
    });
  });

  describe('validation', () => {
    const cases: { name: string; sources: ConfigSources; prefix: string; mentions?: string }[] = [
      { name: 'wrong type from env', sources: { env: { FETCH_CONCURRENCY: 'abc' }, file: null }, prefix: 'fetch.concurrency:' },
      { name: 'wrong type from file', sources: { env: {}, file: { fetch: { concurrency: 'many' } } }, prefix: 'fetch.concurrency:' },
      { name: '0 for a positive-int', sources: { env: { FETCH_CONCURRENCY: '0' }, file: null }, prefix: 'fetch.concurrency:' },
      { name: 'fraction for a positive-int', sources: { env: { RETRY_MAX_ATTEMPTS: '1.5' }, file: null }, prefix: 'retry.maxAttempts:' },
      { name: '0 for a positive-int in overrides', sources: { env: {}, file: null, overrides: { task: { leaseMs: 0 } } }, prefix: 'task.leaseMs:' },
      { name: 'negative rate', sources: { env: { RATE_GLOBAL: '-1' }, file: null }, prefix: 'rate.global:' },
      { name: 'bad CIDR prefix', sources: { env: { FETCH_ALLOWED_NETWORKS: '10.0.0.0/33' }, file: null }, prefix: 'fetch.allowedNetworks:', mentions: '10.0.0.0/33' },
      { name: 'CIDR that is not an address', sources: { env: { FETCH_ALLOWED_NETWORKS: '127.0.0.0/8,localhost' }, file: null }, prefix: 'fetch.allowedNetworks:', mentions: 'localhost' },
      { name: 'bad enum', sources: { env: { AMQP_QUEUE_TYPE: 'fancy' }, file: null }, prefix: 'amqp.queueType:' },
      { name: 'bad log level', sources: { env: {}, file: { log: { level: 'loud' } } }, prefix: 'log.level:' },
      { name: 'unknown key in file', sources: { env: {}, file: { rate: { bogus: 1 } } }, prefix: 'rate.bogus: unknown setting' },
      { name: 'unknown key in overrides', sources: { env: {}, file: null, overrides: { rate: { bogus: 1 } } }, prefix: 'rate.bogus: unknown setting' },
      { name: 'unknown top-level key', sources: { env: {}, file: { fetcher: { concurrency: 1 } } }, prefix: 'fetcher.concurrency: unknown setting' },
      { name: 'AMQP URL with http scheme', sources: { env: { AMQP_URL: 'http://guest:guest@localhost:5672' }, file: null }, prefix: 'amqp.url:', mentions: 'amqp:' },
      { name: 'AMQP URL that is no URL', sources: { env: { AMQP_URL: 'not a url' }, file: null }, prefix: 'amqp.url:' },
      { name: 'Redis URL with amqp scheme', sources: { env: { REDIS_URL: 'amqp://localhost' }, file: null }, prefix: 'redis.url:' },
      { name: 'namespace with spaces', sources: { env: { CRAWLER_NAMESPACE: 'Bad NS' }, file: null }, prefix: 'namespace:' },
      { name: 'port out of range', sources: { env: { HTTP_PORT: '70000' }, file: null }, prefix: 'http.port:' },
    ];
    for (const c of cases) {
      it(`rejects ${c.name}`, () => {
        const message = configError(() => loadConfig(c.sources));
        assert.ok(message.startsWith(c.prefix), `message ${JSON.stringify(message)} should start with ${JSON.stringify(c.prefix)}`);
        if (c.mentions) assert.ok(message.includes(c.mentions), `message ${JSON.stringify(message)} should mention ${c.mentions}`);
      });
    }

    it('names the layer an unknown key came from', () => {
      assert.match(configError(() => loadConfig({ env: {}, file: { rate: { bogus: 1 } } })), /\(from file\)/);
      assert.match(configError(() => loadConfig({ env: {}, file: null, overrides: { 'rate.bogus': 1 } })), /\(from override\)/);
    });

    // Regression (fixed): schema.ts maps `positiveInt` to convict's 'nat', so amqp.deliveryLimit (and api.maxSeeds,
    // api.maxUrlLength, api.bodyLimitBytes) accept 0, a value that dead-letters or refuses everything.
    it('rejects 0 for amqp.deliveryLimit', () => {
      assert.ok(configError(() => loadConfig({ env: { AMQP_DELIVERY_LIMIT: '0' }, file: null })).startsWith('amqp.deliveryLimit:'));
    });
  });

  describe('snapshot', () => {
    it('is deep-frozen', () => {
      const { config, origins } = loadConfig({ env: { FETCH_ALLOWED_NETWORKS: '127.0.0.0/8' }, file: null });
      const mutable = config as unknown as { namespace: string; fetch: { concurrency: number; allowedNetworks: string[] } };
      assert.throws(() => { mutable.namespace = 'x'; }, TypeError);
      assert.throws(() => { mutable.fetch.concurrency = 1; }, TypeError);
      assert.throws(() => { mutable.fetch.allowedNetworks.push('10.0.0.0/8'); }, TypeError);
      assert.throws(() => { (origins as Record<string, string>)['fetch.concurrency'] = 'env'; }, TypeError);
      assert.equal(config.fetch.concurrency, 32);
      assert.deepEqual(config.fetch.allowedNetworks, ['127.0.0.0/8']);
    });

    it('gives each load its own snapshot', () => {
      const a = loadConfig({ env: { FETCH_CONCURRENCY: '2' }, file: null }).config;
      const b = loadConfig(empty()).config;
      assert.equal(a.fetch.concurrency, 2);
      assert.equal(b.fetch.concurrency, 32);
    });

    it('getKey reads dotted keys and answers undefined for unknown ones', () => {
      const { config } = loadConfig(empty());
      assert.equal(getKey(config, 'retry.maxDelayMs'), 60_000);
      assert.equal(getKey(config, 'retry.nope'), undefined);
      assert.equal(getKey(config, 'namespace.length'), undefined);
      assert.equal(getKey(config, 'toString'), undefined);
    });
  });

  describe('schemaEntries', () => {
    const entries = schemaEntries();

    it('lists every key exactly once', () => {
      const keys = entries.map((e) => e.key);
      assert.equal(new Set(keys).size, keys.length);
      for (const k of ['namespace', 'amqp.url', 'amqp.queueType', 'fetch.concurrency', 'fetch.allowedNetworks', 'rate.global', 'api.token', 'deliver.webhookSecret']) {
        assert.ok(keys.includes(k), k);
      }
    });

    it('covers exactly the settings of a loaded config', () => {
      const { config } = loadConfig(empty());
      const keys = new Set(entries.map((e) => e.key));
      const found: string[] = [];
      // walk the snapshot down to schema keys (a setting may itself hold an object)
      const walk = (node: object, prefix: string): void => {
        for (const [k, v] of Object.entries(node)) {
          const key = prefix ? `${prefix}.${k}` : k;
          if (keys.has(key)) found.push(key);
          else if (v && typeof v === 'object' && !Array.isArray(v)) walk(v as object, key);
          else assert.fail(`${key} is in the config but not in schemaEntries()`);
        }
      };
      walk(config, '');
      assert.deepEqual(found.sort(), [...keys].sort());
    });

    it('keeps keys free of separators', () => {
      for (const e of entries) assert.match(e.key, /^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*$/, e.key);
    });

    it('documents every key', () => {
      for (const e of entries) assert.ok(e.doc.trim().length > 0, `${e.key} has no doc`);
    });

    it('gives every key its own environment variable', () => {
      const names = entries.map((e) => e.env);
      for (const [i, n] of names.entries()) assert.ok(n && /^[A-Z][A-Z0-9_]*$/.test(n), `${entries[i]?.key} env ${String(n)}`);
      assert.equal(new Set(names).size, names.length);
    });

    it('marks the secrets as sensitive', () => {
      const sensitive = entries.filter((e) => e.sensitive).map((e) => e.key).sort();
      assert.deepEqual(sensitive, ['amqp.url', 'api.token', 'deliver.webhookSecret', 'redis.url', 'results.url']);
    });

    it('describes formats as text', () => {
      const format = (key: string): string | undefined => entries.find((e) => e.key === key)?.format;
      assert.equal(format('amqp.queueType'), 'quorum|classic');
      assert.equal(format('fetch.concurrency'), 'int 1..65535');
      assert.equal(format('extract.followNofollow'), 'boolean');
      assert.equal(format('api.token'), 'string');
    });
  });

  describe('redacted', () => {
    it('masks the API token, the webhook secret and URL passwords', () => {
      const { config } = loadConfig({
        env: { API_TOKEN: 's3cret-token', AMQP_URL: 'amqp://user:hunter2@mq.example:5672/vh', WEBHOOK_SECRET: 'whsec', REDIS_URL: 'redis://:redispw@cache:6379' },
        file: null,
      });
      const r = redacted(config);
      const text = JSON.stringify(r);
      assert.equal((r.api as Record<string, unknown>).token, '***');
      assert.equal((r.amqp as Record<string, unknown>).url, 'amqp://user:***@mq.example:5672/vh');
      assert.equal((r.redis as Record<string, unknown>).url, 'redis://:***@cache:6379');
      assert.equal((r.deliver as Record<string, unknown>).webhookSecret, '***');
      for (const secret of ['s3cret-token', 'hunter2', 'whsec', 'redispw']) assert.ok(!text.includes(secret), secret);
      // the snapshot itself is untouched
      assert.equal(config.api.token, 's3cret-token');
      assert.equal(config.amqp.url, 'amqp://user:hunter2@mq.example:5672/vh');
    });

    it('leaves empty secrets and URLs without credentials as they are', () => {
      const r = redacted(loadConfig({ env: { REDIS_URL: 'redis://cache:6379' }, file: null }).config);
      assert.equal((r.api as Record<string, unknown>).token, '');
      assert.equal((r.redis as Record<string, unknown>).url, 'redis://cache:6379');
      assert.equal((r.namespace as string), 'crawlfleet');
    });

    // Regression (fixed): redacted() masks only up to the first '@', so a password holding a raw '@' (valid per WHATWG URL) leaks its tail: 'amqp://user:pa@ss@host' → 'amqp://***@ss@host'.
    it('masks the whole password when it contains a raw @', () => {
      const { config } = loadConfig({ env: { AMQP_URL: 'amqp://user:pa@ss@mq.example:5672' }, file: null });
      assert.equal((redacted(config).amqp as Record<string, unknown>).url, 'amqp://user:***@mq.example:5672');
    });
  });

  describe('readConfigFile', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'crawlfleet-config-'));
    });
    after(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const write = (name: string, text: string): string => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };

    it('reads JSON', () => {
      const path = write('a.json', JSON.stringify({ fetch: { concurrency: 6, allowedNetworks: ['10.0.0.0/8'] } }));
      assert.deepEqual(readConfigFile(path), { fetch: { concurrency: 6, allowedNetworks: ['10.0.0.0/8'] } });
    });

    it('reads YAML (.yaml and .yml)', () => {
      const text = 'fetch:\n  concurrency: 6\n  allowedNetworks:\n    - 10.0.0.0/8\nrate:\n  global: 2.5\n';
      const expected = { fetch: { concurrency: 6, allowedNetworks: ['10.0.0.0/8'] }, rate: { global: 2.5 } };
      assert.deepEqual(readConfigFile(write('a.yaml', text)), expected);
      assert.deepEqual(readConfigFile(write('b.YML', text)), expected);
    });

    it('reads an empty YAML file as no settings', () => {
      assert.deepEqual(readConfigFile(write('empty.yaml', '')), {});
    });

    it('feeds loadConfig as the file layer', () => {
      const file = readConfigFile(write('c.yaml', 'amqp:\n  queueType: classic\n'));
      const { config, origins } = loadConfig({ env: {}, file });
      assert.equal(config.amqp.queueType, 'classic');
      assert.equal(origins['amqp.queueType'], 'file');
    });

    const bad: { name: string; file: string; text: string; pattern: RegExp }[] = [
      { name: 'invalid JSON', file: 'bad.json', text: '{ "fetch": ', pattern: /is not valid JSON/ },
      { name: 'invalid YAML', file: 'bad.yaml', text: 'fetch: [1, 2\n', pattern: /is not valid YAML/ },
      { name: 'a JSON array', file: 'list.json', text: '[1, 2]', pattern: /must hold an object/ },
      { name: 'a YAML scalar', file: 'scalar.yaml', text: 'just text\n', pattern: /must hold an object/ },
    ];
    for (const c of bad) {
      it(`reports ${c.name} with the path`, () => {
        const path = write(c.file, c.text);
        const message = configError(() => readConfigFile(path));
        assert.ok(message.includes(path), message);
        assert.match(message, c.pattern);
      });
    }

    it('reports a missing file with the path', () => {
      const path = join(dir, 'missing.json');
      const message = configError(() => readConfigFile(path));
      assert.ok(message.includes(path), message);
    });
  });
});
