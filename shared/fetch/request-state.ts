/**
 * A session's request state on the wire: its headers, its given cookies and its cookie jar,
 * sent only to URLs in the session's scope (its seeds' hosts or allowedHosts, and its
 * include/exclude patterns). The check is made at every hop, so a redirect out of scope never
 * carries them (the fetcher refuses such a redirect anyway), and robots.txt, fetched by the
 * cluster-wide robots cache for any session, never carries any.
 *
 * Cookies sent to a URL: the jar's (RFC 6265 through tough-cookie, see cookie-jar.ts) first,
 * then the given cookies that match it (domain: the host or a subdomain of `domain`, every
 * host of the scope when absent; path: RFC 6265 5.1.4; secure: https only) and whose name the
 * jar does not hold: a cookie the site set replaces a given cookie of the same name.
 *
 * A session without headers, cookies or a jar costs nothing (`hop()` answers null); one
 * without a jar costs no Redis call; a jar costs one HGETALL per hop and, when a response
 * sets cookies, one MULTI (see bench/request-state.ts for the figures).
 */
import type { SessionCookie, SessionSpec } from '../tasks/types.js';
import { domainMatch, pathMatch } from 'tough-cookie';
import { jarSignature, RequestJar, type CookieJarStore } from './cookie-jar.js';
import type { HopState } from './seam.js';

export interface RequestStateOptions {
  sessionId: string;
  spec: Pick<SessionSpec, 'headers' | 'cookies' | 'cookieJar'>;
  /** The session's scope: whether a URL may get the session's headers and cookies. */
  inScope(url: URL): boolean;
  /** The session's jar (when the spec asks for one). */
  jar?: CookieJarStore | undefined;
  /** How long the jar lives after a write (the session's lifetime and retention). */
  jarTtlMs?: (() => number) | undefined;
  now?: () => number;
}

/** Whether a given cookie goes to this URL (RFC 6265 5.4 domain, path and secure rules). */
export function givenCookieMatches(c: SessionCookie, url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (c.domain !== undefined && !domainMatch(host, c.domain, true)) return false;
  if (!pathMatch(url.pathname || '/', c.path ?? '/')) return false;
  return c.secure !== true || url.protocol === 'https:';
}

/** The request state of one session: built once per session (the spec never changes), a `hop()` per fetch. */
export class SessionRequestState {
  private readonly headers: Readonly<Record<string, string>>;
  private readonly cookies: readonly SessionCookie[];
  private readonly jar: CookieJarStore | null;
  /** The last jar built from the store, reused while the store holds the same cookies (building one costs ~0.1 ms). */
  private parsed: { sig: string; jar: RequestJar } | null = null;

  constructor(private readonly opts: RequestStateOptions) {
    this.headers = Object.fromEntries(Object.entries(opts.spec.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]));
    this.cookies = opts.spec.cookies ?? [];
    this.jar = opts.spec.cookieJar === true ? (opts.jar ?? null) : null;
    if (opts.spec.cookieJar === true && !opts.jar) throw new Error('a session with cookieJar needs a jar store');
  }

  /** Whether the session sends anything of its own. */
  get active(): boolean {
    return Object.keys(this.headers).length > 0 || this.cookies.length > 0 || this.jar !== null;
  }

  /** A jar for the cookies read: the last one when they are the same and no response changed it, else a new one. */
  private jarOf(stored: ReadonlyMap<string, string>, now: number): RequestJar {
    const sig = jarSignature(stored);
    if (this.parsed && this.parsed.sig === sig && !this.parsed.jar.changed) return this.parsed.jar;
    const jar = new RequestJar(stored, now);
    this.parsed = { sig, jar };
    return jar;
  }

  /** The state of one fetch (its hops share the jar read at each), or null when the session has none. */
  hop(): HopState | null {
    if (!this.active) return null;
    const now = this.opts.now ?? Date.now;
    let jar: RequestJar | null = null;
    return {
      headersFor: async (url) => {
        if (!this.opts.inScope(url)) {
          jar = null;
          return {};
        }
        const pairs: { name: string; value: string }[] = [];
        if (this.jar) {
          jar = this.jarOf(await this.jar.load(this.opts.sessionId), now());
          pairs.push(...jar.cookiesFor(url));
        }
        const names = new Set(pairs.map((p) => p.name));
        for (const c of this.cookies) if (!names.has(c.name) && givenCookieMatches(c, url)) pairs.push({ name: c.name, value: c.value });
        const out: Record<string, string> = { ...this.headers };
        if (pairs.length > 0) out.cookie = pairs.map((p) => `${p.name}=${p.value}`).join('; ');
        return out;
      },
      received: async (url, setCookie) => {
        // Only a jar keeps anything, and only from a URL it sent to (in scope).
        if (!this.jar || jar === null || setCookie.length === 0 || !this.opts.inScope(url)) return;
        const { put, del } = jar.receive(url, setCookie, new Date(now()));
        await this.jar.save(this.opts.sessionId, put, del, this.opts.jarTtlMs?.() ?? 86_400_000);
      },
    };
  }
}
