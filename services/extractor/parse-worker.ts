/**
 * A parse worker thread: takes one page at a time from the pool (parse-pool.ts) and answers
 * with the parsed page or the error message. Loads only the parser, not the service.
 */
import { parentPort } from 'node:worker_threads';
import { CrawlError } from '../../shared/errors/index.js';
import { parseDocument } from './parse.js';
import type { ParseRequest, ParseResponse } from './parse-pool.js';
import { currentThreadId } from './thread-cpu.js';

const port = parentPort;
if (!port) throw new Error('parse-worker.js runs as a worker thread');
port.on('message', (job: ParseRequest) => {
  let reply: ParseResponse;
  try {
    const body = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
    reply = { id: job.id, ok: true, page: parseDocument(body, job.contentType, job.pageUrl, job.fields, job.opts, job.role) };
  } catch (err) {
    reply = err instanceof CrawlError
      ? { id: job.id, ok: false, code: err.code, message: err.message }
      : { id: job.id, ok: false, message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
  port.postMessage(reply);
});
port.postMessage({ ready: true, tid: currentThreadId() } satisfies ParseResponse);
