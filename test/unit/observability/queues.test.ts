/** Queue labels and roles of the sampled queue metrics: every queue of the topology has one. */
import assert from 'node:assert/strict';
import { topology } from '../../../shared/messaging/topology.js';
import { queueLabel, roleOf } from '../../../shared/observability/queues.js';

describe('queue labels', () => {
  it('drop the namespace and give every queue of the topology a known role', () => {
    const t = topology('crawlfleet');
    assert.equal(queueLabel(t, t.queue('fetch')), 'fetch');
    assert.equal(queueLabel(t, 'crawlfleet.v3.fetch'), 'fetch');
    assert.equal(queueLabel(t, 'crawlfleet.v3.delay.250'), 'delay.250');
    assert.equal(roleOf('dead'), 'dead');
    assert.equal(roleOf('delay.30000'), 'retry');
    assert.equal(roleOf('fetch.quarantine'), 'quarantine');
    assert.equal(roleOf('something.else'), 'other');
    for (const q of t.allQueues) assert.notEqual(roleOf(queueLabel(t, q)), 'other', `${q} has a role`);
  });
});
