/**
 * The oracle of the reliability tests (DESIGN.md §3): after a run, every admitted URL reached
 * exactly one terminal state, the output holds no URL twice, nothing expected is missing, the
 * counters agree with the ledger, and no work is left in the queues.
 */
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { parseLedgerEntry } from '../../shared/ledger/index.js';
import type { BatchCodec } from '../../shared/messaging/batch.js';
import type { Broker } from '../../shared/messaging/broker.js';
import { topology } from '../../shared/messaging/topology.js';
import { createRedis } from '../../shared/redis/client.js';
import { redisKeys } from '../../shared/redis/keys.js';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { AMQP_URL, REDIS_URL, http, waitFor } from './stack.js';

export interface OracleReport {
  admitted: number;
  delivered: number;
  failed: number;
  skipped: number;
  records: number;
  duplicates: number;
  lost: number;
  unexpected: number;
  nonTerminal: number;
}

const TERMINAL = new Set(['D', 'X', 'S', 'C']);

/** Ready plus unacknowledged messages of the namespace's queues (from checkQueue: ready only). */
/** Takes (and acks) every message waiting on a queue; the tasks they carry, in order. */
export async function takeAll<T>(broker: Broker, queue: string, codec: BatchCodec<T>): Promise<T[]> {
  return broker.withChannel(async (ch) => {
    const items: T[] = [];
    for (let msg = await ch.get(queue); msg; msg = await ch.get(queue)) {
      items.push(...codec.decode(msg));
      ch.ack(msg);
    }
    return items;
  });
}

export async function queueDepths(ns: string, amqpUrl = AMQP_URL): Promise<Record<string, number>> {
  const conn = await amqp.connect(amqpUrl);
  try {
    const ch = await conn.createChannel();
    const t = topology(ns);
    const out: Record<string, number> = {};
    for (const q of t.allQueues) out[q] = (await ch.checkQueue(q)).messageCount;
    return out;
  } finally {
    await conn.close();
  }
}

export async function checkInvariants(api: string, ns: string, sessionId: string, expected: ReadonlySet<string> | null, servers: { amqpUrl?: string; redisUrl?: string } = {}): Promise<OracleReport> {
  const res = await http(api, 'GET', `/sessions/${sessionId}/results`);
  assert.equal(res.status, 200);
  const records = res.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord);
  const urls = records.map((r) => r.url);
  const unique = new Set(urls);
  // A cluster URL (redis+cluster://) gets a cluster client.
  const redis = createRedis(servers.redisUrl ?? REDIS_URL, { name: 'oracle' });
  let ledger: Record<string, string>;
  let session: Record<string, string>;
  try {
    const k = redisKeys(ns).session(sessionId);
    ledger = await redis.hgetall(k.tasks);
    session = await redis.hgetall(k.session);
  } finally {
    redis.disconnect();
  }
  const states = Object.values(ledger).map((v) => parseLedgerEntry(v)?.state ?? '?');
  const report: OracleReport = {
    admitted: Number(session.admitted ?? 0),
    delivered: Number(session.delivered ?? 0),
    failed: Number(session.failed ?? 0),
    skipped: Number(session.skipped ?? 0),
    records: records.length,
    duplicates: urls.length - unique.size,
    lost: expected ? [...expected].filter((u) => !unique.has(u)).length : 0,
    unexpected: expected ? [...unique].filter((u) => !expected.has(u)).length : 0,
    nonTerminal: states.filter((s) => !TERMINAL.has(s)).length,
  };
  assert.equal(report.duplicates, 0, `no URL twice: ${JSON.stringify(report)}`);
  assert.equal(report.lost, 0, `nothing lost: ${JSON.stringify(report)}; e.g. ${expected ? [...expected].filter((u) => !unique.has(u)).slice(0, 3).join(' ') : ''}`);
  assert.equal(report.unexpected, 0, `nothing unexpected: ${JSON.stringify(report)}`);
  assert.equal(report.nonTerminal, 0, `every admitted URL terminal: ${JSON.stringify(report)}`);
  assert.equal(Object.keys(ledger).length, report.admitted, 'the ledger holds every admitted URL once');
  const terminal = report.delivered + report.failed + report.skipped + Number(session.cancelled ?? 0);
  assert.equal(terminal, report.admitted, `counters agree with the ledger: ${JSON.stringify(report)}`);
  // Records: one per delivered or failed URL, and per URL skipped by a fetcher (robots);
  // tasks ended by the cleaner or a cancellation have none.
  assert.ok(report.records >= report.delivered + report.failed && report.records <= report.delivered + report.failed + report.skipped, `one record per delivered or failed URL: ${JSON.stringify(report)}`);
  // No work left behind on any queue (a quarantined batch that crashes its consumer drains one restart at a time: give it a minute).
  let last: Record<string, number> = {};
  const depths = await waitFor(
    async () => {
      last = await queueDepths(ns, servers.amqpUrl);
      return Object.values(last).every((n) => n === 0) ? last : null;
    },
    { timeoutMs: 60_000, intervalMs: 250, what: 'empty queues' },
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${JSON.stringify(Object.fromEntries(Object.entries(last).filter(([, n]) => n > 0)))}`);
  });
  assert.ok(depths);
  return report;
}

/** Waits until the session leaves `running` and is handed over; tolerant of a controller that is restarting. */
export async function waitFinished(api: string, sessionId: string, timeoutMs: number): Promise<{ status: string; counts: Record<string, number> }> {
  return waitFor(
    async () => {
      const s = await http<{ status: string; handedOverAt: string | null; counts: Record<string, number> }>(api, 'GET', `/sessions/${sessionId}`);
      return s.status === 200 && s.body.status !== 'running' && s.body.handedOverAt ? s.body : null;
    },
    { timeoutMs, intervalMs: 250, what: `session ${sessionId} to finish` },
  );
}
