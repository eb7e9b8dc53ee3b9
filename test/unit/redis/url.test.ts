/** Where Redis is: one server or a Redis Cluster, from redis.url and redis.clusterNodes. */
import assert from 'node:assert/strict';
import { loadConfig } from '../../../shared/config/index.js';
import { describeRedisTarget, parseClusterNodes, parseRedisTarget } from '../../../shared/redis/url.js';

describe('parseRedisTarget', () => {
  it('keeps a plain redis:// or rediss:// URL as one server', () => {
    assert.deepEqual(parseRedisTarget('redis://127.0.0.1:6379'), { kind: 'single', url: 'redis://127.0.0.1:6379' });
    assert.deepEqual(parseRedisTarget({ url: 'rediss://:pw@r:6380/2', clusterNodes: '' }), { kind: 'single', url: 'rediss://:pw@r:6380/2' });
  });

  it('reads a redis+cluster:// URL: seeds, credentials, TLS', () => {
    assert.deepEqual(parseRedisTarget('redis+cluster://127.0.0.1:7000,127.0.0.1:7001'), {
      kind: 'cluster',
      nodes: [{ host: '127.0.0.1', port: 7000 }, { host: '127.0.0.1', port: 7001 }],
      tls: false,
    });
    assert.deepEqual(parseRedisTarget('rediss+cluster://app:s%40cret@a.example:6379,[::1]:6380/'), {
      kind: 'cluster',
      nodes: [{ host: 'a.example', port: 6379 }, { host: '::1', port: 6380 }],
      tls: true,
      username: 'app',
      password: 's@cret',
    });
    assert.deepEqual(parseRedisTarget('redis+cluster://:pw@h:1'), { kind: 'cluster', nodes: [{ host: 'h', port: 1 }], tls: false, password: 'pw' });
  });

  it('makes a cluster of redis.clusterNodes, with the credentials and TLS of redis.url', () => {
    assert.deepEqual(parseRedisTarget({ url: 'rediss://u:p@ignored:6379', clusterNodes: 'n1:7000, n2:7001' }), {
      kind: 'cluster',
      nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }],
      tls: true,
      username: 'u',
      password: 'p',
    });
  });

  const bad: [string, Parameters<typeof parseRedisTarget>[0], RegExp][] = [
    ['another scheme', 'http://h:1', /redis:, rediss: or redis\+cluster:/],
    ['no URL at all', 'not a url', /redis:\/\/, rediss:\/\/ or redis\+cluster:\/\//],
    ['a cluster node without a port', 'redis+cluster://h1:7000,h2', /host:port.*"h2"/],
    ['a port out of range', 'redis+cluster://h1:70000', /host:port/],
    ['no nodes', 'redis+cluster://', /at least one host:port/],
    ['a database other than 0 with cluster nodes', { url: 'redis://h:1/3', clusterNodes: 'a:1' }, /only database 0/],
  ];
  for (const [name, input, message] of bad) {
    it(`refuses ${name}`, () => assert.throws(() => parseRedisTarget(input), (err: Error) => err instanceof TypeError && message.test(err.message)));
  }

  it('parses node lists alone', () => {
    assert.deepEqual(parseClusterNodes('a:1,,b:2 '), [{ host: 'a', port: 1 }, { host: 'b', port: 2 }]);
  });

  it('describes a target without its password', () => {
    assert.equal(describeRedisTarget('redis+cluster://app:secret@h1:1,h2:2'), 'redis+cluster://app@h1:1,h2:2');
    assert.equal(describeRedisTarget('redis://:secret@h:6379'), 'redis://:***@h:6379');
    assert.ok(!describeRedisTarget({ url: 'redis://:secret@h:1', clusterNodes: 'a:1' }).includes('secret'));
  });
});

describe('config: redis.url and redis.clusterNodes', () => {
  it('accepts a cluster URL and a node list from the environment', () => {
    const { config } = loadConfig({ env: { REDIS_URL: 'redis+cluster://127.0.0.1:7000,127.0.0.1:7001', REDIS_CLUSTER_NODES: '127.0.0.1:7002' } });
    assert.equal(config.redis.url, 'redis+cluster://127.0.0.1:7000,127.0.0.1:7001');
    assert.equal(config.redis.clusterNodes, '127.0.0.1:7002');
  });

  it('refuses a bad node list, naming the setting', () => {
    assert.throws(() => loadConfig({ env: { REDIS_CLUSTER_NODES: 'h1:7000,nope' } }), /redis\.clusterNodes/);
  });
});
