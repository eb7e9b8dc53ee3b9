/**
 * The whole stack on a real Redis Cluster (six redis-server processes, three masters and
 * three replicas, test/support/redis-cluster.ts): every client (ledger scripts, admission,
 * rate gate, config center pub/sub and catch-up, robots cache, heartbeats, BullMQ with its
 * hash-tagged prefix, the cleaner, the results store, namespace delete) works on it. The
 * oracle (test/support/oracle.ts) checks every crawl: every URL terminal once, none twice.
 * Also: SIGKILLs of fetchers and the extractor mid-crawl, and a master SIGKILLed mid-crawl
 * (its replica is promoted; the crawl finishes without a human). Ops/s per master during a
 * crawl is logged (the spread over the nodes), not asserted tightly.
 */
import assert from 'node:assert/strict';
import { createRedis, scanKeys } from '../../shared/redis/client.js';
import { redisKeys } from '../../shared/redis/keys.js';
import { GeneratedSite } from '../sites/generated.js';
import { checkInvariants, waitFinished } from '../support/oracle.js';
import { opsSpread, startRedisCluster, type LocalRedisCluster } from '../support/redis-cluster.js';
import { http, startTestStack, waitFor, type TestStack } from '../support/stack.js';

const FAST_RECOVERY = {
  TASK_LEASE_MS: '15000',
  TASK_ADMIT_LEASE_MS: '30000',
  CLEANER_INTERVAL_MS: '500',
  SHUTDOWN_GRACE_MS: '2000',
  FETCH_CONCURRENCY: '16',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function crawl(stack: TestStack, seed: string): Promise<string> {
  const res = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [seed], maxPages: 100_000 });
  assert.equal(res.status, 201, res.text);
  return res.body.id;
}

/** Keys of the namespace on every master of the cluster. */
async function namespaceKeys(url: string, ns: string): Promise<string[]> {
  const redis = createRedis(url, { name: `${ns}:count` });
  try {
    const found: string[] = [];
    await scanKeys(redis, `${ns}:*`, 1000, async (keys) => void found.push(...keys));
    return found;
  } finally {
    redis.disconnect();
  }
}

describe('Redis Cluster: the stack on six redis-server processes', function () {
  this.timeout(300_000);
  let cluster: LocalRedisCluster;

  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  describe('a crawl, the config center and the spread of keys', () => {
    const SESSIONS = 4;
    const site = new GeneratedSite({ pages: 400, seed: 31, latencyMs: 10 });
    let stack: TestStack | null = null;

    before(async () => {
      await site.start();
      stack = await startTestStack({ fetchers: 2, redisUrl: cluster.url, readyTimeoutMs: 90_000, env: { ...FAST_RECOVERY, RATE_GLOBAL: '400', RATE_PER_HOST: '0' } });
    });
    after(async () => {
      const ns = stack?.ns;
      await stack?.stop();
      await site.stop();
      if (ns) assert.deepEqual(await namespaceKeys(cluster.url, ns), [], 'namespace delete removed every key on every master');
    });

    it('crawls the site exactly once per URL in each of four sessions (oracle) and spreads Redis load over the masters', async () => {
      const s = stack as TestStack;
      const expected = new Set(site.reachable().keys());
      const before = await cluster.commandsByMaster();
      const t0 = Date.now();
      // Four sessions at once: each session's keys share its slot, so sessions are what spreads.
      const ids = await Promise.all(Array.from({ length: SESSIONS }, () => crawl(s, site.homeUrl)));
      const statuses = await Promise.all(ids.map((id) => waitFinished(s.api, id, 240_000))).catch(async (err: Error) => {
        const now = await Promise.all(ids.map(async (id) => (await http(s.api, 'GET', `/sessions/${id}`)).text));
        throw new Error(`${err.message}; sessions: ${now.join(' ')}`);
      });
      const seconds = (Date.now() - t0) / 1000;
      const after = await cluster.commandsByMaster();
      const pages = statuses.reduce((n, st) => n + Number(st.counts.admitted ?? 0), 0);
      const spread = opsSpread(before, after, seconds);
      const total = Object.values(spread.perNode).reduce((a, b) => a + b, 0);
      console.log(`      cluster crawl: ${SESSIONS} sessions, ${pages} URLs in ${seconds.toFixed(1)} s; Redis ${((total * seconds) / Math.max(1, pages)).toFixed(1)} commands per URL`);
      console.log(`      ops/s per master (port: ops/s): ${JSON.stringify(spread.perNode)}, mean ${spread.mean}, max/mean ${spread.maxOverMean.toFixed(2)}`);
      for (const status of statuses) assert.equal(status.status, 'completed');
      for (const id of ids) {
        const report = await checkInvariants(s.api, s.ns, id, expected, { redisUrl: cluster.url });
        assert.ok(report.delivered > 300, JSON.stringify(report));
      }
      assert.equal(Object.keys(spread.perNode).length, 3, 'three masters measured');
      assert.ok(Object.values(spread.perNode).every((n) => n > 0), 'every master served commands');
    });

    it('pushes a config change to every replica, and a replica that was down catches up from the stored version', async () => {
      const s = stack as TestStack;
      const set = await http<{ version: number }>(s.api, 'PATCH', '/config', { fetch: { concurrency: 7 } });
      assert.equal(set.status, 200, set.text);
      await waitFor(
        async () => {
          const r = await http<{ replicas: number; current: number }>(s.api, 'GET', `/config/rollout?version=${set.body.version}`);
          return r.status === 200 && r.body.replicas >= 5 && r.body.current === r.body.replicas;
        },
        { timeoutMs: 15_000, what: 'every replica on the new config version' },
      );
      // A fetcher down while the config changes starts with the stored version.
      await s.supervisor.stop('fetcher.2');
      const again = await http<{ version: number }>(s.api, 'PATCH', '/config', { fetch: { concurrency: 5 } });
      assert.equal(again.status, 200, again.text);
      const mark = s.logs.length;
      s.supervisor.restart('fetcher.2');
      const line = await waitFor(
        async () => s.logs.slice(mark).find((l) => l.startsWith('[fetcher.2]') && l.includes('"configuration applied"')),
        { timeoutMs: 30_000, what: 'the restarted fetcher to apply the live configuration' },
      );
      const applied = JSON.parse(line.slice(line.indexOf('{'))) as { version: number };
      assert.equal(applied.version, again.body.version);
      // The config keys share one slot: the script that writes both ran (history has both versions).
      const h = await http<{ history: { version: number }[] }>(s.api, 'GET', '/config/history');
      assert.equal(h.status, 200, h.text);
      assert.ok(h.body.history.some((e) => e.version === again.body.version) && h.body.history.some((e) => e.version === set.body.version));
    });
  });

  describe('SIGKILL of fetchers and the extractor mid-crawl', () => {
    const site = new GeneratedSite({ pages: 2000, seed: 32, latencyMs: 15 });
    let stack: TestStack | null = null;

    before(async () => {
      await site.start();
      stack = await startTestStack({ fetchers: 2, redisUrl: cluster.url, readyTimeoutMs: 90_000, env: FAST_RECOVERY });
    });
    after(async () => {
      await stack?.stop();
      await site.stop();
    });

    it('loses nothing and duplicates nothing', async () => {
      const s = stack as TestStack;
      const expected = new Set(site.reachable().keys());
      const id = await crawl(s, site.homeUrl);
      let done = false;
      const finished = waitFinished(s.api, id, 240_000).finally(() => (done = true));
      const victims = ['fetcher.1', 'fetcher.2', 'extractor'];
      const kills: string[] = [];
      const redis = createRedis(cluster.url, { name: `${s.ns}:chaos` });
      const sessionKey = redisKeys(s.ns).session(id).session;
      // Few kills, far apart: each one redelivers the victim's prefetched tasks (an attempt each).
      const KILL_EVERY = 450;
      let nextKill = KILL_EVERY;
      try {
        while (!done) {
          await sleep(100);
          const [delivered, failed] = (await redis.hmget(sessionKey, 'delivered', 'failed')).map(Number);
          if ((delivered ?? 0) + (failed ?? 0) < nextKill || done) continue;
          nextKill += KILL_EVERY;
          const victim = victims[kills.length % victims.length] as string;
          if (s.supervisor.signal(victim, 'SIGKILL')) kills.push(victim);
        }
      } finally {
        redis.disconnect();
      }
      const status = await finished;
      assert.equal(status.status, 'completed');
      await waitFor(async () => (await http(s.api, 'GET', '/readyz')).status === 200, { timeoutMs: 20_000, what: 'controller ready' });
      const records = (await http(s.api, 'GET', `/sessions/${id}/results`)).text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { status?: string; reason?: string | null });
      const reasons: Record<string, number> = {};
      for (const r of records) if (r.reason) reasons[r.reason] = (reasons[r.reason] ?? 0) + 1;
      console.log(`      cluster chaos: failure reasons ${JSON.stringify(reasons)}`);
      const report = await checkInvariants(s.api, s.ns, id, expected, { redisUrl: cluster.url });
      console.log(`      cluster chaos: ${kills.length} SIGKILLs (${kills.join(', ')}); ${JSON.stringify(report)}`);
      assert.ok(kills.length >= 3, `enough faults injected (${kills.length})`);
    });
  });

  describe('failover: a master SIGKILLed mid-crawl', () => {
    const site = new GeneratedSite({ pages: 2000, seed: 33, latencyMs: 15 });
    let stack: TestStack | null = null;

    before(async () => {
      await cluster.waitHealthy();
      await site.start();
      stack = await startTestStack({ fetchers: 2, redisUrl: cluster.url, readyTimeoutMs: 90_000, env: FAST_RECOVERY });
    });
    after(async () => {
      await stack?.stop();
      await site.stop();
    });

    it('promotes the replica and finishes the crawl without a human: every URL terminal, none twice', async () => {
      const s = stack as TestStack;
      const expected = new Set(site.reachable().keys());
      const id = await crawl(s, site.homeUrl);
      // The master of the session's slot: the ledger of this crawl is what it holds.
      const probe = createRedis(cluster.url, { name: `${s.ns}:probe` });
      const sessionKey = redisKeys(s.ns).session(id).session;
      let victim: number;
      try {
        await waitFor(async () => Number((await probe.hget(sessionKey, 'delivered')) ?? 0) >= 300, { timeoutMs: 120_000, what: '300 pages delivered' });
        const slot = Number(await probe.call('CLUSTER', 'KEYSLOT', sessionKey));
        const shards = (await probe.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
        const owner = shards.find(([from, to]) => slot >= from && slot <= to);
        assert.ok(owner, `slot ${slot} has an owner`);
        victim = owner[2][1];
      } finally {
        probe.disconnect();
      }
      const rolesBefore = await cluster.roles();
      const victimId = rolesBefore.find((r) => r.port === victim)?.id;
      const heir = rolesBefore.find((r) => r.role === 'replica' && r.masterId === victimId);
      assert.ok(heir, 'the master has a replica');
      const killedAt = Date.now();
      cluster.kill(victim);
      await waitFor(async () => (await cluster.roles()).find((r) => r.port === heir.port)?.role === 'master', { timeoutMs: 60_000, intervalMs: 200, what: 'the replica to be promoted' });
      const promotedMs = Date.now() - killedAt;
      await cluster.waitHealthy();
      const status = await waitFinished(s.api, id, 240_000);
      assert.equal(status.status, 'completed');
      const report = await checkInvariants(s.api, s.ns, id, expected, { redisUrl: cluster.url });
      console.log(`      failover: master :${victim} killed, replica :${heir.port} promoted after ${promotedMs} ms; ${JSON.stringify(report)}`);
    });
  });
});
