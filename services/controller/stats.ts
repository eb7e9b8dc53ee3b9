/**
 * The cluster overview: RabbitMQ queue depths and consumers, sessions by status, and the
 * control-plane (BullMQ) job counts. Sampled periodically into the gauges
 * `crawlfleet_queue_depth`, `crawlfleet_queue_consumers`, `crawlfleet_sessions`, and served
 * fresh (at most 1 s old) by `GET /stats`.
 */
import { STAGE_NAMES, type StageName } from '../../shared/pipeline/stages.js';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Broker } from '../../shared/messaging/broker.js';
import type { Topology } from '../../shared/messaging/topology.js';
import type { Logger } from '../../shared/observability/log.js';
import type { Metrics } from '../../shared/observability/metrics.js';
import { recordQueueStats, sampleQueues, type QueueStat } from '../../shared/observability/queues.js';
import { PeriodicSampler } from '../../shared/observability/sampler.js';
import type { Keys } from '../../shared/redis/keys.js';
import type { SessionStatus } from '../../shared/tasks/types.js';

export const QUEUE_SAMPLE_MS = 5000;
export const SESSION_SAMPLE_MS = 15_000;
const STATS_MAX_AGE_MS = 1000;
const SESSION_PAGE = 500;

export const SESSION_STATUSES: readonly SessionStatus[] = ['running', 'paused', 'completed', 'partial', 'cancelled', 'closed'];
export type SessionCounts = Record<SessionStatus, number>;

/**
 * Sessions by status, over the session index in pages (pipelined HGETs). Sessions whose
 * data has expired (retention) are not counted. Pages by rank, so a session created during
 * the count may be counted twice or not at all: a sample, not a ledger.
 */
export async function countSessions(redis: Redis, keys: Keys): Promise<SessionCounts> {
  const counts = Object.fromEntries(SESSION_STATUSES.map((s) => [s, 0])) as SessionCounts;
  for (let start = 0; ; start += SESSION_PAGE) {
    const ids = await redis.zrange(keys.sessionsIndex, start, start + SESSION_PAGE - 1);
    // `status` is the field the ledger keeps in the session hash.
    const statuses = await Promise.all(ids.map((id) => redis.hget(keys.session(id).session, 'status')));
    for (const s of statuses) if (s !== null && Object.hasOwn(counts, s)) counts[s as SessionStatus]++;
    if (ids.length < SESSION_PAGE) return counts;
  }
}

export interface StatsDeps {
  broker: Broker;
  topology: Topology;
  redis: Redis;
  keys: Keys;
  metrics: Metrics;
  log: Logger;
  controlQueues: readonly Queue[];
}

/** The controller's samplers: queues every 5 s, sessions every 15 s. */
export class ClusterStats {
  readonly queues: PeriodicSampler<QueueStat[]>;
  readonly sessions: PeriodicSampler<SessionCounts>;

  constructor(private readonly deps: StatsDeps) {
    this.queues = new PeriodicSampler({
      name: 'queues',
      intervalMs: QUEUE_SAMPLE_MS,
      log: deps.log,
      sample: async () => {
        const stats = await sampleQueues(deps.broker, deps.topology);
        recordQueueStats(deps.metrics, stats);
        return stats;
      },
      onError: () => recordQueueStats(deps.metrics, null),
    });
    this.sessions = new PeriodicSampler({
      name: 'sessions',
      intervalMs: SESSION_SAMPLE_MS,
      log: deps.log,
      sample: async () => {
        const counts = await countSessions(deps.redis, deps.keys);
        for (const s of SESSION_STATUSES) deps.metrics.sessions.set({ status: s }, counts[s]);
        return counts;
      },
      onError: () => deps.metrics.sessions.reset(),
    });
  }

  start(): void {
    this.queues.start();
    this.sessions.start();
  }

  async stop(): Promise<void> {
    await Promise.all([this.queues.stop(), this.sessions.stop()]);
  }

  /** The body of GET /stats. */
  async overview(): Promise<Record<string, unknown>> {
    const [queues, sessions, control] = await Promise.all([
      this.queues.fresh(STATS_MAX_AGE_MS),
      this.sessions.fresh(STATS_MAX_AGE_MS),
      Promise.all(this.deps.controlQueues.map(async (q) => ({ name: q.name, counts: await q.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'paused', 'prioritized', 'waiting-children') }))),
    ]);
    const byRole = (role: QueueStat['role']): QueueStat[] => queues.value.filter((q) => q.role === role);
    const total = (list: QueueStat[]): { ready: number; consumers: number } => ({
      ready: list.reduce((n, q) => n + q.ready, 0),
      consumers: list.reduce((n, q) => n + q.consumers, 0),
    });
    const one = (role: StageName | 'dead'): { name: string; ready: number; consumers: number } => {
      const q = byRole(role)[0];
      return { name: q?.name ?? '', ready: q?.ready ?? 0, consumers: q?.consumers ?? 0 };
    };
    return {
      sampledAt: new Date(Math.min(queues.at, sessions.at)).toISOString(),
      queues: {
        ...Object.fromEntries(STAGE_NAMES.map((s) => [s, one(s)])),
        dead: one('dead'),
        retry: { ...total(byRole('retry')), queues: byRole('retry').map((q) => ({ name: q.name, delayMs: Number(q.queue.slice('delay.'.length)), ready: q.ready, consumers: q.consumers })) },
        quarantine: { ...total(byRole('quarantine')), queues: byRole('quarantine').map((q) => ({ name: q.name, of: q.queue.slice(0, -'.quarantine'.length), ready: q.ready, consumers: q.consumers })) },
        other: byRole('other').map((q) => ({ name: q.name, ready: q.ready, consumers: q.consumers })),
      },
      sessions: { ...sessions.value, total: SESSION_STATUSES.reduce((n, s) => n + sessions.value[s], 0) },
      controlQueues: control,
    };
  }
}

const QUEUE_SCHEMA = {
  type: 'object',
  required: ['name', 'ready', 'consumers'],
  properties: { name: { type: 'string' }, ready: { type: 'integer', description: 'Messages ready for delivery.' }, consumers: { type: 'integer' } },
} as const;

export const statsResponseSchema = {
  type: 'object',
  required: ['sampledAt', 'queues', 'sessions', 'controlQueues'],
  properties: {
    sampledAt: { type: 'string', format: 'date-time' },
    queues: {
      type: 'object',
      required: [...STAGE_NAMES, 'dead', 'retry', 'quarantine', 'other'],
      properties: {
        ...Object.fromEntries(STAGE_NAMES.map((s) => [s, QUEUE_SCHEMA])),
        dead: QUEUE_SCHEMA,
        retry: {
          type: 'object',
          description: 'The delayed-retry queues (one per delay), with their totals.',
          required: ['ready', 'consumers', 'queues'],
          properties: {
            ready: { type: 'integer' },
            consumers: { type: 'integer' },
            queues: { type: 'array', items: { type: 'object', required: ['name', 'delayMs', 'ready', 'consumers'], properties: { ...QUEUE_SCHEMA.properties, delayMs: { type: 'integer' } } } },
          },
        },
        quarantine: {
          type: 'object',
          description: 'The quarantine queues (one per work queue, consumed one message at a time), with their totals.',
          required: ['ready', 'consumers', 'queues'],
          properties: {
            ready: { type: 'integer' },
            consumers: { type: 'integer' },
            queues: { type: 'array', items: { type: 'object', required: ['name', 'of', 'ready', 'consumers'], properties: { ...QUEUE_SCHEMA.properties, of: { type: 'string', description: 'The work queue it belongs to.' } } } },
          },
        },
        other: { type: 'array', description: 'Any other queue of the namespace.', items: QUEUE_SCHEMA },
      },
    },
    sessions: {
      type: 'object',
      required: [...SESSION_STATUSES, 'total'],
      properties: Object.fromEntries([...SESSION_STATUSES, 'total'].map((s) => [s, { type: 'integer' }])),
    },
    controlQueues: {
      type: 'array',
      description: 'BullMQ control-plane queues (sweeps, webhooks): job counts by state.',
      items: { type: 'object', required: ['name', 'counts'], properties: { name: { type: 'string' }, counts: { type: 'object', additionalProperties: { type: 'integer' } } } },
    },
  },
};

/** `GET /stats` (documented in openapi.ts with `statsResponseSchema`). */
export function registerStatsRoute(app: FastifyInstance, stats: ClusterStats): void {
  app.get('/stats', async () => stats.overview());
}
