/**
 * Replica heartbeats against the real Redis and RabbitMQ, with real service runtimes:
 * - every replica's heartbeat appears in GET /replicas with its fields (tasks its consumer
 *   holds, the tasks it settled per second, the config version it applied);
 * - a replica stopped gracefully leaves the list at once;
 * - a replica that stops beating without removing its heartbeat (as one that died) leaves
 *   the list after the expiry, and the index forgets it;
 * - after PATCH /config the rollout goes from what it was at the write to N of N, and
 *   `crawlctl config set --wait` exits 0 once every replica runs the change, 1 naming the
 *   laggard when one never does;
 * - a live change of replicas.heartbeatMs and replicas.missedBeats applies at the next beat.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { main as crawlctl } from '../../cli/crawlctl.js';
import { startController } from '../../services/controller/index.js';
import { CrawlError } from '../../shared/errors/index.js';
import { BatchPublisher, type BatchCodec } from '../../shared/messaging/batch.js';
import { Consumer } from '../../shared/messaging/consumer.js';
import { redisKeys } from '../../shared/redis/keys.js';
import type { ReplicaView, Rollout } from '../../shared/service/heartbeat.js';
import { runService, type RunningService } from '../../shared/service/runtime.js';
import { cleanupNamespace, freePort, http, REDIS_URL, serviceEnv, testNamespace, waitFor } from '../support/stack.js';

const codec: BatchCodec<string> = {
  kind: 'test',
  encode: (items) => ({ content: Buffer.from(JSON.stringify(items)), options: { contentType: 'application/json' } }),
  decode: (m) => JSON.parse(m.content.toString()) as string[],
  size: (s) => s.length,
};

class Sink extends Writable {
  chunks: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk.toString());
    cb();
  }
  text(): string {
    return this.chunks.join('');
  }
}

async function ctl(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new Sink();
  const err = new Sink();
  const code = await crawlctl(argv, { stdout: out, stderr: err, isTTY: false, pollMs: 50, env: {} });
  return { code, stdout: out.text(), stderr: err.text() };
}

describe('replica heartbeats (Redis, RabbitMQ, service runtimes)', function () {
  this.timeout(60_000);
  const ns = testNamespace('rp');
  const keys = redisKeys(ns);
  const redis = new Redis(REDIS_URL);
  const env = serviceEnv(ns, { LOG_LEVEL: 'silent', REPLICAS_HEARTBEAT_MS: '200', REPLICAS_MISSED_BEATS: '5' });
  const running: RunningService[] = [];
  let api = '';
  let controller: RunningService;
  let extractor: RunningService;
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });

  const replicas = async (query = ''): Promise<ReplicaView[]> => {
    const res = await http<{ replicas: ReplicaView[] }>(api, 'GET', `/replicas${query}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.replicas;
  };

  before(async () => {
    const port = await freePort();
    controller = await runService('controller', startController, { manageProcess: false, env: { ...env, CONTROLLER_PORT: String(port) } });
    running.push(controller);
    api = `http://127.0.0.1:${port}`;
    // An extractor whose consumer holds its tasks until the test releases them.
    extractor = await runService('extractor', async (ctx) => {
      const c = new Consumer<string>(ctx.broker, { name: 'extract', queue: ctx.topology.queue('extract'), codec, log: ctx.log, metrics: ctx.metrics, concurrency: 2, handle: async () => gate });
      await c.start();
      return { close: async (graceMs) => void (await c.close(graceMs)) };
    }, { manageProcess: false, env });
    running.push(extractor);
    running.push(await runService('fetcher', async () => ({ close: async () => undefined }), { manageProcess: false, env }));
    // A fetcher that cannot apply fetch.maxRedirects = 9 (its handler throws): it keeps the version before.
    running.push(await runService('fetcher', async (ctx) => {
      ctx.onConfigChange((next) => {
        if (next.fetch.maxRedirects === 9) throw new CrawlError('unavailable', 'the broker refused the change');
      });
      return { close: async () => undefined };
    }, { manageProcess: false, env }));
  });

  after(async () => {
    release();
    for (const s of running) await s.stop().catch(() => undefined);
    redis.disconnect();
    await cleanupNamespace(ns);
  });

  it('lists every replica with its fields; ?service= keeps one service', async () => {
    const all = await waitFor(async () => {
      const rs = await replicas();
      // A replica's first beats may predate its start (ready: false, "<service> is starting").
      return rs.length === 4 && rs.every((r) => r.ready) ? rs : null;
    }, { timeoutMs: 5000, what: 'four heartbeats of ready replicas' });
    assert.deepEqual(all.map((r) => r.service), ['controller', 'fetcher', 'fetcher', 'extractor'], 'in service order');
    assert.deepEqual(new Set(all.map((r) => r.id)), new Set(running.map((s) => s.heartbeat.id)));
    for (const r of all) {
      assert.equal(r.pid, process.pid);
      assert.match(r.id, new RegExp(`^${r.service}-.+-${process.pid}-[0-9a-f]{6}$`));
      assert.equal(r.version, '0.1.0');
      assert.equal(r.configVersion, 0);
      assert.equal(r.heartbeatMs, 200);
      assert.equal(r.ttlMs, 1000);
      assert.ok(r.ageMs >= 0 && r.ageMs < 2000, `ageMs ${r.ageMs}`);
      assert.ok(!Number.isNaN(Date.parse(r.startedAt)) && !Number.isNaN(Date.parse(r.beatAt)));
      assert.equal(r.ready, true, r.reasons.join('; '));
      assert.deepEqual(r.reasons, []);
      assert.equal(r.lastError, null);
      assert.equal(r.inFlight, 0);
    }
    assert.deepEqual((await replicas('?service=fetcher')).map((r) => r.service), ['fetcher', 'fetcher']);
    assert.equal((await http(api, 'GET', '/replicas?service=nope')).status, 400);
    // One key per replica, with its expiry, and the index names exactly them.
    for (const r of all) {
      const pttl = await redis.pttl(keys.replica(r.id));
      assert.ok(pttl > 0 && pttl <= 1000, `pttl ${pttl}`);
    }
    assert.deepEqual(new Set(await redis.zrange(keys.replicasIndex, 0, -1)), new Set(all.map((r) => r.id)));
  });

  it('reports the tasks a consumer holds, then the rate it settled them at', async () => {
    const publisher = new BatchPublisher(extractor.ctx.broker, () => ({ maxItems: 10, maxBytes: 1 << 20, lingerMs: 0 }));
    await publisher.send(codec, extractor.ctx.topology.queue('extract'), ['a', 'b', 'c']);
    const holding = await waitFor(async () => (await replicas('?service=extractor')).find((r) => r.inFlight === 3), { timeoutMs: 5000, what: 'inFlight 3' });
    assert.equal(holding.pagesPerSecond, 0);
    release();
    const after = await waitFor(async () => (await replicas('?service=extractor')).find((r) => r.inFlight === 0 && r.pagesPerSecond > 0), { timeoutMs: 5000, what: 'a rate after the tasks settled' });
    assert.ok(after.pagesPerSecond <= 30, `3 tasks in ≥ 0.1 s: ${after.pagesPerSecond}/s`);
  });

  it('after PATCH /config the rollout reaches N of N, and config set --wait follows it', async () => {
    const patched = await http<{ version: number; rollout: Rollout }>(api, 'PATCH', '/config', { 'fetch.maxRedirects': 7 });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const { version, rollout } = patched.body;
    assert.equal(version, 1);
    assert.equal(rollout.version, 1);
    assert.equal(rollout.replicas, 4);
    assert.ok(rollout.current >= 0 && rollout.current <= 4);
    assert.equal(rollout.behind.length, rollout.replicas - rollout.current);
    const started = Date.now();
    const done = await waitFor(async () => {
      const r = (await http<Rollout>(api, 'GET', '/config/rollout')).body;
      return r.current === r.replicas ? r : null;
    }, { timeoutMs: 3000, intervalMs: 50, what: 'every replica at version 1' });
    assert.deepEqual(done, { version: 1, replicas: 4, current: 4, behind: [] });
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    assert.ok((await replicas()).every((r) => r.configVersion === 1));
    const ahead = (await http<Rollout>(api, 'GET', '/config/rollout?version=99')).body;
    assert.equal(ahead.current, 0);
    assert.equal(ahead.behind.length, 4);

    const set = await ctl(['--api', api, 'config', 'set', 'fetch.maxRedirects=8', '--wait']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^version 2\n {2}fetch\.maxRedirects: 7 → 8\n/);
    assert.match(set.stdout, /rollout of version 2: 4 of 4 replicas\n$/);

    // A replica that cannot apply a change: --wait gives up and names it; its heartbeat says why.
    const stuck = running[3] as RunningService;
    const json = await ctl(['--api', api, '--json', 'config', 'set', 'fetch.maxRedirects=9', '--wait', '--wait-ms', '1500']);
    assert.equal(json.code, 1);
    const body = JSON.parse(json.stdout) as { version: number; rollout: Rollout };
    assert.equal(body.version, 3);
    assert.deepEqual(body.rollout.behind.map((b) => b.id), [stuck.heartbeat.id]);
    assert.match(json.stderr, new RegExp(`version 3 did not reach every replica within 1500 ms: ${stuck.heartbeat.id} runs 2`));
    const report = (await replicas()).find((r) => r.id === stuck.heartbeat.id);
    assert.equal(report?.ready, false);
    assert.match(report?.lastError ?? '', /configuration version 3 could not be applied: the broker refused the change/);
    assert.deepEqual(report?.reasons, [report?.lastError]);
  });

  it('a replica stopped gracefully leaves the list at once', async () => {
    const leaving = running.pop() as RunningService;
    await leaving.stop();
    const ids = (await replicas()).map((r) => r.id);
    assert.ok(!ids.includes(leaving.heartbeat.id));
    assert.equal(ids.length, 3);
    assert.equal(await redis.exists(keys.replica(leaving.heartbeat.id)), 0);
  });

  it('a replica that stops beating leaves the list after the expiry, and the index forgets it', async () => {
    const dying = running[running.length - 1] as RunningService;
    await dying.heartbeat.stop(false);
    assert.ok((await replicas()).some((r) => r.id === dying.heartbeat.id), 'still listed before the expiry');
    const gone = Date.now();
    await waitFor(async () => !(await replicas()).some((r) => r.id === dying.heartbeat.id), { timeoutMs: 3000, intervalMs: 50, what: 'the dead replica to expire' });
    assert.ok(Date.now() - gone <= 1500, `expired after ${Date.now() - gone} ms (ttl 1000)`);
    await sleep(300);
    assert.ok(!(await redis.zrange(keys.replicasIndex, 0, -1)).includes(dying.heartbeat.id));
    assert.equal((await replicas()).length, 2);
  });

  it('follows a live change of the heartbeat interval and its expiry', async () => {
    const patched = await http(api, 'PATCH', '/config', { 'replicas.heartbeatMs': 400, 'replicas.missedBeats': 4 });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const rs = await waitFor(async () => {
      const all = await replicas();
      return all.every((r) => r.heartbeatMs === 400 && r.ttlMs === 1600) ? all : null;
    }, { timeoutMs: 3000, intervalMs: 50, what: 'heartbeats at the new interval' });
    assert.equal(rs.length, 2);
    for (const r of rs) {
      const pttl = await redis.pttl(keys.replica(r.id));
      assert.ok(pttl > 600 && pttl <= 1600, `pttl ${pttl}`);
    }
  });
});
