/**
 * A hast tree as GitHub-flavoured Markdown, through the syntax-tree utilities: hast →
 * mdast (hast-util-to-mdast) → Markdown (mdast-util-to-markdown with the GFM extension, for
 * tables, strikethrough and task lists). ATX headings, `-` bullets, fenced code blocks with
 * their language, `*` emphasis, `**` strong. Lists are tight unless an item holds more than
 * one paragraph. Pure.
 */
import type { Root } from 'hast';
import type { Nodes as MdastNodes } from 'mdast';
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
  const mdast = toMdast(tree);
  tightenLists(mdast);
  const markdown = toMarkdown(mdast, OPTIONS).trim();
  return markdown === '' ? '' : `${markdown}\n`;
}

/**
 * HTML lists rarely mean "loose": hast-util-to-mdast marks an item spread when it holds
 * text and a nested list. An item stays spread only with two paragraphs or more, and a list
 * only when one of its items does.
 */
function tightenLists(root: MdastNodes): void {
  const stack: MdastNodes[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (!('children' in node)) continue;
    if (node.type === 'list') {
      let spread = false;
      for (const item of node.children) {
        item.spread = item.children.filter((c) => c.type === 'paragraph').length > 1;
        spread ||= item.spread;
      }
      node.spread = spread;
    }
    for (const child of node.children) stack.push(child);
  }
}
