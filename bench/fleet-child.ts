/**
 * One process of the simulated fleet (bench/fleet.ts): `--replicas N` lightweight fetcher
 * replicas, each with what a real fetcher replica has of its own towards the shared state:
 * its own config center (its own subscriber connection, catch-up and snapshot), its own
 * rate-limiter client state and per-replica bucket, and the real politeness gate
 * (services/fetcher/steps.ts gateStep). The fetch itself goes to a local stub site.
 * The replicas of one process share one Redis command connection and one HTTP pool.
 *
 * Talks to the parent over stdin/stdout, one JSON line each:
 *   out {"ready":n}                        every replica joined the config center
 *   out {"applied":[[replica, version, epochMs], ...]}   config changes applied, batched
 *   in  {"run":{"url":"http://127.0.0.1:P/","ms":5000}}  fetch through the gate for ms
 *   out {"ran":{"requests":n,"granted":n,"waitedMs":n}}
 *   in  {"stop":true}                      close everything and exit
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { ConfigCenter } from '../shared/config/center.js';
import { createLogger } from '../shared/observability/log.js';
import { RateLimiter, ReplicaRate } from '../shared/ratelimit.js';
import { createRedis } from '../shared/redis/client.js';
import { redisKeys } from '../shared/redis/keys.js';
import { gateStep, type FetchJob } from '../services/fetcher/steps.js';

interface Replica {
  id: string;
  center: ConfigCenter;
  rate: ReplicaRate;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { replicas: { type: 'string' }, prefix: { type: 'string', default: 'r' } } });
  const n = Number(values.replicas);
  const env = { ...process.env };
  const ns = env.CRAWLER_NAMESPACE as string;
  const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const keys = redisKeys(ns);
  const log = createLogger('fleet-sim', 'error');
  const redis = createRedis(redisUrl, { name: `fleet-sim:${values.prefix}` });
  const limiter = new RateLimiter(redis, keys);
  const agent = new Agent({ connections: 64, pipelining: 1 });
  const subs: ReturnType<typeof createRedis>[] = [];
  const replicas: Replica[] = [];
  let applied: [string, number, number][] = [];
  const flush = setInterval(() => {
    if (applied.length === 0) return;
    process.stdout.write(`${JSON.stringify({ applied })}\n`);
    applied = [];
  }, 50);

  // Replicas join in waves of 50, as a rolling start of a large fleet would.
  for (let i = 0; i < n; i += 50) {
    const wave = Array.from({ length: Math.min(50, n - i) }, (_, k) => `${values.prefix}${i + k}`);
    await Promise.all(
      wave.map(async (id) => {
        const sub = createRedis(redisUrl, { name: `fleet-sim:${id}:sub`, blocking: true });
        subs.push(sub);
        const center = new ConfigCenter({ env, log });
        center.on('change', (_cfg, ev) => applied.push([id, ev.version, Date.now()]));
        await center.start(redis, sub, keys);
        replicas.push({ id, center, rate: new ReplicaRate() });
      }),
    );
  }
  process.stdout.write(`${JSON.stringify({ ready: n })}\n`);

  async function run(url: string, ms: number): Promise<{ requests: number; granted: number; waitedMs: number }> {
    const until = Date.now() + ms;
    const target = new URL(url);
    const totals = { requests: 0, granted: 0, waitedMs: 0 };
    await Promise.all(
      replicas.map(async (r) => {
        const job = { task: { sessionId: 'fleet', taskId: r.id, url, depth: 0, attempt: 0, admittedAt: 0 }, attempt: 1, session: {}, target, crawlDelayS: null } as unknown as FetchJob;
        while (Date.now() < until) {
          const g = await gateStep(job, {
            config: () => r.center.config,
            tryEnter: (host, limits) => limiter.tryEnter(host, limits),
            defer: async () => false,
            halted: () => Date.now() >= until,
            replica: r.rate,
            sleep: (t) => new Promise((res) => setTimeout(res, t)),
            onWaited: (t) => void (totals.waitedMs += t),
          });
          if (g === 'halted' || g === 'deferred') break;
          totals.granted++;
          try {
            const res = await request(url, { dispatcher: agent });
            await res.body.dump();
            totals.requests++;
          } finally {
            await limiter.release(target.host, g.slot);
          }
        }
      }),
    );
    return totals;
  }

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const msg = JSON.parse(line) as { run?: { url: string; ms: number }; stop?: boolean };
    if (msg.run) process.stdout.write(`${JSON.stringify({ ran: await run(msg.run.url, msg.run.ms) })}\n`);
    if (msg.stop) break;
  }
  clearInterval(flush);
  for (const r of replicas) r.center.close();
  await Promise.all([redis, ...subs].map((c) => c.quit().catch(() => c.disconnect())));
  await agent.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`fleet-child: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
