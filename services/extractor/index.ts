/**
 * Extractor: consumes the extract queue. For each fetched page, in order:
 *   decode (charset) → parse (cheerio on htmlparser2) → fields → links → admit (one Redis
 *   round trip: the page's task moves on and its new links are reserved) → publish the
 *   children (confirmed) → publish the record to delivery (confirmed) → ack.
 * Children are published before the record, so delivery confirming them (P → Q) always
 * happens after they are safely on the fetch queue.
 */
import * as cheerio from 'cheerio';
import { candidateLinks, fetchTask, SessionCache } from '../../shared/admission/index.js';
import { CrawlError } from '../../shared/errors/index.js';
import type { LinkToAdmit } from '../../shared/ledger/index.js';
import { Consumer } from '../../shared/messaging/consumer.js';
import { runService, type ServiceContext, type ServiceHandle } from '../../shared/service/runtime.js';
import { decodeExtract, type ExtractMessage } from '../../shared/tasks/codec.js';
import { bareRecord, deliverMessage, failureRecord } from '../../shared/tasks/records.js';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { decodeHtml } from './charset.js';
import { extractFields } from './fields.js';
import { extractLinks, pageTitle } from './links.js';

export interface ParsedPage {
  title: string | null;
  fields: Record<string, string | null>;
  links: string[];
  canonical: string | null;
  charset: string;
}

/** The pure part: bytes of a page → what the crawler keeps of it. */
export function parsePage(body: Buffer, contentType: string, pageUrl: string, fields: Readonly<Record<string, string>>, opts: { followNofollow: boolean; maxLinks: number }): ParsedPage {
  const { text, charset } = decodeHtml(body, contentType);
  const $ = cheerio.load(text, { xml: { xmlMode: false, decodeEntities: true } });
  const page = extractLinks($, pageUrl, opts);
  return { title: pageTitle($), fields: extractFields($, fields), links: page.links, canonical: page.canonical, charset };
}

export async function startExtractor(ctx: ServiceContext): Promise<ServiceHandle> {
  const { ledger, broker, topology, metrics } = ctx;
  const sessions = new SessionCache(ledger);

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
      parsed = parsePage(page.body, page.contentType, page.finalUrl, session.spec.fields, {
        followNofollow: cfg.extract.followNofollow,
        maxLinks: cfg.extract.maxLinksPerPage,
      });
    } catch (err) {
      const e = new CrawlError('parse_failed', `${page.url}: ${(err as Error).message}`, { cause: err });
      const record = failureRecord(ref, e, { finalUrl: page.finalUrl, status: page.status, contentType: page.contentType, attempts: page.attempt });
      await broker.publishJson(topology.deliver, deliverMessage(ref, record));
      return;
    }

    const candidates = candidateLinks(parsed.links, session, page.depth + 1, { maxUrlLength: cfg.api.maxUrlLength });
    const reply = await ledger.extracted(page.sessionId, page.taskId, candidates, cfg.task.leaseMs, cfg.task.admitLeaseMs);
    if (reply.kind === 'done' || reply.kind === 'unknown') {
      metrics.duplicates.inc({ stage: 'extract' });
      return;
    }
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
    onSettled: (outcome, ms) => {
      metrics.messages.inc({ queue: 'extract', outcome });
      metrics.stageSeconds.observe({ stage: 'extract' }, ms / 1000);
    },
  });
  await consumer.start();
  ctx.onConfigChange(async (next, prev) => {
    if (next.extract.concurrency !== prev.extract.concurrency) await consumer.resize(next.extract.concurrency);
  });
  return { close: async (graceMs) => void (await consumer.close(graceMs)) };
}

/** Entry point: `crawlfleet extractor`. */
export const main = (): Promise<unknown> => runService('extractor', startExtractor);
