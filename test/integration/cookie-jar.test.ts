/**
 * The session cookie jar in the real Redis: two replicas (two clients, two request-state
 * objects) see each other's cookies at their next request; a deletion reaches both; the key
 * carries the session's hash tag and an expiry, and a session's key expiry (expireKeys) and
 * purge (deleteSessionKeys) take it along.
 */
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { deleteSessionKeys } from '../../services/controller/sessions.js';
import { RedisCookieJarStore } from '../../shared/fetch/cookie-jar.js';
import { SessionRequestState } from '../../shared/fetch/request-state.js';
import { SessionStore } from '../../shared/ledger/index.js';
import { createRedis } from '../../shared/redis/client.js';
import { redisKeys } from '../../shared/redis/keys.js';
import type { SessionSpec } from '../../shared/tasks/types.js';
import { compileScope } from '../../shared/url/scope.js';
import { REDIS_URL, cleanupNamespace, testNamespace } from '../support/stack.js';

describe('session cookie jar in Redis', function () {
  this.timeout(20_000);
  const ns = testNamespace('i');
  const keys = redisKeys(ns);
  let a: Redis;
  let b: Redis;

  before(() => {
    a = createRedis(REDIS_URL, { name: `${ns}:a` });
    b = createRedis(REDIS_URL, { name: `${ns}:b` });
  });

  after(async () => {
    a?.disconnect();
    b?.disconnect();
    await cleanupNamespace(ns);
  });

  const scope = compileScope({ allowedHosts: ['a.test'], include: [], exclude: [] });
  const replica = (redis: Redis, id: string, ttlMs = 60_000): SessionRequestState =>
    new SessionRequestState({ sessionId: id, spec: { cookieJar: true }, inScope: (u) => scope.allows(u), jar: new RedisCookieJarStore(redis, keys), jarTtlMs: () => ttlMs });
  const cookieOn = async (state: SessionRequestState, url: string): Promise<string | undefined> => (await state.hop()?.headersFor(new URL(url)))?.cookie;

  it('what one replica keeps, another sends at its next request; a deletion reaches both', async () => {
    const id = 'jar-1';
    const one = replica(a, id);
    const two = replica(b, id);
    const hop = one.hop();
    assert.ok(hop);
    assert.equal((await hop.headersFor(new URL('http://a.test/login'))).cookie, undefined);
    await hop.received(new URL('http://a.test/login'), ['sid=abc; Path=/', 'pref=1; Path=/settings']);
    assert.equal(await cookieOn(two, 'http://a.test/page'), 'sid=abc');
    assert.equal(await cookieOn(two, 'http://a.test/settings/x'), 'pref=1; sid=abc');
    const del = two.hop();
    assert.ok(del);
    await del.headersFor(new URL('http://a.test/logout'));
    await del.received(new URL('http://a.test/logout'), ['sid=; Max-Age=0; Path=/']);
    assert.equal(await cookieOn(one, 'http://a.test/page'), undefined);
    assert.deepEqual(Object.keys(await a.hgetall(keys.session(id).cookies)), [JSON.stringify(['a.test', '/settings', 'pref'])]);
  });

  it('lives under the session tag with an expiry, follows the session\'s expireKeys, and leaves with a purge', async () => {
    const id = 'jar-2';
    const key = keys.session(id).cookies;
    assert.match(key, new RegExp(`^${ns}:s:\\{${id}\\}:`));
    const hop = replica(a, id, 30_000).hop();
    assert.ok(hop);
    await hop.headersFor(new URL('http://a.test/'));
    await hop.received(new URL('http://a.test/'), ['sid=abc']);
    const ttl = await a.pttl(key);
    assert.ok(ttl > 0 && ttl <= 30_000, `pttl ${ttl}`);
    const sessions = new SessionStore(a, keys);
    const spec: SessionSpec = { seeds: ['http://a.test/'], maxPages: 1, maxDepth: 0, timeoutMs: 60_000, allowedHosts: ['a.test'], include: [], exclude: [], fields: {}, webhook: null, label: null, cookieJar: true };
    await sessions.create(id, spec, 1000);
    await sessions.expireKeys(id, 5000);
    const after = await a.pttl(key);
    assert.ok(after > 0 && after <= 5000, `pttl after expireKeys ${after}`);
    await deleteSessionKeys(a, keys, id);
    assert.equal(await a.exists(key), 0);
  });
});
