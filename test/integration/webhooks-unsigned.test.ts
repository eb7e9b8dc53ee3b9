/**
 * Delivery's webhook outbox against the real Redis: without deliver.webhookSecret it logs once,
 * when it starts, that webhooks go out unsigned; with a secret it says nothing.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { Agent } from 'undici';
import { WebhookOutbox } from '../../services/delivery/webhooks.js';
import { redisKeys } from '../../shared/redis/keys.js';
import { cleanupNamespace, REDIS_URL, testNamespace } from '../support/stack.js';

function capture(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, cb) { chunks.push(chunk.toString()); cb(); } });
  return { log: pino<never>({ level: 'info' }, stream), lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('webhook outbox: unsigned webhooks', function () {
  this.timeout(20_000);
  const ns = testNamespace('w');
  const agent = new Agent();

  after(async () => {
    await agent.close();
    await cleanupNamespace(ns);
  });

  for (const [secret, expected] of [['', 1], ['s3cret', 0]] as const) {
    it(`${secret ? 'with' : 'without'} WEBHOOK_SECRET: ${expected} warning at start`, async () => {
      const { log, lines } = capture();
      const outbox = new WebhookOutbox({
        keys: redisKeys(ns),
        connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }),
        dispatcher: agent,
        log,
        settings: () => ({ secret, timeoutMs: 1000 }),
      });
      await outbox.enqueue('http://127.0.0.1:9/', { event: 'test' }, `${ns}-1`);
      await outbox.close();
      const warnings = lines().filter((l) => l.msg === 'webhooks go out unsigned: WEBHOOK_SECRET is not set');
      assert.equal(warnings.length, expected, JSON.stringify(lines()));
      if (expected) assert.equal(warnings[0]?.level, 40);
    });
  }
});
