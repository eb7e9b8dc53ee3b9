/**
 * The recrawl decisions, pure: whether a session fetches a URL the index knows, with which
 * validators, whether a fetched page changed, and which recrawl counter a record moves.
 */
import type { IndexEntry } from './entry.js';

/** A session's `recrawl` (POST /sessions). */
export interface RecrawlPolicy {
  /** A URL any session fetched with a 2xx (or revalidated with a 304) less than this long ago is not fetched. */
  maxAgeMs?: number;
  /** Send If-None-Match / If-Modified-Since from the index. */
  conditional?: boolean;
}

/** The request headers of a conditional GET. */
export interface Validators {
  ifNoneMatch?: string;
  ifModifiedSince?: string;
}

export type RecrawlDecision =
  /** Fetch; with validators when the request is conditional. */
  | { kind: 'fetch'; validators: Validators | null }
  /** Do not fetch: the last fetch is fresh enough; the page's links come from that fetch's record. */
  | { kind: 'fresh'; entry: IndexEntry };

/** A last fetch whose content the index can stand for: a 2xx, or a 304 that revalidated one. */
export function isGoodFetch(entry: IndexEntry): boolean {
  return (entry.status >= 200 && entry.status < 300) || entry.status === 304;
}

/** What the session does with a URL, given the index's entry (null: never fetched, or expired). */
export function recrawlDecision(entry: IndexEntry | null, policy: RecrawlPolicy | undefined, now: number): RecrawlDecision {
  if (!entry || !policy || !isGoodFetch(entry)) return { kind: 'fetch', validators: null };
  if (policy.maxAgeMs !== undefined && policy.maxAgeMs > 0 && now - entry.fetchedAt < policy.maxAgeMs) return { kind: 'fresh', entry };
  if (policy.conditional) {
    const v: Validators = {};
    if (entry.etag !== null) v.ifNoneMatch = entry.etag;
    if (entry.lastModified !== null) v.ifModifiedSince = new Date(entry.lastModified).toUTCString();
    if (v.ifNoneMatch !== undefined || v.ifModifiedSince !== undefined) return { kind: 'fetch', validators: v };
  }
  return { kind: 'fetch', validators: null };
}

/**
 * Whether a fetched body differs from the one the index knew: null when the index knew none
 * (never fetched, expired, or no body then or now).
 */
export function changedSince(previous: IndexEntry | null, contentHash: string | null): boolean | null {
  if (!previous || previous.contentHash === null || contentHash === null) return null;
  return previous.contentHash !== contentHash;
}

export type RecrawlCounter = 'fresh' | 'notModified' | 'changed' | 'new';
export const RECRAWL_COUNTERS: readonly RecrawlCounter[] = ['fresh', 'notModified', 'changed', 'new'];

/**
 * The counter a terminal record moves in GET /sessions/:id (`recrawl`): `fresh` (skipped, not
 * fetched), `notModified` (a 304), `changed` (its body differs from the last fetch's), `new`
 * (delivered with a body the index did not know); null for the rest (unchanged, failures).
 */
export function recrawlCounter(record: { outcome: string; reason: string | null; notModified?: boolean; changed?: boolean | null }): RecrawlCounter | null {
  if (record.outcome === 'skipped' && record.reason === 'fresh') return 'fresh';
  if (record.outcome !== 'delivered') return null;
  if (record.notModified === true) return 'notModified';
  if (record.changed === true) return 'changed';
  if (record.changed === null) return 'new';
  return null;
}
