/**
 * The extractor's steps for the pages of one session, in order: parse (charset → parser →
 * fields and links, one pass; large pages in a worker) → screen (normalize, scope, spider-trap
 * rules, links the replica knows the session has) → admit (one ledger call for the batch) →
 * record (the record of each page and the children it admitted). Each step is a function of
 * its inputs and its collaborators; the handler (index.ts) runs them per session.
 */
import { createHash } from 'node:crypto';
import { admissionOptions, fetchTask, screenLinks, type FoundLink, type SessionPolicy } from '../../shared/admission/index.js';
import type { Config } from '../../shared/config/index.js';
import { CrawlError } from '../../shared/errors/index.js';
import type { AdmitFoundOptions, AdmitFoundReply, FoundPage } from '../../shared/ledger/index.js';
import { bareRecord, deliverMessage, failureRecord, taskRef, type TaskRef } from '../../shared/tasks/records.js';
import type { DeliverRecord, ExtractTask, FetchTask, RecordFormat, RenderMode, RenderTask, ResultRecord } from '../../shared/tasks/types.js';
import type { ContentFormat } from './content/index.js';
import type { ContentRequest, ParsedPage } from './parse.js';
import type { ParseJob } from './parse-pool.js';
import { scriptBuilt } from './script-built.js';

/** A page after parsing and screening. */
export interface Screened {
  page: ExtractTask;
  ref: TaskRef;
  parsed: ParsedPage;
  found: FoundPage & { links: FoundLink[] };
  /** Links refused by a trap rule, by reason. */
  refused: Readonly<Record<string, number>>;
}

/** The record formats of a session; a session created before formats existed has none (its records keep the shape they started with). */
export function sessionFormats(session: SessionPolicy): readonly RecordFormat[] {
  return session.spec.formats ?? [];
}

/** What the parser produces for the session's content formats (every format but `headers`, which the fetcher gives); null when none. */
export function contentRequest(session: SessionPolicy, cfg: Config): ContentRequest | null {
  const formats = sessionFormats(session).filter((f): f is ContentFormat => f !== 'headers');
  if (formats.length === 0) return null;
  const c = cfg.content;
  return {
    formats,
    onlyMainContent: session.spec.onlyMainContent ?? true,
    maxBytes: { markdown: c.maxMarkdownBytes, text: c.maxTextBytes, html: c.maxHtmlBytes, rawHtml: c.maxRawHtmlBytes, links: c.maxLinksBytes },
  };
}

/** `sha256:` + hex digest and length of a page's body (the bytes as fetched, decompressed): the fetcher's digest when it sent one. */
export function bodyDigest(page: Pick<ExtractTask, 'body' | 'contentHash'>): { contentHash: string; bytes: number } {
  return { contentHash: page.contentHash ?? `sha256:${createHash('sha256').update(page.body).digest('hex')}`, bytes: page.body.length };
}

/** The codes a parse keeps; any other error becomes parse_failed. */
const PARSE_CODES: ReadonlySet<string> = new Set(['parse_timeout', 'parse_failed', 'too_large', 'document_encrypted', 'document_corrupt']);

/**
 * 1. Parse a page (stage `extract`) or a document (stage `document`: its computed type, the
 * documents.* caps and time bound); what cannot be parsed becomes its failure record. A
 * closing pool (shutdown) propagates: the page is redelivered.
 */
export async function parseStep(page: ExtractTask, session: SessionPolicy, cfg: Config, parse: (job: ParseJob) => Promise<ParsedPage>, stage: 'extract' | 'document' = 'extract'): Promise<ParsedPage | DeliverRecord> {
  const content = page.role === undefined ? contentRequest(session, cfg) : null;
  const doc = stage === 'document';
  const failed = (e: CrawlError): DeliverRecord => {
    const ref = taskRef(page);
    return deliverMessage(ref, failureRecord(ref, e, { finalUrl: page.finalUrl, status: page.status, contentType: page.contentType, ...(page.detectedType ? { detectedType: page.detectedType } : {}), attempts: page.attempt, ...bodyDigest(page) }));
  };
  if (doc && page.body.length > cfg.documents.maxBytes) {
    return failed(new CrawlError('too_large', `${page.url}: the document has ${page.body.length} bytes, more than documents.maxBytes (${cfg.documents.maxBytes})`, { details: { limit: cfg.documents.maxBytes } }));
  }
  try {
    return await parse({
      body: page.body,
      contentType: doc ? (page.detectedType ?? page.contentType) : page.contentType,
      pageUrl: page.finalUrl,
      fields: session.spec.fields,
      opts: {
        followNofollow: cfg.extract.followNofollow,
        maxLinks: cfg.extract.maxLinksPerPage,
        stripParams: cfg.traps.stripParams,
        maxHtmlBytes: cfg.extract.maxHtmlBytes,
        ...(content ? { content } : {}),
        ...(doc ? { documents: { maxPages: cfg.documents.maxPages, maxFeedItems: cfg.documents.maxFeedItems, maxInflatedBytes: cfg.documents.maxInflatedBytes } } : {}),
      },
      role: page.role,
      timeoutMs: doc ? cfg.documents.maxParseMs : cfg.extract.maxParseMs,
    });
  } catch (err) {
    if (err instanceof CrawlError && err.code === 'unavailable') throw err;
    return failed(err instanceof CrawlError && PARSE_CODES.has(err.code) ? err : new CrawlError('parse_failed', `${page.url}: ${(err as Error).message}`, { cause: err }));
  }
}

/**
 * 2. Screen a parsed page's links. The parser normalized them already (same strip list).
 * Links the replica knows the session has need no question (a link on two pages of the batch
 * is the admission script's to dedup). What robots.txt and sitemaps list is seeded (depth 0),
 * not found one link further.
 */
export function screenStep(page: ExtractTask, parsed: ParsedPage, session: SessionPolicy, cfg: Config, known: (url: string) => boolean): Screened {
  const depth = page.role ? 0 : page.depth + 1;
  const s = screenLinks(parsed.links.filter((url) => !known(url)), session, depth, { ...admissionOptions(cfg), normalized: true }, parsed.linkRole);
  return { page, ref: taskRef(page), parsed, found: { taskId: page.taskId, links: s.links, refused: s.refused }, refused: s.refused };
}

/** The admission options of the extractor under this config. */
export function admitOptions(cfg: Config): AdmitFoundOptions {
  return { resultLeaseMs: cfg.task.leaseMs, admitLeaseMs: cfg.task.admitLeaseMs, maxPagesPerHost: cfg.traps.maxPagesPerHost, retentionMs: cfg.session.retentionMs };
}

/** 3. Admit: one ledger call for the pages of one session (admit-found-5); one reply per page. */
export function admitStep(sessionId: string, screened: readonly Screened[], cfg: Config, admit: (sessionId: string, pages: readonly FoundPage[], opts: AdmitFoundOptions) => Promise<AdmitFoundReply[]>): Promise<AdmitFoundReply[]> {
  return admit(sessionId, screened.map((s) => s.found), admitOptions(cfg));
}

export interface PageOutcome {
  /** The fetch tasks of the links the page admitted. */
  children: FetchTask[];
  /** The page's record, naming those children; null when the page was already done (a duplicate). */
  record: DeliverRecord | null;
  /** Links the ledger now knows for the session (admitted or known), safe to skip next time once published. */
  nowKnown: FoundLink[];
}

/**
 * The record fields beyond today's of a parsed page: always contentHash and bytes; charset
 * and charsetSource for pages; then the formats the session asked for (links as the list,
 * else their count), and `truncated` when a cap cut a field.
 */
export function contentFields(page: ExtractTask, parsed: ParsedPage, formats: readonly RecordFormat[]): Partial<ResultRecord> {
  const out: Partial<ResultRecord> = { ...bodyDigest(page) };
  const binary = parsed.document?.kind === 'pdf' || parsed.document?.kind === 'docx';
  if (page.role === undefined && !binary) {
    out.charset = parsed.charset;
    out.charsetSource = parsed.charsetSource;
  }
  if (parsed.document?.feed) out.feed = parsed.document.feed;
  const c = parsed.content;
  if (c) {
    if (c.markdown !== undefined) out.markdown = c.markdown;
    if (c.text !== undefined) out.text = c.text;
    if (c.html !== undefined) out.html = c.html;
    if (c.rawHtml !== undefined) out.rawHtml = c.rawHtml;
    if (c.links !== undefined) out.links = c.links;
    if (c.metadata !== undefined) out.metadata = c.metadata;
    if (c.truncated.length > 0) out.truncated = [...c.truncated];
  }
  if (formats.includes('headers')) out.headers = { ...page.headers };
  return out;
}

/** What a rendered page's record says about its rendering (nothing for a page fetched over HTTP). */
export function renderedFields(page: ExtractTask): Partial<ResultRecord> {
  const r = page.rendered;
  if (!r) return {};
  return { rendered: true, renderReason: r.reason, ...(r.blocked.length > 0 ? { blocked: [...r.blocked] } : {}), ...(r.screenshot ? { screenshot: r.screenshot } : {}) };
}

/**
 * 0. For a session that renders `auto`: the pages that look script-built (script-built.ts)
 * leave for the render stage instead of being parsed; the others stay, with the reason they
 * were not rendered. Rendered pages, robots.txt and sitemaps always stay.
 */
export function renderStep(pages: readonly ExtractTask[], mode: RenderMode): { keep: ExtractTask[]; render: RenderTask[]; notRendered: Map<string, string> } {
  const notRendered = new Map<string, string>();
  if (mode !== 'auto') return { keep: [...pages], render: [], notRendered };
  const keep: ExtractTask[] = [];
  const render: RenderTask[] = [];
  for (const page of pages) {
    if (page.rendered || page.role) {
      keep.push(page);
      continue;
    }
    const d = scriptBuilt(page.body);
    if (!d.render) {
      notRendered.set(page.taskId, d.reason);
      keep.push(page);
      continue;
    }
    render.push({
      sessionId: page.sessionId,
      taskId: page.taskId,
      url: page.url,
      depth: page.depth,
      attempt: page.attempt,
      ...(page.parent ? { parent: page.parent } : {}),
      admittedAt: page.fetchedAt,
      reason: d.reason,
      ...(page.warcResponseId ? { warcResponseId: page.warcResponseId } : {}),
    });
  }
  return { keep, render, notRendered };
}

/** 4. What a page becomes once the ledger answered: its children and its record. */
export function recordStep(s: Screened, reply: AdmitFoundReply, formats: readonly RecordFormat[] = []): PageOutcome {
  if (reply.kind === 'done' || reply.kind === 'unknown') return { children: [], record: null, nowKnown: [] };
  let admitted: FoundLink[] = [];
  const nowKnown: FoundLink[] = [];
  if (reply.kind === 'ok') {
    admitted = reply.admitted.map((k) => s.found.links[k] as FoundLink);
    s.found.links.forEach((l, k) => {
      if (reply.verdicts[k] === 'a' || reply.verdicts[k] === 'e') nowKnown.push(l);
    });
  }
  const { page, parsed } = s;
  const children = admitted.map((c) => fetchTask(page.sessionId, c, page.url));
  const record = page.reuse ? reusedRecord(s) : bareRecord(s.ref, 'delivered', {
    ...(parsed.document?.reason ? { reason: parsed.document.reason } : {}),
    finalUrl: page.finalUrl,
    status: page.status,
    title: parsed.title,
    contentType: page.contentType,
    ...(page.detectedType ? { detectedType: page.detectedType } : {}),
    fields: parsed.fields,
    links: parsed.links.length,
    canonical: parsed.canonical,
    fetchedAt: new Date(page.fetchedAt).toISOString(),
    attempts: page.attempt,
    ...contentFields(page, parsed, formats),
    ...(page.role === undefined ? { changed: page.changed ?? null } : {}),
    ...renderedFields(page),
  });
  // The links stay with the record (a later session that skips or revalidates the page follows them).
  if (page.role === undefined && !Array.isArray(record.links) && parsed.links.length > 0) record.outlinks = parsed.links;
  return { children, record: deliverMessage(s.ref, record, children.map((c) => c.taskId)), nowKnown };
}

/**
 * The links of a page that was not downloaded (the crawl index stood for it): the record of
 * its last fetch, in the session the index names, holds them (`outlinks`, or `links` when that
 * session asked for the list). None when that record is gone (its session was purged).
 */
export function reusedLinks(previous: ResultRecord | null): { links: string[]; title: string | null } {
  if (!previous) return { links: [], title: null };
  const links = previous.outlinks ?? (Array.isArray(previous.links) ? previous.links.map((l) => l.url) : []);
  return { links, title: previous.title };
}

/** A reused page as a parsed page: its links and title from the last fetch's record. */
export function reusedParse(previous: ResultRecord | null): ParsedPage {
  const { links, title } = reusedLinks(previous);
  return { title, fields: {}, links, canonical: null, charset: 'utf-8', charsetSource: 'default', truncated: false };
}

/** The record of a page the crawl index stood for: skipped(fresh), or delivered as a 304. */
export function reusedRecord(s: Screened): ResultRecord {
  const { page, parsed } = s;
  const reuse = page.reuse as NonNullable<ExtractTask['reuse']>;
  const links = { links: parsed.links.length, ...(parsed.links.length > 0 ? { outlinks: parsed.links } : {}) };
  if (reuse.kind === 'fresh') {
    return bareRecord(s.ref, 'skipped', {
      reason: 'fresh',
      title: parsed.title,
      lastFetchedAt: new Date(reuse.previous.fetchedAt).toISOString(),
      attempts: page.attempt,
      ...links,
    });
  }
  return bareRecord(s.ref, 'delivered', {
    finalUrl: page.finalUrl,
    status: page.status,
    title: parsed.title,
    fetchedAt: new Date(page.fetchedAt).toISOString(),
    lastFetchedAt: new Date(reuse.previous.fetchedAt).toISOString(),
    attempts: page.attempt,
    notModified: true,
    changed: false,
    ...links,
  });
}
