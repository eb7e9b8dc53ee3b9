/**
 * Readiness that tells the truth, against the real RabbitMQ and Redis:
 * - a consumer whose prefetch is asked beyond the AMQP maximum keeps consuming;
 * - a consumer whose queue disappears (RabbitMQ cancels it, the re-consume fails and closes
 *   its channel) is reported as not consuming and consumes again once the queue is back,
 *   with no restart; its replica's /readyz says 503 naming the queue meanwhile;
 * - a configuration change a replica cannot apply leaves the last good configuration, a 503
 *   on /readyz naming the version, and the next change applies normally;
 * - a controller started while RabbitMQ (or Redis) cannot be reached listens at once:
 *   /healthz 200, /readyz 503 naming the dependency and where, the API 503 `unavailable`;
 *   when the dependency appears (a TCP proxy opened on its port) it becomes ready.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startController } from '../../services/controller/index.js';
import { patchLive } from '../../shared/config/center.js';
import { AMQP_MAX_PREFETCH } from '../../shared/config/limits.js';
import { CrawlError } from '../../shared/errors/index.js';
import { BatchPublisher, type BatchCodec } from '../../shared/messaging/batch.js';
import { Broker } from '../../shared/messaging/broker.js';
import { Consumer } from '../../shared/messaging/consumer.js';
import { declareTopology, topology } from '../../shared/messaging/topology.js';
import { createLogger } from '../../shared/observability/log.js';
import { redisKeys } from '../../shared/redis/keys.js';
import { runService, type RunningService } from '../../shared/service/runtime.js';
import { AMQP_URL, cleanupNamespace, freePort, http, REDIS_URL, serviceEnv, testNamespace, waitFor } from '../support/stack.js';

const codec: BatchCodec<string> = {
  kind: 'test',
  encode: (items) => ({ content: Buffer.from(JSON.stringify(items)), options: { contentType: 'application/json' } }),
  decode: (m) => JSON.parse(m.content.toString()) as string[],
  size: (s) => s.length,
};

/** A TCP proxy to `target` on `port`, opened when the test decides the dependency "appears". */
async function tcpProxy(port: number, target: { host: string; port: number }): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('readiness and recovery (real RabbitMQ and Redis)', function () {
  this.timeout(60_000);
  const log = createLogger('test', 'silent');
  const cleanups: (() => Promise<void>)[] = [];
  const namespaces: string[] = [];

  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
    for (const ns of namespaces.splice(0)) await cleanupNamespace(ns);
  });

  async function brokerFor(): Promise<{ ns: string; broker: Broker; outbox: BatchPublisher }> {
    const ns = testNamespace('r');
    namespaces.push(ns);
    const broker = new Broker({ url: AMQP_URL, name: 'test', heartbeatS: 10, topology: topology(ns), queueType: 'quorum', deliveryLimit: 2, log });
    await broker.start();
    cleanups.push(() => broker.close());
    return { ns, broker, outbox: new BatchPublisher(broker, () => ({ maxItems: 10, maxBytes: 1 << 20, lingerMs: 0 })) };
  }

  describe('consumer', () => {
    it('keeps consuming when its item window is far beyond the AMQP maximum (prefetch clamped to 65535)', async () => {
      const { ns, broker, outbox } = await brokerFor();
      const seen: string[] = [];
      const c = new Consumer<string>(broker, { name: 'test', queue: topology(ns).queue('fetch'), codec, log, concurrency: Number.POSITIVE_INFINITY, itemWindow: 64, handle: async (items) => void seen.push(...items) });
      cleanups.push(async () => void (await c.close(1000)));
      await c.start();
      await c.resize(Number.POSITIVE_INFINITY, { itemWindow: 2e9 });
      assert.equal(c.consuming, true);
      assert.ok(c.currentPrefetch > AMQP_MAX_PREFETCH);
      await outbox.send(codec, topology(ns).queue('fetch'), ['a', 'b']);
      await waitFor(async () => seen.length === 2, { timeoutMs: 5000, what: 'both items handled' });
      assert.deepEqual(broker.idleConsumers(), []);
    });

    it('reports a cancelled consumer as idle and consumes again once its queue is back', async () => {
      const { ns, broker, outbox } = await brokerFor();
      const t = topology(ns);
      const seen: string[] = [];
      const c = new Consumer<string>(broker, { name: 'test', queue: t.queue('fetch'), codec, log, concurrency: 4, handle: async (items) => void seen.push(...items) });
      cleanups.push(async () => void (await c.close(1000)));
      await c.start();
      assert.deepEqual(broker.idleConsumers(), []);

      await broker.withChannel((ch) => ch.deleteQueue(t.queue('fetch')));
      await waitFor(async () => !c.consuming, { timeoutMs: 5000, what: 'the consumer to notice the cancel' });
      assert.deepEqual(broker.idleConsumers(), [t.queue('fetch')]);
      // It keeps trying (the queue is missing: each try closes its channel with 404) ...
      await sleep(700);
      assert.equal(c.consuming, false);
      assert.equal(broker.isReady(), true, 'a channel error does not take the connection down');

      // ... and consumes again once the queue is declared, without a restart.
      await broker.withChannel((ch) => declareTopology(ch, t, { queueType: 'quorum', deliveryLimit: 2 }));
      await waitFor(async () => c.consuming, { timeoutMs: 10_000, what: 'the consumer to consume again' });
      assert.deepEqual(broker.idleConsumers(), []);
      await outbox.send(codec, t.queue('fetch'), ['after']);
      await waitFor(async () => seen.includes('after'), { timeoutMs: 5000, what: 'a message after recovery' });
    });
  });

  describe('a replica whose consumer stops consuming', () => {
    it('answers /readyz 503 naming the queue, and 200 again once it consumes, with no restart', async () => {
      const ns = testNamespace('r');
      namespaces.push(ns);
      const t = topology(ns);
      const svc = await runService('delivery', async (ctx) => {
        const c = new Consumer<string>(ctx.broker, { name: 'test', queue: t.queue('deliver'), codec, log: ctx.log, concurrency: 2, handle: async () => undefined });
        await c.start();
        return { close: async (graceMs) => void (await c.close(graceMs)) };
      }, { manageProcess: false, env: serviceEnv(ns, { LOG_LEVEL: 'silent' }) });
      cleanups.push(() => svc.stop());
      assert.equal((await http(svc.address, 'GET', '/readyz')).status, 200);

      await svc.ctx.broker.withChannel((ch) => ch.deleteQueue(t.queue('deliver')));
      const down = await waitFor(async () => {
        const r = await http<{ reasons: string[] }>(svc.address, 'GET', '/readyz');
        return r.status === 503 ? r : null;
      }, { timeoutMs: 5000, what: '/readyz 503 once the consumer is cancelled' });
      assert.deepEqual(down.body.reasons, [`not consuming from ${t.queue('deliver')}`]);

      await svc.ctx.broker.withChannel((ch) => declareTopology(ch, t, { queueType: 'quorum', deliveryLimit: 5 }));
      await waitFor(async () => (await http(svc.address, 'GET', '/readyz')).status === 200, { timeoutMs: 10_000, what: '/readyz 200 once it consumes again' });
    });
  });

  describe('a change a replica cannot apply', () => {
    it('keeps the last good configuration, answers 503 naming the version, and applies the next change', async () => {
      const ns = testNamespace('r');
      namespaces.push(ns);
      const env = serviceEnv(ns, { LOG_LEVEL: 'silent' });
      const applied: number[] = [];
      const svc = await runService('cleaner', async (ctx) => {
        ctx.onConfigChange((next) => {
          if (next.fetch.maxRedirects === 7) throw new CrawlError('unavailable', 'the broker refused the new prefetch');
          applied.push(next.fetch.maxRedirects);
        });
        return { close: async () => undefined };
      }, { manageProcess: false, env });
      cleanups.push(() => svc.stop());
      const redis = new Redis(REDIS_URL);
      cleanups.push(async () => void redis.disconnect());
      const keys = redisKeys(ns);
      assert.equal((await http(svc.address, 'GET', '/readyz')).status, 200);

      const bad = await patchLive(redis, keys, { fetch: { maxRedirects: 7 } }, { who: 'test', base: { env, file: null } });
      const refused = await waitFor(async () => {
        const r = await http<{ status: string; reason: string; reasons: string[] }>(svc.address, 'GET', '/readyz');
        return r.status === 503 ? r : null;
      }, { timeoutMs: 5000, what: '/readyz 503 after the failed change' });
      assert.equal(refused.body.status, 'not ready');
      assert.match(refused.body.reason, new RegExp(`configuration version ${bad.version} could not be applied: the broker refused the new prefetch`));
      assert.equal(svc.ctx.config().fetch.maxRedirects, 10, 'the last good value stays');
      assert.deepEqual(applied, [10], 'the handlers ran again with the last good configuration');

      await patchLive(redis, keys, { fetch: { maxRedirects: 8 } }, { who: 'test', base: { env, file: null } });
      await waitFor(async () => (await http(svc.address, 'GET', '/readyz')).status === 200, { timeoutMs: 5000, what: '/readyz 200 after the next change' });
      assert.equal(svc.ctx.config().fetch.maxRedirects, 8);
      assert.deepEqual(applied, [10, 8]);
    });
  });

  describe('missing dependencies', () => {
    async function controllerWith(extra: Record<string, string>): Promise<{ svc: RunningService; ns: string }> {
      const ns = testNamespace('r');
      namespaces.push(ns);
      const started = Date.now();
      const svc = await runService('controller', startController, { manageProcess: false, waitStarted: false, env: serviceEnv(ns, { CONTROLLER_PORT: '0', LOG_LEVEL: 'silent', ...extra }) });
      cleanups.push(() => svc.stop());
      assert.ok(Date.now() - started < 2000, `listening took ${Date.now() - started} ms`);
      return { svc, ns };
    }

    async function expectUnavailable(api: string, names: RegExp): Promise<void> {
      assert.equal((await http(api, 'GET', '/healthz')).status, 200);
      const ready = await waitFor(async () => {
        const r = await http<{ reason: string }>(api, 'GET', '/readyz');
        return r.status === 503 && names.test(r.body.reason) ? r : null;
      }, { timeoutMs: 2000, what: '/readyz 503 naming the dependency' });
      assert.match(ready.body.reason, names);
      const res = await http<{ error: { code: string; message: string } }>(api, 'GET', '/config');
      assert.equal(res.status, 503, res.text);
      assert.equal(res.body.error.code, 'unavailable');
      assert.match(res.body.error.message, names);
    }

    it('a controller whose RabbitMQ port is closed answers 503 naming it, then becomes ready when it appears', async () => {
      const port = await freePort();
      const { svc } = await controllerWith({ AMQP_URL: `amqp://guest:guest@127.0.0.1:${port}` });
      await expectUnavailable(svc.address, new RegExp(`RabbitMQ at amqp://guest:\\*\\*\\*@127\\.0\\.0\\.1:${port}/? is not reachable: .*ECONNREFUSED`));

      const upstream = new URL(AMQP_URL);
      const proxy = await tcpProxy(port, { host: upstream.hostname, port: Number(upstream.port || 5672) });
      cleanups.push(() => proxy.close());
      await waitFor(async () => (await http(svc.address, 'GET', '/readyz')).status === 200, { timeoutMs: 15_000, what: 'the controller to become ready' });
      await svc.started;
      assert.equal((await http(svc.address, 'GET', '/config')).status, 200);
    });

    it('a controller whose Redis port is closed answers 503 naming it, then becomes ready when it appears', async () => {
      const port = await freePort();
      const { svc } = await controllerWith({ REDIS_URL: `redis://127.0.0.1:${port}` });
      await expectUnavailable(svc.address, new RegExp(`Redis at redis://127\\.0\\.0\\.1:${port}/? is not reachable: .*ECONNREFUSED`));

      const upstream = new URL(REDIS_URL);
      const proxy = await tcpProxy(port, { host: upstream.hostname, port: Number(upstream.port || 6379) });
      cleanups.push(() => proxy.close());
      await waitFor(async () => (await http(svc.address, 'GET', '/readyz')).status === 200, { timeoutMs: 15_000, what: 'the controller to become ready' });
      assert.equal((await http(svc.address, 'GET', '/config')).status, 200);
      // Stopped while its Redis is there (the cleanups would close the proxy first: a stop
      // without Redis waits out the schedules worker's reconnection, ~7 s).
      await svc.stop();
    });

    it('a started controller whose Redis went away stops within its grace, not after every reconnection attempt', async () => {
      const port = await freePort();
      const upstream = new URL(REDIS_URL);
      const proxy = await tcpProxy(port, { host: upstream.hostname, port: Number(upstream.port || 6379) });
      cleanups.push(() => proxy.close());
      const { svc } = await controllerWith({ REDIS_URL: `redis://127.0.0.1:${port}` });
      await svc.started;
      await proxy.close();
      await waitFor(async () => (await http(svc.address, 'GET', '/readyz')).status === 503, { timeoutMs: 5000, what: '/readyz 503 once Redis is gone' });
      const t0 = Date.now();
      await svc.stop();
      // Before, the final QUIT waited through ioredis's 20 reconnection attempts: 35 s.
      assert.ok(Date.now() - t0 < 15_000, `stop took ${Date.now() - t0} ms`);
    });

    it('a controller waiting for Redis (its broker connected) stops promptly', async () => {
      const port = await freePort();
      const { svc } = await controllerWith({ REDIS_URL: `redis://127.0.0.1:${port}` });
      await waitFor(async () => svc.ctx.broker.isReady(), { timeoutMs: 10_000, what: 'the broker to connect' });
      assert.equal((await http(svc.address, 'GET', '/readyz')).status, 503);
      const t0 = Date.now();
      await svc.stop();
      assert.ok(Date.now() - t0 < 5000, `stop took ${Date.now() - t0} ms`);
    });

    it('a worker waiting for its broker stops promptly', async () => {
      const ns = testNamespace('r');
      namespaces.push(ns);
      const port = await freePort();
      let startedStages = false;
      const svc = await runService('cleaner', async () => {
        startedStages = true;
        return { close: async () => undefined };
      }, { manageProcess: false, waitStarted: false, env: serviceEnv(ns, { AMQP_URL: `amqp://guest:guest@127.0.0.1:${port}`, LOG_LEVEL: 'silent' }) });
      const ready = await http<{ reason: string }>(svc.address, 'GET', '/readyz');
      assert.equal(ready.status, 503);
      const t0 = Date.now();
      await svc.stop();
      assert.ok(Date.now() - t0 < 3000, `stop took ${Date.now() - t0} ms`);
      assert.equal(startedStages, false, 'the stages never started without the broker');
    });
  });
});
