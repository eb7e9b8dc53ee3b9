/**
 * A document worker thread: takes one document at a time from its pool (a ParsePool of the
 * documents stage, parse-pool.ts) and answers with the parsed document or the catalogue
 * error. Loads only the document parsers (pdf.js on first use).
 */
import { parentPort } from 'node:worker_threads';
import { CrawlError } from '../../../shared/errors/index.js';
import type { ParseRequest, ParseResponse } from '../parse-pool.js';
import { currentThreadId } from '../thread-cpu.js';
import { parseDocumentFile } from './index.js';

const port = parentPort;
if (!port) throw new Error('documents/worker.js runs as a worker thread');
port.on('message', (job: ParseRequest) => {
  void (async () => {
    let reply: ParseResponse;
    try {
      const body = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
      reply = { id: job.id, ok: true, page: await parseDocumentFile(body, job.contentType, job.pageUrl, job.opts) };
    } catch (err) {
      reply = err instanceof CrawlError
        ? { id: job.id, ok: false, code: err.code, message: err.message }
        : { id: job.id, ok: false, message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
    }
    port.postMessage(reply);
  })();
});
port.postMessage({ ready: true, tid: currentThreadId() } satisfies ParseResponse);
