/** Schedules and recrawl requests: what is accepted, and refusals that name the field. */
import assert from 'node:assert/strict';
import { MIN_EVERY_MS, nextCron, parseEvery, validateSchedule } from '../../../services/controller/schedules.js';
import { buildSpec } from '../../../services/controller/sessions.js';
import { buildCrawlBody, buildScheduleBody } from '../../../cli/commands.js';
import { UsageError } from '../../../cli/client.js';
import { loadConfig } from '../../../shared/config/index.js';
import { CrawlError } from '../../../shared/errors/index.js';

const cfg = loadConfig({ env: { API_SEED_LOOKUP_TIMEOUT_MS: '0' }, file: null }).config;
const refusal = (message: RegExp, field: string) => (err: unknown): boolean =>
  err instanceof CrawlError && err.code === 'validation' && message.test(err.message) && err.details.field === field;

describe('schedules', () => {
  it('reads intervals: a number and a unit', () => {
    const table: [string, number | null][] = [['500ms', 500], ['2s', 2000], ['15m', 900_000], ['6h', 21_600_000], ['1d', 86_400_000], ['6 h', null], ['6', null], ['h', null], ['-1s', null], ['1.5h', null], ['6hours', null]];
    for (const [text, ms] of table) assert.equal(parseEvery(text), ms, text);
  });

  it('reads cron patterns in UTC', () => {
    assert.equal(nextCron('0 3 * * *', new Date('2026-12-06T12:00:00Z')).toISOString(), '2026-12-07T03:00:00.000Z');
    assert.throws(() => nextCron('61 * * * *'));
  });

  it('accepts one of every and cron with a valid session', async () => {
    await validateSchedule({ every: '6h', session: { seeds: ['http://site.test/'] } }, cfg);
    await validateSchedule({ cron: '0 3 * * *', session: { seeds: ['http://site.test/'], recrawl: { conditional: true } } }, cfg);
  });

  it('refuses naming the field', async () => {
    const table: [Parameters<typeof validateSchedule>[0], RegExp, string][] = [
      [{ session: { seeds: ['http://site.test/'] } }, /^body\/every one of every and cron is required/, 'every'],
      [{ every: '1h', cron: '* * * * *', session: { seeds: ['http://site.test/'] } }, /^body\/cron one of every and cron/, 'cron'],
      [{ every: 'soon', session: { seeds: ['http://site.test/'] } }, /^body\/every must be a number and a unit/, 'every'],
      [{ every: '10ms', session: { seeds: ['http://site.test/'] } }, new RegExp(`^body/every must be at least ${MIN_EVERY_MS} ms`), 'every'],
      [{ cron: 'every day', session: { seeds: ['http://site.test/'] } }, /^body\/cron is not a cron pattern/, 'cron'],
      [{ every: '1h', session: { seeds: ['ftp://site.test/'] } }, /^body\/session\/seeds\/0 must be an absolute http or https URL/, 'session/seeds/0'],
      [{ every: '1h', session: { seeds: ['http://site.test/'], recrawl: { maxAgeMs: cfg.index.retentionMs + 1 } } }, /^body\/session\/recrawl\/maxAgeMs must be <= index.retentionMs/, 'session/recrawl/maxAgeMs'],
    ];
    for (const [body, message, field] of table) await assert.rejects(validateSchedule(body, cfg), refusal(message, field), message.source);
  });
});

describe('recrawl in a session request', () => {
  it('keeps the policy in the spec, and none when not asked', () => {
    assert.deepEqual(buildSpec({ seeds: ['http://site.test/'], recrawl: { maxAgeMs: 60_000, conditional: true } }, cfg).recrawl, { maxAgeMs: 60_000, conditional: true });
    assert.equal('recrawl' in buildSpec({ seeds: ['http://site.test/'] }, cfg), false);
  });

  it('refuses a maxAgeMs the index cannot remember', () => {
    assert.throws(() => buildSpec({ seeds: ['http://site.test/'], recrawl: { maxAgeMs: cfg.index.retentionMs + 1 } }, cfg), refusal(/^body\/recrawl\/maxAgeMs must be <= index.retentionMs/, 'recrawl/maxAgeMs'));
  });
});

describe('crawlctl: recrawl options and schedule add', () => {
  it('builds recrawl from --recrawl-max-age-ms and --conditional', () => {
    assert.deepEqual(buildCrawlBody(['http://site.test/'], { 'recrawl-max-age-ms': '3600000', conditional: true }).recrawl, { maxAgeMs: 3_600_000, conditional: true });
    assert.equal(buildCrawlBody(['http://site.test/'], {}).recrawl, undefined);
    assert.throws(() => buildCrawlBody(['http://site.test/'], { 'recrawl-max-age-ms': 'soon' }), UsageError);
  });

  it('builds a schedule: one of --every and --cron, and a session', () => {
    assert.deepEqual(buildScheduleBody(['http://site.test/'], { every: '6h', 'max-depth': '2', conditional: true }), { every: '6h', session: { seeds: ['http://site.test/'], maxDepth: 2, recrawl: { conditional: true } } });
    assert.deepEqual(buildScheduleBody(['http://site.test/'], { cron: '0 3 * * *' }), { cron: '0 3 * * *', session: { seeds: ['http://site.test/'] } });
    assert.throws(() => buildScheduleBody(['http://site.test/'], {}), /one of --every and --cron/);
    assert.throws(() => buildScheduleBody(['http://site.test/'], { every: '1h', cron: '* * * * *' }), /one of --every and --cron/);
  });
});
