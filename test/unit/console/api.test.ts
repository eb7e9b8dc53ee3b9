/**
 * The console's API client (console/src/lib/api.ts) against a recording fetch: the token
 * only in the Authorization header, JSON bodies, the API's refusals as ApiErrors naming their
 * field, NDJSON pages with their cursor, and 401 reported to the login form.
 */
import assert from 'node:assert/strict';
import { ApiClient, ApiError, errorOf, fieldOfMessage, parseNdjson, type HttpAnswer, type HttpCall } from '../../../console/src/lib/api.js';

interface Recorded {
  url: string;
  init: HttpCall;
}

function fakeFetch(answer: (url: string, init: HttpCall) => { status: number; body: string; headers?: Record<string, string> }): { calls: Recorded[]; fetch: (url: string, init: HttpCall) => Promise<HttpAnswer> } {
  const calls: Recorded[] = [];
  return {
    calls,
    fetch: async (url, init) => {
      calls.push({ url, init });
      const a = answer(url, init);
      const headers = new Map(Object.entries(a.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      return { status: a.status, headers: { get: (n: string) => headers.get(n.toLowerCase()) ?? null }, text: async () => a.body };
    },
  };
}

const refusal = (code: string, message: string): string => JSON.stringify({ error: { code, message } });

describe('console API client', () => {
  it('names the field of the API\'s messages', () => {
    const cases: [string, string | null][] = [
      ['body/maxPages must be <= 100000', 'maxPages'],
      ['body/seeds/0 must be an absolute http or https URL, got "x"', 'seeds'],
      ['body/fields/price is not a valid CSS selector: Unmatched selector', 'fields'],
      ['body/include/2 is not a valid regular expression', 'include'],
      ['body must NOT have additional properties (bogus)', 'bogus'],
      ["body must have required property 'seeds'", 'seeds'],
      ['querystring/limit must be <= 1000', 'limit'],
      ['rate.global: must be a number between 0 and 1000000, got -5', 'rate.global'],
      ['fetch.concurrency: not a live setting; set it in the environment or the config file and restart', 'fetch.concurrency'],
      ['missing or wrong bearer token', null],
      ['the change is empty', null],
    ];
    for (const [message, field] of cases) assert.equal(fieldOfMessage(message), field, message);
  });

  it('turns a refusal into an ApiError with status, code, message and field; text that is not JSON is the message', () => {
    const e = errorOf(400, refusal('validation', 'body/timeoutMs must be >= 1000'));
    assert.ok(e instanceof ApiError);
    assert.deepEqual([e.status, e.code, e.message, e.field], [400, 'validation', 'body/timeoutMs must be >= 1000', 'timeoutMs']);
    const plain = errorOf(502, 'Bad Gateway');
    assert.deepEqual([plain.status, plain.code, plain.message, plain.field], [502, 'http_error', 'Bad Gateway', null]);
    assert.equal(errorOf(500, '').message, 'HTTP 500');
  });

  it('parses NDJSON, skipping blank lines', () => {
    assert.deepEqual(parseNdjson('{"url":"a"}\n\n{"url":"b"}\n'), [{ url: 'a' }, { url: 'b' }]);
    assert.deepEqual(parseNdjson(''), []);
  });

  it('sends the token as a bearer header only, never in the URL; none when there is no token', async () => {
    let token: string | null = 's3cret-token';
    const f = fakeFetch(() => ({ status: 200, body: '{"sessions":[]}' }));
    const api = new ApiClient({ fetch: f.fetch, token: () => token, base: 'http://h:1' });
    await api.sessions(10);
    assert.equal(f.calls[0]?.url, 'http://h:1/sessions?limit=10');
    assert.equal(f.calls[0]?.init.headers.authorization, 'Bearer s3cret-token');
    assert.ok(!f.calls[0]?.url.includes('s3cret'));
    assert.equal(f.calls[0]?.init.body, undefined);
    assert.equal(f.calls[0]?.init.headers['content-type'], undefined);
    token = null;
    await api.sessions();
    assert.equal(f.calls[1]?.init.headers.authorization, undefined);
  });

  it('posts a crawl as JSON and throws the API\'s 400 with the field it names', async () => {
    const f = fakeFetch((_url, init) => (JSON.parse(init.body ?? '{}') as { maxPages?: number }).maxPages === 0
      ? { status: 400, body: refusal('validation', 'body/maxPages must be >= 1') }
      : { status: 201, body: JSON.stringify({ id: 'abc-1', status: 'running' }) });
    const api = new ApiClient({ fetch: f.fetch, token: () => 't' });
    const s = await api.createSession({ seeds: ['http://127.0.0.1/'], maxPages: 5 });
    assert.equal(s.id, 'abc-1');
    assert.equal(f.calls[0]?.init.method, 'POST');
    assert.equal(f.calls[0]?.init.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(f.calls[0]?.init.body ?? ''), { seeds: ['http://127.0.0.1/'], maxPages: 5 });
    await assert.rejects(api.createSession({ seeds: ['http://127.0.0.1/'], maxPages: 0 }), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.field, 'maxPages');
      assert.equal(err.status, 400);
      return true;
    });
  });

  it('reads a page of results with its fields and the next cursor', async () => {
    const f = fakeFetch(() => ({ status: 200, body: '{"url":"http://a/","title":"A"}\n', headers: { 'X-Next-Cursor': '42' } }));
    const api = new ApiClient({ fetch: f.fetch, token: () => 't' });
    const page = await api.results('s-1', { limit: 50, after: '7', fields: ['url', 'title'] });
    assert.equal(f.calls[0]?.url, '/sessions/s-1/results?limit=50&after=7&fields=url,title');
    assert.deepEqual(page, { records: [{ url: 'http://a/', title: 'A' }], next: '42' });
    const f2 = fakeFetch(() => ({ status: 200, body: '' }));
    assert.deepEqual(await new ApiClient({ fetch: f2.fetch, token: () => 't' }).results('s-1', { limit: 5 }), { records: [], next: null });
  });

  it('patches the config and rolls back with the API\'s paths and bodies; encodes URLs in queries', async () => {
    const f = fakeFetch(() => ({ status: 200, body: '{"version":3,"changes":[],"rollout":{"version":3,"replicas":0,"current":0,"behind":[]}}' }));
    const api = new ApiClient({ fetch: f.fetch, token: () => 't' });
    await api.patchConfig({ 'rate.global': 5 });
    await api.rollback(1);
    await api.page('s-1', 'http://a/?x=1&y=2');
    assert.deepEqual(f.calls.map((c) => `${c.init.method} ${c.url} ${c.init.body ?? ''}`), [
      'PATCH /config {"rate.global":5}',
      'POST /config/rollback {"version":1}',
      'GET /sessions/s-1/page?url=http%3A%2F%2Fa%2F%3Fx%3D1%26y%3D2 ',
    ]);
  });

  it('reports a 401 to the login form before throwing; probe answers the status without throwing', async () => {
    let unauthorized = 0;
    const f = fakeFetch((url) => (url.endsWith('/warc') ? { status: 404, body: refusal('not_found', 'no route') } : { status: 401, body: refusal('unauthorized', 'missing or wrong bearer token') }));
    const api = new ApiClient({ fetch: f.fetch, token: () => 'wrong', onUnauthorized: () => unauthorized++ });
    await assert.rejects(api.check(), (err: unknown) => err instanceof ApiError && err.code === 'unauthorized' && err.status === 401);
    assert.equal(unauthorized, 1);
    assert.equal(await api.probe('/sessions/s-1/warc'), 404);
    assert.equal(f.calls[1]?.init.method, 'HEAD');
  });
});
