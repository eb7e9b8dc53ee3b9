/**
 * Replicas end to end: the five service processes of a stack (controller, fetcher,
 * extractor, delivery, cleaner) each appear in GET /replicas with their own pid, and
 * `crawlctl replicas` (the real bin, a child process) prints them as a table and as JSON.
 * A process killed with SIGKILL leaves the list once its heartbeat expired.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../shared/paths.js';
import { SERVICE_NAMES } from '../../shared/pipeline/services.js';
import type { ReplicaView } from '../../shared/service/heartbeat.js';
import { http, startTestStack, waitFor, type TestStack } from '../support/stack.js';

const run = promisify(execFile);
const CRAWLCTL = join(packageRoot, 'bin', 'crawlctl.js');

describe('replicas: every process of a stack reports itself', function () {
  this.timeout(60_000);
  let stack: TestStack;

  before(async () => {
    stack = await startTestStack({ fetchers: 1, env: { REPLICAS_HEARTBEAT_MS: '200', REPLICAS_MISSED_BEATS: '5' } });
  });

  after(async () => {
    await stack.stop();
  });

  const live = async (): Promise<ReplicaView[]> => {
    const res = await http<{ replicas: ReplicaView[] }>(stack.api, 'GET', '/replicas');
    assert.equal(res.status, 200, `GET /replicas: ${res.text}`);
    return res.body.replicas;
  };

  it('GET /replicas lists the five processes; crawlctl replicas prints them', async () => {
    const labels = stack.supervisor.labels();
    assert.equal(labels.length, 5);
    const all = await waitFor(async () => {
      const rs = await live();
      return rs.length === 5 && rs.every((r) => r.ready) ? rs : null;
    }, { timeoutMs: 15_000, what: 'five ready replicas' });
    // Every service the stack runs (test stacks run no renderer unless asked), in registry order.
    assert.deepEqual(all.map((r) => r.service), SERVICE_NAMES.filter((s) => labels.some((l) => l.split('.')[0] === s)));
    assert.deepEqual(new Set(all.map((r) => r.pid)), new Set(labels.map((l) => stack.supervisor.pid(l))), 'one heartbeat per process, by pid');
    assert.equal(new Set(all.map((r) => r.id)).size, 5);

    const json = await run(process.execPath, [CRAWLCTL, '--api', stack.api, '--json', 'replicas'], { env: { PATH: process.env.PATH ?? '' } });
    const printed = (JSON.parse(json.stdout) as { replicas: ReplicaView[] }).replicas;
    assert.deepEqual(new Set(printed.map((r) => r.id)), new Set(all.map((r) => r.id)));
    assert.ok(printed.every((r) => typeof r.configVersion === 'number' && typeof r.inFlight === 'number' && typeof r.pagesPerSecond === 'number'));

    const table = (await run(process.execPath, [CRAWLCTL, '--api', stack.api, 'replicas'], { env: { PATH: process.env.PATH ?? '' } })).stdout.trim().split('\n');
    assert.match(table[0] ?? '', /^SERVICE\s+ID\s+HOST\s+PID\s+VERSION\s+CONFIG\s+IN FLIGHT\s+PAGES\/S\s+READY\s+LAST ERROR$/);
    assert.equal(table.length, 6);
    for (const r of all) assert.ok(table.some((line) => line.startsWith(r.service) && line.includes(r.id) && line.includes(String(r.pid))), `a row for ${r.id}`);
  });

  it('a process killed with SIGKILL leaves the list after its heartbeat expired', async () => {
    const label = stack.supervisor.labels().find((l) => l.startsWith('cleaner')) as string;
    const pid = stack.supervisor.pid(label);
    const victim = (await live()).find((r) => r.pid === pid);
    assert.ok(victim, 'the cleaner is listed');
    assert.ok(stack.supervisor.signal(label, 'SIGKILL'));
    const killed = Date.now();
    await waitFor(async () => !(await live()).some((r) => r.id === victim.id), { timeoutMs: 5000, intervalMs: 50, what: 'the killed replica to expire' });
    assert.ok(Date.now() - killed <= 2000, `gone after ${Date.now() - killed} ms (ttl 1000 ms)`);
  });
});
