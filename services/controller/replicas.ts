/**
 * The replicas of the cluster, from their heartbeats (shared/service/heartbeat.ts): who runs,
 * and how far a configuration change has reached.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { readLive } from '../../shared/config/center.js';
import { SERVICE_NAMES } from '../../shared/pipeline/services.js';
import type { Keys } from '../../shared/redis/keys.js';
import { listReplicas, replicaView, rolloutOf, type Rollout } from '../../shared/service/heartbeat.js';

export interface ReplicaRoutesDeps {
  redis: Redis;
  keys: Keys;
}

/** How many live replicas run `version` (default: the current live version) or newer, and which do not. */
export async function measureRollout(redis: Redis, keys: Keys, version?: number): Promise<Rollout> {
  const target = version ?? (await readLive(redis, keys)).version;
  return rolloutOf(await listReplicas(redis, keys), target);
}

export function registerReplicaRoutes(app: FastifyInstance, deps: ReplicaRoutesDeps): void {
  const { redis, keys } = deps;

  app.get<{ Querystring: { service?: string } }>('/replicas', {
    schema: { querystring: { type: 'object', additionalProperties: false, properties: { service: { type: 'string', enum: [...SERVICE_NAMES] } } } },
  }, async (req) => {
    const now = Date.now();
    const replicas = (await listReplicas(redis, keys, { service: req.query.service })).map((r) => replicaView(r, now));
    return { replicas };
  });

  app.get<{ Querystring: { version?: number } }>('/config/rollout', {
    schema: { querystring: { type: 'object', additionalProperties: false, properties: { version: { type: 'integer', minimum: 0 } } } },
  }, async (req) => measureRollout(redis, keys, req.query.version));
}
