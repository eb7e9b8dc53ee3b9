/**
 * The controller API in-process against the real broker and Redis: token auth, exact
 * validation messages naming the field (seeds that break a spider-trap rule or resolve to a
 * forbidden address included), trap counters in the session view, not found, body limit.
 */
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { Redis } from 'ioredis';
import { redisKeys } from '../../shared/redis/keys.js';
import { runService, type RunningService } from '../../shared/service/runtime.js';
import { startController } from '../../services/controller/index.js';
import { AddressPolicy } from '../../shared/net/ssrf.js';
import { cleanupNamespace, http, REDIS_URL, serviceEnv, testNamespace } from '../support/stack.js';

describe('controller API', function () {
  this.timeout(20_000);
  const ns = testNamespace('a');
  const TOKEN = 'test-token-0123456789';
  const auth = { authorization: `Bearer ${TOKEN}` };
  let svc: RunningService;
  let api: string;

  before(async () => {
    svc = await runService('controller', startController, {
      manageProcess: false,
      // ::1 too: where localhost also resolves to ::1, 127.0.0.0/8 alone refuses it (any forbidden address does)
      env: serviceEnv(ns, { CONTROLLER_PORT: '0', API_TOKEN: TOKEN, API_BODY_LIMIT_BYTES: '4096', FETCH_ALLOWED_NETWORKS: '127.0.0.0/8,::1/128', LOG_LEVEL: 'silent' }),
    });
    api = svc.address;
  });

  after(async () => {
    await svc.stop();
    await cleanupNamespace(ns);
  });

  it('serves /healthz and /readyz without a token', async () => {
    assert.equal((await http(api, 'GET', '/healthz')).status, 200);
    assert.deepEqual((await http(api, 'GET', '/readyz')).body, { status: 'ready', service: 'controller' });
  });

  it('refuses a missing or wrong token with 401 and accepts the right one', async () => {
    const body = { seeds: ['http://127.0.0.1:9/'] };
    const missing = await http(api, 'POST', '/sessions', body);
    assert.equal(missing.status, 401);
    assert.deepEqual(missing.body, { error: { code: 'unauthorized', message: 'missing or wrong bearer token' } });
    assert.equal((await http(api, 'POST', '/sessions', body, { authorization: 'Bearer nope' })).status, 401);
    assert.equal((await http(api, 'GET', '/sessions', undefined, { authorization: `Bearer ${TOKEN}x` })).status, 401);
    const ok = await http<{ id: string; status: string; counts: { admitted: number } }>(api, 'POST', '/sessions', body, auth);
    assert.equal(ok.status, 201);
    assert.equal(ok.body.status, 'running');
    assert.equal(ok.body.counts.admitted, 1);
    const listed = await http<{ sessions: { id: string }[] }>(api, 'GET', '/sessions', undefined, auth);
    assert.ok(listed.body.sessions.some((s) => s.id === ok.body.id));
  });

  const cases: [string, unknown, string][] = [
    ['no seeds', { seeds: [] }, 'body/seeds must NOT have fewer than 1 items'],
    ['seeds not a list', { seeds: 'http://a/' }, 'body/seeds must be array'],
    ['unknown property', { seeds: ['http://a/'], bogus: 1 }, 'body must NOT have additional properties (bogus)'],
    ['non-http seed', { seeds: ['ftp://x/'] }, 'body/seeds/0 must be an absolute http or https URL, got "ftp://x/"'],
    ['private seed', { seeds: ['http://a/', 'http://10.1.2.3/'] }, 'body/seeds/1 points to a forbidden address (10.1.2.3); see fetch.allowedNetworks'],
    ['maxPages zero', { seeds: ['http://a/'], maxPages: 0 }, 'body/maxPages must be >= 1'],
    ['maxDepth text', { seeds: ['http://a/'], maxDepth: 'deep' }, 'body/maxDepth must be integer'],
    ['bad include', { seeds: ['http://a/'], include: ['('] }, 'body/include/0 invalid regular expression: /(/: Unterminated group'],
    ['bad host', { seeds: ['http://a/'], allowedHosts: ['a.com/x'] }, 'body/allowedHosts/0 malformed host: "a.com/x"'],
    ['bad selector', { seeds: ['http://a/'], fields: { price: 'p[' } }, 'body/fields/price is not a valid CSS selector'],
    ['timeout too long', { seeds: ['http://a/'], timeoutMs: 1e12 }, 'body/timeoutMs must be <= 604800000'],
    ['seed too deep', { seeds: ['http://a/', `http://a/${'d/'.repeat(33)}`] }, 'body/seeds/1 breaks the spider-trap rule path_depth (more than 32 path segments); see traps.maxPathDepth'],
    ['seed repeating a segment', { seeds: ['http://a/a/a/a/a/'] }, 'body/seeds/0 breaks the spider-trap rule repeated_segments (a path segment more than 3 times); see traps.maxRepeatedSegments'],
    ['seed with many parameters', { seeds: [`http://a/?${Array.from({ length: 17 }, (_, i) => `p${i}=1`).join('&')}`] }, 'body/seeds/0 breaks the spider-trap rule query_params (more than 16 query parameters); see traps.maxQueryParams'],
    ['sitemaps not a boolean', { seeds: ['http://a/'], sitemaps: 'yes' }, 'body/sitemaps must be boolean'],
  ];
  for (const [name, body, message] of cases) {
    it(`answers 400 naming the field: ${name}`, async () => {
      const res = await http<{ error: { code: string; message: string } }>(api, 'POST', '/sessions', body, auth);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.error.code, 'validation');
      assert.ok(res.body.error.message.startsWith(message), `${res.body.error.message} starts with ${message}`);
    });
  }

  it('strips session and tracking parameters from seeds before the trap rules, and stores sitemaps', async () => {
    // 16 parameters (the limit) once sid and utm_source are gone
    const params = Array.from({ length: 16 }, (_, i) => `${String.fromCharCode(97 + i)}=1`).join('&');
    const res = await http<{ spec: { seeds: string[]; sitemaps: boolean } }>(api, 'POST', '/sessions', { seeds: [`http://127.0.0.1:9/s;jsessionid=A1?utm_source=x&${params}&sid=7`], sitemaps: true }, auth);
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(res.body.spec.seeds, [`http://127.0.0.1:9/s?${params}`]);
    assert.equal(res.body.spec.sitemaps, true);
    const plain = await http<{ spec: { sitemaps: boolean } }>(api, 'POST', '/sessions', { seeds: ['http://127.0.0.1:9/'] }, auth);
    assert.equal(plain.body.spec.sitemaps, false);
  });

  it('accepts a seed host name that resolves to loopback when fetch.allowedNetworks opens it', async () => {
    const res = await http<{ spec: { seeds: string[] }; counts: { admitted: number } }>(api, 'POST', '/sessions', { seeds: ['http://localhost:9/'] }, auth);
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(res.body.spec.seeds, ['http://localhost:9/']);
    assert.equal(res.body.counts.admitted, 1);
  });

  it('accepts a seed host name that does not resolve (the fetch records dns_failed)', async () => {
    const res = await http(api, 'POST', '/sessions', { seeds: ['http://no-such-host.invalid/'] }, auth);
    assert.equal(res.status, 201, res.text);
  });

  it('shows the trap counters of the session hash, every known reason with 0 when none', async () => {
    const created = await http<{ id: string; traps: Record<string, number> }>(api, 'POST', '/sessions', { seeds: ['http://127.0.0.1:9/'] }, auth);
    assert.deepEqual(created.body.traps, { url_length: 0, path_depth: 0, repeated_segments: 0, query_params: 0, host_pages: 0 });
    const redis = new Redis(REDIS_URL);
    try {
      await redis.hset(redisKeys(ns).session(created.body.id).session, { 'trap:path_depth': 3, 'trap:host_pages': 12, 'trap:calendar': 1 });
    } finally {
      redis.disconnect();
    }
    const got = await http<{ traps: Record<string, number> }>(api, 'GET', `/sessions/${created.body.id}`, undefined, auth);
    assert.deepEqual(got.body.traps, { url_length: 0, path_depth: 3, repeated_segments: 0, query_params: 0, host_pages: 12, calendar: 1 });
    const listed = await http<{ sessions: { id: string; traps: Record<string, number> }[] }>(api, 'GET', '/sessions', undefined, auth);
    assert.equal(listed.body.sessions.find((x) => x.id === created.body.id)?.traps.path_depth, 3);
  });

  it('answers 404 for an unknown session and 413 for an oversized body', async () => {
    const nf = await http(api, 'GET', '/sessions/no-such-session', undefined, auth);
    assert.equal(nf.status, 404);
    assert.deepEqual(nf.body, { error: { code: 'not_found', message: 'session no-such-session not found' } });
    const big = { seeds: Array.from({ length: 200 }, (_, i) => `http://example.com/${i}/${'x'.repeat(20)}`) };
    assert.equal((await http(api, 'POST', '/sessions', big, auth)).status, 413);
  });
});

describe('controller API without fetch.allowedNetworks', function () {
  this.timeout(20_000);
  const ns = testNamespace('a');
  let svc: RunningService;
  let api: string;

  before(async () => {
    svc = await runService('controller', startController, {
      manageProcess: false,
      env: serviceEnv(ns, { CONTROLLER_PORT: '0', FETCH_ALLOWED_NETWORKS: '', LOG_LEVEL: 'silent' }),
    });
    api = svc.address;
  });

  after(async () => {
    await svc.stop();
    await cleanupNamespace(ns);
  });

  it('refuses a seed whose host name resolves to a forbidden address, naming the seed and the address', async () => {
    const addresses = (await dns.promises.lookup('localhost', { all: true })).map((a) => a.address);
    const forbidden = addresses.find((a) => !new AddressPolicy([]).permits(a));
    assert.ok(forbidden, `localhost resolves to ${addresses.join(', ')}`);
    const res = await http<{ error: { code: string; message: string } }>(api, 'POST', '/sessions', { seeds: ['http://127.0.0.1.nip.invalid/', 'http://localhost:8000/'] });
    assert.equal(res.status, 400, res.text);
    assert.deepEqual(res.body, { error: { code: 'validation', message: `body/seeds/1 resolves to a forbidden address (${forbidden}); see fetch.allowedNetworks` } });
    const sessions = await http<{ sessions: unknown[] }>(api, 'GET', '/sessions');
    assert.deepEqual(sessions.body.sessions, [], 'no session was created');
  });

  it('still refuses IP literals before any lookup', async () => {
    const res = await http<{ error: { message: string } }>(api, 'POST', '/sessions', { seeds: ['http://localhost/', 'http://2130706433/'] });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.message, 'body/seeds/1 points to a forbidden address (127.0.0.1); see fetch.allowedNetworks');
  });
});
