/**
 * The config center.
 *
 * Write side (controller): live overrides are one JSON object of dotted keys in Redis,
 * versioned; every change is validated against the whole schema first, stored with a
 * compare-and-set script that appends an audit entry (who, when, old → new) and publishes
 * the new version on a channel.
 *
 * Read side (every replica): `ConfigCenter` holds the current frozen snapshot. It rebuilds
 * it from all layers when the channel announces a version, when its subscription
 * reconnects, when the config file changes (including the `..data` symlink swap of a
 * Kubernetes ConfigMap volume), and every `config.pollMs` in case a push was missed. A
 * change that fails validation is logged and ignored: the last good snapshot stays.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync, realpathSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Redis } from 'ioredis';
import { CrawlError, toCrawlError } from '../errors/index.js';
import type { Logger } from '../observability/log.js';
import type { Keys } from '../redis/keys.js';
import { configSet } from '../redis/commands.js';
import { flattenSettings, getKey, isLiveKey, knownKeys, loadConfig, readConfigFile, type Config, type LoadedConfig, type Origin } from './index.js';

export type Overrides = Record<string, unknown>;

export interface LiveState {
  version: number;
  overrides: Overrides;
  updatedAt: number | null;
  updatedBy: string | null;
}

export interface AuditEntry {
  version: number;
  at: number;
  who: string;
  action: 'set' | 'rollback';
  changes: { key: string; old: unknown; new: unknown }[];
  overrides: Overrides;
}

export async function readLive(redis: Redis, keys: Keys): Promise<LiveState> {
  const h = await redis.hgetall(keys.config);
  return {
    version: Number(h.version ?? 0),
    overrides: h.overrides ? (JSON.parse(h.overrides) as Overrides) : {},
    updatedAt: h.updatedAt ? Number(h.updatedAt) : null,
    updatedBy: h.updatedBy || null,
  };
}

/**
 * An upgrade from a release that kept the config under untagged keys (`<ns>:config`, before
 * the Redis Cluster layout): copies those overrides, their version and their history into this
 * layout's keys when these are still empty, removes the old keys and tells every replica, so
 * the live settings survive the upgrade. Answers whether anything was adopted. Runs where one
 * caller at a time runs it (the cleaner's sweep, `crawlfleet migrate`); the old keys exist only
 * on a single Redis (the old release knew no cluster), so the copy needs no multi-slot script.
 */
export async function adoptLegacyConfig(redis: Redis, keys: Keys): Promise<boolean> {
  if ((await redis.exists(keys.config)) === 1) return false;
  const old = await redis.hgetall(keys.legacyConfig);
  if (Object.keys(old).length === 0) return false;
  const history = await redis.lrange(keys.legacyConfigHistory, 0, -1);
  await redis.hset(keys.config, old);
  if (history.length > 0) await redis.rpush(keys.configHistory, ...history);
  await redis.del(keys.legacyConfig, keys.legacyConfigHistory);
  await redis.publish(keys.configChannel, old.version ?? '0');
  return true;
}

export async function readHistory(redis: Redis, keys: Keys, limit: number): Promise<AuditEntry[]> {
  const raw = await redis.lrange(keys.configHistory, 0, limit - 1);
  return raw.map((r) => JSON.parse(r) as AuditEntry);
}

/** The dotted keys a patch touches, checked: known and live. `null` removes an override. */
export function patchToOverrides(patch: Record<string, unknown>): Overrides {
  const flat = flattenSettings(patch, knownKeys());
  if (Object.keys(flat).length === 0) throw new CrawlError('validation', 'the change is empty');
  for (const key of Object.keys(flat)) {
    if (!knownKeys().has(key)) throw new CrawlError('config_invalid', `${key}: unknown setting`, { details: { key } });
    if (!isLiveKey(key)) {
      throw new CrawlError('config_invalid', `${key}: not a live setting; set it in the environment or the config file and restart`, { details: { key } });
    }
  }
  return flat;
}

function merged(current: Overrides, patch: Overrides): Overrides {
  const out: Overrides = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

export interface WriteOptions {
  who: string;
  expectedVersion?: number | undefined;
  /** The environment and file layers to validate against (the writer's own). */
  base: { env: Record<string, string | undefined>; file?: Record<string, unknown> | null };
}

export interface WriteResult {
  version: number;
  changes: AuditEntry['changes'];
  config: LoadedConfig;
}

async function store(redis: Redis, keys: Keys, next: Overrides, entry: Omit<AuditEntry, 'version' | 'at'>, opts: WriteOptions, historyLength: number): Promise<number> {
  const r = await configSet(redis, keys, { expectedVersion: opts.expectedVersion, overrides: JSON.stringify(next), entry: JSON.stringify(entry), historyLength, who: entry.who });
  if (r.kind === 'conflict') {
    throw new CrawlError('conflict', `config is at version ${r.version}, not ${opts.expectedVersion}`, { details: { version: r.version } });
  }
  return r.version;
}

/** Applies a partial change (nested JSON) after validating the whole result. */
export async function patchLive(redis: Redis, keys: Keys, patch: Record<string, unknown>, opts: WriteOptions): Promise<WriteResult> {
  const changesFlat = patchToOverrides(patch);
  const live = await readLive(redis, keys);
  if (opts.expectedVersion !== undefined && opts.expectedVersion !== live.version) {
    throw new CrawlError('conflict', `config is at version ${live.version}, not ${opts.expectedVersion}`, { details: { version: live.version } });
  }
  const next = merged(live.overrides, changesFlat);
  const before = loadConfig({ ...opts.base, overrides: live.overrides });
  const after = loadConfig({ ...opts.base, overrides: next });
  const changes = Object.keys(changesFlat).map((key) => ({ key, old: getKey(before.config, key) ?? null, new: getKey(after.config, key) ?? null }));
  const version = await store(redis, keys, next, { who: opts.who, action: 'set', changes, overrides: next }, { ...opts, expectedVersion: opts.expectedVersion ?? live.version }, after.config.config.historyLength);
  return { version, changes, config: after };
}

/** Makes the overrides of an earlier version current again (as a new version). */
export async function rollbackLive(redis: Redis, keys: Keys, toVersion: number, opts: WriteOptions): Promise<WriteResult> {
  const history = await readHistory(redis, keys, 10_000);
  const target = history.find((h) => h.version === toVersion);
  if (!target && toVersion !== 0) throw new CrawlError('not_found', `config version ${toVersion} is not in the history`);
  const next = target ? target.overrides : {};
  const live = await readLive(redis, keys);
  const before = loadConfig({ ...opts.base, overrides: live.overrides });
  const after = loadConfig({ ...opts.base, overrides: next });
  const touched = new Set([...Object.keys(live.overrides), ...Object.keys(next)]);
  const changes = [...touched].map((key) => ({ key, old: getKey(before.config, key) ?? null, new: getKey(after.config, key) ?? null })).filter((c) => JSON.stringify(c.old) !== JSON.stringify(c.new));
  const version = await store(redis, keys, next, { who: opts.who, action: 'rollback', changes, overrides: next }, { ...opts, expectedVersion: opts.expectedVersion ?? live.version }, after.config.config.historyLength);
  return { version, changes, config: after };
}

export interface ChangeEvent {
  version: number;
  previous: Config;
  reason: string;
}

interface CenterEvents {
  change: [Config, ChangeEvent];
  invalid: [CrawlError];
}

export interface ConfigCenterOptions {
  env: Record<string, string | undefined>;
  log: Logger;
}

export class ConfigCenter extends EventEmitter<CenterEvents> {
  private loaded: LoadedConfig;
  private liveVersion = 0;
  private overrides: Overrides = {};
  private fileValues: Record<string, unknown> | null = null;
  private fileHash = '';
  /** Hash of a file content that was refused, so it is reported once, not on every poll. */
  private badFileHash = '';
  private redis: Redis | null = null;
  private keys: Keys | null = null;
  private watcher: FSWatcher | null = null;
  /** Watches the directory of the file the path resolves to (it moves with a ConfigMap swap). */
  private targetWatcher: { dir: string; w: FSWatcher } | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private again = false;
  private joined = false;
  /** The snapshot before the last applied change, for `revert`. */
  private previousLoaded: LoadedConfig | null = null;

  constructor(private readonly opts: ConfigCenterOptions) {
    super();
    const path = opts.env.CONFIG_FILE;
    if (path) this.readFile(path, true);
    this.loaded = loadConfig({ env: opts.env, file: this.fileValues });
  }

  get config(): Config {
    return this.loaded.config;
  }

  get origins(): Readonly<Record<string, Origin>> {
    return this.loaded.origins;
  }

  get version(): number {
    return this.liveVersion;
  }

  /** The env and file layers, for validating writes the way this replica would. */
  get base(): { env: Record<string, string | undefined>; file: Record<string, unknown> | null } {
    return { env: this.opts.env, file: this.fileValues };
  }

  /**
   * Joins the live layer: reads the stored overrides, subscribes, watches the file. May be
   * called again after it failed (Redis not reachable yet): listeners, watchers and the poll
   * are set up once.
   */
  async start(redis: Redis, sub: Redis, keys: Keys): Promise<void> {
    this.redis = redis;
    this.keys = keys;
    if (!this.joined) {
      this.joined = true;
      sub.on('message', (channel: string) => {
        if (channel === keys.configChannel) this.refresh('push');
      });
    }
    await sub.subscribe(keys.configChannel);
    await this.refreshNow('start');
    if (this.pollTimer) return;
    // After a reconnect, ioredis resubscribes; catch up on what was missed meanwhile.
    sub.on('ready', () => this.refresh('reconnect'));
    const path = this.opts.env.CONFIG_FILE;
    if (path) {
      try {
        this.watcher = watch(dirname(path), () => this.fileChanged());
        this.watcher.on('error', () => undefined);
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message, path }, 'cannot watch config file; polling only');
      }
      this.watchTarget(path);
    }
    this.schedulePoll();
  }

  /**
   * Goes back to the snapshot before `failed` when a replica could not apply it (see the
   * service runtime): the live version stays marked as seen, so the next change applies
   * normally and this one is not retried on every poll. Does nothing if a newer change
   * already replaced `failed`.
   */
  revert(failed: Config): boolean {
    if (this.loaded.config !== failed || !this.previousLoaded) return false;
    const pollMs = this.loaded.config.config.pollMs;
    this.loaded = this.previousLoaded;
    this.previousLoaded = null;
    if (this.loaded.config.config.pollMs !== pollMs) this.reschedulePoll();
    return true;
  }

  private watchTarget(path: string): void {
    let dir: string;
    try {
      dir = dirname(realpathSync(path));
    } catch {
      return;
    }
    if (dir === dirname(path) || this.targetWatcher?.dir === dir) return;
    this.targetWatcher?.w.close();
    try {
      const w = watch(dir, () => this.fileChanged());
      w.on('error', () => undefined);
      this.targetWatcher = { dir, w };
    } catch {
      this.targetWatcher = null;
    }
  }

  /** A new config.pollMs takes effect now, not after the poll scheduled with the old one. */
  private reschedulePoll(): void {
    if (!this.pollTimer) return;
    clearTimeout(this.pollTimer);
    this.schedulePoll();
  }

  private schedulePoll(): void {
    this.pollTimer = setTimeout(() => {
      this.refresh('poll');
      this.schedulePoll();
    }, this.loaded.config.config.pollMs);
    this.pollTimer.unref();
  }

  private fileChanged(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.refresh('file'), 50);
  }

  /** Re-reads the file; returns true when its content changed. Keeps the old values if it is invalid. */
  private readFile(path: string, initial = false): boolean {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if (initial) throw new CrawlError('config_invalid', `cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
      return false;
    }
    const hash = createHash('sha1').update(text).digest('hex');
    if (hash === this.fileHash || hash === this.badFileHash) return false;
    let values: Record<string, unknown>;
    try {
      values = readConfigFile(path);
    } catch (err) {
      this.badFileHash = hash;
      throw err;
    }
    this.fileHash = hash;
    this.fileValues = values;
    return true;
  }

  /** Schedules a rebuild; concurrent requests coalesce into one more run. */
  refresh(reason: string): void {
    if (this.refreshing) {
      this.again = true;
      return;
    }
    this.refreshing = this.refreshNow(reason)
      .catch((err: unknown) => this.opts.log.warn({ err: toCrawlError(err).message, reason }, 'config refresh failed'))
      .finally(() => {
        this.refreshing = null;
        if (this.again) {
          this.again = false;
          this.refresh(reason);
        }
      });
  }

  private async refreshNow(reason: string): Promise<void> {
    let fileChanged = false;
    const previousFile = this.fileValues;
    const previousHash = this.fileHash;
    const path = this.opts.env.CONFIG_FILE;
    if (path) {
      this.watchTarget(path);
      try {
        fileChanged = this.readFile(path);
      } catch (err) {
        const e = toCrawlError(err);
        this.opts.log.error({ err: e.message, path }, 'config file invalid; keeping the last good configuration');
        this.emit('invalid', e);
        return;
      }
    }
    let live: LiveState | null = null;
    if (this.redis && this.keys) live = await readLive(this.redis, this.keys);
    const liveChanged = live !== null && live.version !== this.liveVersion;
    if (!fileChanged && !liveChanged) return;
    const overrides = live ? live.overrides : this.overrides;
    let next: LoadedConfig;
    try {
      next = loadConfig({ env: this.opts.env, file: this.fileValues, overrides });
    } catch (err) {
      const e = toCrawlError(err);
      // Keep the last good snapshot, and the last good file, so the next valid change applies.
      if (fileChanged) this.badFileHash = this.fileHash;
      this.fileValues = previousFile;
      this.fileHash = fileChanged ? previousHash : this.fileHash;
      if (live) this.liveVersion = live.version;
      this.opts.log.error({ err: e.message, reason, version: live?.version }, 'configuration change refused; keeping the last good one');
      this.emit('invalid', e);
      return;
    }
    const previous = this.loaded.config;
    this.previousLoaded = this.loaded;
    this.loaded = next;
    this.overrides = overrides;
    if (live) this.liveVersion = live.version;
    if (next.config.config.pollMs !== previous.config.pollMs) this.reschedulePoll();
    this.opts.log.info({ version: this.liveVersion, reason }, 'configuration applied');
    this.emit('change', next.config, { version: this.liveVersion, previous, reason });
  }

  close(): void {
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.debounce) clearTimeout(this.debounce);
    this.watcher?.close();
    this.targetWatcher?.w.close();
  }
}
