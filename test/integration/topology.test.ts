/**
 * The queue topology derived from the stage registry: every stage a service names has its
 * queues, every stage is consumed by the service the registry says, and a delayed message
 * re-enters its own stage's queue exactly once (against the real RabbitMQ).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../shared/config/index.js';
import { Broker } from '../../shared/messaging/broker.js';
import { RETRY_DELAYS_MS, topology } from '../../shared/messaging/topology.js';
import { createLogger } from '../../shared/observability/log.js';
import { Outbox } from '../../shared/pipeline/outbox.js';
import { SERVICE_NAMES } from '../../shared/pipeline/services.js';
import { STAGE_NAMES, STAGES, stagesOf } from '../../shared/pipeline/stages.js';
import { packageRoot } from '../../shared/paths.js';
import type { FetchTask } from '../../shared/tasks/types.js';
import { queueDepths, takeAll } from '../support/oracle.js';
import { AMQP_URL, cleanupNamespace, testNamespace, waitFor } from '../support/stack.js';

/** Every TypeScript source of a service, as text. */
function serviceSources(service: string): string[] {
  const dir = join(packageRoot, 'services', service);
  return readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(join(dir, f), 'utf8'));
}

describe('topology from the stage registry', () => {
  it('gives every stage a work queue and a quarantine queue, and shares the dead and delay queues', () => {
    const t = topology('ns');
    for (const s of STAGE_NAMES) {
      assert.ok(t.allQueues.includes(t.queue(s)), s);
      assert.ok(t.allQueues.includes(t.quarantine(t.queue(s))), `${s} quarantine`);
      assert.equal(t.stageOf(t.queue(s)), s);
      assert.equal(t.stageOf(t.quarantine(t.queue(s))), s);
    }
    assert.ok(t.allQueues.includes(t.dead));
    for (const d of RETRY_DELAYS_MS) assert.ok(t.allQueues.includes(t.delayQueue(d)));
    assert.equal(new Set(t.allQueues).size, t.allQueues.length, 'no queue twice');
    assert.equal(t.stageOf(t.dead), null);
  });

  it('finds every stage the services send to or consume in the registry, and each stage consumed by its service', () => {
    const named = new Set<string>();
    for (const service of SERVICE_NAMES) {
      for (const src of serviceSources(service)) {
        for (const m of src.matchAll(/\b(?:send|later|queue)\('([a-z]+)'/g)) named.add(m[1] as string);
      }
    }
    assert.ok(named.size >= 3, `stages named by the services: ${[...named].join(', ')}`);
    for (const s of named) assert.ok((STAGE_NAMES as readonly string[]).includes(s), `"${s}" is a stage of the registry`);
    for (const stage of STAGE_NAMES) {
      const consumer = STAGES[stage].service;
      assert.ok(serviceSources(consumer).some((src) => src.includes(`queue: topology.queue('${stage}')`)), `${consumer} consumes ${stage}`);
      for (const to of STAGES[stage].publishesTo) assert.ok(STAGE_NAMES.includes(to), `${stage} publishes to ${to}`);
    }
    assert.deepEqual(STAGE_NAMES.filter((s) => stagesOf(STAGES[s].service).includes(s)), [...STAGE_NAMES]);
  });

  describe('delayed messages (real RabbitMQ)', function () {
    this.timeout(20_000);
    const ns = testNamespace('d');
    let broker: Broker;

    before(async () => {
      broker = new Broker({ url: AMQP_URL, name: 'test', heartbeatS: 10, topology: topology(ns), queueType: 'quorum', deliveryLimit: 5, log: createLogger('test', 'silent') });
      await broker.start();
    });
    after(async () => {
      await broker.close();
      await cleanupNamespace(ns);
    });

    it('come back to their own stage queue once, after the delay, through one delay queue', async () => {
      const cfg = loadConfig({ env: {}, file: null }).config;
      const outbox = new Outbox(broker, topology(ns), () => cfg);
      const task: FetchTask = { sessionId: 's', taskId: 't', url: 'http://site.test/', depth: 0, attempt: 1, admittedAt: 0 };
      const sent = Date.now();
      await outbox.later('fetch', 250, task);
      const inDelay = await queueDepths(ns);
      assert.equal(Object.entries(inDelay).filter(([, n]) => n > 0).map(([q]) => q).join(), topology(ns).delayQueue(250));
      const back = await waitFor(async () => {
        const items = await takeAll(broker, topology(ns).queue('fetch'), outbox.codecs.fetch);
        return items.length > 0 ? items : null;
      }, { timeoutMs: 5000, what: 'the task back on the fetch queue' });
      assert.ok(Date.now() - sent >= 240, 'not before its delay');
      assert.deepEqual(back, [task]);
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(Object.values(await queueDepths(ns)).every((n) => n === 0), 'nothing left anywhere');
    });
  });
});
