/**
 * Worker threads' scheduling on Linux (services/extractor/thread-cpu.ts): thread ids, per-thread
 * niceness and CPU time read from /proc, and the parse pool's bound in CPU time (a worker that
 * yielded the CPU is not cut short; one that spins is; none outlives 5x its bound in wall time).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { CrawlError } from '../../../shared/errors/index.js';
import { ParsePool, WALL_BOUND_FACTOR, type ParseJob } from '../../../services/extractor/parse-pool.js';
import { currentThreadId, setThreadNiceness, threadCpuMs } from '../../../services/extractor/thread-cpu.js';

const linux = process.platform === 'linux';

/** Niceness of each thread of this process (field 19 of /proc/self/task/<tid>/stat). */
function threadNiceness(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
    out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
  }
  return out;
}

const workerUrl = new URL('../../support/timed-parse-worker.js', import.meta.url);
function job(pageUrl: string, timeoutMs: number): ParseJob {
  return { body: Buffer.from('x'), contentType: 'text/html', pageUrl, fields: {}, opts: { followNofollow: false, maxLinks: 10 }, timeoutMs };
}
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof CrawlError ? e.code : String(e);
  }
}

describe('thread scheduling of the parse workers', function () {
  this.timeout(30_000);
  before(function () {
    if (!linux) this.skip(); // per-thread /proc and setpriority are Linux's; elsewhere the pool uses wall-clock bounds
  });

  it('reads the thread id and its CPU time, which grows with work', () => {
    const tid = currentThreadId();
    assert.ok(tid !== null && tid > 0);
    // The main thread's id is the process id.
    assert.equal(tid, process.pid);
    const before = threadCpuMs(tid);
    assert.ok(before !== null);
    // Spin on this thread until its own CPU time has grown by 150 ms (however loaded the
    // machine), at most 20 s. Not until the process has used 150 ms: other threads of this
    // mocha process (GC helpers, workers of earlier tests) count there too.
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    let after = before;
    while (performance.now() - started < 20_000) {
      after = threadCpuMs(tid) ?? Number.NaN;
      if (!(after - before < 150)) break;
    }
    const used = process.cpuUsage(cpu0);
    const wall = performance.now() - started;
    assert.ok(after - before >= 150, `the thread's CPU time grew ${after - before} ms in ${Math.round(wall)} ms of spinning`);
    // Read in ticks of 10 ms: allow two ticks of rounding against the process's and the clock's figures.
    assert.ok(after - before <= (used.user + used.system) / 1000 + 20, `the thread (${after - before} ms) used no more than its process (${(used.user + used.system) / 1000} ms)`);
    assert.ok(after - before <= wall + 20, `the thread (${after - before} ms) used no more than the time spent (${Math.round(wall)} ms)`);
    assert.equal(threadCpuMs(2 ** 30), null, 'a thread that does not exist');
  });

  it('gives the document workers their niceness, and leaves the rest of the process alone', async () => {
    const before = threadNiceness();
    const pool = new ParsePool(() => 1, { inlineBytes: -1, workerUrl, niceness: () => 7 });
    try {
      assert.equal((await pool.parse(job('sleep:1', 5000))) !== null, true);
      const after = threadNiceness();
      const niced = [...after].filter(([tid, n]) => n === 7 && before.get(tid) !== 7);
      assert.equal(niced.length, 1, `one new thread at niceness 7: ${JSON.stringify([...after])}`);
      assert.equal(after.get(process.pid), before.get(process.pid), 'the main thread keeps its niceness');
    } finally {
      await pool.close();
    }
    assert.equal(setThreadNiceness(2 ** 30, 5), false, 'a thread that does not exist');
  });

  it('bounds a parse by its CPU time in a pool with a niceness: a waiting worker finishes, a spinning one is stopped, none outlives the wall bound', async () => {
    // A niceness of 0: CPU-time bounds, at normal priority.
    const pool = new ParsePool(() => 3, { inlineBytes: -1, workerUrl, niceness: () => 0 });
    try {
      const bound = 300;
      const started = Date.now();
      const [waited, spun, stuck] = await Promise.all([
        // 2x the bound in wall time but no CPU: not cut short.
        outcome(pool.parse(job(`sleep:${bound * 2}`, bound))),
        // The CPU bound passes (or, on a starved machine, the wall bound): stopped.
        outcome(pool.parse(job(`spin:${bound * WALL_BOUND_FACTOR * 4}`, bound))),
        // Never using CPU, past the wall bound: stopped all the same.
        outcome(pool.parse(job(`sleep:${bound * WALL_BOUND_FACTOR * 4}`, bound))),
      ]);
      assert.deepEqual({ waited, spun, stuck }, { waited: 'ok', spun: 'parse_timeout', stuck: 'parse_timeout' });
      assert.ok(Date.now() - started < bound * WALL_BOUND_FACTOR * 4, 'the stuck worker was stopped at the wall bound, before it woke');
    } finally {
      await pool.close();
    }
  });
});
