/**
 * Extractor: consumes the extract queue. For each fetched page, in order:
 *   parse (a worker thread, time-bounded: charset → cheerio → fields → links) → screen the
 *   links (normalize, scope, spider-trap rules) → admit (one Redis round trip: the page's
 *   task moves on, its new links are reserved within maxPages and the per-host limit, the
 *   refused ones counted) → publish the children (confirmed) → publish the record to
 *   delivery (confirmed) → ack.
 * Children are published before the record, so delivery confirming them (P → Q) always
 * happens after they are safely on the fetch queue.
 */
import { admitFound, fetchTask, screenLinks, SessionCache } from '../../shared/admission/index.js';
import { CrawlError } from '../../shared/errors/index.js';
import type { LinkToAdmit } from '../../shared/ledger/index.js';
import { Consumer } from '../../shared/messaging/consumer.js';
import { runService, type ServiceContext, type ServiceHandle } from '../../shared/service/runtime.js';
import { decodeExtract, type ExtractMessage } from '../../shared/tasks/codec.js';
import { bareRecord, deliverMessage, failureRecord } from '../../shared/tasks/records.js';
import type { ResultRecord } from '../../shared/tasks/types.js';
import type { ParsedPage } from './parse.js';
import { ParsePool } from './parse-pool.js';

export { parsePage, type ParsedPage } from './parse.js';

export async function startExtractor(ctx: ServiceContext): Promise<ServiceHandle> {
  const { ledger, broker, topology, metrics } = ctx;
  const sessions = new SessionCache(ledger);
  const pool = new ParsePool(() => ctx.config().extract.concurrency);
  pool.warm();

  async function handle(page: ExtractMessage): Promise<void> {
    const cfg = ctx.config();
    const ref = { sessionId: page.sessionId, taskId: page.taskId, url: page.url, depth: page.depth, parent: page.parent };
    const session = await sessions.get(page.sessionId);
    if (!session) return;
    const marker = cfg.faults.extractorCrashMarker;
    if (marker !== '' && page.body.includes(marker)) {
      ctx.log.fatal({ sessionId: page.sessionId, taskId: page.taskId }, 'fault injection: crashing on a marked page');
      process.exit(70);
    }

    let parsed: ParsedPage;
    try {
      parsed = await pool.parse({
        body: page.body,
        contentType: page.contentType,
        pageUrl: page.finalUrl,
        fields: session.spec.fields,
        opts: {
          followNofollow: cfg.extract.followNofollow,
          maxLinks: cfg.extract.maxLinksPerPage,
          stripParams: cfg.traps.stripParams,
          maxHtmlBytes: cfg.extract.maxHtmlBytes,
        },
        timeoutMs: cfg.extract.maxParseMs,
      });
    } catch (err) {
      // The pool closing under a shutdown: leave the page to be redelivered.
      if (err instanceof CrawlError && err.code === 'unavailable') throw err;
      const e = err instanceof CrawlError && (err.code === 'parse_timeout' || err.code === 'parse_failed')
        ? err
        : new CrawlError('parse_failed', `${page.url}: ${(err as Error).message}`, { cause: err });
      metrics.parseFailures.inc({ reason: e.code });
      const record = failureRecord(ref, e, { finalUrl: page.finalUrl, status: page.status, contentType: page.contentType, attempts: page.attempt });
      await broker.publishJson(topology.deliver, deliverMessage(ref, record));
      return;
    }

    const screened = screenLinks(parsed.links, session, page.depth + 1, {
      maxUrlLength: cfg.api.maxUrlLength,
      stripParams: cfg.traps.stripParams,
      traps: { maxPathDepth: cfg.traps.maxPathDepth, maxRepeatedSegments: cfg.traps.maxRepeatedSegments, maxQueryParams: cfg.traps.maxQueryParams },
    });
    const reply = await admitFound(ctx.redis, ctx.keys, page.sessionId, page.taskId, screened, {
      resultLeaseMs: cfg.task.leaseMs,
      admitLeaseMs: cfg.task.admitLeaseMs,
      maxPagesPerHost: cfg.traps.maxPagesPerHost,
      retentionMs: cfg.session.retentionMs,
    });
    if (reply.kind === 'done' || reply.kind === 'unknown') {
      metrics.duplicates.inc({ stage: 'extract' });
      return;
    }
    for (const [reason, n] of Object.entries(screened.refused)) metrics.linksRefused.inc({ reason }, n);
    if (reply.kind === 'ok' && reply.hostLimited) metrics.linksRefused.inc({ reason: 'host_pages' }, reply.hostLimited);
    const candidates = screened.links;
    const children = reply.kind === 'ok' ? reply.admitted.map((i) => candidates[i] as LinkToAdmit) : [];
    await Promise.all(children.map((c) => broker.publishJson(topology.fetch, fetchTask(page.sessionId, c, page.url))));

    const record: ResultRecord = bareRecord(ref, 'delivered', {
      finalUrl: page.finalUrl,
      status: page.status,
      title: parsed.title,
      contentType: page.contentType,
      fields: parsed.fields,
      links: parsed.links.length,
      canonical: parsed.canonical,
      fetchedAt: new Date(page.fetchedAt).toISOString(),
      attempts: page.attempt,
    });
    await broker.publishJson(topology.deliver, deliverMessage(ref, record, children.map((c) => c.taskId)));
  }

  const consumer = new Consumer<ExtractMessage>(broker, {
    name: 'extract',
    queue: topology.extract,
    quarantine: topology.quarantine(topology.extract),
    concurrency: ctx.config().extract.concurrency,
    decode: decodeExtract,
    handle: (page) => handle(page),
    log: ctx.log,
    metrics,
  });
  await consumer.start();
  ctx.onConfigChange(async (next, prev) => {
    if (next.extract.concurrency !== prev.extract.concurrency) await consumer.resize(next.extract.concurrency);
  });
  return {
    close: async (graceMs) => {
      await consumer.close(graceMs);
      await pool.close();
    },
  };
}

/** Entry point: `crawlfleet extractor`. */
export const main = (): Promise<unknown> => runService('extractor', startExtractor);
