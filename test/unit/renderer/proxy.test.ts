import assert from 'node:assert/strict';
import { GuardedProxy, parseAuthority } from '../../../services/renderer/proxy.js';
import { sessionRequestState } from '../../../services/renderer/index.js';
import { AddressPolicy } from '../../../shared/net/ssrf.js';
import type { SessionSpec } from '../../../shared/tasks/types.js';

describe('renderer proxy: what it dials', () => {
  it('parses CONNECT authorities, IPv6 in brackets, and refuses malformed ones', () => {
    assert.deepEqual(parseAuthority('example.com:443'), { host: 'example.com', port: 443 });
    assert.deepEqual(parseAuthority('[::1]:8080'), { host: '::1', port: 8080 });
    for (const bad of ['example.com', 'example.com:0', 'example.com:70000', 'a b:80', 'http://x:80', '[::1]']) assert.equal(parseAuthority(bad), null, bad);
  });

  const proxy = new GuardedProxy({
    policy: () => new AddressPolicy(['127.0.0.2/32']),
    connectTimeoutMs: () => 1000,
    lookup: async (host) => ({ 'site.test': ['127.0.0.2'], 'rebind.test': ['127.0.0.1', '10.0.0.1'], 'mixed.test': ['127.0.0.1', '127.0.0.2'] } as Record<string, string[]>)[host] ?? Promise.reject(new Error('ENOTFOUND')),
  });

  it('resolves a name to a permitted address and pins it', async () => {
    assert.deepEqual(await proxy.resolve('site.test'), { ok: true, address: '127.0.0.2' });
    assert.deepEqual(await proxy.resolve('mixed.test'), { ok: true, address: '127.0.0.2' });
  });

  it('refuses forbidden literals (IPv4, IPv6, mapped) and names that resolve only to forbidden addresses', async () => {
    for (const host of ['127.0.0.1', '[::1]', '::ffff:127.0.0.1', '169.254.169.254', '10.1.2.3']) {
      const r = await proxy.resolve(host);
      assert.equal(r.ok, false, host);
    }
    const r = await proxy.resolve('rebind.test');
    assert.equal(r.ok, false);
    assert.match((r as { why: string }).why, /resolves only to forbidden addresses 127\.0\.0\.1, 10\.0\.0\.1/);
    assert.deepEqual(await proxy.resolve('nowhere.test'), { ok: false, why: 'does not resolve' });
  });
});

describe('renderer: the session request state', () => {
  const base = { seeds: [], maxPages: 1, maxDepth: 0, timeoutMs: 1000, allowedHosts: [], include: [], exclude: [], fields: {}, webhook: null, label: null } as SessionSpec;
  it('is empty for a spec without headers or cookies', () => {
    assert.deepEqual(sessionRequestState(base), { headers: {}, cookies: [] });
  });
  it('takes the session spec\'s headers (names lowercased) and cookies, a cookie with a domain keeping its path', () => {
    const spec: SessionSpec = { ...base, headers: { 'X-Token': 'a' }, cookies: [{ name: 'member', value: 'yes' }, { name: 'd', value: 'v', domain: 'site.test' }, { name: 'p', value: 'w', domain: 'site.test', path: '/x' }] };
    assert.deepEqual(sessionRequestState(spec), {
      headers: { 'x-token': 'a' },
      cookies: [{ name: 'member', value: 'yes' }, { name: 'd', value: 'v', domain: 'site.test', path: '/' }, { name: 'p', value: 'w', domain: 'site.test', path: '/x' }],
    });
  });
});
