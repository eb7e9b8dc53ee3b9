/** HTTP helpers: token comparison, dashboard cookie, token buckets, secret redaction in logged URLs. */
import assert from 'node:assert/strict';
import { bearerToken, dashboardCookieValue, parseCookies, safeEqual, serializeCookie, tokenMatches } from '../../../shared/http/auth.js';
import { redactQuery } from '../../../shared/http/observe.js';
import { TokenBuckets } from '../../../shared/http/rate-limit.js';

describe('HTTP auth helpers', () => {
  it('matches a bearer token exactly', () => {
    assert.equal(bearerToken('Bearer abc'), 'abc');
    assert.equal(bearerToken('bearer   abc  '), 'abc');
    assert.equal(bearerToken('Basic abc'), null);
    assert.equal(bearerToken('Bearer'), null);
    assert.equal(tokenMatches('Bearer s3cret', 's3cret'), true);
    assert.equal(tokenMatches('Bearer s3cret2', 's3cret'), false);
    assert.equal(tokenMatches('Bearer s3cre', 's3cret'), false);
    assert.equal(tokenMatches(undefined, 's3cret'), false);
    assert.equal(tokenMatches('Bearer x', ''), false, 'an empty configured token never matches');
    assert.equal(safeEqual('a', 'a'), true);
    assert.equal(safeEqual('a', 'ab'), false);
  });

  it('derives the dashboard cookie from the token and serializes it HttpOnly, SameSite=Strict', () => {
    const v = dashboardCookieValue('tok');
    assert.notEqual(v, 'tok');
    assert.equal(v, dashboardCookieValue('tok'));
    assert.notEqual(v, dashboardCookieValue('tok2'));
    assert.equal(serializeCookie('c', v, { path: '/admin/queues', maxAgeS: 60, secure: false }), `c=${v}; Path=/admin/queues; Max-Age=60; HttpOnly; SameSite=Strict`);
    assert.match(serializeCookie('c', v, { path: '/', maxAgeS: 60, secure: true }), /; Secure$/);
    assert.throws(() => serializeCookie('c', 'a;b', { path: '/', maxAgeS: 1, secure: false }));
    assert.deepEqual([...parseCookies('a=1; b="2"; a=3; junk; =x')], [['a', '1'], ['b', '2']]);
  });

  it('redacts secret query parameters in logged URLs', () => {
    assert.equal(redactQuery('/admin/queues?token=abc&x=1', ['token']), '/admin/queues?token=***&x=1');
    assert.equal(redactQuery('/a?x=1', ['token']), '/a?x=1');
    assert.equal(redactQuery('/a', ['token']), '/a');
  });
});

describe('token buckets', () => {
  it('allows a burst of perMinute, then one request per 60/perMinute s, per key', () => {
    let now = 1_000_000;
    const b = new TokenBuckets({ now: () => now });
    for (let i = 0; i < 3; i++) assert.equal(b.take('k', 3).allowed, true);
    const refused = b.take('k', 3);
    assert.deepEqual(refused, { allowed: false, retryAfterS: 20, remaining: 0 });
    assert.equal(b.take('other', 3).allowed, true, 'another key has its own bucket');
    now += 19_000;
    assert.equal(b.take('k', 3).allowed, false);
    assert.equal(b.take('k', 3).retryAfterS, 1);
    now += 1_000;
    assert.equal(b.take('k', 3).allowed, true);
    now += 3_600_000;
    assert.equal(b.take('k', 3).remaining, 2, 'refills up to the burst only');
  });

  it('follows a live change of the limit and bounds the number of keys', () => {
    const b = new TokenBuckets({ now: () => 0, maxKeys: 2 });
    assert.equal(b.take('k', 600).remaining, 599);
    assert.equal(b.take('k', 2).remaining, 1, 'a lower limit caps the bucket at once');
    b.take('a', 2);
    b.take('c', 2);
    assert.equal(b.size, 2);
  });
});
