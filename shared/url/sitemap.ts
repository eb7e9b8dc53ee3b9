/**
 * Sitemaps (sitemaps.org protocol 0.9) as a source of seed URLs. Pure: bytes in, URLs out;
 * fetching, scope, robots.txt and the SSRF guard are the pipeline's business.
 *
 * - XML: `<urlset><url><loc>` (kind `urlset`, page URLs) and `<sitemapindex><sitemap><loc>`
 *   (kind `index`, sitemap URLs). Element names are compared without their prefix and case,
 *   so any namespace or prefix passes; only a `<loc>` child of an entry of the root counts
 *   (an `<image:loc>` inside `<image:image>` does not). Entities are decoded (XML's five and
 *   numeric references; no DTD is read, so no entity expansion), CDATA is read, whitespace
 *   trimmed. Any other root element (an HTML error page, an RSS feed) is `invalid`.
 * - Plain text, one URL per line (kind `urlset`).
 * - gzip, recognized by its magic bytes (1f 8b), is inflated to at most `maxBytes`: a body that
 *   inflates further is refused whole (`too_large`), so a bomb costs `maxBytes` of memory at
 *   most. An uncompressed body longer than `maxBytes` is read up to that length (`truncated`);
 *   a `<loc>` or line the limit cuts is dropped.
 * - Only absolute http(s) URLs are kept (as the WHATWG parser serializes them), each once, at
 *   most `maxUrls` (`truncated` beyond). The protocol's rule that a sitemap lists only URLs
 *   below its own directory is not applied: the session's scope decides.
 * - Never throws: garbage is kind `invalid` with an `error`.
 *
 * Why htmlparser2 (the crawler's HTML parser, in XML mode, streaming) and not fast-xml-parser,
 * the XML reader of feeds (services/extractor/documents/xml.ts; issue 18 asked for one parser
 * if it does the job as well): a reader on fast-xml-parser (entities off, ordered nodes) kept
 * most of this contract but not all of it, and cost more. On a 50,000-URL sitemap (9.4 MiB),
 * measured under heavy load (load average 18–38 on 2 cores, so ratios only): 3–5x the time
 * (medians 2.6–5.6 s against 0.6–1.6 s; sitemaps are parsed in a worker stopped at
 * `extract.maxParseMs`, 5 s by default) and 6x the memory (RSS +114 MiB against +19 MiB): it
 * builds the whole tree before a URL is read. And it is no streaming parser: a body cut at
 * `maxBytes` must be trimmed by hand to a point where no markup is cut in half, and a cut
 * after a `</loc>` written inside a comment made it refuse the whole sitemap. Entities are
 * safe in both: neither expands a DTD's entities.
 */
import zlib from 'node:zlib';
import { Parser } from 'htmlparser2';

/** Most URLs one sitemap may list (protocol). */
export const SITEMAP_MAX_URLS = 50_000;
/** Largest uncompressed sitemap (protocol: 50 MiB). */
export const SITEMAP_MAX_BYTES = 50 * 1024 * 1024;

export type SitemapKind = 'urlset' | 'index' | 'invalid';

/** Why a body is no sitemap: it inflates past maxBytes, its gzip is broken, or it is something else. */
export type SitemapError = 'too_large' | 'bad_gzip' | 'not_a_sitemap';

export interface SitemapOptions {
  /** Default SITEMAP_MAX_URLS. */
  maxUrls?: number;
  /** Bytes read after decompression; default SITEMAP_MAX_BYTES. */
  maxBytes?: number;
}

export interface ParsedSitemap {
  kind: SitemapKind;
  /** Page URLs (urlset) or sitemap URLs (index). */
  urls: string[];
  /** URLs were left out: more than maxUrls, or a body longer than maxBytes. */
  truncated: boolean;
  /** Set when kind is `invalid`. */
  error?: SitemapError;
  /** For people: what was wrong. */
  detail?: string;
}

const CHUNK = 64 * 1024;

/** The absolute http(s) URL `text` names, serialized, or null. */
function httpUrl(text: string): string | null {
  if (text === '') return null;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
}

function invalid(error: SitemapError, detail: string): ParsedSitemap {
  return { kind: 'invalid', urls: [], truncated: false, error, detail };
}

/** Collects distinct URLs up to a limit. */
class UrlSet {
  readonly urls = new Set<string>();
  full = false;

  constructor(private readonly max: number) {}

  /** Adds the URL `text` names, if http(s); false once the limit is passed. */
  add(text: string): boolean {
    const url = httpUrl(text.trim());
    if (url === null || this.urls.has(url)) return true;
    if (this.urls.size >= this.max) {
      this.full = true;
      return false;
    }
    this.urls.add(url);
    return true;
  }
}

/** A sitemap body (XML, plain text, either gzipped) → its URLs; see the module comment. */
export function parseSitemap(body: Buffer, opts: SitemapOptions = {}): ParsedSitemap {
  const maxBytes = opts.maxBytes ?? SITEMAP_MAX_BYTES;
  const maxUrls = opts.maxUrls ?? SITEMAP_MAX_URLS;
  let bytes = body;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = zlib.gunzipSync(bytes, { maxOutputLength: maxBytes });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ERR_BUFFER_TOO_LARGE') return invalid('too_large', `inflates to more than ${maxBytes} bytes`);
      return invalid('bad_gzip', e.message);
    }
  }
  const cut = bytes.length > maxBytes;
  if (cut) bytes = bytes.subarray(0, maxBytes);
  const first = firstSignificant(bytes);
  if (first === null) return invalid('not_a_sitemap', 'empty body');
  const found = new UrlSet(maxUrls);
  const kind = first === '<' ? readXml(bytes, found) : readText(bytes, cut, found);
  if (typeof kind !== 'string') return kind;
  return { kind, urls: [...found.urls], truncated: cut || found.full };
}

/** The first character after a BOM and white space, or null when there is none. */
function firstSignificant(bytes: Buffer): string | null {
  const head = new TextDecoder('utf-8').decode(bytes.subarray(0, 1024)).trimStart();
  return head === '' ? null : (head[0] as string);
}

/** Local name of an element, lower case: `sm:URLSet` → `urlset`. */
function localName(name: string): string {
  return name.slice(name.indexOf(':') + 1).toLowerCase();
}

const ENTRY: Readonly<Record<string, string>> = { urlset: 'url', sitemapindex: 'sitemap' };

function readXml(bytes: Buffer, found: UrlSet): 'urlset' | 'index' | ParsedSitemap {
  const path: string[] = [];
  /** Local name of the root element; '' until it opens. */
  let root = '';
  let loc: string | null = null;
  let stop = false;
  const parser = new Parser(
    {
      onopentag(name) {
        if (stop) return;
        path.push(localName(name));
        if (path.length === 1) {
          root = path[0] as string;
          if (!(root in ENTRY)) stop = true;
        } else if (path.length === 3 && path[1] === ENTRY[root] && path[2] === 'loc') {
          loc = '';
        }
      },
      ontext(text) {
        if (loc !== null) loc += text;
      },
      onclosetag(_name, isImplied) {
        if (stop) return;
        if (path.length === 3 && loc !== null) {
          // a <loc> the end of the body (or a missing end tag) closes is cut: dropped
          if (!isImplied && !found.add(loc)) stop = true;
          loc = null;
        }
        path.pop();
      },
    },
    { xmlMode: true, decodeEntities: true },
  );
  const decoder = new TextDecoder('utf-8');
  for (let at = 0; at < bytes.length && !stop; at += CHUNK) {
    parser.write(decoder.decode(bytes.subarray(at, at + CHUNK), { stream: true }));
  }
  if (!stop) parser.end();
  if (root === '') return invalid('not_a_sitemap', 'no root element');
  if (!(root in ENTRY)) return invalid('not_a_sitemap', `root element <${root}>`);
  return root === 'urlset' ? 'urlset' : 'index';
}

/** Something a text sitemap line could hold: `scheme:` and no white space. */
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\S+$/i;

function readText(bytes: Buffer, cut: boolean, found: UrlSet): 'urlset' | ParsedSitemap {
  const text = new TextDecoder('utf-8').decode(bytes);
  if (text.includes('\0')) return invalid('not_a_sitemap', 'binary content');
  // A line the byte limit cuts is dropped.
  const end = cut ? Math.max(text.lastIndexOf('\n'), text.lastIndexOf('\r')) + 1 : text.length;
  const lineEnd = /\r\n?|\n/g;
  let urlLike = false;
  for (let at = 0; at < end; ) {
    const m = lineEnd.exec(text);
    const eol = m ? m.index : text.length;
    const line = text.slice(at, Math.min(eol, end)).trim();
    at = m ? lineEnd.lastIndex : text.length;
    if (!URL_LIKE.test(line)) continue;
    urlLike = true;
    if (!found.add(line)) break;
  }
  return urlLike ? 'urlset' : invalid('not_a_sitemap', 'neither XML nor a list of URLs');
}

/**
 * Where a site's sitemaps are: those its robots.txt lists (`Sitemap:` lines, absolute http(s)
 * URLs only), then `<origin>/sitemap.xml`; each once, in that order.
 */
export function sitemapCandidates(origin: string, robotsSitemaps: readonly string[]): string[] {
  const out = new Set<string>();
  for (const raw of robotsSitemaps) {
    const url = httpUrl(raw.trim());
    if (url !== null) out.add(url);
  }
  const base = httpUrl(origin);
  if (base !== null) out.add(new URL('/sitemap.xml', base).href);
  return [...out];
}
