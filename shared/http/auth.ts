/**
 * Credentials of HTTP requests: the bearer token (compared in constant time), and the
 * dashboard cookie a browser gets in exchange for the token. The cookie holds an HMAC of
 * the token, not the token: it opens the dashboard only, and changing the token revokes it.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Constant-time equality of two strings (compares fixed-length digests, so the length leaks nothing either). */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer[ \t]+(.+?)[ \t]*$/i.exec(header ?? '');
  return m ? (m[1] as string) : null;
}

/** True when the Authorization header carries exactly `token`. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  const presented = bearerToken(header);
  return presented !== null && token !== '' && safeEqual(presented, token);
}

/** A short non-secret fingerprint of a token, for rate-limit keys and logs. */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 12);
}

/** The value of the dashboard cookie for `token`. */
export function dashboardCookieValue(token: string): string {
  return createHmac('sha256', token).update('crawlfleet dashboard cookie v1').digest('base64url');
}

/** Parses a Cookie header into name → value (first occurrence wins; values are not decoded beyond quotes). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (name !== '' && !out.has(name)) out.set(name, value);
  }
  return out;
}

export interface CookieOptions {
  path: string;
  maxAgeS: number;
  secure: boolean;
}

/** A Set-Cookie value: HttpOnly and SameSite=Strict always (no script access, no cross-site sends). */
export function serializeCookie(name: string, value: string, o: CookieOptions): string {
  if (!/^[\w!#$%&'*+.^`|~-]+$/.test(name)) throw new TypeError(`bad cookie name ${name}`);
  if (!/^[\w!#$%&'()*+./:<=>?@[\]^`{|}~-]*$/.test(value)) throw new TypeError('bad cookie value');
  return [`${name}=${value}`, `Path=${o.path}`, `Max-Age=${Math.floor(o.maxAgeS)}`, 'HttpOnly', 'SameSite=Strict', ...(o.secure ? ['Secure'] : [])].join('; ');
}
