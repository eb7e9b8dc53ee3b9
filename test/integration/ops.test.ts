/**
 * The controller's security and operations surface, in-process against the real broker
 * and Redis: signed webhooks checked by a receiver, the token on mutations and on the
 * dashboard (bearer, cookie login), body limit, strict bodies and query strings on every
 * route, the OpenAPI document (valid, complete), the per-token/per-address rate limit,
 * /stats and the sampled gauges, request ids.
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, get, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { FastifyInstance } from 'fastify';
import { Agent } from 'undici';
import { sendWebhook } from '../../services/delivery/handover.js';
import { buildApi, createController, startController } from '../../services/controller/index.js';
import { registeredRoutes } from '../../services/controller/openapi.js';
import { RETRY_DELAYS_MS, topology } from '../../shared/messaging/topology.js';
import { parseExposition, samplesOf, sumSamples } from '../../shared/observability/exposition.js';
import { queueLabel } from '../../shared/observability/queues.js';
import { runService, type RunningService } from '../../shared/service/runtime.js';
import { cleanupNamespace, http, serviceEnv, testNamespace, waitFor } from '../support/stack.js';

interface ErrorBody {
  error: { code: string; message: string };
}

/** What a webhook receiver does: recompute the HMAC of "<timestamp>.<raw body>" and compare in constant time. */
function verifyWebhook(secret: string, headers: IncomingHttpHeaders, rawBody: string, now = Date.now(), toleranceMs = 5 * 60_000): boolean {
  const ts = headers['x-crawlfleet-timestamp'];
  const sig = headers['x-crawlfleet-signature'];
  if (typeof ts !== 'string' || typeof sig !== 'string' || !sig.startsWith('sha256=')) return false;
  if (!/^\d+$/.test(ts) || Math.abs(now - Number(ts)) > toleranceMs) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${ts}.${rawBody}`).digest('hex'), 'hex');
  const presented = Buffer.from(sig.slice('sha256='.length), 'hex');
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

/** The status of a GET sent from another loopback address (Linux routes all of 127/8 to lo). */
function statusFrom(localAddress: string, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { localAddress }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

describe('controller security and operations', function () {
  this.timeout(30_000);
  const ns = testNamespace('o');
  const TOKEN = 'ops-test-token-0123456789abcdef';
  const auth = { authorization: `Bearer ${TOKEN}` };
  let svc: RunningService;
  let limited: RunningService;
  let api: string;
  let introspect: FastifyInstance;

  before(async () => {
    const env = serviceEnv(ns, { CONTROLLER_PORT: '0', API_TOKEN: TOKEN, API_BODY_LIMIT_BYTES: '4096', LOG_LEVEL: 'silent' });
    svc = await runService('controller', startController, { manageProcess: false, env });
    limited = await runService('controller', createController({ rateLimitPerMinute: 5 }), { manageProcess: false, env });
    api = svc.address;
    // A second, non-listening instance of the same API, to list the routes fastify registered.
    introspect = await buildApi(svc.ctx);
    await introspect.ready();
  });

  after(async () => {
    await introspect?.close();
    await limited?.stop();
    await svc?.stop();
    await cleanupNamespace(ns);
  });

  describe('webhooks', () => {
    let receiver: Server;
    const received: { headers: IncomingHttpHeaders; body: string }[] = [];

    before(async () => {
      receiver = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    });
    after(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

    it('are signed: the receiver verifies the HMAC of a real webhook, and a tampered one fails', async () => {
      const secret = 'whsec-0123456789';
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const dispatcher = new Agent();
      try {
        await sendWebhook(url, { event: 'session.completed', session: { id: 'abc', status: 'completed' }, note: 'ünïcödé' }, { secret, timeoutMs: 5000, dispatcher, attempts: 1 });
      } finally {
        await dispatcher.close();
      }
      assert.equal(received.length, 1);
      const { headers, body } = received[0] as { headers: IncomingHttpHeaders; body: string };
      assert.equal(headers['content-type'], 'application/json');
      assert.match(String(headers['x-crawlfleet-signature']), /^sha256=[0-9a-f]{64}$/);
      assert.deepEqual(JSON.parse(body), { event: 'session.completed', session: { id: 'abc', status: 'completed' }, note: 'ünïcödé' });
      assert.equal(verifyWebhook(secret, headers, body), true, 'signature verifies');
      assert.equal(verifyWebhook('another-secret', headers, body), false, 'wrong secret');
      assert.equal(verifyWebhook(secret, headers, body.replace('completed', 'cancelled')), false, 'tampered body');
      assert.equal(verifyWebhook(secret, { ...headers, 'x-crawlfleet-timestamp': String(Number(headers['x-crawlfleet-timestamp']) + 1) }, body), false, 'tampered timestamp');
      assert.equal(verifyWebhook(secret, headers, body, Date.now() + 10 * 60_000), false, 'replayed too late');
    });
  });

  describe('dashboard (bull-board at /admin/queues)', () => {
    it('refuses a missing or wrong token, a wrong cookie, and guards its static assets and API', async () => {
      for (const [path, headers] of [
        ['/admin/queues', {}],
        ['/admin/queues/', { authorization: 'Bearer wrong' }],
        ['/admin/queues?token=wrong', {}],
        ['/admin/queues', { cookie: 'crawlfleet_dashboard=forged' }],
        ['/admin/queues/static/favicon-32x32.png', {}],
        ['/admin/queues/api/queues', {}],
        ['/admin/queues/api/queues/pause', {}],
      ] as [string, Record<string, string>][]) {
        const method = path.endsWith('/pause') ? 'PUT' : 'GET';
        const res = await fetch(`${api}${path}`, { method, headers, redirect: 'manual' });
        assert.equal(res.status, 401, `${method} ${path}`);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="crawlfleet"');
        assert.deepEqual(await res.json(), { error: { code: 'unauthorized', message: 'missing or wrong bearer token' } });
      }
    });

    it('opens with the bearer token, or with the HttpOnly cookie that ?token= sets once', async () => {
      const bearer = await fetch(`${api}/admin/queues`, { headers: auth });
      assert.equal(bearer.status, 200);
      assert.match(await bearer.text(), /<title>crawlfleet control plane<\/title>/);

      const login = await fetch(`${api}/admin/queues?token=${encodeURIComponent(TOKEN)}&x=1`, { redirect: 'manual' });
      assert.equal(login.status, 303);
      assert.equal(login.headers.get('location'), '/admin/queues?x=1', 'redirects to the address without the token');
      const setCookie = login.headers.get('set-cookie') ?? '';
      assert.match(setCookie, /^crawlfleet_dashboard=[\w-]+; Path=\/admin\/queues; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
      assert.ok(!setCookie.includes(TOKEN), 'the cookie is not the token');
      const cookie = { cookie: setCookie.split(';')[0] as string };

      const page = await fetch(`${api}/admin/queues`, { headers: cookie });
      assert.equal(page.status, 200);
      const html = await page.text();
      const script = /src="(static\/js\/[^"]+\.js)"/.exec(html)?.[1];
      assert.ok(script, 'the page loads a script from static/');
      assert.equal((await fetch(`${api}/admin/queues/${script}`, { headers: cookie })).status, 200);
      assert.equal((await fetch(`${api}/admin/queues/${script}`)).status, 401);

      const queues = await http<{ queues: { name: string }[] }>(api, 'GET', '/admin/queues/api/queues', undefined, cookie);
      assert.equal(queues.status, 200);
      assert.deepEqual(queues.body.queues.map((q) => q.name).sort(), [`${ns}.schedules`, `${ns}.sweeps`, `${ns}.webhooks`]);

      assert.equal((await http(api, 'GET', '/sessions', undefined, cookie)).status, 401, 'the cookie opens the dashboard only');
    });
  });

  it('refuses every mutation without the right token (401) and accepts the right one', async () => {
    const created = await http<{ id: string }>(api, 'POST', '/sessions', { seeds: ['http://127.0.0.1:9/'] }, auth);
    assert.equal(created.status, 201, created.text);
    const mutations: [string, string, unknown, number][] = [
      ['POST', '/sessions', { seeds: ['http://127.0.0.1:9/'] }, 201],
      ['DELETE', `/sessions/${created.body.id}`, undefined, 200],
      ['PATCH', '/config', { 'fetch.concurrency': 5 }, 200],
      ['POST', '/config/rollback', { version: 0 }, 200],
    ];
    for (const [method, path, body, ok] of mutations) {
      const missing = await http<ErrorBody>(api, method, path, body);
      assert.equal(missing.status, 401, `${method} ${path} without a token`);
      assert.equal(missing.body.error.code, 'unauthorized');
      assert.equal((await http(api, method, path, body, { authorization: 'Bearer wrong' })).status, 401, `${method} ${path} with a wrong token`);
      assert.equal((await http(api, method, path, body, { authorization: `Bearer ${TOKEN}x` })).status, 401, `${method} ${path} with a longer token`);
      assert.equal((await http(api, method, path, body, { authorization: TOKEN })).status, 401, `${method} ${path} without the Bearer scheme`);
      const accepted = await http(api, method, path, body, auth);
      assert.equal(accepted.status, ok, `${method} ${path} with the token: ${accepted.text}`);
    }
  });

  it('answers 413 for a body over api.bodyLimitBytes on every route with a body', async () => {
    const big = 'x'.repeat(5000);
    for (const [method, path, body] of [
      ['POST', '/sessions', { seeds: [`http://example.com/${big}`] }],
      ['PATCH', '/config', { 'fetch.userAgent': big }],
      ['POST', '/config/rollback', { version: 0, pad: big }],
    ] as [string, string, unknown][]) {
      const res = await http<ErrorBody>(api, method, path, body, auth);
      assert.equal(res.status, 413, `${method} ${path}`);
      assert.equal(res.body.error.code, 'validation');
    }
  });

  it('answers 400 for unknown properties in bodies', async () => {
    for (const [method, path, body, message] of [
      ['POST', '/sessions', { seeds: ['http://a/'], bogus: 1 }, 'body must NOT have additional properties (bogus)'],
      ['POST', '/config/rollback', { version: 0, bogus: 1 }, 'body must NOT have additional properties (bogus)'],
      ['PATCH', '/config', { 'no.such.setting': 1 }, 'no.such.setting'],
    ] as [string, string, unknown, string][]) {
      const res = await http<ErrorBody>(api, method, path, body, auth);
      assert.equal(res.status, 400, `${method} ${path}: ${res.text}`);
      assert.ok(res.body.error.message.includes(message), `${res.body.error.message} mentions ${message}`);
    }
  });

  it('answers 400 for an unknown query parameter on every route', async () => {
    const validBodies: Record<string, unknown> = {
      'POST /sessions': { seeds: ['http://127.0.0.1:9/'] },
      'PATCH /config': { 'fetch.concurrency': 5 },
      'POST /config/rollback': { version: 0 },
      'POST /schedules': { every: '1h', session: { seeds: ['http://127.0.0.1:9/'] } },
    };
    const validQueries: Record<string, string> = { 'GET /sessions/:id/page': 'url=http%3A%2F%2Fsite.test%2F&', 'GET /urls': 'url=http%3A%2F%2Fsite.test%2F&' };
    const routes = registeredRoutes(introspect).filter((r) => !r.hidden && r.method !== 'HEAD');
    assert.ok(routes.length >= 15);
    for (const r of routes) {
      const path = r.url.replace(':id', 'no-such-session').replace(':key', 'log.level');
      const required = validQueries[`${r.method} ${r.url}`] ?? '';
      const res = await http<ErrorBody>(api, r.method, `${path}?${required}bogus=1`, validBodies[`${r.method} ${r.url}`], auth);
      assert.equal(res.status, 400, `${r.method} ${r.url}?bogus=1: ${res.text}`);
      assert.deepEqual(res.body.error, { code: 'validation', message: 'querystring must NOT have additional properties (bogus)' }, `${r.method} ${r.url}`);
    }
  });

  it('serves /openapi.json without a token: valid OpenAPI 3, listing every route', async () => {
    const res = await http<{ openapi: string; paths: Record<string, Record<string, { security?: unknown[]; tags?: string[]; summary?: string; responses: Record<string, unknown> }>> }>(api, 'GET', '/openapi.json');
    assert.equal(res.status, 200);
    const doc = res.body;
    const validation = await new Validator().validate(doc as never);
    assert.deepEqual(validation.errors ?? [], [], 'no schema errors');
    assert.equal(validation.valid, true);
    assert.match(doc.openapi, /^3\.0\./);

    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
    const all = registeredRoutes(introspect).filter((r) => r.method !== 'HEAD');
    const registered = all.filter((r) => !r.hidden).map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`).sort();
    assert.deepEqual(documented, registered, 'the document lists exactly the registered routes');
    for (const r of all.filter((x) => x.hidden)) assert.match(r.url, /^(\/admin\/queues(\/|$)|\/$|\/console(\/|$))/, `only the dashboard's and the console's own routes are hidden (${r.url})`);
    for (const must of ['POST /sessions', 'GET /sessions/{id}/results', 'PATCH /config', 'GET /stats', 'GET /openapi.json', 'GET /metrics']) {
      assert.ok(documented.includes(must), `${must} documented`);
    }
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        assert.ok(!op.tags?.includes('undocumented'), `${method} ${path} has an entry in ROUTE_DOCS (services/controller/openapi.ts)`);
        assert.ok(op.summary, `${method} ${path} has a summary`);
        const open = ['/healthz', '/readyz', '/metrics', '/openapi.json'].includes(path);
        if (open) assert.deepEqual(op.security, [], `${method} ${path} is open`);
        else assert.ok(op.responses['401'] && op.responses['429'], `${method} ${path} documents 401 and 429`);
      }
    }
  });

  it('limits requests per token and per client address: 429 with Retry-After, probes exempt', async () => {
    const base = limited.address;
    for (let i = 0; i < 5; i++) assert.equal((await http(base, 'GET', '/sessions', undefined, auth)).status, 200, `request ${i + 1} of 5`);
    const over = await fetch(`${base}/sessions`, { headers: auth });
    assert.equal(over.status, 429);
    const retryAfter = Number(over.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 12, `Retry-After ${retryAfter}`);
    const body = (await over.json()) as ErrorBody;
    assert.equal(body.error.code, 'http_rate_limited');
    assert.match(body.error.message, /rate limit of 5 requests per minute exceeded; retry after \d+ s/);

    // Requests without the token count against the client address, not the token.
    for (let i = 0; i < 5; i++) assert.equal((await http(base, 'GET', '/sessions')).status, 401);
    assert.equal((await http(base, 'GET', '/sessions')).status, 429, 'the address is over its limit too');
    assert.equal(await statusFrom('127.0.0.2', `${base}/sessions`), 401, 'another address has its own bucket');
    for (let i = 0; i < 10; i++) assert.equal((await http(base, 'GET', '/healthz')).status, 200, 'probes are not limited');
    const metrics = parseExposition((await http(base, 'GET', '/metrics')).text);
    assert.ok(sumSamples(metrics, 'crawlfleet_http_rate_limited_total') >= 2);
    assert.ok(sumSamples(metrics, 'crawlfleet_http_requests_total', { route: '/sessions', status_code: '429' }) >= 2);
  });

  it('serves /stats (work queues, sessions, control queues) and samples the queue and session gauges', async () => {
    assert.equal((await http(api, 'GET', '/stats')).status, 401);
    await http(api, 'POST', '/sessions', { seeds: ['http://127.0.0.1:9/stats'] }, auth);
    const posted = Date.now();
    interface Stats {
      sampledAt: string;
      queues: Record<'fetch' | 'extract' | 'deliver' | 'dead', { name: string; ready: number; consumers: number }> & { retry: { ready: number; queues: { name: string; delayMs: number }[] }; other: unknown[] };
      sessions: Record<string, number>;
      controlQueues: { name: string; counts: Record<string, number> }[];
    }
    const stats = await waitFor(async () => {
      const res = await http<Stats>(api, 'GET', '/stats', undefined, auth);
      assert.equal(res.status, 200, res.text);
      // samples up to 1 s old are served: wait for queues and sessions sampled after the seed was published
      return Date.parse(res.body.sampledAt) > posted && (res.body.sessions.running ?? 0) >= 1 ? res.body : null;
    }, { timeoutMs: 5000, intervalMs: 200, what: '/stats to sample the queues and sessions after the seed was published' });
    assert.equal(stats.queues.fetch.name, topology(ns).queue('fetch'));
    assert.ok(stats.queues.fetch.ready >= 1, 'the seeds wait in the fetch queue (no fetcher runs)');
    assert.equal(stats.queues.fetch.consumers, 0);
    for (const q of ['extract', 'deliver'] as const) assert.equal(stats.queues[q].name, topology(ns).queue(q));
    assert.equal(stats.queues.dead.name, topology(ns).dead);
    assert.deepEqual(stats.queues.other, [], 'every queue of the topology has its place');
    const topo = topology(ns);
    assert.equal(stats.queues.retry.queues.length, RETRY_DELAYS_MS.length);
    assert.deepEqual(stats.queues.retry.queues.map((q) => q.delayMs), [...RETRY_DELAYS_MS]);
    assert.deepEqual(stats.queues.retry.queues.map((q) => q.name), RETRY_DELAYS_MS.map((d) => topo.delayQueue(d)));
    assert.equal(stats.sessions.total, Object.entries(stats.sessions).filter(([k]) => k !== 'total').reduce((n, [, v]) => n + v, 0));
    assert.deepEqual(stats.controlQueues.map((q) => q.name).sort(), [`${ns}.schedules`, `${ns}.sweeps`, `${ns}.webhooks`]);

    const exp = await waitFor(async () => {
      const e = parseExposition((await http(api, 'GET', '/metrics')).text);
      return sumSamples(e, 'crawlfleet_sessions', { status: 'running' }) >= 1 ? e : null;
    }, { timeoutMs: 20_000, intervalMs: 500, what: 'the session gauge to be sampled' });
    assert.ok(sumSamples(exp, 'crawlfleet_queue_depth', { queue: 'fetch' }) >= 1);
    assert.deepEqual(samplesOf(exp, 'crawlfleet_queue_consumers').map((s) => s.labels.queue).sort(), topo.allQueues.map((q) => queueLabel(topo, q)).sort(), 'one series per queue of the namespace');
    assert.ok(samplesOf(exp, 'crawlfleet_queue_consumers').every((s) => !(s.labels.queue ?? '').startsWith(ns)), 'labels carry no namespace');
  });

  it('echoes a sane X-Request-Id and makes one up otherwise', async () => {
    const given = await fetch(`${api}/healthz`, { headers: { 'x-request-id': 'req-42.a:b' } });
    assert.equal(given.headers.get('x-request-id'), 'req-42.a:b');
    const insane = await fetch(`${api}/healthz`, { headers: { 'x-request-id': 'a b<script>' } });
    assert.match(insane.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const refused = await fetch(`${api}/sessions`);
    assert.match(refused.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, 'refusals carry one too');
  });
});
