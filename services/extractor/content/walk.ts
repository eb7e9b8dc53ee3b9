/**
 * One pass over the parsed document (a domhandler tree from htmlparser2) that collects what
 * the content formats need besides the body's conversion: the title, `<html lang>`, `<base
 * href>`, the `<meta>` and `<link>` tags, JSON-LD blocks, the anchors in page order, and the
 * main-content candidates (`<main>`, `[role=main]`, `<article>`). Iterative, so a deeply
 * nested page cannot overflow the stack. Pure.
 */
import type { AnyNode, Document, Element } from 'domhandler';
import { isRobotsMeta, type PageSignals } from '../links.js';

export interface DocumentWalk {
  /** Text of the first `<title>` outside `<svg>`, raw. */
  title: string | null;
  /** `lang` of the first `<html>`. */
  htmlLang: string | undefined;
  /** `href` of the first `<base>` that has one. */
  baseHref: string | undefined;
  /** `<meta>` tags: name (or property, http-equiv, itemprop) lowercased → first non-empty content. */
  meta: Map<string, string>;
  /** `<link rel href>` tags in order (with `type` when set: feeds are announced by it). */
  links: { rel: string; href: string; type?: string | undefined }[];
  /** `content` of every `<meta name="robots" content>` (any case, as written), in order. */
  robots: string[];
  /** Text of each `<script type="application/ld+json">`. */
  jsonLd: string[];
  /** `<a href>` and `<area href>` elements in page order. */
  anchors: Element[];
  /** The first `<body>`. */
  body: Element | undefined;
  /** The first `<main>` that is not hidden. */
  main: Element | undefined;
  /** The first `[role=main]` that is not hidden. */
  roleMain: Element | undefined;
  /** Every `<article>` that is not hidden, in page order. */
  articles: Element[];
  /** `<main>`, `<article>`, `[role=main]` and every ancestor of one: never dropped as boilerplate. */
  protectedNodes: Set<Element>;
}

export function walkDocument(doc: Document): DocumentWalk {
  const walk: DocumentWalk = {
    title: null,
    htmlLang: undefined,
    baseHref: undefined,
    meta: new Map(),
    links: [],
    robots: [],
    jsonLd: [],
    anchors: [],
    body: undefined,
    main: undefined,
    roleMain: undefined,
    articles: [],
    protectedNodes: new Set(),
  };
  // Depth-first in document order; `svg` counts how many <svg> ancestors the node has.
  const stack: { node: AnyNode; svg: number }[] = [];
  for (let i = doc.children.length - 1; i >= 0; i--) stack.push({ node: doc.children[i]!, svg: 0 });
  while (stack.length > 0) {
    const { node, svg } = stack.pop()!;
    if (node.type !== 'tag' && node.type !== 'script' && node.type !== 'style') {
      if (node.type === 'cdata' || node.type === 'root') pushChildren(stack, node.children, svg);
      continue;
    }
    const el = node as Element;
    visit(walk, el, svg > 0);
    if (el.type === 'tag') pushChildren(stack, el.children, el.name === 'svg' ? svg + 1 : svg);
  }
  return walk;
}

/** The link signals of a walked document (the tags links.ts signalsOf queries, in the same order). */
export function signalsOfWalk(walk: DocumentWalk): PageSignals {
  return {
    baseHref: walk.baseHref,
    anchors: walk.anchors.map((el) => ({ href: el.attribs['href'] ?? '', rel: el.attribs['rel'] })),
    links: walk.links,
    robots: walk.robots,
  };
}

function pushChildren(stack: { node: AnyNode; svg: number }[], children: readonly AnyNode[], svg: number): void {
  for (let i = children.length - 1; i >= 0; i--) stack.push({ node: children[i]!, svg });
}

function visit(walk: DocumentWalk, el: Element, inSvg: boolean): void {
  const attribs = el.attribs;
  switch (el.name) {
    case 'title':
      if (!inSvg && walk.title === null) walk.title = textOf(el);
      break;
    case 'html':
      if (walk.htmlLang === undefined && attribs['lang'] !== undefined) walk.htmlLang = attribs['lang'];
      break;
    case 'base':
      if (walk.baseHref === undefined && attribs['href'] !== undefined) walk.baseHref = attribs['href'];
      break;
    case 'body':
      walk.body ??= el;
      break;
    case 'meta': {
      if (attribs['name'] !== undefined && attribs['content'] !== undefined && isRobotsMeta(attribs['name'])) walk.robots.push(attribs['content']);
      const content = attribs['content']?.trim();
      if (!content) break;
      for (const key of ['name', 'property', 'http-equiv', 'itemprop']) {
        const name = attribs[key]?.trim().toLowerCase();
        if (name && !walk.meta.has(name)) walk.meta.set(name, content);
      }
      break;
    }
    case 'link':
      if (attribs['rel'] !== undefined && attribs['href'] !== undefined) walk.links.push({ rel: attribs['rel'], href: attribs['href'], type: attribs['type'] });
      break;
    case 'script':
      if (attribs['type']?.trim().toLowerCase() === 'application/ld+json') walk.jsonLd.push(textOf(el));
      break;
    case 'a':
    case 'area':
      if (attribs['href'] !== undefined) walk.anchors.push(el);
      break;
    case 'main':
      if (!isHidden(el)) {
        walk.main ??= el;
        protect(walk, el);
      }
      break;
    case 'article':
      if (!isHidden(el)) {
        walk.articles.push(el);
        protect(walk, el);
      }
      break;
  }
  if (attribs['role']?.trim().toLowerCase() === 'main' && !isHidden(el)) {
    walk.roleMain ??= el;
    protect(walk, el);
  }
}

/** Marks `el` and its ancestors as never dropped. */
function protect(walk: DocumentWalk, el: Element): void {
  for (let node: AnyNode | null = el; node !== null && node.type !== 'root'; node = node.parent) {
    const ancestor = node as Element;
    if (walk.protectedNodes.has(ancestor)) break;
    walk.protectedNodes.add(ancestor);
  }
}

/** Hidden from readers: the `hidden` attribute, `aria-hidden="true"`, or an inline `display:none` / `visibility:hidden`. */
export function isHidden(el: Element): boolean {
  const attribs = el.attribs;
  if (attribs['hidden'] !== undefined) return true;
  if (attribs['aria-hidden']?.trim().toLowerCase() === 'true') return true;
  const style = attribs['style'];
  return style !== undefined && /(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)\s*(?:!important\s*)?(?:;|$)/i.test(style);
}

/** The concatenated text of an element's descendants (iterative). */
export function textOf(el: Element): string {
  let out = '';
  const stack: AnyNode[] = [...el.children].reverse();
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.type === 'text') out += node.data;
    else if ('children' in node) for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
  }
  return out;
}
