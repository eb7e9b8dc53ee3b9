/** Pure decisions of the fetcher: what a response means, and when to try again. */
import type { ErrorCode } from '../../shared/errors/index.js';
import { RETRY_DELAYS_MS, retryBucket } from '../../shared/messaging/topology.js';

/** The error code of a final HTTP status, or null when the response is a page to keep. */
export function statusError(status: number): ErrorCode | null {
  if (status >= 200 && status < 300) return null;
  if (status === 429) return 'http_rate_limited';
  if (status >= 500) return 'http_server_error';
  if (status >= 400) return 'http_client_error';
  if (status >= 300) return 'bad_redirect';
  return 'protocol_error';
}

export function statusClass(status: number | null): string {
  return status === null ? 'error' : `${Math.floor(status / 100)}xx`;
}

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * Delay before the next attempt after `attempt` failed (1-based), exponential with full
 * jitter in [0.5, 1.5), honouring a server's Retry-After when larger; rounded to a retry
 * queue. Null when no attempt is left.
 */
export function retryDelay(attempt: number, policy: RetryPolicy, random: number, retryAfterMs: number | null = null): number | null {
  if (attempt >= policy.maxAttempts) return null;
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const jittered = retryBucket(Math.min(exp * (0.5 + random), policy.maxDelayMs));
  if (retryAfterMs === null || retryAfterMs <= jittered) return jittered;
  // A server's Retry-After is a minimum: the first retry queue at least that long.
  const wanted = Math.min(retryAfterMs, policy.maxDelayMs);
  return RETRY_DELAYS_MS.find((d) => d >= wanted) ?? RETRY_DELAYS_MS[RETRY_DELAYS_MS.length - 1]!;
}

/** Retry-After as milliseconds (seconds or an HTTP date), or null. */
export function parseRetryAfter(value: string | undefined, now: number): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** The MIME type of a Content-Type header, lowercase, without parameters. */
export function mimeType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}
