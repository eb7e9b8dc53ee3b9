/**
 * Cleaner: runs the sweep (sweep.ts) as a BullMQ job scheduler on the `sweeps` control queue,
 * every cleaner.intervalMs (read live). The queue's global concurrency is 1, so however many
 * cleaner replicas run, one sweep runs at a time; a replica that dies mid-sweep leaves its
 * job to BullMQ's stalled-job check, and every write of a sweep is a compare-and-set, so an
 * overlap could at worst publish a task twice (its claim takes it once).
 *
 * Before each sweep, until none is left, the previous release's queues are drained into this
 * release's layout and removed (migrate.ts): an upgrade in place needs no step of its own.
 */
import { Worker } from 'bullmq';
import { controlQueueName, openControlQueue } from '../../shared/controlplane/queues.js';
import { toCrawlError } from '../../shared/errors/index.js';
import { createRedis } from '../../shared/redis/client.js';
import { runService, type ServiceContext, type ServiceHandle } from '../../shared/service/runtime.js';
import { LayoutMigration } from './migrate.js';
import { sweep } from './sweep.js';

const SCHEDULER_ID = 'sweep';

export async function startCleaner(ctx: ServiceContext): Promise<ServiceHandle> {
  const { keys } = ctx;
  const connection = createRedis(ctx.config().redis, { name: `${keys.namespace}:cleaner:bull`, blocking: true });
  connection.on('error', (err: Error) => ctx.log.warn({ err: err.message }, 'control-plane redis error'));
  const queue = openControlQueue(keys, 'sweeps', connection);
  queue.on('error', (err: Error) => ctx.log.warn({ err: err.message }, 'sweeps queue error'));
  await queue.setGlobalConcurrency(1);
  const schedule = (everyMs: number): Promise<unknown> =>
    queue.upsertJobScheduler(SCHEDULER_ID, { every: everyMs }, { name: 'sweep', opts: { removeOnComplete: 100, removeOnFail: 100 } });
  await schedule(ctx.config().cleaner.intervalMs);

  const migration = new LayoutMigration(ctx);
  const worker = new Worker(
    controlQueueName(keys.namespace, 'sweeps'),
    async () => {
      // A broker problem here must not stop the sweep (the next one tries again).
      await migration.run().catch((err: unknown) => ctx.log.warn({ err: toCrawlError(err).message }, 'previous queue layout not drained this sweep'));
      const report = await sweep(ctx);
      if (report.partial || report.closed || report.ended || report.redriven || report.reconciled || report.pruned) ctx.log.info(report, 'cleaner sweep');
      return report;
    },
    { connection, prefix: keys.bullPrefix, concurrency: 1 },
  );
  worker.on('failed', (_job, err) => ctx.log.warn({ err: toCrawlError(err).message }, 'cleaner sweep failed'));
  worker.on('error', (err) => ctx.log.warn({ err: err.message }, 'cleaner worker error'));
  ctx.onConfigChange(async (next, prev) => {
    if (next.cleaner.intervalMs !== prev.cleaner.intervalMs) await schedule(next.cleaner.intervalMs);
  });

  return {
    async close(graceMs) {
      // A sweep in progress finishes (its writes are short), within the grace.
      await Promise.race([worker.close(), new Promise((r) => setTimeout(r, graceMs))]);
      await queue.close().catch(() => undefined);
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}

/** Entry point: `crawlfleet cleaner`. */
export const main = (): Promise<unknown> => runService('cleaner', startCleaner);
