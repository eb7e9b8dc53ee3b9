/**
 * Link extraction from a parsed HTML page: the outgoing links a crawler may
 * follow, plus the page-level signals that govern them (base URL, canonical,
 * meta robots). Pure: works on an already loaded Cheerio document.
 */
import type { CheerioAPI } from 'cheerio';
import { normalizeUrl } from '../../shared/url/normalize.js';

export interface LinkOptions {
  /** Follow `rel="nofollow"` links and links of `<meta name="robots" content="nofollow">` pages. */
  followNofollow: boolean;
  /** Keep at most this many links (after deduplication), in document order. */
  maxLinks: number;
  /** Query parameters stripped while normalizing (see NormalizeOptions.stripParams). */
  stripParams?: readonly string[];
}

export interface PageLinks {
  /** Normalized absolute http(s) URLs, distinct, in first-seen order. */
  links: string[];
  /** The normalized `<link rel="canonical">` target, or null. */
  canonical: string | null;
  /** The URL relative links were resolved against (`<base href>` or the page URL). */
  base: string;
  /** Meta robots said `nofollow` or `none`. */
  nofollowPage: boolean;
  /** Meta robots said `noindex` or `none`. */
  noindex: boolean;
}

/** Extracts the followable links of a page fetched from `pageUrl`. */
export function extractLinks($: CheerioAPI, pageUrl: string, opts: LinkOptions): PageLinks {
  const base = documentBase($, pageUrl);
  const normalizeOpts = { stripParams: opts.stripParams ?? [] };
  const robots = metaRobots($);
  const canonical = findCanonical($, base, normalizeOpts.stripParams);

  const links: string[] = [];
  if (robots.nofollow && !opts.followNofollow) {
    return { links, canonical, base, nofollowPage: true, noindex: robots.noindex };
  }

  const page = normalizeUrl(pageUrl, undefined, normalizeOpts);
  const seen = new Set<string>();
  for (const el of $('a[href], area[href]').toArray()) {
    if (links.length >= opts.maxLinks) break;
    const href = (el.attribs['href'] ?? '').trim();
    if (href === '') continue;
    if (!opts.followNofollow && relTokens(el.attribs['rel']).includes('nofollow')) continue;
    const url = normalizeUrl(href, base, normalizeOpts);
    if (url === null || seen.has(url)) continue;
    // `#section` on the page itself is not a new page (with a foreign <base> it is).
    if (href.startsWith('#') && url === page) continue;
    seen.add(url);
    links.push(url);
  }
  return { links, canonical, base, nofollowPage: robots.nofollow, noindex: robots.noindex };
}

/** The page title, trimmed with whitespace collapsed; null when missing or empty. SVG titles are ignored. */
export function pageTitle($: CheerioAPI): string | null {
  const title = $('title')
    .filter((_, el) => $(el).closest('svg').length === 0)
    .first()
    .text()
    .replace(/\s+/g, ' ')
    .trim();
  return title === '' ? null : title;
}

/** The first `<base href>` resolved against the page URL when it is http(s), else the page URL. */
function documentBase($: CheerioAPI, pageUrl: string): string {
  const href = $('base[href]').first().attr('href');
  if (href === undefined) return pageUrl;
  try {
    const url = new URL(href.trim(), pageUrl);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : pageUrl;
  } catch {
    return pageUrl;
  }
}

/** The union of all `<meta name="robots">` directives. */
function metaRobots($: CheerioAPI): { nofollow: boolean; noindex: boolean } {
  let nofollow = false;
  let noindex = false;
  for (const el of $('meta[name][content]').toArray()) {
    if ((el.attribs['name'] ?? '').trim().toLowerCase() !== 'robots') continue;
    for (const directive of (el.attribs['content'] ?? '').toLowerCase().split(/[\s,]+/)) {
      if (directive === 'nofollow' || directive === 'none') nofollow = true;
      if (directive === 'noindex' || directive === 'none') noindex = true;
    }
  }
  return { nofollow, noindex };
}

/** The first `<link rel="canonical" href>` normalized against the base, or null. */
function findCanonical($: CheerioAPI, base: string, stripParams: readonly string[]): string | null {
  for (const el of $('link[rel][href]').toArray()) {
    if (!relTokens(el.attribs['rel']).includes('canonical')) continue;
    const href = (el.attribs['href'] ?? '').trim();
    if (href === '') continue;
    const url = normalizeUrl(href, base, { stripParams });
    if (url !== null) return url;
  }
  return null;
}

/** The lowercase tokens of a `rel` attribute. */
function relTokens(rel: string | undefined): string[] {
  return rel === undefined ? [] : rel.toLowerCase().split(/\s+/).filter((token) => token !== '');
}
