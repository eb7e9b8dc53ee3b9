/**
 * Cleaner: a periodic sweep (cleaner.intervalMs, read live) that finds what nobody else
 * will: sessions past their deadline, tasks whose lease expired. See sweep.ts.
 */
import { toCrawlError } from '../../shared/errors/index.js';
import { runService, type ServiceContext, type ServiceHandle } from '../../shared/service/runtime.js';
import { sweep, withSweepLock } from './sweep.js';

export async function startCleaner(ctx: ServiceContext): Promise<ServiceHandle> {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let stopped = false;

  const tick = async (): Promise<void> => {
    const interval = ctx.config().cleaner.intervalMs;
    try {
      const report = await withSweepLock(ctx, Math.max(interval * 3, 30_000), () => sweep(ctx));
      if (report && (report.partial || report.closed || report.ended || report.redriven || report.reconciled || report.pruned)) {
        ctx.log.info(report, 'cleaner sweep');
      }
    } catch (err) {
      ctx.log.warn({ err: toCrawlError(err).message }, 'cleaner sweep failed');
    }
  };

  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().finally(() => {
        running = null;
        schedule();
      });
    }, ctx.config().cleaner.intervalMs);
  };
  schedule();

  return {
    async close() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (running) await running;
    },
  };
}

/** Entry point: `crawlfleet cleaner`. */
export const main = (): Promise<unknown> => runService('cleaner', startCleaner);
