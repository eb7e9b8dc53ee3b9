/**
 * text/plain and text/markdown → DocumentContent: the text as decoded (BOM, then the
 * Content-Type charset, else UTF-8 when the bytes are, else detected: charset.ts), kept as
 * both `text` and `markdown`; the title is a Markdown document's first heading, else the
 * first line; links are the URLs written in it (and a Markdown document's inline links).
 */
import { decodeHtml } from '../charset.js';
import { firstLine, urlsInText, type DocumentContent } from './common.js';

export function parseText(body: Buffer, contentType: string, markdown: boolean): DocumentContent {
  const { text, charset, source } = decodeHtml(body, contentType);
  const links: { url: string; text: string }[] = [];
  let title: string | null = null;
  if (markdown) {
    const heading = /^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$/m.exec(text);
    title = heading?.[1] ?? null;
    for (const m of text.matchAll(/\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ url: m[2] as string, text: m[1] as string });
  }
  for (const url of urlsInText(text)) links.push({ url, text: url });
  return { kind: 'text', title: title ?? firstLine(text), markdown: text, text, raw: text, links, metadata: {}, truncated: [], charset, charsetSource: source };
}
