/**
 * `node dist/bench/request-state.js [--n 2000] [--json FILE]`: what a session's request state
 * costs a fetch. For each kind of session, N sequential fetches (fetchPage, the fetcher's own
 * HTTP code, through the guarded agent) of a small page on a local server, and the same
 * number of bare request-state hops (headersFor, and received when the page sets a cookie)
 * without the HTTP part:
 *
 *   none     a session without headers or cookies (no hop state at all)
 *   static   2 headers and 2 given cookies (no Redis call)
 *   jar      a cookie jar holding 5 cookies: one HGETALL and a tough-cookie jar per request
 *   jar+set  the same, and the page sets a cookie: one MULTI (HSET, PEXPIRE) more per request
 *
 * Real Redis (REDIS_URL, default 127.0.0.1:6379) in a namespace of its own, removed in
 * `finally`; only loopback addresses; bounded by N.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fetchPage } from '../services/fetcher/http.js';
import { RedisCookieJarStore } from '../shared/fetch/cookie-jar.js';
import { SessionRequestState } from '../shared/fetch/request-state.js';
import type { HopState } from '../shared/fetch/seam.js';
import { createGuardedAgent } from '../shared/net/agent.js';
import { AddressPolicy } from '../shared/net/ssrf.js';
import { createRedis } from '../shared/redis/client.js';
import { redisKeys } from '../shared/redis/keys.js';
import type { SessionSpec } from '../shared/tasks/types.js';
import { compileScope } from '../shared/url/scope.js';
import { cleanupNamespace, REDIS_URL, testNamespace } from '../test/support/stack.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '2000' }, json: { type: 'string' } } });
const N = Math.max(10, Math.min(100_000, Number(values.n)));

interface Row {
  kind: string;
  hopUs: { mean: number; p50: number; p99: number };
  fetchMs: { mean: number; p50: number; p99: number };
}

function stats(samples: number[]): { mean: number; p50: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  return { mean: round(s.reduce((a, b) => a + b, 0) / s.length), p50: round(at(0.5)), p99: round(at(0.99)) };
}

async function main(): Promise<void> {
  const ns = testNamespace('b');
  const keys = redisKeys(ns);
  const redis = createRedis(REDIS_URL, { name: `${ns}:bench` });
  const server = createServer((req, res) => {
    const headers: Record<string, string> = { 'content-type': 'text/html' };
    if (req.url?.startsWith('/set')) headers['set-cookie'] = `visit=${Date.now()}; Path=/`;
    res.writeHead(200, headers).end('<html><head><title>t</title></head><body><a href="/x">x</a></body></html>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const policy = new AddressPolicy(['127.0.0.0/8']);
  const agent = createGuardedAgent(policy, 2000);
  const opts = { userAgent: 'crawlfleet-bench', headersTimeoutMs: 5000, bodyIdleTimeoutMs: 5000, totalTimeoutMs: 10_000, maxBytes: 1 << 20, maxRedirects: 5 };
  const scope = compileScope({ allowedHosts: [new URL(origin).host], include: [], exclude: [] });
  const jars = new RedisCookieJarStore(redis, keys);
  const rows: Row[] = [];
  try {
    // The jar sessions start with 5 cookies.
    const seed = new SessionRequestState({ sessionId: 'jar', spec: { cookieJar: true }, inScope: (u) => scope.allows(u), jar: jars }).hop() as HopState;
    await seed.headersFor(new URL(`${origin}/`));
    await seed.received(new URL(`${origin}/`), ['a=1; Path=/', 'b=2; Path=/', 'c=3; Path=/', 'd=4; Path=/x', 'e=5; Path=/; Max-Age=3600']);

    const kinds: [string, Pick<SessionSpec, 'headers' | 'cookies' | 'cookieJar'>, string][] = [
      ['none', {}, '/page'],
      ['static', { headers: { Authorization: 'Bearer x', 'Accept-Language': 'fr' }, cookies: [{ name: 'g1', value: 'v1' }, { name: 'g2', value: 'v2', path: '/' }] }, '/page'],
      ['jar', { cookieJar: true }, '/page'],
      ['jar+set', { cookieJar: true }, '/set'],
    ];
    for (const [kind, spec, path] of kinds) {
      const state = new SessionRequestState({ sessionId: 'jar', spec, inScope: (u) => scope.allows(u), jar: jars, jarTtlMs: () => 600_000 });
      const url = new URL(`${origin}${path}`);
      // Warm up: connections, JIT.
      for (let i = 0; i < 50; i++) await fetchPage(url.href, agent, policy, { ...opts, requestState: state.hop() ?? undefined });
      const hopUs: number[] = [];
      for (let i = 0; i < N; i++) {
        const t = performance.now();
        const hop = state.hop();
        if (hop) {
          await hop.headersFor(url);
          if (path === '/set') await hop.received(url, [`visit=${i}; Path=/`]);
        }
        hopUs.push((performance.now() - t) * 1000);
      }
      const fetchMs: number[] = [];
      for (let i = 0; i < N; i++) {
        const t = performance.now();
        await fetchPage(url.href, agent, policy, { ...opts, requestState: state.hop() ?? undefined });
        fetchMs.push(performance.now() - t);
      }
      rows.push({ kind, hopUs: stats(hopUs), fetchMs: stats(fetchMs) });
    }
    // For scale: one Redis round trip on this machine now.
    const pings: number[] = [];
    for (let i = 0; i < N; i++) {
      const t = performance.now();
      await redis.ping();
      pings.push((performance.now() - t) * 1000);
    }
    rows.push({ kind: 'redis PING', hopUs: stats(pings), fetchMs: { mean: NaN, p50: NaN, p99: NaN } });
  } finally {
    await agent.close();
    server.close();
    redis.disconnect();
    await cleanupNamespace(ns);
  }
  const none = rows[0] as Row;
  process.stdout.write(`request state cost, ${N} sequential fetches each (local page, real Redis)\n`);
  process.stdout.write('kind      state µs mean/p50/p99        fetch ms mean/p50/p99     vs none (fetch mean)\n');
  for (const r of rows) {
    if (Number.isNaN(r.fetchMs.mean)) {
      process.stdout.write(`${r.kind.padEnd(9)} ${`${r.hopUs.mean}/${r.hopUs.p50}/${r.hopUs.p99}`.padEnd(28)} (one round trip, for scale)\n`);
      continue;
    }
    const delta = r.fetchMs.mean - none.fetchMs.mean;
    process.stdout.write(`${r.kind.padEnd(9)} ${`${r.hopUs.mean}/${r.hopUs.p50}/${r.hopUs.p99}`.padEnd(28)} ${`${r.fetchMs.mean}/${r.fetchMs.p50}/${r.fetchMs.p99}`.padEnd(25)} ${delta >= 0 ? '+' : ''}${delta.toFixed(3)} ms\n`);
  }
  if (values.json) writeFileSync(values.json, JSON.stringify({ n: N, rows }, null, 2));
}

await main();
