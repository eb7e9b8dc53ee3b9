/**
 * The config center against the real Redis: the API validates and versions changes, every
 * replica applies a pushed change, a replica that missed the push catches up, and the file
 * source follows writes and the ConfigMap `..data` symlink swap.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { adoptLegacyConfig, ConfigCenter } from '../../shared/config/center.js';
import type { Config } from '../../shared/config/index.js';
import { createLogger } from '../../shared/observability/log.js';
import { createRedis } from '../../shared/redis/client.js';
import { redisKeys } from '../../shared/redis/keys.js';
import { runService, type RunningService } from '../../shared/service/runtime.js';
import { startController } from '../../services/controller/index.js';
import { REDIS_URL, cleanupNamespace, http, serviceEnv, testNamespace, waitFor } from '../support/stack.js';

interface Replica {
  center: ConfigCenter;
  redis: Redis;
  sub: Redis;
  changes: { at: number; version: number; config: Config; reason: string }[];
  invalid: string[];
}

async function replica(ns: string, env: Record<string, string> = {}): Promise<Replica> {
  const center = new ConfigCenter({ env: { CRAWLER_NAMESPACE: ns, ...env }, log: createLogger('replica', 'silent') });
  const redis = createRedis(REDIS_URL, { name: `${ns}:replica` });
  const sub = createRedis(REDIS_URL, { name: `${ns}:replica:sub`, blocking: true });
  const r: Replica = { center, redis, sub, changes: [], invalid: [] };
  center.on('change', (config, ev) => r.changes.push({ at: Date.now(), version: ev.version, config, reason: ev.reason }));
  center.on('invalid', (err) => r.invalid.push(err.message));
  await center.start(redis, sub, redisKeys(ns));
  return r;
}

function closeReplica(r: Replica): void {
  r.center.close();
  r.redis.disconnect();
  r.sub.disconnect();
}

describe('config center (real Redis)', function () {
  this.timeout(20_000);
  const ns = testNamespace('c');
  let svc: RunningService;
  let api: string;
  const replicas: Replica[] = [];

  before(async () => {
    svc = await runService('controller', startController, { manageProcess: false, env: serviceEnv(ns, { CONTROLLER_PORT: '0', LOG_LEVEL: 'silent' }) });
    api = svc.address;
  });

  after(async () => {
    for (const r of replicas) closeReplica(r);
    await svc.stop();
    await cleanupNamespace(ns);
  });

  const version = async (): Promise<number> => (await http<{ version: number }>(api, 'GET', '/config')).body.version;

  it('applies a valid change as a new version with its origin and an audit entry', async () => {
    const before = await version();
    const res = await http<{ version: number; changes: { key: string; old: unknown; new: unknown }[] }>(api, 'PATCH', '/config', { rate: { global: 200 } }, { 'x-actor': 'alice' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.version, before + 1);
    assert.deepEqual(res.body.changes, [{ key: 'rate.global', old: 0, new: 200 }]);
    const cfg = await http<{ values: Config; settings: { key: string; value: unknown; origin: string }[] }>(api, 'GET', '/config');
    assert.equal(cfg.body.values.rate.global, 200);
    assert.deepEqual(cfg.body.settings.find((s) => s.key === 'rate.global'), { key: 'rate.global', value: 200, origin: 'override' });
    const hist = await http<{ history: { version: number; who: string; changes: unknown[] }[] }>(api, 'GET', '/config/history');
    assert.equal(hist.body.history[0]?.version, before + 1);
    assert.equal(hist.body.history[0]?.who, 'alice');
    assert.deepEqual(hist.body.history[0]?.changes, [{ key: 'rate.global', old: 0, new: 200 }]);
  });

  const refused: [string, unknown, string][] = [
    ['wrong type', { rate: { global: 'fast' } }, 'rate.global: must be a number of at least 0'],
    ['out of range', { fetch: { concurrency: 0 } }, 'fetch.concurrency: must be an integer of at least 1'],
    ['unknown key', { rate: { bogus: 1 } }, 'rate.bogus: unknown setting'],
    ['not live', { namespace: 'other' }, 'namespace: not a live setting'],
    ['bad CIDR', { fetch: { allowedNetworks: ['10.0.0.0/33'] } }, 'fetch.allowedNetworks: must be a list of CIDRs'],
    // No fault switch in production: the old crash marker is no setting at all.
    ['a fault switch', { faults: { extractorCrashMarker: '<html' } }, 'faults.extractorCrashMarker: unknown setting'],
  ];
  for (const [name, body, message] of refused) {
    it(`refuses an invalid change (${name}) with 400 naming the key, and changes nothing`, async () => {
      const before = await http<{ version: number; values: Config }>(api, 'GET', '/config');
      const res = await http<{ error: { code: string; message: string } }>(api, 'PATCH', '/config', body);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.error.code, 'config_invalid');
      assert.ok(res.body.error.message.startsWith(message), res.body.error.message);
      const after = await http<{ version: number; values: Config }>(api, 'GET', '/config');
      assert.equal(after.body.version, before.body.version);
      assert.deepEqual(after.body.values, before.body.values);
    });
  }

  it('keeps empty lists as lists in the audit history', async () => {
    await http(api, 'PATCH', '/config', { rate: { hosts: ['a.example=2'] } });
    await http(api, 'PATCH', '/config', { rate: { hosts: [] } });
    const hist = await http<{ history: { changes: { key: string; old: unknown; new: unknown }[] }[] }>(api, 'GET', '/config/history?limit=1');
    assert.deepEqual(hist.body.history[0]?.changes, [{ key: 'rate.hosts', old: ['a.example=2'], new: [] }]);
  });

  it('compares and sets on the expected version (409 when stale)', async () => {
    const v = await version();
    const stale = await http<{ error: { code: string } }>(api, 'PATCH', `/config?expectedVersion=${v - 1}`, { rate: { perHost: 3 } });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.error.code, 'conflict');
    const ok = await http<{ version: number }>(api, 'PATCH', '/config', { rate: { perHost: 3 } }, { 'if-match': `"${v}"` });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.version, v + 1);
  });

  it('rolls back to an earlier version as a new version', async () => {
    const start = await version();
    await http(api, 'PATCH', '/config', { retry: { maxAttempts: 7 } });
    const rolled = await http<{ version: number; changes: { key: string; new: unknown }[] }>(api, 'POST', '/config/rollback', { version: start });
    assert.equal(rolled.status, 200, rolled.text);
    assert.equal(rolled.body.version, start + 2);
    assert.deepEqual(rolled.body.changes, [{ key: 'retry.maxAttempts', old: 7, new: 3 }]);
    assert.equal((await http<{ values: Config }>(api, 'GET', '/config')).body.values.retry.maxAttempts, 3);
    assert.equal((await http(api, 'POST', '/config/rollback', { version: 99_999 })).status, 404);
  });

  it('reaches every replica within a second, and a new replica starts with it', async () => {
    for (let i = 0; i < 3; i++) replicas.push(await replica(ns));
    const sent = Date.now();
    const res = await http<{ version: number }>(api, 'PATCH', '/config', { fetch: { concurrency: 7 } });
    await waitFor(async () => replicas.every((r) => r.center.config.fetch.concurrency === 7), { timeoutMs: 1000, intervalMs: 10, what: 'all replicas at concurrency 7' });
    for (const r of replicas) {
      const change = r.changes.find((c) => c.version === res.body.version)!;
      assert.equal(change.reason, 'push');
      assert.ok(change.at - sent < 1000, `applied after ${change.at - sent} ms`);
    }
    const late = await replica(ns);
    replicas.push(late);
    assert.equal(late.center.config.fetch.concurrency, 7);
    assert.equal(late.center.version, res.body.version);
  });

  it('catches up a replica that missed the push (subscription cut), from the stored version', async () => {
    const r = await replica(ns, { CONFIG_POLL_MS: '300' });
    replicas.push(r);
    await r.sub.unsubscribe();
    const res = await http<{ version: number }>(api, 'PATCH', '/config', { fetch: { concurrency: 9 } });
    await waitFor(async () => r.center.config.fetch.concurrency === 9, { timeoutMs: 3000, intervalMs: 20, what: 'the cut-off replica to catch up' });
    assert.equal(r.changes.at(-1)?.reason, 'poll');
    assert.equal(r.center.version, res.body.version);
    // A killed subscriber connection reconnects and catches up at once.
    const clientId = await r.sub.client('ID');
    await r.redis.client('KILL', 'ID', String(clientId));
    await http(api, 'PATCH', '/config', { fetch: { concurrency: 11 } });
    await waitFor(async () => r.center.config.fetch.concurrency === 11, { timeoutMs: 3000, intervalMs: 20, what: 'the reconnected replica to catch up' });
  });

  it('follows the config file: a rewrite, a ConfigMap ..data swap, and ignores a broken file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crawlfleet-cm-'));
    try {
      // The layout a Kubernetes ConfigMap volume has: config.json → ..data/config.json, ..data → ..<timestamp>
      const version1 = join(dir, '..2026_01');
      mkdirSync(version1);
      writeFileSync(join(version1, 'config.json'), JSON.stringify({ extract: { concurrency: 2 } }));
      symlinkSync('..2026_01', join(dir, '..data'));
      symlinkSync('..data/config.json', join(dir, 'config.json'));
      const r = await replica(ns, { CONFIG_FILE: join(dir, 'config.json'), CONFIG_POLL_MS: '60000' });
      replicas.push(r);
      assert.equal(r.center.config.extract.concurrency, 2);
      assert.equal(r.center.origins['extract.concurrency'], 'file');

      // Atomic swap, as the kubelet does it.
      const version2 = join(dir, '..2026_02');
      mkdirSync(version2);
      writeFileSync(join(version2, 'config.json'), JSON.stringify({ extract: { concurrency: 5 } }));
      symlinkSync('..2026_02', join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      await waitFor(async () => r.center.config.extract.concurrency === 5, { timeoutMs: 2000, intervalMs: 20, what: 'the swapped ConfigMap to apply' });
      assert.equal(r.changes.at(-1)?.reason, 'file');

      // A broken file is refused; the last good configuration stays.
      writeFileSync(join(version2, 'config.json'), '{ "extract": { "concurrency": ');
      await waitFor(async () => r.invalid.length > 0, { timeoutMs: 2000, intervalMs: 20, what: 'the broken file to be reported' });
      assert.match(r.invalid[0]!, /not valid JSON/);
      assert.equal(r.center.config.extract.concurrency, 5);
      // An invalid value is refused the same way; then a good rewrite applies.
      writeFileSync(join(version2, 'config.json'), JSON.stringify({ extract: { concurrency: -1 } }));
      await waitFor(async () => r.invalid.length > 1, { timeoutMs: 2000, intervalMs: 20, what: 'the invalid value to be reported' });
      assert.equal(r.center.config.extract.concurrency, 5);
      writeFileSync(join(version2, 'config.json'), JSON.stringify({ extract: { concurrency: 3 } }));
      await waitFor(async () => r.center.config.extract.concurrency === 3, { timeoutMs: 2000, intervalMs: 20, what: 'the fixed file to apply' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('config center: an upgrade from the untagged config keys', () => {
  it('adopts the previous release\'s overrides, version and history once, and every replica applies them', async () => {
    const ns = testNamespace('cfg-legacy');
    const keys = redisKeys(ns);
    const redis = createRedis(REDIS_URL, { name: `${ns}:test` });
    const sub = createRedis(REDIS_URL, { name: `${ns}:sub`, blocking: true });
    const center = new ConfigCenter({ env: { CRAWLER_NAMESPACE: ns }, log: createLogger('test', 'error') });
    try {
      // What the previous release left: its hash and history under the untagged keys.
      await redis.hset(keys.legacyConfig, { version: '7', overrides: JSON.stringify({ 'rate.global': 33 }), updatedAt: String(Date.now()), updatedBy: 'ops' });
      await redis.rpush(keys.legacyConfigHistory, JSON.stringify({ version: 7, at: Date.now(), who: 'ops', changes: [] }));
      await center.start(redis, sub, keys);
      assert.equal(center.config.rate.global, 0, 'before the adoption the new keys are empty');
      assert.equal(await adoptLegacyConfig(redis, keys), true);
      await waitFor(async () => center.config.rate.global === 33, { timeoutMs: 5000, what: 'the replica applies the adopted overrides' });
      assert.equal(center.version, 7);
      assert.equal(await redis.llen(keys.configHistory), 1);
      assert.equal(await redis.exists(keys.legacyConfig, keys.legacyConfigHistory), 0, 'the old keys are gone');
      assert.equal(await adoptLegacyConfig(redis, keys), false, 'a second pass adopts nothing');
    } finally {
      center.close();
      sub.disconnect();
      redis.disconnect();
      await cleanupNamespace(ns);
    }
  });
});
