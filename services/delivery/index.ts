/**
 * Delivery: the terminal accounting of every task and the hand-over of every session.
 *   record   → ledger deliver (exactly once per task: append, count, confirm children,
 *              complete the session when nothing is left) → if completed, a finalize
 *              message (confirmed) → ack
 *   finalize → results file → webhook → mark handed over → ack
 *   dead     → a poison message becomes failed(poison) for its task
 */
import type { ConsumeMessage } from 'amqplib';
import { SessionCache } from '../../shared/admission/index.js';
import { CrawlError } from '../../shared/errors/index.js';
import { Consumer } from '../../shared/messaging/consumer.js';
import { AddressPolicy } from '../../shared/net/ssrf.js';
import { createRedis } from '../../shared/redis/client.js';
import { runService, type ServiceContext, type ServiceHandle } from '../../shared/service/runtime.js';
import { decodeDeliver } from '../../shared/tasks/codec.js';
import { deliverMessage, failureRecord, type TaskRef } from '../../shared/tasks/records.js';
import type { DeliverMessage, DeliverRecord, FinalizeSession, SessionStatus } from '../../shared/tasks/types.js';
import { createGuardedAgent } from '../../shared/net/agent.js';
import { sessionEvent, writeResultsFile } from './handover.js';
import { WebhookOutbox } from './webhooks.js';

/** What a dead-lettered message was about, whichever queue it died on. */
export function deadTaskRef(msg: ConsumeMessage): TaskRef | null {
  try {
    const header = msg.properties.headers?.['x-task'];
    const o = (typeof header === 'string' ? JSON.parse(header) : JSON.parse(msg.content.toString('utf8'))) as Record<string, unknown>;
    const rec = (o.record ?? {}) as Record<string, unknown>;
    const sessionId = o.sessionId;
    const taskId = o.taskId;
    const url = o.url ?? rec.url;
    if (typeof sessionId !== 'string' || typeof taskId !== 'string' || typeof url !== 'string') return null;
    const depth = Number(o.depth ?? rec.depth ?? 0);
    const parent = (o.parent ?? rec.parent ?? undefined) as string | undefined;
    return { sessionId, taskId, url, depth, parent: parent ?? undefined };
  } catch {
    return null;
  }
}

export async function startDelivery(ctx: ServiceContext): Promise<ServiceHandle> {
  const { ledger, broker, topology, metrics } = ctx;
  const webhookAgent = createGuardedAgent(new AddressPolicy(ctx.config().fetch.allowedNetworks), ctx.config().fetch.connectTimeoutMs, 8);
  const outbox = new WebhookOutbox({
    keys: ctx.keys,
    connection: createRedis(ctx.config().redis.url, { name: `${ctx.keys.namespace}:delivery:webhooks`, blocking: true }),
    dispatcher: webhookAgent,
    log: ctx.log,
    settings: () => ({ secret: ctx.config().deliver.webhookSecret, timeoutMs: ctx.config().deliver.webhookTimeoutMs }),
  });
  const sessions = new SessionCache(ledger);

  async function record(msg: DeliverRecord): Promise<void> {
    const r = msg.record;
    const reply = await ledger.deliver(msg.sessionId, msg.taskId, r.outcome, r.status !== null, JSON.stringify(r), msg.children);
    if (reply.kind === 'duplicate' || reply.kind === 'unknown') {
      metrics.duplicates.inc({ stage: 'deliver' });
      return;
    }
    const status = reply.status;
    metrics.records.inc({ outcome: r.outcome });
    if (reply.kind === 'completed') await finalizeLater(msg.sessionId, 'completed');
    else if (reply.kind === 'closed') await finalizeLater(msg.sessionId, 'closed');
    if (status === 'partial') {
      // A late result: delivered as a supplement (the results stream marks it too).
      const session = await sessions.get(msg.sessionId);
      const hook = session?.spec.webhook;
      if (hook) {
        await outbox.enqueue(hook, { event: 'session.supplement', at: new Date().toISOString(), sessionId: msg.sessionId, record: { ...r, supplement: true } }, `${msg.sessionId}.supplement.${msg.taskId}`);
      }
    }
  }

  const finalizeLater = (sessionId: string, status: SessionStatus): Promise<void> =>
    broker.publishJson(topology.deliver, { v: 1, kind: 'finalize', sessionId, status } satisfies FinalizeSession);

  async function finalize(msg: FinalizeSession): Promise<void> {
    const cfg = ctx.config();
    const session = await ledger.getSession(msg.sessionId);
    if (!session) return;
    const log = ctx.log.child({ sessionId: msg.sessionId });
    // A partial hand-over holds what was there at the deadline; later results are supplements.
    const limit = msg.status === 'partial' ? (session.partialResults ?? Infinity) : Infinity;
    const { path, records } = await writeResultsFile(ledger, msg.sessionId, cfg.deliver.resultsDir, limit);
    await ledger.markHandedOver(msg.sessionId, path);
    log.info({ status: session.status, records, path }, 'session handed over');
    if (session.spec.webhook) {
      const fresh = (await ledger.getSession(msg.sessionId)) ?? session;
      await outbox.enqueue(session.spec.webhook, sessionEvent(`session.${msg.status}`, fresh, { records, resultsFile: path }), `${msg.sessionId}.${msg.status}`, true);
    }
    if (msg.status === 'completed' || msg.status === 'cancelled' || msg.status === 'closed') {
      await ledger.expireSessionKeys(msg.sessionId, cfg.session.retentionMs);
    }
  }

  const consumer = new Consumer<DeliverMessage>(broker, {
    name: 'deliver',
    queue: topology.deliver,
    quarantine: topology.quarantine(topology.deliver),
    concurrency: ctx.config().deliver.concurrency,
    decode: decodeDeliver,
    handle: (m) => (m.kind === 'finalize' ? finalize(m) : record(m)),
    log: ctx.log,
    metrics,
  });

  const dead = new Consumer<ConsumeMessage>(broker, {
    name: 'dead',
    queue: topology.dead,
    concurrency: 4,
    decode: (m) => m,
    handle: async (m) => {
      const queue = String(m.properties.headers?.['x-first-death-queue'] ?? 'unknown');
      const ref = deadTaskRef(m);
      if (!ref) {
        ctx.log.error({ queue }, 'dead-lettered message names no task; dropped');
        return;
      }
      const err = new CrawlError('poison', `message for ${ref.url} failed on every delivery from ${queue}`);
      metrics.deadLetters.inc({ queue });
      ctx.log.warn({ sessionId: ref.sessionId, taskId: ref.taskId, queue }, 'poison message: task failed');
      await record(deliverMessage(ref, failureRecord(ref, err)));
    },
    log: ctx.log,
  });

  await consumer.start();
  await dead.start();
  ctx.onConfigChange(async (next, prev) => {
    if (next.deliver.concurrency !== prev.deliver.concurrency) await consumer.resize(next.deliver.concurrency);
  });
  return {
    async close(graceMs) {
      await Promise.all([consumer.close(graceMs), dead.close(graceMs)]);
      await outbox.close();
      await webhookAgent.close();
    },
  };
}

/** Entry point: `crawlfleet delivery`. */
export const main = (): Promise<unknown> => runService('delivery', startDelivery);
