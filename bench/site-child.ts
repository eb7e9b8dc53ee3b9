/**
 * A GeneratedSite (or, given `{"dir": "..."}`, a StaticSite serving that directory) in a
 * process of its own, so the site's CPU is measured apart from the bench and the stack (it
 * still competes with them for the same cores).
 *
 *   node dist/bench/site-child.js '<GeneratedSiteOptions as JSON | {"dir": DIR}>' [maxLifetimeMs]
 *
 * Prints `{"origin":"http://127.0.0.1:PORT"}` once listening. Commands on stdin, one per
 * line, each answered with one JSON line: `stats` (counters; `distinctPaths` and
 * `repeatedPaths` instead of the per-path map), `reset`, `latency <ms>`. Stops when stdin
 * closes, on SIGTERM, or after maxLifetimeMs (default 30 min), whichever comes first.
 */
import { createInterface } from 'node:readline';
import { GeneratedSite, type GeneratedSiteOptions } from '../test/sites/generated.js';
import { StaticSite } from '../test/sites/static.js';

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as GeneratedSiteOptions | { dir: string };
  const lifetime = Number(process.argv[3] ?? 30 * 60_000);
  const site = 'dir' in opts ? new StaticSite(opts.dir) : new GeneratedSite(opts);
  const origin = await site.start('127.0.0.1', 0);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void site.stop().finally(() => process.exit(0));
  };
  setTimeout(stop, lifetime).unref();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const out = (v: unknown): void => void process.stdout.write(`${JSON.stringify(v)}\n`);
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd === 'stats') {
      const s = site.stats;
      let repeated = 0;
      for (const n of s.byPath.values()) if (n > 1) repeated++;
      out({ stats: { requests: s.requests, inFlight: s.inFlight, maxInFlight: s.maxInFlight, bytesSent: s.bytesSent, distinctPaths: s.byPath.size, repeatedPaths: repeated } });
    } else if (cmd === 'reset') {
      site.resetStats();
      out({ reset: true });
    } else if (cmd === 'latency' && site instanceof GeneratedSite) {
      site.latencyMs = Math.max(0, Number(arg) || 0);
      out({ latency: site.latencyMs });
    } else {
      out({ error: `unknown command ${JSON.stringify(cmd)}` });
    }
  });
  rl.on('close', stop);
  out({ origin });
}

main().catch((err: unknown) => {
  process.stderr.write(`site-child: ${(err as Error).message}\n`);
  process.exit(1);
});
