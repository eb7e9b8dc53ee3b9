/**
 * Spider-trap rules: shapes of URL that a site can generate without end (calendars, session
 * ids in paths, `/a/a/a/...` relative-link loops, faceted queries). A link that breaks a rule
 * is not admitted; the extractor counts it per reason in the session. Pure: decides on the
 * normalized URL alone. Every limit is "0 = unlimited".
 */

export interface TrapRules {
  /** Longest URL (characters of the normalized form). */
  maxUrlLength: number;
  /** Most non-empty path segments. */
  maxPathDepth: number;
  /** Most occurrences of any one path segment (`/a/b/a/b/a/b/a` has `a` 4 times). */
  maxRepeatedSegments: number;
  /** Most query parameters. */
  maxQueryParams: number;
}

/** Why a link was refused; also the suffix of the session's `trap:<reason>` counter. */
export type TrapReason = 'url_length' | 'path_depth' | 'repeated_segments' | 'query_params';

export const TRAP_REASONS: readonly TrapReason[] = ['url_length', 'path_depth', 'repeated_segments', 'query_params'];

/**
 * Every `trap:<reason>` counter of a session: the rules above, counted by the extractor before
 * it asks Redis, and `host_pages`, counted by admit-found-5.lua (traps.maxPagesPerHost).
 */
export const TRAP_COUNTERS: readonly string[] = [...TRAP_REASONS, 'host_pages'];

/** What a rule refuses, with its limit, e.g. `more than 32 path segments`. */
export function explainTrap(reason: TrapReason, rules: TrapRules): string {
  switch (reason) {
    case 'url_length':
      return `longer than ${rules.maxUrlLength} characters`;
    case 'path_depth':
      return `more than ${rules.maxPathDepth} path segments`;
    case 'repeated_segments':
      return `a path segment more than ${rules.maxRepeatedSegments} times`;
    case 'query_params':
      return `more than ${rules.maxQueryParams} query parameters`;
  }
}

/** The first rule a normalized absolute URL breaks, or null when it may be admitted. */
export function trapOf(url: string, rules: TrapRules): TrapReason | null {
  if (rules.maxUrlLength > 0 && url.length > rules.maxUrlLength) return 'url_length';
  const scheme = url.indexOf('//');
  const pathStart = url.indexOf('/', scheme < 0 ? 0 : scheme + 2);
  if (pathStart < 0) return null;
  const q = url.indexOf('?', pathStart);
  const path = q < 0 ? url.slice(pathStart) : url.slice(pathStart, q);
  if (rules.maxPathDepth > 0 || rules.maxRepeatedSegments > 0) {
    const segments = path.split('/').filter((s) => s !== '');
    if (rules.maxPathDepth > 0 && segments.length > rules.maxPathDepth) return 'path_depth';
    if (rules.maxRepeatedSegments > 0 && segments.length > rules.maxRepeatedSegments && mostRepeated(segments) > rules.maxRepeatedSegments) {
      return 'repeated_segments';
    }
  }
  if (rules.maxQueryParams > 0 && q >= 0) {
    const params = url.slice(q + 1).split('&').filter((p) => p !== '').length;
    if (params > rules.maxQueryParams) return 'query_params';
  }
  return null;
}

/** How often the most frequent segment occurs. */
function mostRepeated(segments: readonly string[]): number {
  const counts = new Map<string, number>();
  let most = 0;
  for (const s of segments) {
    const n = (counts.get(s) ?? 0) + 1;
    counts.set(s, n);
    if (n > most) most = n;
  }
  return most;
}
