/**
 * What travels on the queues. The state travels with the task: every task names its
 * session and carries all a stateless consumer needs to do its step. A message carries a
 * batch of tasks of one kind (see shared/messaging/batch.ts and codec.ts); its envelope
 * holds the format version, and consumers refuse versions they do not know.
 */

export const MESSAGE_VERSION = 2;

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
}

/** Record fields that a byte cap (content.max*Bytes) applies to. */
export type CappedRecordField = 'markdown' | 'text' | 'html' | 'rawHtml' | 'links';

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
  /** The fields cut at their byte cap; absent when none was. */
  truncated?: CappedRecordField[];
  /** Set on results delivered after the session went partial. */
  supplement?: boolean;
  /** Set on the records of robots.txt and sitemap documents (`links` counts the URLs they listed). */
  role?: TaskRole;
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
  traps: TrapCounts;
  spec: SessionSpec;
  resultsFile: string | null;
}
