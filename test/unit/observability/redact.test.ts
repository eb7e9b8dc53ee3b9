/**
 * A session's header and cookie values are secrets on every output path: the API's session
 * view (GET /sessions, GET /sessions/:id, POST /sessions), webhook events, crawlctl's output
 * (even against a controller that would not redact), log lines, error messages and record
 * headers show `***`; the names stay. One module does it (shared/observability/redact.ts).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { sessionJson } from '../../../services/controller/sessions.js';
import { sessionEvent } from '../../../services/delivery/handover.js';
import { CrawlError } from '../../../shared/errors/index.js';
import type { SessionRecord } from '../../../shared/ledger/index.js';
import { createLogger } from '../../../shared/observability/log.js';
import { REDACTED, redactError, redactHeaders, redactSpec, redactText, secretsOf } from '../../../shared/observability/redact.js';
import type { SessionSpec } from '../../../shared/tasks/types.js';
import { fakeServer, runCrawlctl } from '../../support/cli.js';

const HEADER_SECRET = 'Bearer hdr-s3cr3t-0123456789';
const COOKIE_SECRET = 'ck-s3cr3t-9876543210';
const HOOK_PASSWORD = 'hook-pw-555';

function spec(): SessionSpec {
  return {
    seeds: ['http://a.test/'], maxPages: 10, maxDepth: 2, timeoutMs: 60_000, allowedHosts: ['a.test'], include: [], exclude: [], fields: {},
    webhook: `http://user:${HOOK_PASSWORD}@hooks.test/x`, label: null,
    headers: { Authorization: HEADER_SECRET, 'Accept-Language': 'fr-FR' },
    cookies: [{ name: 'sid', value: COOKIE_SECRET, domain: 'a.test', path: '/', secure: true }],
    cookieJar: true,
    userAgent: 'MyBot/1.0',
  };
}

function record(): SessionRecord {
  const counts = { admitted: 1, fetched: 1, delivered: 1, failed: 0, skipped: 0, cancelled: 0, supplements: 0 };
  return {
    id: 's1', status: 'completed', createdAt: '2026-01-01T00:00:00.000Z', deadlineAt: '2026-01-01T01:00:00.000Z', closeAt: '2026-01-01T02:00:00.000Z',
    finishedAt: null, partialAt: null, pausedAt: null, pausedMs: 0, handedOverAt: null, cleaner: { redriven: 0, timedOut: 0, reconciled: 0 },
    counts, seedsFailed: 0, traps: {}, recrawl: { fresh: 0, notModified: 0, changed: 0, new: 0 }, limited: 0, retries: 0, spec: spec(), resultsFile: null,
  };
}

/** No secret anywhere in this text. */
function assertClean(text: string, where: string): void {
  for (const s of [HEADER_SECRET, 's3cr3t', COOKIE_SECRET, HOOK_PASSWORD]) assert.ok(!text.includes(s), `${where} shows ${s}: ${text}`);
}

describe('redaction of session secrets', () => {
  it('redactSpec: values become ***, names, domains, paths, flags and the user agent stay; the spec given is untouched', () => {
    const given = spec();
    const shown = redactSpec(given);
    assert.deepEqual(shown.headers, { Authorization: REDACTED, 'Accept-Language': REDACTED });
    assert.deepEqual(shown.cookies, [{ name: 'sid', value: REDACTED, domain: 'a.test', path: '/', secure: true }]);
    assert.equal(shown.webhook, 'http://user:***@hooks.test/x');
    assert.equal(shown.cookieJar, true);
    assert.equal(shown.userAgent, 'MyBot/1.0');
    assert.deepEqual(given, spec());
    assert.deepEqual(redactSpec({ ...spec(), headers: undefined, cookies: undefined, webhook: null }).webhook, null);
  });

  it('the API view of a session (GET /sessions, GET /sessions/:id, POST /sessions) shows no value', () => {
    const view = sessionJson(record()) as { spec: SessionSpec };
    assertClean(JSON.stringify(view), 'sessionJson');
    assert.deepEqual(Object.keys(view.spec.headers ?? {}), ['Authorization', 'Accept-Language']);
  });

  it('a webhook event about a session shows no value', () => {
    assertClean(JSON.stringify(sessionEvent('session.completed', record(), { records: 1 })), 'webhook event');
  });

  it('crawlctl status, list and --json show no value even when the controller answers them', async () => {
    const raw = { ...record(), spec: spec() };
    const api = await fakeServer((req, _res, send) => {
      if (req.url.startsWith('/sessions?')) send(200, { sessions: [raw] });
      else send(200, raw);
    });
    try {
      for (const argv of [['status', 's1'], ['status', 's1', '--json'], ['list'], ['list', '--json']]) {
        const r = await runCrawlctl(['--api', api.url, ...argv]);
        assert.equal(r.stderr.includes('Error'), false, r.stderr);
        assertClean(r.stdout + r.stderr, `crawlctl ${argv.join(' ')}`);
      }
      const json = await runCrawlctl(['--api', api.url, 'status', 's1', '--json']);
      assert.match(json.stdout, /"Authorization":"\*\*\*"/);
    } finally {
      await api.close();
    }
  });

  it('log lines: a logged spec, request headers or cookies show ***', () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } });
    const log = createLogger('test', 'debug', sink);
    log.info({ spec: spec() }, 'a spec');
    log.info({ session: { spec: spec() } }, 'a nested spec');
    log.info({ headers: { authorization: HEADER_SECRET, cookie: `sid=${COOKIE_SECRET}`, 'set-cookie': `sid=${COOKIE_SECRET}`, accept: 'text/html' } }, 'headers');
    log.child({ sessionId: 's1' }).warn({ req: { headers: { authorization: HEADER_SECRET } } }, 'request');
    assert.equal(lines.length, 4);
    for (const line of lines) assertClean(line, 'log line');
    assert.equal((JSON.parse(lines[2] as string) as { headers: { accept: string } }).headers.accept, 'text/html');
  });

  it('error messages: the session\'s values are cut out, the code and details stay', () => {
    const secrets = secretsOf(spec());
    assert.deepEqual([...secrets].sort(), [COOKIE_SECRET, HEADER_SECRET, 'fr-FR'].sort(), 'every value of 4 characters or more');
    const err = new CrawlError('protocol_error', `http://a.test/: the server echoed ${HEADER_SECRET} and ${COOKIE_SECRET}`, { details: { status: 400 } });
    const clean = redactError(err, secrets);
    assert.equal(clean.message, 'http://a.test/: the server echoed *** and ***');
    assert.equal(clean.code, 'protocol_error');
    assert.deepEqual(clean.details, { status: 400 });
    const untouched = new CrawlError('timeout', 'http://a.test/: headers timeout');
    assert.equal(redactError(untouched, secrets), untouched);
    assert.equal(redactText('abc', ['b']), 'a***c');
  });

  it('record headers: credentials and Set-Cookie are masked whatever their case', () => {
    assert.deepEqual(redactHeaders({ 'Set-Cookie': 'sid=x', authorization: 'y', Cookie: 'z', etag: '"e"' }), { 'Set-Cookie': REDACTED, authorization: REDACTED, Cookie: REDACTED, etag: '"e"' });
  });
});
