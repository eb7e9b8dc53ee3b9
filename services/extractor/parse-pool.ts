/**
 * A pool of parse worker threads. A page is parsed off the service's event loop (AMQP
 * heartbeats, other pages and acks carry on), within a time bound: a worker still busy after
 * `timeoutMs` is terminated and the page fails with parse_timeout; a worker that dies (out
 * of its memory limit, a crash) fails its page with parse_failed. Either way the pool
 * replaces the worker on demand, and the service process is never at risk.
 *
 * Why a pool and not only a size cap: htmlparser2 keeps its open-element stack with
 * `unshift`/`indexOf`, so deep nesting costs quadratic time (100,000 nested `<div>`s take
 * several seconds to tokenize, and every CSS query over the deep tree seconds more); no input
 * cap small enough to prevent that would keep ordinary large pages. The byte cap
 * (extract.maxHtmlBytes) bounds memory; the worker bounds time.
 *
 * Workers start on demand and end after WORKER_IDLE_MS without work, so a replica that met a
 * few large documents gives their heaps back.
 *
 * Pages of at most INLINE_PARSE_BYTES are parsed on the calling thread: a worker round trip
 * costs about as much CPU as parsing a small page, and the worst 16 KiB of HTML measured
 * (misnested `<b><i>` runs, 100,000-deep nesting cut to size, open tables) parses in under
 * 0.1 s, which bounds how long the event loop can be held. That holds for pages whose
 * session asks for converted formats too: sending those to the workers whatever their size
 * was measured (`node dist/bench/run.js --quick --scenario content`, quiet machine) at 0.48x
 * of the converting baseline against 0.54x inline (the extractor's CPU per page 13.7 ms
 * against 8.9 ms), so small pages stay inline.
 */
import { Worker } from 'node:worker_threads';
import { CrawlError } from '../../shared/errors/index.js';
import type { Config } from '../../shared/config/index.js';
import type { TaskRole } from '../../shared/tasks/types.js';
import { parseDocument, type ParsedPage, type ParseOptions } from './parse.js';
import { setThreadNiceness, threadCpuMs } from './thread-cpu.js';

/** Bodies up to this size are parsed inline (see the module comment). */
export const INLINE_PARSE_BYTES = 16 * 1024;

/** Whether a job is parsed on the calling thread (see the module comment). */
export function parsesInline(job: Pick<ParseJob, 'body'>, inlineBytes = INLINE_PARSE_BYTES): boolean {
  return job.body.length <= inlineBytes;
}

export interface ParseRequest {
  id: number;
  body: Uint8Array;
  contentType: string;
  pageUrl: string;
  fields: Readonly<Record<string, string>>;
  opts: ParseOptions;
  role?: TaskRole | undefined;
}

export type ParseResponse =
  | { id: number; ok: true; page: ParsedPage }
  /** `code` when the parser refused the document with a catalogue error (too_large, parse_failed, document_encrypted, document_corrupt). */
  | { id: number; ok: false; message: string; code?: string }
  /** Sent once, when the worker has loaded the parser: the time bound starts from then. `tid`: its kernel thread id (Linux; thread-cpu.ts). */
  | { ready: true; tid?: number | null };

export interface ParseJob {
  body: Buffer;
  contentType: string;
  pageUrl: string;
  fields: Readonly<Record<string, string>>;
  opts: ParseOptions;
  /** What the document is (see parseDocument); absent for a page. */
  role?: TaskRole | undefined;
  /** Longest time the parse may take once a worker has it. */
  timeoutMs: number;
}

interface Pending {
  job: ParseJob;
  resolve: (page: ParsedPage) => void;
  reject: (err: CrawlError) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  busy: Pending | null;
  timer: NodeJS.Timeout | null;
  id: number;
  /** The worker's kernel thread id, when the system tells (Linux): its parses are bounded in CPU time. */
  tid: number | null;
  /** Ends the worker once it has been idle for WORKER_IDLE_MS. */
  idle: NodeJS.Timeout | null;
}

/**
 * A worker idle this long ends, and its heap goes back to the system: a worker that parsed a
 * large PDF keeps a heap of a hundred MB or more (its young generation alone may reach
 * RESOURCE_LIMITS' 64 MB), so an extractor that met a few documents stayed hundreds of MB
 * above its pages' needs for the rest of its life. The next large page or document waits for
 * a new worker to load its parser (its time bound starts only then).
 */
export const WORKER_IDLE_MS = 30_000;

/**
 * A parse bounded in CPU time may still not take longer than this many times its bound in
 * wall-clock time (a worker starved of CPU by a saturated machine ends all the same).
 */
export const WALL_BOUND_FACTOR = 5;

/** Catalogue codes of a worker's refusal that the page keeps (any other error becomes parse_failed). */
const KEPT_CODES: ReadonlySet<string> = new Set(['too_large', 'parse_failed', 'document_encrypted', 'document_corrupt']);
type KeptCode = 'too_large' | 'parse_failed' | 'document_encrypted' | 'document_corrupt';

/** Memory limits of one worker: an over-large DOM kills the worker, not the service. */
const RESOURCE_LIMITS = { maxOldGenerationSizeMb: 768, maxYoungGenerationSizeMb: 64, stackSizeMb: 16 };
/**
 * A document worker's: a young generation of 16 MB, not 64. Two document workers that had
 * parsed 8 PDFs (Debian's libtasn1 manual) held 353 MB of the process with 64 MB and 267 MB
 * with 16, and parsed the same PDFs as fast (`node dist/bench/documents.js --quick`, the two
 * alternated twice: 7.8-9.6 against 7.7-11.1 ms per PDF page).
 */
const DOCUMENT_RESOURCE_LIMITS = { ...RESOURCE_LIMITS, maxYoungGenerationSizeMb: 16 };

export class ParsePool {
  private readonly slots = new Set<Slot>();
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  /** `size()` is read on each dispatch, so the pool follows live concurrency changes. */
  constructor(
    private readonly size: () => number,
    /**
     * `inlineBytes` -1: nothing inline (the documents stage); `workerUrl`: the worker's module
     * (default parse-worker.js); `niceness`: scheduling niceness (0..19) given to each worker
     * when it starts, on Linux (the documents stage: pages win the CPU when both compete); a
     * pool with a niceness bounds its parses in CPU time (see startTimer), the others in
     * wall-clock time; `idleMs`: how long a worker may stay idle (default WORKER_IDLE_MS);
     * `resourceLimits`: each worker's heap limits (default RESOURCE_LIMITS).
     */
    private readonly opts: { inlineBytes?: number; workerUrl?: URL; niceness?: () => number; idleMs?: number; resourceLimits?: typeof RESOURCE_LIMITS } = {},
  ) {}

  parse(job: ParseJob): Promise<ParsedPage> {
    if (this.closed) return Promise.reject(new CrawlError('unavailable', 'parse pool closed'));
    if (parsesInline(job, this.opts.inlineBytes)) {
      try {
        return Promise.resolve(parseDocument(job.body, job.contentType, job.pageUrl, job.fields, job.opts, job.role));
      } catch (err) {
        if (err instanceof CrawlError) return Promise.reject(err);
        return Promise.reject(new CrawlError('parse_failed', `${job.pageUrl}: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
      }
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  /** Starts one worker now (loading the parser takes a while), so the first big page after start-up does not wait; more start on demand, and idle ones end (WORKER_IDLE_MS). */
  warm(): void {
    if (!this.closed && this.slots.size === 0) this.spawn();
  }

  /** Workers alive (busy or idle). */
  get workers(): number {
    return this.slots.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new CrawlError('unavailable', 'parse pool closed'));
    await Promise.all([...this.slots].map((s) => this.kill(s, new CrawlError('unavailable', 'parse pool closed'))));
  }

  private dispatch(): void {
    // Idle workers beyond the wanted size go (the pool shrinks after a live change).
    const wanted = Math.max(1, this.size());
    for (const s of this.slots) {
      if (this.slots.size <= wanted) break;
      if (!s.busy) void this.kill(s, null);
    }
    while (this.queue.length > 0) {
      let slot = [...this.slots].find((s) => !s.busy);
      if (!slot) {
        if (this.slots.size >= wanted) return;
        slot = this.spawn();
      }
      this.run(slot, this.queue.shift() as Pending);
    }
  }

  private spawn(): Slot {
    const worker = new Worker(this.opts.workerUrl ?? new URL('./parse-worker.js', import.meta.url), { resourceLimits: this.opts.resourceLimits ?? RESOURCE_LIMITS });
    worker.unref();
    const slot: Slot = { worker, ready: false, busy: null, timer: null, id: 0, tid: null, idle: null };
    worker.on('message', (msg: ParseResponse) => {
      if ('ready' in msg) {
        slot.ready = true;
        slot.tid = msg.tid ?? null;
        const niceness = this.opts.niceness?.() ?? 0;
        if (slot.tid !== null && niceness > 0) setThreadNiceness(slot.tid, niceness);
        if (slot.busy) this.startTimer(slot, slot.busy);
        return;
      }
      const p = slot.busy;
      if (!p || msg.id !== slot.id) return;
      this.settle(slot);
      if (msg.ok) p.resolve(msg.page);
      else if (msg.code !== undefined && KEPT_CODES.has(msg.code)) p.reject(new CrawlError(msg.code as KeptCode, msg.message));
      else p.reject(new CrawlError('parse_failed', `${p.job.pageUrl}: ${msg.message}`));
      this.dispatch();
    });
    worker.on('error', (err) => {
      void this.kill(slot, new CrawlError('parse_failed', `parse worker failed: ${err.message}`, { cause: err }));
    });
    worker.on('exit', (code) => {
      if (this.slots.has(slot)) void this.kill(slot, new CrawlError('parse_failed', `parse worker exited with code ${code}`));
    });
    this.slots.add(slot);
    this.idleFrom(slot);
    return slot;
  }

  private run(slot: Slot, p: Pending): void {
    this.busyFrom(slot);
    slot.busy = p;
    slot.id = this.nextId++;
    const { job } = p;
    // A new worker is still loading the parser: its page's clock starts when it is ready.
    if (slot.ready) this.startTimer(slot, p);
    const request: ParseRequest = { id: slot.id, body: job.body, contentType: job.contentType, pageUrl: job.pageUrl, fields: job.fields, opts: job.opts, role: job.role };
    slot.worker.postMessage(request);
  }

  /**
   * Bounds the parse by `timeoutMs` of wall-clock time; in a pool with a niceness, by
   * `timeoutMs` of the worker thread's own CPU time when the system tells it (a worker that
   * yielded the CPU to pages is not cut short for it), and by WALL_BOUND_FACTOR times that in
   * wall-clock time in any case.
   */
  private startTimer(slot: Slot, p: Pending): void {
    const { job } = p;
    const startedAt = Date.now();
    const cpuAtStart = slot.tid === null || this.opts.niceness === undefined ? null : threadCpuMs(slot.tid);
    const expire = (): void => {
      const cpuNow = cpuAtStart === null || slot.tid === null ? null : threadCpuMs(slot.tid);
      const cpuUsed = cpuNow === null || cpuAtStart === null ? null : cpuNow - cpuAtStart;
      const wallLeft = job.timeoutMs * WALL_BOUND_FACTOR - (Date.now() - startedAt);
      if (cpuUsed !== null && cpuUsed < job.timeoutMs && wallLeft > 0) {
        // Not yet over its CPU bound: look again when it could be at the earliest.
        slot.timer = setTimeout(expire, Math.max(10, Math.min(job.timeoutMs - cpuUsed, wallLeft)));
        return;
      }
      void this.kill(slot, new CrawlError('parse_timeout', `${job.pageUrl}: parsing took longer than ${job.timeoutMs} ms`, { details: { limitMs: job.timeoutMs } }));
    };
    slot.timer = setTimeout(expire, job.timeoutMs);
  }

  private settle(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    slot.busy = null;
    this.idleFrom(slot);
  }

  /** The worker has work: it no longer ends for idleness. */
  private busyFrom(slot: Slot): void {
    if (slot.idle) clearTimeout(slot.idle);
    slot.idle = null;
  }

  /** From now on the worker is idle: it ends after `idleMs` (WORKER_IDLE_MS) unless given a job. */
  private idleFrom(slot: Slot): void {
    this.busyFrom(slot);
    if (!this.slots.has(slot)) return;
    slot.idle = setTimeout(() => void this.kill(slot, null), this.opts.idleMs ?? WORKER_IDLE_MS);
    slot.idle.unref();
  }

  /** Ends a worker; its page (if any) fails with `err`; waiting pages go to another worker. */
  private async kill(slot: Slot, err: CrawlError | null): Promise<void> {
    if (!this.slots.delete(slot)) return;
    const p = slot.busy;
    this.settle(slot);
    if (p && err) p.reject(err);
    if (!this.closed) this.dispatch();
    await slot.worker.terminate().catch(() => undefined);
  }
}

/**
 * The documents stage's pool: `documents.concurrency` document workers (PDF, DOCX, feeds,
 * text), nothing inline, at `documents.niceness` so pages win the CPU when both compete, each
 * with the smaller young generation of DOCUMENT_RESOURCE_LIMITS.
 */
export function documentPool(config: () => Pick<Config, 'documents'>): ParsePool {
  return new ParsePool(() => config().documents.concurrency, {
    inlineBytes: -1,
    workerUrl: new URL('./documents/worker.js', import.meta.url),
    niceness: () => config().documents.niceness,
    resourceLimits: DOCUMENT_RESOURCE_LIMITS,
  });
}
