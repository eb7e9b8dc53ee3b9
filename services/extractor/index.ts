/**
 * Extractor: consumes the extract queue, a batch of fetched pages per message, and the
 * document queue (PDF, DOCX, feeds, text: one document a message, parsed by document workers
 * of their own, then the same screen → admit → record steps as a page). Per session of
 * the batch, the steps of steps.ts: (sessions that render `auto`: script-built pages leave for
 * the render stage, script-built.ts) → parse each page (a worker thread, time-bounded, for large
 * pages) → screen its links → admit (one Redis round trip for the session's pages: each
 * page's task moves on, its new links are reserved within maxPages and the per-host limit,
 * the refused ones counted) → record. Then the children are published (confirmed), then the
 * records to delivery (confirmed), then the message is acked. Children go first, so delivery
 * confirming them (P → Q) always happens after they are safely on the fetch queue.
 */
import { SessionCache, type FoundLink } from '../../shared/admission/index.js';
import type { Config } from '../../shared/config/index.js';
import { documentItemWindow, extractItemWindow } from '../../shared/config/limits.js';
import { Consumer } from '../../shared/messaging/consumer.js';
import { publishExtractPages } from '../../shared/observability/diagnostics.js';
import { runService, type ServiceContext, type ServiceHandle } from '../../shared/service/runtime.js';
import { bySession } from '../../shared/tasks/group.js';
import { renderMode } from '../../shared/render/options.js';
import type { DeliverRecord, ExtractTask, FetchTask, RenderTask } from '../../shared/tasks/types.js';
import { CrawlError } from '../../shared/errors/index.js';
import { metadataRecord } from '../../shared/warc/exchange.js';
import { replicaWarcWriters } from '../../shared/warc/service.js';
import { KnownLinks } from './known.js';
import { documentPool, ParsePool } from './parse-pool.js';
import { admitStep, parseStep, recordStep, renderStep, reusedParse, screenStep, sessionFormats, type Screened } from './steps.js';

export { parsePage, type ParsedPage } from './parse.js';

/** Pages held per replica (the schema bounds it so the derived prefetch stays valid). */
const itemWindow = extractItemWindow;

export async function startExtractor(ctx: ServiceContext): Promise<ServiceHandle> {
  const { tasks, outbox, topology, metrics } = ctx;
  const sessions = new SessionCache(ctx.sessions);
  const known = new KnownLinks();
  const pool = new ParsePool(() => ctx.config().extract.concurrency);
  pool.warm();
  /** WARC metadata records (session id, outlinks) of the sessions that ask for WARC. */
  const warc = replicaWarcWriters(ctx.name, ctx.config, (err, sessionId) => ctx.log.error({ sessionId, err: (err as Error).message }, 'cannot close a WARC file'));
  // Documents have workers of their own (pdf.js, mammoth, the feed reader; nothing inline), so
  // a burst of large PDFs never holds an HTML page's parse; at a lower priority, so they take
  // the CPU only as far as pages leave it (documents.niceness).
  const documentParser = documentPool(ctx.config);

  /** The pages (or documents) of one session through the steps; returns children, records and pages to render to publish. */
  async function extractSession(sessionId: string, all: readonly ExtractTask[], cfg: Config, stage: 'extract' | 'document'): Promise<{ children: FetchTask[]; records: DeliverRecord[]; nowKnown: FoundLink[]; render: RenderTask[] }> {
    const out = { children: [] as FetchTask[], records: [] as DeliverRecord[], nowKnown: [] as FoundLink[], render: [] as RenderTask[] };
    const session = await sessions.get(sessionId);
    if (!session) return out;
    // Documents are never rendered; pages of a session rendering `auto` may be.
    const { keep: pages, render, notRendered } = stage === 'extract' ? renderStep(all, renderMode(session.spec, cfg)) : { keep: all, render: [], notRendered: new Map<string, string>() };
    out.render = render;
    if (pages.length === 0) return out;
    publishExtractPages({ sessionId, pages });

    const parser = stage === 'document' ? documentParser : pool;
    const parsed = await Promise.all(pages.map(async (page) => {
      if (!page.reuse) return parseStep(page, session, cfg, (job) => parser.parse(job), stage);
      // Not downloaded (fresh, or a 304): the links of the last fetch, from its record.
      const previous = await ctx.results.get(page.reuse.previous.sessionId, page.taskId);
      if (!previous) ctx.log.info({ sessionId, taskId: page.taskId, from: page.reuse.previous.sessionId }, 'the record of the last fetch is gone: the page is recorded without its links');
      return reusedParse(previous);
    }));
    const screened: Screened[] = [];
    parsed.forEach((result, i) => {
      if ('kind' in result) {
        metrics.parseFailures.inc({ reason: result.record.reason ?? 'parse_failed' });
        out.records.push(result);
        return;
      }
      const s = screenStep(pages[i] as ExtractTask, result, session, cfg, (url) => known.has(sessionId, url));
      for (const [reason, n] of Object.entries(s.refused)) metrics.linksRefused.inc({ reason }, n);
      screened.push(s);
    });
    // The metadata records are on disk before the records go to delivery.
    if (session.spec.warc && screened.length > 0) {
      const entries = screened.map((s) => metadataRecord({ url: s.page.finalUrl, responseId: s.page.warcResponseId ?? null, sessionId, outlinks: s.parsed.links }));
      await warc.write(sessionId, entries).catch((err: unknown) => {
        throw new CrawlError('internal', `session ${sessionId}: cannot write WARC metadata records: ${(err as Error).message}`, { cause: err });
      });
    }

    const replies = await admitStep(sessionId, screened, cfg, (id, found, opts) => tasks.admitFoundPages(id, found, opts));
    screened.forEach((s, i) => {
      const reply = replies[i];
      if (!reply) return;
      if (reply.kind === 'ok' && reply.hostLimited) metrics.linksRefused.inc({ reason: 'host_pages' }, reply.hostLimited);
      const outcome = recordStep(s, reply, sessionFormats(session));
      if (!outcome.record) {
        metrics.duplicates.inc({ stage: 'extract' });
        return;
      }
      out.children.push(...outcome.children);
      const why = notRendered.get(s.page.taskId);
      if (why !== undefined) Object.assign(outcome.record.record, { rendered: false, renderReason: why });
      out.records.push(outcome.record);
      out.nowKnown.push(...outcome.nowKnown);
    });
    return out;
  }

  async function handleBatch(pages: ExtractTask[], stage: 'extract' | 'document' = 'extract'): Promise<void> {
    const cfg = ctx.config();
    const groups = bySession(pages);
    const results = await Promise.all([...groups].map(([sessionId, list]) => extractSession(sessionId, list, cfg, stage)));
    await outbox.send('render', results.flatMap((r) => r.render), { now: true });
    await outbox.send('fetch', results.flatMap((r) => r.children), { now: true });
    await outbox.send('deliver', results.flatMap((r) => r.records), { now: true });
    // Only now, with children and records confirmed, are these links safe to skip next time.
    [...groups.keys()].forEach((sessionId, i) => known.addAll(sessionId, (results[i] as { nowKnown: FoundLink[] }).nowKnown));
  }

  const consumer = new Consumer<ExtractTask>(ctx.broker, {
    name: 'extract',
    queue: topology.queue('extract'),
    quarantine: topology.quarantine(topology.queue('extract')),
    codec: outbox.codecs.extract,
    // Batches are handled side by side (one parses while another waits for Redis or the
    // broker); the pages held are bounded by the item window, large parses by the pool.
    concurrency: Number.POSITIVE_INFINITY,
    itemWindow: itemWindow(ctx.config().extract),
    itemsPerMessage: ctx.config().amqp.extractBatch,
    handle: (pages) => handleBatch(pages),
    log: ctx.log,
    metrics,
  });
  // The documents stage: its own queue and prefetch (documents.prefetch), one document a message.
  const documents = new Consumer<ExtractTask>(ctx.broker, {
    name: 'document',
    queue: topology.queue('document'),
    quarantine: topology.quarantine(topology.queue('document')),
    codec: outbox.codecs.document,
    concurrency: Number.POSITIVE_INFINITY,
    itemWindow: documentItemWindow(ctx.config().documents),
    itemsPerMessage: 1,
    handle: (docs) => handleBatch(docs, 'document'),
    log: ctx.log,
    metrics,
  });
  await consumer.start();
  await documents.start();
  ctx.onConfigChange(async (next, prev) => {
    if (itemWindow(next.extract) !== itemWindow(prev.extract)) await consumer.resize(Number.POSITIVE_INFINITY, { itemWindow: itemWindow(next.extract) });
    if (documentItemWindow(next.documents) !== documentItemWindow(prev.documents)) await documents.resize(Number.POSITIVE_INFINITY, { itemWindow: documentItemWindow(next.documents) });
  });
  return {
    close: async (graceMs) => {
      await Promise.all([consumer.close(graceMs), documents.close(graceMs)]);
      await warc.close();
      await Promise.all([pool.close(), documentParser.close()]);
    },
  };
}

/** Entry point: `crawlfleet extractor`. */
export const main = (): Promise<unknown> => runService('extractor', startExtractor);
