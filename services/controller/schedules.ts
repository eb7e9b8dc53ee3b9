/**
 * Schedules: a session request started again on every tick of an interval (`every`) or a
 * cron pattern (`cron`, UTC). Each schedule is a BullMQ job scheduler on the `schedules`
 * control queue (shared/controlplane/queues.ts) whose jobs every controller replica works
 * on: BullMQ gives each tick's job to one worker, so one session starts per tick however many
 * controllers run. The schedule itself (its request) is a hash field `keys.schedules`, its
 * runs (time and session id, or the error that stopped one) a short list beside it.
 *
 * The session request is validated when the schedule is created, exactly as POST /sessions
 * validates it (errors name `body/session/<field>`), and again at every run (limits may have
 * changed since): a run that is refused records its error and the schedule goes on.
 */
import { randomBytes } from 'node:crypto';
import { Worker, type Queue } from 'bullmq';
import cronParser from 'cron-parser';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../../shared/config/index.js';
import { controlQueueName } from '../../shared/controlplane/queues.js';
import { CrawlError, toCrawlError } from '../../shared/errors/index.js';
import type { Logger } from '../../shared/observability/log.js';
import { createRedis } from '../../shared/redis/client.js';
import type { RedisSettings } from '../../shared/redis/url.js';
import type { Keys } from '../../shared/redis/keys.js';
import type { SessionRequest, SessionSpec } from '../../shared/tasks/types.js';
import { redactSpec } from '../../shared/observability/redact.js';
import { buildSpec, checkSeedHosts, createSessionSchema } from './sessions.js';

/** Shortest interval between runs. */
export const MIN_EVERY_MS = 1000;
const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `30s`, `15m`, `6h`, `1d` → milliseconds; null when it is not an interval. */
export function parseEvery(text: string): number | null {
  const m = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * (UNITS[m[2] as string] as number);
  return Number.isSafeInteger(ms) ? ms : null;
}

/** The next time a cron pattern fires after `from` (UTC); throws on a bad pattern. */
export function nextCron(pattern: string, from = new Date()): Date {
  return cronParser.parseExpression(pattern, { tz: 'UTC', currentDate: from }).next().toDate();
}

export interface ScheduleBody {
  every?: string;
  cron?: string;
  session: SessionRequest;
}

export interface Schedule {
  id: string;
  every?: string;
  cron?: string;
  createdAt: string;
  session: SessionRequest;
}

export interface ScheduleRun {
  at: string;
  sessionId: string | null;
  error: string | null;
}

export const createScheduleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['session'],
  properties: {
    every: { type: 'string', minLength: 1, maxLength: 20 },
    cron: { type: 'string', minLength: 1, maxLength: 200 },
    session: createSessionSchema,
  },
} as const;

function invalid(field: string, message: string): CrawlError {
  return new CrawlError('validation', `body/${field} ${message}`, { details: { field } });
}

/** The rules the schema cannot say: one of every and cron, each well formed, the session as POST /sessions takes it. */
export async function validateSchedule(body: ScheduleBody, cfg: Config): Promise<void> {
  if ((body.every === undefined) === (body.cron === undefined)) throw invalid(body.every === undefined ? 'every' : 'cron', 'one of every and cron is required, not both');
  if (body.every !== undefined) {
    const ms = parseEvery(body.every);
    if (ms === null) throw invalid('every', `must be a number and a unit (ms, s, m, h, d), like "6h"; got ${JSON.stringify(body.every)}`);
    if (ms < MIN_EVERY_MS) throw invalid('every', `must be at least ${MIN_EVERY_MS} ms`);
  }
  if (body.cron !== undefined) {
    try {
      nextCron(body.cron);
    } catch (err) {
      throw invalid('cron', `is not a cron pattern: ${(err as Error).message}`);
    }
  }
  try {
    const spec = buildSpec(body.session, cfg);
    await checkSeedHosts(spec.seeds, cfg);
  } catch (err) {
    // The same refusal as POST /sessions, its field under `session`.
    if (err instanceof CrawlError && err.code === 'validation') {
      const field = typeof err.details.field === 'string' ? `session/${err.details.field}` : 'session';
      throw new CrawlError('validation', err.message.replace(/^body\//, 'body/session/'), { details: { field }, cause: err });
    }
    throw err;
  }
}

export interface ScheduleDeps {
  redis: Redis;
  keys: Keys;
  queue: Queue;
  config(): Config;
  /** Starts a session as POST /sessions does; answers its id. */
  startSession(request: SessionRequest): Promise<string>;
  log: Logger;
}

const ID_PARAMS = { type: 'object', properties: { id: { type: 'string', pattern: '^[a-z0-9-]{1,64}$' } }, required: ['id'] } as const;

/** The schedules of a namespace, their BullMQ job schedulers and their runs. */
export class Schedules {
  constructor(private readonly deps: ScheduleDeps) {}

  async create(body: ScheduleBody): Promise<Schedule> {
    const id = `sch-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    const schedule: Schedule = {
      id,
      ...(body.every !== undefined ? { every: body.every } : {}),
      ...(body.cron !== undefined ? { cron: body.cron } : {}),
      createdAt: new Date().toISOString(),
      session: body.session,
    };
    const { redis, keys, queue } = this.deps;
    // The schedule exists before its first tick can look for it.
    await redis.hset(keys.schedules, id, JSON.stringify(schedule));
    const repeat = body.every !== undefined ? { every: parseEvery(body.every) as number } : { pattern: body.cron as string, tz: 'UTC' };
    await queue.upsertJobScheduler(id, repeat, { name: 'run', data: { scheduleId: id }, opts: { removeOnComplete: 10, removeOnFail: 10 } });
    return schedule;
  }

  async list(): Promise<(Schedule & { runs: ScheduleRun[]; nextRunAt: string | null })[]> {
    const { redis, keys, queue } = this.deps;
    const all = Object.values(await redis.hgetall(keys.schedules)).map((v) => JSON.parse(v) as Schedule);
    all.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    return Promise.all(all.map(async (s) => {
      const [runs, scheduler] = await Promise.all([redis.lrange(keys.scheduleRuns(s.id), 0, -1), queue.getJobScheduler(s.id)]);
      const next = scheduler?.next;
      return { ...s, nextRunAt: typeof next === 'number' ? new Date(next).toISOString() : null, runs: runs.map((r) => JSON.parse(r) as ScheduleRun) };
    }));
  }

  /** Removes a schedule: no run starts afterwards (a run already started goes on). */
  async remove(id: string): Promise<boolean> {
    const { redis, keys, queue } = this.deps;
    await queue.removeJobScheduler(id);
    const removed = await redis.hdel(keys.schedules, id);
    await redis.del(keys.scheduleRuns(id));
    return removed === 1;
  }

  /** One tick of a schedule (a BullMQ job): start its session and record the run. */
  async run(scheduleId: string, at = Date.now()): Promise<ScheduleRun | null> {
    const { redis, keys, config } = this.deps;
    const raw = await redis.hget(keys.schedules, scheduleId);
    // Deleted meanwhile: its last tick starts nothing.
    if (raw === null) return null;
    const schedule = JSON.parse(raw) as Schedule;
    let run: ScheduleRun;
    try {
      const sessionId = await this.deps.startSession(schedule.session);
      run = { at: new Date(at).toISOString(), sessionId, error: null };
      this.deps.log.info({ scheduleId, sessionId }, 'schedule started a session');
    } catch (err) {
      const e = toCrawlError(err);
      // Redis or the broker away: the job fails and BullMQ retries it.
      if (e.retryable) throw err;
      run = { at: new Date(at).toISOString(), sessionId: null, error: `${e.code}: ${e.message}` };
      this.deps.log.warn({ scheduleId, code: e.code, err: e.message }, 'schedule run refused');
    }
    const runsKey = keys.scheduleRuns(scheduleId);
    await redis.multi().lpush(runsKey, JSON.stringify(run)).ltrim(runsKey, 0, config().schedules.keepRuns - 1).exec();
    // Deleted while this run started: its runs list goes too.
    if (!(await redis.hexists(keys.schedules, scheduleId))) await redis.del(runsKey);
    return run;
  }
}

/** The worker that runs the ticks on this controller; closed with the HTTP server. */
export function startScheduleWorker(schedules: Schedules, redis: string | RedisSettings, keys: Keys, log: Logger): { close(graceMs?: number): Promise<void> } {
  const connection = createRedis(redis, { name: `${keys.namespace}:controller:schedules`, blocking: true });
  connection.on('error', (err: Error) => log.debug({ err: err.message }, 'schedules worker redis error'));
  const worker = new Worker(
    controlQueueName(keys.namespace, 'schedules'),
    async (job) => schedules.run(String((job.data as { scheduleId?: unknown }).scheduleId), job.timestamp),
    { connection, prefix: keys.bullPrefix, concurrency: 4 },
  );
  worker.on('failed', (job, err) => log.warn({ scheduleId: (job?.data as { scheduleId?: string } | undefined)?.scheduleId, err: err.message }, 'schedule run failed'));
  worker.on('error', (err) => log.debug({ err: err.message }, 'schedules worker error'));
  return {
    /** Waits for a run in progress at most `graceMs` (a Redis that went away would hold BullMQ's close forever), then drops the connection. */
    async close(graceMs = 5000) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([worker.close().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      await Promise.race([connection.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 500).unref())]);
      connection.disconnect();
    },
  };
}

/** A schedule as answered: its session request's header and cookie values (secrets) as `***`, as every session output shows them. */
function shown<S extends { session: SessionRequest }>(s: S): S {
  return { ...s, session: redactSpec(s.session as Partial<SessionSpec>) as SessionRequest };
}

export function registerScheduleRoutes(app: FastifyInstance, schedules: Schedules, config: () => Config): void {
  app.post<{ Body: ScheduleBody }>('/schedules', { schema: { body: createScheduleSchema } }, async (req, reply) => {
    await validateSchedule(req.body, config());
    const s = await schedules.create(req.body);
    req.log.info({ scheduleId: s.id, every: s.every, cron: s.cron }, 'schedule created');
    return reply.code(201).send({ ...shown(s), nextRunAt: null, runs: [] });
  });
  app.get('/schedules', async () => ({ schedules: (await schedules.list()).map(shown) }));
  app.delete<{ Params: { id: string } }>('/schedules/:id', { schema: { params: ID_PARAMS } }, async (req) => {
    const id = req.params.id;
    if (!(await schedules.remove(id))) throw new CrawlError('not_found', `schedule ${id} not found`);
    req.log.info({ scheduleId: id }, 'schedule deleted');
    return { id, deleted: true };
  });
}
