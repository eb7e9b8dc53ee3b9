// Checks the crawlfleet contract on the normalized output of
// `docker-compose -f docker-compose.yml config` (Compose 1.29 or v2 syntax).
//
// The crawlfleet services expected are those of the service registry
// (dist/shared/pipeline/services.js, or --registry FILE).
//
//   node compose-lint.js --repo DIR [--registry FILE] NORMALIZED.yml
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import YAML from 'yaml';
import { Report, checkAppSettings, exitWith, loadAppConfigModule, loadServiceRegistry } from './lib.js';

const DEFAULT_GRACE_MS = 20000;

function durationMs(v) {
  if (typeof v === 'number') return v / 1e6; // v2 normalizes to nanoseconds
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)/g;
  let m;
  let matched = false;
  while ((m = re.exec(String(v))) !== null) {
    matched = true;
    total += Number(m[1]) * { h: 3600e3, m: 60e3, s: 1e3, ms: 1, us: 1e-3, ns: 1e-6 }[m[2]];
  }
  return matched ? total : NaN;
}

/** Volume mounts as {source, target, readOnly} from short or long syntax. */
function mounts(service) {
  return (service.volumes ?? []).map((v) => {
    if (typeof v === 'string') {
      const parts = v.split(':');
      if (parts.length === 1) return { source: null, target: parts[0], readOnly: false };
      return { source: parts[0], target: parts[1], readOnly: parts[2] === 'ro' || parts[2]?.split(',').includes('ro') };
    }
    return { source: v.source ?? null, target: v.target, readOnly: v.read_only === true };
  });
}

function envOf(service) {
  const e = service.environment ?? {};
  if (Array.isArray(e)) return Object.fromEntries(e.map((x) => [x.split('=')[0], x.split('=').slice(1).join('=')]));
  return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

function commandOf(service) {
  const c = service.command;
  return Array.isArray(c) ? c : typeof c === 'string' ? c.split(/\s+/) : [];
}

async function main() {
  const args = process.argv.slice(2);
  let repo = process.cwd();
  let file;
  let registryFile;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--repo') repo = args[++i];
    else if (args[i] === '--registry') registryFile = args[++i];
    else file = args[i];
  }
  const report = new Report('compose');
  let registry;
  try {
    registry = await loadServiceRegistry(repo, registryFile);
  } catch (e) {
    report.error('services', e.message);
    exitWith(report.print());
    return;
  }
  // Every service of the registry runs from the image; only API services publish a port.
  const APP = registry.names;
  const isApi = (name) => registry.api.includes(name);
  const cfg = YAML.parse(readFileSync(file, 'utf8'));
  const services = cfg.services ?? {};
  const err = (svc, field, msg) => report.error(`service ${svc}`, `${field}: ${msg}`);

  for (const s of APP) if (!services[s]) report.error('services', `missing service "${s}" (named in the service registry ${registry.source})`);
  for (const s of ['rabbitmq', 'redis']) if (!services[s]) report.error('services', `missing service "${s}"`);
  for (const [name, s] of Object.entries(services)) {
    const cmd = commandOf(s);
    const i = cmd.findIndex((a) => /bin\/crawlfleet\.js$/.test(a));
    if (i >= 0 && !APP.includes(cmd[i + 1])) err(name, 'command', `runs "${cmd[i + 1]}", which is not a service of the registry ${registry.source} (${APP.join(', ')})`);
  }

  const rabbit = services.rabbitmq;
  if (rabbit) {
    if (!/^rabbitmq:3\.13-management/.test(rabbit.image ?? '')) err('rabbitmq', 'image', 'must be rabbitmq:3.13-management (management plugin)');
    if (!JSON.stringify(rabbit.ports ?? []).includes('15672')) err('rabbitmq', 'ports', 'must publish the management UI (15672)');
    if (!rabbit.healthcheck?.test) err('rabbitmq', 'healthcheck', 'required');
    if (!mounts(rabbit).some((m) => m.target === '/var/lib/rabbitmq')) err('rabbitmq', 'volumes', 'needs a volume at /var/lib/rabbitmq');
  }
  const redis = services.redis;
  if (redis) {
    if (!/^redis:7-alpine/.test(redis.image ?? '')) err('redis', 'image', 'must be redis:7-alpine');
    if (!/--appendonly\s+yes/.test(commandOf(redis).join(' '))) err('redis', 'command', 'must enable AOF (--appendonly yes)');
    if (!redis.healthcheck?.test) err('redis', 'healthcheck', 'required');
    if (!mounts(redis).some((m) => m.target === '/data')) err('redis', 'volumes', 'needs a volume at /data');
  }

  const mod = await loadAppConfigModule(repo);
  const images = new Set();
  for (const name of APP) {
    const s = services[name];
    if (!s) continue;
    images.add(s.image);
    const cmd = commandOf(s);
    if (cmd[cmd.length - 1] !== name || !cmd.some((a) => /bin\/crawlfleet\.js$/.test(a))) err(name, 'command', `must run bin/crawlfleet.js ${name}`);
    const test = s.healthcheck?.test;
    if (!test || s.healthcheck?.disable || (Array.isArray(test) && test[0] === 'NONE')) err(name, 'healthcheck', 'required');
    for (const dep of ['rabbitmq', 'redis']) {
      const cond = Array.isArray(s.depends_on) ? undefined : s.depends_on?.[dep]?.condition;
      if (cond !== 'service_healthy') err(name, `depends_on.${dep}`, 'must have condition: service_healthy');
    }
    if (s.container_name && !isApi(name)) err(name, 'container_name', 'not allowed on a scalable service');
    if (!isApi(name) && (s.ports ?? []).length > 0) err(name, 'ports', `only the API service (${registry.api.join(', ')}) publishes a port (scaled services would collide)`);
    const env = envOf(s);
    const port = isApi(name) ? env.CONTROLLER_PORT ?? '8080' : env.HTTP_PORT ?? '8081';
    if (!JSON.stringify(test ?? '').includes(`:${port}/`)) err(name, 'healthcheck', `must probe port ${port}`);
    for (const v of isApi(name) ? ['CONTROLLER_HOST'] : ['HTTP_HOST']) {
      if (env[v] !== undefined && env[v] !== '0.0.0.0') err(name, `environment.${v}`, 'must be 0.0.0.0 in a container');
    }
    const graceMs = Number(env.SHUTDOWN_GRACE_MS ?? DEFAULT_GRACE_MS);
    const stopMs = s.stop_grace_period === undefined ? 10000 : durationMs(s.stop_grace_period);
    if (!(stopMs > graceMs)) err(name, 'stop_grace_period', `${s.stop_grace_period ?? '10s (default)'} must exceed SHUTDOWN_GRACE_MS ${graceMs}ms, or draining is cut short by SIGKILL`);
    // Config file: its directory bind-mounted (a single-file mount misses edits that replace the file).
    let fileSettings = {};
    if (!env.CONFIG_FILE) err(name, 'environment.CONFIG_FILE', 'required');
    else {
      const dir = path.posix.dirname(env.CONFIG_FILE);
      const m = mounts(s).find((x) => x.target === dir || x.target === env.CONFIG_FILE);
      if (!m || !m.source) err(name, 'volumes', `mount the directory of CONFIG_FILE (${dir}) from the host`);
      else if (m.target === env.CONFIG_FILE) err(name, 'volumes', `${m.target}: mount its directory, not the file (edits that replace the file would not be seen)`);
      else {
        const hostFile = path.join(m.source, path.posix.basename(env.CONFIG_FILE));
        if (!existsSync(hostFile)) err(name, 'volumes', `${hostFile} does not exist`);
        else {
          try {
            fileSettings = JSON.parse(readFileSync(hostFile, 'utf8'));
          } catch (e) {
            err(name, 'volumes', `${hostFile}: invalid JSON: ${e.message}`);
          }
        }
      }
    }
    if (name === 'delivery') {
      const dir = env.RESULTS_DIR;
      if (!dir || !mounts(s).some((m) => dir === m.target || dir.startsWith(`${m.target}/`))) err(name, 'environment.RESULTS_DIR', 'must point into a mounted volume');
    }
    if (isApi(name)) {
      // The API needs a token: API_TOKEN, or else the file the controller generates it
      // into (api.tokenFile), on a writable named volume so that it survives a restart.
      if (!('API_TOKEN' in env)) err(name, 'environment.API_TOKEN', 'must be passed (e.g. API_TOKEN: ${API_TOKEN:-}), so that a token set in .env or the shell reaches the API');
      if (!env.API_TOKEN) {
        const file = env.API_TOKEN_FILE;
        const m = file ? mounts(s).find((x) => x.target === path.posix.dirname(file)) : undefined;
        if (!file) err(name, 'environment.API_TOKEN_FILE', 'required when API_TOKEN is empty: the API would be open to anyone');
        else if (!m || !m.source || m.readOnly || /^[./~]/.test(m.source)) err(name, 'environment.API_TOKEN_FILE', `${file}: its directory must be a writable named volume, so the generated token survives a restart`);
      }
    }
    if (mod) {
      const problem = checkAppSettings(mod, fileSettings, env);
      if (problem) err(name, 'settings', `rejected by the app's config schema: ${problem}`);
    }
  }
  if (images.size > 1) report.error('services', `the ${APP.length} services must use one image, found ${[...images].join(', ')}`);
  const replicas = services.fetcher?.deploy?.replicas ?? services.fetcher?.scale;
  if (!(Number(replicas) >= 2)) err('fetcher', 'deploy.replicas', `should run several fetchers (got ${replicas})`);

  exitWith(report.print(`docker-compose.yml: ${Object.keys(services).length} services (registry: ${APP.join(', ')}), healthchecks, depends_on, scaling, config mount, drain timing${mod ? ', app settings' : ''}`));
}

main().catch((err) => {
  console.error(`ERROR [compose] lint crashed: ${err?.stack ?? err}`);
  process.exitCode = 2;
});
