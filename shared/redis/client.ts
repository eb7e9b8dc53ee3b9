/**
 * Redis connections: one place sets the options every service uses, and decides between one
 * server and a Redis Cluster (shared/redis/url.ts). A Cluster client is handed out as the
 * `Redis` type: it has the same commands (ioredis' Commander), scripts defined the same way,
 * pub/sub, and routes each command to the master of its key's slot (MOVED/ASK, failover).
 * What differs is named here: multi-key commands and pipelines must stay in one slot (the
 * key builder's hash tags see to that), and SCAN must visit every master (`scanKeys`).
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { defineScripts } from './scripts.js';
import { parseRedisTarget, type RedisSettings } from './url.js';

export interface RedisClientOptions {
  /** Connection name shown by CLIENT LIST (service and role). */
  name: string;
  /** BullMQ and subscribers need commands to wait forever instead of failing. */
  blocking?: boolean;
}

const retryStrategy = (times: number): number => Math.min(100 * 2 ** Math.min(times, 5), 2000);

/** `redis.url` (a string) or the config's whole `redis` section (url and clusterNodes). */
export function createRedis(where: string | RedisSettings, opts: RedisClientOptions): Redis {
  const target = parseRedisTarget(where);
  const common: RedisOptions = {
    connectionName: opts.name,
    // Commands wait through a short outage, then fail so the message is redelivered.
    maxRetriesPerRequest: opts.blocking ? null : 20,
  };
  if (target.kind === 'single') {
    const client = new Redis(target.url, {
      ...common,
      lazyConnect: false,
      enableAutoPipelining: true,
      retryStrategy,
      reconnectOnError: (err) => err.message.startsWith('READONLY'),
    });
    defineScripts(client);
    return client;
  }
  const options: ClusterOptions = {
    redisOptions: {
      ...common,
      ...(target.username ? { username: target.username } : {}),
      ...(target.password ? { password: target.password } : {}),
      ...(target.tls ? { tls: {} } : {}),
    },
    enableAutoPipelining: true,
    clusterRetryStrategy: retryStrategy,
    // A master's failover takes cluster-node-timeout plus an election (seconds): a command to
    // its slots is retried on the refreshed slot map meanwhile instead of failing at once.
    maxRedirections: 64,
    retryDelayOnFailover: 250,
    retryDelayOnClusterDown: 500,
    retryDelayOnTryAgain: 250,
    slotsRefreshTimeout: 2000,
    slotsRefreshInterval: 5000,
    scaleReads: 'master',
  };
  const cluster = new Cluster(target.nodes, options);
  // A replica promoted under a long-lived connection answers READONLY until the map refreshes.
  cluster.on('node error', () => undefined);
  defineScripts(cluster as unknown as Redis);
  return cluster as unknown as Redis;
}

/** True when the client is a Redis Cluster client (see createRedis). */
export function isCluster(client: Redis): boolean {
  return (client as unknown as { isCluster?: boolean }).isCluster === true;
}

/** The clients to scan: every master of a cluster, or the one server. */
export function scanTargets(client: Redis): Redis[] {
  return isCluster(client) ? (client as unknown as Cluster).nodes('master') : [client];
}

/**
 * Every key matching `pattern`, in batches, on every master of a cluster (SCAN on a cluster
 * client would visit one random node). `onKeys` may delete what it is given.
 */
export async function scanKeys(client: Redis, pattern: string, count: number, onKeys: (keys: string[]) => Promise<void>): Promise<void> {
  if (isCluster(client)) {
    // The slot map must be known before the masters can be listed.
    const c = client as unknown as Cluster;
    if (c.status !== 'ready') await new Promise<void>((resolve, reject) => {
      c.once('ready', resolve);
      c.once('end', () => reject(new Error('Redis Cluster connection ended')));
      if (c.status === 'wait') c.connect().catch(reject);
    });
  }
  for (const node of scanTargets(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (keys.length > 0) await onKeys(keys);
    } while (cursor !== '0');
  }
}

/**
 * Unlinks keys that may lie in different slots: one UNLINK on a single server; on a cluster
 * one per key (a multi-key command must stay in one slot), pipelined per node by ioredis.
 */
export async function unlinkKeys(client: Redis, keys: readonly string[]): Promise<number> {
  if (keys.length === 0) return 0;
  if (!isCluster(client)) return client.unlink(...keys);
  const removed = await Promise.all(keys.map((k) => client.unlink(k)));
  return removed.reduce((a, b) => a + b, 0);
}
