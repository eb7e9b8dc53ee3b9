/**
 * What every document parser gives (DocumentContent) and how it becomes the extractor's
 * ParsedPage: the links normalized for admission (as a page's are), the content formats the
 * session asked for, cut at their caps (the same applyCaps as pages). Pure.
 */
import { normalizeUrl } from '../../../shared/url/normalize.js';
import type { DocumentKind, RecordFeed, RecordMetadata } from '../../../shared/tasks/types.js';
import { applyCaps, type PageContent, type TruncatedField } from '../content/index.js';
import type { PageLink } from '../content/links.js';
import type { CharsetSource } from '../charset.js';
import type { ParsedPage, ParseOptions } from '../parse.js';

/** A document as its parser read it, before the session's formats and caps apply. */
export interface DocumentContent {
  kind: DocumentKind;
  title: string | null;
  markdown: string;
  text: string;
  /** HTML of the document when the parser has it (DOCX through mammoth). */
  html?: string;
  /** The document as decoded text, kept as `rawHtml` when asked (XML and JSON that are not feeds, plain text). */
  raw?: string;
  /** Links in document order, absolute or relative to the document's URL. */
  links: { url: string; text: string }[];
  metadata: RecordMetadata;
  feed?: RecordFeed;
  /** `pages` (a PDF past documents.maxPages) or `feed` (items past documents.maxFeedItems). */
  truncated: TruncatedField[];
  /** Delivered, but with something to say (no_text_layer: a PDF without text, such as a scan). */
  reason?: string;
  charset?: string;
  charsetSource?: CharsetSource;
}

/** URLs written in text: http(s) up to whitespace or a closing bracket or quote, trailing punctuation left out. */
export function urlsInText(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\bhttps?:\/\/[^\s<>"'`)\]}]+/gi)) out.push(m[0].replace(/[.,;:!?]+$/, ''));
  return out;
}

/** The first non-empty line, whitespace collapsed, at most 300 characters; null when there is none. */
export function firstLine(text: string): string | null {
  for (const line of text.split(/\r?\n|\f/)) {
    const t = line.replace(/\s+/g, ' ').trim();
    if (t !== '') return t.slice(0, 300);
  }
  return null;
}

/** The record-ready parse of a document fetched from `pageUrl`. */
export function documentParsed(doc: DocumentContent, pageUrl: string, opts: ParseOptions): ParsedPage {
  const stripParams = opts.stripParams ?? [];
  const links: string[] = [];
  const recordLinks: PageLink[] = [];
  const seen = new Set<string>();
  for (const l of doc.links) {
    const url = normalizeUrl(l.url.trim(), pageUrl, { stripParams });
    if (url === null || seen.has(url)) continue;
    seen.add(url);
    if (links.length < opts.maxLinks) links.push(url);
    recordLinks.push({ url, text: l.text.replace(/\s+/g, ' ').trim(), rel: null });
  }
  const parsed: ParsedPage = {
    title: doc.title,
    fields: {},
    links,
    canonical: null,
    charset: doc.charset ?? 'binary',
    charsetSource: doc.charsetSource ?? 'default',
    truncated: false,
    document: { kind: doc.kind, ...(doc.feed ? { feed: doc.feed } : {}), ...(doc.reason ? { reason: doc.reason } : {}) },
  };
  const req = opts.content;
  if (req && req.formats.length > 0) {
    const formats = new Set(req.formats);
    const content: PageContent = { title: doc.title, truncated: [...doc.truncated] };
    if (formats.has('markdown')) content.markdown = doc.markdown;
    if (formats.has('text')) content.text = doc.text;
    if (formats.has('html') && doc.html !== undefined) content.html = doc.html;
    if (formats.has('rawHtml') && doc.raw !== undefined) content.rawHtml = doc.raw;
    if (formats.has('links')) content.links = recordLinks;
    if (formats.has('metadata')) content.metadata = doc.metadata;
    applyCaps(content, req.maxBytes);
    parsed.content = content;
  } else if (doc.truncated.length > 0) {
    parsed.content = { title: doc.title, truncated: [...doc.truncated] };
  }
  return parsed;
}
