/**
 * The cleaner against the real Redis and RabbitMQ, on a real service context: tasks admitted
 * but never published (their publisher died) are published again when their lease expires, as
 * what they are: a robots.txt or sitemap task keeps its role. A session past retention loses
 * its files with its index entry: results file, WARC files and indexes, screenshots.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweep } from '../../services/cleaner/sweep.js';
import type { ExtractTask, SessionSpec } from '../../shared/tasks/types.js';
import { resultsFilePath, screenshotPath, screenshotsDir } from '../../shared/results/files.js';
import { runService, type RunningService } from '../../shared/service/runtime.js';
import { warcFileName } from '../../shared/warc/files.js';
import { fingerprint } from '../../shared/url/normalize.js';
import { takeAll } from '../support/oracle.js';
import { cleanupNamespace, serviceEnv, testNamespace } from '../support/stack.js';

const spec: SessionSpec = {
  seeds: ['http://site.test/'], maxPages: 100, maxDepth: 3, timeoutMs: 600_000, allowedHosts: ['site.test'],
  include: [], exclude: [], fields: {}, webhook: null, label: null, sitemaps: true,
};

describe('cleaner re-drive (real Redis and RabbitMQ)', function () {
  this.timeout(30_000);
  const ns = testNamespace('c');
  const resultsDir = mkdtempSync(join(tmpdir(), 'crawlfleet-cleaner-'));
  let cleaner: RunningService;

  before(async () => {
    // A cleaner context whose timer never fires during the test: the test sweeps by hand.
    cleaner = await runService('cleaner', async () => ({ close: async () => undefined }), {
      env: serviceEnv(ns, { CLEANER_INTERVAL_MS: '600000', RESULTS_DIR: resultsDir }),
      manageProcess: false,
    });
  });

  after(async () => {
    await cleaner?.stop();
    await cleanupNamespace(ns);
    rmSync(resultsDir, { recursive: true, force: true });
  });

  it('publishes tasks whose publisher died again, a robots.txt or sitemap task with its role', async () => {
    const { ctx } = cleaner;
    const id = 'redrive';
    await ctx.sessions.create(id, spec, 60_000);
    const link = (url: string, role?: 'robots' | 'sitemap'): { taskId: string; depth: number; url: string; role?: 'robots' | 'sitemap' } =>
      ({ taskId: fingerprint(url), depth: 0, url, ...(role ? { role } : {}) });
    const admitted = [link('http://site.test/'), link('http://site.test/robots.txt', 'robots'), link('http://site.test/sitemap.xml', 'sitemap')];
    // Admitted with a lease of 1 ms and never published: as if the controller died right after.
    const reply = await ctx.tasks.admitSeeds(id, admitted, 1);
    assert.deepEqual(reply, { kind: 'ok', limited: 0, admitted: [0, 1, 2] });
    assert.deepEqual(Object.fromEntries(await ctx.tasks.roles(id, admitted.map((l) => l.taskId))), {
      [fingerprint('http://site.test/robots.txt')]: 'robots',
      [fingerprint('http://site.test/sitemap.xml')]: 'sitemap',
    });
    await new Promise((r) => setTimeout(r, 20));

    const report = await sweep(ctx);
    assert.equal(report.redriven, 3);
    const tasks = await takeAll(ctx.broker, ctx.topology.queue('fetch'), ctx.outbox.codecs.fetch);
    assert.deepEqual(
      tasks.map((t) => [t.url, t.role ?? 'page']).sort(),
      [['http://site.test/', 'page'], ['http://site.test/robots.txt', 'robots'], ['http://site.test/sitemap.xml', 'sitemap']],
    );
    // Published and confirmed: queued, no lease left to expire again.
    for (const l of admitted) assert.equal((await ctx.tasks.task(id, l.taskId))?.state, 'Q', l.url);
  });

  it('holds its re-drives while a document waits on its queue (one takes seconds), not for a few page batches', async () => {
    const { ctx } = cleaner;
    const id = 'redrive-backlog';
    await ctx.sessions.create(id, spec, 60_000);
    const url = 'http://site.test/slow';
    assert.deepEqual(await ctx.tasks.admitSeeds(id, [{ taskId: fingerprint(url), depth: 0, url }], 1), { kind: 'ok', limited: 0, admitted: [0] });
    await new Promise((r) => setTimeout(r, 20));
    const waiting = (stage: 'document' | 'extract', path: string): ExtractTask => ({
      sessionId: 'other', taskId: fingerprint(`http://site.test/${path}`), url: `http://site.test/${path}`, finalUrl: `http://site.test/${path}`, depth: 1, attempt: 0,
      status: 200, contentType: stage === 'document' ? 'application/pdf' : 'text/html', headers: {}, fetchedAt: Date.now(), fetchMs: 1, body: Buffer.from('%PDF-1.7'),
    });
    // One document waiting: the lease expired from waiting behind it, not from a lost task.
    await ctx.outbox.send('document', [waiting('document', 'manual.pdf')]);
    let report = await sweep(ctx);
    assert.equal(report.deferred, true);
    assert.equal(report.redriven, 0);
    assert.deepEqual((await takeAll(ctx.broker, ctx.topology.queue('fetch'), ctx.outbox.codecs.fetch)).length, 0);
    // A page batch waiting is far below cleaner.redriveMaxBacklog: the lease is re-driven.
    assert.equal((await takeAll(ctx.broker, ctx.topology.queue('document'), ctx.outbox.codecs.document)).length, 1);
    await ctx.outbox.send('extract', [waiting('extract', 'page')]);
    report = await sweep(ctx);
    assert.equal(report.deferred, false);
    assert.equal(report.redriven, 1);
    assert.deepEqual((await takeAll(ctx.broker, ctx.topology.queue('fetch'), ctx.outbox.codecs.fetch)).map((t) => t.url), [url]);
    assert.equal((await takeAll(ctx.broker, ctx.topology.queue('extract'), ctx.outbox.codecs.extract)).length, 1);
  });

  it('removes the files of a session past retention: results file, WARC files and indexes, screenshots; not another session\'s', async () => {
    const { ctx } = cleaner;
    const gone = 'mold001-0a0b0c0d';
    const kept = 'mlive01-0a0b0c0d';
    const files = (id: string): string[] => {
      const warc = join(resultsDir, 'warc', warcFileName(id, new Date('2026-01-01T00:00:00.000Z'), 0, 'renderer-test'));
      return [resultsFilePath(resultsDir, id), warc, `${warc}.cdxj`, join(resultsDir, screenshotPath(id, 'task1')), join(resultsDir, screenshotPath(id, 'task2'))];
    };
    for (const id of [gone, kept]) {
      mkdirSync(join(resultsDir, 'warc'), { recursive: true });
      mkdirSync(screenshotsDir(resultsDir, id), { recursive: true });
      for (const f of files(id)) writeFileSync(f, 'x');
    }
    // In the sessions index since long ago, its keys expired (retention); the other one is not in the index.
    await ctx.redis.zadd(ctx.keys.sessionsIndex, 1, gone);
    const report = await sweep(ctx);
    assert.equal(report.pruned, 1);
    for (const f of files(gone)) assert.equal(existsSync(f), false, f);
    assert.equal(existsSync(screenshotsDir(resultsDir, gone)), false, 'the session\'s screenshots folder');
    for (const f of files(kept)) assert.equal(existsSync(f), true, f);
    assert.deepEqual(readdirSync(join(resultsDir, 'screenshots')), [kept]);
  });

  it('lets a fetcher claim a re-driven task that reaches it before the cleaner confirmed it queued', async () => {
    // The sweep's steps one by one, with a fetcher's claim between the publish and the
    // confirm (a consumer can get the message before the publisher gets its confirm).
    const { ctx } = cleaner;
    const id = 'redrive-race';
    await ctx.sessions.create(id, spec, 60_000);
    const url = 'http://site.test/slow';
    const taskId = fingerprint(url);
    assert.deepEqual(await ctx.tasks.admitSeeds(id, [{ taskId, depth: 0, url }], 60_000), { kind: 'ok', limited: 0, admitted: [0] });
    // A fetcher claims it with a lease of 1 ms and dies.
    const opts = { leaseMs: 1, maxAttempts: 5, takeOver: false };
    assert.deepEqual(await ctx.tasks.claim(id, [taskId], opts), [{ kind: 'ok', attempt: 1 }]);
    await new Promise((r) => setTimeout(r, 20));
    // The cleaner takes the expired lease (pushed forward) and publishes the task again...
    const leases = await ctx.maintenance.expiredLeases(id, 10, 60_000);
    assert.deepEqual(leases.map((l) => l.taskId), [taskId]);
    // ...and the copy reaches a fetcher before the cleaner's confirm: it is claimed, not dropped as busy.
    assert.deepEqual(await ctx.tasks.claim(id, [taskId], { ...opts, leaseMs: 60_000 }), [{ kind: 'ok', attempt: 2 }]);
    // The confirm then finds the entry changed and leaves the fetcher's claim alone.
    assert.equal(await ctx.maintenance.requeueIfUnchanged(id, leases), 0);
    const task = await ctx.tasks.task(id, taskId);
    assert.equal(task?.state, 'F');
    assert.equal(task?.attempt, 2);
  });
});
