/**
 * The pure part of the extractor: bytes of a page → what the crawler keeps of it (title,
 * fields, links, canonical). Large pages run inside a parse worker (see parse-pool.ts), so
 * that a pathological page costs a bounded time and never blocks or crashes the service.
 *
 * Two paths to the same answer: a session with CSS fields or content formats (markdown,
 * text, html, rawHtml, links, metadata) needs a document (cheerio on htmlparser2), and the
 * title, fields, links, canonical and the content all come from that one document; without
 * either, one streaming pass over the same parser finds the title and the links (scan.ts),
 * without building a tree or running selectors.
 */
import * as cheerio from 'cheerio';
import type { Document } from 'domhandler';
import { CrawlError } from '../../shared/errors/index.js';
import type { DocumentKind, RecordFeed, TaskRole } from '../../shared/tasks/types.js';
import { normalizeUrl } from '../../shared/url/normalize.js';
import { parseRobotsRules } from '../../shared/url/robots.js';
import { parseSitemap, sitemapCandidates } from '../../shared/url/sitemap.js';
import { decodeHtml, type CharsetSource } from './charset.js';
import { pageContent, walkPage, type CappedField, type ContentFormat, type PageContent } from './content/index.js';
import { extractFields } from './fields.js';
import { signalsOfWalk } from './content/walk.js';
import { extractLinks, linksFromSignals, pageTitle, type LinkOptions } from './links.js';
import { scanPage } from './scan.js';

export interface ParsedPage {
  title: string | null;
  fields: Record<string, string | null>;
  links: string[];
  canonical: string | null;
  charset: string;
  /** How the charset was found: byte-order mark, Content-Type, <meta> prescan, detected from the bytes, or the default. */
  charsetSource: CharsetSource;
  /** Only the first maxHtmlBytes of the body were parsed (of a sitemap: not every URL it lists was read). */
  truncated: boolean;
  /** What the links are: sitemaps (listed by robots.txt or a sitemap index); absent for pages. */
  linkRole?: TaskRole;
  /** The content formats asked for (ParseOptions.content), from the same document; absent when none were. */
  content?: PageContent;
  /** Set when the body was a document of the documents stage (PDF, DOCX, feed, text): its kind, feed, reason. */
  document?: ParsedDocument;
}

/** What a parsed document carries beyond a page's fields. */
export interface ParsedDocument {
  kind: DocumentKind;
  feed?: RecordFeed;
  /** Delivered, with something to say (no_text_layer). */
  reason?: string;
}

/** The caps of the documents stage (documents.*), given to its parsers. */
export interface DocumentLimits {
  maxPages: number;
  maxFeedItems: number;
  maxInflatedBytes: number;
}

/** Page content to produce along with the links (see content/index.ts). */
export interface ContentRequest {
  formats: readonly ContentFormat[];
  onlyMainContent: boolean;
  /** Byte caps per field (content.max*Bytes). */
  maxBytes: Partial<Record<CappedField, number>>;
}

export interface ParseOptions {
  followNofollow: boolean;
  maxLinks: number;
  /** Query parameters stripped from links and the canonical (traps.stripParams). */
  stripParams?: readonly string[];
  /** Parse only this many bytes of the body (extract.maxHtmlBytes); default: all. */
  maxHtmlBytes?: number;
  /** Content formats of the page; absent or empty: none (the streaming path when there are no fields either). */
  content?: ContentRequest;
  /** Present for a document of the documents stage. */
  documents?: DocumentLimits;
}

export function parsePage(body: Buffer, contentType: string, pageUrl: string, fields: Readonly<Record<string, string>>, opts: ParseOptions): ParsedPage {
  const truncated = opts.maxHtmlBytes !== undefined && body.length > opts.maxHtmlBytes;
  const { text, charset, source: charsetSource } = decodeHtml(truncated ? body.subarray(0, opts.maxHtmlBytes) : body, contentType);
  // U+0000 becomes U+FFFD, as an HTML tokenizer does in most states; a stray NUL never
  // reaches a title, a field or a URL.
  const clean = text.includes('\0') ? text.replaceAll('\0', '\ufffd') : text;
  const linkOpts: LinkOptions = { followNofollow: opts.followNofollow, maxLinks: opts.maxLinks, ...(opts.stripParams ? { stripParams: opts.stripParams } : {}) };
  const content = opts.content && opts.content.formats.length > 0 ? opts.content : null;
  if (Object.keys(fields).length === 0 && content === null) {
    const scanned = scanPage(clean);
    const page = linksFromSignals(scanned.signals, pageUrl, linkOpts);
    return { title: cleanTitle(scanned.title), fields: {}, links: page.links, canonical: page.canonical, charset, charsetSource, truncated };
  }
  const $ = cheerio.load(clean, { xml: { xmlMode: false, decodeEntities: true } });
  if (content === null) {
    const page = extractLinks($, pageUrl, linkOpts);
    return { title: pageTitle($), fields: extractFields($, fields), links: page.links, canonical: page.canonical, charset, charsetSource, truncated };
  }
  // With content, one walk of the document serves the links to follow, the title and the
  // formats, and each href is normalized once for both kinds of links.
  // cheerio with `xml` options parses with htmlparser2: its root is a domhandler Document.
  const doc = $.root()[0] as unknown as Document;
  const walked = walkPage(doc, pageUrl, opts.stripParams ?? []);
  const page = linksFromSignals(signalsOfWalk(walked.walk), pageUrl, linkOpts, walked.urls);
  const formatted = pageContent(doc, clean, pageUrl, {
    formats: content.formats,
    onlyMainContent: content.onlyMainContent,
    maxBytes: content.maxBytes,
    ...(opts.stripParams ? { stripParams: opts.stripParams } : {}),
  }, walked);
  return { title: formatted.title, fields: extractFields($, fields), links: page.links, canonical: page.canonical, charset, charsetSource, truncated, content: formatted };
}

/**
 * A document by its role: a page (HTML), an origin's robots.txt (its `Sitemap:` lines, and
 * `/sitemap.xml`, become sitemap links) or a sitemap (an index lists sitemaps, a urlset
 * pages). Links come out normalized like a page's. A sitemap that cannot be read throws a
 * CrawlError (too_large for one that inflates past the protocol's 50 MiB, else parse_failed).
 */
export function parseDocument(body: Buffer, contentType: string, pageUrl: string, fields: Readonly<Record<string, string>>, opts: ParseOptions, role?: TaskRole): ParsedPage {
  if (role === undefined) return parsePage(body, contentType, pageUrl, fields, opts);
  const normalized = (urls: readonly string[]): string[] => {
    const out = new Set<string>();
    for (const u of urls) {
      const n = normalizeUrl(u, undefined, { stripParams: opts.stripParams ?? [] });
      if (n !== null) out.add(n);
    }
    return [...out];
  };
  const bare = { title: null, fields: {}, canonical: null, charset: 'utf-8', charsetSource: 'default' as const };
  if (role === 'robots') {
    const listed = parseRobotsRules(body.toString('utf8')).sitemaps;
    return { ...bare, links: normalized(sitemapCandidates(new URL(pageUrl).origin, listed)), truncated: false, linkRole: 'sitemap' };
  }
  const sitemap = parseSitemap(body);
  if (sitemap.kind === 'invalid') {
    const code = sitemap.error === 'too_large' ? 'too_large' : 'parse_failed';
    throw new CrawlError(code, `${pageUrl}: not a readable sitemap (${sitemap.error ?? 'invalid'}${sitemap.detail ? `: ${sitemap.detail}` : ''})`);
  }
  return { ...bare, links: normalized(sitemap.urls), truncated: sitemap.truncated, ...(sitemap.kind === 'index' ? { linkRole: 'sitemap' as const } : {}) };
}

/** Whitespace collapsed and trimmed; null when empty (as pageTitle does on a document). */
function cleanTitle(raw: string | null): string | null {
  const title = (raw ?? '').replace(/\s+/g, ' ').trim();
  return title === '' ? null : title;
}
