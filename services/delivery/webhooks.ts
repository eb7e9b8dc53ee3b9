/**
 * Webhook deliveries as BullMQ jobs: each event is one job, retried with exponential backoff
 * until it is accepted (2xx) or its attempts run out; a receiver that is down for a while
 * still gets every event. Sent through the SSRF-guarded dispatcher. Signed when
 * deliver.webhookSecret (WEBHOOK_SECRET) is set; without it they go out unsigned, which the
 * outbox logs once (warn) when it starts.
 */
import { Worker, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Dispatcher } from 'undici';
import { openControlQueue, controlQueueName } from '../../shared/controlplane/queues.js';
import type { Logger } from '../../shared/observability/log.js';
import type { Keys } from '../../shared/redis/keys.js';
import { sendWebhook } from './handover.js';

export interface WebhookJob {
  url: string;
  event: Record<string, unknown>;
}

export interface OutboxOptions {
  keys: Keys;
  /** A client made with `blocking: true`; the outbox owns it and closes it. */
  connection: Redis;
  dispatcher: Dispatcher;
  log: Logger;
  settings(): { secret: string; timeoutMs: number };
  attempts?: number;
}

export class WebhookOutbox {
  private readonly queue: Queue;
  private readonly worker: Worker;

  constructor(private readonly opts: OutboxOptions) {
    if (!opts.settings().secret) {
      opts.log.warn({ setting: 'deliver.webhookSecret', env: 'WEBHOOK_SECRET' }, 'webhooks go out unsigned: WEBHOOK_SECRET is not set');
    }
    this.queue = openControlQueue(opts.keys, 'webhooks', opts.connection);
    this.worker = new Worker<WebhookJob>(
      controlQueueName(opts.keys.namespace, 'webhooks'),
      async (job) => {
        const s = opts.settings();
        await sendWebhook(job.data.url, job.data.event, { secret: s.secret, timeoutMs: s.timeoutMs, dispatcher: opts.dispatcher, attempts: 1 });
      },
      { connection: opts.connection, prefix: opts.keys.bullPrefix, concurrency: 8 },
    );
    this.worker.on('failed', (job, err) => {
      const last = job && job.attemptsMade >= (job.opts.attempts ?? 1);
      opts.log[last ? 'error' : 'warn']({ err: err.message, url: job?.data.url, attempt: job?.attemptsMade }, last ? 'webhook gave up' : 'webhook failed; will retry');
    });
    this.worker.on('error', (err) => opts.log.warn({ err: err.message }, 'webhook worker error'));
  }

  /**
   * Queues an event; `id` makes a redelivered trigger enqueue it only once. Session state
   * events go before the (possibly many) supplements.
   */
  async enqueue(url: string, event: Record<string, unknown>, id: string, urgent = false): Promise<void> {
    await this.queue.add('webhook', { url, event }, {
      jobId: id,
      priority: urgent ? 1 : 10,
      attempts: this.opts.attempts ?? 8,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 86_400, count: 10_000 },
      removeOnFail: { age: 7 * 86_400 },
    });
  }

  async close(): Promise<void> {
    await this.worker.close();
    await this.queue.close();
    this.opts.connection.disconnect();
  }
}
