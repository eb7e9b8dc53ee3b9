/**
 * The pure part of the extractor: bytes of a page → what the crawler keeps of it (title,
 * fields, links, canonical). Large pages run inside a parse worker (see parse-pool.ts), so
 * that a pathological page costs a bounded time and never blocks or crashes the service.
 *
 * Two paths to the same answer: a session with CSS fields needs a document (cheerio on
 * htmlparser2); without fields one streaming pass over the same parser finds the title and
 * the links (scan.ts), without building a tree or running selectors.
 */
import * as cheerio from 'cheerio';
import { decodeHtml } from './charset.js';
import { extractFields } from './fields.js';
import { extractLinks, linksFromSignals, pageTitle, type LinkOptions } from './links.js';
import { scanPage } from './scan.js';

export interface ParsedPage {
  title: string | null;
  fields: Record<string, string | null>;
  links: string[];
  canonical: string | null;
  charset: string;
  /** Only the first maxHtmlBytes of the body were parsed. */
  truncated: boolean;
}

export interface ParseOptions {
  followNofollow: boolean;
  maxLinks: number;
  /** Query parameters stripped from links and the canonical (traps.stripParams). */
  stripParams?: readonly string[];
  /** Parse only this many bytes of the body (extract.maxHtmlBytes); default: all. */
  maxHtmlBytes?: number;
}

export function parsePage(body: Buffer, contentType: string, pageUrl: string, fields: Readonly<Record<string, string>>, opts: ParseOptions): ParsedPage {
  const truncated = opts.maxHtmlBytes !== undefined && body.length > opts.maxHtmlBytes;
  const { text, charset } = decodeHtml(truncated ? body.subarray(0, opts.maxHtmlBytes) : body, contentType);
  // U+0000 becomes U+FFFD, as an HTML tokenizer does in most states; a stray NUL never
  // reaches a title, a field or a URL.
  const clean = text.includes('\0') ? text.replaceAll('\0', '\ufffd') : text;
  const linkOpts: LinkOptions = { followNofollow: opts.followNofollow, maxLinks: opts.maxLinks, ...(opts.stripParams ? { stripParams: opts.stripParams } : {}) };
  if (Object.keys(fields).length === 0) {
    const scanned = scanPage(clean);
    const page = linksFromSignals(scanned.signals, pageUrl, linkOpts);
    return { title: cleanTitle(scanned.title), fields: {}, links: page.links, canonical: page.canonical, charset, truncated };
  }
  const $ = cheerio.load(clean, { xml: { xmlMode: false, decodeEntities: true } });
  const page = extractLinks($, pageUrl, linkOpts);
  return { title: pageTitle($), fields: extractFields($, fields), links: page.links, canonical: page.canonical, charset, truncated };
}

/** Whitespace collapsed and trimmed; null when empty (as pageTitle does on a document). */
function cleanTitle(raw: string | null): string | null {
  const title = (raw ?? '').replace(/\s+/g, ' ').trim();
  return title === '' ? null : title;
}
