/**
 * `crawlfleet migrate [--wait <seconds>]`: drains the previous release's queue layout of the
 * configured namespace into this release's and removes it (shared/messaging/migrate.ts), the
 * step the cleaner otherwise takes before each sweep. It declares this release's layout first,
 * so it can run before any new replica starts. Old queues are removed only when no replica of
 * the previous layout beats; with `--wait`, it tries again every second until they are gone
 * or the time is up.
 */
import { adoptLegacyConfig } from '../shared/config/center.js';
import { loadConfig, maskSecret } from '../shared/config/index.js';
import { migrateStep, type MigrationStep } from '../shared/messaging/migrate.js';
import { declareTopology, topology } from '../shared/messaging/topology.js';
import { amqpUrls, connectFirst } from '../shared/messaging/urls.js';
import { createRedis } from '../shared/redis/client.js';
import { redisKeys } from '../shared/redis/keys.js';
import { listReplicas, olderLayoutReplicas } from '../shared/service/heartbeat.js';

const USAGE = 'usage: crawlfleet migrate [--wait <seconds>]';

/** Returns the exit code: 0 nothing old is left, 1 old queues remain (or it failed), 2 bad usage. */
export async function main(argv: readonly string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`), err: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<number> {
  let waitS = 0;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--wait' && /^\d+$/.test(argv[i + 1] ?? '')) waitS = Number(argv[++i]);
    else {
      err(`crawlfleet migrate: unexpected ${JSON.stringify(argv[i])}\n${USAGE}`);
      return 2;
    }
  }
  const { config } = loadConfig();
  const t = topology(config.namespace);
  const keys = redisKeys(config.namespace);
  const redis = createRedis(config.redis, { name: `${config.namespace}:migrate` });
  let conn: Awaited<ReturnType<typeof connectFirst>>['conn'] | null = null;
  try {
    conn = (await connectFirst(amqpUrls(config.amqp.url), {}, maskSecret)).conn;
    if (await adoptLegacyConfig(redis, keys)) out('adopted the live configuration of the previous release');
    const setup = await conn.createChannel();
    await declareTopology(setup, t, config.amqp);
    await setup.close();
    const until = Date.now() + waitS * 1000;
    let step: MigrationStep;
    for (;;) {
      step = await migrateStep(conn, t, { canRemove: async () => olderLayoutReplicas(await listReplicas(redis, keys)).length === 0 });
      const moved = Object.values(step.moved).reduce((n, m) => n + m, 0);
      if (moved > 0 || step.removed.length > 0) out(`moved ${moved} messages, removed ${step.removed.length} queues and exchanges`);
      if (step.remaining.length === 0 || Date.now() >= until) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (step.remaining.length === 0) {
      out(`namespace ${config.namespace}: queue layout ${t.version}, nothing of an older layout left`);
      return 0;
    }
    const alive = olderLayoutReplicas(await listReplicas(redis, keys));
    out(`namespace ${config.namespace}: ${step.remaining.map((q) => `${q.name} (${q.messages} messages, ${q.consumers} consumers)`).join(', ')} left${alive.length > 0 ? `; replicas of the previous layout alive: ${alive.join(', ')}` : ''}`);
    return 1;
  } catch (e) {
    err(`crawlfleet migrate: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    await conn?.close().catch(() => undefined);
    redis.disconnect();
  }
}
