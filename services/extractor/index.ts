/**
 * Extractor: consumes the extract queue, a batch of fetched pages per message. In order:
 *   parse each page (charset → cheerio on htmlparser2 → fields → links; a worker thread,
 *   time-bounded, for large pages) → screen the links (normalize, scope, spider-trap rules,
 *   links already known to the session skipped) → admit (one Redis round trip per session
 *   for the whole batch: each page's task moves on, its new links are reserved within
 *   maxPages and the per-host limit, the refused ones counted) → publish the children
 *   (confirmed) → publish the records to delivery (confirmed) → ack.
 * Children are published before the records, so delivery confirming them (P → Q) always
 * happens after they are safely on the fetch queue.
 */
import { admissionOptions, fetchTask, screenLinks, SessionCache, type FoundLink, type SessionPolicy } from '../../shared/admission/index.js';
import type { Config } from '../../shared/config/index.js';
import { CrawlError } from '../../shared/errors/index.js';
import type { AdmitFoundReply, FoundPage } from '../../shared/ledger/index.js';
import { Consumer } from '../../shared/messaging/consumer.js';
import { publishExtractPages } from '../../shared/observability/diagnostics.js';
import { runService, type ServiceContext, type ServiceHandle } from '../../shared/service/runtime.js';
import { deliverCodec, extractCodec, fetchCodec } from '../../shared/tasks/codec.js';
import { bySession } from '../../shared/tasks/group.js';
import { bareRecord, deliverMessage, failureRecord, taskRef, type TaskRef } from '../../shared/tasks/records.js';
import type { DeliverRecord, ExtractTask, FetchTask } from '../../shared/tasks/types.js';
import { KnownLinks } from './known.js';
import type { ParsedPage } from './parse.js';
import { ParsePool } from './parse-pool.js';

export { parsePage, type ParsedPage } from './parse.js';

/** Pages held per replica: extract.prefetch, or 64 per parse worker (batches wait on confirms more than on the CPU). */
const itemWindow = (e: Config['extract']): number => (e.prefetch > 0 ? e.prefetch : 64 * e.concurrency);

/** A page of the batch after parsing and screening. */
interface Screened {
  page: ExtractTask;
  ref: TaskRef;
  parsed: ParsedPage;
  found: FoundPage & { links: FoundLink[] };
}

export async function startExtractor(ctx: ServiceContext): Promise<ServiceHandle> {
  const { ledger, outbox, topology, metrics } = ctx;
  const sessions = new SessionCache(ledger);
  const known = new KnownLinks();
  const pool = new ParsePool(() => ctx.config().extract.concurrency);
  pool.warm();

  /** Parses a page; a page that cannot be parsed becomes its failure record. */
  async function parse(page: ExtractTask, session: SessionPolicy, cfg: Config): Promise<ParsedPage | DeliverRecord> {
    try {
      return await pool.parse({
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
        role: page.role,
        timeoutMs: cfg.extract.maxParseMs,
      });
    } catch (err) {
      // The pool closing under a shutdown: leave the page to be redelivered.
      if (err instanceof CrawlError && err.code === 'unavailable') throw err;
      const e = err instanceof CrawlError && (err.code === 'parse_timeout' || err.code === 'parse_failed' || err.code === 'too_large')
        ? err
        : new CrawlError('parse_failed', `${page.url}: ${(err as Error).message}`, { cause: err });
      metrics.parseFailures.inc({ reason: e.code });
      const ref = taskRef(page);
      return deliverMessage(ref, failureRecord(ref, e, { finalUrl: page.finalUrl, status: page.status, contentType: page.contentType, attempts: page.attempt }));
    }
  }

  /** The pages of one session: parse, screen, one admission call; returns children and records to publish. */
  async function extractSession(sessionId: string, pages: readonly ExtractTask[], cfg: Config): Promise<{ children: FetchTask[]; records: DeliverRecord[]; nowKnown: FoundLink[] }> {
    const out = { children: [] as FetchTask[], records: [] as DeliverRecord[], nowKnown: [] as FoundLink[] };
    const session = await sessions.get(sessionId);
    if (!session) return out;
    publishExtractPages({ sessionId, pages });

    const parsed = await Promise.all(pages.map((page) => parse(page, session, cfg)));
    // The parser normalized the links already, with the same strip list.
    const screening = { ...admissionOptions(cfg), normalized: true };
    const screened: Screened[] = [];
    parsed.forEach((result, i) => {
      const page = pages[i] as ExtractTask;
      if ('kind' in result) {
        out.records.push(result);
        return;
      }
      // Links known to the session need no screening and no question (a link on two pages of
      // the batch is the admission script's to dedup). What robots.txt and sitemaps list is
      // seeded (depth 0), not found one link further.
      const depth = page.role ? 0 : page.depth + 1;
      const s = screenLinks(result.links.filter((url) => !known.has(sessionId, url)), session, depth, screening, result.linkRole);
      for (const [reason, n] of Object.entries(s.refused)) metrics.linksRefused.inc({ reason }, n);
      screened.push({ page, ref: taskRef(page), parsed: result, found: { taskId: page.taskId, links: s.links, refused: s.refused } });
    });

    const replies: AdmitFoundReply[] = await ledger.admitFoundPages(sessionId, screened.map((s) => s.found), {
      resultLeaseMs: cfg.task.leaseMs,
      admitLeaseMs: cfg.task.admitLeaseMs,
      maxPagesPerHost: cfg.traps.maxPagesPerHost,
      retentionMs: cfg.session.retentionMs,
    });
    screened.forEach((s, i) => {
      const reply = replies[i] as AdmitFoundReply;
      if (reply.kind === 'done' || reply.kind === 'unknown') {
        metrics.duplicates.inc({ stage: 'extract' });
        return;
      }
      let children: FoundLink[] = [];
      if (reply.kind === 'ok') {
        if (reply.hostLimited) metrics.linksRefused.inc({ reason: 'host_pages' }, reply.hostLimited);
        children = reply.admitted.map((k) => s.found.links[k] as FoundLink);
        // What the ledger knows now ('a' admitted, 'e' known) need not be asked again.
        s.found.links.forEach((l, k) => {
          if (reply.verdicts[k] === 'a' || reply.verdicts[k] === 'e') out.nowKnown.push(l);
        });
      }
      for (const c of children) out.children.push(fetchTask(sessionId, c, s.page.url));
      const { page, parsed: p } = s;
      const record = bareRecord(s.ref, 'delivered', {
        finalUrl: page.finalUrl,
        status: page.status,
        title: p.title,
        contentType: page.contentType,
        fields: p.fields,
        links: p.links.length,
        canonical: p.canonical,
        fetchedAt: new Date(page.fetchedAt).toISOString(),
        attempts: page.attempt,
      });
      out.records.push(deliverMessage(s.ref, record, children.map((c) => c.taskId)));
    });
    return out;
  }

  async function handleBatch(pages: ExtractTask[]): Promise<void> {
    const cfg = ctx.config();
    const groups = bySession(pages);
    const results = await Promise.all([...groups].map(([sessionId, list]) => extractSession(sessionId, list, cfg)));
    await outbox.send(fetchCodec, topology.fetch, results.flatMap((r) => r.children), { now: true });
    await outbox.send(deliverCodec, topology.deliver, results.flatMap((r) => r.records), { now: true });
    // Only now, with children and records confirmed, are these links safe to skip next time.
    [...groups.keys()].forEach((sessionId, i) => known.addAll(sessionId, (results[i] as { nowKnown: FoundLink[] }).nowKnown));
  }

  const consumer = new Consumer<ExtractTask>(ctx.broker, {
    name: 'extract',
    queue: topology.extract,
    quarantine: topology.quarantine(topology.extract),
    codec: extractCodec(),
    // Batches are handled side by side (one parses while another waits for Redis or the
    // broker); the pages held are bounded by the item window, large parses by the pool.
    concurrency: Number.POSITIVE_INFINITY,
    itemWindow: itemWindow(ctx.config().extract),
    itemsPerMessage: ctx.config().amqp.extractBatch,
    handle: (pages) => handleBatch(pages),
    log: ctx.log,
    metrics,
  });
  await consumer.start();
  ctx.onConfigChange(async (next, prev) => {
    if (itemWindow(next.extract) !== itemWindow(prev.extract)) await consumer.resize(Number.POSITIVE_INFINITY, { itemWindow: itemWindow(next.extract) });
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
