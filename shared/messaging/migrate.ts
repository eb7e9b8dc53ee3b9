/**
 * Upgrades in place: the previous release's queues are drained into this release's and removed.
 *
 * RabbitMQ refuses to re-declare a queue with other arguments, so a release that changes them
 * declares a new layout beside the old one (shared/messaging/topology.ts, TOPOLOGY_VERSION).
 * What the previous release left in its queues is moved, message by message, to the queue of
 * the same role in the new layout: work to work, quarantine to quarantine, dead to dead, and a
 * delayed retry to the new delay exchange with the same delay (it waits its delay again, never
 * less). Each message is published with a confirm before it is acked on the old queue, so a
 * crash in between leaves a copy in both, never in neither; the ledger's compare-and-set makes
 * the second delivery of a task harmless. The bytes are moved as they are: this release's
 * consumers read the previous wire version (shared/tasks/codec.ts).
 *
 * An old queue is deleted only when it is empty and nothing consumes from it, and only when
 * `canRemove` says no replica of the previous release is alive (one could still publish to it:
 * a publish to a deleted queue is dropped by the broker).
 */
import type { Channel, ConfirmChannel, GetMessage, Options } from 'amqplib';
import { DELAY_HEADER, PREVIOUS_TOPOLOGY_VERSION, RETRY_DELAYS_MS, topology, type Topology } from './topology.js';

/** What opens channels (an amqplib connection). */
export interface MigrationConnection {
  createChannel(): Promise<Channel>;
  createConfirmChannel(): Promise<ConfirmChannel>;
}

/** Where a message of an old queue goes in the new layout. */
export interface MoveTarget {
  /** Exchange to publish to ('' for the default exchange). */
  exchange: string;
  /** Routing key: the new queue. */
  routingKey: string;
  /** Headers to add (the delay bucket of a delayed retry). */
  headers?: Record<string, string>;
}

export interface OldQueueState {
  name: string;
  messages: number;
  consumers: number;
}

export interface MigrationStep {
  /** Messages moved to the new layout, by old queue. */
  moved: Record<string, number>;
  /** Old queues and exchanges deleted in this step. */
  removed: string[];
  /** Old queues still there (not empty, consumed, or kept because the previous release may still publish). */
  remaining: OldQueueState[];
}

/** The old layouts this release drains: every version from PREVIOUS_TOPOLOGY_VERSION up to `current`'s. */
function olderLayouts(current: Topology): Topology[] {
  const out: Topology[] = [];
  for (let v = PREVIOUS_TOPOLOGY_VERSION; v < current.version; v++) out.push(topology(current.namespace, v));
  return out;
}

/**
 * The new home of a message found on `queue` of an older layout (pure: the migration's routing
 * table). `routingKey` is the message's own (for a delayed message: the work queue it re-enters).
 * Null when the queue is not one of an older layout.
 */
export function moveTarget(current: Topology, queue: string, routingKey: string): MoveTarget | null {
  for (const old of olderLayouts(current)) {
    const stage = old.stageOf(queue);
    if (stage && queue === old.queue(stage)) return { exchange: '', routingKey: current.queue(stage) };
    if (stage && queue === old.quarantine(old.queue(stage))) return { exchange: '', routingKey: current.quarantine(current.queue(stage)) };
    if (queue === old.dead) return { exchange: '', routingKey: current.dead };
    const delay = RETRY_DELAYS_MS.find((d) => queue === old.delayQueue(d));
    if (delay !== undefined) {
      // The message re-enters the queue its routing key names; in the new layout, the same stage's.
      const target = old.stageOf(routingKey);
      const back = target && routingKey === old.quarantine(old.queue(target)) ? current.quarantine(current.queue(target)) : current.queue(target ?? 'fetch');
      return { exchange: current.delayExchange, routingKey: back, headers: { [DELAY_HEADER]: String(delay) } };
    }
  }
  // Wire format 2's first retry queues held fetch tasks only.
  const retry = /\.retry\.(\d+)$/.exec(queue);
  if (retry && queue === `${current.namespace}.retry.${retry[1]}`) {
    const delay = RETRY_DELAYS_MS.find((d) => d >= Number(retry[1])) ?? RETRY_DELAYS_MS[RETRY_DELAYS_MS.length - 1]!;
    return { exchange: current.delayExchange, routingKey: current.queue('fetch'), headers: { [DELAY_HEADER]: String(delay) } };
  }
  return null;
}

/** The publish options that carry a message over unchanged (its delivery count stays behind: it starts afresh). */
function carried(msg: GetMessage, extraHeaders: Record<string, string> | undefined): Options.Publish {
  const p = msg.properties;
  const headers: Record<string, unknown> = { ...(p.headers ?? {}), ...(extraHeaders ?? {}) };
  delete headers['x-delivery-count'];
  const out: Options.Publish = { persistent: true, headers };
  if (p.contentType !== undefined) out.contentType = p.contentType as string;
  if (p.contentEncoding !== undefined) out.contentEncoding = p.contentEncoding as string;
  if (p.messageId !== undefined) out.messageId = p.messageId as string;
  if (p.timestamp !== undefined) out.timestamp = p.timestamp as number;
  if (p.type !== undefined) out.type = p.type as string;
  if (p.appId !== undefined) out.appId = p.appId as string;
  return out;
}

async function openQuiet<T extends Channel>(open: () => Promise<T>): Promise<T> {
  const ch = await open();
  // A 404 on checkQueue closes the channel with an error event; it is expected here.
  ch.on('error', () => undefined);
  return ch;
}

/** Channels that look queues up at once (queueStates): most names asked about do not exist, and each 404 costs a channel. */
const STATE_CHANNELS = 8;

/**
 * Those of `names` that exist now, with their messages and consumers, in the order given. A
 * 404 closes its channel and a new one is opened for the next name, so the names are looked up
 * on STATE_CHANNELS channels at once: a namespace's 55 possible queue names, 33 of them
 * absent, took 1.5 s one after the other.
 */
export async function queueStates(conn: { createChannel(): Promise<Channel> }, names: Iterable<string>): Promise<OldQueueState[]> {
  const list = [...names];
  const found: (OldQueueState | null)[] = list.map(() => null);
  let next = 0;
  const lookUp = async (): Promise<void> => {
    let ch: Channel | null = null;
    try {
      for (let i = next++; i < list.length; i = next++) {
        const name = list[i] as string;
        ch ??= await openQuiet(() => conn.createChannel());
        try {
          const q = await ch.checkQueue(name);
          found[i] = { name, messages: q.messageCount, consumers: q.consumerCount };
        } catch {
          ch = null;
        }
      }
    } finally {
      if (ch) await ch.close().catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(STATE_CHANNELS, list.length) }, lookUp));
  return found.filter((q): q is OldQueueState => q !== null);
}

/** The old queues (of every older layout, and the first retry queues) that exist now. */
export function oldQueues(conn: MigrationConnection, current: Topology): Promise<OldQueueState[]> {
  return queueStates(conn, current.legacyQueues);
}

export interface MigrateOptions {
  /** Whether old queues may be deleted once empty: false while a replica of the previous release may still publish to them. */
  canRemove?: () => Promise<boolean>;
  /** Messages moved per step at most (the step ends early; the next one goes on). */
  maxMessages?: number;
}

/**
 * One pass: moves what the old queues hold now (bounded by `maxMessages`) and deletes those
 * left empty and unconsumed. Run it again until `remaining` is empty.
 */
export async function migrateStep(conn: MigrationConnection, current: Topology, opts: MigrateOptions = {}): Promise<MigrationStep> {
  const limit = opts.maxMessages ?? 10_000;
  const step: MigrationStep = { moved: {}, removed: [], remaining: [] };
  let budget = limit;
  const found = await oldQueues(conn, current);
  if (found.length > 0) {
    const ch = await openQuiet(() => conn.createConfirmChannel());
    try {
      for (const q of found) {
        let moved = 0;
        while (budget > 0) {
          const msg = await ch.get(q.name, { noAck: false });
          if (msg === false) break;
          const to = moveTarget(current, q.name, msg.fields.routingKey);
          if (!to) {
            // Not a queue this release knows how to drain: leave the message where it is.
            ch.nack(msg, false, true);
            break;
          }
          await new Promise<void>((resolve, reject) => {
            ch.publish(to.exchange, to.routingKey, msg.content, carried(msg, to.headers), (err: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()));
          });
          ch.ack(msg);
          moved++;
          budget--;
        }
        if (moved > 0) step.moved[q.name] = moved;
      }
      await ch.waitForConfirms();
    } finally {
      await ch.close().catch(() => undefined);
    }
  }
  const left = await oldQueues(conn, current);
  const mayRemove = left.length > 0 && (opts.canRemove ? await opts.canRemove() : true);
  const ch = await openQuiet(() => conn.createChannel());
  try {
    for (const q of left) {
      if (mayRemove && q.messages === 0 && q.consumers === 0) {
        // Quorum queues refuse the if-empty and if-unused flags: the check above stands for them
        // (nothing publishes to the old layout once its release is gone).
        await ch.deleteQueue(q.name);
        step.removed.push(q.name);
        continue;
      }
      step.remaining.push(q);
    }
    if (step.remaining.length === 0 && mayRemove) {
      for (const x of current.legacyExchanges) {
        await ch.deleteExchange(x);
        step.removed.push(x);
      }
    }
  } finally {
    await ch.close().catch(() => undefined);
  }
  return step;
}
