/**
 * Crawl scope: which URLs a session may enqueue. A scope is compiled once per
 * session from its spec (host allowlist plus include/exclude regular
 * expressions) and then answers `allows(url)` without further validation.
 */
import net from 'node:net';
import { normalizeUrl } from './normalize.js';

export interface ScopeSpec {
  /** `example.com` (any port), `example.com:8080` (that port only), `*.example.com` (it and its subdomains), `[::1]:8080`. */
  allowedHosts: readonly string[];
  /** Regular expression sources; when non-empty, a URL must match at least one. */
  include: readonly string[];
  /** Regular expression sources; a URL matching any is refused. */
  exclude: readonly string[];
}

export interface Scope {
  readonly spec: ScopeSpec;
  /** True when the URL is http(s), its host is allowed, and the patterns agree. */
  allows(url: string | URL): boolean;
  /** `allows` for a URL normalizeUrl produced (what the patterns see already): one parse less. */
  allowsNormalized(normalizedUrl: string): boolean;
}

export type ScopeField = 'allowedHosts' | 'include' | 'exclude';

/** A spec entry that cannot be compiled; the message starts with `field[index]: `. */
export class ScopeError extends Error {
  override readonly name = 'ScopeError';
  readonly field: ScopeField;
  readonly index: number;

  constructor(field: ScopeField, index: number, reason: string) {
    super(`${field}[${index}]: ${reason}`);
    this.field = field;
    this.index = index;
  }
}

/** Longest accepted pattern source, a crude guard against pathological expressions. */
export const MAX_PATTERN_LENGTH = 500;

/** One compiled allowedHosts entry. */
interface HostRule {
  hostname: string;
  /** Effective port required, or null for any port. */
  port: number | null;
  /** Also match subdomains of `hostname`. */
  subdomains: boolean;
}

const HOST_AND_PORT = /^(\[[^\]]*\]|[^:[\]]+)(?::(\d{1,5}))?$/;
const FORBIDDEN_IN_HOST = /[\s/\\?#@*]/;

/** Validates and compiles a spec; throws ScopeError naming the first bad entry. */
export function compileScope(spec: ScopeSpec): Scope {
  const frozen: ScopeSpec = Object.freeze({
    allowedHosts: Object.freeze([...spec.allowedHosts]),
    include: Object.freeze([...spec.include]),
    exclude: Object.freeze([...spec.exclude]),
  });
  const hosts = frozen.allowedHosts.map((entry, index) => compileHost(entry, index));
  const include = frozen.include.map((source, index) => compilePattern('include', source, index));
  const exclude = frozen.exclude.map((source, index) => compilePattern('exclude', source, index));

  return {
    spec: frozen,
    allows(input) {
      const url = typeof input === 'string' ? parseUrl(input) : input;
      if (!url || !hosts.some((rule) => hostMatches(rule, url))) return false;
      // Patterns see the normalized form; sortQuery: false keeps an already
      // normalized URL byte for byte whatever options produced it.
      const normalized = normalizeUrl(url.href, undefined, { sortQuery: false });
      if (normalized === null) return false;
      return patternsAllow(normalized);
    },
    allowsNormalized(normalizedUrl) {
      const url = parseUrl(normalizedUrl);
      return url !== null && hosts.some((rule) => hostMatches(rule, url)) && patternsAllow(normalizedUrl);
    },
  };

  function patternsAllow(normalized: string): boolean {
    if (include.length > 0 && !include.some((re) => re.test(normalized))) return false;
    return !exclude.some((re) => re.test(normalized));
  }
}

/** The distinct `host` (with a non-default port) of the http(s) seeds, in order; other seeds are skipped. */
export function defaultAllowedHosts(seeds: readonly string[]): string[] {
  const hosts = new Set<string>();
  for (const seed of seeds) {
    const url = parseUrl(seed);
    if (url) hosts.add(url.host);
  }
  return [...hosts];
}

function parseUrl(text: string): URL | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
}

function compilePattern(field: 'include' | 'exclude', source: unknown, index: number): RegExp {
  if (typeof source !== 'string') throw new ScopeError(field, index, 'must be a string');
  if (source.length > MAX_PATTERN_LENGTH) {
    throw new ScopeError(field, index, `pattern longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  try {
    return new RegExp(source);
  } catch (err) {
    const detail = err instanceof Error ? err.message.replace(/^Invalid regular expression: /, '') : String(err);
    throw new ScopeError(field, index, `invalid regular expression: ${detail}`);
  }
}

/** Parses `host`, `host:port`, `*.host`, `[v6]`, `[v6]:port`; the host goes through the URL parser (case, IDN). */
function compileHost(entry: unknown, index: number): HostRule {
  const bad = (reason: string): ScopeError => new ScopeError('allowedHosts', index, `${reason}: ${JSON.stringify(entry)}`);
  if (typeof entry !== 'string') throw new ScopeError('allowedHosts', index, 'must be a string');
  const subdomains = entry.startsWith('*.');
  const rest = subdomains ? entry.slice(2) : entry;
  if (rest === '' || FORBIDDEN_IN_HOST.test(rest)) throw bad('malformed host');
  const match = HOST_AND_PORT.exec(rest);
  if (!match?.[1]) throw bad('malformed host');
  const portText = match[2];
  const port = portText === undefined ? null : Number(portText);
  if (port !== null && (port < 1 || port > 65535)) throw bad('port out of range');

  let hostname: string;
  try {
    hostname = new URL(`http://${match[1]}/`).hostname;
  } catch {
    throw bad('malformed host');
  }
  if (subdomains && (hostname.startsWith('[') || net.isIPv4(hostname))) {
    throw bad('a wildcard cannot apply to an IP address');
  }
  return { hostname: withoutTrailingDot(hostname), port, subdomains };
}

function hostMatches(rule: HostRule, url: URL): boolean {
  if (rule.port !== null && rule.port !== effectivePort(url)) return false;
  const hostname = withoutTrailingDot(url.hostname);
  return hostname === rule.hostname || (rule.subdomains && hostname.endsWith(`.${rule.hostname}`));
}

function effectivePort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/** `example.com.` and `example.com` name the same host. */
function withoutTrailingDot(hostname: string): string {
  return hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
}
