/**
 * DOCX → DocumentContent: mammoth turns the Word document into clean HTML (headings, lists,
 * tables, emphasis, links), and the extractor's own content pipeline (content/index.ts)
 * turns that HTML into Markdown, text and links, exactly as it does a page's. The title,
 * author, language and creation date come from the package's core properties
 * (docProps/core.xml); without a title, the first line.
 *
 * A ZIP bomb is refused before anything is inflated: the sizes the ZIP's central directory
 * declares for its parts are added up, and past documents.maxInflatedBytes the document
 * fails with too_large. A ZIP that lies about its sizes is bounded by the worker's memory
 * limit (the worker dies, the document fails, the pool replaces the worker). A file that is
 * not a readable ZIP or Word document → document_corrupt.
 */
import * as cheerio from 'cheerio';
import type { Document } from 'domhandler';
import JSZip from 'jszip';
import mammoth from 'mammoth';
import { CrawlError } from '../../../shared/errors/index.js';
import type { RecordMetadata } from '../../../shared/tasks/types.js';
import { pageContent } from '../content/index.js';
import type { DocumentLimits } from '../parse.js';
import { firstLine, urlsInText, type DocumentContent } from './common.js';
import { xmlText, readXml } from './xml.js';

/**
 * The total uncompressed size the ZIP's central directory declares, or null when the bytes
 * are not a ZIP (no end-of-central-directory record, a directory outside the file).
 * ZIP64 sizes (0xFFFFFFFF) count as infinite.
 */
export function declaredZipSize(zip: Buffer): number | null {
  const min = Math.max(0, zip.length - 22 - 0xffff);
  let eocd = -1;
  for (let i = zip.length - 22; i >= min; i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return null;
  const entries = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  let total = 0;
  for (let k = 0; k < entries; k++) {
    if (at + 46 > zip.length || zip.readUInt32LE(at) !== 0x02014b50) return null;
    const size = zip.readUInt32LE(at + 24);
    if (size === 0xffffffff) return Number.POSITIVE_INFINITY;
    total += size;
    at += 46 + zip.readUInt16LE(at + 28) + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return total;
}

async function coreProperties(zip: JSZip): Promise<{ title?: string; metadata: RecordMetadata }> {
  const metadata: RecordMetadata = {};
  const file = zip.file('docProps/core.xml');
  if (!file) return { metadata };
  const core = readXml(await file.async('string'))?.['coreProperties'] as Record<string, unknown> | undefined;
  if (!core) return { metadata };
  const title = xmlText(core['title']);
  const author = xmlText(core['creator']);
  const language = xmlText(core['language']);
  const created = xmlText(core['created']);
  if (author) metadata.author = author;
  if (language) metadata.language = language;
  if (created && !Number.isNaN(Date.parse(created))) metadata.createdAt = new Date(created).toISOString();
  return { ...(title ? { title } : {}), metadata };
}

export async function parseDocx(body: Buffer, pageUrl: string, limits: DocumentLimits): Promise<DocumentContent> {
  const declared = declaredZipSize(body);
  if (declared === null) throw new CrawlError('document_corrupt', `${pageUrl}: not a readable DOCX (no ZIP directory)`);
  if (declared > limits.maxInflatedBytes) {
    throw new CrawlError('too_large', `${pageUrl}: the DOCX inflates to ${declared} bytes, more than documents.maxInflatedBytes (${limits.maxInflatedBytes})`, { details: { limit: limits.maxInflatedBytes } });
  }
  let html: string;
  let props: Awaited<ReturnType<typeof coreProperties>>;
  try {
    const zip = await JSZip.loadAsync(body, { checkCRC32: true });
    if (!zip.file('word/document.xml')) throw new Error('no word/document.xml part');
    props = await coreProperties(zip);
    html = (await mammoth.convertToHtml({ buffer: body })).value;
  } catch (err) {
    throw new CrawlError('document_corrupt', `${pageUrl}: not a readable DOCX (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  const $ = cheerio.load(`<!doctype html><html><body>${html}</body></html>`, { xml: { xmlMode: false, decodeEntities: true } });
  const doc = $.root()[0] as unknown as Document;
  const content = pageContent(doc, html, pageUrl, { formats: ['markdown', 'text', 'links'], onlyMainContent: false });
  const text = content.text ?? '';
  const links = (content.links ?? []).map((l) => ({ url: l.url, text: l.text }));
  for (const url of urlsInText(text)) links.push({ url, text: url });
  return {
    kind: 'docx',
    title: props.title ?? firstLine(text),
    markdown: content.markdown ?? '',
    text,
    html,
    links,
    metadata: props.metadata,
    truncated: [],
  };
}
