/**
 * The one consumer runtime. A service brings only a codec and `handle`; this module owns
 * prefetch, concurrency (p-limit, resizable live), ack/nack, redelivery counting, the
 * splitting of quarantined batches, and graceful close.
 *
 * A message is a batch of items (see batch.ts). Contract with handlers: `handle` resolves
 * only after every message it produced for the batch was confirmed by the broker; then the
 * message is acked. If it throws, the message is nacked and requeued; the queue's delivery
 * limit sends a message that keeps failing to the stage's quarantine queue. A message that
 * cannot be decoded is rejected at once (dead-lettered).
 *
 * Quarantine: the same stage consumes it one message at a time. A batch that arrives there is
 * first split into messages of one item each (published back to the quarantine queue, then
 * acked), so a crash in quarantine incriminates one task, not the tasks that merely shared a
 * message with it.
 *
 * Prefetch: RabbitMQ counts messages, a stage wants items. With `itemWindow` the prefetch
 * is the window divided by the items per message seen, plus the messages that stragglers
 * hold: handlers report items as they finish (`ctx.itemsDone`), and a message kept unacked
 * by its last slow task (more than half of its items done) should not take a batch's room.
 * When the prefetch is far from that (batches of another size, stragglers piling up) the
 * runtime re-consumes: RabbitMQ applies basic.qos only to consumers created after it, so a
 * new prefetch means a new consumer on the same channel, which starts with nothing held
 * (the old one's unacked messages stay and are acked as usual).
 * Item windows need unbounded message concurrency: a message waiting for a handler slot has
 * no known items yet. The prefetch never exceeds 65,535, the most basic.qos can carry.
 *
 * Staying consumed: the consumer registers with the broker, whose readiness then includes
 * "consuming". When its channel closes under it (a channel error, the broker refusing a
 * command) while the connection stays up, or RabbitMQ cancels it (queue deleted), it sets
 * itself up again on a fresh channel with backoff; a lost connection is the broker's to
 * rebuild, and it replays the setup.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import type { Channel, ConsumeMessage } from 'amqplib';
import { AMQP_MAX_PREFETCH } from '../config/limits.js';
import { CrawlError, toCrawlError } from '../errors/index.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { BatchCodec } from './batch.js';
import type { Broker } from './broker.js';

export interface DeliveryContext {
  /** How many times this message was delivered before (x-delivery-count of quorum queues). */
  readonly deliveryCount: number;
  readonly redelivered: boolean;
  readonly message: ConsumeMessage;
  /** Reports items of the batch as finished (a consumer with an item window sizes its prefetch by the unfinished ones). */
  itemsDone(n?: number): void;
}

export interface ConsumerOptions<T> {
  /** Name for logs and metrics. */
  name: string;
  queue: string;
  /** Decodes a message into its items; encodes single items when a quarantined batch is split. */
  codec: BatchCodec<T>;
  /** Messages handled at once. */
  concurrency: number;
  /** Unacked messages held; defaults to twice the concurrency. Ignored when `itemWindow` is set. */
  prefetch?: number;
  /** Unfinished items to hold: the prefetch (in messages) follows the batches received and `itemsDone`. */
  itemWindow?: number;
  /** Items per message to expect before any arrived (the producers' batch size). */
  itemsPerMessage?: number;
  handle(items: T[], ctx: DeliveryContext): Promise<void>;
  log: Logger;
  /** Where each settled message is counted (`crawlfleet_messages_total{queue}`, items too) and timed (`crawlfleet_stage_seconds{stage}`). */
  metrics?: Pick<Metrics, 'messages' | 'messageItems' | 'stageSeconds'>;
  /** The queue/stage label of those metrics; defaults to `name` (the quarantine consumer keeps its stage's). */
  label?: string;
  /**
   * Also consume this quarantine queue, one message at a time, with the same handler
   * (messages that exceeded the delivery limit, possibly only beside a poison one).
   */
  quarantine?: string;
  /** Set on the quarantine consumer itself: split batches before handling. */
  splitBatches?: boolean;
}

/** Re-consuming costs a round trip or three: not more often than this, and only for a real change. */
const RETUNE_MIN_INTERVAL_MS = 500;
const RETUNE_FACTOR = 1.5;
/** Backoff of a consumer setting itself up again after its channel closed or it was cancelled. */
const RECOVER_MIN_MS = 100;
const RECOVER_MAX_MS = 5000;

export class Consumer<T> {
  private readonly limit: LimitFunction;
  private channel: Channel | null = null;
  private consumerTag: string | null = null;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private stopped = false;
  private prefetch: number;
  private itemWindow: number | null;
  /** Moving average of the items per message received. */
  private avgItems: number;
  /** Messages held (received, not settled): consumer tag, items, items not finished. */
  private readonly held = new Set<{ tag: string; items: number; unfinished: number }>();
  private lastRetune = 0;
  private retuning: Promise<Error | null> | null = null;
  /** A check put off by the rate limit of re-consumes (nothing else may wake it: stragglers hold every message). */
  private tuneTimer: NodeJS.Timeout | null = null;
  private readonly isolated: Consumer<T> | null;
  private recoverTimer: NodeJS.Timeout | null = null;
  private recoverAttempt = 0;
  private readonly probe = { queue: '', consuming: (): boolean => this.consuming, heldItems: (): number => this.heldItems };

  constructor(
    private readonly broker: Broker,
    private readonly opts: ConsumerOptions<T>,
  ) {
    this.limit = pLimit(opts.concurrency);
    this.itemWindow = opts.itemWindow ?? null;
    this.avgItems = Math.max(1, opts.itemsPerMessage ?? 1);
    this.prefetch = this.itemWindow !== null ? prefetchFor(this.itemWindow, this.avgItems) : (opts.prefetch ?? opts.concurrency * 2);
    this.isolated = opts.quarantine
      ? new Consumer<T>(broker, {
          ...opts,
          name: `${opts.name}.quarantine`,
          label: opts.label ?? opts.name,
          queue: opts.quarantine,
          concurrency: 1,
          prefetch: 1,
          itemWindow: undefined,
          itemsPerMessage: undefined,
          quarantine: undefined,
          splitBatches: true,
        })
      : null;
  }

  /** Messages being handled. */
  get active(): number {
    return this.inFlight;
  }

  /** Tasks of the messages being handled that are not finished yet. */
  get heldItems(): number {
    let n = 0;
    for (const h of this.held) n += h.unfinished;
    return n;
  }

  /** The prefetch (messages) of the current consumer. */
  get currentPrefetch(): number {
    return this.prefetch;
  }

  /**
   * True while a consumer is registered with RabbitMQ on an open channel, or being replaced
   * by one with a new prefetch (a failed replacement recovers by itself, see reconsume). The
   * quarantine consumer reports for itself.
   */
  get consuming(): boolean {
    return !this.stopped && this.channel !== null && (this.consumerTag !== null || this.retuning !== null);
  }

  async start(): Promise<void> {
    this.probe.queue = this.opts.queue;
    this.broker.watch(this.probe);
    await this.broker.addSetup((ch) => this.setup(ch));
    if (this.isolated) await this.isolated.start();
  }

  private async setup(ch: Channel): Promise<void> {
    if (this.stopped) {
      await ch.close().catch(() => undefined);
      return;
    }
    ch.on('error', (err: Error) => this.opts.log.warn({ err: err.message, queue: this.opts.queue }, 'consumer channel error'));
    ch.on('close', () => {
      if (this.channel === ch) {
        this.channel = null;
        this.consumerTag = null;
        this.scheduleRecover('channel closed');
      }
    });
    this.channel = ch;
    this.recoverAttempt = 0;
    await this.consume(ch);
  }

  private async consume(ch: Channel): Promise<void> {
    await ch.prefetch(Math.min(this.prefetch, AMQP_MAX_PREFETCH));
    const reply = await ch.consume(this.opts.queue, (msg) => {
      if (msg) this.onMessage(ch, msg);
      else this.onCancelled(ch);
    });
    if (this.channel === ch) this.consumerTag = reply.consumerTag;
  }

  /** RabbitMQ cancelled the consumer (its queue was deleted, or a node went away). */
  private onCancelled(ch: Channel): void {
    if (this.channel !== ch || this.stopped) return;
    this.opts.log.warn({ queue: this.opts.queue }, 'consumer cancelled by the broker; consuming again');
    this.consumerTag = null;
    this.scheduleRecover('cancelled');
  }

  /**
   * Sets the consumer up again after a backoff: on its channel if that is still open, else on a
   * new one. While the broker is down nothing is done here: its reconnect replays the setup.
   */
  private scheduleRecover(why: string): void {
    if (this.stopped || this.recoverTimer) return;
    const delay = Math.min(RECOVER_MIN_MS * 2 ** this.recoverAttempt, RECOVER_MAX_MS);
    this.recoverAttempt++;
    this.recoverTimer = setTimeout(() => {
      this.recoverTimer = null;
      void this.recover(why);
    }, delay);
  }

  private async recover(why: string): Promise<void> {
    if (this.stopped || this.consuming || !this.broker.isReady()) return;
    if (this.retuning) await this.retuning;
    try {
      if (this.channel && !this.consumerTag) {
        await this.consume(this.channel);
      } else if (!this.channel) {
        await this.setup(await this.broker.openChannel());
      }
      if (this.consuming) this.opts.log.info({ queue: this.opts.queue, after: why }, 'consuming again');
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, queue: this.opts.queue, after: why }, 'consumer could not set itself up again; retrying');
    }
    if (!this.consuming) this.scheduleRecover(why);
  }

  /**
   * A new consumer with the current prefetch on the same channel; the old one's unacked
   * messages stay. Resolves to the error when it could not consume again (the consumer then
   * recovers by itself, see scheduleRecover).
   */
  private reconsume(): Promise<Error | null> {
    if (this.retuning) return this.retuning;
    this.retuning = (async (): Promise<Error | null> => {
      const ch = this.channel;
      const tag = this.consumerTag;
      if (!ch || !tag || this.stopped) return null;
      try {
        await ch.cancel(tag);
        if (this.channel !== ch || this.stopped) return null;
        this.consumerTag = null;
        await this.consume(ch);
        return null;
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message, queue: this.opts.queue }, 'prefetch change interrupted; consuming again');
        if (this.channel === ch && !this.consumerTag) this.scheduleRecover('prefetch change');
        return err as Error;
      }
    })().finally(() => {
      this.retuning = null;
    });
    return this.retuning;
  }

  private onMessage(ch: Channel, msg: ConsumeMessage): void {
    this.inFlight++;
    void this.limit(() => this.process(ch, msg)).finally(() => {
      this.inFlight--;
      if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  private async process(ch: Channel, msg: ConsumeMessage): Promise<void> {
    const started = performance.now();
    let items: T[];
    try {
      items = this.opts.codec.decode(msg);
      if (items.length === 0) throw new Error(`${this.opts.codec.kind} message without items`);
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message, queue: this.opts.queue }, 'undecodable message dead-lettered');
      settle(ch, () => ch.reject(msg, false));
      this.settled('reject', 0, started);
      return;
    }
    const holding = { tag: msg.fields.consumerTag, items: items.length, unfinished: items.length };
    this.held.add(holding);
    this.observeBatch(items.length);
    const headers = msg.properties.headers ?? {};
    const ctx: DeliveryContext = {
      deliveryCount: Number(headers['x-delivery-count'] ?? (msg.fields.redelivered ? 1 : 0)),
      redelivered: msg.fields.redelivered,
      message: msg,
      itemsDone: (n = 1) => {
        holding.unfinished = Math.max(0, holding.unfinished - n);
        this.tune();
      },
    };
    try {
      if (this.opts.splitBatches && items.length > 1) await this.split(items);
      else await this.opts.handle(items, ctx);
      settle(ch, () => ch.ack(msg));
      this.settled('ack', items.length, started);
    } catch (err) {
      const e = toCrawlError(err);
      this.opts.log.warn({ err: e.message, code: e.code, queue: this.opts.queue, items: items.length, deliveryCount: ctx.deliveryCount }, 'handler failed; message requeued');
      settle(ch, () => ch.nack(msg, false, true));
      this.settled('nack', items.length, started);
    } finally {
      this.held.delete(holding);
      this.tune();
    }
  }

  /** Publishes each item of a quarantined batch as a message of its own, to be tried alone. */
  private async split(items: T[]): Promise<void> {
    await Promise.all(
      items.map((item) => {
        const { content, options } = this.opts.codec.encode([item]);
        return this.broker.publish(this.opts.queue, content, options);
      }),
    );
    this.opts.log.info({ queue: this.opts.queue, items: items.length }, 'quarantined batch split into single messages');
  }

  private observeBatch(items: number): void {
    if (this.itemWindow === null) return;
    this.avgItems = this.avgItems * 0.8 + items * 0.2;
    this.tune();
  }

  /**
   * Re-consumes when the prefetch is far from what the window needs: room for
   * window / items-per-message batches, plus the messages the current consumer's stragglers
   * hold. The new consumer holds nothing yet, so it gets the room for the batches alone.
   */
  private tune(): void {
    if (this.itemWindow === null || this.retuning || this.stopped || !this.consumerTag) return;
    const now = performance.now();
    if (now - this.lastRetune < RETUNE_MIN_INTERVAL_MS) {
      this.tuneTimer ??= setTimeout(() => {
        this.tuneTimer = null;
        this.tune();
      }, RETUNE_MIN_INTERVAL_MS - (now - this.lastRetune) + 1);
      return;
    }
    const base = prefetchFor(this.itemWindow, this.avgItems);
    let stragglers = 0;
    for (const h of this.held) if (h.tag === this.consumerTag && h.unfinished > 0 && h.unfinished * 2 <= h.items) stragglers++;
    const target = base + stragglers;
    const tooSmall = target >= this.prefetch * RETUNE_FACTOR && target >= this.prefetch + 2;
    const tooBig = this.prefetch >= target * RETUNE_FACTOR && this.prefetch >= target + 2;
    if (!tooSmall && !tooBig) return;
    this.lastRetune = now;
    const previous = this.prefetch;
    this.prefetch = base;
    this.opts.log.debug({ queue: this.opts.queue, prefetch: base, previous, stragglers, itemsPerMessage: Math.round(this.avgItems * 10) / 10 }, 'prefetch follows the batches');
    void this.reconsume().then(() => this.tune());
  }

  private settled(outcome: 'ack' | 'nack' | 'reject', items: number, started: number): void {
    const m = this.opts.metrics;
    if (!m) return;
    const label = this.opts.label ?? this.opts.name;
    m.messages.inc({ queue: label, outcome });
    if (items > 0) m.messageItems.inc({ queue: label }, items);
    m.stageSeconds.observe({ stage: label }, (performance.now() - started) / 1000);
  }

  /**
   * Changes concurrency and prefetch live: running work continues, new work follows the new
   * bounds. Give `itemWindow` for a consumer that counts items (its prefetch then follows the
   * batch sizes), else `prefetch` in messages (default twice the concurrency).
   */
  async resize(concurrency: number, bounds: { prefetch?: number; itemWindow?: number } = {}): Promise<void> {
    // The quarantine consumer stays at one message at a time.
    this.limit.concurrency = concurrency;
    if (bounds.itemWindow !== undefined) this.itemWindow = bounds.itemWindow;
    const next = this.itemWindow !== null ? prefetchFor(this.itemWindow, this.avgItems) : (bounds.prefetch ?? concurrency * 2);
    if (next === this.prefetch) return;
    this.prefetch = next;
    this.lastRetune = performance.now();
    const err = await this.reconsume();
    if (err) throw new CrawlError('unavailable', `${this.opts.queue}: could not consume again with prefetch ${Math.min(next, AMQP_MAX_PREFETCH)}: ${err.message}`, { cause: err });
  }

  /** Stops taking messages, waits up to graceMs for in-flight work, then closes the channel. */
  async close(graceMs: number): Promise<{ drained: boolean }> {
    if (this.isolated) await this.isolated.close(graceMs);
    this.stopped = true;
    this.broker.unwatch(this.probe);
    if (this.tuneTimer) clearTimeout(this.tuneTimer);
    if (this.recoverTimer) clearTimeout(this.recoverTimer);
    if (this.retuning) await this.retuning;
    const ch = this.channel;
    if (ch && this.consumerTag) await ch.cancel(this.consumerTag).catch(() => undefined);
    let drained = this.inFlight === 0;
    if (!drained) {
      drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), graceMs);
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    }
    // Unacked messages go back to the queue when the channel closes.
    if (ch) await ch.close().catch(() => undefined);
    this.channel = null;
    return { drained };
  }
}

/** Messages to prefetch so that about `window` items are held, given the items per message seen. */
export function prefetchFor(window: number, avgItems: number): number {
  const w = Math.max(1, Math.round(window));
  return Math.min(w, Math.max(Math.min(2, w), Math.ceil(w / Math.max(1, avgItems))));
}

/** Acks on a channel that closed meanwhile are harmless: the broker redelivers the message. */
function settle(ch: Channel, fn: () => void): void {
  try {
    fn();
  } catch {
    void ch;
  }
}
