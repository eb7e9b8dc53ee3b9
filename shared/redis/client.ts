/** Redis connections: one place sets the options every service uses. */
import { Redis, type RedisOptions } from 'ioredis';
import { defineScripts } from './scripts.js';

export interface RedisClientOptions {
  /** Connection name shown by CLIENT LIST (service and role). */
  name: string;
  /** BullMQ and subscribers need commands to wait forever instead of failing. */
  blocking?: boolean;
}

export function createRedis(url: string, opts: RedisClientOptions): Redis {
  const options: RedisOptions = {
    connectionName: opts.name,
    lazyConnect: false,
    enableAutoPipelining: true,
    // Commands wait through a short outage, then fail so the message is redelivered.
    maxRetriesPerRequest: opts.blocking ? null : 20,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
  const client = new Redis(url, options);
  defineScripts(client);
  return client;
}
