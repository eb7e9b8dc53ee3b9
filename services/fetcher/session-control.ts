/**
 * Cancel and pause for a stage that holds claimed tasks (the fetcher before a request, the
 * renderer before it opens a page): one watch of the sessions' statuses per replica
 * (session-watch.ts: pushed on the control channel, read back once a second), the check
 * (`halted`, a Map read) and what becomes of a task that meets a halted session (`stop`):
 * - cancelled: the task ends C at once (cancel-task-3), with no record;
 * - paused: it goes back to W with its attempt given back (defer-3) and to the fetch queue
 *   through a delay queue, where the claim keeps it waiting (claim-3) until the session is
 *   resumed, using no attempt, no rate token and no request.
 */
import { createRedis } from '../../shared/redis/client.js';
import type { ServiceContext } from '../../shared/service/runtime.js';
import type { FetchTask } from '../../shared/tasks/types.js';
import { SessionWatch } from './session-watch.js';

/** How long a task of a paused session waits in a delay queue before it looks again (a delay bucket). */
export const PAUSE_RECHECK_MS = 2000;
/** How often the session watch reads back the statuses of the sessions this replica works on. */
const WATCH_REFRESH_MS = 1000;
/** A session the replica has not looked up for this long leaves the watch. */
const WATCH_IDLE_MS = 60_000;

export type SessionControlContext = Pick<ServiceContext, 'config' | 'log' | 'metrics' | 'keys' | 'sessions' | 'tasks' | 'outbox'>;

export class SessionControl {
  readonly watch: SessionWatch;
  private readonly sub: ReturnType<typeof createRedis>;

  constructor(private readonly ctx: SessionControlContext, service: string) {
    this.watch = new SessionWatch({
      read: (ids) => ctx.sessions.controlStates(ids),
      refreshMs: WATCH_REFRESH_MS,
      idleMs: WATCH_IDLE_MS,
      onError: (err) => ctx.log.debug({ err: (err as Error).message }, 'session watch refresh failed; next one in a second'),
    });
    const sub = createRedis(ctx.config().redis, { name: `${ctx.keys.namespace}:${service}:control`, blocking: true });
    this.sub = sub;
    sub.on('error', () => undefined);
    sub.on('message', (channel: string, message: string) => {
      if (channel === ctx.keys.sessionsControl) this.watch.onMessage(message);
    });
    // After a reconnect ioredis subscribes again; what was said meanwhile is read back now.
    sub.on('ready', () => void this.watch.refresh().catch(() => undefined));
    void sub.subscribe(ctx.keys.sessionsControl).catch((err: unknown) => ctx.log.warn({ err: (err as Error).message }, 'cannot subscribe to the session control channel; the watch reads statuses every second'));
    this.watch.start();
  }

  /** Makes the session's status known (one read the first time). */
  ensure(sessionId: string): Promise<void> {
    return this.watch.ensure(sessionId);
  }

  /** The session of a claimed task is paused or cancelled: no request, no page may start for it. */
  halted(sessionId: string): boolean {
    const status = this.watch.status(sessionId);
    return status === 'paused' || status === 'cancelled';
  }

  /**
   * A claimed task (the attempt the caller holds) whose session is halted, before its request
   * or page started: cancelled, it ends C now; paused, it waits in a delay queue on its way
   * back to the fetch queue, its attempt given back.
   */
  async stop(task: FetchTask, attempt: number): Promise<void> {
    const { tasks, outbox, metrics } = this.ctx;
    if (this.watch.status(task.sessionId) === 'cancelled') {
      await tasks.cancelClaimed(task.sessionId, task.taskId, attempt);
      metrics.fetchDeferred.inc({ reason: 'cancelled' });
    } else if (await tasks.defer(task.sessionId, task.taskId, attempt, PAUSE_RECHECK_MS + this.ctx.config().task.leaseMs)) {
      await outbox.later('fetch', PAUSE_RECHECK_MS, { ...task, attempt: attempt - 1 });
      metrics.fetchDeferred.inc({ reason: 'paused' });
    }
  }

  close(): void {
    this.watch.close();
    this.sub.disconnect();
  }
}
