/**
 * `npm start`: the whole stack on this machine, one process per service, logs prefixed by
 * service, crashed services restarted, everything stopped on Ctrl-C.
 *
 *   FETCHERS=3 EXTRACTORS=1 npm start
 *
 * Every other setting comes from the environment as documented in docs/configuration.md
 * (or a CONFIG_FILE). For a local crawl the quick start sets FETCH_ALLOWED_NETWORKS so the
 * demo site on 127.0.0.1 may be fetched.
 */
import { SERVICE_NAMES, SERVICES, type ServiceName } from '../shared/pipeline/services.js';
import { stackSpecs, Supervisor } from './supervisor.js';

/** An integer from the environment within [min, max], or the fallback; exits 2 naming the variable otherwise. */
function integer(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const env: Record<string, string> = {};
for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;

// FETCHERS, EXTRACTORS, DELIVERIES: replicas of the scalable services (shared/pipeline/services.ts).
const replicas: Partial<Record<ServiceName, number>> = {};
for (const name of SERVICE_NAMES) {
  const def = SERVICES[name];
  if ('replicasEnv' in def) replicas[name] = integer(def.replicasEnv, def.defaultReplicas, 0, 64);
}
// The worker health servers take consecutive ports from FIRST_WORKER_PORT; 0 picks free ports.
const specs = stackSpecs({ replicas, env, firstWorkerPort: integer('FIRST_WORKER_PORT', 8081, 0, 65535) });

const color = process.stdout.isTTY;
const palette = [36, 32, 33, 35, 34, 31, 96, 92, 93, 95];
const colorOf = new Map<string, number>();
const width = Math.max(...specs.map((s) => s.label.length));

const supervisor = new Supervisor({
  onLine(label, line) {
    if (!colorOf.has(label)) colorOf.set(label, palette[colorOf.size % palette.length] as number);
    const tag = label.padEnd(width);
    process.stdout.write(color ? `\x1b[${colorOf.get(label)}m${tag} |\x1b[0m ${line}\n` : `${tag} | ${line}\n`);
  },
});

for (const s of specs) supervisor.start(s);
const api = `http://${env.CONTROLLER_HOST ?? '127.0.0.1'}:${env.CONTROLLER_PORT ?? '8080'}`;
process.stdout.write(`crawlfleet: ${specs.length} processes starting; API at ${api} (Ctrl-C stops everything)\n`);

let stopping = false;
const shutdown = (signal: string): void => {
  if (stopping) {
    process.stdout.write('crawlfleet: forced exit\n');
    process.exit(130);
  }
  stopping = true;
  process.stdout.write(`crawlfleet: ${signal} received, stopping all services (Ctrl-C again to force)\n`);
  void supervisor.stopAll().then(() => {
    process.stdout.write('crawlfleet: stopped\n');
    process.exit(0);
  });
};
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
