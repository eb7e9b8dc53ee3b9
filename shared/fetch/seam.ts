/**
 * The fetch seam: what a stage that fetches a URL needs, whatever does the fetching. The
 * undici fetcher (services/fetcher/http.ts) implements it; a browser-based fetcher can
 * implement it too. The request options are built in one place (`fetchRequest`) from the live
 * configuration, with the few per-use overrides a caller has (robots.txt reads a prefix).
 */
import type { Config } from '../config/index.js';
import type { HttpExchange } from '../warc/exchange.js';
import type { Validators } from '../crawlindex/policy.js';
import { declaredDocumentKind } from '../content/documents.js';
import type { DocumentKind } from '../tasks/types.js';

export interface FetchRequest {
  userAgent: string;
  headersTimeoutMs: number;
  bodyIdleTimeoutMs: number;
  totalTimeoutMs: number;
  /** Largest body, on the wire and after each decompression layer (fetch.maxBytes); see `documents` and bodyCap. */
  maxBytes: number;
  maxRedirects: number;
  /**
   * The cap of a response whose Content-Type declares a document the session parses
   * (documents.maxBytes for the kinds of its `documents` list), in place of maxBytes; see
   * bodyCap. Absent (robots.txt and sitemap fetches), maxBytes caps every response.
   */
  documents?: { kinds: readonly DocumentKind[]; maxBytes: number } | undefined;
  /** Called for every redirect target; return false to stop (e.g. out of scope). */
  allowRedirect?: ((url: URL) => boolean) | undefined;
  /**
   * Keep the first maxBytes of the body (on the wire and decoded) instead of failing with
   * too_large: for robots.txt, of which only a prefix is read.
   */
  truncate?: boolean | undefined;
  /** The Accept header (default: HTML first). */
  accept?: string | undefined;
  /** Content types (`image/*` style patterns) whose body is not downloaded: the fetch stops after the headers. */
  skipTypes?: readonly string[] | undefined;
  /** Validators of a conditional request (the crawl index's ETag and Last-Modified), sent on the first hop only. */
  validators?: Validators | undefined;
  /**
   * Keep the exchange as it went over the wire (WARC): the request's header lines, the status
   * line and header lines as received, the body before decompression. Off, nothing is kept.
   */
  capture?: boolean | undefined;
  /** The session's request state (headers, cookies), asked at every hop (shared/fetch/request-state.ts). */
  requestState?: HopState | undefined;
}

/**
 * What a fetch asks of a session's request state at each hop (the first request and each
 * redirect): the headers for this URL (none for a host out of the session's scope), and what
 * to do with the hop's Set-Cookie lines. Its errors are CrawlErrors.
 */
export interface HopState {
  headersFor(url: URL): Promise<Record<string, string>>;
  received(url: URL, setCookie: readonly string[]): Promise<void>;
}

export interface FetchResponse {
  status: number;
  finalUrl: string;
  headers: Record<string, string>;
  body: Buffer;
  redirects: number;
  ms: number;
  /** The body was cut at maxBytes (only with `truncate`). */
  truncated: boolean;
  /** The type is one of `skipTypes`: the body was not downloaded (it is empty). */
  bodySkipped?: boolean;
  /** The final hop's exchange as on the wire (only with `capture`). */
  exchange?: HttpExchange;
}

export interface PageFetcher {
  /** Fetches a URL; throws a CrawlError (timeout, too_large, blocked_address, ...) when it cannot. */
  fetch(url: string, request: FetchRequest): Promise<FetchResponse>;
  /** Checks a URL before anything is dialed (scheme, IP literals against the address policy); throws a CrawlError. */
  preflight(url: URL): void;
  close(): Promise<void>;
}

/** The request options of a fetch under this config, with a caller's overrides. */
export function fetchRequest(cfg: Config, overrides: Partial<FetchRequest> = {}): FetchRequest {
  const f = cfg.fetch;
  return {
    userAgent: f.userAgent,
    headersTimeoutMs: f.headersTimeoutMs,
    bodyIdleTimeoutMs: f.bodyIdleTimeoutMs,
    totalTimeoutMs: f.totalTimeoutMs,
    maxBytes: f.maxBytes,
    maxRedirects: f.maxRedirects,
    ...overrides,
  };
}

/**
 * The byte cap of a response, chosen from its Content-Type once the headers are in and before
 * a byte of the body is read (so a bomb cannot pass it): `documents.maxBytes` when the type
 * declares a document kind the session parses (PDF, DOCX, a feed or other XML/JSON, plain text
 * or Markdown), else `maxBytes`. A type that declares no document (missing,
 * `application/octet-stream`, HTML) keeps `maxBytes`, even when the bytes later show a PDF.
 */
export function bodyCap(req: Pick<FetchRequest, 'maxBytes' | 'documents'>, contentType: string | null | undefined): number {
  if (!req.documents) return req.maxBytes;
  const kind = declaredDocumentKind(contentType);
  return kind !== null && req.documents.kinds.includes(kind) ? req.documents.maxBytes : req.maxBytes;
}
