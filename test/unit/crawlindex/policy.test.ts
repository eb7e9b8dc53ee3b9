/** The recrawl decisions and the crawl index's entry format, as tables. */
import assert from 'node:assert/strict';
import { entryPlace, packEntry, packTime, parseHttpDate, shortHash, unpackEntry, type IndexEntry } from '../../../shared/crawlindex/entry.js';
import { changedSince, recrawlCounter, recrawlDecision, type RecrawlPolicy } from '../../../shared/crawlindex/policy.js';

const NOW = Date.parse('2026-12-06T12:00:00Z');
const HOUR = 3_600_000;
const entry = (over: Partial<IndexEntry> = {}): IndexEntry => ({
  fetchedAt: NOW - HOUR,
  status: 200,
  contentHash: 'sha256:0123456789ab',
  sessionId: 'mibx1a2b-0a1b2c3d',
  lastModified: Date.parse('2026-12-01T00:00:00Z'),
  etag: '"5f2b1c-1a2b"',
  ...over,
});

describe('recrawl decisions', () => {
  const table: [string, IndexEntry | null, RecrawlPolicy | undefined, string, Record<string, string> | null][] = [
    ['no policy: fetch, unconditional', entry(), undefined, 'fetch', null],
    ['never fetched: fetch', null, { maxAgeMs: HOUR * 2, conditional: true }, 'fetch', null],
    ['fresh: a 2xx younger than maxAgeMs is not fetched', entry(), { maxAgeMs: HOUR * 2 }, 'fresh', null],
    ['fresh: a 304 revalidation counts as a good fetch', entry({ status: 304 }), { maxAgeMs: HOUR * 2 }, 'fresh', null],
    ['stale: older than maxAgeMs is fetched', entry(), { maxAgeMs: HOUR }, 'fetch', null],
    ['stale: exactly maxAgeMs old is fetched', entry({ fetchedAt: NOW - HOUR }), { maxAgeMs: HOUR }, 'fetch', null],
    ['a 404 is never fresh', entry({ status: 404 }), { maxAgeMs: HOUR * 2, conditional: true }, 'fetch', null],
    ['a 503 is never fresh', entry({ status: 503 }), { maxAgeMs: HOUR * 2 }, 'fetch', null],
    ['conditional: both validators', entry(), { conditional: true }, 'fetch', { ifNoneMatch: '"5f2b1c-1a2b"', ifModifiedSince: 'Tue, 01 Dec 2026 00:00:00 GMT' }],
    ['conditional: ETag only', entry({ lastModified: null }), { conditional: true }, 'fetch', { ifNoneMatch: '"5f2b1c-1a2b"' }],
    ['conditional: Last-Modified only', entry({ etag: null }), { conditional: true }, 'fetch', { ifModifiedSince: 'Tue, 01 Dec 2026 00:00:00 GMT' }],
    ['conditional without validators: a plain fetch', entry({ etag: null, lastModified: null }), { conditional: true }, 'fetch', null],
    ['stale and conditional: a conditional fetch', entry(), { maxAgeMs: HOUR / 2, conditional: true }, 'fetch', { ifNoneMatch: '"5f2b1c-1a2b"', ifModifiedSince: 'Tue, 01 Dec 2026 00:00:00 GMT' }],
    ['fresh wins over conditional', entry(), { maxAgeMs: HOUR * 2, conditional: true }, 'fresh', null],
  ];
  for (const [name, e, policy, kind, validators] of table) {
    it(name, () => {
      const d = recrawlDecision(e, policy, NOW);
      assert.equal(d.kind, kind);
      if (d.kind === 'fetch') assert.deepEqual(d.validators, validators);
      else assert.equal(d.entry, e);
    });
  }
});

describe('changed', () => {
  const table: [string, IndexEntry | null, string | null, boolean | null][] = [
    ['never seen: null', null, 'sha256:0123456789ab', null],
    ['same hash: false', entry(), 'sha256:0123456789ab', false],
    ['another hash: true', entry(), 'sha256:ffffffffffff', true],
    ['the index knew no body: null', entry({ contentHash: null }), 'sha256:0123456789ab', null],
    ['no body now: null', entry(), null, null],
  ];
  for (const [name, prev, hash, want] of table) it(name, () => assert.equal(changedSince(prev, hash), want));
});

describe('recrawl counters', () => {
  const table: [string, { outcome: string; reason: string | null; notModified?: boolean; changed?: boolean | null }, string | null][] = [
    ['skipped fresh', { outcome: 'skipped', reason: 'fresh' }, 'fresh'],
    ['skipped by robots: none', { outcome: 'skipped', reason: 'robots' }, null],
    ['a 304', { outcome: 'delivered', reason: null, notModified: true, changed: false }, 'notModified'],
    ['changed', { outcome: 'delivered', reason: null, changed: true }, 'changed'],
    ['unchanged: none', { outcome: 'delivered', reason: null, changed: false }, null],
    ['never seen: new', { outcome: 'delivered', reason: null, changed: null }, 'new'],
    ['a record without the field (robots.txt, sitemap): none', { outcome: 'delivered', reason: null }, null],
    ['failed: none', { outcome: 'failed', reason: 'http_client_error', changed: null }, null],
  ];
  for (const [name, record, want] of table) it(name, () => assert.equal(recrawlCounter(record), want));
});

describe('crawl index entries', () => {
  it('pack and unpack every field', () => {
    for (const e of [entry(), entry({ contentHash: null, etag: null, lastModified: null, status: 404 }), entry({ etag: 'W/"a|b|c"' })]) {
      assert.deepEqual(unpackEntry(packEntry(e)), e);
    }
  });

  it('keeps a typical entry within a listpack value (64 bytes)', () => {
    assert.ok(packEntry(entry()).length <= 64, `${packEntry(entry()).length} bytes: ${packEntry(entry())}`);
  });

  it('orders entries by time as strings', () => {
    const times = [0, 1, 35, 36, NOW - 1, NOW, NOW + 1, Date.parse('2099-01-01')];
    for (let i = 1; i < times.length; i++) assert.ok(packTime(times[i - 1]!) < packTime(times[i]!), `${times[i - 1]} < ${times[i]}`);
    assert.ok(packEntry(entry({ fetchedAt: NOW })) > packEntry(entry({ fetchedAt: NOW - 1, sessionId: 'zzzz' })));
  });

  it('drops an ETag too long to keep, and refuses what is not an entry', () => {
    assert.equal(unpackEntry(packEntry(entry({ etag: 'x'.repeat(201) })))?.etag, null);
    assert.equal(unpackEntry('garbage'), null);
  });

  it('shortens content hashes and reads HTTP dates', () => {
    assert.equal(shortHash(`sha256:${'ab'.repeat(32)}`), 'sha256:abababababab');
    assert.equal(shortHash('md5:00'), null);
    assert.equal(shortHash(undefined), null);
    assert.equal(parseHttpDate('Tue, 01 Dec 2026 00:00:00 GMT'), Date.parse('2026-12-01T00:00:00Z'));
    assert.equal(parseHttpDate('not a date'), null);
    assert.equal(parseHttpDate(undefined), null);
  });

  it('places an entry: a two-character hash tag, the shard rest, the field', () => {
    assert.deepEqual(entryPlace('AbCdEfGhIjKlMnOp', 2), { tag: 'Ab', rest: '', field: 'CdEfGhIjKlMnOp' });
    assert.deepEqual(entryPlace('AbCdEfGhIjKlMnOp', 3), { tag: 'Ab', rest: 'C', field: 'dEfGhIjKlMnOp' });
  });
});
