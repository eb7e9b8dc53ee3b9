/**
 * Queue names and arguments, derived from the stage registry (shared/pipeline/stages.ts).
 *
 * Every stage has a durable work queue (quorum by default) with an explicit delivery limit. A
 * message that exceeds it is not condemned at once: it may only have been in flight beside a
 * poison message when the consumer crashed. It moves to the stage's quarantine queue, which
 * the same stage consumes one message at a time; there a crash incriminates that message
 * alone. What also fails in quarantine is dead-lettered to the dead queue, where delivery
 * turns it into failed(poison) for each of its tasks.
 *
 * Delayed retries: one queue per delay (a queue-wide TTL), shared by every stage, so a short
 * delay never waits behind a long one. A delayed message is published to the delay exchange
 * (a headers exchange that routes by the `crawlfleet-delay` header to its delay queue) with the routing
 * key of the stage queue it must re-enter; a delay queue dead-letters to the default exchange
 * without a routing key of its own, so the message keeps its routing key and lands back on
 * that stage's queue.
 */
import type { Channel, Options } from 'amqplib';
import { STAGE_NAMES, type StageName } from '../pipeline/stage-names.js';

export type QueueType = 'quorum' | 'classic';

/** Delays of the delay queues, in ms. A wanted delay is rounded to the nearest one. */
export const RETRY_DELAYS_MS = [250, 500, 1000, 2000, 4000, 8000, 15_000, 30_000, 60_000, 120_000, 300_000] as const;

/** The header the delay exchange routes on (headers exchanges ignore headers whose names start with `x-`). */
export const DELAY_HEADER = 'crawlfleet-delay';

export interface Topology {
  readonly namespace: string;
  /** The work queue of a stage. */
  queue(stage: StageName): string;
  /** The stage a work or quarantine queue belongs to, or null. */
  stageOf(queue: string): StageName | null;
  /** The quarantine queue of a work queue. */
  quarantine(queue: string): string;
  readonly dead: string;
  /** The headers exchange of delayed messages. */
  readonly delayExchange: string;
  delayQueue(delayMs: number): string;
  readonly workQueues: readonly string[];
  readonly allQueues: readonly string[];
  readonly exchanges: readonly string[];
  /** Queues earlier releases declared that this one no longer uses (removed with a namespace). */
  readonly legacyQueues: readonly string[];
}

export function topology(namespace: string): Topology {
  const queue = (stage: StageName): string => `${namespace}.${stage}`;
  const quarantine = (q: string): string => `${q}.quarantine`;
  const delayQueue = (delayMs: number): string => `${namespace}.delay.${delayMs}`;
  const workQueues = STAGE_NAMES.map(queue);
  const byQueue = new Map<string, StageName>();
  for (const s of STAGE_NAMES) {
    byQueue.set(queue(s), s);
    byQueue.set(quarantine(queue(s)), s);
  }
  const dead = `${namespace}.dead`;
  return {
    namespace,
    queue,
    stageOf: (q) => byQueue.get(q) ?? null,
    quarantine,
    dead,
    delayExchange: `${namespace}.delay`,
    delayQueue,
    workQueues,
    allQueues: [...workQueues, ...workQueues.map(quarantine), dead, ...RETRY_DELAYS_MS.map(delayQueue)],
    exchanges: [`${namespace}.delay`],
    // Wire format 2 retried through per-delay queues bound to the fetch queue.
    legacyQueues: RETRY_DELAYS_MS.map((d) => `${namespace}.retry.${d}`),
  };
}

/** The delay bucket at least as long as `wantedMs` (the longest one past it). */
export function delayBucket(wantedMs: number): number {
  return RETRY_DELAYS_MS.find((d) => d >= wantedMs) ?? RETRY_DELAYS_MS[RETRY_DELAYS_MS.length - 1]!;
}

/** The delay bucket closest to `wantedMs`. */
export function retryBucket(wantedMs: number): number {
  let best: number = RETRY_DELAYS_MS[0];
  for (const d of RETRY_DELAYS_MS) if (Math.abs(d - wantedMs) < Math.abs(best - wantedMs)) best = d;
  return best;
}

export interface TopologyOptions {
  queueType: QueueType;
  deliveryLimit: number;
}

function typeArgs(type: QueueType): Record<string, unknown> {
  return type === 'quorum' ? { 'x-queue-type': 'quorum' } : { 'x-queue-type': 'classic' };
}

/** Declares every queue and exchange (idempotent; run again after each reconnect). */
export async function declareTopology(ch: Channel, t: Topology, opts: TopologyOptions): Promise<void> {
  const base = typeArgs(opts.queueType);
  const limited = (limit: number, deadLetterTo: string): Options.AssertQueue => ({
    durable: true,
    arguments: {
      ...base,
      ...(opts.queueType === 'quorum' ? { 'x-delivery-limit': limit } : {}),
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': deadLetterTo,
    },
  });
  for (const q of t.workQueues) {
    await ch.assertQueue(q, limited(opts.deliveryLimit, t.quarantine(q)));
    // In isolation two deliveries are enough to tell a poison message.
    await ch.assertQueue(t.quarantine(q), limited(1, t.dead));
  }
  await ch.assertQueue(t.dead, { durable: true, arguments: base });
  await ch.assertExchange(t.delayExchange, 'headers', { durable: true });
  for (const delay of RETRY_DELAYS_MS) {
    const q = t.delayQueue(delay);
    await ch.assertQueue(q, {
      durable: true,
      arguments: {
        ...base,
        'x-message-ttl': delay,
        // No routing key: a message expires back to the queue its own routing key names.
        'x-dead-letter-exchange': '',
        ...(opts.queueType === 'quorum' ? { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' } : {}),
      },
    });
    await ch.bindQueue(q, t.delayExchange, '', { 'x-match': 'all', [DELAY_HEADER]: String(delay) });
  }
}
