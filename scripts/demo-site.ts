/**
 * Serves a GeneratedSite for the quick-start demo (`npm run demo-site`).
 *
 * Environment: DEMO_SITE_PAGES (default 2000), DEMO_SITE_PORT (8000),
 * DEMO_SITE_HOST (127.0.0.1), DEMO_SITE_LATENCY_MS (0). Stops on SIGINT/SIGTERM.
 */
import { GeneratedSite } from '../test/sites/generated.js';

/** Reads a non-negative integer setting, or exits with a message. */
function intSetting(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`demo site: ${name} must be a non-negative integer, got "${raw}"`);
    process.exit(2);
  }
  return value;
}

async function main(): Promise<void> {
  const pages = intSetting('DEMO_SITE_PAGES', 2000);
  const port = intSetting('DEMO_SITE_PORT', 8000);
  const latencyMs = intSetting('DEMO_SITE_LATENCY_MS', 0);
  const host = process.env.DEMO_SITE_HOST?.trim() || '127.0.0.1';

  const site = new GeneratedSite({ pages: Math.max(1, pages), latencyMs });
  const origin = await site.start(host, port);
  const reachable = site.reachable().size;
  console.log(`demo site: ${site.options.pages} pages at ${origin}/ (reachable: ${reachable} URLs incl. 404/500/files)`);

  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await site.stop();
    console.log(`demo site: stopped (${signal}, ${site.stats.requests} requests served)`);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      shutdown(signal).catch((err: unknown) => {
        console.error('demo site: error while stopping', err);
        process.exitCode = 1;
      });
    });
  }
}

main().catch((err: unknown) => {
  console.error('demo site: failed to start', err);
  process.exit(1);
});
