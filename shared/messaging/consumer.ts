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
 * no known items yet.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import type { Channel, ConsumeMessage } from 'amqplib';
import { toCrawlError } from '../errors/index.js';
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
  private retuning: Promise<void> | null = null;
  /** A check put off by the rate limit of re-consumes (nothing else may wake it: stragglers hold every message). */
  private tuneTimer: NodeJS.Timeout | null = null;
  private readonly isolated: Consumer<T> | null;

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

  /** The prefetch (messages) of the current consumer. */
  get currentPrefetch(): number {
    return this.prefetch;
  }

  async start(): Promise<void> {
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
      }
    });
    this.channel = ch;
    await this.consume(ch);
  }

  private async consume(ch: Channel): Promise<void> {
    await ch.prefetch(this.prefetch);
    const reply = await ch.consume(this.opts.queue, (msg) => {
      if (msg) this.onMessage(ch, msg);
    });
    if (this.channel === ch) this.consumerTag = reply.consumerTag;
  }

  /** A new consumer with the current prefetch on the same channel; the old one's unacked messages stay. */
  private reconsume(): Promise<void> {
    if (this.retuning) return this.retuning;
    this.retuning = (async () => {
      const ch = this.channel;
      const tag = this.consumerTag;
      if (!ch || !tag || this.stopped) return;
      try {
        await ch.cancel(tag);
        if (this.channel !== ch || this.stopped) return;
        this.consumerTag = null;
        await this.consume(ch);
      } catch (err) {
        // The channel closed meanwhile: the broker's reconnect sets the consumer up again.
        this.opts.log.debug({ err: (err as Error).message, queue: this.opts.queue }, 'prefetch change interrupted');
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
    await this.reconsume();
  }

  /** Stops taking messages, waits up to graceMs for in-flight work, then closes the channel. */
  async close(graceMs: number): Promise<{ drained: boolean }> {
    if (this.isolated) await this.isolated.close(graceMs);
    this.stopped = true;
    if (this.tuneTimer) clearTimeout(this.tuneTimer);
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
