/**
 * A page's title and link signals in one streaming pass, without building a document: the
 * fast path of the extractor for sessions that ask for no CSS fields (parse.ts picks it).
 *
 * It listens to the same htmlparser2 Parser (same options) that cheerio builds its document
 * from, mirroring the parser's open-element stack, so it finds exactly what the document
 * queries of links.ts find: the first `<base href>`, `a|area[href]`, `link[rel][href]` and
 * robots `<meta>` in document order, and the text of the first `<title>` outside `<svg>`.
 * A differential test holds the two paths to the same answers.
 */
import { Parser } from 'htmlparser2';
import { isRobotsMeta, type PageSignals } from './links.js';

export interface ScannedPage {
  signals: PageSignals;
  /** Text of the first `<title>` outside `<svg>` (raw, not trimmed), or null when there is none. */
  title: string | null;
}

export function scanPage(html: string): ScannedPage {
  const signals: PageSignals = { baseHref: undefined, anchors: [], links: [], robots: [] };
  let depth = 0;
  let svgDepth = 0;
  /** Depth of the title being read (its text is everything inside it), 0 when none. */
  let titleDepth = 0;
  let titleDone = false;
  let title: string[] | null = null;
  const svgAt: number[] = [];

  const parser = new Parser(
    {
      onopentag(name, attribs) {
        depth++;
        switch (name) {
          case 'a':
          case 'area':
            if (attribs['href'] !== undefined) signals.anchors.push({ href: attribs['href'], rel: attribs['rel'] });
            break;
          case 'base':
            if (signals.baseHref === undefined && attribs['href'] !== undefined) signals.baseHref = attribs['href'];
            break;
          case 'link':
            if (attribs['rel'] !== undefined && attribs['href'] !== undefined) signals.links.push({ rel: attribs['rel'], href: attribs['href'], type: attribs['type'] });
            break;
          case 'meta':
            if (attribs['name'] !== undefined && attribs['content'] !== undefined && isRobotsMeta(attribs['name'])) signals.robots.push(attribs['content']);
            break;
          case 'svg':
            svgDepth++;
            svgAt.push(depth);
            break;
          case 'title':
            if (!titleDone && svgDepth === 0) {
              titleDone = true;
              titleDepth = depth;
              title = [];
            }
            break;
        }
      },
      ontext(text) {
        if (titleDepth > 0) title?.push(text);
      },
      onclosetag() {
        if (depth === titleDepth) titleDepth = 0;
        if (svgAt.length > 0 && svgAt[svgAt.length - 1] === depth) {
          svgAt.pop();
          svgDepth--;
        }
        depth--;
      },
    },
    // What cheerio.load(html, { xml: { xmlMode: false, decodeEntities: true } }) gives htmlparser2.
    { xmlMode: false, decodeEntities: true },
  );
  parser.end(html);
  return { signals, title: title === null ? null : (title as string[]).join('') };
}
