/**
 * A parse worker for the pool's time-bound tests: a job whose pageUrl is `sleep:<ms>` waits
 * that long without using the CPU (Atomics.wait), `spin:<ms>` keeps the CPU busy that long;
 * then it answers with a page titled by what it did. Reports its thread id as the real workers do.
 */
import { parentPort } from 'node:worker_threads';
import type { ParsedPage } from '../../services/extractor/parse.js';
import type { ParseRequest, ParseResponse } from '../../services/extractor/parse-pool.js';
import { currentThreadId } from '../../services/extractor/thread-cpu.js';

const port = parentPort;
if (!port) throw new Error('timed-parse-worker.js runs as a worker thread');
port.on('message', (job: ParseRequest) => {
  const [what, ms] = job.pageUrl.split(':');
  const until = Date.now() + Number(ms);
  if (what === 'sleep') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(ms));
  else while (Date.now() < until); // spin
  port.postMessage({ id: job.id, ok: true, page: { title: job.pageUrl } as unknown as ParsedPage } satisfies ParseResponse);
});
port.postMessage({ ready: true, tid: currentThreadId() } satisfies ParseResponse);
