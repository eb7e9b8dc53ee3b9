/**
 * The console's static serving (services/controller/console.ts) on a real fastify: the page
 * and hashed assets with the Content-Security-Policy, long caching for assets only, a clear
 * answer when the console is not built; and GET /sessions/:id/outcomes' count over a real
 * SQLite results store, across pages.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { CONSOLE_CSP, isConsolePath, registerConsole } from '../../../services/controller/console.js';
import { countOutcomes } from '../../../services/controller/outcomes.js';
import { SqliteResultsStore } from '../../../shared/results/sqlite.js';
import type { ResultRecord } from '../../../shared/tasks/types.js';

describe('console serving', () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'console-ui-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><div id="app"></div><script type="module" src="/console/assets/index-abc.js"></script>');
    writeFileSync(join(dir, 'assets', 'index-abc.js'), 'console.log(1)');
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('knows its paths: the page, /console and what is below it, nothing else', () => {
    for (const p of ['/', '/console', '/console/', '/console/assets/index-abc.js']) assert.equal(isConsolePath(p), true, p);
    for (const p of ['/sessions', '/consoles', '/admin/queues', '/config', '//']) assert.equal(isConsolePath(p), false, p);
  });

  it('serves the page at / and the assets under /console/ with the policy; assets cached for good, the page revalidated', async () => {
    const app = Fastify();
    await registerConsole(app, dir);
    try {
      const page = await app.inject({ method: 'GET', url: '/' });
      assert.equal(page.statusCode, 200);
      assert.match(page.headers['content-type'] as string, /^text\/html/);
      assert.match(page.body, /<div id="app">/);
      assert.equal(page.headers['content-security-policy'], CONSOLE_CSP);
      assert.equal(page.headers['cache-control'], 'no-cache');
      assert.equal(page.headers['x-content-type-options'], 'nosniff');
      const js = await app.inject({ method: 'GET', url: '/console/assets/index-abc.js' });
      assert.equal(js.statusCode, 200);
      assert.match(js.headers['content-type'] as string, /javascript/);
      assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
      assert.equal(js.headers['content-security-policy'], CONSOLE_CSP);
      assert.equal((await app.inject({ method: 'GET', url: '/console/assets/none.js' })).statusCode, 404);
      const outside = await app.inject({ method: 'GET', url: '/console/..%2f..%2fetc%2fpasswd' });
      assert.ok(outside.statusCode >= 400 && outside.statusCode < 500, `a path out of the folder is refused (${outside.statusCode})`);
      const redirect = await app.inject({ method: 'GET', url: '/console' });
      assert.equal(redirect.statusCode, 302);
      assert.equal(redirect.headers.location, '/');
    } finally {
      await app.close();
    }
  });

  it('says how to build it when it is not built', async () => {
    const app = Fastify();
    await registerConsole(app, join(dir, 'missing'));
    try {
      for (const url of ['/', '/console/assets/index-abc.js']) {
        const res = await app.inject({ method: 'GET', url });
        assert.equal(res.statusCode, 404, url);
        assert.match(res.body, /the web console is not built .*: run npm run build/);
      }
    } finally {
      await app.close();
    }
  });
});

describe('outcomes by reason over a SQLite results store', () => {
  it('counts failed, skipped and cancelled by reason across pages, and delivered', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outcomes-'));
    const store = new SqliteResultsStore({ path: join(dir, 'results.db') });
    try {
      const record = (i: number, outcome: ResultRecord['outcome'], reason: string | null): ResultRecord => ({
        url: `http://127.0.0.1/p${i}`, finalUrl: `http://127.0.0.1/p${i}`, status: null, depth: 0, parent: null, outcome, reason, error: null,
        title: null, contentType: null, fields: {}, links: 0, canonical: null, fetchedAt: null, attempts: 1,
      });
      const plan: [ResultRecord['outcome'], string | null, number][] = [
        ['delivered', null, 5], ['failed', 'timeout', 1203], ['failed', 'http_server_error', 2], ['skipped', 'robots', 3], ['cancelled', 'cancelled', 1],
      ];
      let i = 0;
      for (const [outcome, reason, n] of plan) {
        const batch = Array.from({ length: n }, () => ({ sessionId: 's1', taskId: `t${i}`, record: record(i++, outcome, reason) }));
        await store.put(batch);
      }
      await store.put([{ sessionId: 'other', taskId: 't0', record: record(0, 'failed', 'dns_failed') }]);
      assert.deepEqual(await countOutcomes(store, 's1'), {
        delivered: 5,
        failed: { total: 1205, reasons: { timeout: 1203, http_server_error: 2 } },
        skipped: { total: 3, reasons: { robots: 3 } },
        cancelled: { total: 1, reasons: { cancelled: 1 } },
      });
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
