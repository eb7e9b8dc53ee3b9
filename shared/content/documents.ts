/**
 * Which responses the documents stage parses: the kind a session names in `documents`
 * (pdf, docx, feeds, text) for the type the sniffing computed (sniff.ts). Pure.
 */
import type { DocumentKind } from '../tasks/types.js';
import { kindOf, mimeEssence, type ContentKind } from './sniff.js';

/** Text types kept as `text` / `markdown` (other text/* types, such as CSS or CSV, are delivered unparsed). */
const TEXT_TYPES = new Set(['text/plain', 'text/markdown', 'text/x-markdown']);

/**
 * The document kind of a response of computed kind `kind` and type essence `essence`, or
 * null when the documents stage does not parse it. XML and JSON that are not feeds belong to
 * `feeds` too: the feed parser finds out, and keeps them raw when they are not.
 */
export function documentKind(kind: ContentKind, essence: string): DocumentKind | null {
  switch (kind) {
    case 'pdf':
      return 'pdf';
    case 'docx':
      return 'docx';
    case 'feed':
    case 'xml':
    case 'json':
      return 'feeds';
    case 'text':
      return TEXT_TYPES.has(essence) ? 'text' : null;
    default:
      return null;
  }
}

/**
 * The document kind a Content-Type declares (the type as sent, before any sniffing), or null:
 * what the fetcher knows of a response when it picks the body's byte cap, before the body is
 * read. A missing or `application/octet-stream` type declares none.
 */
export function declaredDocumentKind(contentType: string | null | undefined): DocumentKind | null {
  const essence = mimeEssence(contentType);
  return essence === null ? null : documentKind(kindOf(essence), essence);
}
