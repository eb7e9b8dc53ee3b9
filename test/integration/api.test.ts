/**
 * The controller API in-process against the real broker and Redis: token auth, exact
 * validation messages naming the field, not found, body limit.
 */
import assert from 'node:assert/strict';
import { runService, type RunningService } from '../../shared/service/runtime.js';
import { startController } from '../../services/controller/index.js';
import { cleanupNamespace, http, serviceEnv, testNamespace } from '../support/stack.js';

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
      env: serviceEnv(ns, { CONTROLLER_PORT: '0', API_TOKEN: TOKEN, API_BODY_LIMIT_BYTES: '4096', FETCH_ALLOWED_NETWORKS: '127.0.0.0/8', LOG_LEVEL: 'silent' }),
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
  ];
  for (const [name, body, message] of cases) {
    it(`answers 400 naming the field: ${name}`, async () => {
      const res = await http<{ error: { code: string; message: string } }>(api, 'POST', '/sessions', body, auth);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.error.code, 'validation');
      assert.ok(res.body.error.message.startsWith(message), `${res.body.error.message} starts with ${message}`);
    });
  }

  it('answers 404 for an unknown session and 413 for an oversized body', async () => {
    const nf = await http(api, 'GET', '/sessions/no-such-session', undefined, auth);
    assert.equal(nf.status, 404);
    assert.deepEqual(nf.body, { error: { code: 'not_found', message: 'session no-such-session not found' } });
    const big = { seeds: Array.from({ length: 200 }, (_, i) => `http://example.com/${i}/${'x'.repeat(20)}`) };
    assert.equal((await http(api, 'POST', '/sessions', big, auth)).status, 413);
  });
});
