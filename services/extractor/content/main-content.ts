/**
 * The main-content heuristic of `onlyMainContent`. Pure.
 *
 * 1. The root: the first `<main>`; else the first `[role=main]`; else the only `<article>`
 *    (several articles, as on a listing page, keep the body); else `<body>`; else the
 *    document. Hidden candidates are skipped.
 * 2. Inside the root, an element is boilerplate, and dropped with its subtree, when
 *    - its tag is `nav`, `aside`, `form`, `dialog` or `menu`;
 *    - its tag is `header` or `footer` and it is the page's banner or content info, that is
 *      not inside `article`, `aside`, `main`, `nav` or `section` (as ARIA maps them);
 *    - its `role` is `navigation`, `banner`, `contentinfo`, `complementary`, `search`,
 *      `dialog`, `alertdialog`, `menu`, `menubar` or `toolbar`;
 *    - a word of its `class` or `id` (words split at spaces, `-`, `_`, `:`, `.` and camelCase
 *      humps) is one of BOILERPLATE_WORDS, unless it is a heading (`h1`–`h6`); the words
 *      `header`, `footer` and `masthead` count only where the tags would (outside sectioning);
 *    - it is hidden (`hidden`, `aria-hidden="true"`, inline `display:none`).
 * 3. Never dropped: `<main>`, `<article>`, `[role=main]`, and any ancestor of one.
 */
import type { Element } from 'domhandler';
import { isHidden, type DocumentWalk } from './walk.js';

const BOILERPLATE_TAGS = new Set(['nav', 'aside', 'form', 'dialog', 'menu']);
const LANDMARK_TAGS = new Set(['header', 'footer']);
const SECTIONING = new Set(['article', 'aside', 'main', 'nav', 'section']);
const BOILERPLATE_ROLES = new Set(['navigation', 'banner', 'contentinfo', 'complementary', 'search', 'dialog', 'alertdialog', 'menu', 'menubar', 'toolbar']);
const HEADINGS = new Set(['h1', 'h2', 'h3', 'h4', 'h5', 'h6']);

/** Words of a `class` or `id` that mark boilerplate. */
export const BOILERPLATE_WORDS: ReadonlySet<string> = new Set([
  'cookie', 'cookies', 'consent', 'gdpr', 'banner', 'sidebar', 'menu', 'breadcrumb', 'breadcrumbs', 'share', 'sharing',
  'social', 'related', 'comment', 'comments', 'footer', 'header', 'nav', 'navbar', 'navigation', 'masthead', 'modal',
  'popup', 'newsletter', 'subscribe', 'advert', 'advertisement', 'ad', 'ads', 'sponsored', 'promo', 'skip',
]);

/** Words that name a page's banner or content info: dropped only where the tags `header`/`footer` would be. */
const LANDMARK_WORDS: ReadonlySet<string> = new Set(['header', 'footer', 'masthead']);

/** The element whose subtree holds the page's main content, or undefined for the whole document. */
export function mainRoot(walk: DocumentWalk): Element | undefined {
  if (walk.main) return walk.main;
  if (walk.roleMain) return walk.roleMain;
  if (walk.articles.length === 1) return walk.articles[0];
  return walk.body;
}

/** Whether `el` is boilerplate under the rules above. */
export function isBoilerplate(el: Element, walk: DocumentWalk): boolean {
  if (walk.protectedNodes.has(el)) return false;
  const name = el.name;
  if (BOILERPLATE_TAGS.has(name)) return true;
  if (LANDMARK_TAGS.has(name) && !insideSectioning(el)) return true;
  const role = el.attribs['role'];
  if (role !== undefined && BOILERPLATE_ROLES.has(role.trim().toLowerCase())) return true;
  if (!HEADINGS.has(name)) {
    const word = boilerplateWord(el.attribs['class']) ?? boilerplateWord(el.attribs['id']);
    if (word !== undefined && (!LANDMARK_WORDS.has(word) || !insideSectioning(el))) return true;
  }
  return isHidden(el);
}

function insideSectioning(el: Element): boolean {
  for (let node = el.parent; node !== null && node.type !== 'root'; node = node.parent) {
    if (SECTIONING.has((node as Element).name)) return true;
  }
  return false;
}

const WORD_SPLIT = /[\s_\-:.]+|(?<=[a-z])(?=[A-Z])/;
/** Any boilerplate word as a substring: most values have none and are not split at all. */
const ANY_WORD = new RegExp([...BOILERPLATE_WORDS].join('|'), 'i');

/** A boilerplate word (lowercased) of a class or id value, one outside LANDMARK_WORDS first; undefined when none. */
export function boilerplateWord(value: string | undefined): string | undefined {
  if (value === undefined || value === '' || !ANY_WORD.test(value)) return undefined;
  let landmark: string | undefined;
  for (const word of value.split(WORD_SPLIT)) {
    const lower = word.toLowerCase();
    if (!BOILERPLATE_WORDS.has(lower)) continue;
    if (!LANDMARK_WORDS.has(lower)) return lower;
    landmark = lower;
  }
  return landmark;
}
