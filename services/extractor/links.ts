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

/**
 * What a page says about its links, in document order, before any decision: the raw
 * attributes of `<base href>`, `<a|area href>`, `<link rel href>` and `<meta name content>`.
 * Collected from a DOM (signalsOf), while streaming (scan.ts) or from the content walk
 * (content/walk.ts signalsOfWalk); decided by linksFromSignals.
 */
export interface PageSignals {
  /** `href` of the first `<base>` that has one. */
  baseHref: string | undefined;
  /** `a[href]` and `area[href]`. */
  anchors: { href: string; rel: string | undefined }[];
  /** `link[rel][href]` (with `type` when set: feeds are announced by it). */
  links: { rel: string; href: string; type?: string | undefined }[];
  /** `content` of every `meta[name][content]` whose name is `robots` (trimmed, any case). */
  robots: string[];
}

/** The signals of a loaded document. */
export function signalsOf($: CheerioAPI): PageSignals {
  const signals: PageSignals = { baseHref: $('base[href]').first().attr('href'), anchors: [], links: [], robots: [] };
  for (const el of $('a[href], area[href]').toArray()) signals.anchors.push({ href: el.attribs['href'] ?? '', rel: el.attribs['rel'] });
  for (const el of $('link[rel][href]').toArray()) signals.links.push({ rel: el.attribs['rel'] ?? '', href: el.attribs['href'] ?? '', type: el.attribs['type'] });
  for (const el of $('meta[name][content]').toArray()) {
    if (isRobotsMeta(el.attribs['name'] ?? '')) signals.robots.push(el.attribs['content'] ?? '');
  }
  return signals;
}

/**
 * A page's URLs normalized against its base, each distinct href once: the links to follow
 * and the record's `links` format resolve the same anchors, so they share one.
 */
export class PageUrls {
  /** The page's own URL normalized (a `#fragment` link to it is not a new page). */
  readonly page: string | null;
  private readonly memo = new Map<string, string | null>();

  constructor(
    readonly base: string,
    pageUrl: string,
    private readonly stripParams: readonly string[],
  ) {
    this.page = normalizeUrl(pageUrl, undefined, { stripParams });
  }

  /** normalizeUrl(href, base, stripParams), or null; `href` trimmed by the caller. */
  resolve(href: string): string | null {
    let url = this.memo.get(href);
    if (url === undefined) {
      url = normalizeUrl(href, this.base, { stripParams: this.stripParams });
      this.memo.set(href, url);
    }
    return url;
  }
}

/** A `<meta name>` that addresses crawlers. */
export function isRobotsMeta(name: string): boolean {
  return name.trim().toLowerCase() === 'robots';
}

/** The types of `<link rel="alternate">` that announce a feed. */
const FEED_LINK_TYPES = new Set(['application/rss+xml', 'application/atom+xml', 'application/feed+json', 'application/rdf+xml']);

/** Extracts the followable links of a page fetched from `pageUrl`. */
export function extractLinks($: CheerioAPI, pageUrl: string, opts: LinkOptions): PageLinks {
  return linksFromSignals(signalsOf($), pageUrl, opts);
}

/**
 * The decisions on a page's links: base, meta robots, canonical, the links to follow. Pure.
 * `urls` (resolving against the signals' base with opts.stripParams) may be shared with the
 * content formats of the same page.
 */
export function linksFromSignals(
  signals: PageSignals,
  pageUrl: string,
  opts: LinkOptions,
  urls: PageUrls = new PageUrls(documentBase(signals.baseHref, pageUrl), pageUrl, opts.stripParams ?? []),
): PageLinks {
  const base = urls.base;
  const robots = metaRobots(signals.robots);
  const canonical = findCanonical(signals.links, urls);

  const links: string[] = [];
  if (robots.nofollow && !opts.followNofollow) {
    return { links, canonical, base, nofollowPage: true, noindex: robots.noindex };
  }

  const seen = new Set<string>();
  for (const anchor of signals.anchors) {
    if (links.length >= opts.maxLinks) break;
    const href = anchor.href.trim();
    if (href === '') continue;
    if (!opts.followNofollow && relTokens(anchor.rel).includes('nofollow')) continue;
    const url = urls.resolve(href);
    if (url === null || seen.has(url)) continue;
    // `#section` on the page itself is not a new page (with a foreign <base> it is).
    if (href.startsWith('#') && url === urls.page) continue;
    seen.add(url);
    links.push(url);
  }
  // Feeds the page announces (`<link rel="alternate" type="application/rss+xml" href>`): the
  // documents stage reads them and admits their items.
  for (const link of signals.links) {
    if (links.length >= opts.maxLinks) break;
    if (!relTokens(link.rel).includes('alternate') || !FEED_LINK_TYPES.has((link.type ?? '').trim().toLowerCase())) continue;
    const url = urls.resolve(link.href.trim());
    if (url === null || seen.has(url)) continue;
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
export function documentBase(href: string | undefined, pageUrl: string): string {
  if (href === undefined) return pageUrl;
  try {
    const url = new URL(href.trim(), pageUrl);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : pageUrl;
  } catch {
    return pageUrl;
  }
}

/** The union of all `<meta name="robots">` directives. */
function metaRobots(contents: readonly string[]): { nofollow: boolean; noindex: boolean } {
  let nofollow = false;
  let noindex = false;
  for (const content of contents) {
    for (const directive of content.toLowerCase().split(/[\s,]+/)) {
      if (directive === 'nofollow' || directive === 'none') nofollow = true;
      if (directive === 'noindex' || directive === 'none') noindex = true;
    }
  }
  return { nofollow, noindex };
}

/** The first `<link rel="canonical" href>` normalized against the base, or null. */
function findCanonical(links: PageSignals['links'], urls: PageUrls): string | null {
  for (const link of links) {
    if (!relTokens(link.rel).includes('canonical')) continue;
    const href = link.href.trim();
    if (href === '') continue;
    const url = urls.resolve(href);
    if (url !== null) return url;
  }
  return null;
}

/** The lowercase tokens of a `rel` attribute. */
function relTokens(rel: string | undefined): string[] {
  return rel === undefined ? [] : rel.toLowerCase().split(/\s+/).filter((token) => token !== '');
}
