/**
 * Configuration: the only module that reads the environment.
 *
 * Sources, lowest first: schema defaults, config file, environment, live
 * overrides (stored in Redis by the config center). A load builds a fresh
 * convict instance from all layers, validates it as a whole (strict: unknown
 * keys are errors) and returns a deep-frozen snapshot plus where each value
 * came from. A reload swaps the whole snapshot; nothing mutates a live one.
 */
import { readFileSync } from 'node:fs';
import convict from 'convict';
import YAML from 'yaml';
import { CrawlError } from '../errors/index.js';
import { registerFormats } from './formats.js';
import { crossFieldProblems } from './limits.js';
import { schema, type Settings } from './schema.js';

export type { Settings } from './schema.js';
export { schema } from './schema.js';

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

export type Config = DeepReadonly<Settings>;
export type Origin = 'default' | 'file' | 'env' | 'override';

export interface LoadedConfig {
  readonly config: Config;
  /** Dotted key → the layer its value came from. */
  readonly origins: Readonly<Record<string, Origin>>;
}

export interface ConfigSources {
  /** Environment to read; defaults to process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Values from the config file (already parsed); read from CONFIG_FILE when omitted. */
  file?: Record<string, unknown> | null;
  /** Live overrides from the config center. */
  overrides?: Record<string, unknown> | null;
}

export interface SchemaEntry {
  key: string;
  doc: string;
  format: string;
  default: unknown;
  env: string | undefined;
  sensitive: boolean;
  /** Applied by running services when the config center pushes a change (`live: true` in the schema). */
  live: boolean;
}

/** A copy of the process environment: the one place outside tests that reads it. */
export function processEnv(): Record<string, string | undefined> {
  return { ...process.env };
}

/** Flattened schema: every setting with its dotted key, for docs, CLI and validation of keys. */
export function schemaEntries(): SchemaEntry[] {
  const out: SchemaEntry[] = [];
  const walk = (node: Record<string, unknown>, prefix: string): void => {
    for (const [name, value] of Object.entries(node)) {
      const key = prefix ? `${prefix}.${name}` : name;
      const v = value as Record<string, unknown>;
      if (v && typeof v === 'object' && 'doc' in v && 'default' in v) {
        const format = v.format;
        out.push({
          key,
          doc: String(v.doc),
          format: Array.isArray(format)
            ? format.join('|')
            : typeof format === 'function'
              ? format.name.toLowerCase()
              : String(format),
          default: v.default,
          env: typeof v.env === 'string' ? v.env : undefined,
          sensitive: v.sensitive === true,
          live: v.live === true,
        });
      } else {
        walk(v, key);
      }
    }
  };
  walk(schema as unknown as Record<string, unknown>, '');
  return out;
}

/**
 * Nested settings → dotted keys. Recursion stops at a key the schema knows (so an object
 * valued setting such as rate.hosts stays whole) and at anything that is not a plain object.
 */
export function flattenSettings(obj: Record<string, unknown>, known: ReadonlySet<string> = knownKeys(), prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v) && !known.has(key)) flattenSettings(v as Record<string, unknown>, known, key, out);
    else out[key] = v;
  }
  return out;
}

let knownCache: ReadonlySet<string> | null = null;

/** Every dotted key of the schema. */
export function knownKeys(): ReadonlySet<string> {
  knownCache ??= new Set(schemaEntries().map((e) => e.key));
  return knownCache;
}

let liveCache: ReadonlySet<string> | null = null;

/** Keys a running replica applies without a restart (`live: true` in the schema). */
export function isLiveKey(key: string): boolean {
  liveCache ??= new Set(schemaEntries().filter((e) => e.live).map((e) => e.key));
  return liveCache.has(key);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Parses a JSON or YAML config file; throws config_invalid with the path on failure. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CrawlError('config_invalid', `cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = /\.ya?ml$/i.test(path) ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw new CrawlError('config_invalid', `config file ${path} is not valid ${/\.ya?ml$/i.test(path) ? 'YAML' : 'JSON'}: ${(err as Error).message}`, { cause: err });
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CrawlError('config_invalid', `config file ${path} must hold an object of settings`);
  }
  return parsed as Record<string, unknown>;
}

function applyLayer(instance: convict.Config<Settings>, layer: Record<string, unknown>, origin: Origin, origins: Record<string, Origin>, known: Set<string>): void {
  for (const [key, value] of Object.entries(flattenSettings(layer, known))) {
    if (!known.has(key)) {
      throw new CrawlError('config_invalid', `${key}: unknown setting (from ${origin})`, { details: { key, origin } });
    }
    try {
      instance.set(key as never, value as never);
    } catch (err) {
      throw new CrawlError('config_invalid', `${key}: ${(err as Error).message} (from ${origin})`, { cause: err, details: { key, origin } });
    }
    origins[key] = origin;
  }
}

/**
 * Builds and validates the effective configuration from all layers. Throws a
 * CrawlError('config_invalid') naming the key and the rule on the first
 * problem; nothing partial is ever returned.
 */
export function loadConfig(sources: ConfigSources = {}): LoadedConfig {
  registerFormats();
  const env = sources.env ?? process.env;
  const entries = schemaEntries();
  const known = new Set(entries.map((e) => e.key));
  const envFile = env.CONFIG_FILE;  // the one setting needed before any file is read
  const file = sources.file !== undefined ? sources.file : envFile ? readConfigFile(envFile) : null;
  const fromEnv: Record<string, unknown> = {};
  for (const e of entries) {
    const raw = e.env ? env[e.env] : undefined;
    if (raw !== undefined && raw !== '') fromEnv[e.key] = raw;
  }
  const memoKey = JSON.stringify([fromEnv, file, sources.overrides ?? null]);
  const memo = loaded.get(memoKey);
  if (memo) return memo;

  const instance = convict(schema, { env: {}, args: [] });
  const origins: Record<string, Origin> = Object.fromEntries(entries.map((e) => [e.key, 'default' as Origin]));
  if (file) applyLayer(instance, file, 'file', origins, known);
  for (const [key, raw] of Object.entries(fromEnv)) {
    try {
      instance.set(key as never, raw as never);
    } catch (err) {
      const name = entries.find((e) => e.key === key)?.env;
      throw new CrawlError('config_invalid', `${key}: ${(err as Error).message} (from env ${name})`, { cause: err, details: { key, origin: 'env' } });
    }
    origins[key] = 'env';
  }

  if (sources.overrides) applyLayer(instance, sources.overrides, 'override', origins, known);

  try {
    // Unknown keys were refused layer by layer above (convict's strict mode would also walk
    // into object-valued settings such as rate.hosts and refuse their entries).
    instance.validate({ allowed: 'warn', output: () => undefined });
  } catch (err) {
    // convict reports "key: rule: value" lines; keep the first, it names the key.
    const first = String((err as Error).message).split('\n')[0] ?? 'invalid configuration';
    throw new CrawlError('config_invalid', first, { cause: err });
  }
  const [problem] = crossFieldProblems(instance.getProperties() as Settings);
  if (problem) throw new CrawlError('config_invalid', `${problem.key}: ${problem.message}`, { details: { key: problem.key } });
  const config = deepFreeze(instance.getProperties() as Settings) as Config;
  const result: LoadedConfig = { config, origins: Object.freeze(origins) };
  loaded.set(memoKey, result);
  if (loaded.size > LOADED_MEMO_SIZE) loaded.delete(loaded.keys().next().value as string);
  return result;
}

/**
 * Snapshots already built, by their inputs (env values, file, overrides). A snapshot is a
 * pure, frozen function of them, and building one costs about 3 ms of convict, so the same
 * inputs are built once per process: a validation that loads the stored overrides again, a
 * replica re-reading an unchanged state, or the many replicas of the fleet simulation
 * (bench/fleet.ts) sharing one process. Invalid inputs throw and are not kept.
 */
const loaded = new Map<string, LoadedConfig>();
const LOADED_MEMO_SIZE = 16;

/** Reads one dotted key from a snapshot (for `crawlctl config get` and the API). */
export function getKey(config: Config, key: string): unknown {
  let node: unknown = config;
  for (const part of key.split('.')) {
    if (!node || typeof node !== 'object' || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** A URL keeps everything but its password; any other secret becomes `***`. A comma-separated list of URLs (the nodes of a cluster) is masked URL by URL. */
export function maskSecret(value: string): string {
  if (value.includes(',') && /^[a-z][a-z0-9+.-]*:\/\//i.test(value.trim())) {
    return value.split(',').map((part) => maskSecret(part.trim())).join(',');
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    try {
      const u = new URL(value);
      if (u.password) u.password = '***';
      return u.toString();
    } catch {
      return '***';
    }
  }
  return '***';
}

/** The snapshot with sensitive values masked, safe to print or serve. */
export function redacted(config: Config): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
  for (const e of schemaEntries()) {
    if (!e.sensitive) continue;
    const parts = e.key.split('.');
    let node = copy as Record<string, unknown>;
    for (const p of parts.slice(0, -1)) node = node[p] as Record<string, unknown>;
    const last = parts[parts.length - 1] as string;
    const value = node[last];
    if (typeof value === 'string' && value !== '') node[last] = maskSecret(value);
  }
  return copy;
}
