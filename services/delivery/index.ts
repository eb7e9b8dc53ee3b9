/**
 * Delivery: the terminal accounting of every task and the hand-over of every session. A
 * message is a batch of items:
 *   records  → grouped by session, one ledger call per session (deliver-4: exactly once per
 *              task, append, count, confirm children, complete the session when nothing is
 *              left) → a finalize message for a session that completed (confirmed) → ack
 *   finalize → results file → webhook → mark handed over → ack
 *   dead     → every task of a poison message becomes failed(poison)
 */
import type { ConsumeMessage } from 'amqplib';
import { SessionCache } from '../../shared/admission/index.js';
import { CrawlError } from '../../shared/errors/index.js';
import type { BatchCodec, WireMessage } from '../../shared/messaging/batch.js';
import { Consumer } from '../../shared/messaging/consumer.js';
import type { Topology } from '../../shared/messaging/topology.js';
import { AddressPolicy } from '../../shared/net/ssrf.js';
import { createRedis } from '../../shared/redis/client.js';
import { runService, type ServiceContext, type ServiceHandle } from '../../shared/service/runtime.js';
import { deliverCodec, extractCodec, fetchCodec } from '../../shared/tasks/codec.js';
import { bySession } from '../../shared/tasks/group.js';
import { deliverMessage, failureRecord, taskRef, type TaskRef } from '../../shared/tasks/records.js';
import type { DeliverMessage, DeliverRecord, FinalizeSession, SessionStatus } from '../../shared/tasks/types.js';
import { createGuardedAgent } from '../../shared/net/agent.js';
import { sessionEvent, writeResultsFile } from './handover.js';
import { WebhookOutbox } from './webhooks.js';

/** The tasks a dead-lettered message carried, decoded as the queue it died on encodes them; [] when unreadable. */
export function deadTaskRefs(msg: WireMessage, topology: Topology): TaskRef[] {
  const queue = String(msg.properties.headers?.['x-first-death-queue'] ?? '');
  const stage = queue.endsWith('.quarantine') ? queue.slice(0, -'.quarantine'.length) : queue;
  try {
    if (stage === topology.extract) return extractCodec().decode(msg).map(taskRef);
    if (stage === topology.deliver) {
      return deliverCodec.decode(msg).flatMap((m) =>
        m.kind === 'record' ? [taskRef({ sessionId: m.sessionId, taskId: m.taskId, url: m.record.url, depth: m.record.depth, parent: m.record.parent ?? undefined, role: m.record.role })] : []);
    }
    return fetchCodec.decode(msg).map(taskRef);
  } catch {
    return [];
  }
}

/** Dead messages are handled whole: the codec hands the message itself over. */
const rawCodec: BatchCodec<ConsumeMessage> = {
  kind: 'dead',
  encode: () => {
    throw new Error('dead messages are never published again');
  },
  decode: (m) => [m as ConsumeMessage],
  size: (m) => m.content.length,
};

export async function startDelivery(ctx: ServiceContext): Promise<ServiceHandle> {
  const { ledger, outbox, topology, metrics } = ctx;
  const webhookAgent = createGuardedAgent(new AddressPolicy(ctx.config().fetch.allowedNetworks), ctx.config().fetch.connectTimeoutMs, 8);
  const outboxOfHooks = new WebhookOutbox({
    keys: ctx.keys,
    connection: createRedis(ctx.config().redis.url, { name: `${ctx.keys.namespace}:delivery:webhooks`, blocking: true }),
    dispatcher: webhookAgent,
    log: ctx.log,
    settings: () => ({ secret: ctx.config().deliver.webhookSecret, timeoutMs: ctx.config().deliver.webhookTimeoutMs }),
  });
  const sessions = new SessionCache(ledger);

  /** The records of one session: one ledger call, then what the session's change of state calls for. */
  async function records(sessionId: string, batch: readonly DeliverRecord[]): Promise<void> {
    const reply = await ledger.deliverMany(
      sessionId,
      batch.map((m) => ({ taskId: m.taskId, outcome: m.record.outcome, fetched: m.record.status !== null, recordJson: JSON.stringify(m.record), children: m.children })),
    );
    const appended = batch.filter((_, i) => reply.outcomes[i] === 'appended');
    if (appended.length < batch.length) metrics.duplicates.inc({ stage: 'deliver' }, batch.length - appended.length);
    for (const m of appended) metrics.records.inc({ outcome: m.record.outcome });
    if (reply.event) await finalizeLater(sessionId, reply.event);
    if (reply.status === 'partial' && appended.length > 0) {
      // Late results: delivered as supplements (the results stream marks them too).
      const hook = (await sessions.get(sessionId))?.spec.webhook;
      if (hook) {
        await Promise.all(appended.map((m) =>
          outboxOfHooks.enqueue(hook, { event: 'session.supplement', at: new Date().toISOString(), sessionId, record: { ...m.record, supplement: true } }, `${sessionId}.supplement.${m.taskId}`)));
      }
    }
  }

  const finalizeLater = (sessionId: string, status: SessionStatus): Promise<void> =>
    outbox.send(deliverCodec, topology.deliver, { kind: 'finalize', sessionId, status } satisfies FinalizeSession);

  async function handle(items: DeliverMessage[]): Promise<void> {
    const recs = items.filter((m): m is DeliverRecord => m.kind === 'record');
    await Promise.all([...bySession(recs)].map(([sessionId, batch]) => records(sessionId, batch)));
    for (const m of items) if (m.kind === 'finalize') await finalize(m);
  }

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
      await outboxOfHooks.enqueue(session.spec.webhook, sessionEvent(`session.${msg.status}`, fresh, { records, resultsFile: path }), `${msg.sessionId}.${msg.status}`, true);
    }
    if (msg.status === 'completed' || msg.status === 'cancelled' || msg.status === 'closed') {
      await ledger.expireSessionKeys(msg.sessionId, cfg.session.retentionMs);
    }
  }

  const consumer = new Consumer<DeliverMessage>(ctx.broker, {
    name: 'deliver',
    queue: topology.deliver,
    quarantine: topology.quarantine(topology.deliver),
    codec: deliverCodec,
    concurrency: ctx.config().deliver.concurrency,
    handle,
    log: ctx.log,
    metrics,
  });

  const dead = new Consumer<ConsumeMessage>(ctx.broker, {
    name: 'dead',
    queue: topology.dead,
    codec: rawCodec,
    concurrency: 4,
    handle: async ([m]) => {
      if (!m) return;
      const queue = String(m.properties.headers?.['x-first-death-queue'] ?? 'unknown');
      const refs = deadTaskRefs(m, topology);
      if (refs.length === 0) {
        ctx.log.error({ queue }, 'dead-lettered message names no task; dropped');
        return;
      }
      metrics.deadLetters.inc({ queue }, refs.length);
      for (const ref of refs) ctx.log.warn({ sessionId: ref.sessionId, taskId: ref.taskId, queue }, 'poison message: task failed');
      const failed = refs.map((ref) => deliverMessage(ref, failureRecord(ref, new CrawlError('poison', `message for ${ref.url} failed on every delivery from ${queue}`))));
      await Promise.all([...bySession(failed)].map(([sessionId, batch]) => records(sessionId, batch)));
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
      await outboxOfHooks.close();
      await webhookAgent.close();
    },
  };
}

/** Entry point: `crawlfleet delivery`. */
export const main = (): Promise<unknown> => runService('delivery', startDelivery);
