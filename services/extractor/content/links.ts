/**
 * A page's links as a content format: `{url, text, rel}` for every `<a href>` and `<area
 * href>` of the whole page (whatever onlyMainContent says), in page order, each URL once
 * (its first occurrence wins). URLs are absolute and normalized by normalizeUrl with the
 * extractor's options (stripParams); a link that does not normalize (not http(s)) is left
 * out, and so is a `#fragment` link to the page itself, as the extractor does. The text is
 * the anchor's text with whitespace collapsed, else an image's `alt`, else `aria-label` or
 * `title`; rel is the `rel` attribute as written, or null. Pure.
 */
import type { Element } from 'domhandler';
import type { PageUrls } from '../links.js';
import { textOf } from './walk.js';

export interface PageLink {
  url: string;
  text: string;
  rel: string | null;
}

export function pageLinks(anchors: readonly Element[], urls: PageUrls): PageLink[] {
  const seen = new Set<string>();
  const out: PageLink[] = [];
  for (const anchor of anchors) {
    const href = (anchor.attribs['href'] ?? '').trim();
    if (href === '') continue;
    const url = urls.resolve(href);
    if (url === null || seen.has(url)) continue;
    if (href.startsWith('#') && url === urls.page) continue;
    seen.add(url);
    const rel = anchor.attribs['rel']?.trim();
    out.push({ url, text: anchorText(anchor), rel: rel ? rel : null });
  }
  return out;
}

function anchorText(anchor: Element): string {
  const text = collapse(textOf(anchor));
  if (text !== '') return text;
  const img = firstImage(anchor);
  const alt = img === undefined ? '' : collapse(img.attribs['alt'] ?? '');
  if (alt !== '') return alt;
  return collapse(anchor.attribs['aria-label'] ?? anchor.attribs['title'] ?? '');
}

function firstImage(el: Element): Element | undefined {
  const stack = [...el.children];
  while (stack.length > 0) {
    const node = stack.shift()!;
    if (node.type !== 'tag') continue;
    if (node.name === 'img') return node;
    stack.unshift(...node.children);
  }
  return undefined;
}

function collapse(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}
