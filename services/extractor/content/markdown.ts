/**
 * A hast tree as GitHub-flavoured Markdown, through the syntax-tree utilities: hast →
 * mdast (hast-util-to-mdast) → Markdown (mdast-util-to-markdown with the GFM extension, for
 * tables, strikethrough and task lists). ATX headings, `-` bullets, fenced code blocks with
 * their language, `*` emphasis, `**` strong. Pure.
 */
import type { Root } from 'hast';
import { toMdast } from 'hast-util-to-mdast';
import { gfmToMarkdown } from 'mdast-util-gfm';
import { toMarkdown, type Options } from 'mdast-util-to-markdown';

const OPTIONS: Options = {
  extensions: [gfmToMarkdown()],
  bullet: '-',
  emphasis: '*',
  strong: '*',
  fences: true,
  fence: '`',
  rule: '-',
  listItemIndent: 'one',
  setext: false,
  resourceLink: true,
};

/** The Markdown of `tree`, ending in one newline, or '' when it has no content. */
export function hastToMarkdown(tree: Root): string {
  const markdown = toMarkdown(toMdast(tree), OPTIONS).trim();
  return markdown === '' ? '' : `${markdown}\n`;
}
