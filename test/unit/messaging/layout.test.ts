/**
 * The versioned queue layout and the migration's routing table (pure), and broker URL lists.
 */
import assert from 'node:assert/strict';
import { loadConfig, maskSecret, redacted } from '../../../shared/config/index.js';
import { CrawlError } from '../../../shared/errors/index.js';
import { moveTarget } from '../../../shared/messaging/migrate.js';
import { DELAY_HEADER, PREVIOUS_TOPOLOGY_VERSION, RETRY_DELAYS_MS, TOPOLOGY_VERSION, topology } from '../../../shared/messaging/topology.js';
import { amqpUrls } from '../../../shared/messaging/urls.js';
import { olderLayoutReplicas } from '../../../shared/service/heartbeat.js';
import { main as migrateMain } from '../../../scripts/migrate.js';

describe('queue layout versions', () => {
  const t = topology('ns');
  const old = topology('ns', PREVIOUS_TOPOLOGY_VERSION);

  it('names this release\'s queues with the layout version, and the previous release\'s without', () => {
    assert.equal(t.version, TOPOLOGY_VERSION);
    assert.equal(t.queue('fetch'), `ns.v${TOPOLOGY_VERSION}.fetch`);
    assert.equal(t.quarantine(t.queue('deliver')), `ns.v${TOPOLOGY_VERSION}.deliver.quarantine`);
    assert.equal(t.delayExchange, `ns.v${TOPOLOGY_VERSION}.delay`);
    assert.equal(old.queue('fetch'), 'ns.fetch');
    assert.equal(old.dead, 'ns.dead');
    assert.equal(old.delayQueue(250), 'ns.delay.250');
    for (const q of t.allQueues) assert.ok(!old.allQueues.includes(q), `${q} is not a name of the previous layout`);
  });

  it('lists the previous layout\'s queues and exchange, and the first retry queues, as legacy', () => {
    for (const q of old.allQueues) assert.ok(t.legacyQueues.includes(q), `${q} is legacy`);
    for (const d of RETRY_DELAYS_MS) assert.ok(t.legacyQueues.includes(`ns.retry.${d}`));
    assert.deepEqual(t.legacyExchanges, ['ns.delay']);
    assert.deepEqual(old.legacyQueues.filter((q) => !q.startsWith('ns.retry.')), [], 'the previous layout has no older one here');
  });

  it('knows the stage of a queue of the previous layout (a message that died there names it)', () => {
    assert.equal(t.stageOf('ns.extract'), 'extract');
    assert.equal(t.stageOf('ns.deliver.quarantine'), 'deliver');
    assert.equal(t.stageOf('ns.dead'), null);
  });

  it('routes every message of an old queue to the queue of the same role in the new layout', () => {
    for (const stage of ['fetch', 'extract', 'deliver'] as const) {
      assert.deepEqual(moveTarget(t, old.queue(stage), old.queue(stage)), { exchange: '', routingKey: t.queue(stage) });
      const q = old.quarantine(old.queue(stage));
      assert.deepEqual(moveTarget(t, q, q), { exchange: '', routingKey: t.quarantine(t.queue(stage)) });
    }
    assert.deepEqual(moveTarget(t, old.dead, 'ns.fetch.quarantine'), { exchange: '', routingKey: t.dead });
  });

  it('keeps a delayed retry delayed: the new delay exchange, the same bucket, the stage its routing key names', () => {
    assert.deepEqual(moveTarget(t, old.delayQueue(4000), old.queue('extract')), { exchange: t.delayExchange, routingKey: t.queue('extract'), headers: { [DELAY_HEADER]: '4000' } });
    assert.deepEqual(moveTarget(t, old.delayQueue(250), old.quarantine(old.queue('fetch'))), { exchange: t.delayExchange, routingKey: t.quarantine(t.queue('fetch')), headers: { [DELAY_HEADER]: '250' } });
    assert.deepEqual(moveTarget(t, 'ns.retry.1000', 'ns.fetch'), { exchange: t.delayExchange, routingKey: t.queue('fetch'), headers: { [DELAY_HEADER]: '1000' } });
  });

  it('routes nothing that is not an old queue of the namespace', () => {
    assert.equal(moveTarget(t, t.queue('fetch'), t.queue('fetch')), null);
    assert.equal(moveTarget(t, 'other.fetch', 'other.fetch'), null);
    assert.equal(moveTarget(t, 'other.retry.1000', 'other.fetch'), null);
  });

  it('crawlfleet migrate refuses an unknown argument with its usage, before connecting', async () => {
    const errors: string[] = [];
    assert.equal(await migrateMain(['--now'], () => undefined, (l) => errors.push(l)), 2);
    assert.match(errors.join('\n'), /unexpected "--now"\nusage: crawlfleet migrate \[--wait <seconds>\]/);
    assert.equal(await migrateMain(['--wait', 'soon'], () => undefined, () => undefined), 2);
  });

  it('counts replicas without a layout version as the previous release\'s', () => {
    assert.deepEqual(olderLayoutReplicas([{ id: 'a' }, { id: 'b', topologyVersion: TOPOLOGY_VERSION }, { id: 'c', topologyVersion: PREVIOUS_TOPOLOGY_VERSION }]), ['a', 'c']);
  });
});

describe('several broker URLs (a RabbitMQ cluster)', () => {
  const list = 'amqp://u:p1@mq-1:5672/vh, amqp://u:p2@mq-2:5672/vh,amqps://u:p3@mq-3:5671/vh';

  it('splits AMQP_URL on commas, in order', () => {
    assert.deepEqual(amqpUrls(list), ['amqp://u:p1@mq-1:5672/vh', 'amqp://u:p2@mq-2:5672/vh', 'amqps://u:p3@mq-3:5671/vh']);
    assert.deepEqual(amqpUrls('amqp://localhost'), ['amqp://localhost']);
  });

  it('accepts a list in the configuration and masks every password in it', () => {
    const { config } = loadConfig({ env: { AMQP_URL: list }, file: null });
    assert.equal(config.amqp.url, list);
    assert.equal((redacted(config).amqp as Record<string, unknown>).url, 'amqp://u:***@mq-1:5672/vh,amqp://u:***@mq-2:5672/vh,amqps://u:***@mq-3:5671/vh');
    assert.equal(maskSecret('amqp://a:secret@h1,amqp://b:secret@h2'), 'amqp://a:***@h1,amqp://b:***@h2');
  });

  for (const c of [
    { name: 'an empty entry', value: 'amqp://h1,,amqp://h2', mentions: /without empty entries/ },
    { name: 'an entry of another scheme', value: 'amqp://h1,http://h2', mentions: /must use amqp: or amqps:, got http:/ },
    { name: 'an entry that is no URL', value: 'amqp://h1,nonsense', mentions: /must be a URL/ },
  ]) {
    it(`refuses a list with ${c.name}, naming amqp.url`, () => {
      assert.throws(() => loadConfig({ env: { AMQP_URL: c.value }, file: null }), (err: unknown) => {
        assert.ok(err instanceof CrawlError);
        assert.match(err.message, /amqp\.url/);
        assert.match(err.message, c.mentions);
        assert.ok(!err.message.includes('secret'));
        return true;
      });
    });
  }
});
