/**
 * The pipeline, described once: every stage with the service that consumes it, the codec of
 * its messages, how many tasks one message carries, what it publishes to, and whether its
 * backlog means the pipeline is merely slow. The queue topology (shared/messaging/topology.ts),
 * the batch limits of the outbox, the decoding of dead letters, the cleaner's backlog check
 * and the services' consumers are derived from this table; adding a stage is one entry here
 * plus its handler.
 *
 * Every stage's queue has a quarantine queue and dead-letters to the one dead queue;
 * delayed retries of any stage go through the shared delay queues and re-enter the stage's
 * own queue (see topology.ts).
 */
import type { Config } from '../config/index.js';
import type { BatchCodec } from '../messaging/batch.js';
import { deliverCodec, extractCodec, fetchCodec, renderCodec } from '../tasks/codec.js';
import { taskRef, type TaskRef } from '../tasks/records.js';
import type { DeliverMessage, ExtractTask, FetchTask, RenderTask } from '../tasks/types.js';
import type { ServiceName } from './services.js';
import { STAGE_NAMES, type StageName } from './stage-names.js';

export { STAGE_NAMES, type StageName } from './stage-names.js';

/** What one message of each stage carries (a batch of these). */
export interface StageItems extends Record<StageName, unknown> {
  fetch: FetchTask;
  extract: ExtractTask;
  /** A fetched document (PDF, DOCX, feed, text): the same task as a page, on a queue of its own. */
  document: ExtractTask;
  render: RenderTask;
  deliver: DeliverMessage;
}

export interface StageDef<S extends StageName> {
  readonly name: S;
  /** The service whose replicas consume the stage's queue. */
  readonly service: ServiceName;
  /** The codec of its messages; `live` serves codecs with live options (compression). */
  codec(live: () => Config): BatchCodec<StageItems[S]>;
  /** Tasks one message carries at most (a live setting). */
  batchSize(cfg: Config): number;
  /** The stages it publishes to. */
  readonly publishesTo: readonly StageName[];
  /**
   * Downstream of fetching, what a backlog of its queue tells the cleaner, which holds its
   * re-drives of expired leases while leases expire from slowness rather than from lost tasks:
   * `batches`: slow once the `batches` queues together hold cleaner.redriveMaxBacklog ready
   * messages (each a batch of fast tasks); `any`: a task takes seconds (a large PDF, a browser
   * render) and waits behind the ones before it, so one ready message already means
   * slowness; null: not downstream (the fetch queue).
   */
  readonly backlog: 'batches' | 'any' | null;
  /** The tasks a message of this stage names (the dead queue turns them into failed(poison)). */
  refs(items: readonly StageItems[S][]): TaskRef[];
}

export const STAGES: { readonly [S in StageName]: StageDef<S> } = {
  fetch: {
    name: 'fetch',
    service: 'fetcher',
    codec: () => fetchCodec,
    batchSize: (cfg) => cfg.amqp.fetchBatch,
    publishesTo: ['extract', 'document', 'render', 'deliver', 'fetch'],
    backlog: null,
    refs: (tasks) => tasks.map(taskRef),
  },
  extract: {
    name: 'extract',
    service: 'extractor',
    codec: (live) => extractCodec(() => live().amqp.compressPages),
    batchSize: (cfg) => cfg.amqp.extractBatch,
    publishesTo: ['fetch', 'render', 'deliver'],
    backlog: 'batches',
    refs: (pages) => pages.map(taskRef),
  },
  // Documents (PDF, DOCX, feeds, plain text) travel apart from pages, so a burst of large
  // PDFs never queues HTML behind it: their own queue, prefetch (documents.prefetch) and
  // parse workers (documents.concurrency) in the extractor. One document per message: a
  // document may be up to documents.maxBytes, and a batch of them would make one message huge.
  document: {
    name: 'document',
    service: 'extractor',
    codec: (live) => extractCodec(() => live().amqp.compressPages),
    batchSize: () => 1,
    publishesTo: ['fetch', 'deliver'],
    backlog: 'any',
    refs: (docs) => docs.map(taskRef),
  },
  render: {
    name: 'render',
    service: 'renderer',
    codec: () => renderCodec,
    // One page per message: a render holds a browser context for seconds, and a redelivery
    // after a crash should repeat one page, not a batch.
    batchSize: () => 1,
    publishesTo: ['extract', 'deliver', 'fetch'],
    backlog: 'any',
    refs: (tasks) => tasks.map(taskRef),
  },
  deliver: {
    name: 'deliver',
    service: 'delivery',
    codec: () => deliverCodec,
    batchSize: (cfg) => cfg.amqp.deliverBatch,
    publishesTo: ['deliver'],
    backlog: 'batches',
    refs: (items) =>
      items.flatMap((m) =>
        m.kind === 'record' ? [taskRef({ sessionId: m.sessionId, taskId: m.taskId, url: m.record.url, depth: m.record.depth, parent: m.record.parent ?? undefined, role: m.record.role })] : []),
  },
};

/** The stages a service consumes. */
export function stagesOf(service: ServiceName): StageName[] {
  return STAGE_NAMES.filter((s) => STAGES[s].service === service);
}
