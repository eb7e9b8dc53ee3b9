import assert from 'node:assert/strict';
import { CrawlError } from '../../../shared/errors/index.js';
import { loadConfig, schemaEntries, type ConfigSources } from '../../../shared/config/index.js';
import { formatBounds, intIn, numberIn } from '../../../shared/config/formats.js';
import { AMQP_MAX_PREFETCH, crossFieldProblems, extractItemWindow, fetchItemWindow, TIMER_MAX_MS } from '../../../shared/config/limits.js';

function refusal(sources: ConfigSources): string {
  try {
    loadConfig(sources);
  } catch (err) {
    assert.ok(err instanceof CrawlError, `expected a CrawlError, got ${String(err)}`);
    assert.equal(err.code, 'config_invalid');
    return err.message;
  }
  return '';
}

const override = (key: string, value: unknown): ConfigSources => ({ env: {}, file: null, overrides: { [key]: value } });

describe('config bounds', () => {
  describe('range formats', () => {
    it('name their bounds and register them once', () => {
      assert.equal(intIn(1, 10), 'int 1..10');
      assert.equal(intIn(1, 10), 'int 1..10');
      assert.equal(numberIn(0, 2.5), 'number 0..2.5');
      assert.deepEqual(formatBounds('int 1..10'), { min: 1, max: 10, integer: true });
      assert.deepEqual(formatBounds('number 0..2.5'), { min: 0, max: 2.5, integer: false });
      assert.equal(formatBounds('string'), undefined);
    });

    const cases: { name: string; key: string; value: unknown; message: string | null }[] = [
      { name: 'the minimum', key: 'fetch.concurrency', value: 1, message: null },
      { name: 'the maximum', key: 'fetch.prefetch', value: AMQP_MAX_PREFETCH, message: null },
      { name: 'maximum + 1', key: 'fetch.prefetch', value: AMQP_MAX_PREFETCH + 1, message: 'fetch.prefetch: must be an integer of at least 0 and at most 65535' },
      { name: '1e9', key: 'fetch.concurrency', value: 1e9, message: 'fetch.concurrency: must be an integer of at least 1 and at most 65535' },
      { name: '0 where 1 is the least', key: 'fetch.concurrency', value: 0, message: 'fetch.concurrency: must be an integer of at least 1' },
      { name: '-1', key: 'fetch.maxRedirects', value: -1, message: 'fetch.maxRedirects: must be an integer of at least 0 and at most 100' },
      { name: 'a fraction for an integer', key: 'retry.maxAttempts', value: 1.5, message: 'retry.maxAttempts: must be an integer' },
      { name: 'a fraction for a number', key: 'rate.global', value: 2.5, message: null },
      { name: 'a rate above its maximum', key: 'rate.perHost', value: 1e9, message: 'rate.perHost: must be a number of at least 0 and at most 1000000' },
      { name: 'a numeric string (converted, as from the environment)', key: 'fetch.concurrency', value: '7', message: null },
      { name: 'a string that is no number', key: 'fetch.concurrency', value: 'many', message: 'fetch.concurrency: must be an integer' },
      { name: 'null', key: 'fetch.totalTimeoutMs', value: null, message: 'fetch.totalTimeoutMs: must be an integer of at least 1 and at most 2147483647' },
      { name: 'a timer above 2^31-1 ms', key: 'cleaner.intervalMs', value: TIMER_MAX_MS + 1, message: 'cleaner.intervalMs: must be an integer of at least 10 and at most 2147483647' },
      { name: 'a boolean for a number', key: 'amqp.lingerMs', value: true, message: 'amqp.lingerMs: must be an integer' },
      { name: 'a string that is no boolean', key: 'robots.obey', value: 'abc', message: 'robots.obey: must be true or false' },
      { name: 'a number for a boolean', key: 'robots.obey', value: 0, message: 'robots.obey: must be true or false' },
      { name: 'a boolean', key: 'robots.obey', value: false, message: null },
      { name: 'a host rate above the maximum', key: 'rate.hosts', value: ['example.com=2000000'], message: 'rate.hosts: must be a list of host=rate entries (rate from 0 to 1000000)' },
    ];
    for (const c of cases) {
      it(`${c.message ? 'refuses' : 'accepts'} ${c.name} (${c.key} = ${JSON.stringify(c.value)})`, () => {
        const message = refusal(override(c.key, c.value));
        if (c.message === null) assert.equal(message, '');
        else assert.ok(message.startsWith(c.message), `message ${JSON.stringify(message)} should start with ${JSON.stringify(c.message)}`);
      });
    }

    it('reads booleans from the environment as true/false or 1/0 only', () => {
      assert.equal(loadConfig({ env: { ROBOTS_OBEY: 'false' }, file: null }).config.robots.obey, false);
      assert.equal(loadConfig({ env: { ROBOTS_OBEY: 'TRUE' }, file: null }).config.robots.obey, true);
      assert.equal(loadConfig({ env: { ROBOTS_OBEY: '0' }, file: null }).config.robots.obey, false);
      assert.ok(refusal({ env: { ROBOTS_OBEY: 'yes please' }, file: null }).startsWith('robots.obey: must be true or false'));
    });

    it('refuses an out-of-range value from the environment and the file as well', () => {
      assert.ok(refusal({ env: { FETCH_CONCURRENCY: '1000000000' }, file: null }).startsWith('fetch.concurrency: must be an integer of at least 1 and at most 65535'));
      assert.ok(refusal({ env: {}, file: { amqp: { heartbeatS: 70_000 } } }).startsWith('amqp.heartbeatS: must be an integer of at least 0 and at most 65535'));
    });
  });

  describe('the schema', () => {
    const entries = schemaEntries();
    const numeric = entries.filter((e) => typeof e.default === 'number');

    it('bounds every numeric setting', () => {
      const unbounded = numeric.filter((e) => e.format !== 'port' && !formatBounds(e.format)).map((e) => e.key);
      assert.deepEqual(unbounded, []);
    });

    it('keeps every default inside its bounds', () => {
      for (const e of numeric) {
        const b = formatBounds(e.format);
        if (!b) continue;
        assert.ok((e.default as number) >= b.min && (e.default as number) <= b.max, `${e.key} default ${String(e.default)} outside ${e.format}`);
      }
    });

    it('bounds every duration in ms by what a Node timer takes', () => {
      // session.retentionMs and index.retentionMs are Redis expiries (PEXPIRE), not timers: they may be longer.
      for (const e of numeric.filter((x) => x.key.endsWith('Ms') && x.key !== 'session.retentionMs' && x.key !== 'index.retentionMs')) {
        const b = formatBounds(e.format);
        assert.ok(b && b.max <= TIMER_MAX_MS, `${e.key}: ${e.format}`);
      }
    });

    it('bounds every prefetch by the AMQP maximum', () => {
      for (const key of ['fetch.prefetch', 'extract.prefetch', 'fetch.concurrency']) {
        const e = entries.find((x) => x.key === key);
        assert.ok(e && formatBounds(e.format)?.max === AMQP_MAX_PREFETCH, key);
      }
    });
  });

  describe('derived prefetch', () => {
    it('follows the stage formulas', () => {
      assert.equal(fetchItemWindow({ prefetch: 0, concurrency: 32 }), 64);
      assert.equal(fetchItemWindow({ prefetch: 100, concurrency: 32 }), 100);
      assert.equal(extractItemWindow({ prefetch: 0, concurrency: 4 }), 256);
      assert.equal(extractItemWindow({ prefetch: 0, concurrency: 1 }), 256, 'one worker (the default) keeps the window of four');
      assert.equal(extractItemWindow({ prefetch: 0, concurrency: 8 }), 512);
      assert.equal(extractItemWindow({ prefetch: 9, concurrency: 4 }), 9);
    });

    it('is checked across fields: fetch.concurrency whose doubled window exceeds the AMQP maximum', () => {
      const message = refusal({ env: {}, file: null, overrides: { 'fetch.concurrency': 40_000 } });
      assert.ok(message.startsWith('fetch.concurrency: the fetch prefetch'), message);
      assert.match(message, /80000/);
      assert.match(message, /65535/);
    });

    it('accepts the same concurrency when fetch.prefetch bounds the window', () => {
      const { config } = loadConfig({ env: {}, file: null, overrides: { 'fetch.concurrency': 40_000, 'fetch.prefetch': 50_000 } });
      assert.equal(config.fetch.concurrency, 40_000);
    });

    it('accepts the largest concurrency a doubled window allows', () => {
      assert.equal(refusal(override('fetch.concurrency', Math.floor(AMQP_MAX_PREFETCH / 2))), '');
      assert.ok(refusal(override('fetch.concurrency', Math.floor(AMQP_MAX_PREFETCH / 2) + 1)).startsWith('fetch.concurrency:'));
    });

    it('reports each stage that is over', () => {
      const session = { defaultTimeoutMs: 2, maxTimeoutMs: 1, defaultMaxPages: 2, maxPagesLimit: 1 };
      const problems = crossFieldProblems({ fetch: { prefetch: 0, concurrency: 40_000 }, extract: { prefetch: 0, concurrency: 2000 }, deliver: { concurrency: 40_000 }, session });
      assert.deepEqual(problems.map((p) => p.key), ['fetch.concurrency', 'extract.concurrency', 'deliver.concurrency', 'session.defaultTimeoutMs', 'session.defaultMaxPages']);
      const fine = { defaultTimeoutMs: 1, maxTimeoutMs: 1, defaultMaxPages: 1, maxPagesLimit: 1 };
      assert.deepEqual(crossFieldProblems({ fetch: { prefetch: 0, concurrency: 32 }, extract: { prefetch: 0, concurrency: 64 }, deliver: { concurrency: 32_767 }, session: fine }), []);
    });

    it('refuses a session default above its limit, naming the default', () => {
      assert.ok(refusal(override('session.defaultTimeoutMs', 8 * 86_400_000)).startsWith('session.defaultTimeoutMs: must be at most session.maxTimeoutMs (604800000)'));
      assert.ok(refusal(override('session.maxPagesLimit', 10)).startsWith('session.defaultMaxPages: must be at most session.maxPagesLimit (10)'));
      assert.equal(refusal({ env: {}, file: null, overrides: { 'session.maxPagesLimit': 10, 'session.defaultMaxPages': 10 } }), '');
    });
  });
});
