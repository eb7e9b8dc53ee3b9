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
 *    `<script src>`) and at least MIN_SCRIPT_BYTES.
 *
 * Otherwise the page is not rendered, with the reason `static`.
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
const HIDDEN = /<(script|style|noscript|template)\b[^>]*>[\s\S]*?<\/\1\s*>/gi;
const COMMENT = /<!--[\s\S]*?-->/g;
const TAG = /<[^>]*>/g;
const ENTITY = /&[#a-z0-9]+;/gi;

/** Whether a fetched page should be rendered, and why. */
export function scriptBuilt(body: Buffer | string): RenderDecision {
  const html = typeof body === 'string' ? body.slice(0, SCAN_BYTES) : body.toString('latin1', 0, Math.min(body.length, SCAN_BYTES));
  if (APP_ROOT.test(html)) return { render: true, reason: 'empty_app_root' };
  for (const m of html.matchAll(NOSCRIPT)) {
    if (ASKS_FOR_JS.test(m[1] ?? '')) return { render: true, reason: 'noscript_requires_js' };
  }
  let scriptBytes = 0;
  for (const m of html.matchAll(SCRIPT)) {
    const attrs = m[1] ?? '';
    // Data blocks (JSON, templates) are not code that builds the page.
    if (/\btype\s*=\s*["']?(application\/(ld\+)?json|text\/template)/i.test(attrs)) continue;
    scriptBytes += (m[2] ?? '').length + (/\bsrc\s*=/i.test(attrs) ? EXTERNAL_SCRIPT_BYTES : 0);
  }
  if (scriptBytes < MIN_SCRIPT_BYTES) return { render: false, reason: 'static' };
  const text = visibleTextLength(html);
  if (text < MIN_TEXT_CHARS && scriptBytes > SCRIPT_TO_TEXT * text) return { render: true, reason: 'little_text_much_script' };
  return { render: false, reason: 'static' };
}

/** Characters of visible text: without hidden elements, comments and tags, entities as one character, whitespace collapsed. */
export function visibleTextLength(html: string): number {
  const body = /<body\b[^>]*>([\s\S]*)$/i.exec(html)?.[1] ?? html;
  return body.replace(HIDDEN, ' ').replace(COMMENT, ' ').replace(TAG, ' ').replace(ENTITY, 'x').replace(/\s+/g, ' ').trim().length;
}
