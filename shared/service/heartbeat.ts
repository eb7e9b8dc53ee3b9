/**
 * Replica heartbeats: every service process writes what it is and how it does to Redis every
 * `replicas.heartbeatMs`, so an operator lists the live replicas (GET /replicas, `crawlctl
 * replicas`) and sees a configuration change reach all of them (GET /config/rollout).
 *
 * Layout, made for Redis Cluster: one string key per replica (`keys.replica(id)`, its own
 * `{<id>}` hash tag, so replicas spread over slots and no command touches two of them),
 * written with an expiry of `heartbeatMs × missedBeats`: a replica that dies without a
 * graceful stop disappears by itself. Listing needs the ids, and SCAN does not work across a
 * cluster's nodes; so an index (`keys.replicasIndex`, a sorted set of id → time of the last
 * beat) names them. The index is kept bounded: every beat removes the ids whose last beat is
 * older than the expiry, and every listing removes the ids whose key is gone. A graceful stop
 * removes both at once.
 *
 * The pure parts (the record, the expiry, the pages/s window, the rollout count) are exported
 * for table tests; `Heartbeat` and `listReplicas` are the Redis shell.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.js';
import { toCrawlError } from '../errors/index.js';
import { PREVIOUS_TOPOLOGY_VERSION, TOPOLOGY_VERSION } from '../messaging/topology.js';
import type { Logger } from '../observability/log.js';
import { packageRoot } from '../paths.js';
import type { Keys } from '../redis/keys.js';
import { SERVICE_NAMES, type ServiceName } from '../pipeline/services.js';

/** What one replica says about itself; stored as JSON under `keys.replica(id)`. */
export interface ReplicaRecord {
  /** Unique per process: `<service>-<host>-<pid>-<random>`. */
  id: string;
  service: ServiceName;
  host: string;
  pid: number;
  /** The package version the replica runs. */
  version: string;
  /** The queue layout it declares and consumes (shared/messaging/topology.ts); absent in records of releases before layout 3. */
  topologyVersion?: number;
  /** When the process started its runtime (ISO). */
  startedAt: string;
  /** When this heartbeat was written (ms since the epoch, the replica's clock). */
  beatAt: number;
  /** The replica's heartbeat interval and the expiry of its key when it was written. */
  heartbeatMs: number;
  ttlMs: number;
  /** The live configuration version the replica applied (0: no live override yet). */
  configVersion: number;
  /** Tasks its consumers hold and have not finished (0 for a service without consumers). */
  inFlight: number;
  /** Tasks its consumers settled per second over the last ~10 s. */
  pagesPerSecond: number;
  ready: boolean;
  /** Why it is not ready (empty when ready). */
  reasons: string[];
  /** The last reason it was not ready after it was first ready (a missing dependency, a queue not consumed, a change not applied), kept after it recovered; null if never. */
  lastError: string | null;
  lastErrorAt: string | null;
}

/** A record as the API answers it: the beat's time as ISO text and its age. */
export type ReplicaView = Omit<ReplicaRecord, 'beatAt'> & { beatAt: string; ageMs: number };

/** How long a heartbeat lives: `missedBeats` intervals. */
export function heartbeatTtlMs(heartbeatMs: number, missedBeats: number): number {
  return heartbeatMs * missedBeats;
}

/** A replica id: service, host name, pid and a random suffix (host characters outside `[A-Za-z0-9.-]` become `_`). */
export function replicaId(service: string, host: string, pid: number, suffix: string): string {
  return `${service}-${host.replace(/[^A-Za-z0-9.-]/g, '_')}-${pid}-${suffix}`;
}

/** Rounds a rate to two decimals. */
function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * A rate over a sliding window of samples of a growing total: `add(now, total)` then
 * `rate()` = (newest − oldest kept) / elapsed seconds. Samples older than the window are
 * dropped, but the newest one older than it stays as the window's start.
 */
export class RateWindow {
  private samples: { t: number; total: number }[] = [];

  constructor(private readonly windowMs = 10_000) {}

  add(t: number, total: number): void {
    this.samples.push({ t, total });
    while (this.samples.length > 2 && (this.samples[1] as { t: number }).t <= t - this.windowMs) this.samples.shift();
  }

  /** Per second; 0 with fewer than two samples or when the total went down (the counter was reset). */
  rate(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.t <= first.t || last.total < first.total) return 0;
    return round2(((last.total - first.total) * 1000) / (last.t - first.t));
  }
}

/** A parsed heartbeat, or null when the text is no record (a foreign or truncated value). */
export function parseReplicaRecord(text: string | null): ReplicaRecord | null {
  if (text === null) return null;
  try {
    const r = JSON.parse(text) as Partial<ReplicaRecord>;
    if (typeof r.id !== 'string' || typeof r.service !== 'string' || typeof r.beatAt !== 'number' || typeof r.configVersion !== 'number') return null;
    return r as ReplicaRecord;
  } catch {
    return null;
  }
}

/** The API's view of a record at `now`. */
export function replicaView(r: ReplicaRecord, now: number): ReplicaView {
  return { ...r, beatAt: new Date(r.beatAt).toISOString(), ageMs: Math.max(0, now - r.beatAt) };
}

/** Service order of SERVICE_NAMES, then id. */
export function compareReplicas(a: Pick<ReplicaRecord, 'service' | 'id'>, b: Pick<ReplicaRecord, 'service' | 'id'>): number {
  const sa = SERVICE_NAMES.indexOf(a.service);
  const sb = SERVICE_NAMES.indexOf(b.service);
  return sa !== sb ? sa - sb : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export interface Rollout {
  /** The configuration version asked about. */
  version: number;
  /** Live replicas. */
  replicas: number;
  /** Live replicas that run `version` or a newer one. */
  current: number;
  /** The live replicas that do not, with the version they run. */
  behind: { id: string; service: string; host: string; configVersion: number }[];
}

/** How many of `replicas` run `version` or newer, and which do not. */
export function rolloutOf(replicas: readonly Pick<ReplicaRecord, 'id' | 'service' | 'host' | 'configVersion'>[], version: number): Rollout {
  const behind = replicas.filter((r) => r.configVersion < version).map((r) => ({ id: r.id, service: r.service, host: r.host, configVersion: r.configVersion }));
  return { version, replicas: replicas.length, current: replicas.length - behind.length, behind };
}

/** The package version, read once. */
export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

/** What the heartbeat reads from its replica at every beat. */
export interface HeartbeatSource {
  service: ServiceName;
  config(): Config;
  /** The configuration version the replica applied. */
  configVersion(): number;
  readiness(): { ready: boolean; reasons: string[] };
  /** Tasks held and not finished by its consumers. */
  inFlight(): number;
  /** Tasks settled so far by its consumers (a growing total; the rate is taken from it). */
  tasksDone(): Promise<number>;
}

export interface HeartbeatOptions {
  redis: Redis;
  keys: Keys;
  log: Logger;
  /** Clock (tests). */
  now?: () => number;
}

/** Writes one replica's heartbeat every `replicas.heartbeatMs` (read again at every beat, so a change applies live). */
export class Heartbeat {
  readonly id: string;
  readonly startedAt: string;
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> | null = null;
  private stopped = false;
  private readonly pages = new RateWindow();
  private lastError: { message: string; at: string } | null = null;
  private wasReady = false;
  private readonly now: () => number;

  constructor(private readonly source: HeartbeatSource, private readonly opts: HeartbeatOptions) {
    this.now = opts.now ?? Date.now;
    this.id = replicaId(source.service, hostname(), process.pid, randomBytes(3).toString('hex'));
    this.startedAt = new Date(this.now()).toISOString();
  }

  /** Beats now and then every interval, until `stop`. */
  start(): void {
    if (this.timer || this.stopped) return;
    const tick = (): void => {
      this.beating = this.beat().finally(() => {
        this.beating = null;
        if (!this.stopped) this.timer = setTimeout(tick, this.source.config().replicas.heartbeatMs).unref();
      });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  /** The record this replica would write now. */
  async record(): Promise<ReplicaRecord> {
    const now = this.now();
    const cfg = this.source.config().replicas;
    this.pages.add(now, await this.source.tasksDone());
    const r = this.source.readiness();
    // Reasons before the replica was first ready are its start (dependencies connecting), not
    // errors; after that, the first reason it is not ready is remembered as the last error.
    if (r.ready) this.wasReady = true;
    const problem = this.wasReady ? r.reasons[0] : undefined;
    if (problem) this.lastError = { message: problem, at: new Date(now).toISOString() };
    return {
      id: this.id,
      service: this.source.service,
      host: hostname(),
      pid: process.pid,
      version: PACKAGE_VERSION,
      topologyVersion: TOPOLOGY_VERSION,
      startedAt: this.startedAt,
      beatAt: now,
      heartbeatMs: cfg.heartbeatMs,
      ttlMs: heartbeatTtlMs(cfg.heartbeatMs, cfg.missedBeats),
      configVersion: this.source.configVersion(),
      inFlight: this.source.inFlight(),
      pagesPerSecond: this.pages.rate(),
      ready: r.ready,
      reasons: r.reasons,
      lastError: this.lastError?.message ?? null,
      lastErrorAt: this.lastError?.at ?? null,
    };
  }

  /** Writes one heartbeat; skipped while Redis is not connected (the replica reports itself once it is). */
  async beat(): Promise<void> {
    const { redis, keys } = this.opts;
    if (redis.status !== 'ready') return;
    try {
      const r = await this.record();
      if (this.stopped) return;
      await Promise.all([
        redis.set(keys.replica(this.id), JSON.stringify(r), 'PX', r.ttlMs),
        redis.zadd(keys.replicasIndex, r.beatAt, this.id),
      ]);
      await redis.zremrangebyscore(keys.replicasIndex, '-inf', `(${r.beatAt - r.ttlMs}`);
    } catch (err) {
      this.opts.log.debug({ err: toCrawlError(err).message }, 'heartbeat not written');
    }
  }

  /** Stops beating; with `remove`, deletes the heartbeat so the replica leaves the list at once. */
  async stop(remove: boolean): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.beating;
    const { redis, keys } = this.opts;
    if (!remove || redis.status !== 'ready') return;
    await Promise.all([redis.del(keys.replica(this.id)), redis.zrem(keys.replicasIndex, this.id)]).catch((err: unknown) => {
      this.opts.log.debug({ err: toCrawlError(err).message }, 'heartbeat not removed');
    });
  }
}

/**
 * The live replicas (their keys have not expired), in service order, optionally of one
 * service. Ids of the index whose key is gone are removed from it.
 */
export async function listReplicas(redis: Redis, keys: Keys, opts: { service?: string } = {}): Promise<ReplicaRecord[]> {
  const ids = await redis.zrange(keys.replicasIndex, 0, -1);
  // One GET per key: the keys live in different slots of a cluster.
  const texts = await Promise.all(ids.map((id) => redis.get(keys.replica(id))));
  const gone: string[] = [];
  const records: ReplicaRecord[] = [];
  texts.forEach((t, i) => {
    const r = parseReplicaRecord(t);
    if (r) records.push(r);
    else if (t === null) gone.push(ids[i] as string);
  });
  if (gone.length > 0) await redis.zrem(keys.replicasIndex, ...gone);
  return records.filter((r) => opts.service === undefined || r.service === opts.service).sort(compareReplicas);
}

/** Live replicas that run an older queue layout than this release (they may still publish to its queues). */
export function olderLayoutReplicas(replicas: readonly Pick<ReplicaRecord, 'id' | 'topologyVersion'>[]): string[] {
  return replicas.filter((r) => (r.topologyVersion ?? PREVIOUS_TOPOLOGY_VERSION) < TOPOLOGY_VERSION).map((r) => r.id);
}
