/**
 * Queue names and arguments. Work queues are durable (quorum by default) with an explicit
 * delivery limit. A message that exceeds it is not condemned at once: it may only have been
 * in flight beside a poison message when the consumer crashed. It moves to its stage's
 * quarantine queue, which the same stage consumes one message at a time; there a crash
 * incriminates that message alone. What also fails in quarantine is dead-lettered to the
 * dead queue, where delivery turns it into failed(poison) for its task. Delayed retries go through one queue
 * per delay (a queue-wide TTL, then dead-lettered back to the work queue), so a short
 * delay never waits behind a long one.
 */
import type { Channel, Options } from 'amqplib';

export type QueueType = 'quorum' | 'classic';

/** Delays of the retry queues, in ms. A wanted delay is rounded to the nearest one. */
export const RETRY_DELAYS_MS = [250, 500, 1000, 2000, 4000, 8000, 15_000, 30_000, 60_000, 120_000, 300_000] as const;

export interface Topology {
  readonly fetch: string;
  readonly extract: string;
  readonly deliver: string;
  readonly dead: string;
  /** The quarantine queue of a work queue. */
  quarantine(queue: string): string;
  retry(delayMs: number): string;
  readonly workQueues: readonly string[];
  readonly allQueues: readonly string[];
}

export function topology(namespace: string): Topology {
  const fetch = `${namespace}.fetch`;
  const extract = `${namespace}.extract`;
  const deliver = `${namespace}.deliver`;
  const dead = `${namespace}.dead`;
  const retry = (delayMs: number): string => `${namespace}.retry.${delayMs}`;
  const quarantine = (queue: string): string => `${queue}.quarantine`;
  const workQueues = [fetch, extract, deliver];
  return {
    fetch,
    extract,
    deliver,
    dead,
    quarantine,
    retry,
    workQueues,
    allQueues: [...workQueues, ...workQueues.map(quarantine), dead, ...RETRY_DELAYS_MS.map(retry)],
  };
}

/** The retry bucket closest to `wantedMs`. */
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

/** Declares every queue (idempotent; run again after each reconnect). */
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
  for (const delay of RETRY_DELAYS_MS) {
    await ch.assertQueue(t.retry(delay), {
      durable: true,
      arguments: {
        ...base,
        'x-message-ttl': delay,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': t.fetch,
        ...(opts.queueType === 'quorum' ? { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' } : {}),
      },
    });
  }
}

/** Deletes every queue of a namespace (tests and `crawlctl` housekeeping). */
export async function deleteTopology(ch: Channel, t: Topology): Promise<void> {
  for (const q of t.allQueues) await ch.deleteQueue(q);
}
