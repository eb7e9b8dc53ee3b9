/**
 * URL normalization: one canonical string per crawlable resource, so the
 * frontier deduplicates `HTTP://Example.com:80/a/../b?b=2&a=1#x` and
 * `http://example.com/b?a=1&b=2` as the same page. Pure functions, no I/O.
 *
 * Bump NORMALIZER_VERSION whenever the output of normalizeUrl changes for some
 * input: fingerprints stored under an older version are no longer comparable.
 */
import { createHash } from 'node:crypto';

/** Version of the normalization rules; stored next to fingerprints. */
export const NORMALIZER_VERSION = 1;

/**
 * Tracking and session parameters worth stripping. normalizeUrl strips nothing
 * unless told; admission strips these (the default of `traps.stripParams`).
 */
export const DEFAULT_STRIP_PARAMS: readonly string[] = ['utm_*', 'gclid', 'fbclid', 'jsessionid', 'phpsessid', 'sid'];

export interface NormalizeOptions {
  /**
   * Query parameter names to drop, compared case-insensitively; an entry ending
   * in `*` is a prefix (`utm_*`). Listing `jsessionid` also strips the
   * `;jsessionid=...` path parameter. Default: none.
   */
  stripParams?: readonly string[];
  /** Sort query parameters by name (stable: duplicates keep their order). Default true. */
  sortQuery?: boolean;
}

/** A predicate answering "is this parameter name stripped?". */
type NameMatcher = (name: string) => boolean;

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const ESCAPE = /%([0-9A-Fa-f]{2})/g;
const JSESSIONID_PATH_PARAM = /;jsessionid=[^;/]*/gi;

/**
 * Normalizes `input` (resolved against `base` when given) to the canonical
 * absolute form, or null when it cannot be parsed or is not http(s).
 *
 * Rules: lowercase scheme and host, IDN host to punycode, no default port, no
 * userinfo, no fragment, dot segments resolved, empty path as `/`, percent
 * escapes with uppercase hex and unreserved characters decoded, empty query
 * removed (empty `&&` pieces too), optional parameter stripping and query
 * sorting. Path case and trailing slashes are kept.
 */
export function normalizeUrl(input: string, base?: string | URL, opts: NormalizeOptions = {}): string | null {
  const url = parseHttp(input, base);
  if (!url) return null;
  const stripped = compileNameMatcher(opts.stripParams ?? []);

  let path = url.pathname;
  if (stripped('jsessionid') && path.includes(';')) {
    // Removing a path parameter can expose a dot segment (`/..;jsessionid=1`):
    // let the URL parser resolve the rewritten path again.
    const reparsed = parseHttp(`${url.origin}${path.replace(JSESSIONID_PATH_PARAM, '')}`);
    if (!reparsed) return null;
    path = reparsed.pathname;
  }
  path = normalizeEscapes(path);

  const query = normalizeQuery(url.search.slice(1), stripped, opts.sortQuery ?? true);
  return `${url.protocol}//${url.host}${path}${query === '' ? '' : `?${query}`}`;
}

/** The `host[:port]` of a URL normalizeUrl produced, read off the string (no parse). */
export function hostOfNormalized(normalizedUrl: string): string {
  const start = normalizedUrl.indexOf('//') + 2;
  const end = normalizedUrl.indexOf('/', start);
  return normalizedUrl.slice(start, end < 0 ? undefined : end);
}

/** The 16-character base64url SHA-1 prefix (96 bits) identifying a normalized URL. */
export function fingerprint(normalizedUrl: string): string {
  return createHash('sha1').update(normalizedUrl).digest('base64url').slice(0, 16);
}

/** Parses with the WHATWG parser; null unless it yields an http(s) URL. */
function parseHttp(input: string, base?: string | URL): URL | null {
  let url: URL;
  try {
    url = new URL(input, base);
  } catch {
    return null;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
}

/** Uppercases the hex of every escape and decodes escapes of unreserved characters. */
function normalizeEscapes(text: string): string {
  if (!text.includes('%')) return text;
  return text.replace(ESCAPE, (_escape, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
}

/** Normalizes a raw query (without `?`): escapes, stripping, sorting. Keeps `+` and values verbatim. */
function normalizeQuery(raw: string, stripped: NameMatcher, sort: boolean): string {
  if (raw === '') return '';
  const pairs = raw
    .split('&')
    .filter((piece) => piece !== '')
    .map((piece) => {
      const normalized = normalizeEscapes(piece);
      const eq = normalized.indexOf('=');
      return { key: eq === -1 ? normalized : normalized.slice(0, eq), piece: normalized };
    })
    .filter(({ key }) => !stripped(decodeName(key)));
  // Array.prototype.sort is stable: equal keys keep their original order.
  if (sort) pairs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return pairs.map(({ piece }) => piece).join('&');
}

/** A parameter name as a server would read it, for matching against the strip list. */
function decodeName(key: string): string {
  try {
    return decodeURIComponent(key.replaceAll('+', ' '));
  } catch {
    return key;
  }
}

const NONE: NameMatcher = () => false;
/** Compiled strip lists: by the list itself (a config snapshot's array), else by content. */
const byList = new WeakMap<readonly string[], NameMatcher>();
const byContent = new Map<string, NameMatcher>();

/** Compiles strip-list entries (exact names or `prefix*`) into a case-insensitive matcher, once per list. */
function compileNameMatcher(entries: readonly string[]): NameMatcher {
  if (entries.length === 0) return NONE;
  let matcher = byList.get(entries);
  if (matcher) return matcher;
  const key = entries.join('\n');
  matcher = byContent.get(key);
  if (!matcher) {
    if (byContent.size >= 64) byContent.clear();
    matcher = buildNameMatcher(entries);
    byContent.set(key, matcher);
  }
  byList.set(entries, matcher);
  return matcher;
}

function buildNameMatcher(entries: readonly string[]): NameMatcher {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of entries) {
    const lower = entry.toLowerCase();
    if (lower.endsWith('*')) prefixes.push(lower.slice(0, -1));
    else exact.add(lower);
  }
  return (name) => {
    const lower = name.toLowerCase();
    return exact.has(lower) || prefixes.some((prefix) => lower.startsWith(prefix));
  };
}
