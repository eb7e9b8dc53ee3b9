/**
 * The one consumer runtime. A service brings only `decode` and `handle`; this module owns
 * prefetch, per-replica concurrency (p-limit, resizable live), ack/nack, redelivery
 * counting, and graceful close.
 *
 * Contract with handlers: `handle` resolves only after every message it produced was
 * confirmed by the broker; then the input is acked. If it throws, the input is nacked
 * and requeued; the queue's delivery limit dead-letters a message that keeps failing.
 * A message that cannot be decoded is rejected at once (dead-lettered).
 */
import pLimit, { type LimitFunction } from 'p-limit';
import type { Channel, ConsumeMessage } from 'amqplib';
import { toCrawlError } from '../errors/index.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { Broker } from './broker.js';

export interface DeliveryContext {
  /** How many times this message was delivered before (x-delivery-count of quorum queues). */
  readonly deliveryCount: number;
  readonly redelivered: boolean;
  readonly message: ConsumeMessage;
}

export interface ConsumerOptions<T> {
  /** Name for logs and metrics. */
  name: string;
  queue: string;
  concurrency: number;
  /** Unacked messages held; defaults to twice the concurrency. */
  prefetch?: number;
  decode(message: ConsumeMessage): T;
  handle(task: T, ctx: DeliveryContext): Promise<void>;
  log: Logger;
  /** Where each settled message is counted (`crawlfleet_messages_total{queue}`) and timed (`crawlfleet_stage_seconds{stage}`). */
  metrics?: Pick<Metrics, 'messages' | 'stageSeconds'>;
  /** The queue/stage label of those metrics; defaults to `name` (the quarantine consumer keeps its stage's). */
  label?: string;
  /**
   * Also consume this quarantine queue, one message at a time, with the same handler
   * (messages that exceeded the delivery limit, possibly only beside a poison one).
   */
  quarantine?: string;
}

export class Consumer<T> {
  private readonly limit: LimitFunction;
  private channel: Channel | null = null;
  private consumerTag: string | null = null;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private stopped = false;
  private prefetch: number;
  private readonly isolated: Consumer<T> | null;

  constructor(
    private readonly broker: Broker,
    private readonly opts: ConsumerOptions<T>,
  ) {
    this.limit = pLimit(opts.concurrency);
    this.prefetch = opts.prefetch ?? opts.concurrency * 2;
    this.isolated = opts.quarantine
      ? new Consumer<T>(broker, { ...opts, name: `${opts.name}.quarantine`, label: opts.label ?? opts.name, queue: opts.quarantine, concurrency: 1, prefetch: 1, quarantine: undefined })
      : null;
  }

  get active(): number {
    return this.inFlight;
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
    await ch.prefetch(this.prefetch);
    this.channel = ch;
    const reply = await ch.consume(this.opts.queue, (msg) => {
      if (msg) this.onMessage(ch, msg);
    });
    this.consumerTag = reply.consumerTag;
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
    let task: T;
    try {
      task = this.opts.decode(msg);
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message, queue: this.opts.queue }, 'undecodable message dead-lettered');
      settle(ch, () => ch.reject(msg, false));
      this.settled('reject', started);
      return;
    }
    const headers = msg.properties.headers ?? {};
    const ctx: DeliveryContext = {
      deliveryCount: Number(headers['x-delivery-count'] ?? (msg.fields.redelivered ? 1 : 0)),
      redelivered: msg.fields.redelivered,
      message: msg,
    };
    try {
      await this.opts.handle(task, ctx);
      settle(ch, () => ch.ack(msg));
      this.settled('ack', started);
    } catch (err) {
      const e = toCrawlError(err);
      this.opts.log.warn({ err: e.message, code: e.code, queue: this.opts.queue, deliveryCount: ctx.deliveryCount }, 'handler failed; message requeued');
      settle(ch, () => ch.nack(msg, false, true));
      this.settled('nack', started);
    }
  }

  private settled(outcome: 'ack' | 'nack' | 'reject', started: number): void {
    const m = this.opts.metrics;
    if (!m) return;
    const label = this.opts.label ?? this.opts.name;
    m.messages.inc({ queue: label, outcome });
    m.stageSeconds.observe({ stage: label }, (performance.now() - started) / 1000);
  }

  /** Changes the concurrency live: running work continues, new work follows the new bound. */
  async resize(concurrency: number, prefetch?: number): Promise<void> {
    // The quarantine consumer stays at one message at a time.
    this.limit.concurrency = concurrency;
    this.prefetch = prefetch ?? concurrency * 2;
    if (this.channel) await this.channel.prefetch(this.prefetch).catch(() => undefined);
  }

  /** Stops taking messages, waits up to graceMs for in-flight work, then closes the channel. */
  async close(graceMs: number): Promise<{ drained: boolean }> {
    if (this.isolated) await this.isolated.close(graceMs);
    this.stopped = true;
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

/** Acks on a channel that closed meanwhile are harmless: the broker redelivers the message. */
function settle(ch: Channel, fn: () => void): void {
  try {
    fn();
  } catch {
    void ch;
  }
}
