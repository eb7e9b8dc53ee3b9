/**
 * A session's headers and cookies on the wire: the cookie jar's RFC 6265 rules (domain, path,
 * secure, expiry, deletion, public suffixes) through tough-cookie, given cookies matched by the
 * same rules, the jar's cookie winning over a given one of the same name, nothing sent out of
 * the session's scope; and fetchPage asking at every hop, so a redirect to a host out of scope
 * carries neither (counted at a second local server).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchPage } from '../../../services/fetcher/http.js';
import { cookieField, MAX_JAR_COOKIES, RequestJar, type CookieJarStore } from '../../../shared/fetch/cookie-jar.js';
import { givenCookieMatches, SessionRequestState } from '../../../shared/fetch/request-state.js';
import { createGuardedAgent } from '../../../shared/net/agent.js';
import { AddressPolicy } from '../../../shared/net/ssrf.js';
import type { SessionSpec } from '../../../shared/tasks/types.js';
import { compileScope } from '../../../shared/url/scope.js';

/** A jar store in memory with the Redis store's contract (the Redis one has its integration test). */
class MemoryJarStore implements CookieJarStore {
  readonly data = new Map<string, Map<string, string>>();
  loads = 0;
  async load(id: string): Promise<Map<string, string>> {
    this.loads++;
    return new Map(this.data.get(id) ?? []);
  }
  async save(id: string, put: ReadonlyMap<string, string>, del: readonly string[]): Promise<void> {
    const m = this.data.get(id) ?? new Map<string, string>();
    for (const f of del) m.delete(f);
    for (const [f, v] of put) m.set(f, v);
    this.data.set(id, m);
  }
}

/** The cookie header a URL gets from a jar after these Set-Cookie lines from `from`. */
function jarAfter(from: string, lines: string[]): RequestJar {
  const first = new RequestJar(new Map());
  const { put } = first.receive(new URL(from), lines);
  return new RequestJar(put);
}
const names = (jar: RequestJar, url: string): string => jar.cookiesFor(new URL(url)).map((c) => `${c.name}=${c.value}`).join('; ');

describe('session request state', function () {
  this.timeout(20_000);

  describe('cookie jar rules (RFC 6265, tough-cookie)', () => {
    it('domain: host-only without Domain; Domain= covers the domain and its subdomains; a foreign or public-suffix Domain is refused', () => {
      const jar = jarAfter('http://www.a.test/', ['host=1', 'dom=2; Domain=a.test', 'foreign=3; Domain=b.test', 'suffix=4; Domain=com']);
      assert.equal(names(jar, 'http://www.a.test/'), 'host=1; dom=2');
      assert.equal(names(jar, 'http://a.test/'), 'dom=2');
      assert.equal(names(jar, 'http://x.www.a.test/'), 'dom=2');
      assert.equal(names(jar, 'http://b.test/'), '');
      const pub = jarAfter('http://shop.example.com/', ['s=1; Domain=com']);
      assert.equal(names(pub, 'http://other.com/'), '');
    });

    it('path: the default path is the directory of the URL; a cookie goes to its path and below, not to a sibling', () => {
      const jar = jarAfter('http://a.test/docs/page', ['dflt=1', 'root=2; Path=/', 'api=3; Path=/api']);
      assert.equal(names(jar, 'http://a.test/docs/other'), 'dflt=1; root=2');
      assert.equal(names(jar, 'http://a.test/api/v1'), 'api=3; root=2', 'longer paths first');
      assert.equal(names(jar, 'http://a.test/apix'), 'root=2');
      assert.equal(names(jar, 'http://a.test/'), 'root=2');
    });

    it('secure: a Secure cookie goes over https only, and an http response cannot set one', () => {
      const jar = jarAfter('https://a.test/', ['sec=1; Secure', 'plain=2']);
      assert.equal(names(jar, 'https://a.test/'), 'sec=1; plain=2');
      assert.equal(names(jar, 'http://a.test/'), 'plain=2');
      assert.equal(names(jarAfter('http://a.test/', ['sec=1; Secure']), 'https://a.test/'), '');
    });

    it('expiry: Max-Age and Expires end a cookie; Max-Age=0 deletes it; an expired stored cookie is removed at the next write', async () => {
      const jar = jarAfter('http://a.test/', ['short=1; Max-Age=1', 'long=2; Max-Age=3600', 'past=3; Expires=Thu, 01 Jan 1970 00:00:01 GMT']);
      assert.equal(names(jar, 'http://a.test/'), 'short=1; long=2');
      const first = new RequestJar(new Map());
      const stored = first.receive(new URL('http://a.test/'), ['short=1; Max-Age=1', 'long=2; Max-Age=3600']).put;
      // Deleting by Max-Age=0.
      const del = new RequestJar(stored).receive(new URL('http://a.test/'), ['long=; Max-Age=0']);
      assert.deepEqual(del.del, [cookieField({ domain: 'a.test', path: '/', key: 'long' })]);
      assert.equal(del.put.size, 0);
      await new Promise((r) => setTimeout(r, 1100));
      const later = new RequestJar(stored);
      assert.equal(names(later, 'http://a.test/'), 'long=2');
      assert.deepEqual(later.receive(new URL('http://a.test/'), ['x=1']).del, [cookieField({ domain: 'a.test', path: '/', key: 'short' })]);
    });

    it('keeps at most MAX_JAR_COOKIES, and replaces a cookie of the same name, domain and path in place', () => {
      const lines = Array.from({ length: MAX_JAR_COOKIES + 5 }, (_, i) => `c${i}=v`);
      const { put } = new RequestJar(new Map()).receive(new URL('http://a.test/'), lines);
      assert.equal(put.size, MAX_JAR_COOKIES);
      const again = new RequestJar(put).receive(new URL('http://a.test/'), ['c0=new', 'extra=1']);
      assert.deepEqual([...again.put.keys()], [cookieField({ domain: 'a.test', path: '/', key: 'c0' })]);
    });
  });

  describe('given cookies', () => {
    it('match by domain (and subdomains), path and secure; without a domain they go to every host', () => {
      const c = { name: 'n', value: 'v' };
      assert.equal(givenCookieMatches(c, new URL('http://any.test/x')), true);
      assert.equal(givenCookieMatches({ ...c, domain: 'a.test' }, new URL('http://www.a.test/')), true);
      assert.equal(givenCookieMatches({ ...c, domain: 'a.test' }, new URL('http://ba.test/')), false);
      assert.equal(givenCookieMatches({ ...c, path: '/p' }, new URL('http://a.test/p/q')), true);
      assert.equal(givenCookieMatches({ ...c, path: '/p' }, new URL('http://a.test/pq')), false);
      assert.equal(givenCookieMatches({ ...c, secure: true }, new URL('http://a.test/')), false);
      assert.equal(givenCookieMatches({ ...c, secure: true }, new URL('https://a.test/')), true);
      assert.equal(givenCookieMatches({ ...c, domain: '127.0.0.1' }, new URL('http://127.0.0.1:8080/')), true);
    });
  });

  describe('SessionRequestState', () => {
    const scope = compileScope({ allowedHosts: ['a.test', 'b.test:8080'], include: [], exclude: ['/private'] });
    const make = (spec: Pick<SessionSpec, 'headers' | 'cookies' | 'cookieJar'>, jar?: CookieJarStore): SessionRequestState =>
      new SessionRequestState({ sessionId: 's1', spec, inScope: (u) => scope.allows(u), jar });

    it('a session without headers, cookies or a jar adds nothing (no hop state at all)', () => {
      assert.equal(make({}).hop(), null);
    });

    it('sends the headers (names lower-cased) and cookies in scope only', async () => {
      const hop = make({ headers: { Authorization: 'Bearer t', 'Accept-Language': 'fr' }, cookies: [{ name: 'sid', value: 'abc' }, { name: 'p', value: '1', path: '/deep' }] }).hop();
      assert.ok(hop);
      assert.deepEqual(await hop.headersFor(new URL('http://a.test/')), { authorization: 'Bearer t', 'accept-language': 'fr', cookie: 'sid=abc' });
      assert.equal((await hop.headersFor(new URL('http://a.test/deep/x'))).cookie, 'sid=abc; p=1');
      assert.deepEqual(await hop.headersFor(new URL('http://evil.test/')), {}, 'another host');
      assert.deepEqual(await hop.headersFor(new URL('http://b.test:9090/')), {}, 'another port of an allowed host');
      assert.deepEqual(await hop.headersFor(new URL('http://a.test/private')), {}, 'an excluded URL');
    });

    it('the jar: what a response set is sent on the next request (every replica reads the store), a set cookie replaces a given one', async () => {
      const store = new MemoryJarStore();
      const state = make({ cookies: [{ name: 'sid', value: 'given' }, { name: 'lang', value: 'fr' }], cookieJar: true }, store);
      const first = state.hop();
      assert.ok(first);
      assert.equal((await first.headersFor(new URL('http://a.test/login'))).cookie, 'sid=given; lang=fr');
      await first.received(new URL('http://a.test/login'), ['sid=fromsite; Path=/; HttpOnly']);
      const second = make({ cookies: [{ name: 'sid', value: 'given' }, { name: 'lang', value: 'fr' }], cookieJar: true }, store).hop();
      assert.ok(second);
      assert.equal((await second.headersFor(new URL('http://a.test/page'))).cookie, 'sid=fromsite; lang=fr');
      assert.equal(store.loads, 2, 'one read per hop');
    });

    it('the jar keeps nothing from a response out of scope', async () => {
      const store = new MemoryJarStore();
      const hop = make({ cookieJar: true }, store).hop();
      assert.ok(hop);
      await hop.headersFor(new URL('http://evil.test/'));
      await hop.received(new URL('http://evil.test/'), ['x=1']);
      assert.equal(store.data.size, 0);
    });
  });

  describe('fetchPage: state asked at every hop', () => {
    let inScope: Server;
    let outside: Server;
    let origin: string;
    let other: string;
    const seenOutside: IncomingHttpHeaders[] = [];
    const seenInside: IncomingHttpHeaders[] = [];
    const policy = new AddressPolicy(['127.0.0.0/8']);
    const agent = createGuardedAgent(policy, 2000);
    const opts = { userAgent: 'crawlfleet-test', headersTimeoutMs: 2000, bodyIdleTimeoutMs: 2000, totalTimeoutMs: 10_000, maxBytes: 1 << 20, maxRedirects: 5 };

    before(async () => {
      outside = createServer((req, res) => {
        seenOutside.push(req.headers);
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>outside</html>');
      });
      await new Promise<void>((r) => outside.listen(0, '127.0.0.1', () => r()));
      other = `http://127.0.0.1:${(outside.address() as AddressInfo).port}`;
      inScope = createServer((req, res) => {
        seenInside.push(req.headers);
        if (req.url === '/login') return void res.writeHead(302, { location: '/home', 'set-cookie': 'sid=fromsite; Path=/' }).end();
        if (req.url === '/away') return void res.writeHead(302, { location: `${other}/landing` }).end();
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>in</html>');
      });
      await new Promise<void>((r) => inScope.listen(0, '127.0.0.1', () => r()));
      origin = `http://127.0.0.1:${(inScope.address() as AddressInfo).port}`;
    });

    after(async () => {
      await agent.close();
      await new Promise<void>((r) => inScope.close(() => r()));
      await new Promise<void>((r) => outside.close(() => r()));
    });

    function state(store: CookieJarStore): SessionRequestState {
      // Cookies ignore ports (RFC 6265), so both servers are "127.0.0.1" to the jar: the scope (host and port) is what keeps the second out.
      const scope = compileScope({ allowedHosts: [new URL(origin).host], include: [], exclude: [] });
      return new SessionRequestState({ sessionId: 's1', spec: { headers: { Authorization: 'Bearer in-scope-only' }, cookies: [{ name: 'given', value: 'g' }], cookieJar: true }, inScope: (u) => scope.allows(u), jar: store });
    }

    it('a cookie set on a redirect is sent on the next hop', async () => {
      seenInside.length = 0;
      const hop = state(new MemoryJarStore()).hop() ?? undefined;
      const res = await fetchPage(`${origin}/login`, agent, policy, { ...opts, requestState: hop });
      assert.equal(res.status, 200);
      assert.equal(seenInside.length, 2);
      assert.equal(seenInside[0]?.cookie, 'given=g');
      assert.equal(seenInside[1]?.cookie, 'sid=fromsite; given=g');
      assert.equal(seenInside[1]?.authorization, 'Bearer in-scope-only');
      assert.equal(seenInside[1]?.['user-agent'], 'crawlfleet-test');
    });

    it('a redirect to a host out of scope (even followed) carries no header and no cookie', async () => {
      seenOutside.length = 0;
      seenInside.length = 0;
      const store = new MemoryJarStore();
      await store.save('s1', new RequestJar(new Map()).receive(new URL(origin), ['jar=1']).put, []);
      const hop = state(store).hop() ?? undefined;
      // allowRedirect lets it through here, to prove the hop check on its own; the fetcher refuses such a redirect as well.
      const res = await fetchPage(`${origin}/away`, agent, policy, { ...opts, requestState: hop, allowRedirect: () => true });
      assert.equal(res.status, 200);
      assert.equal(seenInside[0]?.authorization, 'Bearer in-scope-only');
      assert.equal(seenInside[0]?.cookie, 'jar=1; given=g');
      assert.equal(seenOutside.length, 1);
      assert.equal(seenOutside[0]?.authorization, undefined);
      assert.equal(seenOutside[0]?.cookie, undefined);
    });
  });
});
