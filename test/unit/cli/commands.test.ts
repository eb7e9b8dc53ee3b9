/**
 * crawlctl commands against a local fake of the API: exit codes of `status` per session
 * status, pause/resume/rm (method, path, output, errors), and `crawl --wait` when no seed
 * could be fetched (seedsFailed).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../../../cli/client.js';
import { firstSeedReason, noSeedFetched, shownStatusExitCode } from '../../../cli/commands.js';
import { fakeServer, runCrawlctl, type FakeServer } from '../../support/cli.js';


type Fake = FakeServer;

const counts = { admitted: 1, fetched: 0, delivered: 0, failed: 0, skipped: 1, cancelled: 0, supplements: 0 };

function sessionOf(id: string, status: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, status, createdAt: '2026-01-01T00:00:00.000Z', deadlineAt: '2026-01-01T01:00:00.000Z', finishedAt: status === 'running' || status === 'paused' ? null : '2026-01-01T00:00:01.000Z', counts, traps: {}, spec: { seeds: ['http://127.0.0.1:1/'] }, resultsFile: null, ...extra };
}

/** Sessions by id: status and extra fields; results per id as NDJSON text. */
async function fakeApi(sessions: Record<string, Record<string, unknown>>, results: Record<string, string> = {}): Promise<Fake> {
  return fakeServer((req, res, send) => {
    const [path, query] = req.url.split('?');
    const m = /^\/sessions\/([^/]+)(\/results|\/pause|\/resume)?$/.exec(path ?? '');
    const s = m ? sessions[m[1] ?? ''] : undefined;
    if (!m || !s) return send(404, { error: { code: 'not_found', message: `session ${m?.[1] ?? ''} not found` } });
    const id = m[1] as string;
    if (req.method === 'POST' && m[2] === '/results') return send(404, { error: { code: 'not_found', message: 'no route' } });
    if (m[2] === '/results') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      return void res.end(results[id] ?? '');
    }
    if (req.method === 'POST' && m[2] === '/pause') return send(200, { ...s, status: 'paused' });
    if (req.method === 'POST' && m[2] === '/resume') return send(200, { ...s, status: 'running' });
    if (req.method === 'DELETE' && query === 'purge=true') {
      if (s.status === 'running') return send(409, { error: { code: 'conflict', message: `session ${id} is running; only a completed, cancelled or closed session can be purged (cancel it first)` } });
      return send(200, { id, purged: true, keys: 6 });
    }
    if (req.method === 'GET' && !m[2]) return send(200, s);
    return send(404, { error: { code: 'not_found', message: 'no route' } });
  });
}

const run = runCrawlctl;

describe('crawlctl: exit codes, pause, resume, rm', () => {
  let fake: Fake;
  let dir: string;
  const seedRecord = (reason: string): string => JSON.stringify({ url: 'http://127.0.0.1:1/', finalUrl: 'http://127.0.0.1:1/', status: null, depth: 0, parent: null, outcome: 'skipped', reason, error: 'connect ECONNREFUSED 127.0.0.1:1', title: null, contentType: null, fields: {}, links: 0, canonical: null, fetchedAt: null, attempts: 1 });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'crawlctl-cmd-'));
    fake = await fakeApi({
      'c-completed': sessionOf('c-completed', 'completed'),
      'c-partial': sessionOf('c-partial', 'partial'),
      'c-cancelled': sessionOf('c-cancelled', 'cancelled'),
      'c-closed': sessionOf('c-closed', 'closed'),
      'c-running': sessionOf('c-running', 'running'),
      'c-paused': sessionOf('c-paused', 'paused'),
      'c-noseed': sessionOf('c-noseed', 'completed', { seedsFailed: 1 }),
      'c-oneseed': sessionOf('c-oneseed', 'completed', { seedsFailed: 1, spec: { seeds: ['http://127.0.0.1:1/', 'http://127.0.0.1:2/'] } }),
    }, { 'c-noseed': `${seedRecord('robots_unreachable')}\n`, 'c-oneseed': `${seedRecord('robots_unreachable')}\n` });
  });

  after(async () => {
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  });

  const statusCases: [string, number][] = [
    ['c-completed', EXIT.ok], ['c-partial', EXIT.partial], ['c-cancelled', EXIT.cancelled], ['c-closed', EXIT.cancelled], ['c-running', EXIT.ok], ['c-paused', EXIT.ok],
  ];
  for (const [id, code] of statusCases) {
    it(`status ${id} exits ${code}, with and without --json`, async () => {
      const r = await run(['--api', fake.url, 'status', id]);
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stdout, new RegExp(`^id +${id}$`, 'm'));
      assert.equal((await run(['--api', fake.url, '--json', 'status', id])).code, code);
    });
  }

  it('shownStatusExitCode: final statuses by the README, anything else 0', () => {
    assert.deepEqual(['completed', 'partial', 'cancelled', 'closed', 'running', 'paused'].map(shownStatusExitCode), [0, 3, 4, 4, 0, 0]);
  });

  it('pause and resume POST to the session and print its new status', async () => {
    fake.seen.length = 0;
    const p = await run(['--api', fake.url, 'pause', 'c-running']);
    assert.equal(p.code, EXIT.ok, p.stderr);
    assert.equal(p.stdout, 'c-running paused\n');
    const r = await run(['--api', fake.url, '--json', 'resume', 'c-paused']);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { status: string }).status, 'running');
    assert.deepEqual(fake.seen, [{ method: 'POST', url: '/sessions/c-running/pause' }, { method: 'POST', url: '/sessions/c-paused/resume' }]);
    const missing = await run(['--api', fake.url, 'pause', 'nope']);
    assert.equal(missing.code, EXIT.error);
    assert.equal(missing.stderr, 'crawlctl: not_found: session nope not found\n');
    assert.equal((await run(['--api', fake.url, 'resume'])).code, EXIT.usage);
  });

  it('rm DELETEs with purge=true; a running session is a conflict (exit 1)', async () => {
    fake.seen.length = 0;
    const done = await run(['--api', fake.url, 'rm', 'c-completed']);
    assert.equal(done.code, EXIT.ok, done.stderr);
    assert.equal(done.stdout, 'c-completed removed (6 keys)\n');
    assert.deepEqual(fake.seen, [{ method: 'DELETE', url: '/sessions/c-completed?purge=true' }]);
    const json = await run(['--api', fake.url, '--json', 'rm', 'c-cancelled']);
    assert.deepEqual(JSON.parse(json.stdout), { id: 'c-cancelled', purged: true, keys: 6 });
    const running = await run(['--api', fake.url, 'rm', 'c-running']);
    assert.equal(running.code, EXIT.error);
    assert.equal(running.stderr, 'crawlctl: conflict: session c-running is running; only a completed, cancelled or closed session can be purged (cancel it first)\n');
  });

  it('--wait exits 1 with the first seed\'s reason when no seed could be fetched', async () => {
    const output = join(dir, 'noseed.jsonl');
    const r = await run(['--api', fake.url, 'status', 'c-noseed', '--wait', '--output', output]);
    assert.equal(r.code, EXIT.error);
    assert.equal(r.stderr, 'crawlctl: no seed could be fetched: robots_unreachable (connect ECONNREFUSED 127.0.0.1:1)\n');
    const some = await run(['--api', fake.url, 'status', 'c-oneseed', '--wait', '--output', join(dir, 'oneseed.jsonl')]);
    assert.equal(some.code, EXIT.ok, 'one of two seeds failed: completed');
    assert.equal((await run(['--api', fake.url, 'status', 'c-completed', '--wait', '--output', join(dir, 'done.jsonl')])).code, EXIT.ok);
  });

  it('noSeedFetched needs seedsFailed equal to the seeds; firstSeedReason reads the saved records', async () => {
    const spec = { seeds: ['http://a/', 'http://b/'] };
    assert.equal(noSeedFetched({ spec }), false);
    assert.equal(noSeedFetched({ spec, seedsFailed: 1 }), false);
    assert.equal(noSeedFetched({ spec, seedsFailed: 2 }), true);
    assert.equal(noSeedFetched({ seedsFailed: 2 }), false);
    const file = join(dir, 'reasons.jsonl');
    await writeFile(file, [
      JSON.stringify({ url: 'http://a/robots.txt', depth: 0, outcome: 'failed', reason: 'timeout', role: 'robots' }),
      JSON.stringify({ url: 'http://b/', depth: 0, outcome: 'failed', reason: 'connect_failed', error: null }),
      JSON.stringify({ url: 'http://a/', depth: 0, outcome: 'failed', reason: 'dns_failed', error: 'ENOTFOUND a' }),
    ].join('\n') + '\n');
    assert.equal(await firstSeedReason({ spec }, file), 'dns_failed (ENOTFOUND a)');
    assert.equal(await firstSeedReason({ spec: { seeds: ['http://c/'] } }, file), 'connect_failed');
    await writeFile(file, '');
    assert.equal(await firstSeedReason({ spec }, file), 'no record of the seeds was delivered');
  });

  it('help lists pause, resume and rm', async () => {
    const r = await run(['--help']);
    for (const name of ['pause', 'resume', 'rm']) assert.match(r.stdout, new RegExp(`^  ${name} <id> +\\S`, 'm'));
  });
});
