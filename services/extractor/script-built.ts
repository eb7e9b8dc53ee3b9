/**
 * `render: "auto"`: does a fetched page look built by JavaScript, so that only a browser sees
 * its content? A pure decision on the bytes (the first SCAN_BYTES), cheap enough to run on
 * every page of an auto session. The signs, in the order they are checked:
 *
 * 1. `empty_app_root`: an element that frameworks mount into is empty: `<div id="root">`,
 *    `#app`, `#__next`, `#__nuxt`, `#___gatsby`, `#svelte`, `#main-app`, `<app-root>`.
 * 2. `noscript_requires_js`: a `<noscript>` asks for JavaScript ("enable JavaScript",
 *    "JavaScript is required", "requires JavaScript", ...).
 * 3. `little_text_much_script`: the visible text (outside script, style, noscript, template
 *    and tags) is under MIN_TEXT_CHARS characters while the scripts weigh more than
 *    SCRIPT_TO_TEXT times as much (inline script bytes, plus EXTERNAL_SCRIPT_BYTES for each
 *    `<script src>` that is not `async`: async tags are analytics and ads, not the page's
 *    bundle) and at least MIN_SCRIPT_BYTES.
 *
 * Otherwise the page is not rendered, with the reason `static`; so is a page without any
 * `<script` tag (written `<script`, `<SCRIPT` or `<Script`), found by a byte scan before the
 * body is turned into text. The visible text is counted only up to MIN_TEXT_CHARS.
 */

/** Bytes of a body the decision reads. */
export const SCAN_BYTES = 1024 * 1024;
/** Visible text below this many characters counts as little. */
export const MIN_TEXT_CHARS = 200;
/** Scripts must outweigh the visible text this many times. */
export const SCRIPT_TO_TEXT = 10;
/** And weigh at least this much. */
export const MIN_SCRIPT_BYTES = 1000;
/** What an external script is assumed to weigh (its size is not known without fetching it). */
export const EXTERNAL_SCRIPT_BYTES = 10_000;

export type ScriptBuiltReason = 'empty_app_root' | 'noscript_requires_js' | 'little_text_much_script';

export interface RenderDecision {
  render: boolean;
  reason: ScriptBuiltReason | 'static';
}

const APP_ROOT = /<(div|main|section)\b[^>]*\bid\s*=\s*["']?(?:root|app|__next|__nuxt|___gatsby|svelte|main-app|react-root|vue-app)["']?(?=[\s/>])[^>]*>\s*<\/\1\s*>|<app-root\b[^>]*>\s*<\/app-root\s*>/i;
const NOSCRIPT = /<noscript\b[^>]*>([\s\S]*?)<\/noscript\s*>/gi;
const ASKS_FOR_JS = /(enable|turn on|activate|allow)\s+(your\s+)?javascript|javascript\s+(is\s+)?(required|disabled|needed|must be enabled)|(requires?|needs?)\s+javascript|without\s+javascript/i;
const SCRIPT = /<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi;

/** `<script` in any case, as bytes: a page without it cannot be script-built. */
const SCRIPT_OPEN = [Buffer.from('<script'), Buffer.from('<SCRIPT'), Buffer.from('<Script')];
const APP_ROOT_ID = /\bid\s*=\s*["']?(?:root|app|__next|__nuxt|___gatsby|svelte|main-app|react-root|vue-app)\b|<app-root\b/i;
const HIDDEN_OPEN = /<(script|style|noscript|template)\b/iy;
const HIDDEN_CLOSE: Record<string, RegExp> = {
  script: /<\/script\s*>/gi,
  style: /<\/style\s*>/gi,
  noscript: /<\/noscript\s*>/gi,
  template: /<\/template\s*>/gi,
};

/** Whether a fetched page should be rendered, and why. */
export function scriptBuilt(body: Buffer | string): RenderDecision {
  const bytes = typeof body === 'string' ? null : body.subarray(0, SCAN_BYTES);
  // A page with no script at all (no `<script`, `<SCRIPT` or `<Script`) costs three byte scans.
  if (bytes && !SCRIPT_OPEN.some((needle) => bytes.includes(needle))) return { render: false, reason: 'static' };
  const html = bytes ? bytes.toString('latin1') : (body as string).slice(0, SCAN_BYTES);
  if (APP_ROOT_ID.test(html) && APP_ROOT.test(html)) return { render: true, reason: 'empty_app_root' };
  if (/<noscript/i.test(html)) {
    for (const m of html.matchAll(NOSCRIPT)) {
      if (ASKS_FOR_JS.test(m[1] ?? '')) return { render: true, reason: 'noscript_requires_js' };
    }
  }
  let scriptBytes = 0;
  for (const m of html.matchAll(SCRIPT)) {
    const attrs = m[1] ?? '';
    // Data blocks (JSON, templates) are not code that builds the page.
    if (/\btype\s*=\s*["']?(application\/(ld\+)?json|text\/template)/i.test(attrs)) continue;
    // An `async` external script (an analytics or ad tag) does not build the page either.
    if (/\bsrc\s*=/i.test(attrs)) scriptBytes += /\basync\b/i.test(attrs) ? 0 : EXTERNAL_SCRIPT_BYTES;
    scriptBytes += (m[2] ?? '').length;
  }
  if (scriptBytes < MIN_SCRIPT_BYTES) return { render: false, reason: 'static' };
  const text = visibleTextLength(html, MIN_TEXT_CHARS);
  if (text < MIN_TEXT_CHARS && scriptBytes > SCRIPT_TO_TEXT * text) return { render: true, reason: 'little_text_much_script' };
  return { render: false, reason: 'static' };
}

/**
 * Characters of visible text in the body: outside script, style, noscript, template, comments
 * and tags (a tag separates words), an entity as one character, whitespace collapsed. Stops
 * counting at `stopAt` (the decision needs only to know whether there is little).
 */
export function visibleTextLength(html: string, stopAt = Number.POSITIVE_INFINITY): number {
  const bodyAt = html.search(/<body\b/i);
  const n = html.length;
  let i = bodyAt < 0 ? 0 : html.indexOf('>', bodyAt) + 1 || n;
  let count = 0;
  let gap = false;
  while (i < n && count < stopAt) {
    const c = html.charCodeAt(i);
    if (c === 60 /* < */) {
      gap = true;
      if (html.startsWith('<!--', i)) {
        const e = html.indexOf('-->', i + 4);
        i = e < 0 ? n : e + 3;
        continue;
      }
      HIDDEN_OPEN.lastIndex = i;
      const hidden = HIDDEN_OPEN.exec(html);
      if (hidden) {
        const close = HIDDEN_CLOSE[(hidden[1] as string).toLowerCase()] as RegExp;
        close.lastIndex = i;
        const m = close.exec(html);
        i = m ? m.index + m[0].length : n;
        continue;
      }
      const e = html.indexOf('>', i);
      i = e < 0 ? n : e + 1;
      continue;
    }
    if (c <= 32) {
      gap = true;
      i++;
      continue;
    }
    if (gap && count > 0) count++;
    gap = false;
    count++;
    if (c === 38 /* & */) {
      const m = /^&[#a-z0-9]{1,32};/i.exec(html.slice(i, i + 34));
      i += m ? m[0].length : 1;
      continue;
    }
    i++;
  }
  return Math.min(count, stopAt);
}
