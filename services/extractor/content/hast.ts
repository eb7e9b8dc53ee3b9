/**
 * The parsed document (domhandler, from htmlparser2) as a hast tree, the syntax tree the
 * Markdown, text and HTML serializers read: one linear, iterative copy, no second parse.
 * While copying it cleans: no scripts, styles, comments, `<head>`, `<noscript>`, `<template>`,
 * SVG and MathML, frames and embedded objects, form controls, dialogs (SKIPPED_TAGS), no
 * event-handler (`on*`) or `style` attributes, no URLs but http(s), mailto, tel and ftp
 * (KEPT_SCHEMES; an `<a>` that loses its URL keeps its text, an `<img>` with no usable `src` or
 * `data-src` is left out); URL attributes become absolute
 * against the base; a code block gets a `language-x` class from the classes sites use
 * (`language-x`, `lang-x`, `highlight-x` on the block or up to two ancestors); and, for
 * `onlyMainContent`, a `drop` predicate removes boilerplate subtrees. Permalink anchors (a
 * `#fragment` link whose whole text is `¶`, `§`, `#` or `🔗`, as documentation generators put
 * beside headings) are left out. Pure.
 */
import type { AnyNode, Document, Element as DomElement } from 'domhandler';
import type { Element, ElementContent, Properties, Root } from 'hast';
import { find, html as htmlSchema } from 'property-information';
import { textOf } from './walk.js';

/** Subtrees never copied: not page content. */
const SKIPPED_TAGS = new Set([
  'head', 'script', 'style', 'noscript', 'template', 'svg', 'math', 'iframe', 'frame', 'frameset', 'object', 'embed',
  'canvas', 'link', 'meta', 'base', 'title', 'button', 'select', 'input', 'textarea', 'option', 'datalist', 'dialog',
]);

/** Attributes holding one URL. */
const URL_ATTRIBUTES = new Set(['href', 'src', 'cite', 'poster', 'longdesc', 'action', 'formaction', 'background']);

/** URL schemes kept in links; others (javascript:, data:, vbscript:, …) are dropped. */
const KEPT_SCHEMES = new Set(['http:', 'https:', 'mailto:', 'tel:', 'ftp:']);

/** Deeper elements are flattened into their ancestor at this depth, so later tree walks stay bounded. */
export const MAX_DEPTH = 400;

/** Code-language classes: `language-x`, `lang-x`, `highlight-x` (Sphinx, Hugo). */
const LANGUAGE_CLASS = /^(?:language|lang|highlight)-(.+)$/;
/** Sphinx's names for "no language". */
const NO_LANGUAGE = new Set(['default', 'none', 'text', 'plain', 'plaintext', 'nohighlight']);

export interface HastOptions {
  /** The absolute URL relative URLs resolve against. */
  base: string;
  /** Elements (with their subtree) to leave out; none when undefined. */
  drop?: (el: DomElement) => boolean;
}

/** A hast root holding a copy of `from`'s children (or of `from` itself when it is an element). */
export function toHast(from: Document | DomElement, opts: HastOptions): Root {
  const root: Root = { type: 'root', children: [] };
  const fixups: { pre: Element; lang: string }[] = [];
  const stack: { node: AnyNode; into: ElementContent[]; depth: number }[] = [];
  const start = from.type === 'root' ? from.children : [from];
  for (let i = start.length - 1; i >= 0; i--) stack.push({ node: start[i]!, into: root.children as ElementContent[], depth: 0 });

  while (stack.length > 0) {
    const { node, into, depth } = stack.pop()!;
    if (node.type === 'text') {
      into.push({ type: 'text', value: node.data });
      continue;
    }
    if (node.type === 'cdata') {
      pushChildren(stack, node.children, into, depth);
      continue;
    }
    if (node.type !== 'tag') continue; // script, style, comment, directive
    const el = node;
    if (SKIPPED_TAGS.has(el.name) || isPermalink(el) || (opts.drop !== undefined && opts.drop(el))) continue;
    const properties = toProperties(el, opts.base);
    if (properties === null) continue;
    if (depth >= MAX_DEPTH) {
      pushChildren(stack, el.children, into, depth);
      continue;
    }
    // A link whose URL was dropped (javascript:, unparsable) keeps its text only.
    const tagName = el.name === 'a' && properties['href'] === undefined ? 'span' : el.name;
    const copy: Element = { type: 'element', tagName, properties, children: [] };
    into.push(copy);
    if (el.name === 'pre') {
      const lang = codeLanguage(el);
      if (lang !== undefined) fixups.push({ pre: copy, lang });
    }
    pushChildren(stack, el.children, copy.children, depth + 1);
  }
  for (const { pre, lang } of fixups) setLanguage(pre, lang);
  return root;
}

const PERMALINK_TEXT = new Set(['¶', '§', '#', '🔗']);

function isPermalink(el: DomElement): boolean {
  return el.name === 'a' && el.attribs['href']?.trim().startsWith('#') === true && PERMALINK_TEXT.has(textOf(el).trim());
}

function pushChildren(stack: { node: AnyNode; into: ElementContent[]; depth: number }[], children: readonly AnyNode[], into: ElementContent[], depth: number): void {
  for (let i = children.length - 1; i >= 0; i--) stack.push({ node: children[i]!, into, depth });
}

/** The attributes as hast properties, cleaned; null when the element is left out (an image with no usable source). */
function toProperties(el: DomElement, base: string): Properties | null {
  const properties: Properties = {};
  const attribs = el.attribs;
  for (const name in attribs) {
    if (name.startsWith('on') || name === 'style') continue;
    let value = attribs[name]!;
    if (URL_ATTRIBUTES.has(name)) {
      const url = absoluteUrl(value, base);
      if (url === null) continue;
      value = url;
    }
    setProperty(properties, name, value);
  }
  if (el.name === 'img' && properties['src'] === undefined) {
    // Lazy-loading pages put the real source in data-src and a placeholder (often data:) in src.
    const lazy = attribs['data-src'] !== undefined ? absoluteUrl(attribs['data-src'], base) : null;
    if (lazy === null) return null;
    properties['src'] = lazy;
  }
  return properties;
}

/** Sets a property the way hast's HTML parser would (class → className array, booleans, numbers). */
function setProperty(properties: Properties, attribute: string, value: string): void {
  const info = find(htmlSchema, attribute);
  if (info.boolean) properties[info.property] = true;
  else if (info.overloadedBoolean) properties[info.property] = value === '' || value.toLowerCase() === attribute ? true : value;
  else if (info.number) {
    const n = Number(value);
    properties[info.property] = value.trim() !== '' && Number.isFinite(n) ? n : value;
  } else if (info.spaceSeparated) properties[info.property] = value.split(/[ \t\n\f\r]+/).filter((t) => t !== '');
  else if (info.commaSeparated) properties[info.property] = value.split(',').map((t) => t.trim()).filter((t) => t !== '');
  else if (info.commaOrSpaceSeparated) properties[info.property] = value.split(/[ \t\n\f\r,]+/).filter((t) => t !== '');
  else properties[info.property] = value;
}

/** `value` resolved against `base` when its scheme is kept (KEPT_SCHEMES), else null. */
export function absoluteUrl(value: string, base: string): string | null {
  try {
    const url = new URL(value.trim(), base);
    return KEPT_SCHEMES.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

/** The language named by the classes of a `<pre>`, its first `<code>` child, or its two nearest ancestors. */
function codeLanguage(pre: DomElement): string | undefined {
  const code = pre.children.find((c): c is DomElement => c.type === 'tag' && c.name === 'code');
  const candidates: (DomElement | null)[] = [code ?? null, pre, parentElement(pre)];
  candidates.push(candidates[2] ? parentElement(candidates[2]) : null);
  for (const el of candidates) {
    const cls = el?.attribs['class'];
    if (cls === undefined) continue;
    for (const token of cls.split(/\s+/)) {
      const m = LANGUAGE_CLASS.exec(token);
      if (m) return NO_LANGUAGE.has(m[1]!.toLowerCase()) ? undefined : m[1];
    }
  }
  return undefined;
}

function parentElement(el: DomElement): DomElement | null {
  return el.parent !== null && el.parent.type === 'tag' ? el.parent : null;
}

/** Gives the copied `<pre>` a `<code class="language-x">` (wrapping its children when it has no `<code>`). */
function setLanguage(pre: Element, lang: string): void {
  const code = pre.children.find((c): c is Element => c.type === 'element' && c.tagName === 'code');
  if (code) {
    code.properties['className'] = [`language-${lang}`];
    return;
  }
  pre.children = [{ type: 'element', tagName: 'code', properties: { className: [`language-${lang}`] }, children: pre.children }];
}
