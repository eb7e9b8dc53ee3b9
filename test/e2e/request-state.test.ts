/**
 * Request state end to end (five services as real processes, two fetchers): a local site that
 * answers 401 without a given header AND a given cookie, whose home page sets a cookie that
 * every other page requires (the jar, read by both fetchers from Redis), is crawled whole with
 * the session's User-Agent. No secret value appears in any API answer, captured log line (debug
 * level), results row or file, or webhook payload; robots.txt and a second local server that a
 * page redirects to (out of scope) never see the header or a cookie. The jar's key expires with
 * the session and leaves with a purge.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { redisKeys } from '../../shared/redis/keys.js';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { checkInvariants, waitFinished } from '../support/oracle.js';
import { http, REDIS_URL, startTestStack, waitFor, type TestStack } from '../support/stack.js';

const API_KEY = 'key-7f3a9c1e5b2d8046';
const GIVEN_COOKIE = 'given-c0ffee4242abcd';
const JAR_COOKIE = 'jar-d00dfeed1234beef';
const SECRETS = [API_KEY, GIVEN_COOKIE, JAR_COOKIE];
const USER_AGENT = 'ReqStateBot/1.0 (+http://127.0.0.1/bot)';

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; origin: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function cookiesOf(h: IncomingHttpHeaders): Map<string, string> {
  return new Map((h.cookie ?? '').split(/;\s*/).filter((p) => p.includes('=')).map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
}

/** Every place a secret shows in this text, for the failure message. */
function leaks(text: string): string[] {
  return SECRETS.filter((s) => text.includes(s));
}

describe('session request state: headers, cookies, a jar, a userAgent (five processes)', function () {
  this.timeout(300_000);
  let site: { server: Server; origin: string };
  let other: { server: Server; origin: string };
  let hooks: { server: Server; origin: string };
  let stack: TestStack;
  let redis: Redis;
  const seen: { path: string; headers: IncomingHttpHeaders; status: number }[] = [];
  const seenOther: IncomingHttpHeaders[] = [];
  const hookBodies: string[] = [];

  before(async () => {
    other = await listen((req, res) => {
      seenOther.push(req.headers);
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>elsewhere</body></html>');
    });
    site = await listen((req, res) => {
      const path = req.url ?? '/';
      const answer = (status: number, headers: Record<string, string | string[]>, body = ''): void => {
        seen.push({ path, headers: req.headers, status });
        res.writeHead(status, headers).end(body);
      };
      if (path === '/robots.txt') return answer(404, { 'content-type': 'text/plain' });
      const cookies = cookiesOf(req.headers);
      if (req.headers['x-api-key'] !== API_KEY || cookies.get('given') !== GIVEN_COOKIE) return answer(401, { 'content-type': 'text/plain' }, 'who are you?');
      const html = (links: string[]): string => `<html><head><title>${path}</title></head><body>${links.map((l) => `<a href="${l}">${l}</a>`).join(' ')}</body></html>`;
      if (path === '/') return answer(200, { 'content-type': 'text/html', 'set-cookie': [`session=${JAR_COOKIE}; Path=/; HttpOnly`, 'theme=dark; Path=/; Max-Age=3600'] }, html(['/a', '/b', '/c', '/away']));
      // Every other page wants the cookie the home page set.
      if (cookies.get('session') !== JAR_COOKIE) return answer(401, { 'content-type': 'text/plain' }, 'log in first');
      if (path === '/away') return answer(302, { location: `${other.origin}/landing` });
      if (path === '/a') return answer(200, { 'content-type': 'text/html' }, html(['/d', '/']));
      if (['/b', '/c', '/d'].includes(path)) return answer(200, { 'content-type': 'text/html' }, html(['/']));
      return answer(404, { 'content-type': 'text/plain' });
    });
    hooks = await listen((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      req.on('end', () => {
        hookBodies.push(raw);
        res.writeHead(204).end();
      });
    });
    // The machine may be loaded: the processes get time to start.
    stack = await startTestStack({ fetchers: 2, env: { LOG_LEVEL: 'debug', RETRY_MAX_ATTEMPTS: '1' }, readyTimeoutMs: 150_000 });
    redis = new Redis(REDIS_URL);
  });

  after(async () => {
    redis?.disconnect();
    await stack?.stop();
    for (const s of [site, other, hooks]) if (s) await new Promise<void>((r) => s.server.close(() => r()));
  });

  it('refuses a hop-by-hop header and a value with CR/LF with a 400 naming the header, never the value', async () => {
    const hop = await http<{ message: string }>(stack.api, 'POST', '/sessions', { seeds: [`${site.origin}/`], headers: { 'Transfer-Encoding': 'chunked' } });
    assert.equal(hop.status, 400, hop.text);
    assert.match(hop.text, /body\/headers\/Transfer-Encoding is a hop-by-hop header/);
    const crlf = await http(stack.api, 'POST', '/sessions', { seeds: [`${site.origin}/`], headers: { 'X-Api-Key': `${API_KEY}\r\nX-Injected: 1` } });
    assert.equal(crlf.status, 400, crlf.text);
    assert.match(crlf.text, /body\/headers\/X-Api-Key must not contain control characters/);
    assert.deepEqual(leaks(crlf.text), []);
    const cookie = await http(stack.api, 'POST', '/sessions', { seeds: [`${site.origin}/`], cookies: [{ name: 'given', value: `${GIVEN_COOKIE};x` }] });
    assert.equal(cookie.status, 400, cookie.text);
    assert.match(cookie.text, /body\/cookies\/0\/value/);
    assert.deepEqual(leaks(cookie.text), []);
  });

  it('crawls the site whole with them, sends them nowhere else, and shows no value anywhere', async () => {
    const body = {
      seeds: [`${site.origin}/`],
      maxDepth: 3,
      formats: ['headers', 'markdown'],
      headers: { 'X-Api-Key': API_KEY, 'Accept-Language': 'fr-FR' },
      cookies: [{ name: 'given', value: GIVEN_COOKIE }],
      cookieJar: true,
      userAgent: USER_AGENT,
      webhook: `${hooks.origin}/hook`,
    };
    const created = await http<{ id: string; spec: { headers: Record<string, string>; cookies: { name: string; value: string }[] } }>(stack.api, 'POST', '/sessions', body);
    assert.equal(created.status, 201, created.text);
    const id = created.body.id;
    assert.deepEqual(created.body.spec.headers, { 'X-Api-Key': '***', 'Accept-Language': '***' });
    assert.deepEqual(created.body.spec.cookies, [{ name: 'given', value: '***' }]);

    const done = await waitFinished(stack.api, id, 180_000);
    assert.equal(done.status, 'completed');
    const pages = ['/', '/a', '/b', '/c', '/d'].map((p) => `${site.origin}${p}`);
    await checkInvariants(stack.api, stack.ns, id, new Set([...pages, `${site.origin}/away`]));

    const res = await http(stack.api, 'GET', `/sessions/${id}/results`);
    const records = res.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord);
    const byUrl = new Map(records.map((r) => [r.url, r]));
    for (const url of pages) assert.deepEqual([byUrl.get(url)?.outcome, byUrl.get(url)?.status], ['delivered', 200], `${url}: ${JSON.stringify(byUrl.get(url))}`);
    assert.deepEqual([byUrl.get(`${site.origin}/away`)?.outcome, byUrl.get(`${site.origin}/away`)?.reason], ['skipped', 'out_of_scope']);

    // The site: never a 401 on a page, the session's User-Agent, the header and both cookies on every page request.
    const pageHits = seen.filter((s) => s.path !== '/robots.txt');
    assert.deepEqual(pageHits.filter((s) => s.status === 401).map((s) => s.path), [], 'no page answered 401');
    for (const hit of pageHits) {
      assert.equal(hit.headers['user-agent'], USER_AGENT, hit.path);
      assert.equal(hit.headers['accept-language'], 'fr-FR', hit.path);
      if (hit.path !== '/') assert.equal(cookiesOf(hit.headers).get('session'), JAR_COOKIE, `${hit.path} got the jar's cookie`);
    }
    // robots.txt (the cluster's robots cache, shared by sessions): the crawler's own User-Agent, no header, no cookie.
    const robots = seen.filter((s) => s.path === '/robots.txt');
    assert.ok(robots.length >= 1, 'robots.txt was read');
    for (const r of robots) {
      assert.equal(r.headers['x-api-key'], undefined);
      assert.equal(r.headers.cookie, undefined);
      assert.notEqual(r.headers['user-agent'], USER_AGENT);
    }
    // The out-of-scope server: never reached with the session's state (the redirect is refused).
    assert.equal(seenOther.filter((h) => h['x-api-key'] !== undefined || h.cookie !== undefined).length, 0, 'no header or cookie out of scope');

    // The jar lives in Redis under the session's tag, with an expiry.
    const jarKey = redisKeys(stack.ns).session(id).cookies;
    assert.equal(await redis.exists(jarKey), 1);
    assert.ok((await redis.pttl(jarKey)) > 0, 'the jar expires');

    // No value in any API answer.
    const answers = [created.text, res.text];
    for (const path of [`/sessions/${id}`, '/sessions', `/sessions/${id}/page?url=${encodeURIComponent(`${site.origin}/`)}`]) {
      const r = await http(stack.api, 'GET', path);
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      answers.push(r.text);
    }
    for (const text of answers) assert.deepEqual(leaks(text), [], `an API answer: ${text.slice(0, 500)}`);
    // Nor in a results row or file (the results file and the SQLite store live in the results directory).
    for (const name of readdirSync(stack.resultsDir, { recursive: true }) as string[]) {
      let bytes: string;
      try {
        bytes = readFileSync(join(stack.resultsDir, name)).toString('latin1');
      } catch {
        continue;
      }
      assert.deepEqual(leaks(bytes), [], `results file ${name}`);
    }
    // Nor in the webhook payload.
    await waitFor(async () => hookBodies.length > 0, { timeoutMs: 20_000, what: 'the session.completed webhook' });
    for (const b of hookBodies) assert.deepEqual(leaks(b), [], `webhook ${b.slice(0, 300)}`);
    assert.match(hookBodies[0] as string, /"X-Api-Key":"\*\*\*"/);
    // Nor in any log line of the five services (debug level).
    assert.ok(stack.logs.length > 0, 'log lines were captured');
    const leaked = stack.logs.filter((l) => leaks(l).length > 0);
    assert.deepEqual(leaked, [], 'log lines with a secret');

    // A purge takes the jar with the session's other keys.
    const purged = await http<{ purged: boolean }>(stack.api, 'DELETE', `/sessions/${id}?purge=true`);
    assert.equal(purged.status, 200, purged.text);
    assert.equal(await redis.exists(jarKey), 0);
  });

  it('a session without its header gets 401s: the site does check (this test can fail)', async () => {
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [`${site.origin}/`], cookies: [{ name: 'given', value: GIVEN_COOKIE }], maxDepth: 1 });
    assert.equal(created.status, 201, created.text);
    await waitFinished(stack.api, created.body.id, 120_000);
    const page = await http<ResultRecord>(stack.api, 'GET', `/sessions/${created.body.id}/page?url=${encodeURIComponent(`${site.origin}/`)}`);
    assert.deepEqual([page.body.outcome, page.body.status, page.body.reason], ['failed', 401, 'http_client_error']);
    const purged = await http(stack.api, 'DELETE', `/sessions/${created.body.id}?purge=true`);
    assert.equal(purged.status, 200, purged.text);
  });
});
