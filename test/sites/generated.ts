/**
 * A deterministic generated web site on a local HTTP server, for end-to-end
 * tests, the benchmark and the quick-start demo.
 *
 * Shape: HTML pages at `/` (page 0) and `/p/<n>.html` (n = 1..pages-1). Every
 * page is reachable from the home page through a spanning tree (page n's
 * parent is `floor((n-1)/b)`), the other link slots are seeded pseudo-random
 * cross links. Some pages also link to `/missing/<n>.html` (404),
 * `/error/<n>.html` (always 500) or `/files/<n>.png|pdf` (non-HTML leaves).
 *
 * Only the small per-page flags are precomputed: links, prices and bodies are
 * derived from `(seed, n)` on every request, so 20,000 pages of 15 KB cost no
 * memory. The same options give the same site byte for byte, except that links
 * written as full URLs carry the origin the request was addressed to (its
 * `Host` header).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GeneratedSiteOptions {
  /** Number of HTML pages, including the home page `/` (page 0). */
  pages: number;
  /** PRNG seed (default 1); same options => same site, byte for byte. */
  seed?: number;
  /** Outgoing page links of a page (default 8); tree links are always kept even if more. */
  linksPerPage?: number;
  /** Approximate HTML size in bytes; padded with paragraph text (default 2000). */
  pageBytes?: number;
  /** Delay before answering each request (default 0); mutable at run time via `site.latencyMs`. */
  latencyMs?: number;
  /** Fraction of pages that link to a missing page (404), default 0.02. */
  brokenRatio?: number;
  /** Fraction of pages that link to a page that always answers 500, default 0.01. */
  errorRatio?: number;
  /** Fraction of pages that link to a non-HTML file (image/png or application/pdf), default 0.02. */
  fileRatio?: number;
  /**
   * Add links to http://external.invalid/... (out of scope), mailto:,
   * javascript:, fragment-only links, `#fragment` suffixes and duplicate
   * links (default true).
   */
  externalLinks?: boolean;
  /** Latency per path from a mix of fast and slow answers (see LatencyMix); overrides latencyMs. */
  latencyMix?: LatencyMix | null;
}

/**
 * The real web's latency mix: a `slowRatio` share of the paths answers after `slowMs`, the
 * rest after `fastMs` (each uniform within its [min, max]); which path is slow and its delay
 * are fixed by the path and the seed, so every crawl of the site sees the same latencies.
 */
export interface LatencyMix {
  slowRatio: number;
  slowMs: readonly [number, number];
  fastMs: readonly [number, number];
}

/** FNV-1a of a string. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The delay of `path` under `mix` for a site seeded with `seed`, ms. */
export function mixedLatency(m: LatencyMix, seed: number, path: string): number {
  const h = hashString(path);
  const u1 = mix(h, seed) / 4294967296;
  const u2 = mix(h, seed + 1) / 4294967296;
  const [lo, hi] = u1 < m.slowRatio ? m.slowMs : m.fastMs;
  return Math.round(lo + u2 * (hi - lo));
}

/**
 * What a crawler should record for a URL. `html` is true only for the site's
 * HTML pages (status 200, parsed for links); error bodies and files are false.
 */
export type ExpectedOutcome = {
  status: number;
  outcome: 'delivered' | 'failed';
  /** `no_text_layer`: a delivered PDF without text (the site's PDFs are one empty page). */
  reason: null | 'http_client_error' | 'http_server_error' | 'no_text_layer';
  html: boolean;
};

/** Request counters for tests and benchmarks. */
export interface SiteStats {
  /** Requests received (any method, any path). */
  requests: number;
  /** Requests received and not yet answered or aborted. */
  inFlight: number;
  /** Highest `inFlight` seen since the last reset. */
  maxInFlight: number;
  /** Response body bytes written (headers excluded; 0 for HEAD). */
  bytesSent: number;
  /** Requests per request target (path and query, as received). */
  byPath: Map<string, number>;
}

/** A resource of the site, as resolved from a path. */
type Resource =
  | { kind: 'page'; n: number }
  | { kind: 'missing' }
  | { kind: 'error' }
  | { kind: 'png' }
  | { kind: 'pdf' };

/** One `<a href>` of a page, before it is written as an href. */
type Link =
  | { kind: 'internal'; path: string; text: string; form: number; fragment: string }
  | { kind: 'raw'; href: string; text: string };

/** Per-page flag bits, precomputed from the ratios. */
const BROKEN = 1;
const ERROR = 2;
const FILE = 4;
const FILE_PDF = 8;

const PAGE_PATH = /^\/p\/([1-9]\d*)\.html$/;
const LEAF_PATH = /^\/(missing|error|files)\/(0|[1-9]\d*)\.(html|png|pdf)$/;
const SAFE_HOST = /^[A-Za-z0-9.\-:[\]]+$/;

const HTML_TYPE = 'text/html; charset=utf-8';
/** A valid 1x1 PNG. */
const PNG_BODY = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);
/** A tiny (one empty page) PDF. */
const PDF_BODY = Buffer.from(
  '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n' +
    '3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 72 72]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n',
  'latin1',
);
const NOT_FOUND_BODY = Buffer.from(
  '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Not Found</title></head>' +
    '<body><h1>404 Not Found</h1></body></html>\n',
);
const SERVER_ERROR_BODY = Buffer.from(
  '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Server Error</title></head>' +
    '<body><h1>500 Internal Server Error</h1></body></html>\n',
);

const PAGE_OUTCOME: ExpectedOutcome = { status: 200, outcome: 'delivered', reason: null, html: true };
const FILE_OUTCOME: ExpectedOutcome = { status: 200, outcome: 'delivered', reason: null, html: false };
const PDF_OUTCOME: ExpectedOutcome = { status: 200, outcome: 'delivered', reason: 'no_text_layer', html: false };
const NOT_FOUND_OUTCOME: ExpectedOutcome = { status: 404, outcome: 'failed', reason: 'http_client_error', html: false };
const ERROR_OUTCOME: ExpectedOutcome = { status: 500, outcome: 'failed', reason: 'http_server_error', html: false };

const WORDS = (
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore ' +
  'magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo ' +
  'consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla pariatur excepteur sint ' +
  'occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est laborum crawler fleet'
).split(' ');

/** mulberry32: a small, fast, seeded 32-bit PRNG returning floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes two integers into a well-spread 32-bit seed (murmur3 finalizer). */
function mix(a: number, b: number): number {
  let h = (a ^ Math.imul(b + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Path of page n. */
function pagePath(n: number): string {
  return n === 0 ? '/' : `/p/${n}.html`;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A deterministic generated site served over HTTP; see the module comment. */
export class GeneratedSite {
  readonly options: Required<GeneratedSiteOptions>;
  /** Delay in ms before each response; may be changed while running. */
  latencyMs: number;
  /** Called on every request before the response, with the request target and `Date.now()`. */
  onRequest: ((path: string, at: number) => void) | null = null;
  /** Per-path delay in ms, overriding latencyMs when it returns a number (e.g. to make some pages slow). */
  latencyFor: ((path: string) => number | null) | null = null;
  /** Extra HTML put into page n's body when it returns a string (e.g. a marker for fault tests). */
  extraHtml: ((n: number) => string | null) | null = null;

  private readonly branching: number;
  private readonly flags: Uint8Array;
  private readonly padding: string;
  private server: Server | null = null;
  private currentOrigin: string | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private counters: SiteStats = GeneratedSite.emptyStats();

  constructor(opts: GeneratedSiteOptions) {
    const o: Required<GeneratedSiteOptions> = {
      pages: opts.pages,
      seed: opts.seed ?? 1,
      linksPerPage: opts.linksPerPage ?? 8,
      pageBytes: opts.pageBytes ?? 2000,
      latencyMs: opts.latencyMs ?? 0,
      brokenRatio: opts.brokenRatio ?? 0.02,
      errorRatio: opts.errorRatio ?? 0.01,
      fileRatio: opts.fileRatio ?? 0.02,
      externalLinks: opts.externalLinks ?? true,
      latencyMix: opts.latencyMix ?? null,
    };
    if (!Number.isInteger(o.pages) || o.pages < 1) throw new RangeError(`pages must be an integer >= 1, got ${o.pages}`);
    if (!Number.isInteger(o.linksPerPage) || o.linksPerPage < 0) throw new RangeError('linksPerPage must be an integer >= 0');
    if (!(o.pageBytes >= 0) || !(o.latencyMs >= 0)) throw new RangeError('pageBytes and latencyMs must be >= 0');
    for (const r of [o.brokenRatio, o.errorRatio, o.fileRatio]) {
      if (!(r >= 0 && r <= 1)) throw new RangeError('ratios must be within [0, 1]');
    }
    this.options = Object.freeze(o);
    this.latencyMs = o.latencyMs;
    this.branching = Math.max(2, Math.floor(o.linksPerPage / 2));
    this.flags = this.buildFlags();
    this.padding = this.buildPadding();
  }

  /** Starts listening; resolves to the origin, e.g. `http://127.0.0.1:40123`. */
  async start(host = '127.0.0.1', port = 0): Promise<string> {
    if (this.server) throw new Error('GeneratedSite already started');
    const server = createServer((req, res) => this.handle(req, res));
    this.server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.server = null;
      throw err;
    }
    const addr = server.address() as AddressInfo;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    this.currentOrigin = new URL(`http://${hostPart}:${addr.port}`).origin;
    return this.currentOrigin;
  }

  /** Stops the server, cancels delayed responses and closes every socket. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    this.currentOrigin = null;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** The origin the site listens on; throws if not started. */
  get origin(): string {
    if (this.currentOrigin === null) throw new Error('GeneratedSite not started');
    return this.currentOrigin;
  }

  /** Absolute URL of the home page. */
  get homeUrl(): string {
    return `${this.origin}/`;
  }

  /** Absolute URL of page n (0 is the home page). */
  pageUrl(n: number): string {
    return `${this.origin}${pagePath(n)}`;
  }

  /** Counters since construction or the last `resetStats()`. */
  get stats(): SiteStats {
    return this.counters;
  }

  /** Zeroes the counters (requests in flight stay counted). */
  resetStats(): void {
    const inFlight = this.counters.inFlight;
    this.counters = GeneratedSite.emptyStats();
    this.counters.inFlight = inFlight;
    this.counters.maxInFlight = inFlight;
  }

  /**
   * The oracle: every URL reachable from the home page through same-origin
   * links in at most `maxDepth` hops (unlimited when undefined), with its
   * shortest depth and expected outcome. URLs are resolved with
   * `new URL(href, pageUrl)` minus the fragment. Requires a started site.
   */
  reachable(maxDepth?: number): Map<string, { depth: number } & ExpectedOutcome> {
    const origin = this.origin;
    const limit = maxDepth ?? Infinity;
    const result = new Map<string, { depth: number } & ExpectedOutcome>();
    const home = `${origin}/`;
    result.set(home, { depth: 0, ...PAGE_OUTCOME });
    let frontier: number[] = [0];
    for (let depth = 1; depth <= limit && frontier.length > 0; depth++) {
      const next: number[] = [];
      for (const n of frontier) {
        const base = `${origin}${pagePath(n)}`;
        for (const link of this.describe(n).links) {
          const url = new URL(this.hrefOf(link, n, origin), base);
          if (url.origin !== origin) continue;
          url.hash = '';
          const key = url.href;
          if (result.has(key)) continue;
          const resource = this.resolve(url.pathname);
          result.set(key, { depth, ...this.outcomeOf(resource) });
          if (resource?.kind === 'page') next.push(resource.n);
        }
      }
      frontier = next;
    }
    return result;
  }

  /** Depth of page n in the spanning tree. */
  treeDepth(n: number): number {
    let d = 0;
    for (let m = n; m > 0; m = Math.floor((m - 1) / this.branching)) d++;
    return d;
  }

  private static emptyStats(): SiteStats {
    return { requests: 0, inFlight: 0, maxInFlight: 0, bytesSent: 0, byPath: new Map() };
  }

  /** Picks exactly round(ratio * pages) pages per kind with seeded partial shuffles. */
  private buildFlags(): Uint8Array {
    const { pages, seed } = this.options;
    const flags = new Uint8Array(pages);
    const rng = mulberry32(mix(seed, 0x5eed));
    const order = new Int32Array(pages);
    const pick = (ratio: number, bit: number): void => {
      for (let i = 0; i < pages; i++) order[i] = i;
      const count = Math.round(ratio * pages);
      for (let i = 0; i < count; i++) {
        const j = i + Math.floor(rng() * (pages - i));
        const picked = order[j]!;
        order[j] = order[i]!;
        order[i] = picked;
        flags[picked] |= bit;
        if (bit === FILE && rng() < 0.5) flags[picked] |= FILE_PDF;
      }
    };
    pick(this.options.brokenRatio, BROKEN);
    pick(this.options.errorRatio, ERROR);
    pick(this.options.fileRatio, FILE);
    return flags;
  }

  /** A seeded filler text long enough to take any page's padding from. */
  private buildPadding(): string {
    const rng = mulberry32(mix(this.options.seed, 0x9ad));
    const target = this.options.pageBytes + 4096;
    const parts: string[] = [];
    let length = 0;
    let sentence = 0;
    while (length < target) {
      let w = WORDS[Math.floor(rng() * WORDS.length)]!;
      if (sentence === 0) w = w[0]!.toUpperCase() + w.slice(1);
      sentence++;
      if (sentence > 6 && rng() < 0.2) {
        w += '.';
        sentence = 0;
      }
      parts.push(w);
      length += w.length + 1;
    }
    return parts.join(' ');
  }

  /** Price and links (tree children, parent, cross links, leaves, extras) of page n, in page order. */
  private describe(n: number): { price: string; links: Link[] } {
    const { pages, linksPerPage, externalLinks } = this.options;
    const rng = mulberry32(mix(this.options.seed, n));
    const price = (1 + rng() * 999).toFixed(2);
    const b = this.branching;
    const links: Link[] = [];
    const internal = (path: string, text: string): void => {
      const form = Math.floor(rng() * 100);
      const fragment = externalLinks && rng() < 0.15 ? `#sec-${Math.floor(rng() * 5)}` : '';
      links.push({ kind: 'internal', path, text, form, fragment });
    };
    let slots = linksPerPage;
    for (let c = n * b + 1; c <= n * b + b && c < pages; c++) {
      internal(pagePath(c), `Page ${c}`);
      slots--;
    }
    if (n > 0 && slots > 0) {
      const parent = Math.floor((n - 1) / b);
      internal(pagePath(parent), `Page ${parent}`);
      slots--;
    }
    for (; slots > 0; slots--) {
      const t = Math.floor(rng() * pages);
      internal(pagePath(t), `Page ${t}`);
    }
    const f = this.flags[n]!;
    if (f & BROKEN) internal(`/missing/${n}.html`, `Missing ${n}`);
    if (f & ERROR) internal(`/error/${n}.html`, `Error ${n}`);
    if (f & FILE) internal(`/files/${n}.${f & FILE_PDF ? 'pdf' : 'png'}`, `File ${n}`);
    if (externalLinks) {
      if (rng() < 0.5) links.push({ kind: 'raw', href: `http://external.invalid/p/${n}.html`, text: 'External' });
      if (rng() < 0.15) links.push({ kind: 'raw', href: '//external.invalid/', text: 'External home' });
      if (rng() < 0.3) links.push({ kind: 'raw', href: 'mailto:webmaster@external.invalid', text: 'Mail' });
      if (rng() < 0.2) links.push({ kind: 'raw', href: 'javascript:void(0)', text: 'Script' });
      if (rng() < 0.3) links.push({ kind: 'raw', href: '#top', text: 'Top' });
      if (links.length > 0 && rng() < 0.35) {
        const dup = links[Math.floor(rng() * links.length)]!;
        links.push(dup.kind === 'internal' ? { ...dup, form: Math.floor(rng() * 100) } : dup);
      }
    }
    // Deterministic shuffle so the tree links are not always first.
    for (let i = links.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      const t = links[i]!;
      links[i] = links[j]!;
      links[j] = t;
    }
    return { price, links };
  }

  /** Writes a link of page n as an href: absolute path, relative, dot-relative or full URL. */
  private hrefOf(link: Link, n: number, origin: string): string {
    if (link.kind === 'raw') return link.href;
    const { path, form, fragment } = link;
    let href: string;
    if (form < 35) {
      href = path;
    } else if (form < 80) {
      if (n === 0) href = form < 65 ? (path === '/' ? './' : path.slice(1)) : `./${path.slice(1)}`;
      else if (path.startsWith('/p/')) href = form < 65 ? path.slice(3) : `../${path.slice(1)}`;
      else href = `../${path.slice(1)}`;
    } else {
      href = `${origin}${path}`;
    }
    return href + fragment;
  }

  /** Maps a path (no query) to a resource of the site, or null for 404. */
  private resolve(path: string): Resource | null {
    if (path === '/') return { kind: 'page', n: 0 };
    let m = PAGE_PATH.exec(path);
    if (m) {
      const n = Number(m[1]);
      return n < this.options.pages ? { kind: 'page', n } : null;
    }
    m = LEAF_PATH.exec(path);
    if (!m) return null;
    const k = Number(m[2]);
    if (k >= this.options.pages) return null;
    const f = this.flags[k]!;
    switch (`${m[1]}.${m[3]}`) {
      case 'missing.html':
        return f & BROKEN ? { kind: 'missing' } : null;
      case 'error.html':
        return f & ERROR ? { kind: 'error' } : null;
      case 'files.png':
        return f & FILE && !(f & FILE_PDF) ? { kind: 'png' } : null;
      case 'files.pdf':
        return f & FILE && f & FILE_PDF ? { kind: 'pdf' } : null;
      default:
        return null;
    }
  }

  private outcomeOf(resource: Resource | null): ExpectedOutcome {
    switch (resource?.kind) {
      case 'page':
        return PAGE_OUTCOME;
      case 'png':
        return FILE_OUTCOME;
      case 'pdf':
        return PDF_OUTCOME;
      case 'error':
        return ERROR_OUTCOME;
      default:
        return NOT_FOUND_OUTCOME;
    }
  }

  /** Renders page n; full-URL links use `origin`. */
  private renderPage(n: number, origin: string): string {
    const { price, links } = this.describe(n);
    let items = '';
    for (const link of links) {
      items += `<li><a href="${escapeHtml(this.hrefOf(link, n, origin))}">${link.text}</a></li>\n`;
    }
    const depth = this.treeDepth(n);
    const head =
      `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Page ${n}</title>\n</head>\n` +
      `<body id="top">\n<h1 class="title">Page ${n}</h1>\n` +
      `<p class="depth-hint" data-depth="${depth}">${depth}</p>\n` +
      `<p>Price: <span class="price">${price}</span></p>\n<ul class="links">\n${items}</ul>\n`;
    const tail = `${this.extraHtml?.(n) ?? ''}</body>\n</html>\n`;
    const wrapOpen = '<p class="filler">';
    const wrapClose = '</p>\n';
    const need = this.options.pageBytes - head.length - tail.length - wrapOpen.length - wrapClose.length;
    if (need <= 0) return head + tail;
    const offset = mix(this.options.seed ^ 0xf111, n) % (this.padding.length - need);
    return `${head}${wrapOpen}${this.padding.slice(offset, offset + need)}${wrapClose}${tail}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const target = req.url ?? '/';
    const stats = this.counters;
    stats.requests++;
    stats.byPath.set(target, (stats.byPath.get(target) ?? 0) + 1);
    stats.inFlight++;
    if (stats.inFlight > stats.maxInFlight) stats.maxInFlight = stats.inFlight;
    let timer: NodeJS.Timeout | null = null;
    res.once('close', () => {
      this.counters.inFlight--;
      if (timer) {
        clearTimeout(timer);
        this.timers.delete(timer);
      }
    });
    this.onRequest?.(target, Date.now());
    const lm = this.options.latencyMix;
    const delay = this.latencyFor?.(target) ?? (lm ? mixedLatency(lm, this.options.seed, target) : this.latencyMs);
    if (delay > 0) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        timer = null;
        this.respond(req, res, target);
      }, delay);
      timer = t;
      this.timers.add(t);
    } else {
      this.respond(req, res, target);
    }
  }

  private respond(req: IncomingMessage, res: ServerResponse, target: string): void {
    if (res.destroyed) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-length': 0 });
      res.end();
      return;
    }
    const q = target.indexOf('?');
    const resource = this.resolve(q < 0 ? target : target.slice(0, q));
    let status = 200;
    let type = HTML_TYPE;
    let body: string | Buffer;
    switch (resource?.kind) {
      case 'page': {
        const host = req.headers.host;
        const origin = host && SAFE_HOST.test(host) ? `http://${host}` : (this.currentOrigin ?? '');
        body = this.renderPage(resource.n, origin);
        break;
      }
      case 'png':
        type = 'image/png';
        body = PNG_BODY;
        break;
      case 'pdf':
        type = 'application/pdf';
        body = PDF_BODY;
        break;
      case 'error':
        status = 500;
        body = SERVER_ERROR_BODY;
        break;
      default:
        status = 404;
        body = NOT_FOUND_BODY;
    }
    const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    res.writeHead(status, { 'content-type': type, 'content-length': length });
    if (req.method === 'HEAD') {
      res.end();
    } else {
      this.counters.bytesSent += length;
      res.end(body);
    }
  }
}
