/**
 * Validation of a session's request state (POST /sessions `headers`, `cookies`, `cookieJar`,
 * `userAgent`): the JSON schema takes shapes and sizes, `requestStateSpec` the rules a schema
 * cannot say well, each refusal naming the field and never echoing a value (values are
 * secrets).
 *
 * Headers: names are RFC 9110 tokens; values hold no control character but HTAB (no CR, LF,
 * NUL: no header injection). Refused by name: the hop-by-hop headers (RFC 9110 7.6.1:
 * connection, keep-alive, proxy-*, te, trailer, transfer-encoding, upgrade), host and
 * content-length (the client sets them), and the headers the session sets otherwise: cookie
 * (`cookies`), user-agent (`userAgent`), accept-encoding (the fetcher decodes only what it asks
 * for). Cookies: RFC 6265 4.1.1 names (tokens) and values (cookie-octets, optionally quoted),
 * a domain that is a host name or IP, a path that starts with `/`.
 */
import net from 'node:net';
import { CrawlError } from '../../shared/errors/index.js';
import type { SessionCookie, SessionRequest, SessionSpec } from '../../shared/tasks/types.js';

/** Most headers and cookies a session may carry, and their sizes. */
export const MAX_SESSION_HEADERS = 50;
export const MAX_SESSION_COOKIES = 100;
export const MAX_HEADER_VALUE_LENGTH = 8192;
export const MAX_COOKIE_LENGTH = 4096;

/** The JSON schema of the request-state fields, part of POST /sessions (createSessionSchema). */
export const requestStateSchema = {
  headers: {
    type: 'object',
    maxProperties: MAX_SESSION_HEADERS,
    additionalProperties: { type: 'string', maxLength: MAX_HEADER_VALUE_LENGTH },
  },
  cookies: {
    type: 'array',
    maxItems: MAX_SESSION_COOKIES,
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'value'],
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 256 },
        value: { type: 'string', maxLength: MAX_COOKIE_LENGTH },
        domain: { type: 'string', minLength: 1, maxLength: 253 },
        path: { type: 'string', minLength: 1, maxLength: 1024 },
        secure: { type: 'boolean' },
      },
    },
  },
  cookieJar: { type: 'boolean' },
  userAgent: { type: 'string', minLength: 1, maxLength: 512 },
} as const;

/** RFC 9110 5.6.2 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Control characters other than HTAB (RFC 9110 5.5 field-value has none). */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;
/** RFC 6265 4.1.1 cookie-value: cookie-octets, optionally in double quotes. */
const COOKIE_VALUE = /^(?:[\u0021\u0023-\u002b\u002d-\u003a\u003c-\u005b\u005d-\u007e]*|"[\u0021\u0023-\u002b\u002d-\u003a\u003c-\u005b\u005d-\u007e]*")$/;
/** A host name: labels of letters, digits, hyphens and underscores. */
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/;

/** Why a header name is refused, or null when it may be sent. */
export function refusedHeader(lowerName: string): string | null {
  if (['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade'].includes(lowerName) || lowerName.startsWith('proxy-')) {
    return 'is a hop-by-hop header, which a client cannot set for a session';
  }
  if (lowerName === 'host' || lowerName === 'content-length') return 'is set by the HTTP client for each request';
  if (lowerName === 'cookie') return 'is refused: give cookies in `cookies` (domain, path and secure rules apply)';
  if (lowerName === 'user-agent') return 'is refused: give the session\'s User-Agent in `userAgent`';
  if (lowerName === 'accept-encoding') return 'is set by the fetcher (it decodes only the encodings it asks for)';
  return null;
}

function invalid(field: string, message: string): CrawlError {
  return new CrawlError('validation', `body/${field} ${message}`, { details: { field } });
}

function checkHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const seen = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    const field = `headers/${name}`;
    if (!TOKEN.test(name)) throw invalid('headers', `has a header name that is not an RFC 9110 token: ${JSON.stringify(name.slice(0, 100))}`);
    const lower = name.toLowerCase();
    const refusal = refusedHeader(lower);
    if (refusal !== null) throw invalid(field, refusal);
    const earlier = seen.get(lower);
    if (earlier !== undefined) throw invalid(field, `names the same header as headers/${earlier} (names are case-insensitive)`);
    seen.set(lower, name);
    // The value is a secret: the message says what is wrong, never what it is.
    if (CONTROL.test(value)) throw invalid(field, 'must not contain control characters (CR, LF, NUL...)');
    if (value !== value.trim()) throw invalid(field, 'must not start or end with whitespace');
  }
  return { ...headers };
}

function checkCookie(c: SessionCookie, i: number): SessionCookie {
  const at = `cookies/${i}`;
  if (!TOKEN.test(c.name)) throw invalid(`${at}/name`, 'must be an RFC 6265 cookie name (a token)');
  if (c.name.length + c.value.length > MAX_COOKIE_LENGTH) throw invalid(at, `name and value must not exceed ${MAX_COOKIE_LENGTH} bytes together`);
  if (!COOKIE_VALUE.test(c.value)) throw invalid(`${at}/value`, 'must be RFC 6265 cookie-octets (no whitespace, double quote, comma, semicolon or backslash)');
  const out: SessionCookie = { name: c.name, value: c.value };
  if (c.domain !== undefined) {
    const domain = c.domain.replace(/^\./, '').toLowerCase();
    const bare = domain.replace(/^\[|\]$/g, '');
    if (net.isIP(bare) === 0 && !HOSTNAME.test(domain)) throw invalid(`${at}/domain`, `must be a host name or an IP address, got ${JSON.stringify(c.domain)}`);
    out.domain = bare;
  }
  if (c.path !== undefined) {
    if (!c.path.startsWith('/') || CONTROL.test(c.path) || c.path.includes(';')) throw invalid(`${at}/path`, `must start with / and hold no control character or semicolon, got ${JSON.stringify(c.path)}`);
    out.path = c.path;
  }
  if (c.secure !== undefined) out.secure = c.secure;
  return out;
}

/** The request-state part of a session spec (each field only when the request gave it), or a validation error naming the field. */
export function requestStateSpec(body: Pick<SessionRequest, 'headers' | 'cookies' | 'cookieJar' | 'userAgent'>): Pick<SessionSpec, 'headers' | 'cookies' | 'cookieJar' | 'userAgent'> {
  const out: Pick<SessionSpec, 'headers' | 'cookies' | 'cookieJar' | 'userAgent'> = {};
  if (body.headers !== undefined && Object.keys(body.headers).length > 0) out.headers = checkHeaders(body.headers);
  if (body.cookies !== undefined && body.cookies.length > 0) {
    const cookies = body.cookies.map(checkCookie);
    const key = (c: SessionCookie): string => JSON.stringify([c.name, c.domain ?? '', c.path ?? '/']);
    const seen = new Map<string, number>();
    cookies.forEach((c, i) => {
      const earlier = seen.get(key(c));
      if (earlier !== undefined) throw invalid(`cookies/${i}`, `has the name, domain and path of cookies/${earlier}`);
      seen.set(key(c), i);
    });
    out.cookies = cookies;
  }
  if (body.cookieJar === true) out.cookieJar = true;
  if (body.userAgent !== undefined) {
    if (CONTROL.test(body.userAgent) || body.userAgent !== body.userAgent.trim()) throw invalid('userAgent', 'must hold no control character (CR, LF, NUL...) and no leading or trailing whitespace');
    out.userAgent = body.userAgent;
  }
  return out;
}
