/**
 * Delivery: the terminal accounting of every task and the hand-over of every session. A
 * message is a batch of items:
 *   records  → grouped by session: written to the results store idempotently by task id,
 *              then one ledger call per session (finish-3: exactly one terminal state per
 *              task, counters, children confirmed, the session completed when nothing is
 *              left), then the rows repaired where the ledger decided otherwise (see
 *              shared/results/store.ts) → a finalize message for a session that completed
 *              (confirmed) → ack
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
import { STAGES, type StageName } from '../../shared/pipeline/stages.js';
import { createRedis } from '../../shared/redis/client.js';
import { runService, type ServiceContext, type ServiceHandle } from '../../shared/service/runtime.js';
import { bySession } from '../../shared/tasks/group.js';
import { deliverMessage, failureRecord, type TaskRef } from '../../shared/tasks/records.js';
import type { DeliverMessage, DeliverRecord, FinalizeSession, SessionStatus } from '../../shared/tasks/types.js';
import { createGuardedAgent } from '../../shared/net/agent.js';
import { sessionEvent, writeResultsFile } from './handover.js';
import { deliverRecords } from './records.js';
import { WebhookOutbox } from './webhooks.js';

/** The tasks a dead-lettered message carried, decoded as the stage it died on encodes them; [] when unreadable. */
export function deadTaskRefs(msg: WireMessage, topology: Topology, codecs: { readonly [S in StageName]: BatchCodec<unknown> }): TaskRef[] {
  const stage = topology.stageOf(String(msg.properties.headers?.['x-first-death-queue'] ?? ''));
  if (stage === null) return [];
  try {
    return (STAGES[stage].refs as (items: unknown[]) => TaskRef[])(codecs[stage].decode(msg));
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
  const { sessions, tasks, results, outbox, topology, metrics } = ctx;
  const webhookAgent = createGuardedAgent(new AddressPolicy(ctx.config().fetch.allowedNetworks), ctx.config().fetch.connectTimeoutMs, 8);
  const outboxOfHooks = new WebhookOutbox({
    keys: ctx.keys,
    connection: createRedis(ctx.config().redis, { name: `${ctx.keys.namespace}:delivery:webhooks`, blocking: true }),
    dispatcher: webhookAgent,
    log: ctx.log,
    settings: () => ({ secret: ctx.config().deliver.webhookSecret, timeoutMs: ctx.config().deliver.webhookTimeoutMs }),
  });
  const sessionCache = new SessionCache(sessions);

  /** The records of one session: the exactly-once protocol (records.ts), then what the session's change of state calls for. */
  async function records(sessionId: string, batch: readonly DeliverRecord[]): Promise<void> {
    const { accepted, supplements, event } = await deliverRecords({ results, tasks }, sessionId, batch);
    if (accepted.length < batch.length) metrics.duplicates.inc({ stage: 'deliver' }, batch.length - accepted.length);
    for (const m of accepted) metrics.records.inc({ outcome: m.record.outcome });
    if (event) await finalizeLater(sessionId, event);
    if (supplements.length > 0) {
      // Late results: delivered as supplements (the results stream marks them too).
      const hook = (await sessionCache.get(sessionId))?.spec.webhook;
      if (hook) {
        await Promise.all(supplements.map((m) =>
          outboxOfHooks.enqueue(hook, { event: 'session.supplement', at: new Date().toISOString(), sessionId, record: { ...m.record, supplement: true } }, `${sessionId}.supplement.${m.taskId}`)));
      }
    }
  }

  const finalizeLater = (sessionId: string, status: SessionStatus): Promise<void> =>
    outbox.send('deliver', { kind: 'finalize', sessionId, status } satisfies FinalizeSession);

  async function handle(items: DeliverMessage[]): Promise<void> {
    const recs = items.filter((m): m is DeliverRecord => m.kind === 'record');
    await Promise.all([...bySession(recs)].map(([sessionId, batch]) => records(sessionId, batch)));
    for (const m of items) if (m.kind === 'finalize') await finalize(m);
  }

  async function finalize(msg: FinalizeSession): Promise<void> {
    const cfg = ctx.config();
    const session = await sessions.get(msg.sessionId);
    if (!session) return;
    const log = ctx.log.child({ sessionId: msg.sessionId });
    // A partial hand-over holds what was there at the deadline; later results are supplements.
    const { path, records } = await writeResultsFile(results, msg.sessionId, cfg.deliver.resultsDir, msg.status === 'partial');
    await sessions.markHandedOver(msg.sessionId, path);
    log.info({ status: session.status, records, path }, 'session handed over');
    if (session.spec.webhook) {
      const fresh = (await sessions.get(msg.sessionId)) ?? session;
      await outboxOfHooks.enqueue(session.spec.webhook, sessionEvent(`session.${msg.status}`, fresh, { records, resultsFile: path }), `${msg.sessionId}.${msg.status}`, true);
    }
    if (msg.status === 'completed' || msg.status === 'cancelled' || msg.status === 'closed') {
      await sessions.expireKeys(msg.sessionId, cfg.session.retentionMs);
    }
  }

  const consumer = new Consumer<DeliverMessage>(ctx.broker, {
    name: 'deliver',
    queue: topology.queue('deliver'),
    quarantine: topology.quarantine(topology.queue('deliver')),
    codec: outbox.codecs.deliver,
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
      const refs = deadTaskRefs(m, topology, outbox.codecs);
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
