/** The pure parts of the replica heartbeats: the record, its expiry, the pages/s window, the rollout count. */
import assert from 'node:assert/strict';
import { CrawlError } from '../../../shared/errors/index.js';
import { loadConfig } from '../../../shared/config/index.js';
import { compareReplicas, heartbeatTtlMs, parseReplicaRecord, RateWindow, replicaId, replicaView, rolloutOf, type ReplicaRecord } from '../../../shared/service/heartbeat.js';
import { renderReplicas, renderRollout } from '../../../cli/render.js';

const record = (over: Partial<ReplicaRecord> = {}): ReplicaRecord => ({
  id: 'fetcher-h-1-abc', service: 'fetcher', host: 'h', pid: 1, version: '1.0.0', startedAt: '2026-01-01T00:00:00.000Z', beatAt: 1_000_000,
  heartbeatMs: 2000, ttlMs: 6000, configVersion: 3, inFlight: 4, pagesPerSecond: 12.5, ready: true, reasons: [], lastError: null, lastErrorAt: null, ...over,
});

describe('replica heartbeats (pure parts)', () => {
  it('expire after heartbeatMs × missedBeats; the defaults give 2 s and 6 s', () => {
    for (const [beat, missed, ttl] of [[2000, 3, 6000], [100, 2, 200], [60_000, 100, 6_000_000]] as const) assert.equal(heartbeatTtlMs(beat, missed), ttl);
    const c = loadConfig({ env: {}, file: null }).config;
    assert.deepEqual(c.replicas, { heartbeatMs: 2000, missedBeats: 3 });
  });

  it('refuses a heartbeat interval or missed-beat count out of bounds', () => {
    for (const [key, value] of [['replicas.heartbeatMs', 99], ['replicas.heartbeatMs', 60_001], ['replicas.missedBeats', 1], ['replicas.missedBeats', 101]] as const) {
      assert.throws(() => loadConfig({ env: {}, file: null, overrides: { [key]: value } }), (e: unknown) => e instanceof CrawlError && e.code === 'config_invalid' && e.message.includes(key), `${key}=${value}`);
    }
  });

  it('names a replica by service, host, pid and suffix, with only safe characters', () => {
    assert.equal(replicaId('fetcher', 'node-1.local', 42, 'a1b2c3'), 'fetcher-node-1.local-42-a1b2c3');
    assert.equal(replicaId('cleaner', 'we{ird} host:1', 7, 'ff'), 'cleaner-we_ird__host_1-7-ff');
  });

  it('measures pages/s over the last window of a growing total', () => {
    const w = new RateWindow(10_000);
    assert.equal(w.rate(), 0, 'no samples');
    w.add(0, 0);
    assert.equal(w.rate(), 0, 'one sample');
    w.add(2000, 20);
    assert.equal(w.rate(), 10);
    w.add(4000, 20);
    assert.equal(w.rate(), 5, 'idle for half the window');
    // Only the samples of the last 10 s count (the window starts at t=12000 here): 20 → 120 over 10 s.
    w.add(12_000, 20);
    w.add(22_000, 120);
    assert.equal(w.rate(), 10, 'older samples dropped');
    w.add(24_000, 0);
    assert.equal(w.rate(), 0, 'a total that went down (reset) is no negative rate');
  });

  it('parses a stored record and refuses what is none', () => {
    const r = record();
    assert.deepEqual(parseReplicaRecord(JSON.stringify(r)), r);
    assert.equal(parseReplicaRecord(null), null);
    assert.equal(parseReplicaRecord('{not json'), null);
    assert.equal(parseReplicaRecord(JSON.stringify({ id: 'x', service: 'fetcher' })), null);
  });

  it('answers a record with its beat as ISO text and its age', () => {
    const v = replicaView(record({ beatAt: 1_000_000 }), 1_000_750);
    assert.equal(v.beatAt, new Date(1_000_000).toISOString());
    assert.equal(v.ageMs, 750);
    assert.equal(replicaView(record({ beatAt: 2000 }), 1000).ageMs, 0, 'a replica clock ahead of the reader gives age 0');
  });

  it('orders replicas by service (start order), then id', () => {
    const rs = [record({ id: 'b', service: 'fetcher' }), record({ id: 'z', service: 'controller' }), record({ id: 'a', service: 'fetcher' }), record({ id: 'c', service: 'cleaner' })];
    assert.deepEqual(rs.sort(compareReplicas).map((r) => r.id), ['z', 'a', 'b', 'c']);
  });

  it('counts a rollout: replicas at the version or newer are current, the others are named', () => {
    const rs = [record({ id: 'a', configVersion: 4 }), record({ id: 'b', configVersion: 5 }), record({ id: 'c', configVersion: 6, service: 'delivery' })];
    const cases: { version: number; current: number; behind: string[] }[] = [
      { version: 0, current: 3, behind: [] },
      { version: 4, current: 3, behind: [] },
      { version: 5, current: 2, behind: ['a'] },
      { version: 6, current: 1, behind: ['a', 'b'] },
      { version: 7, current: 0, behind: ['a', 'b', 'c'] },
    ];
    for (const c of cases) {
      const r = rolloutOf(rs, c.version);
      assert.equal(r.version, c.version);
      assert.equal(r.replicas, 3);
      assert.equal(r.current, c.current, `version ${c.version}`);
      assert.deepEqual(r.behind.map((b) => b.id), c.behind);
    }
    assert.deepEqual(rolloutOf([], 9), { version: 9, replicas: 0, current: 0, behind: [] });
    assert.deepEqual(rolloutOf(rs, 5).behind[0], { id: 'a', service: 'fetcher', host: 'h', configVersion: 4 });
  });

  it('renders the rollout and the replicas table for crawlctl', () => {
    assert.equal(renderRollout({ version: 5, replicas: 3, current: 3, behind: [] }), 'rollout of version 5: 3 of 3 replicas');
    assert.equal(renderRollout({ version: 5, replicas: 1, current: 0, behind: [{ id: 'x', service: 'fetcher', host: 'h', configVersion: 4 }] }), 'rollout of version 5: 0 of 1 replica; behind: x (v4)');
    const table = renderReplicas([replicaView(record({ ready: false, reasons: ['not consuming from q'], lastError: 'not consuming from q' }), 1_000_000)]).split('\n');
    assert.match(table[0] ?? '', /^SERVICE\s+ID\s+HOST\s+PID\s+VERSION\s+CONFIG\s+IN FLIGHT\s+PAGES\/S\s+READY\s+LAST ERROR$/);
    assert.match(table[1] ?? '', /^fetcher\s+fetcher-h-1-abc\s+h\s+1\s+1\.0\.0\s+3\s+4\s+12\.5\s+no: not consuming from q\s+not consuming from q$/);
    assert.equal(renderReplicas([]), 'no live replicas');
  });
});
