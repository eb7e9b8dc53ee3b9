/**
 * What travels on the queues. The state travels with the task: every task names its
 * session and carries all a stateless consumer needs to do its step. A message carries a
 * batch of tasks of one kind (see shared/messaging/batch.ts and codec.ts); its envelope
 * holds the format version, and consumers refuse versions they do not know.
 */

import type { IndexEntry } from '../crawlindex/entry.js';
import type { RecrawlPolicy } from '../crawlindex/policy.js';

export const MESSAGE_VERSION = 2;

/**
 * The oldest wire version consumers still read (N-1), so a stack is upgraded in place with
 * messages of the previous release on its queues (shared/tasks/codec.ts reads them; writers
 * always write MESSAGE_VERSION).
 */
export const OLDEST_READ_VERSION = MESSAGE_VERSION - 1;

/**
 * What a task's document is for. A page (no role) is parsed as HTML for links and fields;
 * `robots` (an origin's robots.txt) and `sitemap` documents seed a session that asked for
 * `"sitemaps": true` with the URLs they list. The role is stored in the ledger with the task.
 */
export type TaskRole = 'robots' | 'sitemap';

/** One URL to fetch (fetch queue). `taskId` is the URL fingerprint within the session. */
export interface FetchTask {
  sessionId: string;
  taskId: string;
  url: string;
  depth: number;
  /** Fetch attempts already made (0 for a new task). */
  attempt: number;
  /** URL of the page the link was found on; absent for seeds. */
  parent?: string;
  admittedAt: number;
  /** Absent for pages. */
  role?: TaskRole;
}

/**
 * When a session's pages are rendered in headless Chromium (services/renderer): `never` (HTTP
 * only), `always` (every page), `auto` (fetched over HTTP; pages that look script-built are
 * rendered, see services/extractor/script-built.ts).
 */
export const RENDER_MODES = ['never', 'always', 'auto'] as const;
export type RenderMode = (typeof RENDER_MODES)[number];

/** Resource types a rendered page may be refused (Playwright's resource types). */
export const RENDER_RESOURCE_TYPES = ['image', 'media', 'font', 'stylesheet', 'script', 'xhr', 'fetch', 'websocket', 'other'] as const;
export type RenderResourceType = (typeof RENDER_RESOURCE_TYPES)[number];

/** A page to render (render queue): the fetch task, claimed and past robots.txt and the politeness gate, and why it is rendered. */
export interface RenderTask extends FetchTask {
  /** `always`, or the reason `auto` found the fetched page script-built. */
  reason: string;
  /**
   * The WARC-Record-ID of the fetcher's response record of the page (`auto`, sessions with
   * `warc`): the conversion record of the rendered DOM refers to it. Absent, the renderer
   * writes the main document's request and response records itself.
   */
  warcResponseId?: string;
}

/** What the renderer adds to a page it rendered (the record's `rendered`, `renderReason`, `blocked`, `screenshot`). */
export interface RenderedInfo {
  reason: string;
  /** Requests the renderer refused (forbidden address, byte budget), `host:port (why)`, distinct, capped. */
  blocked: string[];
  /** Bytes the page's requests received through the renderer's proxy. */
  bytes: number;
  /** Path of the PNG below the results directory (`screenshots/<session>/<task>.png`) when the session asked for one. */
  screenshot?: string;
}

/** A fetched response (extract queue). Bodies travel as raw bytes after the batch's JSON (see codec.ts). */
export interface ExtractTask {
  sessionId: string;
  taskId: string;
  url: string;
  finalUrl: string;
  depth: number;
  attempt: number;
  parent?: string;
  status: number;
  contentType: string;
  /** The type the bytes show when it differs from contentType (the fetcher's MIME sniffing). */
  detectedType?: string;
  headers: Record<string, string>;
  fetchedAt: number;
  fetchMs: number;
  body: Buffer;
  /** Absent for pages. */
  role?: TaskRole;
  /** The WARC-Record-ID of the fetch's response record (sessions with `warc`): the page's metadata record is concurrent to it. */
  warcResponseId?: string;
  /**
   * Set when the page was not downloaded because the crawl index stood for it (the body is
   * empty): `fresh`, not fetched at all; `notModified`, the server answered 304. `previous` is
   * the index entry of the last fetch, whose record holds the page's links.
   */
  reuse?: { kind: 'fresh' | 'notModified'; previous: IndexEntry };
  /** Whether the body differs from the last fetch the crawl index knew; null when it knew none (set by the fetcher, which writes the index). */
  changed?: boolean | null;
  /** `sha256:` + hex digest of `body`, when the fetcher hashed it for the crawl index (the extractor then need not hash it again). */
  contentHash?: string;
  /** Set when the body is the DOM rendered by the renderer (then it is UTF-8 HTML). */
  rendered?: RenderedInfo;
}

export type Outcome = 'delivered' | 'failed' | 'skipped' | 'cancelled';

/**
 * What a session may ask a record to carry besides the always-present fields (POST /sessions
 * `formats`). `headers` come from the fetcher; the others from the parsed page
 * (services/extractor/content).
 */
export const RECORD_FORMATS = ['markdown', 'text', 'html', 'rawHtml', 'links', 'metadata', 'headers'] as const;
export type RecordFormat = (typeof RECORD_FORMATS)[number];

/** One link of a page when the session asked for the `links` format. */
export interface RecordLink {
  /** Absolute and normalized. */
  url: string;
  /** The anchor text (else an image's alt, aria-label or title), whitespace collapsed. */
  text: string;
  rel: string | null;
}

/** The page's metadata when the session asked for the `metadata` format; a field is absent when the page does not give it. */
export interface RecordMetadata {
  description?: string;
  language?: string;
  canonical?: string;
  author?: string;
  publishedAt?: string;
  ogTitle?: string;
  ogImage?: string;
  keywords?: string[];
  /** Of a PDF: its page count, creation date (ISO 8601) and the program that produced it. */
  pages?: number;
  createdAt?: string;
  producer?: string;
}

/** What the documents stage parses (POST /sessions `documents`); the others are delivered unparsed. */
export const DOCUMENT_KINDS = ['pdf', 'docx', 'feeds', 'text'] as const;
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];

/** One item of a feed (RSS, Atom, JSON Feed). */
export interface RecordFeedItem {
  /** Absolute and normalized; null when the item names no usable link. */
  url: string | null;
  title: string | null;
  /** ISO 8601 when the item gives a date that parses. */
  publishedAt: string | null;
}

/** A feed's record field. */
export interface RecordFeed {
  title: string | null;
  items: RecordFeedItem[];
}

/** Record fields that a byte cap (content.max*Bytes) applies to. */
export type CappedRecordField = 'markdown' | 'text' | 'html' | 'rawHtml' | 'links' | 'pages' | 'feed';

/** One line of a session's results. */
export interface ResultRecord {
  url: string;
  finalUrl: string;
  status: number | null;
  depth: number;
  parent: string | null;
  outcome: Outcome;
  /** Stable error code (see shared/errors) when the outcome is failed or skipped. */
  reason: string | null;
  error: string | null;
  title: string | null;
  contentType: string | null;
  fields: Record<string, string | null>;
  /** The page's links `[{url, text, rel}]` when the session asked for `links`; otherwise how many links were found. */
  links: number | RecordLink[];
  canonical: string | null;
  fetchedAt: string | null;
  attempts: number;
  /** `sha256:` + hex of the body bytes as fetched (decompressed); set on every record of a fetched body that reached the extractor. */
  contentHash?: string;
  /** Length of those bytes. */
  bytes?: number;
  /** The type the bytes show when it differs from the Content-Type as sent (the MIME Sniffing Standard's signatures). */
  detectedType?: string;
  /** Content-Length of a response whose body was not downloaded (its type is in fetch.skipTypes). */
  contentLength?: number;
  /** The charset the page was decoded with and how it was found (parsed pages only). */
  charset?: string;
  charsetSource?: string;
  /** Content formats the session asked for (see RECORD_FORMATS). */
  markdown?: string;
  text?: string;
  html?: string;
  rawHtml?: string;
  metadata?: RecordMetadata;
  headers?: Record<string, string>;
  /** Of a feed: its title and items (at most documents.maxFeedItems). */
  feed?: RecordFeed;
  /** The fields cut at their byte cap (`pages`: a PDF past documents.maxPages; `feed`: items past documents.maxFeedItems); absent when none was. */
  truncated?: CappedRecordField[];
  /** Set on results delivered after the session went partial. */
  supplement?: boolean;
  /** Set on the records of robots.txt and sitemap documents (`links` counts the URLs they listed). */
  role?: TaskRole;
  /** Whether the body differs from the last fetch the crawl index knew (any session); null when it knew none. Set on delivered pages. */
  changed?: boolean | null;
  /** The server answered 304 to a conditional request (recrawl.conditional): the page is the last fetch's. */
  notModified?: boolean;
  /** When the page was last fetched (a record skipped as `fresh`). */
  lastFetchedAt?: string;
  /** The page's links (normalized URLs), kept so a later session that does not fetch the page still follows them; absent when `links` holds them. */
  outlinks?: string[];
  /** Sessions that render (`render` always or auto): whether the record comes from headless Chromium, and why (or why not). */
  rendered?: boolean;
  renderReason?: string;
  /** Requests of the rendered page that the renderer refused, `host:port (why)`. */
  blocked?: string[];
  /** The screenshot of a rendered page, below the results directory. */
  screenshot?: string;
}

/** A terminal result for one task (deliver queue). `children` are task ids this page admitted. */
export interface DeliverRecord {
  kind: 'record';
  sessionId: string;
  taskId: string;
  record: ResultRecord;
  children: string[];
}

/** Hand a finished session over: results file and webhook (deliver queue). */
export interface FinalizeSession {
  kind: 'finalize';
  sessionId: string;
  /** The status the session reached: completed, partial or cancelled. */
  status: SessionStatus;
}

export type DeliverMessage = DeliverRecord | FinalizeSession;

/** `paused` is not final: a paused session fetches nothing until resumed. */
export type SessionStatus = 'running' | 'paused' | 'completed' | 'partial' | 'cancelled' | 'closed';

/** The body of POST /sessions, as a client sends it (the API and crawlctl share this type). */
export interface SessionRequest {
  seeds: string[];
  maxPages?: number;
  maxDepth?: number;
  timeoutMs?: number;
  allowedHosts?: string[];
  include?: string[];
  exclude?: string[];
  fields?: Record<string, string>;
  webhook?: string;
  label?: string;
  /** Also seed from the sitemaps of the seeds' origins (robots.txt `Sitemap:` lines and /sitemap.xml). */
  sitemaps?: boolean;
  /** What the records carry besides the always-present fields; default content.defaultFormats. */
  formats?: RecordFormat[];
  /** Markdown, text and html without navigation, headers, footers, sidebars, banners; default true. */
  onlyMainContent?: boolean;
  /** Render pages in headless Chromium: never, always, or auto (when a page looks script-built); default render.defaultMode. */
  render?: RenderMode;
  /** When a rendered page is ready: `load`, `networkidle` or a CSS selector; default `load`. */
  waitFor?: string;
  /** Longest time one render may take; default render.timeoutMs. */
  renderTimeoutMs?: number;
  /** Resource types a rendered page does not load; default image, media, font. */
  blockResources?: RenderResourceType[];
  /** Store a PNG screenshot of each rendered page beside the results. */
  screenshot?: boolean;
  /** Use the crawl index: skip fresh pages, revalidate the others (see shared/crawlindex/policy.ts). */
  recrawl?: RecrawlPolicy;
  /** Which documents are parsed (pdf, docx, feeds, text); default all. */
  documents?: DocumentKind[];
  /** Write the session's exchanges as WARC/1.1 files (GET /sessions/:id/warc); default false. */
  warc?: boolean;
  /** Keep the values of Authorization, Cookie and Proxy-Authorization in WARC request records (default: written as `***`). */
  warcRecordSecrets?: boolean;
  /** Request headers sent to the hosts of the session's scope (values are secrets: shown as `***`). */
  headers?: Record<string, string>;
  /** Cookies sent to the hosts of the session's scope, under RFC 6265 domain, path and secure rules (values are secrets). */
  cookies?: SessionCookie[];
  /** Keep the Set-Cookie answers of the session's responses (in Redis, shared by every fetcher) and send them back. */
  cookieJar?: boolean;
  /** The User-Agent of the session's page fetches instead of fetch.userAgent (robots.txt still matches the crawler's own token). */
  userAgent?: string;
}

/** A cookie a session sends (POST /sessions `cookies`). Without `domain` it goes to every host of the scope. */
export interface SessionCookie {
  name: string;
  value: string;
  domain?: string;
  /** Default `/`. */
  path?: string;
  /** Only over https. */
  secure?: boolean;
}

/** What a client asks for in POST /sessions, after defaults are applied. */
export interface SessionSpec {
  seeds: string[];
  maxPages: number;
  maxDepth: number;
  timeoutMs: number;
  allowedHosts: string[];
  include: string[];
  exclude: string[];
  fields: Record<string, string>;
  webhook: string | null;
  label: string | null;
  /** Seed from sitemaps too; absent in sessions created before the option existed (= false). */
  sitemaps?: boolean;
  /** Record formats; absent in sessions created before the option existed (= [], the record those sessions started with). */
  formats?: RecordFormat[];
  /** Content without boilerplate; absent in sessions created before the option existed (= true). */
  onlyMainContent?: boolean;
  /** WARC files of the exchanges; absent = false. */
  warc?: boolean;
  /** Secrets of request headers kept in WARC request records; absent = false (`***`). */
  warcRecordSecrets?: boolean;
  /** Request state (shared/fetch/request-state.ts); each absent unless the request gave it. Values are secrets: outputs show them through redactSpec. */
  headers?: Record<string, string>;
  cookies?: SessionCookie[];
  cookieJar?: boolean;
  userAgent?: string;
  /** Documents parsed; absent in sessions created before the option existed (= all). */
  documents?: DocumentKind[];
  /** The recrawl policy; absent when the session asked for none (every page is fetched). */
  recrawl?: RecrawlPolicy;
  /** Rendering (see SessionRequest); absent: render.defaultMode, load, render.timeoutMs, image+media+font, no screenshot. */
  render?: RenderMode;
  waitFor?: string;
  renderTimeoutMs?: number;
  blockResources?: RenderResourceType[];
  screenshot?: boolean;
}

export interface SessionCounts {
  admitted: number;
  fetched: number;
  delivered: number;
  failed: number;
  skipped: number;
  cancelled: number;
  supplements: number;
}

/**
 * Links refused by a spider-trap rule, by reason (the session's `trap:<reason>` counters):
 * every known reason, 0 when none (url_length, path_depth, repeated_segments, query_params,
 * host_pages), and any other reason a counter exists for.
 */
export type TrapCounts = Record<string, number>;

export interface SessionView {
  id: string;
  status: SessionStatus;
  createdAt: string;
  deadlineAt: string;
  finishedAt: string | null;
  counts: SessionCounts;
  /** Seeds that ended without being delivered (failed or skipped): all of them means nothing could be crawled. */
  seedsFailed: number;
  /** Pages by what the crawl index said of them: fresh (not fetched), notModified (304), changed, new (body never seen). */
  recrawl: Record<'fresh' | 'notModified' | 'changed' | 'new', number>;
  traps: TrapCounts;
  spec: SessionSpec;
  resultsFile: string | null;
}
