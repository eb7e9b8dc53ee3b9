/**
 * Cancel, pause and resume against the real Redis: the session scripts (cancel-1, pause-1,
 * resume-1), what the ledger scripts do with a paused or cancelled session (claim-3,
 * cancel-task-3, admit-found-5, finish-3 through delivery's protocol), the control channel,
 * and the status reads of the fetchers' session watch.
 */
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { SessionStore, TaskLedger, type LinkToAdmit } from '../../shared/ledger/index.js';
import { createRedis } from '../../shared/redis/client.js';
import { redisKeys } from '../../shared/redis/keys.js';
import { RedisResultsStore } from '../../shared/results/redis.js';
import { bareRecord, deliverMessage } from '../../shared/tasks/records.js';
import type { Outcome, SessionSpec } from '../../shared/tasks/types.js';
import { deliverRecords } from '../../services/delivery/records.js';
import { SessionWatch } from '../../services/fetcher/session-watch.js';
import { fingerprint } from '../../shared/url/normalize.js';
import { REDIS_URL, cleanupNamespace, testNamespace, waitFor } from '../support/stack.js';

function spec(over: Partial<SessionSpec> = {}): SessionSpec {
  return { seeds: ['http://site.test/'], maxPages: 10_000, maxDepth: 10, timeoutMs: 60_000, allowedHosts: ['site.test'], include: [], exclude: [], fields: {}, webhook: null, label: null, ...over };
}

const link = (url: string, depth = 1): LinkToAdmit => ({ taskId: fingerprint(url), depth, url });
const CLAIM = { leaseMs: 60_000, maxAttempts: 3, takeOver: false, pauseLeaseMs: 5000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('session control: cancel, pause, resume (real Redis)', function () {
  this.timeout(30_000);
  const ns = testNamespace('i');
  const keys = redisKeys(ns);
  let redis: Redis;
  let sub: Redis;
  let sessions: SessionStore;
  let tasks: TaskLedger;
  let results: RedisResultsStore;
  const heard: string[] = [];

  const deliver = (id: string, l: LinkToAdmit, outcome: Outcome, children: string[] = []) =>
    deliverRecords({ results, tasks }, id, [{ ...deliverMessage({ sessionId: id, taskId: l.taskId, url: l.url, depth: l.depth }, bareRecord({ sessionId: id, taskId: l.taskId, url: l.url, depth: l.depth }, outcome, { status: 200 })), children }]);
  const state = async (id: string, l: LinkToAdmit) => (await tasks.task(id, l.taskId))?.state;
  /** A session with one seed admitted (a session with nothing admitted completes on resume). */
  const open = async (id: string, over: Partial<SessionSpec> = {}) => {
    await sessions.create(id, spec(over), 60_000);
    await tasks.admitSeeds(id, [link('http://site.test/', 0)], 60_000);
  };
  const lease = async (id: string, l: LinkToAdmit) => Number(await redis.zscore(keys.session(id).leases, l.taskId));

  before(async () => {
    redis = createRedis(REDIS_URL, { name: 'test' });
    sub = createRedis(REDIS_URL, { name: 'test-sub', blocking: true });
    sub.on('message', (_channel: string, message: string) => heard.push(message));
    await sub.subscribe(keys.sessionsControl);
    sessions = new SessionStore(redis, keys);
    tasks = new TaskLedger(redis, keys);
    results = new RedisResultsStore(redis, keys);
  });

  after(async () => {
    sub.disconnect();
    redis.disconnect();
    await cleanupNamespace(ns);
  });

  it('pauses only a running session, resumes only a paused one, and announces each change with a growing version', async () => {
    const id = 'pause-resume';
    await open(id);
    assert.deepEqual(await sessions.pause('nope'), { kind: 'unknown' });
    assert.deepEqual(await sessions.resume(id), { kind: 'conflict', status: 'running' });
    assert.deepEqual(await sessions.pause(id), { kind: 'ok' });
    assert.deepEqual(await sessions.pause(id), { kind: 'conflict', status: 'paused' });
    const paused = await sessions.get(id);
    assert.equal(paused?.status, 'paused');
    assert.ok(paused?.pausedAt);
    const r = await sessions.resume(id);
    assert.equal(r.kind, 'ok');
    assert.equal((await sessions.get(id))?.status, 'running');
    assert.deepEqual(await sessions.controlStates([id, 'nope']), [{ status: 'running', version: 2 }, null]);
    await waitFor(async () => heard.filter((m) => m.startsWith(`${id}|`)).length === 2, { timeoutMs: 2000, what: 'two control messages' });
    assert.deepEqual(heard.filter((m) => m.startsWith(`${id}|`)), [`${id}|paused|1`, `${id}|running|2`]);
  });

  it('moves the deadline, closeAt and the due index later by the time paused, and never expires a paused session', async () => {
    const id = 'deadline';
    await open(id, { timeoutMs: 1000 });
    const before = await sessions.get(id);
    await sessions.pause(id);
    await sleep(1300);
    // Past the original deadline: still paused.
    assert.equal(await sessions.expire(id), 'unchanged');
    assert.equal((await sessions.get(id))?.status, 'paused');
    const r = await sessions.resume(id);
    assert.equal(r.kind, 'ok');
    const after = await sessions.get(id);
    const moved = Date.parse(after!.deadlineAt) - Date.parse(before!.deadlineAt);
    assert.ok(moved >= 1250 && moved < 3000, `deadline moved by the pause (${moved} ms)`);
    assert.equal(Date.parse(after!.closeAt) - Date.parse(before!.closeAt), moved);
    assert.equal(after?.pausedMs, moved);
    assert.equal(after?.pausedAt, null);
    assert.equal(Number(await redis.zscore(keys.sessionsDue, id)), Date.parse(after!.deadlineAt));
    assert.equal(await sessions.expire(id), 'unchanged', 'not due yet after the resume');
  });

  it('parks tasks claimed while paused as W without using an attempt, and claims them normally after resume', async () => {
    const id = 'claim-paused';
    await sessions.create(id, spec(), 60_000);
    const t = link('http://site.test/', 0);
    await tasks.admitSeeds(id, [t], 60_000);
    await sessions.pause(id);
    const t0 = Number((await redis.time())[0]) * 1000;
    assert.deepEqual(await tasks.claim(id, [t.taskId], CLAIM), [{ kind: 'paused', attempt: 0 }]);
    assert.equal(await state(id, t), 'W');
    const l = await lease(id, t);
    assert.ok(l >= t0 + 4000 && l <= t0 + 7000, `the pause lease (${l - t0} ms)`);
    // Again and again while paused: still no attempt used.
    assert.deepEqual(await tasks.claim(id, [t.taskId], CLAIM), [{ kind: 'paused', attempt: 0 }]);
    await sessions.resume(id);
    assert.deepEqual(await tasks.claim(id, [t.taskId], CLAIM), [{ kind: 'ok', attempt: 1 }]);
    // Paused again while the task is claimed: the fetcher hands it back with its attempt (defer-3).
    await sessions.pause(id);
    assert.equal(await tasks.defer(id, t.taskId, 1, 5000), true);
    assert.deepEqual(await tasks.task(id, t.taskId), { state: 'W', attempt: 0, depth: 0, parent: '', url: t.url });
  });

  it('admits links of pages fetched before the pause, and completes only on resume', async () => {
    const id = 'admit-paused';
    await sessions.create(id, spec(), 60_000);
    const seed = link('http://site.test/', 0);
    const child = link('http://site.test/a');
    await tasks.admitSeeds(id, [seed], 60_000);
    await tasks.confirmQueued(id, [seed.taskId]);
    await tasks.claim(id, [seed.taskId], CLAIM);
    await sessions.pause(id);
    const found = await tasks.admitFoundPages(id, [{ taskId: seed.taskId, links: [{ ...child, host: 'site.test' }] }], { resultLeaseMs: 60_000, admitLeaseMs: 60_000, maxPagesPerHost: 0, retentionMs: 0 });
    assert.deepEqual(found, [{ kind: 'ok', admitted: [0], limited: 0, hostLimited: 0, verdicts: 'a' }]);
    await deliver(id, seed, 'delivered', [child.taskId]);
    assert.equal(await state(id, child), 'Q', 'the child is confirmed on the queue');
    await tasks.claim(id, [child.taskId], CLAIM);
    // The child's record arrives while paused (it was on the wire): every task is terminal, yet no completion.
    await redis.hset(keys.session(id).tasks, child.taskId, `F|1|1|${seed.taskId}|${child.url}`);
    const r = await deliver(id, child, 'delivered');
    assert.equal(r.event, null);
    assert.equal((await sessions.get(id))?.status, 'paused');
    const resumed = await sessions.resume(id);
    assert.equal(resumed.kind === 'ok' && resumed.completed, true);
    assert.equal((await sessions.get(id))?.status, 'completed');
  });

  it('cancels a paused session, and ends a claimed task C only for the attempt the caller holds', async () => {
    const id = 'cancel-claimed';
    await sessions.create(id, spec(), 60_000);
    const t = link('http://site.test/', 0);
    await tasks.admitSeeds(id, [t], 60_000);
    assert.deepEqual(await tasks.claim(id, [t.taskId], CLAIM), [{ kind: 'ok', attempt: 1 }]);
    assert.equal(await tasks.cancelClaimed(id, t.taskId, 1), 'running', 'not cancelled: nothing moves');
    assert.equal(await state(id, t), 'F');
    await sessions.pause(id);
    await sleep(50);
    assert.deepEqual(await sessions.cancel(id), { kind: 'ok', status: 'paused' });
    const s = await sessions.get(id);
    assert.equal(s?.status, 'cancelled');
    assert.ok((s?.pausedMs ?? 0) >= 50);
    assert.equal(await tasks.cancelClaimed(id, t.taskId, 2), 'stale', 'another attempt');
    assert.equal(await tasks.cancelClaimed(id, t.taskId, 1), 'ok');
    assert.equal(await state(id, t), 'C');
    assert.equal(await lease(id, t), 0, 'no lease left');
    assert.equal(await tasks.cancelClaimed(id, t.taskId, 1), 'stale', 'once');
    assert.equal((await sessions.get(id))?.counts.cancelled, 1);
    assert.deepEqual(await sessions.pause(id), { kind: 'conflict', status: 'cancelled' });
    assert.deepEqual(await sessions.resume(id), { kind: 'conflict', status: 'cancelled' });
    await waitFor(async () => heard.includes(`${id}|cancelled|2`), { timeoutMs: 2000, what: 'the cancel announced' });
  });

  it('ends a task whose record reaches delivery after the cancel as cancelled, keeps no row of it and confirms none of its children', async () => {
    const id = 'cancel-late';
    await sessions.create(id, spec(), 60_000);
    const seed = link('http://site.test/', 0);
    const child = link('http://site.test/a');
    await tasks.admitSeeds(id, [seed], 60_000);
    await tasks.claim(id, [seed.taskId], CLAIM);
    await tasks.admitFoundPages(id, [{ taskId: seed.taskId, links: [{ ...child, host: 'site.test' }] }], { resultLeaseMs: 60_000, admitLeaseMs: 60_000, maxPagesPerHost: 0, retentionMs: 0 });
    // An earlier attempt wrote a row and died before its compare-and-set.
    await results.put([{ sessionId: id, taskId: seed.taskId, record: bareRecord({ sessionId: id, taskId: seed.taskId, url: seed.url, depth: 0 }, 'failed', { status: 500 }) }]);
    await sessions.cancel(id);
    const r = await deliver(id, seed, 'delivered', [child.taskId]);
    assert.deepEqual(r.accepted, []);
    assert.equal(await state(id, seed), 'C');
    assert.equal(await state(id, child), 'P', 'not confirmed: the cleaner ends it');
    assert.deepEqual((await results.list(id, { limit: 10 })).records, [], 'no row of the task is kept');
    const s = await sessions.get(id);
    assert.deepEqual([s?.counts.delivered, s?.counts.fetched, s?.counts.cancelled], [0, 0, 1]);
  });

  it('removes the row a dead attempt left when the task was cancelled before its record came back', async () => {
    const id = 'cancel-orphan';
    await sessions.create(id, spec(), 60_000);
    const seed = link('http://site.test/', 0);
    await tasks.admitSeeds(id, [seed], 60_000);
    await tasks.claim(id, [seed.taskId], CLAIM);
    // Delivery wrote the row and died before its compare-and-set; the cancel then ended the task C.
    await results.put([{ sessionId: id, taskId: seed.taskId, record: bareRecord({ sessionId: id, taskId: seed.taskId, url: seed.url, depth: 0 }, 'delivered', { status: 200 }) }]);
    await sessions.cancel(id);
    assert.equal(await tasks.cancelClaimed(id, seed.taskId, 1), 'ok');
    assert.equal(await state(id, seed), 'C');
    // The record comes back (redelivered): the task is terminal already, and a cancelled task keeps no row.
    const r = await deliver(id, seed, 'delivered');
    assert.deepEqual(r.accepted, []);
    assert.deepEqual((await results.list(id, { limit: 10 })).records, [], 'no row of a cancelled task is kept');
    assert.deepEqual([(await sessions.get(id))?.counts.delivered, (await sessions.get(id))?.counts.cancelled], [0, 1]);
  });

  it('feeds a session watch that follows the channel and reads back what it missed', async () => {
    const id = 'watch';
    await open(id);
    const watch = new SessionWatch({ read: (ids) => sessions.controlStates(ids), refreshMs: 100, idleMs: 60_000 });
    const watchSub = createRedis(REDIS_URL, { name: 'test-watch', blocking: true });
    watchSub.on('message', (_c: string, m: string) => watch.onMessage(m));
    await watchSub.subscribe(keys.sessionsControl);
    try {
      await watch.ensure(id);
      assert.equal(watch.status(id), 'running');
      await sessions.pause(id);
      await waitFor(async () => watch.status(id) === 'paused', { timeoutMs: 1000, what: 'the pause pushed' });
      // A missed message (no subscription): the refresh reads it back.
      await watchSub.unsubscribe(keys.sessionsControl);
      await sessions.resume(id);
      await sleep(100);
      assert.equal(watch.status(id), 'paused', 'not heard');
      await watch.refresh();
      assert.equal(watch.status(id), 'running');
    } finally {
      watch.close();
      watchSub.disconnect();
    }
  });
});
