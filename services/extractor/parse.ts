/**
 * The pure part of the extractor: bytes of a page → what the crawler keeps of it (title,
 * fields, links, canonical). Runs inside a parse worker (see parse-pool.ts), so that a
 * pathological page costs a bounded time and never blocks or crashes the service.
 */
import * as cheerio from 'cheerio';
import { decodeHtml } from './charset.js';
import { extractFields } from './fields.js';
import { extractLinks, pageTitle } from './links.js';

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
  const $ = cheerio.load(clean, { xml: { xmlMode: false, decodeEntities: true } });
  const page = extractLinks($, pageUrl, { followNofollow: opts.followNofollow, maxLinks: opts.maxLinks, ...(opts.stripParams ? { stripParams: opts.stripParams } : {}) });
  return { title: pageTitle($), fields: extractFields($, fields), links: page.links, canonical: page.canonical, charset, truncated };
}
