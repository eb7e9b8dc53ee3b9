/**
 * The cleaner's part of an upgrade in place: each sweep drains the previous release's queues
 * into this release's layout and removes them once empty (shared/messaging/migrate.ts). The
 * old queues are removed only when no live replica runs the previous layout (their heartbeats
 * say which layout they run; records without one are of the previous release). The live
 * configuration of a release before the cluster layout is adopted first (adoptLegacyConfig).
 * Once a pass finds no old queue, this replica stops looking.
 */
import { adoptLegacyConfig } from '../../shared/config/center.js';
import { migrateStep, type MigrationStep } from '../../shared/messaging/migrate.js';
import { listReplicas, olderLayoutReplicas } from '../../shared/service/heartbeat.js';
import type { ServiceContext } from '../../shared/service/runtime.js';

export class LayoutMigration {
  private done = false;

  constructor(private readonly ctx: Pick<ServiceContext, 'broker' | 'topology' | 'redis' | 'keys' | 'log'>) {}

  /** Whether every old queue is gone (as of the last pass). */
  get finished(): boolean {
    return this.done;
  }

  /** One pass (null once finished). */
  async run(): Promise<MigrationStep | null> {
    if (this.done) return null;
    const { ctx } = this;
    if (await adoptLegacyConfig(ctx.redis, ctx.keys)) ctx.log.info('live configuration of the previous release adopted');
    const step = await migrateStep(ctx.broker.channels(), ctx.topology, {
      canRemove: async () => olderLayoutReplicas(await listReplicas(ctx.redis, ctx.keys)).length === 0,
    });
    const moved = Object.values(step.moved).reduce((n, m) => n + m, 0);
    if (moved > 0 || step.removed.length > 0) ctx.log.info({ moved: step.moved, removed: step.removed, remaining: step.remaining.map((q) => q.name) }, 'previous queue layout drained');
    if (step.remaining.length === 0) this.done = true;
    return step;
  }
}
