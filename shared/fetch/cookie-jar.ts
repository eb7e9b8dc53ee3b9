/**
 * A session's cookie jar (`"cookieJar": true`), kept in Redis so that every fetcher replica
 * sends the same cookies: one hash per session (`<ns>:s:{<id>}:cookies`, the session's hash
 * tag), a field per cookie (`["domain","path","name"]` → tough-cookie's JSON of it). The RFC
 * 6265 rules (domain and path matching, host-only cookies, Secure, Max-Age and Expires,
 * public suffixes refused as a Domain) are tough-cookie's: a jar is rebuilt in memory from the
 * hash for each request (one HGETALL), asked for the cookies of the URL, told of the response's
 * Set-Cookie lines, and the cookies it changed are written back (one pipelined HSET/HDEL).
 * Concurrent writers of one cookie: the last one wins, as in a browser with two tabs.
 */
import type { Redis } from 'ioredis';
import { Cookie, CookieJar, MemoryCookieStore } from 'tough-cookie';
import { CrawlError } from '../errors/index.js';
import type { Keys } from '../redis/keys.js';

/** Most cookies one session's jar keeps; a site setting more gets the rest ignored. */
export const MAX_JAR_COOKIES = 1000;
/** Longest Set-Cookie line kept (RFC 6265 6.1: at least 4096 bytes per cookie). */
export const MAX_SET_COOKIE_BYTES = 4096;

/** Where a session's jar lives: the Redis hash, or anything else with the same contract (tests). */
export interface CookieJarStore {
  /** Every stored cookie of the session: field → JSON. */
  load(sessionId: string): Promise<Map<string, string>>;
  /** Writes and removes cookies; the jar lives at most `ttlMs` from now unless written again. */
  save(sessionId: string, put: ReadonlyMap<string, string>, del: readonly string[], ttlMs: number): Promise<void>;
}

/** A cheap identity of a stored jar's content: the same hash read twice gives the same string. */
export function jarSignature(stored: ReadonlyMap<string, string>): string {
  let sig = '';
  for (const [field, json] of stored) sig += `${field}\u0000${json}\u0001`;
  return sig;
}

/** The field of a cookie in the jar's hash: unambiguous whatever its domain, path and name hold. */
export function cookieField(c: Pick<Cookie, 'domain' | 'path' | 'key'>): string {
  return JSON.stringify([c.domain ?? '', c.path ?? '/', c.key]);
}

/** A cookie past its Max-Age (from its creation) or Expires; a session cookie (neither) lives as long as the jar. */
function isExpired(cookie: Cookie, now: number): boolean {
  const t = cookie.expiryTime();
  return t !== undefined && t <= now;
}

/** The jar of one request: the stored cookies in memory, and what changed since they were read. */
export class RequestJar {
  private readonly jar: CookieJar;
  private readonly count: number;
  /** Fields of the cookies stored and alive. */
  private readonly fields = new Set<string>();
  /** Fields of cookies that were stored but have expired: removed at the next write. */
  private readonly expired: string[] = [];
  /** A response changed this jar in memory: it no longer mirrors what it was read from. */
  changed = false;

  constructor(stored: ReadonlyMap<string, string>, now = Date.now()) {
    const store = new MemoryCookieStore();
    this.jar = new CookieJar(store, { rejectPublicSuffixes: true, allowSpecialUseDomain: true });
    let count = 0;
    for (const [field, json] of stored) {
      const cookie = Cookie.fromJSON(json);
      if (!cookie || isExpired(cookie, now)) {
        this.expired.push(field);
        continue;
      }
      // The memory store's calls finish synchronously.
      void store.putCookie(cookie);
      this.fields.add(field);
      count++;
    }
    this.count = count;
  }

  /** The cookies to send to `url` now (expired ones left out), in RFC 6265 5.4 order (longer paths first, then older). */
  cookiesFor(url: URL): { name: string; value: string }[] {
    return this.jar.getCookiesSync(url.href).map((c) => ({ name: c.key, value: c.value }));
  }

  /**
   * A response of `url` set these cookies: the changes to write back (put: field → JSON; del:
   * fields of cookies deleted or expired). Lines the rules refuse (a Domain that does not
   * cover the host, a public suffix, a Secure cookie over http) are ignored.
   */
  receive(url: URL, setCookie: readonly string[], now = new Date()): { put: Map<string, string>; del: string[] } {
    if (setCookie.length > 0) this.changed = true;
    const put = new Map<string, string>();
    const del = [...this.expired];
    let count = this.count;
    for (const line of setCookie) {
      if (Buffer.byteLength(line) > MAX_SET_COOKIE_BYTES) continue;
      const cookie = this.jar.setCookieSync(line, url.href, { ignoreError: true, now });
      if (!cookie) continue;
      const field = cookieField(cookie);
      if (isExpired(cookie, now.getTime())) {
        put.delete(field);
        del.push(field);
        continue;
      }
      const known = put.has(field) || this.fields.has(field);
      if (!known && count >= MAX_JAR_COOKIES) continue;
      if (!known) count++;
      put.set(field, JSON.stringify(cookie.toJSON()));
    }
    return { put, del: del.filter((f) => !put.has(f)) };
  }
}

/** The jar in Redis: a hash per session, read whole, written field by field. */
export class RedisCookieJarStore implements CookieJarStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async load(sessionId: string): Promise<Map<string, string>> {
    try {
      return new Map(Object.entries(await this.redis.hgetall(this.keys.session(sessionId).cookies)));
    } catch (err) {
      throw new CrawlError('unavailable', `cannot read the cookie jar of session ${sessionId}: ${(err as Error).message}`, { cause: err });
    }
  }

  async save(sessionId: string, put: ReadonlyMap<string, string>, del: readonly string[], ttlMs: number): Promise<void> {
    if (put.size === 0 && del.length === 0) return;
    const key = this.keys.session(sessionId).cookies;
    const p = this.redis.multi();
    if (del.length > 0) p.hdel(key, ...del);
    if (put.size > 0) p.hset(key, Object.fromEntries(put));
    p.pexpire(key, Math.max(1, Math.round(ttlMs)));
    try {
      await p.exec();
    } catch (err) {
      throw new CrawlError('unavailable', `cannot write the cookie jar of session ${sessionId}: ${(err as Error).message}`, { cause: err });
    }
  }
}
