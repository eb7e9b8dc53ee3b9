/**
 * The control-plane dashboard: bull-board at /admin/queues showing the BullMQ queues of
 * shared/controlplane/queues.ts (sweeps, webhooks). The controller owns those
 * Queue objects and their Redis connection, and closes them with its HTTP server.
 * Access control (token, cookie login) is in security.ts; it covers every path below
 * /admin/queues, static assets included.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { CONTROL_QUEUES, openControlQueue } from '../../shared/controlplane/queues.js';
import type { Logger } from '../../shared/observability/log.js';
import { createRedis } from '../../shared/redis/client.js';
import type { Keys } from '../../shared/redis/keys.js';
import type { RedisSettings } from '../../shared/redis/url.js';
import { DASHBOARD_PATH } from './security.js';

export interface ControlQueues {
  readonly queues: readonly Queue[];
  close(): Promise<void>;
}

/** Opens the control queues on one Redis connection that waits through outages (`maxRetriesPerRequest: null`). */
export function openControlQueues(redisUrl: string | RedisSettings, keys: Keys, log: Logger): ControlQueues {
  const connection = createRedis(redisUrl, { name: `${keys.namespace}:controller:bull`, blocking: true });
  // While Redis is not reachable the service runtime logs that once (and /readyz says so):
  // this connection's failed reconnects are debug, other errors warnings.
  const report = (err: Error, msg: string, extra: Record<string, unknown> = {}): void => {
    if (connection.status === 'ready') log.warn({ err: err.message, ...extra }, msg);
    else log.debug({ err: err.message, ...extra }, msg);
  };
  connection.on('error', (err: Error) => report(err, 'control-plane redis error'));
  const queues = CONTROL_QUEUES.map((q) => openControlQueue(keys, q, connection));
  for (const q of queues) q.on('error', (err: Error) => report(err, 'control queue error', { queue: q.name }));
  return {
    queues,
    async close() {
      await Promise.all(queues.map((q) => q.close().catch(() => undefined)));
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}

/** Mounts bull-board under DASHBOARD_PATH. */
export async function registerDashboard(app: FastifyInstance, queues: readonly Queue[]): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'crawlfleet control plane' } },
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_PATH });
}
