/**
 * The documents stage's parser: a fetched document (its computed type: the type the bytes
 * show, else the Content-Type as sent) → the ParsedPage the extractor's screen, admit and
 * record steps take, like a page's. PDF (pdf.ts), DOCX (docx.ts), feeds and other XML/JSON
 * (feed.ts), plain text and Markdown (text.ts). Runs in a document worker (worker.ts); a
 * document that cannot be read throws a CrawlError from the catalogue.
 */
import { documentKind } from '../../../shared/content/documents.js';
import { kindOf, mimeEssence } from '../../../shared/content/sniff.js';
import { CrawlError } from '../../../shared/errors/index.js';
import type { ParsedPage, ParseOptions } from '../parse.js';
import { documentParsed, type DocumentContent } from './common.js';
import { parseDocx } from './docx.js';
import { parseFeed } from './feed.js';
import { parsePdf } from './pdf.js';
import { parseText } from './text.js';

export async function parseDocumentFile(body: Buffer, contentType: string, pageUrl: string, opts: ParseOptions): Promise<ParsedPage> {
  const limits = opts.documents;
  if (!limits) throw new CrawlError('parse_failed', `${pageUrl}: a document parse without documents limits`);
  const essence = mimeEssence(contentType) ?? '';
  const kind = kindOf(essence);
  let doc: DocumentContent;
  switch (documentKind(kind, essence)) {
    case 'pdf':
      doc = await parsePdf(body, pageUrl, limits);
      break;
    case 'docx':
      doc = await parseDocx(body, pageUrl, limits);
      break;
    case 'feeds':
      doc = parseFeed(body, kind === 'json', pageUrl, limits, opts.stripParams ?? []);
      break;
    case 'text':
      doc = parseText(body, contentType, essence !== 'text/plain');
      break;
    default:
      throw new CrawlError('parse_failed', `${pageUrl}: ${essence || 'no type'} is not a document type`);
  }
  return documentParsed(doc, pageUrl, opts);
}
