/**
 * Markdown of crawled pages as HTML that is safe to show: markdown-it with raw HTML off (any
 * `<script>` or tag in the text comes out escaped, as text) and its link check (no
 * `javascript:`, `vbscript:`, `file:` or non-image `data:` URLs); links open in a new tab
 * without a referrer. The console's Content-Security-Policy (services/controller/console.ts)
 * is the second wall: no script, style or image from elsewhere runs or loads.
 */
import MarkdownIt from 'markdown-it';

const md = new MarkdownIt({ html: false, linkify: false, typographer: false });

const defaultLinkOpen = md.renderer.rules.link_open ?? ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  const token = tokens[idx];
  if (token) {
    token.attrSet('target', '_blank');
    token.attrSet('rel', 'noopener noreferrer nofollow');
  }
  return defaultLinkOpen(tokens, idx, options, env, self);
};

/** Markdown → HTML without raw HTML or unsafe links. */
export function renderMarkdown(text: string): string {
  return md.render(text);
}
