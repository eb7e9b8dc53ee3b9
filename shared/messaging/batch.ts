/**
 * Batches on the wire. A message carries a batch of tasks of one kind; the task, not the
 * message, stays the unit of state: every transition in the ledger is per task, so a batch
 * redelivered after a crash is as harmless as a single task was.
 *
 * Why: a broker and a Redis pay per message and per call (a publish, a confirm, a delivery
 * and an ack are several frames and syscalls each), and a page is small. Moving ten pages in
 * one message and one script call costs little more than moving one.
 *
 * `BatchPublisher` gathers what a process sends to one queue for up to `lingerMs` (or until
 * `maxItems` or `maxBytes`), publishes it as one message with a publisher confirm, and
 * resolves each caller when the batch holding its items was confirmed. A stage that awaits
 * its sends before it acks its input therefore still publishes before it acks.
 */
import type { Options } from 'amqplib';
import type { Broker } from './broker.js';

/** A message as a codec sees it: its bytes and its headers. */
export interface WireMessage {
  content: Buffer;
  properties: { headers?: Record<string, unknown> | undefined };
}

export interface Encoded {
  content: Buffer;
  options: Options.Publish;
}

/** How the items of one queue travel: a batch of them per message. */
export interface BatchCodec<T> {
  /** The message kind, for logs and errors. */
  readonly kind: string;
  encode(items: readonly T[]): Encoded;
  /** The items of a message; throws a DecodeError when it is not a message of this kind. */
  decode(message: WireMessage): T[];
  /** Rough bytes an item adds to a message, for the size bound of a batch. */
  size(item: T): number;
}

/** Where a batch goes: a queue, or an exchange with the queue as routing key and headers of its own. */
export interface Route {
  /** The queue (the routing key when an exchange is given). */
  queue: string;
  exchange?: string;
  headers?: Record<string, unknown>;
}

export interface BatchLimits {
  /** Items per message. */
  maxItems: number;
  /** Bytes per message (a single larger item still travels, alone). */
  maxBytes: number;
  /** Longest an item waits for others to join its message; 0 sends at the end of the current tick. */
  lingerMs: number;
}

interface PendingBatch {
  route: Route;
  codec: BatchCodec<unknown>;
  items: unknown[];
  bytes: number;
  timer: NodeJS.Timeout | null;
  immediate: NodeJS.Immediate | null;
  confirmed: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class BatchPublisher {
  private readonly pending = new Map<string, PendingBatch>();
  private readonly inFlight = new Set<Promise<void>>();

  /** `limits` is read for every batch, so live changes apply to the next one. */
  constructor(
    private readonly broker: Pick<Broker, 'publish'>,
    /** The limits of a queue (a route's limits are those of its queue). */
    private readonly limits: (queue: string) => BatchLimits,
  ) {}

  /**
   * Queues items for `queue` and resolves when every message holding them was confirmed by
   * the broker (rejects if a publish failed: the caller must not ack its input then).
   * `now` sends what waits for the queue at once instead of lingering.
   */
  send<T>(codec: BatchCodec<T>, to: string | Route, items: T | readonly T[], opts: { now?: boolean } = {}): Promise<void> {
    const list = (Array.isArray(items) ? items : [items]) as readonly T[];
    if (list.length === 0) return Promise.resolve();
    const route = typeof to === 'string' ? { queue: to } : to;
    // Batches gather per destination: a queue, or a queue behind an exchange with its headers.
    const queue = route.exchange ? `${route.exchange}\u0000${route.queue}\u0000${JSON.stringify(route.headers ?? {})}` : route.queue;
    const limits = this.limits(route.queue);
    const waits = new Set<Promise<void>>();
    for (const item of list) {
      const size = codec.size(item);
      let batch = this.pending.get(queue);
      if (batch && batch.items.length > 0 && batch.bytes + size > limits.maxBytes) {
        this.flush(queue);
        batch = undefined;
      }
      if (!batch) batch = this.open(queue, route, codec as BatchCodec<unknown>, limits);
      batch.items.push(item);
      batch.bytes += size;
      waits.add(batch.confirmed);
      if (batch.items.length >= limits.maxItems || batch.bytes >= limits.maxBytes) this.flush(queue);
    }
    // A caller that sends a whole batch at once gains nothing from waiting for others.
    if (opts.now) this.flush(queue);
    return waits.size === 1 ? (waits.values().next().value as Promise<void>) : Promise.all(waits).then(() => undefined);
  }

  /** Items waiting to be sent, over all queues. */
  get waiting(): number {
    let n = 0;
    for (const b of this.pending.values()) n += b.items.length;
    return n;
  }

  /** Sends what waits now and resolves when every message sent so far was confirmed (or failed). */
  async drain(): Promise<void> {
    for (const queue of [...this.pending.keys()]) this.flush(queue);
    await Promise.allSettled([...this.inFlight]);
  }

  private open(queue: string, route: Route, codec: BatchCodec<unknown>, limits: BatchLimits): PendingBatch {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const confirmed = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Every sender awaits it; this only keeps a failure nobody waits for anymore from surfacing as unhandled.
    confirmed.catch(() => undefined);
    const batch: PendingBatch = { route, codec, items: [], bytes: 0, timer: null, immediate: null, confirmed, resolve, reject };
    if (limits.lingerMs > 0) batch.timer = setTimeout(() => this.flushBatch(queue, batch), limits.lingerMs);
    else batch.immediate = setImmediate(() => this.flushBatch(queue, batch));
    this.pending.set(queue, batch);
    return batch;
  }

  private flush(queue: string): void {
    const batch = this.pending.get(queue);
    if (batch) this.flushBatch(queue, batch);
  }

  private flushBatch(queue: string, batch: PendingBatch): void {
    if (this.pending.get(queue) === batch) this.pending.delete(queue);
    if (batch.timer) clearTimeout(batch.timer);
    if (batch.immediate) clearImmediate(batch.immediate);
    batch.timer = null;
    batch.immediate = null;
    if (batch.items.length === 0) return batch.resolve();
    let encoded: Encoded;
    try {
      encoded = batch.codec.encode(batch.items);
    } catch (err) {
      return batch.reject(err);
    }
    const { route } = batch;
    const options = route.headers ? { ...encoded.options, headers: { ...encoded.options.headers, ...route.headers } } : encoded.options;
    const sent = this.broker.publish(route.queue, encoded.content, options, route.exchange).then(batch.resolve, batch.reject);
    this.inFlight.add(sent);
    void sent.finally(() => this.inFlight.delete(sent));
  }
}
