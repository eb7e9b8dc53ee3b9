/**
 * Page metadata from the head, in this order of preference per field:
 * - description: `<meta name=description>`, else `og:description`;
 * - language: `<html lang>`, else `<meta http-equiv=content-language>`;
 * - canonical: the first `<link rel=canonical>`, normalized like a link;
 * - author: `<meta name=author>`, else `article:author`, else JSON-LD `author` (a name, or the
 *   `name` of a person object; several are joined with ", ");
 * - publishedAt: `article:published_time`, else `<meta itemprop=datePublished>`, else JSON-LD
 *   `datePublished`; as written on the page;
 * - ogTitle, ogImage (absolute), keywords (`<meta name=keywords>` split at commas).
 * A field is absent when the page does not give it. JSON-LD blocks longer than 262,144
 * characters or not valid JSON are skipped, and at most 1,000 values of a block are looked
 * at. Pure.
 */
import type { RecordMetadata } from '../../../shared/tasks/types.js';
import { normalizeUrl } from '../../../shared/url/normalize.js';
import { absoluteUrl } from './hast.js';
import type { DocumentWalk } from './walk.js';

/** The record's metadata field (shared/tasks/types.ts): a field is absent when the page does not give it. */
export type PageMetadata = RecordMetadata;

const MAX_JSON_LD_CHARS = 256 * 1024;

export function pageMetadata(walk: DocumentWalk, base: string, stripParams: readonly string[]): PageMetadata {
  const meta = walk.meta;
  const out: PageMetadata = {};
  const ld = jsonLdFacts(walk.jsonLd);
  set(out, 'description', meta.get('description') ?? meta.get('og:description'));
  set(out, 'language', walk.htmlLang?.trim() || meta.get('content-language'));
  set(out, 'canonical', canonical(walk.links, base, stripParams));
  set(out, 'author', meta.get('author') ?? meta.get('article:author') ?? ld.author);
  set(out, 'publishedAt', meta.get('article:published_time') ?? meta.get('datepublished') ?? ld.datePublished);
  set(out, 'ogTitle', meta.get('og:title'));
  const image = meta.get('og:image') ?? meta.get('og:image:url');
  set(out, 'ogImage', image === undefined ? undefined : (absoluteUrl(image, base) ?? undefined));
  const keywords = meta.get('keywords')?.split(',').map((k) => k.trim()).filter((k) => k !== '');
  if (keywords !== undefined && keywords.length > 0) out.keywords = keywords;
  return out;
}

function set(out: PageMetadata, key: Exclude<keyof PageMetadata, 'keywords' | 'pages'>, value: string | undefined): void {
  const trimmed = value?.trim();
  if (trimmed) out[key] = trimmed;
}

function canonical(links: DocumentWalk['links'], base: string, stripParams: readonly string[]): string | undefined {
  for (const link of links) {
    if (!link.rel.toLowerCase().split(/\s+/).includes('canonical')) continue;
    const href = link.href.trim();
    if (href === '') continue;
    const url = normalizeUrl(href, base, { stripParams });
    if (url !== null) return url;
  }
  return undefined;
}

/** The first `datePublished` and `author` found in the JSON-LD blocks (objects, arrays and `@graph` searched breadth-first). */
function jsonLdFacts(blocks: readonly string[]): { author?: string; datePublished?: string } {
  const facts: { author?: string; datePublished?: string } = {};
  for (const block of blocks) {
    if (block.length > MAX_JSON_LD_CHARS) continue;
    let data: unknown;
    try {
      data = JSON.parse(block);
    } catch {
      continue;
    }
    const queue: unknown[] = [data];
    for (let i = 0; i < queue.length && i < 1000; i++) {
      const item = queue[i];
      if (Array.isArray(item)) {
        queue.push(...item);
        continue;
      }
      if (item === null || typeof item !== 'object') continue;
      const obj = item as Record<string, unknown>;
      if (facts.datePublished === undefined && typeof obj['datePublished'] === 'string') facts.datePublished = obj['datePublished'];
      if (facts.author === undefined) facts.author = authorName(obj['author']);
      if (obj['@graph'] !== undefined) queue.push(obj['@graph']);
      if (obj['mainEntity'] !== undefined) queue.push(obj['mainEntity']);
    }
    if (facts.author !== undefined && facts.datePublished !== undefined) break;
  }
  return facts;
}

function authorName(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() || undefined;
  if (Array.isArray(value)) {
    const names = value.map(authorName).filter((n): n is string => n !== undefined);
    return names.length > 0 ? names.join(', ') : undefined;
  }
  if (value !== null && typeof value === 'object') {
    const name = (value as Record<string, unknown>)['name'];
    return typeof name === 'string' ? name.trim() || undefined : undefined;
  }
  return undefined;
}
