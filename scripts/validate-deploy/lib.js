// Shared helpers of the deployment validators (run by scripts/validate-deploy.sh
// from the tool cache directory, where `yaml` and friends are installed).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';

/** Collects findings; `fail()` marks the run as failed. */
export class Report {
  constructor(scope) {
    this.scope = scope;
    this.errors = [];
    this.warnings = [];
  }

  error(where, message) {
    this.errors.push(`${where}: ${message}`);
  }

  warn(where, message) {
    this.warnings.push(`${where}: ${message}`);
  }

  /** Prints the findings; returns true when there was no error. */
  print(okLine) {
    for (const w of this.warnings) console.log(`WARN  [${this.scope}] ${w}`);
    for (const e of this.errors) console.error(`ERROR [${this.scope}] ${e}`);
    if (this.errors.length === 0 && okLine) console.log(`ok    [${this.scope}] ${okLine}`);
    return this.errors.length === 0;
  }
}

/** Parses a multi-document YAML file; YAML syntax errors are findings. */
export function loadYamlDocs(file, report) {
  const text = readFileSync(file, 'utf8');
  const docs = [];
  for (const doc of YAML.parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) report.error(path.basename(file), `YAML: ${e.message}`);
      continue;
    }
    const value = doc.toJS();
    if (value === null || value === undefined) continue;
    docs.push(value);
  }
  return docs;
}

/** JSON pointer segment. */
export function ptr(key) {
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1');
}

let appConfig;

/**
 * The app's own config loader (dist/shared/config/index.js, built by
 * `npm run build`): the strict schema every service validates its settings
 * with. Returns null (and says why) when it is not built.
 */
export async function loadAppConfigModule(repo) {
  if (appConfig !== undefined) return appConfig;
  const file = path.join(repo, 'dist/shared/config/index.js');
  if (!existsSync(file)) {
    appConfig = null;
    console.log('SKIP  app settings check: dist/shared/config/index.js is not built (run `npm run build` first to check config files and env values against the app schema)');
    return appConfig;
  }
  try {
    const mod = await import(pathToFileURL(file).href);
    if (typeof mod.loadConfig !== 'function') throw new Error('loadConfig is not exported');
    appConfig = mod;
  } catch (err) {
    appConfig = null;
    console.log(`SKIP  app settings check: cannot load dist/shared/config/index.js (${err.message})`);
  }
  return appConfig;
}

/**
 * Validates a settings file (parsed) plus an environment with the app's
 * loader. Returns an error message or null.
 */
export function checkAppSettings(mod, file, env) {
  try {
    mod.loadConfig({ env, file, overrides: null });
    return null;
  } catch (err) {
    if (err && err.code === 'config_invalid') return err.message;
    return `app config loader failed: ${err && err.stack ? err.stack : err}`;
  }
}

export function exitWith(ok) {
  process.exitCode = ok ? 0 : 1;
}

/**
 * The service registry (shared/pipeline/services.ts, built to
 * dist/shared/pipeline/services.js): the services that the compose file and
 * the Kubernetes manifests must each run. `file` overrides where it is read
 * from (the self-test passes a registry with an extra service). Returns
 * { names, api, source } or throws an Error whose message says what to do.
 */
export async function loadServiceRegistry(repo, file) {
  const source = file ?? path.join(repo, 'dist/shared/pipeline/services.js');
  const shown = path.relative(repo, source) || source;
  if (!existsSync(source)) {
    throw new Error(`the service registry ${shown} is not built: run \`npm run build\` (npm run validate:deploy builds it when missing)`);
  }
  const mod = await import(pathToFileURL(source).href);
  const names = mod.SERVICE_NAMES;
  if (!Array.isArray(names) || names.length === 0 || typeof mod.SERVICES !== 'object' || names.some((n) => !mod.SERVICES[n])) {
    throw new Error(`${shown} does not export SERVICE_NAMES and SERVICES (the service registry of shared/pipeline/services.ts)`);
  }
  // The queue each service consumes, from the stage registry beside it (absent in a --registry file without one).
  const stagesFile = path.join(path.dirname(source), 'stages.js');
  // The name after `<namespace>.` comes from the queue layout (shared/messaging/topology.ts: `v3.fetch`).
  const topologyFile = path.join(path.dirname(source), '..', 'messaging', 'topology.js');
  let nameOf = (stage) => stage;
  if (existsSync(topologyFile)) {
    const { topology } = await import(pathToFileURL(topologyFile).href);
    const t = topology('ns');
    nameOf = (stage) => t.queue(stage).slice('ns.'.length);
  }
  const queueOf = {};
  if (existsSync(stagesFile)) {
    const { STAGES, STAGE_NAMES } = await import(pathToFileURL(stagesFile).href);
    for (const stage of STAGE_NAMES) queueOf[STAGES[stage].service] ??= nameOf(stage);
  }
  return { names: [...names], api: names.filter((n) => mod.SERVICES[n].api === true), queueOf, source: shown };
}
