/**
 * Mocha root hook plugin (registered with `--require`, see .mocharc.json and the test:chaos
 * script): after the whole run, looks for RabbitMQ queues and Redis keys of every namespace
 * the test support handed out (testNamespace) and fails the run naming what was left, then
 * removes it so the machine stays clean. Only this process's namespaces are looked at: other
 * runs may share the broker and Redis.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { deleteNamespace, existingQueues, keyPattern } from '../../scripts/namespace.js';
import { AMQP_URL, REDIS_URL, testNamespaces } from './stack.js';

export interface Leftover {
  namespace: string;
  queues: string[];
  keys: string[];
}

/** Up to this many key names are named per namespace. */
const KEYS_NAMED = 5;

/**
 * Every queue name of the local broker, from `rabbitmqctl` (one call, half a second), or null
 * when it cannot be asked (not root, another broker): then each queue is checked by name.
 */
async function localQueueNames(): Promise<Set<string> | null> {
  if (!/^amqp:\/\/[^@]*@(127\.0\.0\.1|localhost):5672\/?$/.test(AMQP_URL)) return null;
  try {
    const { stdout } = await promisify(execFile)('rabbitmqctl', ['-q', 'list_queues', 'name', '--no-table-headers'], { timeout: 30_000 });
    return new Set(stdout.split('\n').map((l) => l.trim()).filter((l) => l !== ''));
  } catch {
    return null;
  }
}

/** The queues and keys still there for each of `namespaces`; namespaces left clean are absent. */
export async function findLeftovers(namespaces: readonly string[]): Promise<Leftover[]> {
  if (namespaces.length === 0) return [];
  const listed = await localQueueNames();
  const conn = await amqp.connect(AMQP_URL);
  const redis = new Redis(REDIS_URL);
  try {
    const out: Leftover[] = [];
    for (const ns of namespaces) {
      const queues = listed ? [...listed].filter((q) => q.startsWith(`${ns}.`)) : (await existingQueues(conn, ns)).map((q) => q.name);
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', keyPattern(ns), 'COUNT', 1000);
        cursor = next;
        keys.push(...found);
      } while (cursor !== '0');
      if (queues.length > 0 || keys.length > 0) out.push({ namespace: ns, queues, keys });
    }
    return out;
  } finally {
    await conn.close().catch(() => undefined);
    redis.disconnect();
  }
}

export function describeLeftovers(leftovers: readonly Leftover[]): string {
  const lines = leftovers.map((l) => {
    const keys = l.keys.length === 0 ? '' : ` ${l.keys.length} Redis keys (${l.keys.slice(0, KEYS_NAMED).join(', ')}${l.keys.length > KEYS_NAMED ? ', ...' : ''})`;
    const queues = l.queues.length === 0 ? '' : ` ${l.queues.length} queues (${l.queues.join(', ')})`;
    return `  ${l.namespace}:${queues}${keys}`;
  });
  return `test namespaces left behind (call cleanupNamespace or TestStack.stop in an after hook):\n${lines.join('\n')}`;
}

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(120_000);
    const leftovers = await findLeftovers(testNamespaces());
    if (leftovers.length === 0) return;
    const conn = await amqp.connect(AMQP_URL);
    const redis = new Redis(REDIS_URL);
    try {
      for (const l of leftovers) await deleteNamespace(conn, redis, l.namespace, { force: true });
    } finally {
      await conn.close().catch(() => undefined);
      redis.disconnect();
    }
    throw new Error(describeLeftovers(leftovers));
  },
};
