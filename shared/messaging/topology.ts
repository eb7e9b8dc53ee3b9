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
 *
 * The layout is versioned (TOPOLOGY_VERSION): a release that changes queue names or arguments
 * (which RabbitMQ refuses to change on a re-declare) raises it, and its queues carry the
 * version in their names (`<ns>.v3.fetch`), so they are declared beside those of the
 * previous release. The previous release's queues are drained into the new ones and removed
 * (shared/messaging/migrate.ts). Version 2 (the release before) named its queues without a
 * version (`<ns>.fetch`).
 */
import type { Channel, Options } from 'amqplib';
import { STAGE_NAMES, type StageName } from '../pipeline/stage-names.js';

export type QueueType = 'quorum' | 'classic';

/**
 * The version of the queue layout this release declares. 3: quorum queues declare their
 * replica count (`x-quorum-initial-group-size`) instead of taking the node's default.
 */
export const TOPOLOGY_VERSION = 3;

/** The oldest layout this release still drains (and whose wire format its consumers read). */
export const PREVIOUS_TOPOLOGY_VERSION = 2;

/**
 * Members of every quorum queue: three nodes of a cluster of three or more (fewer when the
 * cluster has fewer nodes when the queue is declared; `rabbitmq-queues grow` adds members later).
 */
export const QUORUM_REPLICAS = 3;

/** Delays of the delay queues, in ms. A wanted delay is rounded to the nearest one. */
export const RETRY_DELAYS_MS = [250, 500, 1000, 2000, 4000, 8000, 15_000, 30_000, 60_000, 120_000, 300_000] as const;

/** The header the delay exchange routes on (headers exchanges ignore headers whose names start with `x-`). */
export const DELAY_HEADER = 'crawlfleet-delay';

export interface Topology {
  readonly namespace: string;
  /** The layout version (TOPOLOGY_VERSION for this release's queues). */
  readonly version: number;
  /** What every queue and exchange name starts with, before a dot: the namespace, then `v<version>` from version 3. */
  readonly prefix: string;
  /** The work queue of a stage. */
  queue(stage: StageName): string;
  /** The stage a work or quarantine queue belongs to (of this layout or an older one), or null. */
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
  /** Queues earlier releases declared that this one no longer uses (drained by the migration, removed with a namespace). */
  readonly legacyQueues: readonly string[];
  /** Exchanges earlier releases declared that this one no longer uses. */
  readonly legacyExchanges: readonly string[];
}

/** The names of a namespace's queues at a layout version (this release's by default). */
export function topology(namespace: string, version: number = TOPOLOGY_VERSION): Topology {
  const prefix = version <= 2 ? namespace : `${namespace}.v${version}`;
  const queue = (stage: StageName): string => `${prefix}.${stage}`;
  const quarantine = (q: string): string => `${q}.quarantine`;
  const delayQueue = (delayMs: number): string => `${prefix}.delay.${delayMs}`;
  const workQueues = STAGE_NAMES.map(queue);
  const byQueue = new Map<string, StageName>();
  for (const s of STAGE_NAMES) {
    byQueue.set(queue(s), s);
    byQueue.set(quarantine(queue(s)), s);
  }
  const dead = `${prefix}.dead`;
  const allQueues = [...workQueues, ...workQueues.map(quarantine), dead, ...RETRY_DELAYS_MS.map(delayQueue)];
  // Every layout from PREVIOUS_TOPOLOGY_VERSION to the one before this, and the retry queues of wire format 2.
  const older: Topology[] = [];
  for (let v = PREVIOUS_TOPOLOGY_VERSION; v < version; v++) older.push(topology(namespace, v));
  // A message that died on a queue of an older layout still names its stage (delivery fails its tasks by it).
  for (const o of older) {
    for (const s of STAGE_NAMES) {
      byQueue.set(o.queue(s), s);
      byQueue.set(o.quarantine(o.queue(s)), s);
    }
  }
  return {
    namespace,
    version,
    prefix,
    queue,
    stageOf: (q) => byQueue.get(q) ?? null,
    quarantine,
    dead,
    delayExchange: `${prefix}.delay`,
    delayQueue,
    workQueues,
    allQueues,
    exchanges: [`${prefix}.delay`],
    // Wire format 2 first retried through per-delay queues bound to the fetch queue.
    legacyQueues: [...older.flatMap((t) => t.allQueues), ...RETRY_DELAYS_MS.map((d) => `${namespace}.retry.${d}`)],
    legacyExchanges: older.flatMap((t) => t.exchanges),
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
  return type === 'quorum' ? { 'x-queue-type': 'quorum', 'x-quorum-initial-group-size': QUORUM_REPLICAS } : { 'x-queue-type': 'classic' };
}

/** Declares every queue and exchange of this release's layout (idempotent; run again after each reconnect). */
export async function declareTopology(ch: Channel, t: Topology, opts: TopologyOptions): Promise<void> {
  if (t.version !== TOPOLOGY_VERSION) throw new Error(`topology version ${t.version} is drained, not declared (this release declares ${TOPOLOGY_VERSION})`);
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
