/**
 * The error catalogue. Every failure a task or a request can meet has a stable
 * `code` (what records, logs, metrics and API errors carry), a class that says
 * whether retrying can help, and a one-line meaning. docs/errors.md lists the
 * same table; a unit test keeps the two in sync.
 *
 * Match on `err.code`, never on message text.
 */

export type ErrorClass = 'retryable' | 'permanent' | 'skip';

interface CatalogueEntry {
  readonly class: ErrorClass;
  readonly doc: string;
}

export const CATALOGUE = {
  // fetch, transient
  timeout: { class: 'retryable', doc: 'A fetch or stage exceeded its deadline (connect, headers, idle body, total, or lease).' },
  connect_failed: { class: 'retryable', doc: 'The connection was refused, reset or closed early.' },
  dns_failed: { class: 'retryable', doc: 'The host name could not be resolved.' },
  http_rate_limited: { class: 'retryable', doc: 'The server answered 429.' },
  http_server_error: { class: 'retryable', doc: 'The server answered 5xx.' },
  // fetch, permanent
  http_client_error: { class: 'permanent', doc: 'The server answered 4xx (other than 429).' },
  too_large: { class: 'permanent', doc: 'The body exceeded fetch.maxBytes (documents.maxBytes for a document) on the wire or after decompression.' },
  too_many_redirects: { class: 'permanent', doc: 'More redirects than fetch.maxRedirects, or a redirect loop.' },
  bad_redirect: { class: 'permanent', doc: 'A redirect without a usable Location.' },
  blocked_address: { class: 'permanent', doc: 'The host resolved to an address the SSRF guard forbids (see fetch.allowedNetworks).' },
  bad_url: { class: 'permanent', doc: 'The URL cannot be fetched (syntax, scheme).' },
  protocol_error: { class: 'permanent', doc: 'The response was malformed (bad encoding, bad headers).' },
  parse_failed: { class: 'permanent', doc: 'The page could not be parsed.' },
  parse_timeout: { class: 'permanent', doc: 'Parsing the page took longer than extract.maxParseMs (pathological HTML).' },
  document_encrypted: { class: 'permanent', doc: 'The document (a PDF) is encrypted: its text cannot be read without a password.' },
  document_corrupt: { class: 'permanent', doc: 'The document (PDF, DOCX, feed) is truncated or malformed and cannot be parsed.' },
  render_timeout: { class: 'retryable', doc: 'Rendering the page in headless Chromium took longer than its renderTimeoutMs (a page that never settles, a script in an endless loop); the context was closed.' },
  render_crashed: { class: 'retryable', doc: 'The browser or the page crashed while rendering; the task is rendered again.' },
  browser_unavailable: { class: 'retryable', doc: 'The renderer could not start Chromium (see render.chromiumPath).' },
  poison: { class: 'permanent', doc: 'The task crashed its consumer on every delivery and was dead-lettered.' },
  // skips: decided, not failed
  out_of_scope: { class: 'skip', doc: 'The redirect target is outside the session scope.' },
  robots: { class: 'skip', doc: "The host's robots.txt disallows the URL for the crawler's User-Agent." },
  robots_unreachable: { class: 'skip', doc: 'robots.txt could not be fetched (5xx, 429, timeout, network error): the host counts as fully disallowed until robots.errorTtlMs passes.' },
  cancelled: { class: 'skip', doc: 'The session was cancelled before the task ran.' },
  deadline: { class: 'skip', doc: 'The session closed before the task ran.' },
  fresh: { class: 'skip', doc: 'The session\'s recrawl.maxAgeMs: a session fetched the page recently enough; its links from that fetch were followed.' },
  // API and control plane
  validation: { class: 'permanent', doc: 'A request or setting failed validation.' },
  not_found: { class: 'permanent', doc: 'The session or resource does not exist.' },
  unauthorized: { class: 'permanent', doc: 'A missing or wrong API token.' },
  conflict: { class: 'permanent', doc: 'The resource changed meanwhile (version mismatch, wrong state).' },
  config_invalid: { class: 'permanent', doc: 'A configuration source holds an invalid value.' },
  unavailable: { class: 'retryable', doc: 'RabbitMQ or Redis cannot be reached right now.' },
  internal: { class: 'retryable', doc: 'An unexpected error; the message is redelivered up to the delivery limit.' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof CATALOGUE;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(CATALOGUE, value);
}

export class CrawlError extends Error {
  override readonly name = 'CrawlError';
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  get errorClass(): ErrorClass {
    return CATALOGUE[this.code].class;
  }

  get retryable(): boolean {
    return this.errorClass === 'retryable';
  }
}

/** Any thrown value as a CrawlError; unknown errors become `internal`, chained by `cause`. */
export function toCrawlError(err: unknown): CrawlError {
  if (err instanceof CrawlError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CrawlError('internal', message, { cause: err });
}
