/**
 * Page content in the formats a session asks for, from the document the extractor already
 * parsed (htmlparser2's domhandler tree): the page is never parsed again. Pure, no I/O.
 *
 *   walk the document once (walk.ts: title, head, anchors, main-content candidates)
 *   → copy the content subtree to hast, cleaned (hast.ts), without boilerplate when
 *     onlyMainContent (main-content.ts)
 *   → markdown (markdown.ts), text (hast-util-to-text), html (hast-util-to-html)
 *   → links and metadata from the walk (links.ts, metadata.ts)
 *   → byte caps (caps.ts).
 */
import { documentBase, PageUrls } from '../links.js';
import type { Document } from 'domhandler';
import { toHtml } from 'hast-util-to-html';
import { toText } from 'hast-util-to-text';
import { capUtf8, jsonBytes } from './caps.js';
import { toHast } from './hast.js';
import { pageLinks, type PageLink } from './links.js';
import { isBoilerplate, mainRoot } from './main-content.js';
import { hastToMarkdown } from './markdown.js';
import { pageMetadata, type PageMetadata } from './metadata.js';
import { walkDocument, type DocumentWalk } from './walk.js';

export type { PageLink } from './links.js';
export type { PageMetadata } from './metadata.js';

/** The content formats this module produces (`headers` is the fetcher's). */
export const CONTENT_FORMATS = ['markdown', 'text', 'html', 'rawHtml', 'links', 'metadata'] as const;
export type ContentFormat = (typeof CONTENT_FORMATS)[number];

/** Fields that a byte cap applies to. */
export type CappedField = 'markdown' | 'text' | 'html' | 'rawHtml' | 'links';
/** What a record's `truncated` may name: a capped field, or a document cut short (`pages` of a PDF, `feed` items). */
export type TruncatedField = CappedField | 'pages' | 'feed';

export interface ContentOptions {
  formats: readonly ContentFormat[];
  /** Leave out navigation, headers, footers, sidebars, banners (see main-content.ts); default true. Applies to markdown, text and html. */
  onlyMainContent?: boolean;
  /** Query parameters stripped from links and the canonical (traps.stripParams), as the extractor does. */
  stripParams?: readonly string[];
  /** Maximum UTF-8 bytes per field; `links` counts its JSON and keeps whole entries. */
  maxBytes?: Partial<Record<CappedField, number>>;
}

export interface PageContent {
  /** The first `<title>` outside `<svg>`, whitespace collapsed; null when missing or empty. */
  title: string | null;
  markdown?: string;
  text?: string;
  /** The content as HTML, cleaned (see hast.ts). */
  html?: string;
  /** The decoded page as given. */
  rawHtml?: string;
  links?: PageLink[];
  metadata?: PageMetadata;
  /** The fields cut by their byte cap, in CONTENT_FORMATS order (a document may add `pages` or `feed` first). */
  truncated: TruncatedField[];
}

/** What the extractor already has of the document: its walk, and its URLs resolved against its base with the options' stripParams. */
export interface WalkedDocument {
  walk: DocumentWalk;
  urls: PageUrls;
}

/** Walks `doc` (a page fetched from `pageUrl`) once, for pageContent and the extractor's links alike. */
export function walkPage(doc: Document, pageUrl: string, stripParams: readonly string[]): WalkedDocument {
  const walk = walkDocument(doc);
  return { walk, urls: new PageUrls(documentBase(walk.baseHref, pageUrl), pageUrl, stripParams) };
}

/**
 * The record fields of a page fetched from `pageUrl` (its final URL): `doc` is the parsed
 * document, `html` the decoded text it was parsed from (returned as rawHtml); `walked`, the
 * document's walk when the caller made it (walkPage with the same stripParams).
 */
export function pageContent(doc: Document, html: string, pageUrl: string, opts: ContentOptions, walked?: WalkedDocument): PageContent {
  const formats = new Set(opts.formats);
  const stripParams = opts.stripParams ?? [];
  const { walk, urls } = walked ?? walkPage(doc, pageUrl, stripParams);
  const base = urls.base;
  const title = walk.title === null ? '' : walk.title.replace(/\s+/g, ' ').trim();
  const out: PageContent = { title: title === '' ? null : title, truncated: [] };

  if (formats.has('markdown') || formats.has('text') || formats.has('html')) {
    const onlyMain = opts.onlyMainContent ?? true;
    const tree = onlyMain
      ? toHast(mainRoot(walk) ?? doc, { base, drop: (el) => isBoilerplate(el, walk) })
      : toHast(walk.body ?? doc, { base });
    if (formats.has('html')) out.html = toHtml(tree);
    if (formats.has('text')) out.text = toText(tree).trim();
    if (formats.has('markdown')) out.markdown = hastToMarkdown(tree);
  }
  if (formats.has('rawHtml')) out.rawHtml = html;
  if (formats.has('links')) out.links = pageLinks(walk.anchors, urls);
  if (formats.has('metadata')) out.metadata = pageMetadata(walk, base, stripParams);
  applyCaps(out, opts.maxBytes ?? {});
  return out;
}

/** Cuts the fields of `out` to their caps, naming each cut field in `truncated` (documents use it too). */
export function applyCaps(out: PageContent, caps: Partial<Record<CappedField, number>>): void {
  for (const field of CONTENT_FORMATS) {
    if (field === 'metadata') continue;
    const cap = caps[field];
    const value = out[field];
    if (cap === undefined || value === undefined) continue;
    if (field === 'links') {
      const links = value as PageLink[];
      const kept = capLinks(links, cap);
      if (kept.length < links.length) {
        out.links = kept;
        out.truncated.push('links');
      }
      continue;
    }
    const capped = capUtf8(value as string, cap);
    if (capped.length < (value as string).length) {
      out[field] = capped;
      out.truncated.push(field);
    }
  }
}

/** The longest prefix of `links` whose JSON array takes at most `cap` bytes. */
function capLinks(links: PageLink[], cap: number): PageLink[] {
  let bytes = 2; // []
  for (let i = 0; i < links.length; i++) {
    bytes += jsonBytes(links[i]) + (i > 0 ? 1 : 0);
    if (bytes > cap) return links.slice(0, i);
  }
  return links;
}

