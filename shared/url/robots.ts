/**
 * A pure RFC 9309 robots.txt parser and matcher (no I/O).
 *
 * - Groups start with one or more `user-agent` lines; a `user-agent` line after
 *   a rule (`allow`, `disallow`, `crawl-delay`) starts a new group. Rules before
 *   the first `user-agent` line belong to no group and are ignored.
 * - The crawler's product token is compared case-insensitively with the product
 *   token of each `user-agent` value (its leading run of letters, `_` and `-`,
 *   as RFC 9309 defines the token: `Googlebot/2.1` is `googlebot`). Every group
 *   naming the token is used (merged); if none does, every `*` group (merged);
 *   if there is no `*` group either, everything is allowed. A matched group with
 *   no rules allows everything: it does not fall back to `*`.
 * - `allow` / `disallow` patterns: `*` matches any run of characters, a final
 *   `$` anchors the end; everything else is literal and a pattern is a prefix of
 *   the path otherwise. The longest matching pattern (in octets, after
 *   normalization, `*` and `$` included) decides; on a tie allow wins. An empty
 *   value is no rule (so `disallow:` alone allows everything).
 * - Patterns and paths are compared after percent-encoding normalization:
 *   `%XX` of an unreserved character (`A-Z a-z 0-9 - . _ ~`) is decoded, other
 *   `%xx` escapes get upper-case hex, non-ASCII characters become `%XX` of their
 *   UTF-8 bytes, and controls and spaces are escaped. `%2F` therefore never
 *   equals `/`.
 * - `/robots.txt` is always allowed (also by `DISALLOW_ALL`).
 * - `sitemap:` lines count anywhere in the file (absolute http(s) URLs only,
 *   deduplicated, in file order); `crawl-delay` (non-standard) is read from the
 *   selected groups: a non-negative decimal number of seconds, the largest if
 *   several; anything else is ignored.
 * - Only the first `ROBOTS_MAX_BYTES` UTF-8 octets are parsed (a line cut by
 *   the limit is dropped). BOM, CR, LF and CRLF line ends, `#` comments and
 *   case-insensitive keys are handled; unknown keys are ignored; a few common
 *   key misspellings are accepted as Google's parser does (`useragent`,
 *   `user agent`, `dissallow`, `disalow`, `site-map`, `crawldelay`...).
 *
 * Matching splits a pattern at its `*`s once, at parse time, and matches the
 * pieces left to right with `indexOf` (leftmost-first is exact for `*`-only
 * globs): no regular expression is ever built from the file, so no input can
 * make matching backtrack exponentially.
 */

/** RFC 9309 requires parsing at least 500 KiB; content beyond this many octets is ignored. */
export const ROBOTS_MAX_BYTES = 512 * 1024;

/** One `allow` or `disallow` line of a group. */
export interface RobotsRule {
  readonly allow: boolean;
  /** The pattern after percent-encoding normalization (what is matched and measured). */
  readonly pattern: string;
}

/** One group: its `user-agent` values (as written) and its rules, in file order. */
export interface RobotsGroup {
  readonly userAgents: readonly string[];
  readonly rules: readonly RobotsRule[];
  /** The group's valid `crawl-delay` in seconds (the largest if repeated), else null. */
  readonly crawlDelayS: number | null;
}

/** Everything a robots.txt says, for every agent. */
export interface RobotsRules {
  readonly groups: readonly RobotsGroup[];
  /** Absolute http(s) `sitemap:` URLs, deduplicated, in file order. */
  readonly sitemaps: readonly string[];
}

/** The rules that apply to one crawler. */
export interface Robots {
  /** Whether the path (with its query; a `#fragment` is ignored) may be fetched. */
  isAllowed(pathWithQuery: string): boolean;
  /** `crawl-delay` of the selected group(s) in seconds, or null. */
  readonly crawlDelayS: number | null;
  /** `sitemap:` URLs of the whole file (they do not belong to groups). */
  readonly sitemaps: readonly string[];
  /** Which groups were selected: the crawler's own, the `*` ones, or none (everything allowed). */
  readonly matched: 'agent' | 'wildcard' | 'none';
  /** The rules of the selected group(s), merged in file order. */
  readonly rules: readonly RobotsRule[];
}

/** A rule split for matching. */
interface CompiledRule {
  readonly allow: boolean;
  /** Octets of the normalized pattern: the precedence of the rule. */
  readonly length: number;
  /** The pattern's literal pieces between `*`s (empty inner pieces removed). */
  readonly pieces: readonly string[];
  /** The pattern ended with `$`. */
  readonly anchored: boolean;
}

const EMPTY: readonly string[] = Object.freeze([]);

type Key = 'user-agent' | 'allow' | 'disallow' | 'sitemap' | 'crawl-delay';

/** Keys, lower-cased with inner whitespace collapsed, including the misspellings Google accepts. */
const KEYS: ReadonlyMap<string, Key> = new Map<string, Key>([
  ['user-agent', 'user-agent'],
  ['useragent', 'user-agent'],
  ['user agent', 'user-agent'],
  ['allow', 'allow'],
  ['disallow', 'disallow'],
  ['dissallow', 'disallow'],
  ['dissalow', 'disallow'],
  ['disalow', 'disallow'],
  ['diasllow', 'disallow'],
  ['disallaw', 'disallow'],
  ['sitemap', 'sitemap'],
  ['site-map', 'sitemap'],
  ['crawl-delay', 'crawl-delay'],
  ['crawldelay', 'crawl-delay'],
]);

const HEX = '0123456789ABCDEF';
const PRODUCT_TOKEN = /^[A-Za-z_-]+/;
const ABSOLUTE_URL = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const DELAY = /^(?:\d+(?:\.\d*)?|\.\d+)$/;

function isHexDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function isUnreserved(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5f ||
    c === 0x7e
  );
}

function pctByte(b: number): string {
  return `%${HEX[b >> 4]}${HEX[b & 15]}`;
}

/**
 * Percent-encoding normalization shared by patterns and paths: decodes `%XX`
 * of unreserved characters, upper-cases the hex of other escapes, escapes
 * non-ASCII (as UTF-8), controls and spaces. Other characters are kept.
 */
export function normalizePercent(s: string): string {
  let out = '';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      if (i + 2 < s.length && isHexDigit(s.charCodeAt(i + 1)) && isHexDigit(s.charCodeAt(i + 2))) {
        const byte = parseInt(s.slice(i + 1, i + 3), 16);
        out += s.slice(start, i) + (isUnreserved(byte) ? String.fromCharCode(byte) : pctByte(byte));
        i += 2;
        start = i + 1;
      }
    } else if (c <= 0x20 || c >= 0x7f) {
      out += s.slice(start, i);
      if (c < 0x80) {
        out += pctByte(c);
      } else {
        const cp = s.codePointAt(i)!;
        const ch = String.fromCodePoint(cp);
        // Lone surrogates encode as U+FFFD, like any UTF-8 encoder would.
        for (const b of Buffer.from(cp >= 0xd800 && cp <= 0xdfff ? '\ufffd' : ch, 'utf8')) out += pctByte(b);
        i += ch.length - 1;
      }
      start = i + 1;
    }
  }
  return start === 0 ? s : out + s.slice(start);
}

function compile(rule: RobotsRule): CompiledRule {
  let body = rule.pattern;
  const anchored = body.endsWith('$');
  if (anchored) body = body.slice(0, -1);
  const split = body.split('*');
  const pieces = [split[0]!, ...split.slice(1, -1).filter((p) => p !== ''), ...(split.length > 1 ? [split.at(-1)!] : [])];
  return { allow: rule.allow, length: rule.pattern.length, pieces, anchored };
}

/** Whether a compiled pattern matches a normalized path; linear in the path per piece. */
function matches(rule: CompiledRule, path: string): boolean {
  const { pieces, anchored } = rule;
  const first = pieces[0]!;
  if (!path.startsWith(first)) return false;
  if (pieces.length === 1) return !anchored || path.length === first.length;
  let pos = first.length;
  const last = pieces.length - 1;
  for (let k = 1; k < last; k++) {
    const at = path.indexOf(pieces[k]!, pos);
    if (at < 0) return false;
    pos = at + pieces[k]!.length;
  }
  const tail = pieces[last]!;
  if (anchored) return path.length - tail.length >= pos && path.endsWith(tail);
  return tail === '' || path.indexOf(tail, pos) >= 0;
}

/** The path to compare: from a full URL its path and query; fragment dropped; leading `/` ensured; normalized. */
function pathToMatch(pathWithQuery: string): string {
  let p = pathWithQuery;
  if (ABSOLUTE_URL.test(p)) {
    try {
      const url = new URL(p);
      p = url.pathname + url.search;
    } catch {
      // not a URL after all: matched as a path
    }
  }
  const hash = p.indexOf('#');
  if (hash >= 0) p = p.slice(0, hash);
  return normalizePercent(p.startsWith('/') ? p : `/${p}`);
}

function isRobotsTxt(path: string): boolean {
  return path === '/robots.txt' || path.startsWith('/robots.txt?');
}

/** The leading part of `text` the parser reads: at most ROBOTS_MAX_BYTES octets, whole lines only. */
function truncate(text: string): string {
  if (text.length * 3 <= ROBOTS_MAX_BYTES) return text;
  // UTF-8 takes at least one octet per UTF-16 unit: MAX + 1 units hold more than MAX octets, if there are that many.
  const bytes = Buffer.from(text.slice(0, ROBOTS_MAX_BYTES + 1), 'utf8');
  if (bytes.length <= ROBOTS_MAX_BYTES) return text;
  const cut = bytes.subarray(0, ROBOTS_MAX_BYTES).toString('utf8');
  // Keep the last line only if the limit falls exactly on a line end.
  const next = bytes[ROBOTS_MAX_BYTES];
  if (next === 0x0a || next === 0x0d) return cut;
  const end = Math.max(cut.lastIndexOf('\n'), cut.lastIndexOf('\r'));
  return cut.slice(0, end + 1);
}

function parseDelay(value: string): number | null {
  if (!DELAY.test(value)) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

function parseSitemap(value: string): string | null {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

/** Parses every group and sitemap of a robots.txt (only the first ROBOTS_MAX_BYTES octets). */
export function parseRobotsRules(text: string): RobotsRules {
  let body = truncate(text);
  if (body.charCodeAt(0) === 0xfeff) body = body.slice(1);
  const groups: { userAgents: string[]; rules: RobotsRule[]; crawlDelayS: number | null }[] = [];
  const sitemaps: string[] = [];
  const seenSitemaps = new Set<string>();
  let current: (typeof groups)[number] | null = null;
  let inAgents = false;
  for (const raw of body.split(/\r\n|\r|\n/)) {
    const hash = raw.indexOf('#');
    const line = hash < 0 ? raw : raw.slice(0, hash);
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = KEYS.get(line.slice(0, colon).trim().toLowerCase().replace(/\s+/g, ' '));
    if (key === undefined) continue;
    const value = line.slice(colon + 1).trim();
    switch (key) {
      case 'user-agent':
        if (!inAgents || current === null) {
          current = { userAgents: [], rules: [], crawlDelayS: null };
          groups.push(current);
          inAgents = true;
        }
        current.userAgents.push(value);
        break;
      case 'allow':
      case 'disallow':
        if (current === null) break;
        inAgents = false;
        if (value !== '') current.rules.push({ allow: key === 'allow', pattern: normalizePercent(value) });
        break;
      case 'crawl-delay': {
        if (current === null) break;
        inAgents = false;
        const delay = parseDelay(value);
        if (delay !== null && (current.crawlDelayS === null || delay > current.crawlDelayS)) current.crawlDelayS = delay;
        break;
      }
      case 'sitemap': {
        const url = parseSitemap(value);
        if (url !== null && !seenSitemaps.has(url)) {
          seenSitemaps.add(url);
          sitemaps.push(url);
        }
        break;
      }
    }
  }
  return { groups, sitemaps };
}

/** The product token of a `user-agent` value, lower-cased; `*` for the wildcard; '' if none. */
function agentOf(value: string): string {
  if (/^\*(?:\s|$)/.test(value)) return '*';
  return PRODUCT_TOKEN.exec(value)?.[0].toLowerCase() ?? '';
}

class RobotsImpl implements Robots {
  readonly rules: readonly RobotsRule[];
  private readonly compiled: readonly CompiledRule[];

  constructor(
    rules: readonly RobotsRule[],
    readonly crawlDelayS: number | null,
    readonly sitemaps: readonly string[],
    readonly matched: 'agent' | 'wildcard' | 'none',
  ) {
    this.rules = Object.freeze([...rules]);
    this.compiled = rules.map(compile);
    Object.freeze(this.sitemaps);
  }

  isAllowed(pathWithQuery: string): boolean {
    if (this.compiled.length === 0) return true;
    const path = pathToMatch(pathWithQuery);
    if (isRobotsTxt(path)) return true;
    let best = -1;
    let allowed = true;
    for (const rule of this.compiled) {
      if (rule.length < best || (rule.length === best && !rule.allow)) continue;
      if (!matches(rule, path)) continue;
      best = rule.length;
      allowed = rule.allow;
    }
    return allowed;
  }
}

/** Selects the groups for a product token (see the module comment) out of parsed rules. */
export function robotsFor(parsed: RobotsRules, userAgentToken: string): Robots {
  const token = PRODUCT_TOKEN.exec(userAgentToken.trim())?.[0].toLowerCase() ?? '';
  const pick = (want: string): RobotsGroup[] =>
    want === '' ? [] : parsed.groups.filter((g) => g.userAgents.some((ua) => agentOf(ua) === want));
  let selected = pick(token);
  let matched: Robots['matched'] = 'agent';
  if (selected.length === 0) {
    selected = pick('*');
    matched = selected.length === 0 ? 'none' : 'wildcard';
  }
  let delay: number | null = null;
  for (const g of selected) {
    if (g.crawlDelayS !== null && (delay === null || g.crawlDelayS > delay)) delay = g.crawlDelayS;
  }
  return new RobotsImpl(
    selected.flatMap((g) => g.rules),
    delay,
    [...parsed.sitemaps],
    matched,
  );
}

/**
 * Parses a robots.txt for the crawler with the given product token (see
 * `userAgentToken`). Reads only the first ROBOTS_MAX_BYTES octets of `text`.
 */
export function parseRobots(text: string, userAgentToken: string): Robots {
  return robotsFor(parseRobotsRules(text), userAgentToken);
}

/** No restrictions: no robots.txt (4xx), or an empty one. */
export const ALLOW_ALL: Robots = Object.freeze(new RobotsImpl([], null, EMPTY, 'none'));

/** Complete disallow (robots.txt unreachable: 5xx, network error); `/robots.txt` itself stays allowed. */
export const DISALLOW_ALL: Robots = Object.freeze(new RobotsImpl([{ allow: false, pattern: '/' }], null, EMPTY, 'none'));

/**
 * What to do with a robots.txt answer, by final status (after redirects):
 * 2xx: parse the body; 3xx left over (more redirects than followed) and 4xx,
 * including 401 and 403: unavailable, allow all (RFC 9309 2.3.1.3); except
 * 429, treated like 5xx; 5xx and anything else (pass 0 for a network error or
 * timeout): unreachable, disallow all (RFC 9309 2.3.1.4).
 */
export function robotsForStatus(status: number): 'parse' | 'allow-all' | 'disallow-all' {
  if (!Number.isInteger(status)) return 'disallow-all';
  if (status >= 200 && status < 300) return 'parse';
  if (status === 429) return 'disallow-all';
  if (status >= 300 && status < 500) return 'allow-all';
  return 'disallow-all';
}

/**
 * The product token of a User-Agent header: its leading run of letters, `_`
 * and `-` (the RFC 9309 token alphabet). `crawlfleet/0.1 (+https://x)` gives
 * `crawlfleet`; '' if the header starts with anything else (then only `*`
 * groups apply).
 */
export function userAgentToken(userAgent: string): string {
  return PRODUCT_TOKEN.exec(userAgent.trim())?.[0] ?? '';
}
