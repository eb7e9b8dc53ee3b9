/**
 * Removing a namespace: `crawlfleet namespace delete <ns> [--force]`.
 *
 * A namespace owns RabbitMQ queues (every name of `topology(ns).allQueues`, plus the queues
 * of the previous layout and the retry queues `<ns>.retry.<ms>` of earlier builds), its delay
 * exchanges (this layout's and the previous one's), and Redis keys (`<ns>:*`,
 * BullMQ's control queues included: they live under the `<ns>:{<ns>:bull}` prefix).
 *
 * Replicas of the namespace that are alive hold consumers on its queues: while any queue has
 * a consumer the delete is refused, naming those queues, unless `force` is set.
 *
 * Redis keys are found by SCAN on the one server, or on every master of a Redis Cluster.
 */
import type amqp from 'amqplib';
import type { Channel } from 'amqplib';
import { Redis } from 'ioredis';
import { loadConfig, maskSecret } from '../shared/config/index.js';
import { queueStates } from '../shared/messaging/migrate.js';
import { amqpUrls, connectFirst } from '../shared/messaging/urls.js';
import { createRedis, scanKeys, unlinkKeys } from '../shared/redis/client.js';
import { parseRedisTarget } from '../shared/redis/url.js';
import { topology } from '../shared/messaging/topology.js';

/** What opens AMQP channels (an amqplib connection). A failed checkQueue closes its channel. */
export interface ChannelSource {
  createChannel(): Promise<Channel>;
}

/** The Redis commands the delete needs. */
export type NamespaceRedis = Redis;

export const NAMESPACE_PATTERN = /^[a-z0-9][a-z0-9_-]{0,47}$/;

/** Keys removed per UNLINK and asked for per SCAN step. */
export const KEY_BATCH = 500;

/** Every queue name a namespace may own: its topology's, then the legacy ones of earlier builds. */
export function namespaceQueues(ns: string): string[] {
  const t = topology(ns);
  return [...t.allQueues, ...t.legacyQueues];
}

/** The SCAN pattern of a namespace's keys (glob characters escaped). */
export function keyPattern(ns: string): string {
  return `${ns.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}:*`;
}

export interface QueueState {
  name: string;
  messages: number;
  consumers: number;
}

/** The namespace's queues that exist, with their messages and consumers. */
export function existingQueues(conn: ChannelSource, ns: string): Promise<QueueState[]> {
  return queueStates(conn, namespaceQueues(ns));
}

async function openQuiet(conn: ChannelSource): Promise<Channel> {
  const ch = await conn.createChannel();
  // A 404 on checkQueue closes the channel with an error event; it is expected here.
  ch.on('error', () => undefined);
  return ch;
}

/** A delete refused because replicas of the namespace are alive. */
export class NamespaceInUseError extends Error {
  override readonly name = 'NamespaceInUseError';
  constructor(readonly namespace: string, readonly queues: readonly QueueState[]) {
    super(`namespace ${namespace} is in use: ${queues.map((q) => `${q.name} has ${q.consumers} consumer${q.consumers === 1 ? '' : 's'}`).join(', ')}; stop its replicas or pass --force`);
  }
}

export interface DeleteNamespaceResult {
  namespace: string;
  /** Queues deleted (those that existed). */
  queues: string[];
  /** Messages they held. */
  messages: number;
  /** Redis keys unlinked. */
  keys: number;
}

/** Unlinks every key matching `<ns>:*`, in batches; returns how many were removed. */
export async function deleteNamespaceKeys(redis: NamespaceRedis, ns: string): Promise<number> {
  let removed = 0;
  // Every master of a cluster holds a share of the keys.
  await scanKeys(redis, keyPattern(ns), KEY_BATCH, async (keys) => {
    removed += await unlinkKeys(redis, keys);
  });
  return removed;
}

/**
 * Deletes a namespace's queues and keys. Throws NamespaceInUseError when one of its queues
 * has a consumer, unless `force`.
 */
export async function deleteNamespace(conn: ChannelSource, redis: NamespaceRedis, ns: string, opts: { force?: boolean } = {}): Promise<DeleteNamespaceResult> {
  if (!NAMESPACE_PATTERN.test(ns)) throw new TypeError(`namespace must be 1-48 characters of a-z, 0-9, _ or -, starting with a letter or digit, got ${JSON.stringify(ns)}`);
  const queues = await existingQueues(conn, ns);
  const busy = queues.filter((q) => q.consumers > 0);
  if (busy.length > 0 && !opts.force) throw new NamespaceInUseError(ns, busy);
  const ch = await openQuiet(conn);
  try {
    for (const q of queues) await ch.deleteQueue(q.name);
    const t = topology(ns);
    for (const x of [...t.exchanges, ...t.legacyExchanges]) await ch.deleteExchange(x);
  } finally {
    await ch.close().catch(() => undefined);
  }
  const keys = await deleteNamespaceKeys(redis, ns);
  return { namespace: ns, queues: queues.map((q) => q.name), messages: queues.reduce((n, q) => n + q.messages, 0), keys };
}

const USAGE = 'usage: crawlfleet namespace delete <namespace> [--force]';

/**
 * `crawlfleet namespace delete <ns> [--force]` with AMQP_URL and REDIS_URL from the config;
 * returns the exit code (0 deleted, 1 refused or failed, 2 usage).
 */
export async function main(argv: readonly string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`), err: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<number> {
  const args = argv.filter((a) => a !== '--force');
  const force = args.length !== argv.length;
  const [verb, ns, ...rest] = args;
  if (verb !== 'delete' || ns === undefined || rest.length > 0 || ns.startsWith('-')) {
    err(USAGE);
    return 2;
  }
  if (!NAMESPACE_PATTERN.test(ns)) {
    err(`crawlfleet namespace: ${JSON.stringify(ns)} is not a namespace (1-48 characters of a-z, 0-9, _ or -)\n${USAGE}`);
    return 2;
  }
  const { config } = loadConfig();
  let conn: Awaited<ReturnType<typeof amqp.connect>> | null = null;
  const target = parseRedisTarget(config.redis);
  const redis = target.kind === 'single' ? new Redis(target.url, { lazyConnect: true, maxRetriesPerRequest: 2 }) : createRedis(config.redis, { name: `${ns}:namespace-delete` });
  try {
    conn = (await connectFirst(amqpUrls(config.amqp.url), {}, maskSecret)).conn;
    if (target.kind === 'single') await redis.connect();
    const r = await deleteNamespace(conn, redis, ns, { force });
    out(`namespace ${ns} deleted: ${r.queues.length} queues (${r.messages} messages), ${r.keys} Redis keys`);
    return 0;
  } catch (e) {
    err(`crawlfleet namespace: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    await conn?.close().catch(() => undefined);
    redis.disconnect();
  }
}
