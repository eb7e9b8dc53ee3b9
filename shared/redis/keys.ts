/**
 * Every Redis key crawlfleet uses comes from here.
 *
 * Keys of one session share the `{<sessionId>}` hash tag, so every multi-key
 * script on a session lands in one slot and works on Redis Cluster. Keys that
 * span sessions carry their own tags (a host's rate keys `{<host>}`, the config
 * `{<ns>:config}`, BullMQ `{<ns>:bull}`) and are never mixed with session keys in
 * one script. Keys used alone (indexes, the global bucket) need no tag.
 */

export interface SessionKeys {
  /** Hash: spec, status, timestamps and counters of the session. */
  readonly session: string;
  /** Hash: task id (URL fingerprint) → ledger entry `state|attempt|depth|parent|url`. Doubles as the dedup set. */
  readonly tasks: string;
  /** Sorted set: task id → lease expiry (ms, Redis clock) of tasks in a leased state. */
  readonly leases: string;
  /** List: result records (JSON) in write order, of the Redis results store (shared/results/redis.ts). */
  readonly results: string;
  /** Hash: task id → position of its record in `results` (the Redis results store's idempotency). */
  readonly resultIndex: string;
  /** Hash: host → links admitted from pages of the session (traps.maxPagesPerHost). */
  readonly hostPages: string;
  /** Hash: task id → role (robots, sitemap) of the tasks that are no pages. */
  readonly roles: string;
  /** Hash: `["domain","path","name"]` → cookie (tough-cookie JSON): the cookie jar of a session with `cookieJar` (shared/fetch/cookie-jar.ts). */
  readonly cookies: string;
}

export interface Keys {
  readonly namespace: string;
  /** Sorted set: session id → creation time. */
  readonly sessionsIndex: string;
  /** Sorted set: session id → next time the cleaner must look at it (deadline, close, retention). */
  readonly sessionsDue: string;
  /** Channel: `<id>|<status>|<version>` when an operator cancels, pauses or resumes a session (the fetchers' session watch). */
  readonly sessionsControl: string;
  session(id: string): SessionKeys;
  /** String: the cluster's GCRA bucket, handed out in leases of several tokens (global-lease-1). */
  rateGlobal(): string;
  /** String: a host's GCRA bucket. A host's rate keys share the `{<host>}` tag, so hosts spread over a cluster's slots. */
  rateHost(host: string): string;
  /** Hash: a host's 429/503 backoff (interval, since, until), beside its bucket in the host's slot. */
  hostBackoff(host: string): string;
  /** Sorted set: a host's leased concurrency slots (token → lease expiry), in the host's slot. */
  hostSlots(host: string): string;
  /** String: an origin's robots.txt as fetched (JSON), tagged by origin; and the lock of its one fetch. */
  robots(origin: string): string;
  robotsLock(origin: string): string;
  /** Config center: current overrides + version, history (one `{<ns>:config}` slot: config-set-2 writes both), change channel. */
  readonly config: string;
  readonly configHistory: string;
  readonly configChannel: string;
  /** The config hash and history of releases before the cluster layout (untagged), adopted once by an upgrade (shared/config/center.ts adoptLegacyConfig). */
  readonly legacyConfig: string;
  readonly legacyConfigHistory: string;
  /** Prefix of BullMQ queues of the control plane, hash-tagged so each queue's scripts stay in one cluster slot. */
  readonly bullPrefix: string;
  /** String (JSON, expires): the heartbeat of one service replica, tagged by the replica id. */
  replica(id: string): string;
  /** Sorted set: replica id → time of its last heartbeat (ms); stale ids are pruned at every beat and listing. */
  readonly replicasIndex: string;
  /**
   * Hash: one shard of the crawl index (shared/crawlindex): fingerprint rest → packed entry.
   * `tag` (two fingerprint characters) is the Redis Cluster hash tag, `rest` the further
   * shard characters (index.shardChars), so the index spreads over the cluster in small hashes.
   */
  urlIndex(tag: string, rest: string): string;
  /** Hash: schedule id → schedule (JSON). */
  readonly schedules: string;
  /** List: a schedule's runs (JSON: time and session id), newest first, trimmed to schedules.keepRuns. */
  scheduleRuns(id: string): string;
}

export function redisKeys(namespace: string): Keys {
  const ns = namespace;
  return {
    namespace: ns,
    sessionsIndex: `${ns}:sessions`,
    sessionsDue: `${ns}:sessions:due`,
    sessionsControl: `${ns}:sessions:control`,
    session(id: string): SessionKeys {
      const base = `${ns}:s:{${id}}`;
      return {
        session: `${base}:session`,
        tasks: `${base}:tasks`,
        leases: `${base}:leases`,
        results: `${base}:results`,
        resultIndex: `${base}:results:index`,
        hostPages: `${base}:hosts`,
        roles: `${base}:roles`,
        cookies: `${base}:cookies`,
      };
    },
    rateGlobal: () => `${ns}:rate:global`,
    rateHost: (host: string) => `${ns}:rate:{${host}}`,
    hostBackoff: (host: string) => `${ns}:rate:{${host}}:backoff`,
    hostSlots: (host: string) => `${ns}:rate:{${host}}:slots`,
    robots: (origin: string) => `${ns}:robots:{${origin}}`,
    robotsLock: (origin: string) => `${ns}:robots:{${origin}}:lock`,
    config: `${ns}:{${ns}:config}`,
    configHistory: `${ns}:{${ns}:config}:history`,
    configChannel: `${ns}:config:changed`,
    legacyConfig: `${ns}:config`,
    legacyConfigHistory: `${ns}:config:history`,
    bullPrefix: `${ns}:{${ns}:bull}`,
    replica: (id: string) => `${ns}:replica:{${id}}`,
    replicasIndex: `${ns}:replicas`,
    urlIndex: (tag: string, rest: string) => `${ns}:idx:{${tag}}${rest}`,
    schedules: `${ns}:schedules`,
    scheduleRuns: (id: string) => `${ns}:schedule:{${id}}:runs`,
  };
}
