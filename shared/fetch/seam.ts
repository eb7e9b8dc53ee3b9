/**
 * The fetch seam: what a stage that fetches a URL needs, whatever does the fetching. The
 * undici fetcher (services/fetcher/http.ts) implements it; a browser-based fetcher can
 * implement it too. The request options are built in one place (`fetchRequest`) from the live
 * configuration, with the few per-use overrides a caller has (robots.txt reads a prefix).
 */
import type { Config } from '../config/index.js';
import type { HttpExchange } from '../warc/exchange.js';
import type { Validators } from '../crawlindex/policy.js';

export interface FetchRequest {
  userAgent: string;
  headersTimeoutMs: number;
  bodyIdleTimeoutMs: number;
  totalTimeoutMs: number;
  maxBytes: number;
  maxRedirects: number;
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
