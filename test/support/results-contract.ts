/**
 * The results-store contract: what every ResultsStore implementation must do, as one mocha
 * suite that each implementation's test runs against its own real backend.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CrawlError } from '../../shared/errors/index.js';
import type { ResultsLines, ResultsPage, ResultsStore, StoredRecord } from '../../shared/results/store.js';
import type { Outcome, ResultRecord } from '../../shared/tasks/types.js';

export interface ContractTarget {
  store: ResultsStore;
  /**
   * Runs the writers at once on the same backing store, each from its own process or
   * connection, each putting its batches one after the other; answers per writer per batch.
   * Without it, the writers share `store` (for a pooled store, several connections).
   */
  putConcurrently?(writers: StoredRecord[][][]): Promise<boolean[][][]>;
  cleanup(): Promise<void>;
}

export function sessionId(): string {
  return `s${randomBytes(6).toString('hex')}`;
}

export function record(url: string, over: Partial<ResultRecord> = {}): ResultRecord {
  return {
    url,
    finalUrl: url,
    status: 200,
    depth: 1,
    parent: null,
    outcome: 'delivered',
    reason: null,
    error: null,
    title: `title of ${url}`,
    contentType: 'text/html',
    fields: {},
    links: 3,
    canonical: null,
    fetchedAt: '2026-12-06T16:00:00.000Z',
    attempts: 1,
    ...over,
  };
}

/** A stored record whose task id is derived from its path, so tests can name both. */
export function stored(session: string, name: string, over: Partial<ResultRecord> = {}): StoredRecord {
  return { sessionId: session, taskId: `id-${name}`, record: record(`http://127.0.0.1/${name}`, over) };
}

/** Every record of a session, page by page. */
export async function listAll(store: ResultsStore, session: string, limit = 1000, filter: { outcome?: Outcome; supplement?: boolean } = {}): Promise<ResultRecord[]> {
  const out: ResultRecord[] = [];
  let after: string | null = null;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await store.list(session, { ...filter, after, limit });
    out.push(...page.records);
    if (page.next === null) return out;
    after = page.next;
  }
  throw new Error('listAll: no end after 10,000 pages');
}

function names(records: readonly ResultRecord[]): string[] {
  return records.map((r) => r.url.replace('http://127.0.0.1/', ''));
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof CrawlError && err.code === code);
}

export function resultsStoreContract(name: string, open: () => Promise<ContractTarget>): void {
  describe(`results store contract: ${name}`, function () {
    this.timeout(120_000);
    let target: ContractTarget;
    let store: ResultsStore;

    before(async () => {
      target = await open();
      store = target.store;
    });
    after(async () => {
      await target?.cleanup();
    });

    it('answers per record whether its row is new, and keeps the first row of a key', async () => {
      const s = sessionId();
      assert.deepEqual(await store.put([stored(s, 'a'), stored(s, 'b')]), [true, true]);
      assert.deepEqual(await store.put([stored(s, 'b', { title: 'second' }), stored(s, 'c'), stored(s, 'c', { title: 'dup in batch' }), stored(s, 'a')]), [false, true, false, false]);
      assert.deepEqual(await store.put([]), []);
      assert.equal(await store.count(s), 3);
      assert.equal((await store.get(s, 'id-b'))?.title, 'title of http://127.0.0.1/b');
      assert.equal((await store.get(s, 'id-c'))?.title, 'title of http://127.0.0.1/c');
      assert.deepEqual(names(await listAll(store, s)), ['a', 'b', 'c']);
    });

    it('keeps sessions apart: the same task id is a new row in another session', async () => {
      const s1 = sessionId();
      const s2 = sessionId();
      assert.deepEqual(await store.put([stored(s1, 'x'), stored(s2, 'x', { title: 'other' })]), [true, true]);
      assert.equal((await store.get(s1, 'id-x'))?.title, 'title of http://127.0.0.1/x');
      assert.equal((await store.get(s2, 'id-x'))?.title, 'other');
      assert.equal(await store.count(s1), 1);
    });

    it('writes each key once under concurrent overlapping puts, the stored row being the one answered new, and a reader paging meanwhile sees every row once', async () => {
      const s = sessionId();
      const keys = Array.from({ length: 240 }, (_, i) => `k${String(i).padStart(3, '0')}`);
      // 6 writers, each with every other key (each key in 3 writers), shuffled, in batches of 12.
      const writers: StoredRecord[][][] = [];
      for (let w = 0; w < 6; w++) {
        const mine = keys.filter((_, i) => (i + w) % 2 === 0);
        shuffle(mine);
        const batches: StoredRecord[][] = [];
        for (let i = 0; i < mine.length; i += 12) batches.push(mine.slice(i, i + 12).map((k) => stored(s, k, { attempts: w + 1 })));
        writers.push(batches);
      }

      let writing = true;
      const seen: string[] = [];
      const reader = (async () => {
        let after: string | null = null;
        for (;;) {
          const done = !writing;
          const page = await store.list(s, { after, limit: 25 });
          if (page.next !== null) {
            seen.push(...names(page.records));
            after = page.next;
            continue;
          }
          if (done) {
            seen.push(...names(page.records));
            return;
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      const answers = await (target.putConcurrently
        ? target.putConcurrently(writers)
        : Promise.all(
            writers.map(async (batches) => {
              const out: boolean[][] = [];
              for (const b of batches) out.push(await store.put(b));
              return out;
            }),
          ));
      writing = false;
      await reader;

      const winners = new Map<string, number>();
      writers.forEach((batches, w) => {
        assert.equal(answers[w]!.length, batches.length);
        batches.forEach((batch, i) => {
          assert.equal(answers[w]![i]!.length, batch.length);
          batch.forEach((r, j) => {
            if (!answers[w]![i]![j]) return;
            assert.ok(!winners.has(r.taskId), `${r.taskId} answered new twice`);
            winners.set(r.taskId, r.record.attempts);
          });
        });
      });
      assert.equal(winners.size, keys.length, 'every key answered new exactly once');
      assert.equal(await store.count(s), keys.length);
      const all = await listAll(store, s, 50);
      assert.equal(all.length, keys.length);
      assert.equal(new Set(names(all)).size, keys.length);
      for (const k of keys) assert.equal((await store.get(s, `id-${k}`))?.attempts, winners.get(`id-${k}`), `${k}: the row is the write answered new`);
      assert.deepEqual(seen, names(all), 'the reader saw every row once, in write order');
    });

    it('pages in write order after the cursor, every record once, including records added between pages', async () => {
      const s = sessionId();
      await store.put(Array.from({ length: 10 }, (_, i) => stored(s, `p${i}`)));
      await store.put(Array.from({ length: 10 }, (_, i) => stored(s, `p${10 + i}`)));
      const got: string[] = [];
      let page = await store.list(s, { limit: 7 });
      assert.equal(page.records.length, 7);
      assert.notEqual(page.next, null);
      got.push(...names(page.records));
      await store.put([stored(s, 'late1'), stored(s, 'p3'), stored(s, 'late2')]);
      page = await store.list(s, { after: page.next, limit: 7 });
      got.push(...names(page.records));
      page = await store.list(s, { after: page.next, limit: 7 });
      got.push(...names(page.records));
      await store.put([stored(s, 'late3')]);
      page = await store.list(s, { after: page.next, limit: 7 });
      got.push(...names(page.records));
      assert.equal(page.records.length, 2);
      assert.equal(page.next, null, 'fewer than limit rows: no next cursor');
      assert.deepEqual(got, [...Array.from({ length: 20 }, (_, i) => `p${i}`), 'late1', 'late2', 'late3']);
      // The last page still gives the cursor after its last record: a reader following the session goes on from there.
      assert.equal(typeof page.last, 'string');
      await store.put([stored(s, 'late4')]);
      assert.deepEqual(names((await store.list(s, { after: page.last, limit: 7 })).records), ['late4']);

      // A page that ends exactly at the last row gives a cursor; the page after it is empty.
      const s2 = sessionId();
      await store.put(Array.from({ length: 4 }, (_, i) => stored(s2, `e${i}`)));
      const full = await store.list(s2, { limit: 4 });
      assert.equal(typeof full.next, 'string');
      assert.equal(full.last, full.next);
      assert.deepEqual(await store.list(s2, { after: full.next, limit: 4 }), { records: [], next: null, last: null });
      assert.deepEqual(await store.list(sessionId(), { limit: 5 }), { records: [], next: null, last: null });
    });

    it('refuses a malformed cursor or page size as a validation error', async () => {
      const s = sessionId();
      await rejectsWith(store.list(s, { after: 'abc', limit: 5 }), 'validation');
      await rejectsWith(store.list(s, { after: '-1', limit: 5 }), 'validation');
      await rejectsWith(store.list(s, { after: '1; DROP TABLE results', limit: 5 }), 'validation');
      await rejectsWith(store.list(s, { limit: 0 }), 'validation');
      await rejectsWith(store.list(s, { limit: 1.5 }), 'validation');
    });

    it('filters by outcome, by supplement and by both, in list and count', async () => {
      const s = sessionId();
      const outcomes: Outcome[] = ['delivered', 'failed', 'skipped', 'delivered', 'cancelled', 'failed', 'delivered', 'skipped'];
      await store.put(outcomes.map((o, i) => stored(s, `f${i}`, { outcome: o })));
      await store.markSupplements(s, ['id-f3', 'id-f5', 'id-f6']);
      await store.put([stored(s, 'f8', { outcome: 'delivered', supplement: true })]);

      const cases: { filter: { outcome?: Outcome; supplement?: boolean }; want: string[] }[] = [
        { filter: {}, want: ['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8'] },
        { filter: { outcome: 'delivered' }, want: ['f0', 'f3', 'f6', 'f8'] },
        { filter: { outcome: 'failed' }, want: ['f1', 'f5'] },
        { filter: { outcome: 'skipped' }, want: ['f2', 'f7'] },
        { filter: { outcome: 'cancelled' }, want: ['f4'] },
        { filter: { supplement: true }, want: ['f3', 'f5', 'f6', 'f8'] },
        { filter: { supplement: false }, want: ['f0', 'f1', 'f2', 'f4', 'f7'] },
        { filter: { outcome: 'delivered', supplement: true }, want: ['f3', 'f6', 'f8'] },
        { filter: { outcome: 'delivered', supplement: false }, want: ['f0'] },
        { filter: { outcome: 'skipped', supplement: true }, want: [] },
      ];
      for (const { filter, want } of cases) {
        const label = JSON.stringify(filter);
        assert.deepEqual(names(await listAll(store, s, 2, filter)), want, `list ${label}`);
        assert.equal(await store.count(s, filter), want.length, `count ${label}`);
      }
      // A filtered page's cursor continues the filtered listing.
      const first = await store.list(s, { outcome: 'delivered', limit: 2 });
      assert.deepEqual(names(first.records), ['f0', 'f3']);
      assert.deepEqual(names((await store.list(s, { outcome: 'delivered', after: first.next, limit: 2 })).records), ['f6', 'f8']);
    });

    it('gets one record by task id, null when absent', async () => {
      const s = sessionId();
      await store.put([stored(s, 'g1', { outcome: 'failed', reason: 'http_server_error', error: '503', status: 503 })]);
      assert.deepEqual(await store.get(s, 'id-g1'), record('http://127.0.0.1/g1', { outcome: 'failed', reason: 'http_server_error', error: '503', status: 503 }));
      assert.equal(await store.get(s, 'id-nope'), null);
      assert.equal(await store.get(sessionId(), 'id-g1'), null);
    });

    it('replaces rows in their place, and ignores keys that have no row', async () => {
      const s = sessionId();
      await store.put([stored(s, 'r1'), stored(s, 'r2', { outcome: 'failed' }), stored(s, 'r3')]);
      await store.replace([stored(s, 'r2', { outcome: 'delivered', title: 'replaced', attempts: 2 }), stored(s, 'r9', { title: 'no row' })]);
      const all = await listAll(store, s);
      assert.deepEqual(names(all), ['r1', 'r2', 'r3']);
      assert.deepEqual(all[1], record('http://127.0.0.1/r2', { outcome: 'delivered', title: 'replaced', attempts: 2 }));
      assert.equal(await store.get(s, 'id-r9'), null);
      assert.equal(await store.count(s), 3);
      assert.equal(await store.count(s, { outcome: 'failed' }), 0, 'the outcome filter follows the replacement');
      assert.equal(await store.count(s, { outcome: 'delivered' }), 3);
      await store.replace([]);
    });

    it('marks supplements: those records carry "supplement": true, the others no such key', async () => {
      const s = sessionId();
      await store.put([stored(s, 'm1'), stored(s, 'm2'), stored(s, 'm3')]);
      await store.markSupplements(s, ['id-m2', 'id-unknown']);
      await store.markSupplements(s, []);
      const all = await listAll(store, s);
      assert.equal(all[1]!.supplement, true);
      assert.equal((await store.get(s, 'id-m2'))?.supplement, true);
      assert.ok(!('supplement' in all[0]!) && !('supplement' in all[2]!));
      assert.ok(!('supplement' in (await store.get(s, 'id-m1'))!));
      assert.equal(await store.count(s, { supplement: true }), 1);
      assert.equal(await store.count(s), 3);
    });

    it('removes single rows of one session only', async () => {
      const s = sessionId();
      const other = sessionId();
      await store.put([stored(s, 'd1'), stored(s, 'd2'), stored(s, 'd3'), stored(other, 'd2')]);
      await store.remove(s, ['id-d2', 'id-absent']);
      await store.remove(s, []);
      assert.deepEqual(names(await listAll(store, s)), ['d1', 'd3']);
      assert.equal(await store.get(s, 'id-d2'), null);
      assert.notEqual(await store.get(other, 'id-d2'), null);
      // A removed key can be written again (the ledger will decide about it anew); it goes last.
      assert.deepEqual(await store.put([stored(s, 'd2', { title: 'again' })]), [true]);
      assert.deepEqual(names(await listAll(store, s)), ['d1', 'd3', 'd2']);
    });

    it('deletes a whole session, answering how many rows went, and leaves other sessions alone', async () => {
      const s = sessionId();
      const other = sessionId();
      await store.put(Array.from({ length: 17 }, (_, i) => stored(s, `x${i}`)));
      await store.put([stored(other, 'x0'), stored(other, 'x1')]);
      assert.equal(await store.deleteSession(s), 17);
      assert.equal(await store.count(s), 0);
      assert.deepEqual(await store.list(s, { limit: 10 }), { records: [], next: null, last: null });
      assert.equal(await store.deleteSession(s), 0);
      assert.equal(await store.count(other), 2);
      assert.deepEqual(names(await listAll(store, other)), ['x0', 'x1']);
    });

    it('lines: the records of list as JSON text, page by page, with filters and supplements', async () => {
      const s = sessionId();
      await store.put(Array.from({ length: 7 }, (_, i) => stored(s, `l${i}`, i % 3 === 0 ? { outcome: 'failed', status: 500 } : {})));
      await store.markSupplements(s, ['id-l2', 'id-l3']);
      for (const query of [{ limit: 3 }, { limit: 2, outcome: 'failed' as const }, { limit: 10, supplement: true }, { limit: 10, supplement: false, outcome: 'delivered' as const }]) {
        let after: string | null = null;
        for (let pages = 0; pages < 10; pages++) {
          const [listed, lined]: [ResultsPage, ResultsLines] = await Promise.all([store.list(s, { ...query, after }), store.lines(s, { ...query, after })]);
          assert.deepEqual(lined.lines.map((l) => JSON.parse(l) as unknown), listed.records, JSON.stringify(query));
          assert.deepEqual([lined.next, lined.last], [listed.next, listed.last]);
          if (listed.next === null) break;
          after = listed.next;
        }
      }
      const [first] = (await store.lines(s, { limit: 1, supplement: true })).lines;
      assert.equal((JSON.parse(first!) as ResultRecord).supplement, true);
    });

    it('fields: only the named keys, in the order named, values byte for byte; supplement only when named', async () => {
      const s = sessionId();
      const odd = 'Zürich — 東京 — 👩‍👩‍👧‍👦 — \u0000 \u0007 \u2028 — \ud800 lone — "q" \\ \n';
      const full = stored(s, 'f1', { title: odd, fields: { h1: odd, none: null }, canonical: null, links: [{ url: 'http://127.0.0.1/x', text: odd, rel: null }] as unknown as number });
      await store.put([full, stored(s, 'f2', { title: 'plain' })]);
      await store.markSupplements(s, ['id-f2']);
      const named = ['title', 'absent', 'links', 'canonical', 'fields', 'url'];
      const want = (r: ResultRecord): Record<string, unknown> => Object.fromEntries(named.filter((f) => f in r).map((f) => [f, (r as unknown as Record<string, unknown>)[f]]));
      for (const page of [(await store.list(s, { limit: 10, fields: named })).records, (await store.lines(s, { limit: 10, fields: named })).lines.map((l) => JSON.parse(l) as ResultRecord)]) {
        assert.equal(page.length, 2);
        assert.deepEqual(Object.keys(page[0]!), ['title', 'links', 'canonical', 'fields', 'url'], 'in the order named, the absent one left out');
        assert.equal(JSON.stringify(page[0]), JSON.stringify(want(full.record)), 'values as stored, unicode, NUL and lone surrogates included');
        assert.ok(!('supplement' in page[1]!), 'supplement not named: not there');
      }
      const withSupplement = (await store.lines(s, { limit: 10, fields: ['supplement', 'url'] })).lines.map((l) => JSON.parse(l) as unknown);
      assert.deepEqual(withSupplement, [{ url: 'http://127.0.0.1/f1' }, { supplement: true, url: 'http://127.0.0.1/f2' }]);
      assert.deepEqual((await store.lines(s, { limit: 10, fields: [] })).lines, ['{}', '{}']);
      assert.deepEqual((await store.lines(s, { limit: 1, fields: ['url', 'title', 'url'] })).lines, [JSON.stringify({ url: full.record.url, title: odd })], 'a name given twice counts once');
    });

    it('refuses a field name that is not letters, digits and _ as a validation error', async () => {
      for (const bad of ['a.b', 'x"y', '', '$', 'links[0]']) {
        await rejectsWith(store.lines(sessionId(), { limit: 10, fields: ['url', bad] }), 'validation');
        await rejectsWith(store.list(sessionId(), { limit: 10, fields: [bad] }), 'validation');
      }
    });

    it('keeps large and unicode content byte for byte', async () => {
      const s = sessionId();
      const unicode = 'Zürich — 東京 — Ελληνικά — עברית — 👩‍👩‍👧‍👦 — e\u0301 — \u0000 \u0007 \u2028\u2029 — \ud800 lone — "quotes" \\ back\\slash \n\t';
      const big = `# Title\n\n${'Lorem ipsum dolor sit amet, ünïcödé ✓ 𝄞. '.repeat(60_000)}`; // ~2.6 MB
      const records = [
        stored(s, 'u1', { title: unicode, fields: { markdown: big, empty: '', none: null } }),
        stored(s, 'u2', { title: '', url: 'http://127.0.0.1/u2?q=%E2%9C%93&x=1#frag', error: unicode.repeat(100) }),
      ];
      assert.deepEqual(await store.put(records), [true, true]);
      const all = await listAll(store, s);
      assert.equal(all.length, 2);
      for (const [i, r] of records.entries()) {
        assert.equal(JSON.stringify(all[i]), JSON.stringify(r.record));
        assert.equal(JSON.stringify(await store.get(s, r.taskId)), JSON.stringify(r.record));
      }
      assert.equal(Buffer.byteLength(all[0]!.fields.markdown!), Buffer.byteLength(big));
    });
  });
}

function shuffle<T>(xs: T[]): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
}
